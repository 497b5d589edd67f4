//! The offline mailbox: sealed entries members deposit for a room id and fetch when they
//! come back. The server stores ciphertext, the room id and the room's deposit public key;
//! it checks deposit proofs (see `confab_core::mailbox`) and caps, and deletes entries when
//! they expire. Acknowledgements move only the acknowledging connection's cursor: nothing
//! is deleted before expiry, because the server cannot tell members apart.
//!
//! - **Trust on first use.** A room's first deposit binds its deposit key; requests that
//!   do not prove it are `mailbox-denied`. The binding goes with the room's last entry:
//!   someone who learns a room id while its mailbox is empty can deny members deposits
//!   until their entries go (denial of service only, and only with the room id).
//! - **Sequence and fetch.** Entries are numbered across the whole store, so a cursor
//!   stays valid when a room empties and fills again; a fetch returns at most 100 entries
//!   and 512 KiB after a cursor (`--mailbox-page-*`). Entries go
//!   at expiry (`--mailbox-ttl`, 7 days) or to make room (`store.rs`: the fair share).
//! - **A connection never waits for the store**: deposits are written many to a
//!   transaction by one writer, round robin across addresses (`writer.rs`); each is
//!   decided as if alone, so nodes applying one log agree however it is cut.
//! - **Caps** (each a flag with env): entry ≤ 64 KiB, a room ≤ 10,000 entries and 64 MiB
//!   (full: `mailbox-full`, its entries kept), the rooms created from one address
//!   ≤ 64 MiB, the store ≤ 1 GiB, 120 deposits a minute per connection (`rate-limited`)
//!   and 2,000 in all per connection. A deposit's text frame may reach 87,896 bytes (one
//!   largest entry in base64); other texts stay ≤ 16 KiB.
//! - **What the server can do**: neither read an entry, forge one members accept, nor move
//!   one to another room; it can drop, delay, replay or reorder entries, which members'
//!   history rules absorb.
//!
//! [`Mailbox`] wraps the [`store`] for the async connection tasks (every call runs on a
//! blocking thread) and holds the counters `/metrics` reads.

mod store;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confab_core::mailbox::{DepositKey, DepositProof, SealedEntry};
use confab_core::signal::MailboxSeq;
use confab_core::{PeerId, RoomId};
use tokio::sync::watch;
use tracing::{error, info, warn};

pub(crate) use store::{AccessError, AddressTag, Deposit, Page, PutError, StoreError, StoreLimits};
pub(crate) use writer::{Answer, DepositBudget, DepositPermit};

use crate::shutdown::stopped;
use store::Store;
use writer::Writer;

/// What the mailbox counted (see `MailboxMetrics`), copied for rendering.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MailboxCounts {
    pub(crate) puts_stored: u64,
    pub(crate) puts_refused_full: u64,
    pub(crate) entries_evicted: u64,
    pub(crate) requests_denied: u64,
    pub(crate) fetches: u64,
    pub(crate) entries_served: u64,
    pub(crate) acks: u64,
    pub(crate) entries_expired: u64,
    pub(crate) store_errors: u64,
    pub(crate) replicated_in: u64,
    /// Write transactions of deposits (a batch each: group commit).
    pub(crate) commits: u64,
    /// Bytes of deposits waiting to be written.
    pub(crate) waiting_bytes: u64,
}

/// The file in `--data-dir` that holds the mailbox.
pub(crate) const DATABASE_FILE: &str = "mailbox.redb";

/// The mailbox service: the store (if it opened) and its counters.
pub(crate) struct Mailbox {
    store: Option<Arc<Store>>,
    /// How long entries are kept.
    ttl: Duration,
    /// In a cluster: sweeps expire by the log's time, never beyond it, so what a node
    /// holds when it applies a deposit depends on the log alone.
    expires_by_log: bool,
    /// Deposits waiting for the store, and its writer.
    writer: Arc<Writer>,
    /// Bytes of deposits waiting, within a share of `--memory-budget`.
    budget: Arc<DepositBudget>,
    /// Counters for operators (`/metrics`); shared with the writer.
    pub(crate) metrics: Arc<MailboxMetrics>,
}

/// Plain counters since start.
#[derive(Debug, Default)]
pub(crate) struct MailboxMetrics {
    /// Entries stored.
    pub(crate) puts_stored: AtomicU64,
    /// Deposits refused because a room, the store or a connection's allowance was full.
    pub(crate) puts_refused_full: AtomicU64,
    /// Entries deleted before expiry to make room (an owner's share or the store was full).
    pub(crate) entries_evicted: AtomicU64,
    /// Requests refused for a wrong deposit key or proof.
    pub(crate) requests_denied: AtomicU64,
    /// Pages served.
    pub(crate) fetches: AtomicU64,
    /// Entries served in pages.
    pub(crate) entries_served: AtomicU64,
    /// Acknowledgements accepted.
    pub(crate) acks: AtomicU64,
    /// Entries deleted at expiry.
    pub(crate) entries_expired: AtomicU64,
    /// Store operations that failed.
    pub(crate) store_errors: AtomicU64,
    /// Entries stored here that were deposited on another node.
    pub(crate) replicated_in: AtomicU64,
    /// Write transactions of deposits, each a batch of them (group commit).
    pub(crate) commits: AtomicU64,
}

impl MailboxMetrics {
    /// Counts a deposit the store decided to store (`None`: one the log applied before).
    fn stored(&self, stored: Option<store::Stored>) -> Option<MailboxSeq> {
        let stored = stored?;
        self.puts_stored.fetch_add(1, Ordering::Relaxed);
        if stored.n_evicted > 0 {
            self.entries_evicted
                .fetch_add(stored.n_evicted, Ordering::Relaxed);
        }
        Some(stored.seq)
    }

    /// A deposit the store refused, counted by why.
    fn refused(&self, err: PutError) -> MailboxError {
        match err {
            PutError::Denied => {
                self.requests_denied.fetch_add(1, Ordering::Relaxed);
                MailboxError::Denied
            }
            PutError::Store(err) => self.failed(&err, 1),
            err => {
                self.puts_refused_full.fetch_add(1, Ordering::Relaxed);
                MailboxError::Put(err)
            }
        }
    }

    /// A store operation that failed, counted once per request it fails.
    fn failed(&self, err: &StoreError, n_requests: usize) -> MailboxError {
        let n_requests = u64::try_from(n_requests).unwrap_or(u64::MAX);
        self.store_errors.fetch_add(n_requests, Ordering::Relaxed);
        error!(%err, n_requests, "mailbox store failed");
        MailboxError::Unavailable
    }
}

/// Why a mailbox request could not be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MailboxError {
    /// Refused by the store's rules.
    #[error(transparent)]
    Put(PutError),
    /// The proof does not match the room's bound key.
    #[error("the access proof does not match this room's deposit key")]
    Denied,
    /// No store, or it failed.
    #[error("the server's mailbox is not available")]
    Unavailable,
}

impl Mailbox {
    /// Opens `data_dir/mailbox.redb`, creating the directory if needed. If that fails the
    /// server still runs, without a mailbox: every mailbox request is answered
    /// `mailbox-unavailable`, and the reason is logged as an error.
    ///
    /// `cache_bytes` bounds the database's page cache, `waiting_bytes` the deposits waiting
    /// to be written; `expires_by_log`: the store is a cluster's replica (see
    /// [`Mailbox::expire`]).
    pub(crate) fn open(
        data_dir: &Path,
        limits: StoreLimits,
        cache_bytes: usize,
        waiting_bytes: usize,
        expires_by_log: bool,
    ) -> Mailbox {
        let path = data_dir.join(DATABASE_FILE);
        let opened = std::fs::create_dir_all(data_dir)
            .map_err(|err| err.to_string())
            .and_then(|()| Store::open(&path, limits, cache_bytes).map_err(|err| err.to_string()));
        let store = match opened {
            Ok(store) => {
                info!(path = %path.display(), "mailbox store open");
                Some(Arc::new(store))
            }
            Err(err) => {
                error!(path = %path.display(), %err, "cannot open the mailbox store; running without a mailbox");
                None
            }
        };
        Mailbox {
            store,
            ttl: Duration::from_millis(limits.ttl_ms),
            expires_by_log,
            writer: Arc::default(),
            budget: Arc::new(DepositBudget::new(waiting_bytes)),
            metrics: Arc::default(),
        }
    }

    /// Whether no store operation is running (nothing else holds the store), so dropping
    /// the mailbox closes the database.
    pub(crate) fn is_idle(&self) -> bool {
        self.store
            .as_ref()
            .is_none_or(|store| Arc::strong_count(store) == 1)
    }

    /// How long entries are kept.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether the store is open.
    pub(crate) fn is_available(&self) -> bool {
        self.store.is_some()
    }

    /// (entries, entry bytes) held now; `None` without a store or if it failed.
    pub(crate) async fn usage(&self) -> Option<(u64, u64)> {
        match self.blocking(|store| store.usage()).await? {
            Ok(usage) => Some(usage),
            Err(err) => {
                self.metrics.failed(&err, 1);
                None
            }
        }
    }

    /// The counters, copied for `/metrics`.
    pub(crate) fn counts(&self) -> MailboxCounts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let metrics = &self.metrics;
        MailboxCounts {
            puts_stored: load(&metrics.puts_stored),
            puts_refused_full: load(&metrics.puts_refused_full),
            entries_evicted: load(&metrics.entries_evicted),
            requests_denied: load(&metrics.requests_denied),
            fetches: load(&metrics.fetches),
            entries_served: load(&metrics.entries_served),
            acks: load(&metrics.acks),
            entries_expired: load(&metrics.entries_expired),
            store_errors: load(&metrics.store_errors),
            replicated_in: load(&metrics.replicated_in),
            commits: load(&metrics.commits),
            waiting_bytes: u64::try_from(self.budget.held()).unwrap_or(u64::MAX),
        }
    }

    /// Bytes of deposits waiting to be written, all connections together (see
    /// [`Mailbox::submit`]); `None` if the budget is at its bound.
    pub(crate) fn reserve(&self, entry_len: usize) -> Option<DepositPermit> {
        self.budget.try_take(entry_len)
    }

    /// Queues an entry whose put proof the caller has checked against `key`, deposited
    /// from the address `depositor`, for the writer (see `writer`); never waits. The
    /// answer says its sequence number, or why it was refused.
    pub(crate) fn submit(
        &self,
        room: RoomId,
        key: DepositKey,
        entry: SealedEntry,
        depositor: AddressTag,
        permit: DepositPermit,
    ) -> Answer {
        let Some(store) = &self.store else {
            let (answer, answered) = tokio::sync::oneshot::channel();
            let _ = answer.send(Err(MailboxError::Unavailable));
            return answered;
        };
        let deposit = Deposit {
            at_ms: 0,
            seq: None,
            room,
            key,
            entry: entry.into_bytes(),
            depositor,
        };
        self.writer.submit(store, &self.metrics, deposit, permit)
    }

    /// Applies deposits numbered by the cluster's shared log (see `cluster`), in log
    /// order, in one transaction: for each, `Ok(None)` if it was applied before.
    /// `replicated`: it was deposited on another node. If the transaction fails, each fails.
    pub(crate) async fn apply_all(
        &self,
        logged: Vec<(Deposit, bool)>,
    ) -> Vec<Result<Option<MailboxSeq>, MailboxError>> {
        let n_logged = logged.len();
        let (deposits, replicated): (Vec<Deposit>, Vec<bool>) = logged.into_iter().unzip();
        let outcomes = self
            .blocking(move |store| store.insert_all(&deposits))
            .await;
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        let outcomes = match outcomes {
            Some(Ok(outcomes)) => outcomes,
            Some(Err(err)) => {
                self.metrics.failed(&err, n_logged);
                return (0..n_logged)
                    .map(|_| Err(MailboxError::Unavailable))
                    .collect();
            }
            None => {
                return (0..n_logged)
                    .map(|_| Err(MailboxError::Unavailable))
                    .collect();
            }
        };
        outcomes
            .into_iter()
            .zip(replicated)
            .map(|(outcome, replicated)| match outcome {
                Ok(stored) => {
                    if replicated && stored.is_some() {
                        self.metrics.replicated_in.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(self.metrics.stored(stored))
                }
                Err(err) => Err(self.metrics.refused(err)),
            })
            .collect()
    }

    /// The highest sequence number stored or applied; `None` without a working store.
    pub(crate) async fn last_seq(&self) -> Option<u64> {
        match self.blocking(|store| store.last_seq()).await? {
            Ok(seq) => Some(seq),
            Err(err) => {
                self.metrics.failed(&err, 1);
                None
            }
        }
    }

    /// One page of `room` after `after`, for connection `peer` with an access proof.
    pub(crate) async fn fetch(
        &self,
        room: RoomId,
        after: MailboxSeq,
        peer: PeerId,
        proof: DepositProof,
    ) -> Result<Page, MailboxError> {
        let result = self
            .blocking(move |store| {
                store.fetch(unix_ms(), &room, after, |key| {
                    key.verify_access(&room, peer, &proof).is_ok()
                })
            })
            .await;
        let page = self.access_result(result)?;
        self.metrics.fetches.fetch_add(1, Ordering::Relaxed);
        let n_entries = u64::try_from(page.entries.len()).unwrap_or(u64::MAX);
        self.metrics
            .entries_served
            .fetch_add(n_entries, Ordering::Relaxed);
        Ok(page)
    }

    /// Checks connection `peer`'s access proof for `room` (for an acknowledgement).
    pub(crate) async fn check_access(
        &self,
        room: RoomId,
        peer: PeerId,
        proof: DepositProof,
    ) -> Result<(), MailboxError> {
        let result = self
            .blocking(move |store| {
                store.check_access(&room, |key| key.verify_access(&room, peer, &proof).is_ok())
            })
            .await;
        self.access_result(result)?;
        self.metrics.acks.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The deposit key bound to `room`'s mailbox: `None` if it holds no entries or the
    /// store cannot be read.
    pub(crate) async fn room_key(&self, room: RoomId) -> Option<DepositKey> {
        self.blocking(move |store| store.room_key(&room))
            .await
            .and_then(Result::ok)
            .flatten()
    }

    /// Deletes expired entries now; in a cluster, only those expired by the time the log
    /// has reached (the latest deposit's), since applying the next deposit expires by its
    /// time too. Entries past their time are never served either way.
    pub(crate) async fn expire(&self) {
        let expires_by_log = self.expires_by_log;
        let expired = self
            .blocking(move |store| {
                let now = unix_ms();
                let now = if expires_by_log {
                    now.min(store.log_clock()?)
                } else {
                    now
                };
                store.expire(now)
            })
            .await;
        match expired {
            Some(Ok(0)) | None => {}
            Some(Ok(n_expired)) => {
                info!(n_expired, "mailbox entries expired");
                self.metrics
                    .entries_expired
                    .fetch_add(n_expired, Ordering::Relaxed);
            }
            Some(Err(err)) => {
                self.metrics.failed(&err, 1);
            }
        }
    }

    fn access_result<T>(&self, result: Option<Result<T, AccessError>>) -> Result<T, MailboxError> {
        match result {
            Some(Ok(value)) => Ok(value),
            Some(Err(AccessError::Denied)) => {
                self.metrics.requests_denied.fetch_add(1, Ordering::Relaxed);
                Err(MailboxError::Denied)
            }
            Some(Err(AccessError::Store(err))) => Err(self.metrics.failed(&err, 1)),
            None => Err(MailboxError::Unavailable),
        }
    }

    /// Runs `work` on a blocking thread. `None` without a store, or if the thread panicked.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Option<T> {
        let store = Arc::clone(self.store.as_ref()?);
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(value) => Some(value),
            Err(err) => {
                error!(%err, "mailbox task failed");
                None
            }
        }
    }
}

/// Deletes expired entries every `interval` until the server stops.
pub(crate) async fn sweep(
    mailbox: Arc<Mailbox>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = stopped(&mut stop) => return,
            () = tokio::time::sleep(interval) => mailbox.expire().await,
        }
    }
}

/// How often to sweep for a TTL: a quarter of it, between 10 ms and a minute.
pub(crate) fn sweep_interval(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60))
}

/// Now as unix milliseconds (0 if the clock is before 1970, which only delays expiry).
pub(crate) fn unix_ms() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => u64::try_from(since.as_millis()).unwrap_or(u64::MAX),
        Err(_) => {
            warn!("the system clock is before 1970");
            0
        }
    }
}
