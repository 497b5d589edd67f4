//! The HTTP surface: routes, static files from `--dist`, compression and the security
//! headers every response carries.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::compression::Compression;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::cluster::Cluster;
use crate::metrics::Gauges;
use crate::{Shared, ws};

/// The Content-Security-Policy of every response: the app loads only its own script,
/// wasm, styles and connections; media may come from blobs and camera streams.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// `/ws` (signalling and relay), `/healthz`, `/metrics`, and everything else from `dist`: `/` is
/// `index.html`, unknown paths are 404 (this is not a client-side-routing fallback).
pub(crate) fn router(shared: Arc<Shared>, dist: &Path) -> Router {
    // Gzip only the static files: `/ws` answers 101 and `/healthz` is two bytes.
    let static_files = Compression::new(ServeDir::new(dist).append_index_html_on_directories(true));
    let security_headers = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            // With COOP this makes the page cross-origin isolated: the app loads only its
            // own files, and isolation gives it precise timers and its own process.
            HeaderName::from_static("cross-origin-embedder-policy"),
            "require-corp",
        ),
    ];
    let mut router = Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback_service(static_files)
        .with_state(shared);
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
}

async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics`: the Prometheus text exposition (see [`crate::metrics`]).
async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let (rooms, members, remote_members) = shared.hub.counts();
    let (mailbox_entries, mailbox_bytes) = shared.mailbox.usage().await.unwrap_or_default();
    let gauges = Gauges {
        connections: u64::try_from(*shared.n_running.borrow()).unwrap_or(u64::MAX),
        rooms,
        members,
        remote_members,
        mailbox_entries,
        mailbox_bytes,
        mailbox_available: shared.mailbox.is_available(),
        queued_bytes: u64::try_from(shared.hub.budget().total()).unwrap_or(u64::MAX),
        queue_budget_refusals: shared.hub.budget().n_over(),
        nats_configured: shared.cluster.is_some(),
        nats_connected: shared.cluster.as_ref().is_some_and(Cluster::is_connected),
    };
    let nats = shared
        .cluster
        .as_ref()
        .map(Cluster::counts)
        .unwrap_or_default();
    let mut text = shared.metrics.render(gauges, shared.mailbox.counts(), nats);
    crate::metrics::render_push(&mut text, shared.push.counts());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
