//! Browser tests of the file adapters: reading slices of a blob, assembling a stored file in
//! the Origin Private File System, inline previews and cleaning up.

use confab_core::transfer::CHUNK_LEN;
use confab_core::vault::KdfParams;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_test::*;
use web_sys::{Blob, FileSystemFileHandle};

use super::*;
use crate::platform::entropy;
use crate::platform::store::{BrowserStore, IdbBackend, MemoryBackend, MemoryStore};

wasm_bindgen_test_configure!(run_in_browser);

/// Cheap Argon2 costs: the tests are about files, not the KDF.
const FAST: KdfParams = KdfParams {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

/// `len` pseudo-random bytes (xorshift64*, seeded from the browser).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = u64::from_le_bytes(entropy::seed()[..8].try_into().unwrap()) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A store on a new IndexedDB database; delete it with [`delete`] after dropping the store.
async fn test_store(test: &str) -> (BrowserStore, String) {
    let name = format!("confab-test-{test}-{}", hex(&entropy::seed()[..6]));
    let store = Store::open_database(&name, Some("store pass"), FAST)
        .await
        .unwrap();
    (store, name)
}

async fn delete(name: &str) {
    IdbBackend::delete_database(name).await.unwrap();
}

async fn memory_store() -> MemoryStore {
    Store::open_backend(MemoryBackend::default(), None, FAST)
        .await
        .unwrap()
}

/// Stores `content` as `file`'s chunks, 8 per transaction, and returns how many.
async fn store_chunks<B: Backend>(store: &Store<B>, file: [u8; 32], content: &[u8]) -> u32 {
    let chunks: Vec<&[u8]> = content.chunks(CHUNK_LEN).collect();
    for (batch, group) in chunks.chunks(8).enumerate() {
        let first = u32::try_from(batch * 8).unwrap();
        store.put_chunks(file, first, group, None).await.unwrap();
    }
    u32::try_from(chunks.len()).unwrap()
}

/// The whole of `blob`, read back 1 MiB at a time.
async fn read_all(blob: &Blob) -> Vec<u8> {
    let size = blob.size() as u64;
    let mut out = Vec::with_capacity(size as usize);
    let mut start = 0;
    while start < size {
        let end = (start + (1 << 20)).min(size);
        out.extend(read_slice(blob, start, end).await.unwrap());
        start = end;
    }
    out
}

/// The file `saving/<hex id>`, if it exists.
async fn saved_copy(file: [u8; 32]) -> Option<web_sys::File> {
    let directory = saving_directory(false).await.ok()?;
    let handle: FileSystemFileHandle =
        resolve(directory.get_file_handle(&hex(&file)), FileError::NotSaved)
            .await
            .ok()?
            .unchecked_into();
    Some(
        resolve(handle.get_file(), FileError::NotSaved)
            .await
            .ok()?
            .unchecked_into(),
    )
}

#[wasm_bindgen_test]
async fn read_slice_returns_exactly_the_range() {
    let content = random_bytes(100_000);
    let blob = Blob::new_with_u8_array_sequence(&Array::of1(&Uint8Array::from(content.as_slice())))
        .unwrap();
    for (start, end) in [(0, 10), (1_000, 70_000), (99_999, 100_000), (5, 5)] {
        assert_eq!(
            read_slice(&blob, start, end).await.unwrap(),
            content[start as usize..end as usize],
            "{start}..{end}"
        );
    }
    // Past the end is cut short.
    assert_eq!(
        read_slice(&blob, 99_990, 200_000).await.unwrap(),
        content[99_990..]
    );
}

#[wasm_bindgen_test]
async fn a_stored_file_is_assembled_byte_for_byte() {
    let (store, name) = test_store("assemble").await;
    let file = [0xab; 32];
    // 48 full chunks and a short last one: about 3 MiB.
    let content = random_bytes(48 * CHUNK_LEN + 12_345);
    let chunks = store_chunks(&store, file, &content).await;
    assert_eq!(chunks, 49);
    assert_eq!(store.chunk_count(file).await.unwrap(), 49);

    let started = clock::now();
    let assembled = assemble(&store, file, chunks).await.unwrap();
    let took = clock::now() - started;
    console_log!(
        "assembled {} bytes from IndexedDB into OPFS in {took:?}",
        content.len()
    );
    assert_eq!(assembled.size() as usize, content.len());
    assert_eq!(assembled.name(), hex(&file), "the copy is named by the id");
    assert!(read_all(&assembled).await == content, "same bytes");

    // Saving again replaces the copy.
    let shorter = random_bytes(1_000);
    store.forget_chunks(file).await.unwrap();
    let chunks = store_chunks(&store, file, &shorter).await;
    let assembled = assemble(&store, file, chunks).await.unwrap();
    assert_eq!(read_all(&assembled).await, shorter);

    clean_saved().await;
    drop(store);
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn a_missing_chunk_fails_the_save_and_leaves_no_copy() {
    let store = memory_store().await;
    let file = [0xcd; 32];
    let chunks = store_chunks(&store, file, &random_bytes(2 * CHUNK_LEN)).await;
    let error = assemble(&store, file, chunks + 1).await.unwrap_err();
    assert_eq!(error, FileError::MissingPart { index: 2 });
    assert_eq!(error.to_string(), "part 3 of the file is missing");
    assert!(saved_copy(file).await.is_none());
}

#[wasm_bindgen_test]
async fn object_url_refuses_a_file_over_max_len() {
    let store = memory_store().await;
    let file = [0xef; 32];
    store
        .put_chunks(file, 0, &[b"0123456789", b"abcdefghij", b"xyz"], None)
        .await
        .unwrap();
    let url = object_url(&store, file, 3, "image/png", 23).await.unwrap();
    assert!(url.starts_with("blob:"), "{url}");
    revoke(&url);
    let error = object_url(&store, file, 3, "image/png", 22)
        .await
        .unwrap_err();
    assert_eq!(error, FileError::TooLarge { max_len: 22 });
    assert!(error.to_string().contains("too large"), "{error}");
    let error = object_url(&store, file, 4, "image/png", 100)
        .await
        .unwrap_err();
    assert_eq!(error, FileError::MissingPart { index: 3 });
    assert!(error.to_string().contains("missing"), "{error}");
}

#[wasm_bindgen_test]
async fn clean_saved_removes_leftovers() {
    // Nothing to clean is fine.
    clean_saved().await;
    let store = memory_store().await;
    let (a, b) = ([1; 32], [2; 32]);
    for file in [a, b] {
        let chunks = store_chunks(&store, file, &random_bytes(CHUNK_LEN + 1)).await;
        assemble(&store, file, chunks).await.unwrap();
        assert!(saved_copy(file).await.is_some());
    }
    clean_saved().await;
    assert!(saved_copy(a).await.is_none());
    assert!(saved_copy(b).await.is_none());
    assert!(
        saving_directory(false).await.is_err(),
        "the directory is gone"
    );
}

#[wasm_bindgen_test]
async fn storage_free_is_reported() {
    let free = storage_free().await.expect("Chromium gives an estimate");
    assert!(free > 0);
}

#[wasm_bindgen_test]
fn a_full_disk_is_its_own_error_in_files_and_in_the_store() {
    let quota: JsValue =
        web_sys::DomException::new_with_message_and_name("full", "QuotaExceededError")
            .unwrap()
            .into();
    let full = failed(FileError::NotSaved, quota);
    assert_eq!(full, FileError::StorageFull);
    assert_eq!(
        full.to_string(),
        "the browser's storage for this site is full"
    );
    assert_eq!(StoreError::from(full), StoreError::QuotaExceeded);
    let gone: JsValue = web_sys::DomException::new_with_message_and_name("gone", "NotFoundError")
        .unwrap()
        .into();
    let not_saved = failed(FileError::NotSaved, gone);
    assert_eq!(
        not_saved.to_string(),
        "the file could not be saved (NotFoundError: gone)"
    );
    let refused = FileError::DownloadRefused(BrowserError::because("blob"));
    assert_eq!(
        StoreError::from(refused),
        StoreError::Unavailable("the browser refused the download (blob)".to_owned())
    );
    let missing = FileError::from(StoreError::Locked);
    assert_eq!(missing.to_string(), StoreError::Locked.to_string());
}
