//! Confab's server: WebSocket signalling and relay, plus the built app as static files.
//!
//! The server introduces peers that name the same [`confab_core::RoomId`], forwards their
//! opaque WebRTC signals, relays already-encrypted frames when no direct path exists, and
//! keeps sealed entries in each room's offline mailbox until they expire. It never sees
//! room secrets, keys or plaintext. It knows room ids (one-way HKDF output), per-connection
//! random peer ids, IP addresses, timing and sizes. Signals it forwards are sealed for
//! their recipient (it reads no SDP, ICE candidate or DTLS fingerprint); it never parses a
//! relayed frame beyond the 10-byte envelope header.
//!
//! ```text
//! GET /ws       WebSocket: JSON text frames (confab_core::signal), binary relay envelopes
//!                (confab_core::wire::relay)
//!   client → server  join, leave, signal;
//!                    mailbox-put, mailbox-fetch, mailbox-ack (confab_core::mailbox)
//!   server → client  welcome, joined, peer-joined, peer-present, peer-left, signal,
//!                    error; mailbox-stored, mailbox-entries, and mailbox-new (not an
//!                    answer: another connection deposited into a room we joined);
//!                    answers in request order (see confab_core::signal, "Order")
//!   client → server  push-subscribe, push-unsubscribe (src/push/: Web Push with no
//!                    content when someone else deposits; welcome's push_key is the
//!                    server's VAPID key, absent with --no-push)
//! GET /healthz  200 "ok"
//! GET /metrics  Prometheus text format: connections, rooms, relayed bytes, rejected
//!               frames by reason, the mailbox (no room ids, peer ids or addresses)
//! GET /*        static files from --dist ("/" is index.html; unknown paths are 404)
//! ```
//!
//! The mailbox lives in `--data-dir` (`mailbox.redb`, an embedded redb database, created
//! on first start). The first deposit into a room binds the room's deposit public key; later
//! deposits, fetches and acknowledgements for that room must prove they hold it. Entries are
//! deleted at expiry (`--mailbox-ttl`, default 7 days; swept at start and on a timer);
//! acknowledgements move only the acknowledging connection's cursor. A full room or store
//! refuses new entries and keeps the old ones. If the database cannot be opened, the server
//! runs without a mailbox and answers `mailbox-unavailable`. Every stored deposit is
//! announced (`mailbox-new`, room and sequence number) to the room's members but the
//! depositor, on every node; `welcome` states the deposits a minute a connection may make.
//!
//! # Limits
//!
//! Every input is bounded: connections per client address (64; IPv6 per /64; the address
//! from `X-Forwarded-For` only with `--trust-forwarded-for`), mailbox deposits per address
//! (600 a minute; IPv6 per /48) and the mailbox's bytes (see `mailbox/`), text ≤ 16 KiB,
//! binary ≤ one envelope, 16 rooms per connection, 256 members per room, 200 frames/s per
//! connection, pings included (burst 400), relayed bytes 2 MiB/s per connection (burst
//! 8 MiB; stated in `welcome`; an envelope over it is dropped and answered `relay-cap` at
//! most once a second), what is queued for one recipient (1,024 frames and 1 MiB, of which
//! relayed envelopes and signals may fill three quarters) and for all together (half of
//! `--memory-budget`, default 512 MiB), what waits for other nodes (16,384 notes and
//! 32 MiB, beyond which they are dropped), and deposits waiting for the store (8 and 1 MiB
//! a connection, a sixteenth of the budget for all; beyond, `rate-limited`). Violations get
//! an `error` frame; floods are disconnected.
//!
//! A member cannot get another disconnected: a relayed envelope or signal that does not
//! fit its recipient's queue (or the budget) is dropped and its sender answered
//! `relay-cap` (at most once a second; Noise counters, catch-up and download stall
//! detection repair the loss). A recipient is disconnected only when stuck: its queue made
//! no progress for `--queue-stall` (30 s) or a write blocked for 10 s; a server notice
//! that does not fit, or the budget with a notice pending, drops the connection holding the
//! most (`hub`, `inbox`). An idle connection costs about 1.2 KiB of heap
//! (`tests/memory.rs`).
//!
//! WebSocket upgrades whose `Origin` differs from `Host` are refused, so other sites cannot
//! use a Confab server as their relay. `/metrics` and the logs never name a room (logs: an
//! 8-hex-digit prefix at most), a client address, a secret or a payload; metric labels are
//! fixed reasons only.
//!
//! Start it with [`run`] on a bound listener; the `confab-server` binary does exactly that
//! with [`Config`] from flags and environment.

mod cluster;
mod config;
mod hub;
mod inbox;
mod limits;
mod mailbox;
mod metrics;
mod per_ip;
mod push;
mod record;
mod shutdown;
mod socket;
mod web;
mod ws;

// What the fuzz targets in `fuzz/` drive (and the corpus replay tests): built with
// `--cfg fuzzing` by cargo-fuzz, and in this crate's tests.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;

use std::future::Future;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use confab_core::signal::IceServer;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

pub use config::{
    Config, DEFAULT_DATA_DIR, DEFAULT_DIST, DEFAULT_LISTEN, DEFAULT_MAILBOX_MAX_BYTES,
    DEFAULT_MAILBOX_MAX_BYTES_PER_IP, DEFAULT_MAILBOX_MAX_ENTRY_BYTES, DEFAULT_MAILBOX_PAGE_BYTES,
    DEFAULT_MAILBOX_PAGE_ENTRIES, DEFAULT_MAILBOX_PUTS_PER_CONNECTION,
    DEFAULT_MAILBOX_PUTS_PER_IP_PER_MINUTE, DEFAULT_MAILBOX_PUTS_PER_MINUTE,
    DEFAULT_MAILBOX_ROOM_MAX_BYTES, DEFAULT_MAILBOX_ROOM_MAX_ENTRIES, DEFAULT_MAILBOX_TTL,
    DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_ROOMS_PER_CONNECTION, DEFAULT_MEMORY_BUDGET,
    DEFAULT_MESSAGES_PER_SECOND, DEFAULT_PUSH_INTERVAL, DEFAULT_PUSH_SERVICES,
    DEFAULT_QUEUE_BYTES_PER_CONNECTION, DEFAULT_QUEUE_STALL, DEFAULT_RELAY_BURST_BYTES,
    DEFAULT_RELAY_BYTES_PER_SEC, DEFAULT_ROOM_CAPACITY, DurationError, IceServerError, LogFormat,
    MIN_MEMORY_BUDGET, MIN_RELAY_BURST_BYTES, PushServices, PushServicesError, parse_duration,
    parse_ice_server, parse_push_services,
};
pub use web::CONTENT_SECURITY_POLICY;

use crate::cluster::{Cluster, OUTGOING_QUEUE_LEN};
use crate::hub::Hub;
use crate::inbox::QueueBudget;
use crate::limits::{MemoryBudget, OUTBOUND_QUEUE_LEN, SHUTDOWN_GRACE};
use crate::mailbox::{Mailbox, StoreLimits};
use crate::metrics::Metrics;
use crate::per_ip::PerIp;
use crate::push::{Push, PushConfig};
use crate::record::RelayRecorder;

/// Serves on `listener` until `shutdown` resolves, then stops accepting, closes every
/// WebSocket with 1001 "server shutting down", closes the mailbox database, and returns
/// within a few seconds.
///
/// The caller binds `listener` (so tests can use port 0); `config.listen` is not read here.
/// Fails early if `config.relay_burst_bytes` is below [`MIN_RELAY_BURST_BYTES`] or the
/// `--dangerously-record-relay` file cannot be opened, or later if the listener fails.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.relay_burst_bytes >= MIN_RELAY_BURST_BYTES,
        "the relay burst ({} bytes) must hold one largest envelope ({MIN_RELAY_BURST_BYTES} bytes)",
        config.relay_burst_bytes
    );
    let recorder = match &config.dangerously_record_relay {
        Some(path) => {
            warn!(
                path = %path.display(),
                "!!! --dangerously-record-relay is set: every relay payload and signal is written to disk. \
                 This is a test hook; never run it in production. !!!"
            );
            let recorder = RelayRecorder::open(path)
                .with_context(|| format!("cannot open the relay record file {}", path.display()))?;
            Some(recorder)
        }
        None => None,
    };
    if !config.dist.join("index.html").is_file() {
        warn!(dist = %config.dist.display(), "no index.html in the app directory; only /ws and /healthz will be useful");
    }
    let store_limits = StoreLimits {
        ttl_ms: u64::try_from(config.mailbox_ttl.as_millis()).unwrap_or(u64::MAX),
        room_max_entries: config.mailbox_room_max_entries,
        room_max_bytes: config.mailbox_room_max_bytes,
        owner_max_bytes: config.mailbox_max_bytes_per_ip,
        total_max_bytes: config.mailbox_max_bytes,
        page_max_entries: config.mailbox_page_entries.get(),
        page_max_bytes: config.mailbox_page_bytes,
    };
    let data_dir = config.data_dir.clone();
    let budget = MemoryBudget::new(config.memory_budget);
    let (cache_bytes, waiting_bytes) = (budget.database_cache, budget.deposits);
    let expires_by_log = config.nats_url.is_some();
    let mailbox = tokio::task::spawn_blocking(move || {
        Mailbox::open(
            &data_dir,
            store_limits,
            cache_bytes,
            waiting_bytes,
            expires_by_log,
        )
    })
    .await
    .context("opening the mailbox store failed")?;
    let mailbox = Arc::new(mailbox);
    mailbox.expire().await;
    let (stop_sender, stop) = watch::channel(false);
    let sweeper = tokio::spawn(mailbox::sweep(
        Arc::clone(&mailbox),
        mailbox::sweep_interval(config.mailbox_ttl),
        stop.clone(),
    ));
    let (cluster_sender, cluster_queue) = mpsc::channel(OUTGOING_QUEUE_LEN);
    let queue_budget = Arc::new(QueueBudget::new(
        OUTBOUND_QUEUE_LEN,
        usize::try_from(config.queue_bytes_per_connection).unwrap_or(usize::MAX),
        budget.queues,
        config.queue_stall,
    ));
    let push = Arc::new(Push::start(
        PushConfig {
            enabled: !config.no_push,
            contact: config.push_contact.clone(),
            interval: config.push_interval,
            allow_any_endpoint: config.dangerously_allow_any_push_endpoint,
            services: config.push_services.clone(),
        },
        &config.data_dir,
        Arc::clone(&mailbox),
        stop.clone(),
    ));
    let hub = Arc::new(Hub::new(
        config.max_rooms_per_connection.get(),
        config.room_capacity.get(),
        queue_budget,
        config.nats_url.is_some().then(|| cluster_sender.clone()),
        Some(Arc::clone(&push)),
    ));
    let (cluster, cluster_task) = match &config.nats_url {
        Some(url) => {
            let (cluster, task) = Cluster::start(
                url,
                Arc::clone(&hub),
                Arc::clone(&mailbox),
                cluster_sender,
                cluster_queue,
                stop.clone(),
            )
            .await
            .context("cannot set up the NATS connection")?;
            (Some(cluster), Some(task))
        }
        None => (None, None),
    };
    let shared = Arc::new(Shared {
        hub,
        cluster,
        ice_servers: config.ice_servers.clone(),
        messages_per_second: config.messages_per_second,
        relay_bytes_per_sec: config.relay_bytes_per_sec,
        relay_burst_bytes: config.relay_burst_bytes,
        recorder,
        mailbox: Arc::clone(&mailbox),
        push,
        mailbox_max_entry_bytes: usize::try_from(config.mailbox_max_entry_bytes)
            .unwrap_or(usize::MAX),
        mailbox_puts_per_minute: config.mailbox_puts_per_minute,
        mailbox_puts_per_connection: config.mailbox_puts_per_connection,
        n_running: watch::Sender::new(0),
        metrics: Metrics::default(),
        per_ip: Arc::new(PerIp::new(
            config.max_connections_per_ip.get(),
            config.mailbox_puts_per_ip_per_minute,
        )),
        trust_forwarded_for: config.trust_forwarded_for,
    });
    let mut n_running = shared.n_running.subscribe();
    let hub = Arc::clone(&shared.hub);
    let app = web::router(shared, &config.dist);

    let address = listener
        .local_addr()
        .context("the listener has no local address")?;
    info!(%address, dist = %config.dist.display(), n_ice_servers = config.ice_servers.len(), "listening");
    let listener = listener.tap_io(|tcp| {
        // Signalling is many small messages; do not let Nagle delay them.
        let _ = tcp.set_nodelay(true);
    });
    let graceful = async move {
        shutdown.await;
        info!("shutting down");
        stop_sender.send_replace(true);
        hub.shut_down();
        // Keeping `stop_sender` alive until here; dropping it also reads as "stop".
    };
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let serve = axum::serve(listener, app).with_graceful_shutdown(graceful);
    let mut stop_for_grace = stop.clone();
    tokio::select! {
        served = serve.into_future() => served.context("the HTTP server failed")?,
        () = async {
            shutdown::stopped(&mut stop_for_grace).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => warn!("HTTP connections still open after the grace period; dropping them"),
    }
    // Upgraded WebSockets live outside axum's graceful shutdown; they saw `stop` too.
    if tokio::time::timeout(SHUTDOWN_GRACE, n_running.wait_for(|&n| n == 0))
        .await
        .is_err()
    {
        warn!(
            n_open = *n_running.borrow(),
            "WebSockets still open after the grace period"
        );
    }
    let _ = sweeper.await;
    if let Some(task) = cluster_task {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
    }
    // Connection tasks may still be finishing a store call: wait (bounded) until the
    // database is ours alone, so it is closed when `run` returns.
    let closed = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while Arc::strong_count(&mailbox) > 1 || !mailbox.is_idle() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    if closed.is_err() {
        warn!("the mailbox store is still in use after the grace period");
    }
    drop(mailbox);
    info!("stopped");
    Ok(())
}

/// What every connection task shares.
pub(crate) struct Shared {
    hub: Arc<Hub>,
    /// The link to other nodes (`--nats-url`).
    cluster: Option<Cluster>,
    ice_servers: Vec<IceServer>,
    messages_per_second: NonZeroU32,
    relay_bytes_per_sec: NonZeroU64,
    relay_burst_bytes: u64,
    recorder: Option<RelayRecorder>,
    mailbox: Arc<Mailbox>,
    /// Web Push (off with `--no-push`).
    push: Arc<Push>,
    mailbox_max_entry_bytes: usize,
    mailbox_puts_per_minute: NonZeroU32,
    mailbox_puts_per_connection: u64,
    /// WebSocket connection tasks still running.
    n_running: watch::Sender<usize>,
    /// Counters for `/metrics`.
    metrics: Metrics,
    /// Connections and deposits per client address.
    per_ip: Arc<PerIp>,
    /// Whether the client address comes from `X-Forwarded-For`.
    trust_forwarded_for: bool,
}
