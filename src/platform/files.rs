//! Files on this device: reading a chosen file a piece at a time, the storage left, and
//! handing a received file to the user, either saved as a download (assembled chunk by
//! chunk in the Origin Private File System, never whole in memory) or, when small, as an
//! object URL for an inline preview.
//!
//! Errors are [`FileError`]s, whose text is a sentence a user can read ("the file could
//! not be read (NotReadableError: …)").

use std::time::Duration;

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, BlobPropertyBag, FileSystemDirectoryHandle, FileSystemFileHandle,
    FileSystemGetDirectoryOptions, FileSystemGetFileOptions, FileSystemRemoveOptions,
    FileSystemWritableFileStream, HtmlAnchorElement, StorageManager, Url,
};

use super::clock;
use super::error::BrowserError;
use super::store::{Backend, Store, StoreError};

/// The Origin Private File System directory where downloads are assembled.
const SAVING_DIR: &str = "saving";

/// How long the object URL of a download stays valid. The browser resolves it when the
/// download starts, so this only has to outlast the click.
const REVOKE_AFTER: Duration = Duration::from_secs(60);

/// Why a file could not be read, saved or shown, in terms the caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The browser's storage for this site is full: free some space, then try again.
    #[error("the browser's storage for this site is full")]
    StorageFull,
    /// The file on this device could not be read (moved, changed or deleted since it was
    /// chosen): nobody can get it any more.
    #[error("the file could not be read{}", .0.in_parens())]
    Unreadable(BrowserError),
    /// The browser refused to offer the download.
    #[error("the browser refused the download{}", .0.in_parens())]
    DownloadRefused(BrowserError),
    /// Writing the file to be saved failed.
    #[error("the file could not be saved{}", .0.in_parens())]
    NotSaved(BrowserError),
    /// This browser has no Origin Private File System to assemble downloads in (or
    /// refused it, with the reason).
    #[error(
        "this browser cannot save files here{}",
        .0.as_ref().map(BrowserError::in_parens).unwrap_or_default()
    )]
    NoFileSystem(Option<BrowserError>),
    /// The preview could not be made.
    #[error("the file could not be shown{}", .0.in_parens())]
    NotShown(BrowserError),
    /// The file is over the size previews are made for.
    #[error("the file is too large to show here (over {max_len} bytes)")]
    TooLarge {
        /// The most bytes a preview may have.
        max_len: u64,
    },
    /// Chunk `index` of the file is not stored.
    #[error("part {} of the file is missing", .index + 1)]
    MissingPart {
        /// The chunk's index.
        index: u32,
    },
    /// The store failed to read a chunk.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store failed to read a chunk of our kept copy (sending it after a reload).
    #[error("the kept copy could not be read ({0})")]
    KeptCopyUnreadable(StoreError),
}

/// In the store's terms, for tasks that report a [`StoreError`]: a full disk is
/// [`StoreError::QuotaExceeded`], the rest makes storage unavailable.
impl From<FileError> for StoreError {
    fn from(error: FileError) -> StoreError {
        match error {
            FileError::StorageFull => StoreError::QuotaExceeded,
            FileError::Store(error) => error,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// A file the user chose, dropped or pasted, as [`crate::commands::Command::AttachFiles`]
/// carries it to the driver.
#[derive(Debug, Clone)]
pub struct LocalFile(web_sys::File);

impl LocalFile {
    /// Its name.
    pub fn name(&self) -> String {
        self.0.name()
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.0.size() as u64
    }

    /// Its media type ("" when the browser does not know it).
    pub fn mime(&self) -> String {
        self.0.type_()
    }

    /// Bytes `start..end` of it, read without reading the rest ([`read_slice`]).
    pub async fn read(&self, start: u64, end: u64) -> Result<Vec<u8>, FileError> {
        read_slice(&self.0, start, end).await
    }

    /// Its bytes, for the file worker to read.
    pub(super) fn blob(&self) -> &Blob {
        &self.0
    }
}

/// The files of a file list (from the chooser, a drop or a paste).
pub fn files_of(list: web_sys::FileList) -> Vec<LocalFile> {
    (0..list.length())
        .filter_map(|idx| list.item(idx))
        .map(LocalFile)
        .collect()
}

/// Bytes `start..end` of `blob` (a `File` the user chose, say), read without reading the
/// rest. A range past the end is cut short, as `Blob.slice` does.
pub async fn read_slice(blob: &Blob, start: u64, end: u64) -> Result<Vec<u8>, FileError> {
    const WHAT: Failure = FileError::Unreadable;
    // Offsets are exact in an f64 up to 2^53 bytes.
    let part = blob
        .slice_with_f64_and_f64(start as f64, end as f64)
        .map_err(|error| failed(WHAT, error))?;
    let buffer = resolve(part.array_buffer(), WHAT).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Chunks read from a file at a time when keeping a copy of it.
const KEEP_READ_CHUNKS: usize = 16;

/// Stores a sealed copy of our file `blob` (`size` bytes) as the chunks of `file`, read a
/// few chunks at a time, with `record` committed beside the last ones: what lets the file
/// be sent after a reload. On failure, the part written is removed again. Runs in the file
/// worker where there is one.
pub async fn keep_copy<B: Backend>(
    store: &Store<B>,
    file: [u8; 32],
    blob: &Blob,
    size: u64,
    record: &[u8],
) -> Result<(), StoreError> {
    use confab_core::transfer::CHUNK_LEN;
    let step = (CHUNK_LEN * KEEP_READ_CHUNKS) as u64;
    let mut offset = 0u64;
    let result = loop {
        let end = (offset + step).min(size);
        let bytes = match read_slice(blob, offset, end).await {
            Ok(bytes) => bytes,
            Err(error) => break Err(error.into()),
        };
        let chunks: Vec<&[u8]> = bytes.chunks(CHUNK_LEN).collect();
        let first = (offset / CHUNK_LEN as u64) as u32;
        let last = end >= size;
        if let Err(error) = store
            .put_chunks(file, first, &chunks, last.then_some(record))
            .await
        {
            break Err(error);
        }
        if last {
            break Ok(());
        }
        offset = end;
    };
    if result.is_err() {
        let _ = store.forget_file(file).await;
    }
    result
}

/// [`keep_copy`] of a file the user chose, on this thread.
pub async fn keep_local_copy<B: Backend>(
    store: &Store<B>,
    file: [u8; 32],
    local: &LocalFile,
    record: &[u8],
) -> Result<(), StoreError> {
    keep_copy(store, file, &local.0, local.size(), record).await
}

/// How many more bytes this site may store (`navigator.storage.estimate()`: quota minus
/// usage), if the browser says. The quota is the browser's own guess, not a promise.
pub async fn storage_free() -> Option<u64> {
    let estimate = storage_manager()?.estimate().ok()?;
    let estimate: web_sys::StorageEstimate = JsFuture::from(estimate).await.ok()?.unchecked_into();
    let quota = estimate.get_quota()?;
    let usage = estimate.get_usage().unwrap_or(0.0);
    Some((quota - usage).max(0.0) as u64)
}

/// Asks the browser to keep this site's storage (the profile, history and files) when
/// space runs low or the site goes unused (`navigator.storage.persist()`), unless it is
/// kept already; at most once per page. Without it Safari clears a site's storage after 7
/// days without use, and any browser may clear it under storage pressure.
///
/// Call it right after a user gesture that saves something (the app asks when a message
/// is posted): Chromium decides silently, Firefox may ask the user, and a prompt should
/// follow something the user did, not the page opening.
pub fn ask_to_keep_storage() {
    thread_local! {
        static ASKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if ASKED.with(|asked| asked.replace(true)) {
        return;
    }
    let Some(storage) = storage_manager() else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        let kept = |promise: Result<Promise, JsValue>| async move {
            JsFuture::from(promise.ok()?).await.ok()?.as_bool()
        };
        if kept(storage.persisted()).await != Some(true) {
            let granted = kept(storage.persist()).await;
            web_sys::console::info_1(&format!("persistent storage granted: {granted:?}").into());
        }
    });
}

/// Saves chunks `0..chunks` of `file` from `store` as a download named `name` of type
/// `mime`: [`assemble`] writes them into a temporary file, which an `<a download>` then
/// offers to the user. `name` is used as given: sanitise it first.
///
/// The temporary copy stays in the Origin Private File System until [`clean_saved`] at the
/// next start (removing it sooner could cut short the browser copying it to the download).
pub async fn save_download<B: Backend>(
    store: &Store<B>,
    file: [u8; 32],
    chunks: u32,
    name: &str,
    mime: &str,
) -> Result<(), FileError> {
    const WHAT: Failure = FileError::DownloadRefused;
    let assembled = assemble(store, file, chunks).await?;
    // A blob of the file with the right type; the browser refers to the bytes, no copy.
    let blob = Blob::new_with_blob_sequence_and_options(&Array::of1(&assembled), &typed(mime))
        .map_err(|error| failed(WHAT, error))?;
    let url = Url::create_object_url_with_blob(&blob).map_err(|error| failed(WHAT, error))?;
    let clicked = click_download(&url, name);
    wasm_bindgen_futures::spawn_local(async move {
        clock::sleep(REVOKE_AFTER).await;
        revoke(&url);
    });
    clicked
}

/// Writes chunks `0..chunks` of `file` from `store`, one at a time (read, open, write,
/// drop), into the Origin Private File System file `saving/<hex file id>`, and returns that
/// file. Fails, and removes that file, if a chunk is missing or storage runs out.
pub async fn assemble<B: Backend>(
    store: &Store<B>,
    file: [u8; 32],
    chunks: u32,
) -> Result<web_sys::File, FileError> {
    const WHAT: Failure = FileError::NotSaved;
    let directory = saving_directory(true).await?;
    let options = FileSystemGetFileOptions::new();
    options.set_create(true);
    let name = hex(&file);
    let handle: FileSystemFileHandle = resolve(
        directory.get_file_handle_with_options(&name, &options),
        WHAT,
    )
    .await?
    .unchecked_into();
    let writable: FileSystemWritableFileStream = resolve(handle.create_writable(), WHAT)
        .await?
        .unchecked_into();
    // The writes go to a scratch copy that `close` puts in place and `abort` drops.
    if let Err(error) = write_chunks(store, file, chunks, &writable).await {
        let _ = JsFuture::from(writable.abort()).await;
        let _ = JsFuture::from(directory.remove_entry(&name)).await;
        return Err(error);
    }
    resolve(writable.close(), WHAT).await?;
    Ok(resolve(handle.get_file(), WHAT).await?.unchecked_into())
}

/// Deletes whatever earlier downloads left in the Origin Private File System. Call it once
/// at start-up, while this tab holds the profile and before anything is saved; errors are
/// ignored (there may be nothing to delete).
pub async fn clean_saved() {
    let Ok(root) = root_directory().await else {
        return;
    };
    let options = FileSystemRemoveOptions::new();
    options.set_recursive(true);
    let _ = JsFuture::from(root.remove_entry_with_options(SAVING_DIR, &options)).await;
}

/// An object URL for chunks `0..chunks` of `file` as one blob of type `mime`, for an inline
/// preview (an image, say). Refuses a file larger than `max_len` bytes, having read at
/// most one chunk past that. Release the URL with [`revoke`] when the preview goes.
pub async fn object_url<B: Backend>(
    store: &Store<B>,
    file: [u8; 32],
    chunks: u32,
    mime: &str,
    max_len: u64,
) -> Result<String, FileError> {
    const WHAT: Failure = FileError::NotShown;
    let parts = Array::new();
    let mut total: u64 = 0;
    for index in 0..chunks {
        let chunk = read_chunk(store, file, index).await?;
        total = total.saturating_add(chunk.len() as u64);
        if total > max_len {
            return Err(FileError::TooLarge { max_len });
        }
        parts.push(&Uint8Array::from(chunk.as_slice()));
    }
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &typed(mime))
        .map_err(|error| failed(WHAT, error))?;
    Url::create_object_url_with_blob(&blob).map_err(|error| failed(WHAT, error))
}

/// Releases an object URL from [`object_url`], so the browser can free its blob.
pub fn revoke(url: &str) {
    let _ = Url::revoke_object_url(url);
}

/// Writes each chunk into `writable`, waiting for each write, so one chunk at a time is
/// held. (Reading the next chunk during a write saved only ~3%: reads and writes share
/// the page's thread.)
async fn write_chunks<B: Backend>(
    store: &Store<B>,
    file: [u8; 32],
    chunks: u32,
    writable: &FileSystemWritableFileStream,
) -> Result<(), FileError> {
    const WHAT: Failure = FileError::NotSaved;
    for index in 0..chunks {
        // A copy in JS memory: the write completes after this call returns, and a view into
        // wasm memory could move under it.
        let bytes = Uint8Array::from(read_chunk(store, file, index).await?.as_slice());
        let written = writable
            .write_with_js_u8_array(&bytes)
            .map_err(|error| failed(WHAT, error))?;
        resolve(written, WHAT).await?;
    }
    Ok(())
}

/// Chunk `index` of `file`, which must be stored.
async fn read_chunk<B: Backend>(
    store: &Store<B>,
    file: [u8; 32],
    index: u32,
) -> Result<Vec<u8>, FileError> {
    store
        .chunk(file, index)
        .await?
        .ok_or(FileError::MissingPart { index })
}

/// Clicks a temporary `<a href=url download=name>` in the page's body.
fn click_download(url: &str, name: &str) -> Result<(), FileError> {
    let fail = |what: &str| FileError::DownloadRefused(BrowserError::because(what));
    let document = web_sys::window()
        .and_then(|window| window.document())
        .ok_or_else(|| fail("no document"))?;
    let body = document.body().ok_or_else(|| fail("no body"))?;
    let link: HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| fail("link"))?
        .unchecked_into();
    link.set_href(url);
    link.set_download(name);
    body.append_child(&link).map_err(|_| fail("link"))?;
    link.click();
    link.remove();
    Ok(())
}

/// `navigator.storage`, if this browser (and context: it needs HTTPS or localhost) has it.
fn storage_manager() -> Option<StorageManager> {
    let storage = web_sys::window()?.navigator().storage();
    (!storage.is_undefined()).then_some(storage)
}

/// The root of the Origin Private File System.
async fn root_directory() -> Result<FileSystemDirectoryHandle, FileError> {
    let storage = storage_manager().ok_or(FileError::NoFileSystem(None))?;
    // `getDirectory` is missing from older browsers, and calling it then would throw.
    if !js_sys::Reflect::has(&storage, &JsValue::from_str("getDirectory")).unwrap_or(false) {
        return Err(FileError::NoFileSystem(None));
    }
    Ok(resolve(storage.get_directory(), |error| {
        FileError::NoFileSystem(Some(error))
    })
    .await?
    .unchecked_into())
}

/// The [`SAVING_DIR`] directory, created if `create`.
async fn saving_directory(create: bool) -> Result<FileSystemDirectoryHandle, FileError> {
    let root = root_directory().await?;
    let options = FileSystemGetDirectoryOptions::new();
    options.set_create(create);
    Ok(resolve(
        root.get_directory_handle_with_options(SAVING_DIR, &options),
        FileError::NotSaved,
    )
    .await?
    .unchecked_into())
}

/// Which [`FileError`] a refusal becomes (unless the disk is full).
type Failure = fn(BrowserError) -> FileError;

/// Awaits `promise`; a rejection becomes [`failed`]`(what, reason)`.
async fn resolve(promise: Promise, what: Failure) -> Result<JsValue, FileError> {
    JsFuture::from(promise)
        .await
        .map_err(|error| failed(what, error))
}

/// `what` the browser refused, with its reason; a full disk is [`FileError::StorageFull`].
fn failed(what: Failure, error: JsValue) -> FileError {
    let error = BrowserError::from(error);
    if error.is_quota_exceeded() {
        return FileError::StorageFull;
    }
    what(error)
}

/// Blob options with type `mime`.
fn typed(mime: &str) -> BlobPropertyBag {
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    options
}

/// Lowercase hex, for names that reveal nothing the user typed.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "files_tests.rs"]
mod tests;
