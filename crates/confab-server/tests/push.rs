//! Web Push against a push-service stand-in on loopback: an HTTP server in the test that
//! takes the server's pushes, decrypts each with the subscription's private key and auth
//! secret (Mozilla's `ece`, not the server's code) and checks the VAPID JWT; a 410 that
//! drops a subscription; `--no-push`; coalescing; the SSRF guard; membership proofs; a
//! restart on the same data directory.

// clippy.toml's allow-*-in-tests covers `#[test]` functions only, not the helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "server/harness.rs"]
mod harness;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use confab_core::mailbox::MailboxKeys;
use confab_core::signal::{
    ClientMessage, ErrorCode, MailboxReply, PushSubscription, ServerMessage,
};
use confab_core::{RoomId, RoomSecret};
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use tokio::sync::mpsc;

use harness::{Client, Received, TestServer, WAIT};

/// What the stand-in received.
#[derive(Debug)]
struct Pushed {
    path: String,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

/// A push service on 127.0.0.1: records every request and answers `status`.
struct PushService {
    addr: SocketAddr,
    received: mpsc::UnboundedReceiver<Pushed>,
    status: Arc<AtomicU16>,
}

/// A browser's push subscription: a real P-256 key pair and auth secret (generated and
/// later used for decryption by `ece`, as a browser would).
struct Browser {
    keys: ece::EcKeyComponents,
    public: Vec<u8>,
    auth: [u8; 16],
}

impl PushService {
    async fn start() -> PushService {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, received) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(201));
        let answer = Arc::clone(&status);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let sender = sender.clone();
                let answer = Arc::clone(&answer);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let sender = sender.clone();
                        let status = answer.load(Ordering::Relaxed);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.unwrap().to_bytes().to_vec();
                            let _ = sender.send(Pushed {
                                path: parts.uri.path().to_owned(),
                                headers: parts.headers,
                                body,
                            });
                            let mut response = Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        PushService {
            addr,
            received,
            status,
        }
    }

    fn endpoint(&self, name: &str) -> String {
        format!("http://{}/push/{name}", self.addr)
    }

    async fn next(&mut self) -> Pushed {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .unwrap_or_else(|_| panic!("no push within {WAIT:?}"))
            .unwrap()
    }

    async fn expect_quiet(&mut self, wait: Duration) {
        if let Ok(Some(pushed)) = tokio::time::timeout(wait, self.received.recv()).await {
            panic!("expected no push, got one to {}", pushed.path);
        }
    }
}

impl Browser {
    fn new() -> Browser {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        Browser {
            keys: pair.raw_components().unwrap(),
            public: pair.pub_as_raw().unwrap(),
            auth,
        }
    }

    fn subscription(&self, endpoint: String, tag: &str) -> PushSubscription {
        PushSubscription::new(
            endpoint,
            self.public.clone().try_into().unwrap(),
            self.auth,
            tag.to_owned(),
        )
        .unwrap()
    }

    /// Decrypts a push body as the browser would.
    fn open(&self, body: &[u8]) -> Vec<u8> {
        ece::decrypt(&self.keys, &self.auth, body)
            .expect("the push decrypts with the subscription's keys")
    }
}

fn keys(n: u8) -> MailboxKeys {
    RoomSecret::from_bytes([n; 32]).mailbox_keys()
}

/// A server that may push to the stand-in on loopback.
async fn server(configure: impl FnOnce(&mut confab_server::Config)) -> TestServer {
    TestServer::start_with(|config| {
        config.dangerously_allow_any_push_endpoint = true;
        config.push_interval = Duration::ZERO;
        configure(config);
    })
    .await
}

/// A push service stand-in and a server; Alice and Bob on it, Bob subscribed to room 1 at
/// the stand-in's `/push/bob` with the tag "t".
struct Subscribed {
    service: PushService,
    server: TestServer,
    room: MailboxKeys,
    browser: Browser,
    alice: Client,
    /// Kept connected for the test's length.
    _bob: Client,
}

impl Subscribed {
    async fn start(configure: impl FnOnce(&mut confab_server::Config)) -> Subscribed {
        let service = PushService::start().await;
        let server = server(configure).await;
        let room = keys(1);
        let browser = Browser::new();
        let alice = server.client().await;
        let mut bob = server.client().await;
        subscribed(
            &mut bob,
            &room,
            browser.subscription(service.endpoint("bob"), "t"),
        )
        .await;
        Subscribed {
            service,
            server,
            room,
            browser,
            alice,
            _bob: bob,
        }
    }
}

async fn subscribe(client: &mut Client, keys: &MailboxKeys, subscription: PushSubscription) {
    client
        .send(&ClientMessage::PushSubscribe {
            room: keys.room(),
            subscription,
            key: keys.deposit_key(),
            proof: keys.prove_access(client.peer),
        })
        .await;
}

/// Subscribes, then waits until the server has handled it: a subscription succeeds
/// silently, and requests are handled in order, so the answer to a later `join` says so.
async fn subscribed(client: &mut Client, keys: &MailboxKeys, subscription: PushSubscription) {
    subscribe(client, keys, subscription).await;
    client.join(harness::room(200)).await;
}

async fn deposit(client: &mut Client, keys: &MailboxKeys, payload: &[u8]) {
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(&rand_u64().to_be_bytes());
    let entry = keys.seal(nonce, payload).unwrap();
    client
        .send(&ClientMessage::MailboxPut {
            room: keys.room(),
            proof: keys.prove_put(client.peer, &entry),
            entry,
            key: keys.deposit_key(),
        })
        .await;
    loop {
        match client.recv().await {
            Received::Mailbox(MailboxReply::MailboxStored { .. }) => return,
            // Others' notices (every client joins room 200 in `subscribed`).
            Received::Mailbox(MailboxReply::MailboxNew { .. })
            | Received::Server(ServerMessage::PeerJoined { .. } | ServerMessage::PeerLeft { .. }) =>
                {}
            other => panic!("expected mailbox-stored, got {other:?}"),
        }
    }
}

fn rand_u64() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Checks the VAPID `Authorization` header (RFC 8292): `k` is the welcome's key, the JWT
/// is signed by it, its audience is the endpoint's origin and it expires within a day.
fn check_vapid(pushed: &Pushed, push_key: &str, origin: &str) {
    let authorization = pushed.headers["authorization"].to_str().unwrap();
    let rest = authorization.strip_prefix("vapid t=").unwrap();
    let (jwt, key) = rest.split_once(", k=").unwrap();
    assert_eq!(key, push_key);
    let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
    let (header, claims) = signing_input.split_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["aud"], origin);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = claims["exp"].as_u64().unwrap();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp}, now {now}");
    let verifying = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key).unwrap()).unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    verifying
        .verify(signing_input.as_bytes(), &signature)
        .expect("the JWT is signed by the welcome's push key");
}

async fn metric(server: &TestServer, name: &str) -> u64 {
    let body = server.get("/metrics", &[]).await.body;
    let body = String::from_utf8_lossy(&body).into_owned();
    body.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_deposit_pushes_only_the_tag_encrypted_and_signed_to_the_others_subscriptions() {
    let mut service = PushService::start().await;
    let server = server(|_| {}).await;
    let room = keys(1);
    let (alice_browser, bob_browser) = (Browser::new(), Browser::new());
    let mut alice = server.client().await;
    let mut bob = server.client().await;
    let push_key = bob
        .push_key
        .clone()
        .expect("the welcome states the push key");
    assert_eq!(alice.push_key.as_deref(), Some(push_key.as_str()));
    subscribed(
        &mut alice,
        &room,
        alice_browser.subscription(service.endpoint("alice"), "tag-of-alice"),
    )
    .await;
    subscribed(
        &mut bob,
        &room,
        bob_browser.subscription(service.endpoint("bob"), "bobs-room-tag"),
    )
    .await;

    deposit(&mut alice, &room, b"a sealed event").await;
    let pushed = service.next().await;
    assert_eq!(
        pushed.path, "/push/bob",
        "the depositor's own subscription is not pushed"
    );
    assert_eq!(pushed.headers["content-encoding"], "aes128gcm");
    assert!(pushed.headers.contains_key("ttl"));
    check_vapid(&pushed, &push_key, &format!("http://{}", service.addr));
    assert_eq!(
        bob_browser.open(&pushed.body),
        b"bobs-room-tag",
        "nothing but the tag"
    );
    service.expect_quiet(Duration::from_millis(300)).await;

    deposit(&mut bob, &room, b"another sealed event").await;
    let pushed = service.next().await;
    assert_eq!(pushed.path, "/push/alice");
    assert_eq!(alice_browser.open(&pushed.body), b"tag-of-alice");
    service.expect_quiet(Duration::from_millis(300)).await;
    assert_eq!(metric(&server, "confab_pushes_sent_total").await, 2);
    assert_eq!(metric(&server, "confab_push_subscriptions").await, 2);

    // A deposit into another room pushes nobody.
    deposit(&mut bob, &keys(2), b"elsewhere").await;
    service.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_subscription_the_push_service_says_is_gone_is_dropped() {
    let Subscribed {
        mut service,
        server,
        room,
        mut alice,
        ..
    } = Subscribed::start(|_| {}).await;
    service.status.store(410, Ordering::Relaxed);
    deposit(&mut alice, &room, b"one").await;
    assert_eq!(service.next().await.path, "/push/bob");
    // The answer is handled after the stand-in sent it: wait for the count.
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(&server, "confab_push_subscriptions_gone_total").await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the 410 was not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&server, "confab_push_subscriptions").await, 0);
    deposit(&mut alice, &room, b"two").await;
    service.expect_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn with_no_push_the_welcome_has_no_key_subscribing_is_refused_and_nothing_is_pushed() {
    let mut service = PushService::start().await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_owned();
    let server = server(|config| {
        config.no_push = true;
        config.data_dir = data_dir;
    })
    .await;
    let room = keys(1);
    let browser = Browser::new();
    let mut alice = server.client().await;
    let mut bob = server.client().await;
    assert_eq!(bob.push_key, None);
    subscribe(
        &mut bob,
        &room,
        browser.subscription(service.endpoint("bob"), "t"),
    )
    .await;
    expect_push_refused(&mut bob, room.room(), ErrorCode::PushUnavailable).await;
    deposit(&mut alice, &room, b"one").await;
    service.expect_quiet(Duration::from_millis(500)).await;
    assert_eq!(metric(&server, "confab_push_enabled").await, 0);
    assert!(!data.path().join("vapid.key").exists(), "no key is made");
}

#[tokio::test]
async fn deposits_within_the_interval_are_pushed_once_at_its_end() {
    let Subscribed {
        mut service,
        server,
        room,
        browser,
        mut alice,
        ..
    } = Subscribed::start(|config| config.push_interval = Duration::from_millis(800)).await;
    deposit(&mut alice, &room, b"one").await;
    let first = service.next().await;
    let started = tokio::time::Instant::now();
    for payload in [b"two".as_slice(), b"three", b"four"] {
        deposit(&mut alice, &room, payload).await;
    }
    let second = service.next().await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(600),
        "pushed again after {waited:?}"
    );
    assert_eq!(browser.open(&first.body), b"t");
    assert_eq!(browser.open(&second.body), b"t");
    service.expect_quiet(Duration::from_millis(1200)).await;
    assert_eq!(metric(&server, "confab_pushes_coalesced_total").await, 3);
}

#[tokio::test]
async fn only_public_https_push_service_endpoints_are_taken_without_the_test_flag() {
    let server = TestServer::start().await;
    let room = keys(1);
    let browser = Browser::new();
    let mut bob = server.client().await;
    for endpoint in [
        "http://push.example/a",
        "https://127.0.0.1/a",
        "https://10.0.0.1/a",
        "https://[::1]/a",
        "https://169.254.169.254/latest",
        // Public, but not a push service (`--push-services`): no reflector.
        "https://push.example/a",
        "https://93.184.215.14/a",
    ] {
        subscribe(
            &mut bob,
            &room,
            browser.subscription(endpoint.to_owned(), "t"),
        )
        .await;
        let message = expect_push_refused(&mut bob, room.room(), ErrorCode::BadRequest).await;
        assert!(message.contains("endpoint"), "{endpoint}: {message}");
    }
    subscribed(
        &mut bob,
        &room,
        browser.subscription(
            "https://updates.push.services.mozilla.com/wpush/v2/a".to_owned(),
            "t",
        ),
    )
    .await;
    assert_eq!(metric(&server, "confab_push_subscriptions").await, 1);
}

#[tokio::test]
async fn subscribing_needs_the_room_s_deposit_key() {
    let mut service = PushService::start().await;
    let server = server(|_| {}).await;
    let room = keys(1);
    let stranger = keys(9);
    let browser = Browser::new();
    let mut alice = server.client().await;
    let mut mallory = server.client().await;
    deposit(&mut alice, &room, b"binds the key").await;
    // A proof by another key for this room, and a proof made for another connection.
    mallory
        .send(&ClientMessage::PushSubscribe {
            room: room.room(),
            subscription: browser.subscription(service.endpoint("m1"), "t"),
            key: stranger.deposit_key(),
            proof: stranger.prove_access(mallory.peer),
        })
        .await;
    expect_push_refused(&mut mallory, room.room(), ErrorCode::MailboxDenied).await;
    mallory
        .send(&ClientMessage::PushSubscribe {
            room: room.room(),
            subscription: browser.subscription(service.endpoint("m2"), "t"),
            key: room.deposit_key(),
            proof: room.prove_access(alice.peer),
        })
        .await;
    expect_push_refused(&mut mallory, room.room(), ErrorCode::MailboxDenied).await;
    deposit(&mut alice, &room, b"no push").await;
    service.expect_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn the_key_and_subscriptions_survive_a_restart() {
    let mut service = PushService::start().await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_owned();
    let room = keys(1);
    let browser = Browser::new();
    let mut first = server(|config| config.data_dir = data_dir.clone()).await;
    let mut bob = first.client().await;
    let push_key = bob.push_key.clone().unwrap();
    subscribed(
        &mut bob,
        &room,
        browser.subscription(service.endpoint("bob"), "kept"),
    )
    .await;
    drop(bob);
    first.shutdown().await;

    let second = server(|config| config.data_dir = data_dir.clone()).await;
    let mut alice = second.client().await;
    assert_eq!(alice.push_key.as_deref(), Some(push_key.as_str()));
    deposit(&mut alice, &room, b"after the restart").await;
    let pushed = service.next().await;
    check_vapid(&pushed, &push_key, &format!("http://{}", service.addr));
    assert_eq!(browser.open(&pushed.body), b"kept");
}

/// Checks that the next message refuses a push request for `room` with `code`, as
/// `push-refused` (an `error` would read as the answer to a mailbox request in flight);
/// returns its text.
async fn expect_push_refused(client: &mut Client, room: RoomId, code: ErrorCode) -> String {
    match client.recv().await {
        Received::Server(ServerMessage::PushRefused {
            room: got_room,
            code: got,
            message,
        }) if got == code && got_room == room => message,
        other => panic!("expected push-refused {code:?} for {room}, got {other:?}"),
    }
}
