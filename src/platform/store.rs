//! The encrypted profile store: identity, rooms, history events, contacts and received
//! files, sealed by a
//! [`Vault`] and kept in IndexedDB ([`IdbBackend`]) or in memory ([`MemoryBackend`], for
//! tests of code that uses a store).
//!
//! # Using it
//!
//! ```text
//! match BrowserStore::open(None).await {
//!     Ok(store) => …,                                 // no passphrase set (or a new profile)
//!     Err(StoreError::Locked) => ask for the passphrase, then BrowserStore::open(Some(p)),
//!     Err(StoreError::WrongPassphrase) => ask again,
//!     Err(StoreError::OtherTab) => "Confab is open in another tab",
//!     Err(e) => show e,
//! }
//! ```
//!
//! Opening an empty database creates a profile: a new random data key, protected by the
//! passphrase given (if any). Every method after that takes `&self`. The database stays
//! open until the [`Store`] is dropped; the one-writer tab lock, once taken, is kept for the
//! page's life (see [`IdbBackend::open`]).
//!
//! Code that uses a store is generic over its [`Backend`]: [`BrowserStore`] in the app,
//! [`MemoryStore`] in tests; both run the same sealing code.
//!
//! Here: the [`Store`] type and its sealing. Beside it: `backend.rs` ([`Backend`],
//! [`MemoryBackend`]), `idb.rs` ([`IdbBackend`]), `lock.rs` (the tab lock the store takes),
//! `keys.rs` (opening, the data key, passphrases, export and import) and `records.rs`
//! (what is kept, record by record). The byte layouts of records and keys are core's
//! (`confab_core::vault::records`, `confab_core::vault::layout`).
//!
//! # Layout
//!
//! Object stores of the IndexedDB database [`DB_NAME`] (schema version
//! [`idb::SCHEMA_VERSION`]); keys are binary (built and read by
//! [`confab_core::vault::layout`]), and every value except the wrapped key is a
//! record sealed by [`Vault::seal`] with the context [`vault::record_context`]`(store, key)`,
//! so a value copied to another key or store does not open:
//!
//! | store      | key                               | value (before sealing)          |
//! |------------|-----------------------------------|---------------------------------|
//! | `meta`     | `"key"`                           | [`WrappedKey`], not sealed      |
//! | `meta`     | `"profile"`                       | [`Profile`]                     |
//! | `meta`     | `"mailbox:"` ‖ room id            | that room id's mailbox cursor   |
//! | `meta`     | `"outbox:"` ‖ home                | the room's [`OutboxRecord`]     |
//! | `meta`     | `"receipts:"` ‖ home              | the room's [`ReceiptsRecord`]   |
//! | `meta`     | `"read:"` ‖ home                  | the room's [`ReadMarks`]        |
//! | `meta`     | `"draft:"` ‖ home                 | the composer's unsent text (UTF-8) |
//! | `meta`     | `"mute:"` ‖ home                  | present while the room is muted (empty) |
//! | `rooms`    | home (32 bytes)                   | [`SavedRoom`]                   |
//! | `events`   | home ‖ sequence number (u64be)    | one event, bytes the caller chose |
//! | `contacts` | public signing key (32 bytes)     | bytes the caller chose          |
//! | `files`    | file id (32 bytes)                | a transfer record, bytes the caller chose |
//! | `chunks`   | file id ‖ chunk index (u32be)     | one chunk of the file's content |
//!
//! A room's *home* ([`SavedRoom::home`]) is its lasting id: a governed room's genesis,
//! which outlives its epochs (each epoch has its own room id and mailbox, so the mailbox
//! cursor is kept per room id), else its room id.
//!
//! Keys hold no message content: room ids are public (the server sees them), sequence
//! numbers are assigned here, contacts are keyed by public keys, files by the id of the
//! signed event that announced them (a hash).
//!
//! A file's content is kept chunk by chunk, each sealed on its own, so a large file never
//! has to be whole in memory; [`Store::put_chunks`] writes chunks together with the file's
//! record, so the progress it records and the chunks stored always agree.
//!
//! # Passphrase
//!
//! With a passphrase, the data key is stored wrapped under Argon2id (default costs
//! [`KdfParams::OWASP`]: 19 MiB, 2 passes); without one it is stored as is, so the records are
//! only as private as the browser profile. [`Store::set_passphrase`] re-wraps the data key
//! and touches no record. An empty passphrase means none. A passphrase being chosen
//! (here or for an export) must pass core's check ([`vault::passphrase`]): very weak ones
//! are [`StoreError::WeakPassphrase`]. Exports use [`KdfParams::EXPORT`] (64 MiB, 3
//! passes): the file can be attacked offline.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use confab_core::RoomId;
use confab_core::vault::records::RecordError;
use confab_core::vault::{self, KdfParams, Vault, VaultError};
use zeroize::Zeroizing;

use super::tab_lock::TabLockError;

mod backend;
pub mod idb;
mod keys;
mod lock;
mod records;

pub use backend::{Backend, MemoryBackend, Op};
pub use confab_core::vault::layout::{CHUNKS, CONTACTS, EVENTS, FILES, META, ROOMS};
pub use confab_core::vault::records::{Profile, ReadMarks, RoomKind, SavedRoom, Untitled};
pub use idb::IdbBackend;

/// The app's IndexedDB database.
pub const DB_NAME: &str = "confab";

/// The most of a draft kept, in bytes of UTF-8 (the message limit): longer text is cut at
/// a character boundary, so saving never grows with what is pasted.
pub const DRAFT_CAP: usize = 16 * 1024;

/// Where one stored event lives (its key in [`EVENTS`]), to delete or rewrite it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord(pub(super) Vec<u8>);

/// What went wrong, in terms the app can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The profile is protected by a passphrase: ask for it and open again.
    #[error("this profile is protected by a passphrase")]
    Locked,
    /// The passphrase given does not unlock the profile (or the export). Nothing changed.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The browser refused to store more for this site.
    #[error("the browser's storage for this site is full")]
    QuotaExceeded,
    /// A passphrase being chosen (for the profile or an export) is too easy to guess; the
    /// text says why. Nothing changed.
    #[error("{0}")]
    WeakPassphrase(vault::WeakPassphrase),
    /// Another tab holds this profile; only one tab may write it.
    #[error("Confab is open in another tab")]
    OtherTab,
    /// Stored bytes (or an imported file) are damaged or not Confab's.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// Storage cannot be used: no IndexedDB (some private modes), a database written by a
    /// newer Confab, or another browser error (the text says which).
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
}

impl From<RecordError> for StoreError {
    fn from(error: RecordError) -> StoreError {
        StoreError::Corrupt(error.to_string())
    }
}

impl From<TabLockError> for StoreError {
    fn from(error: TabLockError) -> StoreError {
        StoreError::Unavailable(error.to_string())
    }
}

impl From<VaultError> for StoreError {
    fn from(error: VaultError) -> StoreError {
        match error {
            VaultError::WrongPassphrase => StoreError::WrongPassphrase,
            VaultError::PassphraseRequired => StoreError::Locked,
            VaultError::WeakPassphrase(why) => StoreError::WeakPassphrase(why),
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

/// The profile store on IndexedDB.
pub type BrowserStore = Store<IdbBackend>;
/// The profile store in memory, for tests.
pub type MemoryStore = Store<MemoryBackend>;

/// The encrypted profile store over a [`Backend`]. Callers hand in and get back plain
/// values; the store seals and opens them. See the module docs for the layout.
pub struct Store<B> {
    backend: B,
    vault: RefCell<Vault>,
    kdf: KdfParams,
    /// Argon2 costs of exported files ([`KdfParams::EXPORT`] in the app).
    export_kdf: KdfParams,
    protected: Cell<bool>,
    /// Next sequence number per room, once looked up. Only one tab writes (the lock), so
    /// the cache stays true.
    next_seq: RefCell<HashMap<RoomId, u64>>,
}

impl<B: Backend> Store<B> {
    /// The backend, for tests that look underneath.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub(super) fn sealed_put(
        &self,
        store: &'static str,
        key: Vec<u8>,
        plain: &[u8],
    ) -> Result<Op, StoreError> {
        let value = self
            .vault
            .borrow_mut()
            .seal(&vault::record_context(store, &key), plain)?;
        Ok(put(store, &key, value))
    }

    pub(super) fn open_value(
        &self,
        store: &'static str,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let plain = self
            .vault
            .borrow()
            .open(&vault::record_context(store, key), sealed)?;
        Ok(Zeroizing::new(plain))
    }

    pub(super) async fn load(
        &self,
        store: &'static str,
        key: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        match self.backend.get(store, key).await? {
            Some(sealed) => Ok(Some(self.open_value(store, key, &sealed)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn load_all(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>, StoreError> {
        self.backend
            .scan(store, prefix)
            .await?
            .into_iter()
            .map(|(key, sealed)| {
                let plain = self.open_value(store, &key, &sealed)?;
                Ok((key, plain))
            })
            .collect()
    }
}

pub(super) fn put(store: &'static str, key: &[u8], value: Vec<u8>) -> Op {
    Op::Put {
        store,
        key: key.to_vec(),
        value,
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
pub mod quota;
#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
