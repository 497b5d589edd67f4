//! [`IdbBackend`]: the store's bytes in IndexedDB (via `indexed_db_futures`), the schema
//! and its upgrades. The one-writer tab lock is taken first (`lock.rs`).

use std::cell::RefCell;
use std::collections::HashSet;

use indexed_db_futures::KeyRange;
use indexed_db_futures::cursor::CursorDirection;
use indexed_db_futures::database::Database;
use indexed_db_futures::error::{Error as IdbError, OpenDbError};
use indexed_db_futures::internals::SystemRepr as _;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};

use super::{Backend, CHUNKS, CONTACTS, EVENTS, FILES, META, Op, ROOMS, StoreError, lock};

/// The IndexedDB schema version. Each version's step in [`upgrade`] takes a database from
/// the one before to it; a new database runs them all.
///
/// - 1: `meta`, `rooms`, `events`
/// - 2: `contacts`
/// - 3: `files`, `chunks`
pub const SCHEMA_VERSION: u32 = 3;

thread_local! {
    /// Databases an [`IdbBackend`] in this page has open.
    static OPEN: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// IndexedDB under the tab lock: while one tab has the profile, another gets
/// [`StoreError::OtherTab`]. Dropping it closes the database; the page keeps the lock.
pub struct IdbBackend {
    db: Option<Database>,
    _open: OpenMark,
}

/// Marks database `0` open in this page until dropped.
struct OpenMark(String);

impl Drop for OpenMark {
    fn drop(&mut self) {
        OPEN.with(|open| open.borrow_mut().remove(&self.0));
    }
}

impl IdbBackend {
    /// Takes the lock `confab-store/<name>` unless this page holds it already (without
    /// waiting: [`StoreError::OtherTab`] if another tab has it), then opens the database,
    /// creating or upgrading it to [`SCHEMA_VERSION`]. A second backend on the same
    /// database in the same page is refused while the first is open.
    pub async fn open(name: &str) -> Result<IdbBackend, StoreError> {
        let newly_open = OPEN.with(|open| open.borrow_mut().insert(name.to_owned()));
        if !newly_open {
            return Err(StoreError::Unavailable(
                "this profile is already open in this page".into(),
            ));
        }
        let mark = OpenMark(name.to_owned());
        lock::hold(name).await?;
        let db = Database::open(name)
            .with_version(SCHEMA_VERSION)
            .with_on_upgrade_needed(|event, db| upgrade(event.old_version(), &db))
            .await
            .map_err(open_error)?;
        Ok(IdbBackend {
            db: Some(db),
            _open: mark,
        })
    }

    /// Opens database `name` from the file worker ([`crate::platform::file_worker`]),
    /// which runs for the page that spawned it: that page holds the tab lock and has
    /// already created or upgraded the database, so this takes no lock and upgrades
    /// nothing (a database at another version is refused).
    pub async fn open_in_worker(name: &str) -> Result<IdbBackend, StoreError> {
        let db = Database::open(name)
            .with_version(SCHEMA_VERSION)
            .with_on_upgrade_needed(|_, _| {
                Err(IdbError::from(JsValue::from_str(
                    "the file worker found the database at another version",
                )))
            })
            .await
            .map_err(open_error)?;
        Ok(IdbBackend {
            db: Some(db),
            _open: OpenMark(name.to_owned()),
        })
    }

    /// The database's name.
    pub fn name(&self) -> Option<String> {
        self.db.as_ref().map(|db| db.name())
    }

    /// Deletes database `name` (tests clean up with it). Waits while a connection to it
    /// is open, so drop every [`super::Store`] on it first.
    pub async fn delete_database(name: &str) -> Result<(), StoreError> {
        Database::delete_by_name(name)
            .map_err(open_error)?
            .await
            .map_err(idb_error)
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the database is closed".into()))
    }
}

impl Drop for IdbBackend {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            db.close();
        }
    }
}

/// Runs in the `versionchange` transaction, from `old_version` to [`SCHEMA_VERSION`].
fn upgrade(old_version: f64, db: &Database) -> indexed_db_futures::Result<()> {
    if old_version < 1.0 {
        for store in [META, ROOMS, EVENTS] {
            db.create_object_store(store).build()?;
        }
    }
    if old_version < 2.0 {
        db.create_object_store(CONTACTS).build()?;
    }
    if old_version < 3.0 {
        for store in [FILES, CHUNKS] {
            db.create_object_store(store).build()?;
        }
    }
    Ok(())
}

impl Backend for IdbBackend {
    async fn get(&self, store: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db()?.transaction(store).build().map_err(idb_error)?;
        let object_store = tx.object_store(store).map_err(idb_error)?;
        let value: Option<JsValue> = object_store
            .get::<JsValue, JsValue, _>(to_js(key))
            .await
            .map_err(idb_error)?;
        value.map(bytes_of).transpose()
    }

    async fn scan(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let tx = self.db()?.transaction(store).build().map_err(idb_error)?;
        let object_store = tx.object_store(store).map_err(idb_error)?;
        // Both requests go out before either is awaited: one transaction, one snapshot.
        let keys = object_store
            .get_all_keys::<JsValue>()
            .with_query::<JsValue, _>(prefix_range(prefix))
            .primitive()
            .map_err(idb_error)?;
        let values = object_store
            .get_all::<JsValue>()
            .with_query::<JsValue, _>(prefix_range(prefix))
            .primitive()
            .map_err(idb_error)?;
        let keys = keys.await.map_err(idb_error)?;
        let values = values.await.map_err(idb_error)?;
        if keys.len() != values.len() {
            return Err(StoreError::Unavailable(
                "IndexedDB returned different numbers of keys and values".into(),
            ));
        }
        keys.zip(values)
            .map(|(key, value)| {
                let key = bytes_of(key.map_err(idb_error)?)?;
                let value = bytes_of(value.map_err(idb_error)?)?;
                Ok((key, value))
            })
            .collect()
    }

    async fn last_key(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db()?.transaction(store).build().map_err(idb_error)?;
        let object_store = tx.object_store(store).map_err(idb_error)?;
        let cursor = object_store
            .open_key_cursor()
            .with_query::<JsValue, _>(prefix_range(prefix))
            .with_direction(CursorDirection::Prev)
            .await
            .map_err(idb_error)?;
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        let key: Option<JsValue> = cursor.primary_key().map_err(idb_error)?;
        key.map(bytes_of).transpose()
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut stores: Vec<&'static str> = ops.iter().map(Op::store).collect();
        stores.sort_unstable();
        stores.dedup();
        let tx = self
            .db()?
            .transaction(stores)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(idb_error)?;
        // The transaction itself says why it aborted (a full disk fails at commit, with
        // no request failing); the library only says that it did.
        let raw = tx
            .as_sys()
            .unchecked_ref::<web_sys::IdbTransaction>()
            .clone();
        for op in &ops {
            let object_store = tx.object_store(op.store()).map_err(idb_error)?;
            // Requests go out when built. A failed one aborts the transaction, and
            // `commit` reports its error, so the request futures need no awaiting.
            match op {
                Op::Put { key, value, .. } => {
                    drop(
                        object_store
                            .put(to_js(value))
                            .with_key(to_js(key))
                            .without_key_type()
                            .primitive()
                            .map_err(idb_error)?,
                    );
                }
                Op::DeletePrefix { prefix, .. } => {
                    drop(
                        object_store
                            .delete::<JsValue, _>(prefix_range(prefix))
                            .primitive()
                            .map_err(idb_error)?,
                    );
                }
            }
        }
        tx.commit()
            .await
            .map_err(|error| raw.error().map_or_else(|| idb_error(error), idb_error))
    }
}

/// Bytes as a binary IndexedDB key or value.
fn to_js(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// A stored binary key (an `ArrayBuffer`) or value (a `Uint8Array`) as bytes.
fn bytes_of(value: JsValue) -> Result<Vec<u8>, StoreError> {
    if let Some(array) = value.dyn_ref::<Uint8Array>() {
        Ok(array.to_vec())
    } else if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
        Ok(Uint8Array::new(buffer).to_vec())
    } else {
        Err(StoreError::Corrupt(
            "a stored key or value is not bytes".into(),
        ))
    }
}

/// Every binary key that starts with `prefix`: from `prefix` up to, not including, the
/// next prefix of the same length (none when `prefix` is empty or all `0xff`).
fn prefix_range(prefix: &[u8]) -> KeyRange<JsValue> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return KeyRange::Bound(to_js(prefix), false, to_js(&upper), true);
        }
    }
    KeyRange::LowerBound(to_js(prefix), false)
}

/// IndexedDB's errors in the store's terms.
pub(super) fn idb_error(error: impl Into<IdbError>) -> StoreError {
    let error = error.into();
    if let IdbError::DomException(exception) = &error {
        let exception: web_sys::DomException = exception.clone().into();
        match exception.name().as_str() {
            "QuotaExceededError" => return StoreError::QuotaExceeded,
            "VersionError" => {
                return StoreError::Unavailable(
                    "this profile was saved by a newer version of Confab".into(),
                );
            }
            _ => {}
        }
    }
    StoreError::Unavailable(error.to_string())
}

fn open_error(error: OpenDbError) -> StoreError {
    match error {
        OpenDbError::Base(error) => idb_error(error),
        other => StoreError::Unavailable(other.to_string()),
    }
}
