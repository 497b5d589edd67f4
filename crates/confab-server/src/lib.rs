//! Confab's server: WebSocket signalling and relay, plus the built app as static files.
//!
//! The server introduces peers that name the same [`confab_core::RoomId`], forwards their
//! opaque WebRTC signals, and relays already-encrypted frames when no direct path exists.
//! It never sees room secrets, keys or plaintext.
//!
//! ```text
//! GET /ws       WebSocket: JSON text frames (confab_core::signal), binary relay envelopes
//!                (confab_core::wire::relay)
//! GET /healthz  200 "ok"
//! GET /*        static files from --dist ("/" is index.html; unknown paths are 404)
//! ```
//!
//! Start it with [`run`] on a bound listener; the `confab-server` binary does exactly that
//! with [`Config`] from flags and environment.

mod config;
mod hub;
mod limits;
mod record;
mod web;
mod ws;

use std::future::Future;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use confab_core::signal::IceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

pub use config::{
    Config, DEFAULT_DIST, DEFAULT_LISTEN, DEFAULT_MAX_ROOMS_PER_CONNECTION,
    DEFAULT_MESSAGES_PER_SECOND, DEFAULT_RELAY_BURST_BYTES, DEFAULT_RELAY_BYTES_PER_SEC,
    DEFAULT_ROOM_CAPACITY, IceServerError, MIN_RELAY_BURST_BYTES, parse_ice_server,
};
pub use web::CONTENT_SECURITY_POLICY;

use crate::hub::Hub;
use crate::limits::{OUTBOUND_QUEUE_LEN, SHUTDOWN_GRACE};
use crate::record::RelayRecorder;

/// Serves on `listener` until `shutdown` resolves, then stops accepting, closes every
/// WebSocket with 1001 "server shutting down", and returns within a few seconds.
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
                "!!! --dangerously-record-relay is set: every relay payload is written to disk. \
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
    let (stop_sender, stop) = watch::channel(false);
    let hub = Hub::new(
        config.max_rooms_per_connection.get(),
        config.room_capacity.get(),
        OUTBOUND_QUEUE_LEN,
    );
    let shared = Arc::new(Shared {
        hub: Arc::new(hub),
        ice_servers: config.ice_servers.clone(),
        messages_per_second: config.messages_per_second,
        relay_bytes_per_sec: config.relay_bytes_per_sec,
        relay_burst_bytes: config.relay_burst_bytes,
        recorder,
        stop: stop.clone(),
        n_running: watch::Sender::new(0),
    });
    let mut n_running = shared.n_running.subscribe();
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
        // Keeping `stop_sender` alive until here; dropping it also reads as "stop".
    };
    let serve = axum::serve(listener, app).with_graceful_shutdown(graceful);
    let mut stop_for_grace = stop.clone();
    tokio::select! {
        served = serve.into_future() => served.context("the HTTP server failed")?,
        () = async {
            ws::stopped(&mut stop_for_grace).await;
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
    info!("stopped");
    Ok(())
}

/// What every connection task shares.
pub(crate) struct Shared {
    hub: Arc<Hub>,
    ice_servers: Vec<IceServer>,
    messages_per_second: NonZeroU32,
    relay_bytes_per_sec: NonZeroU64,
    relay_burst_bytes: u64,
    recorder: Option<RelayRecorder>,
    /// Becomes `true` when the server starts shutting down.
    stop: watch::Receiver<bool>,
    /// WebSocket connection tasks still running.
    n_running: watch::Sender<usize>,
}
