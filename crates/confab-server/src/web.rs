//! The HTTP surface: routes, static files from `--dist`, compression and the security
//! headers every response carries.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use tower_http::compression::Compression;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::{Shared, ws};

/// The Content-Security-Policy of every response: the app loads only its own script,
/// wasm, styles and connections; media may come from blobs and camera streams.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// `/ws` (signalling and relay), `/healthz`, and everything else from `dist`: `/` is
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
