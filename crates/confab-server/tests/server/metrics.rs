//! `GET /metrics` over HTTP after real activity: connections, rooms, signals, relay,
//! rejected frames by reason, the mailbox; and nothing that names a room or a peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::time::Duration;

use confab_core::signal::{ErrorCode, ServerMessage};
use confab_core::wire::relay::HEADER_LEN;

use crate::harness::{TestServer, WAIT, http_get, room};
use crate::mailbox::keys;

/// The samples of one scrape: series (with labels) → value.
pub(crate) struct Scrape(HashMap<String, u64>);

impl Scrape {
    /// Scrapes `addr`, checking the content type and that every line parses.
    pub(crate) async fn take(addr: SocketAddr) -> (Scrape, String) {
        let response = http_get(addr, "/metrics", &[]).await;
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = String::from_utf8(response.body).unwrap();
        let mut samples = HashMap::new();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            samples.insert(series.to_owned(), value.parse().unwrap());
        }
        (Scrape(samples), text)
    }

    /// The value of `series` (exactly as written, labels included).
    pub(crate) fn get(&self, series: &str) -> u64 {
        *self
            .0
            .get(series)
            .unwrap_or_else(|| panic!("no series {series}"))
    }
}

/// Scrapes until `check` passes (counters move after the frames that cause them).
pub(crate) async fn scrape_until(addr: SocketAddr, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (scrape, text) = Scrape::take(addr).await;
        if check(&scrape) {
            return scrape;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never matched:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_count_activity_without_naming_rooms_or_peers() {
    let server = TestServer::start_with(|config| {
        // A small relay cap, so the test can hit it.
        config.relay_bytes_per_sec = NonZeroU64::new(1).unwrap();
        config.relay_burst_bytes = confab_server::MIN_RELAY_BURST_BYTES;
    })
    .await;
    let (idle, _) = Scrape::take(server.addr).await;
    assert_eq!(idle.get("confab_connections"), 0);
    assert_eq!(idle.get("confab_rooms"), 0);
    assert_eq!(idle.get("confab_mailbox_available"), 1);
    assert_eq!(idle.get("confab_nats_configured"), 0);

    let mut a = server.client().await;
    let mut b = server.client().await;
    a.join(room(1)).await;
    b.join(room(1)).await;
    b.join(room(2)).await;
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: b.peer,
    })
    .await;
    a.signal(b.peer, "offer").await;
    b.expect(ServerMessage::Signal {
        from: a.peer,
        data: "offer".into(),
    })
    .await;
    let payload = vec![7u8; 1000];
    a.relay(b.peer, &payload).await;
    assert_eq!(b.expect_relay_from(a.peer).await, payload);
    // Over the cap (the burst is one largest envelope; 1000 bytes of it are spent).
    a.relay(b.peer, &vec![0u8; 65_000]).await;
    a.expect_error(ErrorCode::RelayCap).await;
    a.send_text("not json").await;
    a.expect_error(ErrorCode::BadRequest).await;
    a.send_text("x".repeat(100_000)).await;
    a.expect_error(ErrorCode::TooLarge).await;
    let keys = keys(9);
    a.deposit(&keys, b"sealed").await;
    a.deposit(&keys, b"sealed too").await;
    let (page, _) = b.fetch_page(&keys, 0).await;
    assert_eq!(page.len(), 2);

    let scrape = scrape_until(server.addr, |scrape| {
        scrape.get("confab_mailbox_fetches_total") == 1
    })
    .await;
    assert_eq!(scrape.get("confab_connections"), 2);
    assert_eq!(scrape.get("confab_connections_opened_total"), 2);
    assert_eq!(scrape.get("confab_rooms"), 2);
    assert_eq!(scrape.get("confab_room_members"), 3);
    assert_eq!(scrape.get("confab_signals_total"), 1);
    assert_eq!(scrape.get("confab_relayed_frames_total"), 1);
    assert_eq!(
        scrape.get("confab_relayed_bytes_total"),
        (HEADER_LEN + payload.len()) as u64
    );
    assert_eq!(scrape.get("confab_relay_cap_drops_total"), 1);
    for (reason, n) in [
        ("relay-cap", 1),
        ("bad-request", 1),
        ("too-large", 1),
        ("rate-limited", 0),
        ("unknown-peer", 0),
    ] {
        let series = format!("confab_rejected_frames_total{{reason=\"{reason}\"}}");
        assert_eq!(scrape.get(&series), n, "{series}");
    }
    assert_eq!(scrape.get("confab_mailbox_puts_total"), 2);
    assert_eq!(scrape.get("confab_mailbox_entries"), 2);
    assert!(scrape.get("confab_mailbox_bytes") > 2 * 41);
    assert_eq!(scrape.get("confab_mailbox_entries_served_total"), 2);

    let b_peer = b.peer;
    b.close().await;
    let scrape = scrape_until(server.addr, |scrape| scrape.get("confab_connections") == 1).await;
    assert_eq!(scrape.get("confab_rooms"), 1);
    assert_eq!(scrape.get("confab_room_members"), 1);
    assert_eq!(
        scrape.get("confab_connections_closed_total{reason=\"client-closed\"}"),
        1
    );

    // Nothing in the exposition names a room, a peer or an address.
    let (_, text) = Scrape::take(server.addr).await;
    let room_hex = room(1).to_string();
    for secret in [
        &room_hex[..8],
        &a.peer.to_string(),
        &b_peer.to_string(),
        "127.0.0.1",
    ] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
}
