//! Per-address limits: open connections and mailbox deposits, and `X-Forwarded-For` only
//! when trusted.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};

use confab_core::signal::{ErrorCode, ServerFrame, ServerMessage};
use futures_util::StreamExt as _;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::harness::{Message, Received, TestServer, within};
use crate::mailbox::keys;
use crate::metrics::scrape_until;

/// What the server first says to a connection that claims to come from `forwarded_for`.
async fn first_words(addr: SocketAddr, forwarded_for: Option<&str>) -> (Received, Socket) {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    if let Some(forwarded_for) = forwarded_for {
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded_for.parse().unwrap());
    }
    let (mut socket, _) = within("connect", tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    let first = match within("first frame", socket.next()).await {
        Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()).unwrap() {
            ServerFrame::Server(message) => Received::Server(message),
            ServerFrame::Mailbox(reply) => Received::Mailbox(reply),
        },
        other => panic!("expected a text frame, got {other:?}"),
    };
    (first, socket)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn is_welcome(received: &Received) -> bool {
    matches!(received, Received::Server(ServerMessage::Welcome { .. }))
}

/// Checks the refusal: a `rate-limited` error naming the cap, then close 1008.
async fn expect_refused(first: Received, mut socket: Socket) {
    match first {
        Received::Server(ServerMessage::Error {
            code: ErrorCode::RateLimited,
            message,
        }) => assert!(
            message.contains("too many connections from your address"),
            "{message}"
        ),
        other => panic!("expected rate-limited, got {other:?}"),
    }
    match within("close", socket.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
        other => panic!("expected close 1008, got {other:?}"),
    }
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_told_and_closed() {
    let server = TestServer::start_with(|config| {
        config.max_connections_per_ip = NonZeroUsize::new(2).unwrap();
    })
    .await;
    let first = server.client().await;
    let _second = server.client().await;
    // X-Forwarded-For is not trusted by default: this is still 127.0.0.1.
    let (said, socket) = first_words(server.addr, Some("203.0.113.9")).await;
    expect_refused(said, socket).await;
    scrape_until(server.addr, |scrape| {
        scrape.get("confab_connections_refused_per_ip_total") == 1
    })
    .await;
    // A closed connection frees its place.
    first.close().await;
    let mut again = None;
    for _ in 0..50 {
        let (said, socket) = first_words(server.addr, None).await;
        if is_welcome(&said) {
            again = Some(socket);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a place was freed");
}

#[tokio::test]
async fn a_trusted_forwarded_for_decides_the_address() {
    let server = TestServer::start_with(|config| {
        config.max_connections_per_ip = NonZeroUsize::new(1).unwrap();
        config.trust_forwarded_for = true;
    })
    .await;
    let (said, _a) = first_words(server.addr, Some("10.0.0.1, 203.0.113.5")).await;
    assert!(is_welcome(&said), "{said:?}");
    // Same last entry: refused, whatever comes before it.
    let (said, socket) = first_words(server.addr, Some("203.0.113.5")).await;
    expect_refused(said, socket).await;
    let (said, _b) = first_words(server.addr, Some("203.0.113.6")).await;
    assert!(is_welcome(&said), "{said:?}");
    // No header: the TCP peer's address.
    let (said, _c) = first_words(server.addr, None).await;
    assert!(is_welcome(&said), "{said:?}");
}

#[tokio::test]
async fn mailbox_deposits_are_capped_per_address_across_connections() {
    let server = TestServer::start_with(|config| {
        config.mailbox_puts_per_ip_per_minute = NonZeroU32::new(3).unwrap();
    })
    .await;
    let keys = keys(4);
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.deposit(&keys, b"one").await;
    b.deposit(&keys, b"two").await;
    a.deposit(&keys, b"three").await;
    b.mailbox_put(&keys, b"four").await;
    let message = b.expect_error(ErrorCode::RateLimited).await;
    assert!(message.contains("from your address"), "{message}");
    // The connection stays open and the stored entries are there.
    let (page, _) = b.fetch_page(&keys, 0).await;
    assert_eq!(page.len(), 3);
}
