//! The mailbox across nodes: one JetStream stream (`CONFAB_MAILBOX`) is the log of every
//! deposit; each node applies it, in order, to its own store.
//!
//! A deposit is checked (size, allowances, proof) by the node the client is on, published
//! to the stream, and answered once this node has applied it: the stream's sequence
//! number becomes the entry's sequence number on every node, so a client's cursor is valid
//! wherever it reconnects. The trust-on-first-use binding and the caps are decided when a
//! deposit is applied, in log order, so every node decides the same (given the same
//! `--mailbox-*` settings): the deposit carries its depositor's address tag, and each node
//! expires by the log's time before applying one (see `mailbox/store.rs`). Entries expire by their deposit time, as on a single node; the
//! stream keeps them for `--mailbox-ttl` too, so a new or wiped node catches up from it.
//! Why a log rather than publishing each deposit to every node: a node that is down would
//! miss deposits, and nodes would number entries differently.
//!
//! Without NATS (or JetStream) deposits are answered `mailbox-unavailable`, while fetches
//! go on from the local copy. A node catches up when the stream is reachable again.
//!
//! Applying another node's deposit tells this node's members of that room (`mailbox-new`,
//! through the hub; the depositor's node told its own). A pass over the log tells each
//! room once, of its newest entry, so catching up after an outage is not a burst.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::Client;
use async_nats::connection::State;
use async_nats::jetstream::{self, stream};
use confab_core::RoomId;
use confab_core::mailbox::{DepositKey, SealedEntry};
use confab_core::signal::MailboxSeq;
use futures_util::StreamExt as _;
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use super::notes::{MAILBOX_STREAM, MAILBOX_SUBJECT, MailboxNote};
use crate::hub::Hub;
use crate::hub::NodeId;
use crate::mailbox::{AddressTag, Deposit, Mailbox, MailboxError, unix_ms};
use crate::shutdown::stopped;

/// How long a deposit may wait for the stream and for being applied here.
const PUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the log is read even without a wake-up.
const POLL: Duration = Duration::from_secs(1);
/// How long a fetch waits to catch up with the log before serving the local copy.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Outcomes of this node's deposits kept for their waiting connections.
const MAX_RESULTS: usize = 4096;
/// Most entries of the log applied in one transaction.
const MAX_BATCH: usize = 256;

/// This node's side of the replicated mailbox.
pub(crate) struct Replica {
    node: NodeId,
    client: Client,
    jetstream: jetstream::Context,
    mailbox: Arc<Mailbox>,
    /// Told of other nodes' deposits, for the rooms' members here.
    hub: Arc<Hub>,
    ttl: Duration,
    /// The highest log sequence number applied to the store.
    applied: watch::Sender<u64>,
    /// Outcomes of this node's own deposits by sequence number, until their connection
    /// takes them.
    results: Mutex<BTreeMap<u64, Result<(), MailboxError>>>,
    wake: Notify,
    stream: tokio::sync::Mutex<Option<stream::Stream>>,
}

impl Replica {
    pub(crate) async fn new(
        node: NodeId,
        client: Client,
        mailbox: Arc<Mailbox>,
        hub: Arc<Hub>,
    ) -> Replica {
        let applied = mailbox.last_seq().await.unwrap_or(0);
        let ttl = mailbox.ttl();
        Replica {
            node,
            jetstream: jetstream::new(client.clone()),
            client,
            mailbox,
            hub,
            ttl,
            applied: watch::Sender::new(applied),
            results: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            stream: tokio::sync::Mutex::new(None),
        }
    }

    /// Reads the log now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Deposits through the log; answers once applied here.
    pub(crate) async fn put(
        &self,
        room: RoomId,
        key: DepositKey,
        entry: SealedEntry,
        depositor: AddressTag,
    ) -> Result<MailboxSeq, MailboxError> {
        if self.client.connection_state() != State::Connected || !self.mailbox.is_available() {
            return Err(MailboxError::Unavailable);
        }
        let note = MailboxNote {
            node: self.node,
            at_ms: unix_ms(),
            depositor,
            room,
            key,
            entry: entry.as_bytes().to_vec(),
        };
        let published = tokio::time::timeout(PUT_TIMEOUT, async {
            self.ensure_stream().await?;
            let ack = self
                .jetstream
                .publish(MAILBOX_SUBJECT, note.encode().into())
                .await
                .ok()?;
            ack.await.ok()
        })
        .await;
        let Ok(Some(ack)) = published else {
            warn!("a mailbox deposit could not be added to the stream");
            return Err(MailboxError::Unavailable);
        };
        let seq = ack.sequence;
        self.wake();
        let mut applied = self.applied.subscribe();
        let caught_up = tokio::time::timeout(PUT_TIMEOUT, applied.wait_for(|&n| n >= seq)).await;
        if !matches!(caught_up, Ok(Ok(_))) {
            warn!(seq, "a mailbox deposit was not applied here in time");
            return Err(MailboxError::Unavailable);
        }
        match self.lock_results().remove(&seq) {
            Some(Ok(())) => Ok(MailboxSeq::new(seq)),
            Some(Err(err)) => Err(err),
            None => Err(MailboxError::Unavailable),
        }
    }

    /// Applies what the log holds now, so a fetch sees every deposit made before it on
    /// any node. Gives up quietly (serving the local copy) when the log is unreachable.
    pub(crate) async fn sync(&self) {
        let _ = tokio::time::timeout(SYNC_TIMEOUT, self.catch_up()).await;
    }

    /// Applies the log as it grows until `stop`: woken by every deposit on the stream's
    /// subject, and every [`POLL`] in case a wake-up was missed.
    pub(crate) async fn run(self: Arc<Replica>, mut stop: watch::Receiver<bool>) {
        let waker = match self.client.subscribe(MAILBOX_SUBJECT).await {
            Ok(mut deposits) => {
                let replica = Arc::clone(&self);
                Some(tokio::spawn(async move {
                    while deposits.next().await.is_some() {
                        replica.wake();
                    }
                }))
            }
            Err(err) => {
                warn!(%err, "cannot listen for mailbox deposits; polling only");
                None
            }
        };
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
            self.catch_up().await;
        }
        if let Some(waker) = waker {
            waker.abort();
        }
    }

    async fn catch_up(&self) {
        if self.client.connection_state() != State::Connected || !self.mailbox.is_available() {
            return;
        }
        if self.ensure_stream().await.is_none() {
            return;
        }
        let stream = self.stream.lock().await;
        let Some(stream) = stream.as_ref() else {
            return;
        };
        let info = match stream.get_info().await {
            Ok(info) => info,
            Err(err) => {
                debug!(%err, "cannot read the mailbox stream's state");
                return;
            }
        };
        let mut next = (*self.applied.borrow() + 1).max(info.state.first_sequence);
        // Per room, the newest entry other nodes deposited in this pass.
        let mut news = HashMap::new();
        let mut is_read_failing = false;
        while next <= info.state.last_sequence && !is_read_failing {
            // What the log holds, up to a batch, is applied in one transaction.
            let mut batch = Vec::new();
            while next <= info.state.last_sequence && batch.len() < MAX_BATCH {
                match stream.get_raw_message(next).await {
                    Ok(message) => match MailboxNote::decode(&message.payload) {
                        Some(note) => batch.push((next, note)),
                        None => warn!(
                            seq = next,
                            "a mailbox stream message does not decode; skipped"
                        ),
                    },
                    Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {}
                    Err(err) => {
                        debug!(%err, "cannot read the mailbox stream");
                        is_read_failing = true;
                        break;
                    }
                }
                next += 1;
            }
            for (room, seq) in self.apply(batch).await {
                news.insert(room, seq);
            }
            self.applied.send_replace(next - 1);
        }
        for (room, seq) in news {
            self.hub.mailbox_deposited(room, seq, None);
        }
    }

    /// Applies entries of the log, in order, in one transaction; returns the rooms and
    /// numbers of those another node deposited that were stored here (their members here
    /// are to be told).
    async fn apply(&self, batch: Vec<(u64, MailboxNote)>) -> Vec<(RoomId, MailboxSeq)> {
        if batch.is_empty() {
            return Vec::new();
        }
        let mut origins = Vec::with_capacity(batch.len());
        let logged = batch
            .into_iter()
            .map(|(seq, note)| {
                let is_ours = note.node == self.node;
                origins.push((seq, note.room, is_ours));
                let deposit = Deposit {
                    at_ms: note.at_ms,
                    seq: Some(seq),
                    room: note.room,
                    key: note.key,
                    entry: note.entry,
                    depositor: note.depositor,
                };
                (deposit, !is_ours)
            })
            .collect();
        let outcomes = self.mailbox.apply_all(logged).await;
        let mut news = Vec::new();
        let mut results = self.lock_results();
        for ((seq, room, is_ours), outcome) in origins.into_iter().zip(outcomes) {
            if is_ours {
                results.insert(seq, outcome.map(|_| ()));
            } else if let Ok(Some(stored)) = outcome {
                news.push((room, stored));
            }
        }
        while results.len() > MAX_RESULTS {
            results.pop_first();
        }
        news
    }

    /// Finds or creates the stream; `None` if JetStream cannot be reached.
    async fn ensure_stream(&self) -> Option<()> {
        let mut stream = self.stream.lock().await;
        if stream.is_some() {
            return Some(());
        }
        let config = stream::Config {
            name: MAILBOX_STREAM.to_owned(),
            subjects: vec![MAILBOX_SUBJECT.to_owned()],
            max_age: self.ttl,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        match self.jetstream.get_or_create_stream(config).await {
            Ok(found) => {
                info!(stream = MAILBOX_STREAM, "mailbox stream ready");
                *stream = Some(found);
                Some(())
            }
            Err(err) => {
                warn!(%err, "the mailbox stream is not available (is JetStream enabled?)");
                None
            }
        }
    }

    fn lock_results(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Result<(), MailboxError>>> {
        self.results.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
