//! The file worker: received file chunks, and the copy a sender keeps of its own file, are
//! sealed and written to IndexedDB on a dedicated worker instead of the page's thread,
//! which keeps the protocol (Noise, the transfer state machine, the whole-file hash) and
//! the interface.
//!
//! During a fast transfer the page's thread was the bottleneck, about 90% busy; sealing
//! every chunk again for storage (XChaCha20-Poly1305) and the IndexedDB writes were a
//! fifth of that. Moving them here also keeps the interface responsive while files arrive.
//!
//! # How it starts
//!
//! The worker runs the app's own wasm: `file-worker.js` (copied into `dist/` by Trunk) is
//! a module worker that imports the page's wasm-bindgen glue (its URL is the page's
//! `modulepreload` link) and instantiates the page's already compiled
//! `WebAssembly.Module`, both sent in the first message. The binary's `main` sees no
//! `window` and runs [`run`] instead of mounting the app. The page then sends the
//! database name and the data key ([`BrowserStore::worker_credentials`]); the worker
//! opens the same database without taking the tab lock, which the page holds.
//!
//! ```text
//! page → worker   { glue, module }                          (to file-worker.js)
//! worker → page   { op: "ready" }
//! page → worker   { op: "open", db, key }
//! worker → page   { op: "opened", error? }
//! page → worker   { op: "put", id, file, first, chunks: [Uint8Array], record? }
//! page → worker   { op: "keep", id, file, blob, size, record }   (a kept copy of our file)
//! worker → page   { op: "done", id, error?, quota? }
//! ```
//!
//! Writes are issued in the order they arrive, so IndexedDB commits them in that order.
//! Where no worker can start (no glue link, as under `wasm-bindgen-test`, or a browser
//! that refuses module workers), [`FileWorker::start`] fails and the driver stores on the
//! page's thread as before.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

use futures::channel::{mpsc, oneshot};
use futures::{FutureExt as _, StreamExt as _};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use zeroize::Zeroizing;

use super::error::BrowserError;
use super::files;
use super::store::{BrowserStore, StoreError};

/// The worker script, beside `index.html`.
const SCRIPT: &str = "/file-worker.js";
/// How long the worker may take to load and open the database.
const START_TIMEOUT_MS: u32 = 15_000;

/// Whether this code runs in a worker (no `window`): `main` then runs [`run`].
pub fn in_worker() -> bool {
    Reflect::get(&js_sys::global(), &JsValue::from_str("window"))
        .map(|window| window.is_undefined())
        .unwrap_or(false)
}

/// Why no file worker runs here (the page then stores files itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The page links no wasm glue for the worker to load (a development build).
    #[error("this page has no wasm glue link")]
    NoGlue,
    /// The store could not hand its database over.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The browser refused to start the worker or to message it.
    #[error("{0}")]
    Refused(BrowserError),
    /// The worker failed as it started (its reason).
    #[error("{0}")]
    Failed(String),
    /// The worker went away before saying it started.
    #[error("the file worker went away")]
    Gone,
    /// The worker did not start in time.
    #[error("the file worker did not start")]
    TimedOut,
}

type Pending = Rc<RefCell<HashMap<u32, oneshot::Sender<Result<(), StoreError>>>>>;

/// The page's handle on a running file worker. Dropping it stops the worker; writes
/// still pending then fail with [`StoreError::Unavailable`].
pub struct FileWorker {
    worker: web_sys::Worker,
    pending: Pending,
    next: Cell<u32>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl FileWorker {
    /// Starts a worker and opens `store`'s database in it. An error means no worker can
    /// run here; nothing else changes.
    pub async fn start(store: &BrowserStore) -> Result<FileWorker, WorkerError> {
        let glue = glue_url().ok_or(WorkerError::NoGlue)?;
        let (db, key) = store.worker_credentials()?;
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        let worker = web_sys::Worker::new_with_options(SCRIPT, &options).map_err(refused)?;

        let pending: Pending = Rc::default();
        let (started_tx, started_rx) = oneshot::channel::<Result<(), WorkerError>>();
        let started = Rc::new(RefCell::new(Some(started_tx)));
        let open_message = RefCell::new(Some((db, key)));
        let on_message = {
            let (pending, started, worker) = (pending.clone(), started.clone(), worker.clone());
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                let data = event.data();
                match get_str(&data, "op").as_deref() {
                    Some("ready") => {
                        if let Some((db, key)) = open_message.borrow_mut().take() {
                            let message = object(&[
                                ("op", JsValue::from_str("open")),
                                ("db", JsValue::from_str(&db)),
                                ("key", Uint8Array::from(key.as_slice()).into()),
                            ]);
                            if let Err(error) = worker.post_message(&message) {
                                finish(&started, Err(refused(error)));
                            }
                        }
                    }
                    Some("opened") => finish(
                        &started,
                        match get_str(&data, "error") {
                            Some(error) => Err(WorkerError::Failed(error)),
                            None => Ok(()),
                        },
                    ),
                    Some("done") => {
                        let id = get_u32(&data, "id");
                        let result = match get_str(&data, "error") {
                            None => Ok(()),
                            Some(_) if get_bool(&data, "quota") => Err(StoreError::QuotaExceeded),
                            Some(error) => Err(StoreError::Unavailable(error)),
                        };
                        if let Some(reply) = id.and_then(|id| pending.borrow_mut().remove(&id)) {
                            let _ = reply.send(result);
                        }
                    }
                    _ => {}
                }
            })
        };
        let on_error = {
            let (pending, started) = (pending.clone(), started.clone());
            Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                let message = event
                    .dyn_ref::<web_sys::ErrorEvent>()
                    .map(|e| e.message())
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "the file worker failed".into());
                finish(&started, Err(WorkerError::Failed(message.clone())));
                for (_, reply) in pending.borrow_mut().drain() {
                    let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let handle = FileWorker {
            worker,
            pending,
            next: Cell::new(0),
            _on_message: on_message,
            _on_error: on_error,
        };
        let boot = object(&[
            ("glue", JsValue::from_str(&glue)),
            ("module", wasm_bindgen::module()),
        ]);
        handle.worker.post_message(&boot).map_err(refused)?;

        let timeout = gloo_timers::future::TimeoutFuture::new(START_TIMEOUT_MS);
        match futures::future::select(started_rx, timeout).await {
            futures::future::Either::Left((Ok(Ok(())), _)) => Ok(handle),
            futures::future::Either::Left((Ok(Err(error)), _)) => Err(error),
            futures::future::Either::Left((Err(_), _)) => Err(WorkerError::Gone),
            futures::future::Either::Right(_) => Err(WorkerError::TimedOut),
        }
    }

    /// Seals and stores chunks `first..` of `file` (and `record` in the same transaction),
    /// like [`BrowserStore::put_chunks`] on the page. The chunks are copied out of wasm
    /// memory and their buffers handed over to the worker.
    pub fn put_chunks(
        &self,
        file: [u8; 32],
        first: u32,
        chunks: &[Vec<u8>],
        record: Option<&[u8]>,
    ) -> impl Future<Output = Result<(), StoreError>> + 'static {
        let list = Array::new();
        let transfer = Array::new();
        for chunk in chunks {
            let array = Uint8Array::from(chunk.as_slice());
            transfer.push(&array.buffer());
            list.push(&array);
        }
        let mut fields = vec![
            ("op", JsValue::from_str("put")),
            ("file", Uint8Array::from(file.as_slice()).into()),
            ("first", JsValue::from(first)),
            ("chunks", list.into()),
        ];
        if let Some(record) = record {
            fields.push(("record", Uint8Array::from(record).into()));
        }
        self.request(fields, transfer)
    }

    /// [`files::keep_copy`] in the worker: it reads `local` (a `File` is passed by
    /// reference, not copied) and stores the sealed copy.
    pub fn keep_copy(
        &self,
        file: [u8; 32],
        local: &files::LocalFile,
        record: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + 'static {
        let fields = vec![
            ("op", JsValue::from_str("keep")),
            ("file", Uint8Array::from(file.as_slice()).into()),
            ("blob", local.blob().into()),
            ("size", JsValue::from(local.size() as f64)),
            ("record", Uint8Array::from(record).into()),
        ];
        self.request(fields, Array::new())
    }

    /// Posts a request with a fresh id; resolves with the worker's answer.
    fn request(
        &self,
        mut fields: Vec<(&str, JsValue)>,
        transfer: Array,
    ) -> impl Future<Output = Result<(), StoreError>> + 'static {
        let id = self.next.get();
        self.next.set(id.wrapping_add(1));
        let (reply, answer) = oneshot::channel();
        self.pending.borrow_mut().insert(id, reply);
        fields.push(("id", JsValue::from(id)));
        let posted = self
            .worker
            .post_message_with_transfer(&object(&fields), &transfer);
        if posted.is_err() {
            self.pending.borrow_mut().remove(&id);
        }
        let posted =
            posted.map_err(|error| StoreError::Unavailable(BrowserError::from(error).to_string()));
        async move {
            posted?;
            answer
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("the file worker stopped".into())))
        }
    }
}

impl Drop for FileWorker {
    fn drop(&mut self) {
        self.worker.terminate();
        for (_, reply) in self.pending.borrow_mut().drain() {
            let _ = reply.send(Err(StoreError::Unavailable(
                "the file worker stopped".into(),
            )));
        }
    }
}

/// The worker's side: takes messages in order, opens the store, stores chunks.
pub fn run() {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (inbox, mut messages) = mpsc::unbounded::<JsValue>();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let _ = inbox.unbounded_send(event.data());
        });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The worker lives as long as the page keeps it; so does its handler.
    on_message.forget();
    let reply_to = scope.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let mut store: Option<Rc<BrowserStore>> = None;
        while let Some(message) = messages.next().await {
            match get_str(&message, "op").as_deref() {
                Some("open") => {
                    let db = get_str(&message, "db").unwrap_or_default();
                    let key = Zeroizing::new(get_bytes(&message, "key").unwrap_or_default());
                    let error = match BrowserStore::open_in_worker(&db, &key).await {
                        Ok(opened) => {
                            store = Some(Rc::new(opened));
                            None
                        }
                        Err(error) => Some(error.to_string()),
                    };
                    let mut fields = vec![("op", JsValue::from_str("opened"))];
                    if let Some(error) = error {
                        fields.push(("error", JsValue::from_str(&error)));
                    }
                    let _ = reply_to.post_message(&object(&fields));
                }
                Some(op @ ("put" | "keep")) => {
                    let id = get_u32(&message, "id").unwrap_or(u32::MAX);
                    // Sealing happens before the task's first await, and spawned tasks
                    // start in order, so transactions are created in arrival order.
                    let write = match op {
                        "put" => put(store.clone(), message).boxed_local(),
                        _ => keep(store.clone(), message).boxed_local(),
                    };
                    let reply_to = reply_to.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        let mut fields =
                            vec![("op", JsValue::from_str("done")), ("id", JsValue::from(id))];
                        if let Err(error) = write.await {
                            let quota = matches!(error, StoreError::QuotaExceeded);
                            fields.push(("error", JsValue::from_str(&error.to_string())));
                            fields.push(("quota", JsValue::from_bool(quota)));
                        }
                        let _ = reply_to.post_message(&object(&fields));
                    });
                }
                _ => {}
            }
        }
    });
    let _ = scope.post_message(&object(&[("op", JsValue::from_str("ready"))]));
}

async fn put(store: Option<Rc<BrowserStore>>, message: JsValue) -> Result<(), StoreError> {
    let store = store.ok_or_else(|| StoreError::Unavailable("the store is not open".into()))?;
    let bad = || StoreError::Unavailable("a malformed write reached the file worker".into());
    let file: [u8; 32] = get_bytes(&message, "file")
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(bad)?;
    let first = get_u32(&message, "first").ok_or_else(bad)?;
    let chunks: Vec<Vec<u8>> = Reflect::get(&message, &JsValue::from_str("chunks"))
        .ok()
        .and_then(|list| list.dyn_into::<Array>().ok())
        .ok_or_else(bad)?
        .iter()
        .map(|chunk| chunk.dyn_into::<Uint8Array>().map(|a| a.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let record = get_bytes(&message, "record");
    let slices: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    store
        .put_chunks(file, first, &slices, record.as_deref())
        .await
}

async fn keep(store: Option<Rc<BrowserStore>>, message: JsValue) -> Result<(), StoreError> {
    let store = store.ok_or_else(|| StoreError::Unavailable("the store is not open".into()))?;
    let bad = || StoreError::Unavailable("a malformed copy request reached the file worker".into());
    let file: [u8; 32] = get_bytes(&message, "file")
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(bad)?;
    let blob: web_sys::Blob = Reflect::get(&message, &JsValue::from_str("blob"))
        .ok()
        .and_then(|blob| blob.dyn_into().ok())
        .ok_or_else(bad)?;
    let size = Reflect::get(&message, &JsValue::from_str("size"))
        .ok()
        .and_then(|size| size.as_f64())
        .filter(|size| *size >= 0.0 && size.fract() == 0.0)
        .ok_or_else(bad)? as u64;
    let record = get_bytes(&message, "record").ok_or_else(bad)?;
    files::keep_copy(&store, file, &blob, size, &record).await
}

/// The page's wasm-bindgen glue: the `modulepreload` link Trunk writes for it.
fn glue_url() -> Option<String> {
    let document = web_sys::window()?.document()?;
    let link = document
        .query_selector(r#"link[rel="modulepreload"][href$=".js"]"#)
        .ok()??;
    let href = link.get_attribute("href")?;
    let base = document.base_uri().ok()??;
    web_sys::Url::new_with_base(&href, &base)
        .ok()
        .map(|url| url.href())
}

fn finish(
    started: &RefCell<Option<oneshot::Sender<Result<(), WorkerError>>>>,
    result: Result<(), WorkerError>,
) {
    if let Some(started) = started.borrow_mut().take() {
        let _ = started.send(result);
    }
}

fn object(fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object
}

fn get_str(value: &JsValue, name: &str) -> Option<String> {
    Reflect::get(value, &JsValue::from_str(name))
        .ok()?
        .as_string()
}

fn get_u32(value: &JsValue, name: &str) -> Option<u32> {
    let number = Reflect::get(value, &JsValue::from_str(name))
        .ok()?
        .as_f64()?;
    (number >= 0.0 && number <= f64::from(u32::MAX) && number.fract() == 0.0)
        .then_some(number as u32)
}

fn get_bool(value: &JsValue, name: &str) -> bool {
    Reflect::get(value, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

fn get_bytes(value: &JsValue, name: &str) -> Option<Vec<u8>> {
    Reflect::get(value, &JsValue::from_str(name))
        .ok()?
        .dyn_into::<Uint8Array>()
        .ok()
        .map(|array| array.to_vec())
}

fn refused(error: JsValue) -> WorkerError {
    WorkerError::Refused(error.into())
}
