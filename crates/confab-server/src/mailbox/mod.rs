//! The offline mailbox: sealed entries members deposit for a room id and fetch when they
//! come back. The server stores ciphertext, the room id and the room's deposit public key;
//! it checks deposit proofs (see `confab_core::mailbox`) and caps, and deletes entries when
//! they expire. Acknowledgements move only the acknowledging connection's cursor: nothing
//! is deleted before expiry, because the server cannot tell members apart.
//!
//! [`Mailbox`] wraps the [`store`] for the async connection tasks (every call runs on a
//! blocking thread) and holds the counters `/metrics` reads.

mod store;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confab_core::mailbox::{DepositKey, DepositProof, SealedEntry};
use confab_core::signal::MailboxSeq;
use confab_core::{PeerId, RoomId};
use tokio::sync::watch;
use tracing::{error, info, warn};

pub(crate) use store::{AccessError, AddressTag, Page, PutError, StoreError, StoreLimits};

use crate::metrics::MailboxCounts;
use crate::ws::stopped;
use store::Store;

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
    /// Counters for operators (`/metrics`).
    pub(crate) metrics: MailboxMetrics,
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
    /// `cache_bytes` bounds the database's page cache; `expires_by_log`: the store is a
    /// cluster's replica (see [`Mailbox::expire`]).
    pub(crate) fn open(
        data_dir: &Path,
        limits: StoreLimits,
        cache_bytes: usize,
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
            metrics: MailboxMetrics::default(),
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
                self.failed(&err);
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
        }
    }

    /// Stores an entry whose put proof the caller has checked against `key`, deposited
    /// from the address `depositor`.
    pub(crate) async fn put(
        &self,
        room: RoomId,
        key: DepositKey,
        entry: SealedEntry,
        depositor: AddressTag,
    ) -> Result<MailboxSeq, MailboxError> {
        let result = self
            .blocking(move |store| store.put(unix_ms(), &room, &key, entry.as_bytes(), depositor))
            .await;
        match result {
            Some(Ok(stored)) => {
                self.metrics.puts_stored.fetch_add(1, Ordering::Relaxed);
                self.count_evicted(stored.n_evicted);
                Ok(stored.seq)
            }
            Some(Err(err)) => Err(self.refused(err)),
            None => Err(MailboxError::Unavailable),
        }
    }

    fn count_evicted(&self, n_evicted: u64) {
        if n_evicted > 0 {
            self.metrics
                .entries_evicted
                .fetch_add(n_evicted, Ordering::Relaxed);
        }
    }

    /// A deposit the store refused, counted by why.
    fn refused(&self, err: PutError) -> MailboxError {
        match err {
            PutError::Denied => {
                self.metrics.requests_denied.fetch_add(1, Ordering::Relaxed);
                MailboxError::Denied
            }
            PutError::Store(err) => self.failed(&err),
            err => {
                self.metrics
                    .puts_refused_full
                    .fetch_add(1, Ordering::Relaxed);
                MailboxError::Put(err)
            }
        }
    }

    /// Applies a deposit numbered `seq` by the cluster's shared log (see `cluster`):
    /// `Ok(None)` if it was applied before. `replicated`: it was deposited on another node.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply(
        &self,
        seq: u64,
        at_ms: u64,
        room: RoomId,
        key: DepositKey,
        entry: Vec<u8>,
        depositor: AddressTag,
        replicated: bool,
    ) -> Result<Option<MailboxSeq>, MailboxError> {
        let result = self
            .blocking(move |store| store.apply(seq, at_ms, &room, &key, &entry, depositor))
            .await;
        match result {
            Some(Ok(Some(stored))) => {
                self.metrics.puts_stored.fetch_add(1, Ordering::Relaxed);
                self.count_evicted(stored.n_evicted);
                if replicated {
                    self.metrics.replicated_in.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Some(stored.seq))
            }
            Some(Ok(None)) => Ok(None),
            Some(Err(err)) => Err(self.refused(err)),
            None => Err(MailboxError::Unavailable),
        }
    }

    /// The highest sequence number stored or applied; `None` without a working store.
    pub(crate) async fn last_seq(&self) -> Option<u64> {
        match self.blocking(|store| store.last_seq()).await? {
            Ok(seq) => Some(seq),
            Err(err) => {
                self.failed(&err);
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
                self.failed(&err);
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
            Some(Err(AccessError::Store(err))) => Err(self.failed(&err)),
            None => Err(MailboxError::Unavailable),
        }
    }

    fn failed(&self, err: &StoreError) -> MailboxError {
        self.metrics.store_errors.fetch_add(1, Ordering::Relaxed);
        error!(%err, "mailbox store failed");
        MailboxError::Unavailable
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
