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
//! # Layout
//!
//! Object stores of the IndexedDB database [`DB_NAME`] (schema version
//! [`idb::SCHEMA_VERSION`]); keys are binary, and every value except the wrapped key is a
//! record sealed by [`Vault::seal`] with the context [`vault::record_context`]`(store, key)`,
//! so a value copied to another key or store does not open:
//!
//! | store      | key                               | value (before sealing)          |
//! |------------|-----------------------------------|---------------------------------|
//! | `meta`     | `"key"`                           | [`WrappedKey`], not sealed      |
//! | `meta`     | `"profile"`                       | [`Profile`]                     |
//! | `meta`     | `"mailbox:"` ‖ room id            | the room's mailbox cursor       |
//! | `meta`     | `"outbox:"` ‖ room id             | the room's [`OutboxRecord`]     |
//! | `meta`     | `"receipts:"` ‖ room id           | the room's [`ReceiptsRecord`]   |
//! | `meta`     | `"read:"` ‖ room id               | the room's [`ReadMarks`]        |
//! | `meta`     | `"draft:"` ‖ room id              | the composer's unsent text (UTF-8) |
//! | `meta`     | `"mute:"` ‖ room id               | present while the room is muted (empty) |
//! | `rooms`    | room id (32 bytes)                | [`SavedRoom`]                   |
//! | `events`   | room id ‖ sequence number (u64be) | one event, bytes the caller chose |
//! | `contacts` | public signing key (32 bytes)     | bytes the caller chose          |
//! | `files`    | file id (32 bytes)                | a transfer record, bytes the caller chose |
//! | `chunks`   | file id ‖ chunk index (u32be)     | one chunk of the file's content |
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
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use confab_core::RoomId;
use confab_core::client::{OutboxRecord, ReceiptsRecord};
use confab_core::signal::MailboxSeq;
use confab_core::vault::records::{RecordError, decode_cursor, encode_cursor};
use confab_core::vault::{self, KdfParams, Record, Vault, VaultError, WrappedKey};
use zeroize::Zeroizing;

use super::entropy;

pub mod idb;

pub use confab_core::vault::records::{Profile, ReadMarks, SavedRoom};
pub use idb::IdbBackend;

/// The app's IndexedDB database.
pub const DB_NAME: &str = "confab";

/// Object store: the wrapped key and the profile.
pub const META: &str = "meta";
/// Object store: one record per room.
pub const ROOMS: &str = "rooms";
/// Object store: history events, per room in insertion order.
pub const EVENTS: &str = "events";
/// Object store: contacts.
pub const CONTACTS: &str = "contacts";
/// Object store: one record per file being received or kept (its transfer state).
pub const FILES: &str = "files";
/// Object store: file content, per file in chunk index order.
pub const CHUNKS: &str = "chunks";

const KEY_WRAPPED: &[u8] = b"key";
const KEY_PROFILE: &[u8] = b"profile";
/// Prefix of a room's mailbox cursor in `meta` (followed by the room id).
const KEY_MAILBOX_CURSOR: &[u8] = b"mailbox:";
/// Prefix of a room's outbox record in `meta` (followed by the room id).
const KEY_OUTBOX: &[u8] = b"outbox:";
/// Prefix of a room's receipts record in `meta` (followed by the room id).
const KEY_RECEIPTS: &[u8] = b"receipts:";
/// Prefix of a room's read marks in `meta` (followed by the room id).
const KEY_READ: &[u8] = b"read:";
/// Prefix of a room's unsent draft in `meta` (followed by the room id).
const KEY_DRAFT: &[u8] = b"draft:";
/// Prefix of a room's mute in `meta` (followed by the room id).
const KEY_MUTE: &[u8] = b"mute:";

/// The most of a draft kept, in bytes of UTF-8 (the message limit): longer text is cut at
/// a character boundary, so saving never grows with what is pasted.
pub const DRAFT_CAP: usize = 16 * 1024;

/// Where one stored event lives (its key in [`EVENTS`]), to delete it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord(Vec<u8>);

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

/// One change in a [`Backend::write`] batch.
pub enum Op {
    /// Store `value` under `key`, replacing what was there.
    Put {
        /// Object store.
        store: &'static str,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Delete every key that starts with `prefix` (all of them for an empty prefix).
    DeletePrefix {
        /// Object store.
        store: &'static str,
        /// Key prefix.
        prefix: Vec<u8>,
    },
}

impl Op {
    /// The object store it changes.
    pub fn store(&self) -> &'static str {
        match self {
            Op::Put { store, .. } | Op::DeletePrefix { store, .. } => store,
        }
    }
}

/// Raw storage under the sealing layer: named object stores mapping byte keys to byte
/// values, keys ordered bytewise. [`IdbBackend`] is IndexedDB, [`MemoryBackend`] a map.
// The app is single-threaded wasm: nobody needs these futures to be `Send`.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// The value under `key`.
    async fn get(&self, store: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every `(key, value)` whose key starts with `prefix`, in key order, as one snapshot.
    async fn scan(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;
    /// The greatest key that starts with `prefix`.
    async fn last_key(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Applies every op, in order, atomically: all or none.
    async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError>;
}

/// A [`Backend`] in memory. Clones share the same map, so a test can "reopen" a store by
/// opening another [`Store`] on a clone.
#[derive(Clone, Default)]
pub struct MemoryBackend(Rc<RefCell<MemoryMap>>);

/// `(object store, key) → value`.
type MemoryMap = BTreeMap<(&'static str, Vec<u8>), Vec<u8>>;

impl Backend for MemoryBackend {
    async fn get(&self, store: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.borrow().get(&(store, key.to_vec())).cloned())
    }

    async fn scan(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let map = self.0.borrow();
        Ok(map
            .range((store, prefix.to_vec())..)
            .take_while(|((s, key), _)| *s == store && key.starts_with(prefix))
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }

    async fn last_key(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.scan(store, prefix).await?.pop().map(|(key, _)| key))
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut map = self.0.borrow_mut();
        for op in ops {
            match op {
                Op::Put { store, key, value } => {
                    map.insert((store, key), value);
                }
                Op::DeletePrefix { store, prefix } => {
                    map.retain(|(s, key), _| !(*s == store && key.starts_with(&prefix)));
                }
            }
        }
        Ok(())
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

impl Store<IdbBackend> {
    /// Opens the app's profile ([`DB_NAME`]) with the default Argon2 costs, and
    /// [`KdfParams::EXPORT`] for exports. See [`Store::open_backend`] for what
    /// `passphrase` does.
    pub async fn open(passphrase: Option<&str>) -> Result<BrowserStore, StoreError> {
        let store = Store::open_database(DB_NAME, passphrase, KdfParams::default()).await?;
        Ok(store.with_export_kdf(KdfParams::EXPORT))
    }

    /// Opens the profile in database `name` (tests use their own), creating or upgrading
    /// it; fails with [`StoreError::OtherTab`] while another tab has it open.
    pub async fn open_database(
        name: &str,
        passphrase: Option<&str>,
        kdf: KdfParams,
    ) -> Result<BrowserStore, StoreError> {
        Store::open_backend(IdbBackend::open(name).await?, passphrase, kdf).await
    }
}

impl Store<IdbBackend> {
    /// What the file worker needs to open this store beside the page: the database name
    /// and the data key, wrapped *plain* (it crosses to the worker by `postMessage`, inside
    /// the page's own agent cluster; it is never stored in that form).
    pub fn worker_credentials(&self) -> Result<(String, Zeroizing<Vec<u8>>), StoreError> {
        let name = self
            .backend
            .name()
            .ok_or_else(|| StoreError::Unavailable("the database is closed".into()))?;
        let wrapped = self.vault.borrow_mut().wrap(None, self.kdf)?;
        Ok((name, wrapped.encode()))
    }

    /// The file worker's side of [`Store::worker_credentials`]: opens database `name`
    /// (no tab lock, no upgrade: see [`IdbBackend::open_in_worker`]) with the data key.
    pub async fn open_in_worker(name: &str, key: &[u8]) -> Result<BrowserStore, StoreError> {
        let wrapped = WrappedKey::decode(key)?;
        if wrapped.needs_passphrase() {
            return Err(StoreError::Unavailable(
                "the file worker was given a wrapped key".into(),
            ));
        }
        let vault = Vault::unlock(&wrapped, None, entropy::seed())?;
        Ok(Store {
            backend: IdbBackend::open_in_worker(name).await?,
            vault: RefCell::new(vault),
            kdf: KdfParams::default(),
            export_kdf: KdfParams::EXPORT,
            protected: Cell::new(false),
            next_seq: RefCell::new(HashMap::new()),
        })
    }
}

impl Store<IdbBackend> {
    /// Opens the profile in database `name` from the service worker, to read what a push
    /// needs (`platform/service_worker.rs`): no tab lock (a tab may hold it, or none),
    /// no upgrade (a database that is missing or at another version is refused, and none
    /// is created) and no writes. A profile protected by a passphrase is
    /// [`StoreError::Locked`]: the worker never asks for one.
    pub async fn open_read_only_in_worker(name: &str) -> Result<BrowserStore, StoreError> {
        let backend = IdbBackend::open_in_worker(name).await?;
        let bytes = backend
            .get(META, KEY_WRAPPED)
            .await?
            .ok_or_else(|| StoreError::Unavailable("no profile here".into()))?;
        let wrapped = WrappedKey::decode(&bytes)?;
        if wrapped.needs_passphrase() {
            return Err(StoreError::Locked);
        }
        let vault = Vault::unlock(&wrapped, None, entropy::seed())?;
        Ok(Store {
            backend,
            vault: RefCell::new(vault),
            kdf: KdfParams::default(),
            export_kdf: KdfParams::EXPORT,
            protected: Cell::new(false),
            next_seq: RefCell::new(HashMap::new()),
        })
    }
}

impl<B: Backend> Store<B> {
    /// Unlocks the profile in `backend`, or creates one there if it is empty.
    ///
    /// - Existing profile with a passphrase: `None` is [`StoreError::Locked`], a wrong one
    ///   [`StoreError::WrongPassphrase`]. Takes about as long as one Argon2id run.
    /// - Existing profile without one: any passphrase given is ignored.
    /// - Empty backend: a new data key, wrapped under `passphrase` if there is one.
    ///
    /// `kdf` sets the Argon2 costs for passphrases set from now on (here, by
    /// [`Store::set_passphrase`], and by [`Store::export`] unless
    /// [`Store::with_export_kdf`] says otherwise); a stored key keeps its own.
    pub async fn open_backend(
        backend: B,
        passphrase: Option<&str>,
        kdf: KdfParams,
    ) -> Result<Store<B>, StoreError> {
        let passphrase = passphrase.filter(|p| !p.is_empty());
        let (vault, protected) = match backend.get(META, KEY_WRAPPED).await? {
            Some(bytes) => {
                let wrapped = WrappedKey::decode(&bytes)?;
                let vault = Vault::unlock(&wrapped, passphrase, entropy::seed())?;
                (vault, wrapped.needs_passphrase())
            }
            None => {
                let mut vault = Vault::create(entropy::seed());
                let wrapped = vault.wrap(passphrase, kdf)?;
                backend
                    .write(vec![put(META, KEY_WRAPPED, wrapped.encode().to_vec())])
                    .await?;
                (vault, passphrase.is_some())
            }
        };
        Ok(Store {
            backend,
            vault: RefCell::new(vault),
            kdf,
            export_kdf: kdf,
            protected: Cell::new(protected),
            next_seq: RefCell::new(HashMap::new()),
        })
    }

    /// This store, exporting with `params` (until now: the costs it was opened with).
    pub fn with_export_kdf(mut self, params: KdfParams) -> Store<B> {
        self.export_kdf = params;
        self
    }

    /// Whether a passphrase protects the profile.
    pub fn has_passphrase(&self) -> bool {
        self.protected.get()
    }

    /// The backend, for tests that look underneath.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Protects the profile with `passphrase`, changes it, or (`None` or empty) removes
    /// it. Only the data key is re-wrapped; no record is rewritten.
    pub async fn set_passphrase(&self, passphrase: Option<&str>) -> Result<(), StoreError> {
        let passphrase = passphrase.filter(|p| !p.is_empty());
        let wrapped = self.vault.borrow_mut().wrap(passphrase, self.kdf)?;
        self.backend
            .write(vec![put(META, KEY_WRAPPED, wrapped.encode().to_vec())])
            .await?;
        self.protected.set(passphrase.is_some());
        Ok(())
    }

    /// The saved profile, if one was saved.
    pub async fn load_profile(&self) -> Result<Option<Profile>, StoreError> {
        match self.load(META, KEY_PROFILE).await? {
            Some(plain) => Ok(Some(Profile::decode(&plain)?)),
            None => Ok(None),
        }
    }

    /// Saves (replaces) the profile.
    pub async fn save_profile(&self, profile: &Profile) -> Result<(), StoreError> {
        let op = self.sealed_put(META, KEY_PROFILE.to_vec(), &profile.encode())?;
        self.backend.write(vec![op]).await
    }

    /// Every saved room, most recently opened first.
    pub async fn rooms(&self) -> Result<Vec<SavedRoom>, StoreError> {
        let mut rooms = Vec::new();
        for (key, plain) in self.load_all(ROOMS, &[]).await? {
            let room = SavedRoom::decode(&plain)?;
            if room.id().as_bytes().as_slice() != key.as_slice() {
                return Err(StoreError::Corrupt(
                    "a room is saved under another id".into(),
                ));
            }
            rooms.push(room);
        }
        rooms.sort_by_key(|room| std::cmp::Reverse(room.last_opened_ms));
        Ok(rooms)
    }

    /// Saves (replaces) a room, keyed by its id.
    pub async fn save_room(&self, room: &SavedRoom) -> Result<(), StoreError> {
        let key = room.id().as_bytes().to_vec();
        let op = self.sealed_put(ROOMS, key, &room.encode())?;
        self.backend.write(vec![op]).await
    }

    /// Deletes a room, all its events, its mailbox cursor, its outbox record, its receipts,
    /// its read marks and its draft, in one transaction.
    pub async fn forget_room(&self, room: RoomId) -> Result<(), StoreError> {
        let prefix = room.as_bytes().to_vec();
        self.backend
            .write(vec![
                Op::DeletePrefix {
                    store: ROOMS,
                    prefix: prefix.clone(),
                },
                Op::DeletePrefix {
                    store: EVENTS,
                    prefix,
                },
                Op::DeletePrefix {
                    store: META,
                    prefix: mailbox_cursor_key(room),
                },
                Op::DeletePrefix {
                    store: META,
                    prefix: outbox_key(room),
                },
                Op::DeletePrefix {
                    store: META,
                    prefix: receipts_key(room),
                },
                Op::DeletePrefix {
                    store: META,
                    prefix: read_key(room),
                },
                Op::DeletePrefix {
                    store: META,
                    prefix: draft_key(room),
                },
                Op::DeletePrefix {
                    store: META,
                    prefix: mute_key(room),
                },
            ])
            .await?;
        self.next_seq.borrow_mut().remove(&room);
        Ok(())
    }

    /// Appends `events` to `room`'s history, in order, atomically. Each gets the next
    /// sequence number of the room; [`Store::load_events`] returns them in that order.
    pub async fn append_events(&self, room: RoomId, events: &[Vec<u8>]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let first = self.reserve_seqs(room, events.len() as u64).await?;
        let ops = events
            .iter()
            .zip(first..)
            .map(|(event, seq)| self.sealed_put(EVENTS, event_key(room, seq), event))
            .collect::<Result<Vec<Op>, StoreError>>()?;
        self.backend.write(ops).await
    }

    /// `room`'s events, in the order they were appended.
    pub async fn load_events(&self, room: RoomId) -> Result<Vec<Vec<u8>>, StoreError> {
        let records = self.load_event_records(room).await?;
        Ok(records.into_iter().map(|(_, event)| event).collect())
    }

    /// `room`'s events with their records, in the order they were appended.
    pub async fn load_event_records(
        &self,
        room: RoomId,
    ) -> Result<Vec<(EventRecord, Vec<u8>)>, StoreError> {
        Ok(self
            .load_all(EVENTS, room.as_bytes())
            .await?
            .into_iter()
            .map(|(key, plain)| (EventRecord(key), plain.to_vec()))
            .collect())
    }

    /// Deletes these event records (from [`Store::load_event_records`]), atomically.
    pub async fn delete_events(&self, records: &[EventRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        // Every event key has 40 bytes, so a whole key is a prefix of that key alone.
        let ops = records
            .iter()
            .map(|EventRecord(key)| Op::DeletePrefix {
                store: EVENTS,
                prefix: key.clone(),
            })
            .collect();
        self.backend.write(ops).await
    }

    /// How far this device has read `room`'s mailbox on the server: the highest entry
    /// sequence number taken in (0: nothing yet, fetch from the start).
    pub async fn mailbox_cursor(&self, room: RoomId) -> Result<MailboxSeq, StoreError> {
        match self.load(META, &mailbox_cursor_key(room)).await? {
            Some(plain) => Ok(decode_cursor(&plain)?),
            None => Ok(MailboxSeq::default()),
        }
    }

    /// Saves (replaces) `room`'s mailbox cursor. Not exported: an imported profile reads
    /// the mailbox from the start again, which only repeats events it holds.
    pub async fn save_mailbox_cursor(
        &self,
        room: RoomId,
        cursor: MailboxSeq,
    ) -> Result<(), StoreError> {
        let op = self.sealed_put(META, mailbox_cursor_key(room), &encode_cursor(cursor))?;
        self.backend.write(vec![op]).await
    }

    /// Which of our events in `room` are known to be in other hands (core's
    /// [`OutboxRecord`]); `None` if none was saved.
    pub async fn outbox(&self, room: RoomId) -> Result<Option<OutboxRecord>, StoreError> {
        match self.load(META, &outbox_key(room)).await? {
            Some(plain) => OutboxRecord::decode(&plain)
                .map(Some)
                .map_err(|error| StoreError::Corrupt(error.to_string())),
            None => Ok(None),
        }
    }

    /// Saves (replaces) `room`'s outbox record. Not exported: an imported profile deposits
    /// its unacknowledged events once more, which members ignore.
    pub async fn save_outbox(&self, room: RoomId, record: &OutboxRecord) -> Result<(), StoreError> {
        let op = self.sealed_put(META, outbox_key(room), &record.encode())?;
        self.backend.write(vec![op]).await
    }

    /// What members of `room` hold of our events and how far they read (core's
    /// [`ReceiptsRecord`]); `None` if none was saved.
    pub async fn receipts(&self, room: RoomId) -> Result<Option<ReceiptsRecord>, StoreError> {
        match self.load(META, &receipts_key(room)).await? {
            Some(plain) => ReceiptsRecord::decode(&plain)
                .map(Some)
                .map_err(|error| StoreError::Corrupt(error.to_string())),
            None => Ok(None),
        }
    }

    /// Saves (replaces) `room`'s receipts record. Not exported: an imported profile shows
    /// our messages as pending until members link again and say what they hold.
    pub async fn save_receipts(
        &self,
        room: RoomId,
        record: &ReceiptsRecord,
    ) -> Result<(), StoreError> {
        let op = self.sealed_put(META, receipts_key(room), &record.encode())?;
        self.backend.write(vec![op]).await
    }

    /// What the user has seen of `room` ([`ReadMarks`]); `None` if none was saved.
    pub async fn read_marks(&self, room: RoomId) -> Result<Option<ReadMarks>, StoreError> {
        match self.load(META, &read_key(room)).await? {
            Some(plain) => Ok(Some(ReadMarks::decode(&plain)?)),
            None => Ok(None),
        }
    }

    /// Saves (replaces) what the user has seen of `room`. Not exported: an imported profile
    /// starts with everything it holds seen.
    pub async fn save_read_marks(&self, room: RoomId, marks: &ReadMarks) -> Result<(), StoreError> {
        let op = self.sealed_put(META, read_key(room), &marks.encode())?;
        self.backend.write(vec![op]).await
    }

    /// What the user typed in `room` and did not send; `None` if nothing.
    pub async fn draft(&self, room: RoomId) -> Result<Option<String>, StoreError> {
        match self.load(META, &draft_key(room)).await? {
            Some(plain) => String::from_utf8(plain.to_vec())
                .map(Some)
                .map_err(|_| StoreError::Corrupt("a draft is not UTF-8".into())),
            None => Ok(None),
        }
    }

    /// Saves (replaces) `room`'s draft, cut to [`DRAFT_CAP`] bytes; an empty one deletes it.
    /// Not exported.
    pub async fn save_draft(&self, room: RoomId, text: &str) -> Result<(), StoreError> {
        let op = if text.is_empty() {
            Op::DeletePrefix {
                store: META,
                prefix: draft_key(room),
            }
        } else {
            let end = text.floor_char_boundary(DRAFT_CAP);
            self.sealed_put(META, draft_key(room), &text.as_bytes()[..end])?
        };
        self.backend.write(vec![op]).await
    }

    /// Whether the user muted `room`'s notifications (mentions of us still notify).
    pub async fn muted(&self, room: RoomId) -> Result<bool, StoreError> {
        Ok(self.load(META, &mute_key(room)).await?.is_some())
    }

    /// Mutes `room`'s notifications, or unmutes them. Not exported.
    pub async fn save_muted(&self, room: RoomId, muted: bool) -> Result<(), StoreError> {
        let op = if muted {
            self.sealed_put(META, mute_key(room), &[])?
        } else {
            Op::DeletePrefix {
                store: META,
                prefix: mute_key(room),
            }
        };
        self.backend.write(vec![op]).await
    }

    /// Saves (replaces) what we know about the contact with public signing key `key`.
    pub async fn save_contact(&self, key: [u8; 32], value: &[u8]) -> Result<(), StoreError> {
        let op = self.sealed_put(CONTACTS, key.to_vec(), value)?;
        self.backend.write(vec![op]).await
    }

    /// Every contact as `(public signing key, value)`, ordered by key.
    pub async fn contacts(&self) -> Result<Vec<([u8; 32], Vec<u8>)>, StoreError> {
        self.load_all(CONTACTS, &[])
            .await?
            .into_iter()
            .map(|(key, plain)| {
                let key: [u8; 32] = key
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("a contact key is not 32 bytes".into()))?;
                Ok((key, plain.to_vec()))
            })
            .collect()
    }

    /// The whole profile (profile, rooms, events, contacts; not the data key, and not the
    /// `files` and `chunks` stores: files can be huge, and an export must fit in memory) as
    /// one file, encrypted under `passphrase` with Argon2id and XChaCha20-Poly1305 (format:
    /// [`confab_core::vault::export_profile`]). Takes one Argon2id run. A passphrase too
    /// easy to guess is [`StoreError::WeakPassphrase`]. Each object store
    /// is read in its own transaction, so export while nothing is being written.
    pub async fn export(&self, passphrase: &str) -> Result<Vec<u8>, StoreError> {
        // Before reading everything (core checks again).
        vault::passphrase::check(passphrase).map_err(StoreError::WeakPassphrase)?;
        let mut records = Vec::new();
        if let Some(value) = self.load(META, KEY_PROFILE).await? {
            records.push(Record {
                store: META.to_owned(),
                key: KEY_PROFILE.to_vec(),
                value: value.to_vec(),
            });
        }
        for store in [ROOMS, EVENTS, CONTACTS] {
            for (key, value) in self.load_all(store, &[]).await? {
                records.push(Record {
                    store: store.to_owned(),
                    key,
                    value: value.to_vec(),
                });
            }
        }
        Ok(vault::export_profile(
            &records,
            passphrase,
            self.export_kdf,
            entropy::seed(),
        )?)
    }

    /// Replaces the profile, rooms, events and contacts with those of an [`Store::export`]
    /// file, in one transaction; the data key and passphrase stay as they are, and so do
    /// the stored files (an export holds none). A wrong
    /// `passphrase` is [`StoreError::WrongPassphrase`] and changes nothing; so does a damaged
    /// file ([`StoreError::Corrupt`]).
    pub async fn import(&self, bytes: &[u8], passphrase: &str) -> Result<(), StoreError> {
        let records = vault::import_profile(bytes, passphrase)?;
        let mut ops = vec![Op::DeletePrefix {
            store: META,
            prefix: KEY_PROFILE.to_vec(),
        }];
        for store in [ROOMS, EVENTS, CONTACTS] {
            ops.push(Op::DeletePrefix {
                store,
                prefix: Vec::new(),
            });
        }
        for record in &records {
            let store = check_imported(record)?;
            ops.push(self.sealed_put(store, record.key.clone(), &record.value)?);
        }
        self.backend.write(ops).await?;
        self.next_seq.borrow_mut().clear();
        Ok(())
    }

    /// Stores `chunks` as chunks `first`, `first + 1`, … of `file` (replacing any already
    /// there) and, if given, `record` as the file's record, in one transaction: a record
    /// that counts the chunks it has is never ahead of (or behind) the chunks stored.
    pub async fn put_chunks(
        &self,
        file: [u8; 32],
        first: u32,
        chunks: &[&[u8]],
        record: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let mut ops = Vec::with_capacity(chunks.len() + 1);
        for (offset, chunk) in chunks.iter().enumerate() {
            let index = u32::try_from(offset)
                .ok()
                .and_then(|offset| first.checked_add(offset))
                .ok_or_else(|| {
                    StoreError::Unavailable("a file cannot have more than 2^32 chunks".into())
                })?;
            ops.push(self.sealed_put(CHUNKS, chunk_key(file, index), chunk)?);
        }
        if let Some(record) = record {
            ops.push(self.sealed_put(FILES, file.to_vec(), record)?);
        }
        self.backend.write(ops).await
    }

    /// Chunk `index` of `file`, opened, if it is stored.
    pub async fn chunk(&self, file: [u8; 32], index: u32) -> Result<Option<Vec<u8>>, StoreError> {
        // A chunk is file content, not a secret of ours: hand the buffer over rather than
        // copying it out of its `Zeroizing`.
        Ok(self
            .load(CHUNKS, &chunk_key(file, index))
            .await?
            .map(|mut plain| std::mem::take(&mut *plain)))
    }

    /// How many chunks of `file` are stored, counted as the index of the last one + 1 (0 if
    /// none): chunks are stored contiguously from 0, so this is where to resume.
    pub async fn chunk_count(&self, file: [u8; 32]) -> Result<u32, StoreError> {
        match self.backend.last_key(CHUNKS, &file).await? {
            Some(key) => Ok(index_of(&key)?.saturating_add(1)),
            None => Ok(0),
        }
    }

    /// Saves (replaces) `file`'s record.
    pub async fn save_file_record(&self, file: [u8; 32], value: &[u8]) -> Result<(), StoreError> {
        let op = self.sealed_put(FILES, file.to_vec(), value)?;
        self.backend.write(vec![op]).await
    }

    /// Every file record as `(file id, value)`, ordered by id.
    pub async fn file_records(&self) -> Result<Vec<([u8; 32], Vec<u8>)>, StoreError> {
        self.load_all(FILES, &[])
            .await?
            .into_iter()
            .map(|(key, plain)| {
                let key: [u8; 32] = key
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("a file id is not 32 bytes".into()))?;
                Ok((key, plain.to_vec()))
            })
            .collect()
    }

    /// Deletes `file`'s record and all its chunks, in one transaction.
    pub async fn forget_file(&self, file: [u8; 32]) -> Result<(), StoreError> {
        self.backend
            .write(vec![
                Op::DeletePrefix {
                    store: FILES,
                    prefix: file.to_vec(),
                },
                Op::DeletePrefix {
                    store: CHUNKS,
                    prefix: file.to_vec(),
                },
            ])
            .await
    }

    /// Deletes `file`'s chunks and keeps its record.
    pub async fn forget_chunks(&self, file: [u8; 32]) -> Result<(), StoreError> {
        self.backend
            .write(vec![Op::DeletePrefix {
                store: CHUNKS,
                prefix: file.to_vec(),
            }])
            .await
    }

    /// Reserves `count` sequence numbers in `room`, returning the first. Reservation is
    /// synchronous once the room's last key is known, so concurrent appends never share a
    /// number.
    async fn reserve_seqs(&self, room: RoomId, count: u64) -> Result<u64, StoreError> {
        let cached = self.next_seq.borrow().get(&room).copied();
        let first = match cached {
            Some(next) => next,
            None => {
                let next = match self.backend.last_key(EVENTS, room.as_bytes()).await? {
                    Some(key) => seq_of(&key)?.saturating_add(1),
                    None => 0,
                };
                // Another append may have looked it up meanwhile: its numbers stand.
                *self.next_seq.borrow_mut().entry(room).or_insert(next)
            }
        };
        self.next_seq
            .borrow_mut()
            .insert(room, first.saturating_add(count));
        Ok(first)
    }

    fn sealed_put(
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

    fn open_value(
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

    async fn load(
        &self,
        store: &'static str,
        key: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        match self.backend.get(store, key).await? {
            Some(sealed) => Ok(Some(self.open_value(store, key, &sealed)?)),
            None => Ok(None),
        }
    }

    async fn load_all(
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

fn put(store: &'static str, key: &[u8], value: Vec<u8>) -> Op {
    Op::Put {
        store,
        key: key.to_vec(),
        value,
    }
}

/// `room id ‖ seq:u64be`: bytewise order is append order within a room.
fn event_key(room: RoomId, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(room.as_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    key.get(32..)
        .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt("an event key is not 40 bytes".into()))
}

/// `"mailbox:" ‖ room id`: where a room's mailbox cursor lives in `meta`.
fn mailbox_cursor_key(room: RoomId) -> Vec<u8> {
    let mut key = KEY_MAILBOX_CURSOR.to_vec();
    key.extend_from_slice(room.as_bytes());
    key
}

/// `"outbox:" ‖ room id`: where a room's outbox record lives in `meta` (its encoding is
/// core's, [`OutboxRecord::encode`]).
fn outbox_key(room: RoomId) -> Vec<u8> {
    let mut key = KEY_OUTBOX.to_vec();
    key.extend_from_slice(room.as_bytes());
    key
}

/// `"receipts:" ‖ room id`: where a room's receipts record lives in `meta` (its encoding
/// is core's, [`ReceiptsRecord::encode`]).
fn receipts_key(room: RoomId) -> Vec<u8> {
    let mut key = KEY_RECEIPTS.to_vec();
    key.extend_from_slice(room.as_bytes());
    key
}

/// `"read:" ‖ room id`: where a room's [`ReadMarks`] live in `meta`.
fn read_key(room: RoomId) -> Vec<u8> {
    let mut key = KEY_READ.to_vec();
    key.extend_from_slice(room.as_bytes());
    key
}

/// `"draft:" ‖ room id`: where a room's unsent text lives in `meta`.
fn draft_key(room: RoomId) -> Vec<u8> {
    let mut key = KEY_DRAFT.to_vec();
    key.extend_from_slice(room.as_bytes());
    key
}

/// `"mute:" ‖ room id`: present while a room is muted.
fn mute_key(room: RoomId) -> Vec<u8> {
    let mut key = KEY_MUTE.to_vec();
    key.extend_from_slice(room.as_bytes());
    key
}

/// `file id ‖ index:u32be`: bytewise order is index order within a file.
fn chunk_key(file: [u8; 32], index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(36);
    key.extend_from_slice(&file);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

fn index_of(key: &[u8]) -> Result<u32, StoreError> {
    key.get(32..)
        .and_then(|tail| <[u8; 4]>::try_from(tail).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt("a chunk key is not 36 bytes".into()))
}

/// Which store an imported record goes to, after checking that it fits there.
fn check_imported(record: &Record) -> Result<&'static str, StoreError> {
    let bad = |what: &str| Err(StoreError::Corrupt(format!("the import holds {what}")));
    match record.store.as_str() {
        META if record.key == KEY_PROFILE => {
            Profile::decode(&record.value)?;
            Ok(META)
        }
        ROOMS => {
            let room = SavedRoom::decode(&record.value)?;
            if room.id().as_bytes().as_slice() != record.key.as_slice() {
                return bad("a room under another id");
            }
            Ok(ROOMS)
        }
        EVENTS if record.key.len() == 40 => Ok(EVENTS),
        CONTACTS if record.key.len() == 32 => Ok(CONTACTS),
        _ => bad("a record Confab does not know"),
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
