//! Static files, security headers, compression and /healthz.

use confab_server::CONTENT_SECURITY_POLICY;

use crate::harness::{HttpResponse, INDEX_HTML, MANIFEST, SERVICE_WORKER, TestServer, WASM};

fn check_security_headers(response: &HttpResponse, path: &str) {
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-embedder-policy", "require-corp"),
    ] {
        assert_eq!(response.header(name), Some(value), "{name} on {path}");
    }
}

#[tokio::test]
async fn static_files_are_served_with_types_and_security_headers() {
    let server = TestServer::start().await;
    assert!(
        CONTENT_SECURITY_POLICY
            .starts_with("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; ")
    );
    assert!(CONTENT_SECURITY_POLICY.ends_with("frame-ancestors 'none'; form-action 'none'"));

    for path in ["/", "/index.html"] {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.body, INDEX_HTML.as_bytes(), "{path}");
        assert!(
            response
                .header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
        check_security_headers(&response, path);
    }

    let wasm = server.get("/x.wasm", &[]).await;
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(wasm.body, WASM);
    check_security_headers(&wasm, "/x.wasm");

    for path in ["/missing.js", "/some/app/route", "/../Cargo.toml"] {
        let missing = server.get(path, &[]).await;
        assert_eq!(missing.status, 404, "{path}");
        assert_ne!(
            missing.body,
            INDEX_HTML.as_bytes(),
            "{path} must not fall back to index.html"
        );
        check_security_headers(&missing, path);
    }

    // A plain GET on /ws is refused, still with the headers.
    let ws = server.get("/ws", &[]).await;
    assert!((400..500).contains(&ws.status), "{}", ws.status);
    check_security_headers(&ws, "/ws");
}

#[tokio::test]
async fn the_installable_app_files_have_their_types() {
    let server = TestServer::start().await;
    let manifest = server.get("/manifest.webmanifest", &[]).await;
    assert_eq!(manifest.status, 200);
    assert_eq!(
        manifest.header("content-type"),
        Some("application/manifest+json")
    );
    assert_eq!(manifest.body, MANIFEST.as_bytes());
    check_security_headers(&manifest, "/manifest.webmanifest");

    // A service worker must be served as JavaScript from the scope it controls (`/`).
    let worker = server.get("/sw.js", &[]).await;
    assert_eq!(worker.status, 200);
    assert!(
        worker
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/javascript")),
        "{:?}",
        worker.header("content-type")
    );
    assert_eq!(worker.body, SERVICE_WORKER.as_bytes());
    check_security_headers(&worker, "/sw.js");
    // `default-src 'self'` lets the page load both (manifest-src and worker-src fall back
    // to it, or to script-src 'self').
    assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'self';"));
}

#[tokio::test]
async fn responses_are_gzipped_when_asked() {
    let server = TestServer::start().await;
    let response = server.get("/", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(
        response.body.get(..2),
        Some(&[0x1f, 0x8b][..]),
        "gzip magic"
    );
    check_security_headers(&response, "/ (gzip)");
}

#[tokio::test]
async fn healthz_says_ok() {
    let server = TestServer::start().await;
    let response = server.get("/healthz", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"ok");
    check_security_headers(&response, "/healthz");
}

#[tokio::test]
async fn websockets_from_other_origins_are_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let server = TestServer::start().await;
    let connect_with_origin = |origin: String| {
        let mut request = format!("ws://{}/ws", server.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    match connect_with_origin("http://evil.example".into()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    // The app's own origin is welcome.
    let (_socket, response) = connect_with_origin(format!("http://{}", server.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
}
