//! The mailbox's embedded store: one redb file in the data directory holding sealed
//! entries by room and sequence number, each room's bound deposit key, usage and owner,
//! each owner's usage, and what expiry and eviction need. Synchronous and clock-free:
//! callers pass the time (unix ms), so tests move it at will; [`super::Mailbox`] runs it on
//! blocking threads.
//!
//! ```text
//! table            key                          value
//! entries          room[32] seq:u64be           stored_at_ms:u64be entry
//! by_seq           seq:u64                      room[32] stored_at_ms:u64be len:u32be
//! rooms            room[32]                     version:u8(=2) deposit_key[32] owner:u64be n_entries:u64be n_bytes:u64be
//! owners           owner:u64                    n_bytes:u64
//! owners_by_bytes  n_bytes << 64 | owner: u128  ()
//! by_owner         owner << 64 | seq: u128      room[32] len:u32be
//! meta             "format" | "last_seq" | "last_stored_at" | "total_bytes"   u64
//! ```
//!
//! Sequence numbers are server-wide and increasing; `stored_at` never decreases with them
//! (a clock that steps back stores the previous time), so expiry takes entries in `by_seq`
//! order and stops at the first one still live, and the expired entries of a room are
//! always a prefix of its entries. A room's record (and so its deposit key binding) goes
//! with its last entry.
//!
//! **Fair share.** A room's bytes count against its *owner*, the [`AddressTag`] of the
//! client address whose deposit created it. An owner holds at most `owner_max_bytes`; a
//! deposit beyond that deletes the owner's own oldest entries. When the whole store is
//! full, a deposit deletes the oldest entries of the owner holding the most bytes. So a
//! flood pushes out only its own entries, or those of an owner holding more than every
//! flooding address does, and a deposit is refused only by its room's own caps (a room
//! holding h bytes is reached only from more than `max_bytes` / h addresses); fresh room
//! ids gain a flooder nothing. Cost: everyone behind one address shares one share.
//!
//! Every decision is a function of the store and the deposit, time included: before
//! deciding, a deposit (stored or refused) expires what is older than the TTL at its own
//! `stored_at`. Nodes that apply the same log in order therefore hold the same entries (see
//! `cluster`), however the log is cut into transactions: [`Store::insert_all`] decides a
//! batch of deposits in order in one transaction, each exactly as it would be alone.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use confab_core::RoomId;
use confab_core::mailbox::DepositKey;
use confab_core::signal::MailboxSeq;
use redb::{
    Database, ReadableTable, ReadableTableMetadata as _, TableDefinition, WriteTransaction,
};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
const BY_SEQ: TableDefinition<u64, &[u8]> = TableDefinition::new("by_seq");
const ROOMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("rooms");
const OWNERS: TableDefinition<u64, u64> = TableDefinition::new("owners");
const OWNERS_BY_BYTES: TableDefinition<u128, ()> = TableDefinition::new("owners_by_bytes");
const BY_OWNER: TableDefinition<u128, &[u8]> = TableDefinition::new("by_owner");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// 2: rooms have owners (format 1 stores are migrated on open, their rooms owned by
/// [`AddressTag::UNKNOWN`]).
const FORMAT: u64 = 2;
const ROOM_RECORD_VERSION: u8 = 2;
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
    /// Entry bytes the rooms of one owner (client address) may hold.
    pub(crate) owner_max_bytes: u64,
    /// Entry bytes the whole store may hold.
    pub(crate) total_max_bytes: u64,
    /// Entries in one fetched page.
    pub(crate) page_max_entries: usize,
    /// Entry bytes in one fetched page (at least one entry is always served).
    pub(crate) page_max_bytes: usize,
}

/// What a room's bytes count against: a keyed hash of the client address (IPv4, or IPv6's
/// /48) whose deposit created the room. The key is random per server process, so the
/// store never holds an address, and nobody with only the file can tell whose it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AddressTag(pub(crate) u64);

impl AddressTag {
    /// The owner of rooms created before owners were kept.
    pub(crate) const UNKNOWN: AddressTag = AddressTag(0);
}

/// The open store.
pub(crate) struct Store {
    db: Database,
    limits: StoreLimits,
}

/// A deposit that was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) seq: MailboxSeq,
    /// Entries deleted to make room for it (its owner's share, or the store, was full).
    pub(crate) n_evicted: u64,
}

/// A deposit to decide: what [`Store::put`] and [`Store::apply`] take, for
/// [`Store::insert_all`].
#[derive(Clone, Debug)]
pub(crate) struct Deposit {
    /// When it was deposited (unix ms).
    pub(crate) at_ms: u64,
    /// Its number in a cluster's log; `None` on a single node (the next one is used).
    pub(crate) seq: Option<u64>,
    pub(crate) room: RoomId,
    pub(crate) key: DepositKey,
    /// The sealed entry.
    pub(crate) entry: Vec<u8>,
    pub(crate) depositor: AddressTag,
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
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// redb failed (I/O, corruption, a lock held by another process). Behind an `Arc`:
    /// redb's error is large, this path is rare, and a failed group commit gives it to
    /// every deposit in it.
    #[error("mailbox database: {0}")]
    Database(Arc<redb::Error>),
    /// A format this server does not know, or a record that does not decode.
    #[error("mailbox database: {0}")]
    Format(String),
}

/// Why a deposit was refused.
#[derive(Clone, Debug, thiserror::Error)]
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
    /// The entry is larger than an owner's share or the whole store.
    #[error("the server's mailbox store is too small for this entry (at most {max_bytes} bytes)")]
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

/// A room's record: its bound key, owner and usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RoomRecord {
    key: DepositKey,
    owner: AddressTag,
    n_entries: u64,
    n_bytes: u64,
}

/// One stored entry, as eviction and expiry see it.
#[derive(Clone, Copy, Debug)]
struct Placed {
    seq: u64,
    room: RoomId,
    len: u64,
}

impl Store {
    /// Opens (or creates) the database at `path`. Fails if another process holds it or it
    /// has a format this server does not know.
    /// `cache_bytes` bounds redb's page cache (it counts against the server's memory budget).
    pub(crate) fn open(
        path: &Path,
        limits: StoreLimits,
        cache_bytes: usize,
    ) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(db_error)?;
        let txn = db.begin_write().map_err(db_error)?;
        {
            // Create every table, so readers never meet a missing one.
            txn.open_table(ENTRIES).map_err(db_error)?;
            txn.open_table(BY_SEQ).map_err(db_error)?;
            txn.open_table(ROOMS).map_err(db_error)?;
            txn.open_table(OWNERS).map_err(db_error)?;
            txn.open_table(OWNERS_BY_BYTES).map_err(db_error)?;
            txn.open_table(BY_OWNER).map_err(db_error)?;
            let format = meta_get(&txn.open_table(META).map_err(db_error)?, META_FORMAT)?;
            match format {
                0 => {}
                1 => migrate_from_1(&txn)?,
                FORMAT => {}
                other => {
                    return Err(StoreError::Format(format!(
                        "format {other}, this server reads {FORMAT}"
                    )));
                }
            }
            let mut meta = txn.open_table(META).map_err(db_error)?;
            meta.insert(META_FORMAT, FORMAT).map_err(db_error)?;
        }
        txn.commit().map_err(db_error)?;
        Ok(Store { db, limits })
    }

    /// Stores `entry` for `room` at time `now_ms`, deposited from the address `depositor`.
    /// The first entry of a room binds `key` and makes `depositor` its owner; later ones
    /// need the same key. A full room refuses and keeps what it holds; a full owner's
    /// share or store makes room (see the module's "Fair share").
    #[cfg(test)]
    pub(crate) fn put(
        &self,
        now_ms: u64,
        room: &RoomId,
        key: &DepositKey,
        entry: &[u8],
        depositor: AddressTag,
    ) -> Result<Stored, PutError> {
        let deposit = Deposit {
            at_ms: now_ms,
            seq: None,
            room: *room,
            key: *key,
            entry: entry.to_vec(),
            depositor,
        };
        self.one(deposit).map(|stored| {
            stored.unwrap_or(Stored {
                seq: MailboxSeq::default(),
                n_evicted: 0,
            })
        })
    }

    /// Applies a deposit that a cluster's shared log numbered `seq` (deposited at `at_ms`
    /// on its node), with the same rules as [`Store::put`]. Deposits must come in log
    /// order: one numbered at or below the last applied is skipped (`Ok(None)`). A refused
    /// one still counts as applied, so every node moves past it the same way.
    #[cfg(test)]
    pub(crate) fn apply(
        &self,
        seq: u64,
        at_ms: u64,
        room: &RoomId,
        key: &DepositKey,
        entry: &[u8],
        depositor: AddressTag,
    ) -> Result<Option<Stored>, PutError> {
        self.one(Deposit {
            at_ms,
            seq: Some(seq),
            room: *room,
            key: *key,
            entry: entry.to_vec(),
            depositor,
        })
    }

    /// Decides `deposits` in order, each as if alone given those before it, in one write
    /// transaction (one commit, one fsync: group commit). A refusal refuses only its own
    /// deposit. If the transaction fails, every deposit fails with that error and none is
    /// stored.
    pub(crate) fn insert_all(
        &self,
        deposits: &[Deposit],
    ) -> Result<Vec<Result<Option<Stored>, PutError>>, StoreError> {
        let txn = self.db.begin_write().map_err(db_error)?;
        let mut outcomes = Vec::with_capacity(deposits.len());
        for deposit in deposits {
            match self.insert(&txn, deposit) {
                Err(PutError::Store(err)) => return Err(err),
                Err(refused) => {
                    // A refused deposit of the log still moves the log past it.
                    if let Some(seq) = deposit.seq {
                        let mut meta = txn.open_table(META).map_err(db_error)?;
                        if meta_get(&meta, META_LAST_SEQ)? < seq {
                            meta.insert(META_LAST_SEQ, seq).map_err(db_error)?;
                        }
                    }
                    outcomes.push(Err(refused));
                }
                Ok(stored) => outcomes.push(Ok(stored)),
            }
        }
        txn.commit().map_err(db_error)?;
        Ok(outcomes)
    }

    /// The highest sequence number used (stored or, in a cluster, applied).
    pub(crate) fn last_seq(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let meta = txn.open_table(META).map_err(db_error)?;
        meta_get(&meta, META_LAST_SEQ)
    }

    #[cfg(test)]
    fn one(&self, deposit: Deposit) -> Result<Option<Stored>, PutError> {
        let mut outcomes = self.insert_all(std::slice::from_ref(&deposit))?;
        outcomes
            .pop()
            .unwrap_or(Err(PutError::Store(StoreError::Format(
                "a transaction of one deposit decided none".into(),
            ))))
    }

    /// Decides one deposit within `txn`: stores it under the next sequence number, or under
    /// its own if that is above the last one (`Ok(None)` if not). It first expires what is
    /// older than the TTL at its time, stored or refused; a refusal changes nothing else.
    fn insert(
        &self,
        txn: &WriteTransaction,
        deposit: &Deposit,
    ) -> Result<Option<Stored>, PutError> {
        let (room, key, entry, depositor) = (
            &deposit.room,
            &deposit.key,
            deposit.entry.as_slice(),
            deposit.depositor,
        );
        let len = u64::try_from(entry.len()).unwrap_or(u64::MAX);
        let limits = self.limits;
        let (seq, n_evicted) = {
            let last_seq = meta_get(&txn.open_table(META).map_err(db_error)?, META_LAST_SEQ)?;
            let seq = match deposit.seq {
                Some(given) if given <= last_seq => return Ok(None),
                Some(given) => given,
                None => last_seq.saturating_add(1),
            };
            let stored_at = {
                let meta = txn.open_table(META).map_err(db_error)?;
                deposit.at_ms.max(meta_get(&meta, META_LAST_STORED_AT)?)
            };
            // What has expired by this deposit's time goes first, so what is decided
            // below depends on the log alone, not on when this node last swept.
            while self.expire_batch(txn, stored_at)? == EXPIRE_BATCH {}
            let record = room_record(&txn.open_table(ROOMS).map_err(db_error)?, room)?;
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
            if len > limits.owner_max_bytes || len > limits.total_max_bytes {
                return Err(PutError::StoreFull {
                    max_bytes: limits.owner_max_bytes.min(limits.total_max_bytes),
                });
            }
            let owner = record.map_or(depositor, |record| record.owner);
            let mut n_evicted = 0u64;
            // The owner's share: its own oldest entries make room.
            while owner_bytes(txn, owner)?.saturating_add(len) > limits.owner_max_bytes {
                let Some(oldest) = oldest_of(txn, owner)? else {
                    break;
                };
                remove_entries(txn, &[oldest])?;
                n_evicted += 1;
            }
            // The store: the oldest entries of whoever holds the most make room.
            loop {
                let total = meta_get(&txn.open_table(META).map_err(db_error)?, META_TOTAL_BYTES)?;
                if total.saturating_add(len) <= limits.total_max_bytes {
                    break;
                }
                let Some(largest) = largest_owner(txn)? else {
                    break;
                };
                let Some(oldest) = oldest_of(txn, largest)? else {
                    break;
                };
                remove_entries(txn, &[oldest])?;
                n_evicted += 1;
            }
            // Eviction may have taken the room's last entry, and its record with it.
            let record = room_record(&txn.open_table(ROOMS).map_err(db_error)?, room)?;
            let mut value = Vec::with_capacity(8 + entry.len());
            value.extend_from_slice(&stored_at.to_be_bytes());
            value.extend_from_slice(entry);
            txn.open_table(ENTRIES)
                .map_err(db_error)?
                .insert(entry_key(room, seq).as_slice(), value.as_slice())
                .map_err(db_error)?;
            let entry_len = u32::try_from(entry.len()).unwrap_or(u32::MAX);
            let mut index = Vec::with_capacity(44);
            index.extend_from_slice(room.as_bytes());
            index.extend_from_slice(&stored_at.to_be_bytes());
            index.extend_from_slice(&entry_len.to_be_bytes());
            txn.open_table(BY_SEQ)
                .map_err(db_error)?
                .insert(seq, index.as_slice())
                .map_err(db_error)?;
            let mut placed = Vec::with_capacity(36);
            placed.extend_from_slice(room.as_bytes());
            placed.extend_from_slice(&entry_len.to_be_bytes());
            txn.open_table(BY_OWNER)
                .map_err(db_error)?
                .insert(owner_seq(owner, seq), placed.as_slice())
                .map_err(db_error)?;
            let record = match record {
                Some(record) => RoomRecord {
                    n_entries: record.n_entries + 1,
                    n_bytes: record.n_bytes.saturating_add(len),
                    ..record
                },
                None => RoomRecord {
                    key: *key,
                    owner,
                    n_entries: 1,
                    n_bytes: len,
                },
            };
            txn.open_table(ROOMS)
                .map_err(db_error)?
                .insert(room.as_bytes().as_slice(), record.encode().as_slice())
                .map_err(db_error)?;
            let held = owner_bytes(txn, owner)?;
            set_owner_bytes(txn, owner, held, held.saturating_add(len))?;
            let mut meta = txn.open_table(META).map_err(db_error)?;
            let total = meta_get(&meta, META_TOTAL_BYTES)?;
            meta.insert(META_LAST_SEQ, seq).map_err(db_error)?;
            meta.insert(META_LAST_STORED_AT, stored_at)
                .map_err(db_error)?;
            meta.insert(META_TOTAL_BYTES, total.saturating_add(len))
                .map_err(db_error)?;
            (seq, n_evicted)
        };
        Ok(Some(Stored {
            seq: MailboxSeq::new(seq),
            n_evicted,
        }))
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

    /// The deposit key bound to `room`'s mailbox, if it holds entries.
    pub(crate) fn room_key(&self, room: &RoomId) -> Result<Option<DepositKey>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let rooms = txn.open_table(ROOMS).map_err(db_error)?;
        Ok(room_record(&rooms, room)?.map(|record| record.key))
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
    /// Entry bytes the rooms of `owner` hold.
    pub(crate) fn owner_usage(&self, owner: AddressTag) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(db_error)?;
        let held = owner_bytes(&txn, owner)?;
        txn.abort().map_err(db_error)?;
        Ok(held)
    }

    /// The time the log has reached: the latest `stored_at` (0 before any deposit).
    pub(crate) fn log_clock(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let meta = txn.open_table(META).map_err(db_error)?;
        meta_get(&meta, META_LAST_STORED_AT)
    }

    #[cfg(test)]
    /// Entry bytes stored in all.
    pub(crate) fn total_bytes(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let meta = txn.open_table(META).map_err(db_error)?;
        meta_get(&meta, META_TOTAL_BYTES)
    }

    fn expire_batch(&self, txn: &WriteTransaction, now_ms: u64) -> Result<usize, StoreError> {
        let mut expired: Vec<Placed> = Vec::new();
        {
            let by_seq = txn.open_table(BY_SEQ).map_err(db_error)?;
            for item in by_seq.range::<u64>(..).map_err(db_error)? {
                let (seq, value) = item.map_err(db_error)?;
                let (room, stored_at, len) = decode_index(value.value())?;
                if !self.is_expired(stored_at, now_ms) || expired.len() >= EXPIRE_BATCH {
                    break;
                }
                expired.push(Placed {
                    seq: seq.value(),
                    room,
                    len,
                });
            }
        }
        remove_entries(txn, &expired)?;
        Ok(expired.len())
    }

    fn is_expired(&self, stored_at: u64, now_ms: u64) -> bool {
        stored_at.saturating_add(self.limits.ttl_ms) <= now_ms
    }
}

impl RoomRecord {
    const LEN: usize = 1 + 32 + 8 + 8 + 8;
    /// Format 1's record: no owner.
    const LEN_1: usize = 1 + 32 + 8 + 8;

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RoomRecord::LEN);
        out.push(ROOM_RECORD_VERSION);
        out.extend_from_slice(&self.key.to_bytes());
        out.extend_from_slice(&self.owner.0.to_be_bytes());
        out.extend_from_slice(&self.n_entries.to_be_bytes());
        out.extend_from_slice(&self.n_bytes.to_be_bytes());
        out
    }

    /// A record of this format, or of format 1 (owned by [`AddressTag::UNKNOWN`]).
    fn decode(bytes: &[u8]) -> Result<RoomRecord, StoreError> {
        let bad = || StoreError::Format("a room record does not decode".into());
        let (&version, rest) = bytes.split_first().ok_or_else(bad)?;
        let (key, owner, counts) = match (version, bytes.len()) {
            (ROOM_RECORD_VERSION, RoomRecord::LEN) => {
                let (key, rest) = rest.split_at(32);
                let (owner, counts) = rest.split_at(8);
                let owner = u64::from_be_bytes(owner.try_into().map_err(|_| bad())?);
                (key, AddressTag(owner), counts)
            }
            (1, RoomRecord::LEN_1) => {
                let (key, counts) = rest.split_at(32);
                (key, AddressTag::UNKNOWN, counts)
            }
            _ => return Err(bad()),
        };
        let (n_entries, n_bytes) = counts.split_at(8);
        let key: [u8; 32] = key.try_into().map_err(|_| bad())?;
        Ok(RoomRecord {
            key: DepositKey::from_bytes(&key).map_err(|_| bad())?,
            owner,
            n_entries: u64::from_be_bytes(n_entries.try_into().map_err(|_| bad())?),
            n_bytes: u64::from_be_bytes(n_bytes.try_into().map_err(|_| bad())?),
        })
    }
}

/// Deletes `entries` (each from every table), updating their rooms (a room left empty goes,
/// and its binding with it), owners and the total.
fn remove_entries(txn: &WriteTransaction, entries: &[Placed]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut freed: HashMap<RoomId, (u64, u64)> = HashMap::new();
    let mut freed_bytes = 0u64;
    {
        let mut by_seq = txn.open_table(BY_SEQ).map_err(db_error)?;
        let mut table = txn.open_table(ENTRIES).map_err(db_error)?;
        for placed in entries {
            by_seq.remove(placed.seq).map_err(db_error)?;
            table
                .remove(entry_key(&placed.room, placed.seq).as_slice())
                .map_err(db_error)?;
            let room_freed = freed.entry(placed.room).or_default();
            room_freed.0 += 1;
            room_freed.1 = room_freed.1.saturating_add(placed.len);
            freed_bytes = freed_bytes.saturating_add(placed.len);
        }
    }
    let mut owners_freed: HashMap<AddressTag, u64> = HashMap::new();
    {
        let mut rooms = txn.open_table(ROOMS).map_err(db_error)?;
        let mut by_owner = txn.open_table(BY_OWNER).map_err(db_error)?;
        for placed in entries {
            if let Some(record) = room_record(&rooms, &placed.room)? {
                by_owner
                    .remove(owner_seq(record.owner, placed.seq))
                    .map_err(db_error)?;
                let owner_freed = owners_freed.entry(record.owner).or_default();
                *owner_freed = owner_freed.saturating_add(placed.len);
            }
        }
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
    }
    for (owner, n_bytes) in owners_freed {
        let held = owner_bytes(txn, owner)?;
        set_owner_bytes(txn, owner, held, held.saturating_sub(n_bytes))?;
    }
    let mut meta = txn.open_table(META).map_err(db_error)?;
    let total = meta_get(&meta, META_TOTAL_BYTES)?.saturating_sub(freed_bytes);
    meta.insert(META_TOTAL_BYTES, total).map_err(db_error)?;
    Ok(())
}

/// Entry bytes `owner`'s rooms hold.
fn owner_bytes(txn: &WriteTransaction, owner: AddressTag) -> Result<u64, StoreError> {
    let owners = txn.open_table(OWNERS).map_err(db_error)?;
    Ok(owners
        .get(owner.0)
        .map_err(db_error)?
        .map(|held| held.value())
        .unwrap_or(0))
}

/// Moves `owner` from `before` to `after` bytes in both owner tables (none kept at 0).
fn set_owner_bytes(
    txn: &WriteTransaction,
    owner: AddressTag,
    before: u64,
    after: u64,
) -> Result<(), StoreError> {
    let mut owners = txn.open_table(OWNERS).map_err(db_error)?;
    let mut by_bytes = txn.open_table(OWNERS_BY_BYTES).map_err(db_error)?;
    by_bytes
        .remove(bytes_owner(before, owner))
        .map_err(db_error)?;
    if after == 0 {
        owners.remove(owner.0).map_err(db_error)?;
    } else {
        owners.insert(owner.0, after).map_err(db_error)?;
        by_bytes
            .insert(bytes_owner(after, owner), ())
            .map_err(db_error)?;
    }
    Ok(())
}

/// The owner holding the most bytes (of two holding as many, the larger tag).
fn largest_owner(txn: &WriteTransaction) -> Result<Option<AddressTag>, StoreError> {
    let by_bytes = txn.open_table(OWNERS_BY_BYTES).map_err(db_error)?;
    let last = by_bytes.last().map_err(db_error)?;
    // The low 64 bits are the tag.
    Ok(last.map(|(key, _)| AddressTag(key.value() as u64)))
}

/// The oldest entry of `owner`'s rooms.
fn oldest_of(txn: &WriteTransaction, owner: AddressTag) -> Result<Option<Placed>, StoreError> {
    let by_owner = txn.open_table(BY_OWNER).map_err(db_error)?;
    let mut range = by_owner
        .range(owner_seq(owner, 0)..=owner_seq(owner, u64::MAX))
        .map_err(db_error)?;
    let Some(item) = range.next() else {
        return Ok(None);
    };
    let (key, value) = item.map_err(db_error)?;
    let bad = || StoreError::Format("an owner index row does not decode".into());
    let value = value.value();
    if value.len() != 36 {
        return Err(bad());
    }
    let (room, len) = value.split_at(32);
    Ok(Some(Placed {
        // The low 64 bits are the sequence number.
        seq: key.value() as u64,
        room: RoomId::from_bytes(room.try_into().map_err(|_| bad())?),
        len: u64::from(u32::from_be_bytes(len.try_into().map_err(|_| bad())?)),
    }))
}

fn owner_seq(owner: AddressTag, seq: u64) -> u128 {
    (u128::from(owner.0) << 64) | u128::from(seq)
}

fn bytes_owner(n_bytes: u64, owner: AddressTag) -> u128 {
    (u128::from(n_bytes) << 64) | u128::from(owner.0)
}

/// Format 1 to 2: every room is owned by [`AddressTag::UNKNOWN`]; builds the owner tables.
fn migrate_from_1(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut rows = Vec::new();
    {
        let by_seq = txn.open_table(BY_SEQ).map_err(db_error)?;
        for item in by_seq.range::<u64>(..).map_err(db_error)? {
            let (seq, value) = item.map_err(db_error)?;
            let (room, _, len) = decode_index(value.value())?;
            rows.push((seq.value(), room, len));
        }
    }
    let owner = AddressTag::UNKNOWN;
    let mut held = 0u64;
    {
        let mut by_owner = txn.open_table(BY_OWNER).map_err(db_error)?;
        for (seq, room, len) in &rows {
            let mut placed = Vec::with_capacity(36);
            placed.extend_from_slice(room.as_bytes());
            placed.extend_from_slice(&u32::try_from(*len).unwrap_or(u32::MAX).to_be_bytes());
            by_owner
                .insert(owner_seq(owner, *seq), placed.as_slice())
                .map_err(db_error)?;
            held = held.saturating_add(*len);
        }
    }
    let mut rooms = txn.open_table(ROOMS).map_err(db_error)?;
    let mut records = Vec::new();
    for item in rooms.range::<&[u8]>(..).map_err(db_error)? {
        let (room, value) = item.map_err(db_error)?;
        records.push((room.value().to_vec(), RoomRecord::decode(value.value())?));
    }
    for (room, record) in records {
        rooms
            .insert(room.as_slice(), record.encode().as_slice())
            .map_err(db_error)?;
    }
    drop(rooms);
    set_owner_bytes(txn, owner, 0, held)
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
    StoreError::Database(Arc::new(err.into()))
}

#[cfg(test)]
mod tests;
