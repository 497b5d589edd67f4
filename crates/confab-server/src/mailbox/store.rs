//! The mailbox's embedded store: one redb file in the data directory holding sealed
//! entries by room and sequence number, each room's bound deposit key and usage, and
//! what expiry needs. Synchronous and clock-free: callers pass the time (unix ms), so tests
//! move it at will; [`super::Mailbox`] runs it on blocking threads.
//!
//! ```text
//! table    key                          value
//! entries  room[32] seq:u64be           stored_at_ms:u64be entry
//! by_seq   seq:u64                      room[32] stored_at_ms:u64be len:u32be
//! rooms    room[32]                     version:u8(=1) deposit_key[32] n_entries:u64be n_bytes:u64be
//! meta     "format" | "last_seq" | "last_stored_at" | "total_bytes"   u64
//! ```
//!
//! Sequence numbers are server-wide and increasing; `stored_at` never decreases with them
//! (a clock that steps back stores the previous time), so expiry takes entries in `by_seq`
//! order and stops at the first one still live, and the expired entries of a room are
//! always a prefix of its entries. A room's record (and so its deposit key binding) goes
//! with its last entry.

use std::collections::HashMap;
use std::path::Path;

use confab_core::RoomId;
use confab_core::mailbox::DepositKey;
use confab_core::signal::MailboxSeq;
use redb::{
    Database, ReadableTable, ReadableTableMetadata as _, TableDefinition, WriteTransaction,
};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
const BY_SEQ: TableDefinition<u64, &[u8]> = TableDefinition::new("by_seq");
const ROOMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("rooms");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const FORMAT: u64 = 1;
const ROOM_RECORD_VERSION: u8 = 1;
const META_FORMAT: &str = "format";
const META_LAST_SEQ: &str = "last_seq";
const META_LAST_STORED_AT: &str = "last_stored_at";
const META_TOTAL_BYTES: &str = "total_bytes";
/// Entries removed per expiry transaction, so one sweep never builds a huge transaction.
const EXPIRE_BATCH: usize = 1024;

/// The store's caps and expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoreLimits {
    /// Entries older than this (ms) are deleted and never served.
    pub(crate) ttl_ms: u64,
    /// Entries one room may hold.
    pub(crate) room_max_entries: u64,
    /// Entry bytes one room may hold.
    pub(crate) room_max_bytes: u64,
    /// Entry bytes the whole store may hold.
    pub(crate) total_max_bytes: u64,
    /// Entries in one fetched page.
    pub(crate) page_max_entries: usize,
    /// Entry bytes in one fetched page (at least one entry is always served).
    pub(crate) page_max_bytes: usize,
}

/// The open store.
pub(crate) struct Store {
    db: Database,
    limits: StoreLimits,
}

/// One page of a room's mailbox.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page {
    /// (sequence number, sealed entry), oldest first.
    pub(crate) entries: Vec<(MailboxSeq, Vec<u8>)>,
    /// More entries follow the last one.
    pub(crate) more: bool,
}

/// The database failed, or holds something this server cannot read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// redb failed (I/O, corruption, a lock held by another process). Boxed: redb's error
    /// is large and this path is rare.
    #[error("mailbox database: {0}")]
    Database(Box<redb::Error>),
    /// A format this server does not know, or a record that does not decode.
    #[error("mailbox database: {0}")]
    Format(String),
}

/// Why a deposit was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PutError {
    /// The room is bound to another deposit key.
    #[error("this room's mailbox belongs to another deposit key")]
    Denied,
    /// The room holds as many entries or bytes as allowed.
    #[error(
        "this room's mailbox is full ({n_entries} entries, {n_bytes} bytes; at most {max_entries} entries and {max_bytes} bytes); the stored entries are kept"
    )]
    RoomFull {
        n_entries: u64,
        n_bytes: u64,
        max_entries: u64,
        max_bytes: u64,
    },
    /// The whole store holds as many bytes as allowed.
    #[error("the server's mailbox store is full ({max_bytes} bytes); the stored entries are kept")]
    StoreFull { max_bytes: u64 },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a fetch or acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccessError {
    /// The proof does not verify under the room's bound key.
    #[error("the access proof does not match this room's deposit key")]
    Denied,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A room's record: its bound key and usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RoomRecord {
    key: DepositKey,
    n_entries: u64,
    n_bytes: u64,
}

impl Store {
    /// Opens (or creates) the database at `path`. Fails if another process holds it or it
    /// has a format this server does not know.
    pub(crate) fn open(path: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        let db = Database::create(path).map_err(db_error)?;
        let txn = db.begin_write().map_err(db_error)?;
        {
            let mut meta = txn.open_table(META).map_err(db_error)?;
            match meta_get(&meta, META_FORMAT)? {
                0 => {
                    meta.insert(META_FORMAT, FORMAT).map_err(db_error)?;
                }
                FORMAT => {}
                other => {
                    return Err(StoreError::Format(format!(
                        "format {other}, this server reads {FORMAT}"
                    )));
                }
            }
            // Create every table, so readers never meet a missing one.
            txn.open_table(ENTRIES).map_err(db_error)?;
            txn.open_table(BY_SEQ).map_err(db_error)?;
            txn.open_table(ROOMS).map_err(db_error)?;
        }
        txn.commit().map_err(db_error)?;
        Ok(Store { db, limits })
    }

    /// Stores `entry` for `room` at time `now_ms`. The first entry of a room binds `key`;
    /// later ones need the same key. A full room or store refuses and keeps what it holds.
    pub(crate) fn put(
        &self,
        now_ms: u64,
        room: &RoomId,
        key: &DepositKey,
        entry: &[u8],
    ) -> Result<MailboxSeq, PutError> {
        self.insert(now_ms, room, key, entry, None)
            .map(|seq| seq.unwrap_or_default())
    }

    /// Applies a deposit that a cluster's shared log numbered `seq` (deposited at `at_ms`
    /// on its node), with the same rules as [`Store::put`]. Deposits must come in log
    /// order: one numbered at or below the last applied is skipped (`Ok(None)`). A refused
    /// one still counts as applied, so every node moves past it the same way.
    pub(crate) fn apply(
        &self,
        seq: u64,
        at_ms: u64,
        room: &RoomId,
        key: &DepositKey,
        entry: &[u8],
    ) -> Result<Option<MailboxSeq>, PutError> {
        match self.insert(at_ms, room, key, entry, Some(seq)) {
            Err(PutError::Store(err)) => Err(PutError::Store(err)),
            Err(refused) => {
                self.skip_to(seq)?;
                Err(refused)
            }
            applied => applied,
        }
    }

    /// The highest sequence number used (stored or, in a cluster, applied).
    pub(crate) fn last_seq(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let meta = txn.open_table(META).map_err(db_error)?;
        meta_get(&meta, META_LAST_SEQ)
    }

    fn skip_to(&self, seq: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_error)?;
        {
            let mut meta = txn.open_table(META).map_err(db_error)?;
            if meta_get(&meta, META_LAST_SEQ)? < seq {
                meta.insert(META_LAST_SEQ, seq).map_err(db_error)?;
            }
        }
        txn.commit().map_err(db_error)
    }

    /// Stores under the next sequence number, or under `given` if it is above the last one
    /// (`Ok(None)` if not).
    fn insert(
        &self,
        now_ms: u64,
        room: &RoomId,
        key: &DepositKey,
        entry: &[u8],
        given: Option<u64>,
    ) -> Result<Option<MailboxSeq>, PutError> {
        let len = u64::try_from(entry.len()).unwrap_or(u64::MAX);
        let limits = self.limits;
        let txn = self.db.begin_write().map_err(db_error)?;
        let seq = {
            let mut rooms = txn.open_table(ROOMS).map_err(db_error)?;
            let mut meta = txn.open_table(META).map_err(db_error)?;
            let record = room_record(&rooms, room)?;
            if let Some(record) = &record {
                if record.key != *key {
                    return Err(PutError::Denied);
                }
                if record.n_entries >= limits.room_max_entries
                    || record.n_bytes.saturating_add(len) > limits.room_max_bytes
                {
                    return Err(PutError::RoomFull {
                        n_entries: record.n_entries,
                        n_bytes: record.n_bytes,
                        max_entries: limits.room_max_entries,
                        max_bytes: limits.room_max_bytes,
                    });
                }
            } else if len > limits.room_max_bytes || limits.room_max_entries == 0 {
                return Err(PutError::RoomFull {
                    n_entries: 0,
                    n_bytes: 0,
                    max_entries: limits.room_max_entries,
                    max_bytes: limits.room_max_bytes,
                });
            }
            let total = meta_get(&meta, META_TOTAL_BYTES)?;
            if total.saturating_add(len) > limits.total_max_bytes {
                return Err(PutError::StoreFull {
                    max_bytes: limits.total_max_bytes,
                });
            }
            let last_seq = meta_get(&meta, META_LAST_SEQ)?;
            let seq = match given {
                Some(given) if given <= last_seq => return Ok(None),
                Some(given) => given,
                None => last_seq.saturating_add(1),
            };
            let stored_at = now_ms.max(meta_get(&meta, META_LAST_STORED_AT)?);
            let mut value = Vec::with_capacity(8 + entry.len());
            value.extend_from_slice(&stored_at.to_be_bytes());
            value.extend_from_slice(entry);
            txn.open_table(ENTRIES)
                .map_err(db_error)?
                .insert(entry_key(room, seq).as_slice(), value.as_slice())
                .map_err(db_error)?;
            let mut index = Vec::with_capacity(44);
            index.extend_from_slice(room.as_bytes());
            index.extend_from_slice(&stored_at.to_be_bytes());
            index.extend_from_slice(&u32::try_from(entry.len()).unwrap_or(u32::MAX).to_be_bytes());
            txn.open_table(BY_SEQ)
                .map_err(db_error)?
                .insert(seq, index.as_slice())
                .map_err(db_error)?;
            let record = match record {
                Some(record) => RoomRecord {
                    n_entries: record.n_entries + 1,
                    n_bytes: record.n_bytes.saturating_add(len),
                    ..record
                },
                None => RoomRecord {
                    key: *key,
                    n_entries: 1,
                    n_bytes: len,
                },
            };
            rooms
                .insert(room.as_bytes().as_slice(), record.encode().as_slice())
                .map_err(db_error)?;
            meta.insert(META_LAST_SEQ, seq).map_err(db_error)?;
            meta.insert(META_LAST_STORED_AT, stored_at)
                .map_err(db_error)?;
            meta.insert(META_TOTAL_BYTES, total.saturating_add(len))
                .map_err(db_error)?;
            seq
        };
        txn.commit().map_err(db_error)?;
        Ok(Some(MailboxSeq::new(seq)))
    }

    /// One page of `room`'s live entries after `after`, if `authorize` accepts the room's
    /// bound key. A room without entries has no key and reads as empty.
    pub(crate) fn fetch(
        &self,
        now_ms: u64,
        room: &RoomId,
        after: MailboxSeq,
        authorize: impl FnOnce(&DepositKey) -> bool,
    ) -> Result<Page, AccessError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let rooms = txn.open_table(ROOMS).map_err(db_error)?;
        let Some(record) = room_record(&rooms, room)? else {
            return Ok(Page {
                entries: Vec::new(),
                more: false,
            });
        };
        if !authorize(&record.key) {
            return Err(AccessError::Denied);
        }
        let entries = txn.open_table(ENTRIES).map_err(db_error)?;
        let start = entry_key(room, after.to_u64().saturating_add(1));
        let end = entry_key(room, u64::MAX);
        let mut page = Page {
            entries: Vec::new(),
            more: false,
        };
        let mut n_bytes = 0usize;
        let range = entries
            .range(start.as_slice()..=end.as_slice())
            .map_err(db_error)?;
        for item in range {
            let (key, value) = item.map_err(db_error)?;
            let (seq, stored_at, entry) = decode_entry(key.value(), value.value())?;
            if self.is_expired(stored_at, now_ms) {
                continue;
            }
            let is_page_full = page.entries.len() >= self.limits.page_max_entries
                || (!page.entries.is_empty()
                    && n_bytes.saturating_add(entry.len()) > self.limits.page_max_bytes);
            if is_page_full {
                page.more = true;
                break;
            }
            n_bytes = n_bytes.saturating_add(entry.len());
            page.entries.push((MailboxSeq::new(seq), entry.to_vec()));
        }
        Ok(page)
    }

    /// Checks `authorize` against `room`'s bound key; a room without entries passes.
    pub(crate) fn check_access(
        &self,
        room: &RoomId,
        authorize: impl FnOnce(&DepositKey) -> bool,
    ) -> Result<(), AccessError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let rooms = txn.open_table(ROOMS).map_err(db_error)?;
        match room_record(&rooms, room)? {
            Some(record) if !authorize(&record.key) => Err(AccessError::Denied),
            _ => Ok(()),
        }
    }

    /// Deletes every entry older than the TTL at `now_ms`, and the records of rooms left
    /// empty. Returns how many entries went.
    pub(crate) fn expire(&self, now_ms: u64) -> Result<u64, StoreError> {
        let mut n_expired = 0u64;
        loop {
            let txn = self.db.begin_write().map_err(db_error)?;
            let n_batch = self.expire_batch(&txn, now_ms)?;
            txn.commit().map_err(db_error)?;
            n_expired += n_batch as u64;
            if n_batch < EXPIRE_BATCH {
                return Ok(n_expired);
            }
        }
    }

    /// (entries, entry bytes) in the whole store, expired ones included until swept.
    pub(crate) fn usage(&self) -> Result<(u64, u64), StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let n_entries = txn
            .open_table(BY_SEQ)
            .map_err(db_error)?
            .len()
            .map_err(db_error)?;
        let meta = txn.open_table(META).map_err(db_error)?;
        Ok((n_entries, meta_get(&meta, META_TOTAL_BYTES)?))
    }

    #[cfg(test)]
    /// (entries, bytes) stored for `room`, expired ones included until swept.
    pub(crate) fn room_usage(&self, room: &RoomId) -> Result<Option<(u64, u64)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let rooms = txn.open_table(ROOMS).map_err(db_error)?;
        Ok(room_record(&rooms, room)?.map(|record| (record.n_entries, record.n_bytes)))
    }

    #[cfg(test)]
    /// Entry bytes stored in all.
    pub(crate) fn total_bytes(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let meta = txn.open_table(META).map_err(db_error)?;
        meta_get(&meta, META_TOTAL_BYTES)
    }

    fn expire_batch(&self, txn: &WriteTransaction, now_ms: u64) -> Result<usize, StoreError> {
        let mut by_seq = txn.open_table(BY_SEQ).map_err(db_error)?;
        let mut expired: Vec<(u64, RoomId, u64)> = Vec::new();
        for item in by_seq.range::<u64>(..).map_err(db_error)? {
            let (seq, value) = item.map_err(db_error)?;
            let (room, stored_at, len) = decode_index(value.value())?;
            if !self.is_expired(stored_at, now_ms) || expired.len() >= EXPIRE_BATCH {
                break;
            }
            expired.push((seq.value(), room, len));
        }
        if expired.is_empty() {
            return Ok(0);
        }
        let mut entries = txn.open_table(ENTRIES).map_err(db_error)?;
        let mut freed: HashMap<RoomId, (u64, u64)> = HashMap::new();
        let mut freed_bytes = 0u64;
        for (seq, room, len) in &expired {
            by_seq.remove(*seq).map_err(db_error)?;
            entries
                .remove(entry_key(room, *seq).as_slice())
                .map_err(db_error)?;
            let room_freed = freed.entry(*room).or_default();
            room_freed.0 += 1;
            room_freed.1 = room_freed.1.saturating_add(*len);
            freed_bytes = freed_bytes.saturating_add(*len);
        }
        let mut rooms = txn.open_table(ROOMS).map_err(db_error)?;
        for (room, (n_entries, n_bytes)) in freed {
            let Some(record) = room_record(&rooms, &room)? else {
                continue;
            };
            let record = RoomRecord {
                n_entries: record.n_entries.saturating_sub(n_entries),
                n_bytes: record.n_bytes.saturating_sub(n_bytes),
                ..record
            };
            if record.n_entries == 0 {
                rooms.remove(room.as_bytes().as_slice()).map_err(db_error)?;
            } else {
                rooms
                    .insert(room.as_bytes().as_slice(), record.encode().as_slice())
                    .map_err(db_error)?;
            }
        }
        let mut meta = txn.open_table(META).map_err(db_error)?;
        let total = meta_get(&meta, META_TOTAL_BYTES)?.saturating_sub(freed_bytes);
        meta.insert(META_TOTAL_BYTES, total).map_err(db_error)?;
        Ok(expired.len())
    }

    fn is_expired(&self, stored_at: u64, now_ms: u64) -> bool {
        stored_at.saturating_add(self.limits.ttl_ms) <= now_ms
    }
}

impl RoomRecord {
    const LEN: usize = 1 + 32 + 8 + 8;

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RoomRecord::LEN);
        out.push(ROOM_RECORD_VERSION);
        out.extend_from_slice(&self.key.to_bytes());
        out.extend_from_slice(&self.n_entries.to_be_bytes());
        out.extend_from_slice(&self.n_bytes.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<RoomRecord, StoreError> {
        let bad = || StoreError::Format("a room record does not decode".into());
        let (&version, rest) = bytes.split_first().ok_or_else(bad)?;
        if version != ROOM_RECORD_VERSION || rest.len() != RoomRecord::LEN - 1 {
            return Err(bad());
        }
        let (key, counts) = rest.split_at(32);
        let (n_entries, n_bytes) = counts.split_at(8);
        let key: [u8; 32] = key.try_into().map_err(|_| bad())?;
        Ok(RoomRecord {
            key: DepositKey::from_bytes(&key).map_err(|_| bad())?,
            n_entries: u64::from_be_bytes(n_entries.try_into().map_err(|_| bad())?),
            n_bytes: u64::from_be_bytes(n_bytes.try_into().map_err(|_| bad())?),
        })
    }
}

fn room_record(
    rooms: &impl ReadableTable<&'static [u8], &'static [u8]>,
    room: &RoomId,
) -> Result<Option<RoomRecord>, StoreError> {
    match rooms.get(room.as_bytes().as_slice()).map_err(db_error)? {
        Some(value) => RoomRecord::decode(value.value()).map(Some),
        None => Ok(None),
    }
}

fn meta_get(meta: &impl ReadableTable<&'static str, u64>, name: &str) -> Result<u64, StoreError> {
    Ok(meta
        .get(name)
        .map_err(db_error)?
        .map(|value| value.value())
        .unwrap_or(0))
}

fn entry_key(room: &RoomId, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    let (room_part, seq_part) = key.split_at_mut(32);
    room_part.copy_from_slice(room.as_bytes());
    seq_part.copy_from_slice(&seq.to_be_bytes());
    key
}

/// (seq, stored_at, entry) from an `entries` row.
fn decode_entry<'a>(key: &[u8], value: &'a [u8]) -> Result<(u64, u64, &'a [u8]), StoreError> {
    let bad = || StoreError::Format("an entry does not decode".into());
    let seq = key.get(32..40).ok_or_else(bad)?;
    let (stored_at, entry) = value.split_at_checked(8).ok_or_else(bad)?;
    Ok((
        u64::from_be_bytes(seq.try_into().map_err(|_| bad())?),
        u64::from_be_bytes(stored_at.try_into().map_err(|_| bad())?),
        entry,
    ))
}

/// (room, stored_at, len) from a `by_seq` row.
fn decode_index(value: &[u8]) -> Result<(RoomId, u64, u64), StoreError> {
    let bad = || StoreError::Format("an index row does not decode".into());
    if value.len() != 44 {
        return Err(bad());
    }
    let (room, rest) = value.split_at(32);
    let (stored_at, len) = rest.split_at(8);
    Ok((
        RoomId::from_bytes(room.try_into().map_err(|_| bad())?),
        u64::from_be_bytes(stored_at.try_into().map_err(|_| bad())?),
        u64::from(u32::from_be_bytes(len.try_into().map_err(|_| bad())?)),
    ))
}

fn db_error(err: impl Into<redb::Error>) -> StoreError {
    StoreError::Database(Box::new(err.into()))
}

#[cfg(test)]
mod tests;
