//! Oversized frames, rate limiting, flooding, slow recipients and the relay byte cap.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::{Duration, Instant};

use confab_core::signal::{ClientMessage, ErrorCode, MAX_SIGNAL_LEN, ServerMessage};
use confab_core::wire::relay::{Envelope, HEADER_LEN, MAX_ENVELOPE_LEN};

use crate::harness::{Client, Message, Received, TestServer, room};

#[tokio::test]
async fn oversized_frames_within_transport_limits_are_answered_too_large() {
    let server = TestServer::start().await;
    let mut a = server.client().await;
    let text = format!(
        r#"{{"type":"signal","to":"0000000000000001","data":"{}"}}"#,
        "x".repeat(MAX_SIGNAL_LEN)
    );
    a.send_text(text).await;
    a.expect_error(ErrorCode::TooLarge).await;
    let mut binary = vec![0; MAX_ENVELOPE_LEN + 1];
    binary[0] = 1;
    a.send_binary(binary).await;
    a.expect_error(ErrorCode::TooLarge).await;
    assert_eq!(a.join(room(1)).await, []);
}

/// Frames beyond what the transport reads (twice the largest envelope) end the connection:
/// the server sends close 1009 and drops the TCP connection without reading the rest of
/// the frame. A client still writing then sees a reset rather than the close frame.
#[tokio::test]
async fn oversized_frames_beyond_the_transport_close_with_1009() {
    let server = TestServer::start().await;
    let too_big = Received::Closed(Some((1009, "message too big".into())));
    for message in [
        Message::binary(vec![1; 2 * MAX_ENVELOPE_LEN + 1]),
        Message::text("x".repeat(2 * MAX_ENVELOPE_LEN + 1)),
        Message::binary(vec![1; 8 << 20]),
    ] {
        let mut a = server.client().await;
        let len = message.len();
        let sent = a.send_lossy(message).await;
        let (before, end) = a.recv_until_closed().await;
        assert_eq!(before, [], "{len} bytes");
        match (sent, end) {
            (_, end) if end == too_big => {}
            (Err(_), Received::Gone(_)) => {} // reset while still writing
            (sent, end) => panic!("{len} bytes: sent {sent:?}, then {end:?}"),
        }
    }
    // The server is fine.
    let mut b = server.client().await;
    assert_eq!(b.join(room(1)).await, []);
}

#[tokio::test]
async fn rate_limit_drops_messages_and_a_flood_is_closed_with_1008() {
    let server =
        TestServer::start_with(|config| config.messages_per_second = NonZeroU32::new(1).unwrap())
            .await;
    let mut a = server.client().await;
    let join = ClientMessage::Join { room: room(1) };
    // Burst is 2: the third is dropped with an error.
    for _ in 0..3 {
        a.send(&join).await;
    }
    assert!(matches!(
        a.recv().await,
        Received::Server(ServerMessage::Joined { .. })
    ));
    assert!(matches!(
        a.recv().await,
        Received::Server(ServerMessage::Joined { .. })
    ));
    a.expect_error(ErrorCode::RateLimited).await;

    // Keep flooding: the tenth drop in a row closes the connection.
    for _ in 0..30 {
        a.send(&join).await;
    }
    let (before, end) = a.recv_until_closed().await;
    // Strikes 2..=9 answer `rate-limited`, the 10th closes. (If a token refilled meanwhile,
    // one more join gets through and the count restarts: more errors, never fewer.)
    let is_rate_limited = |r: &&Received| {
        matches!(
            r,
            Received::Server(ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            })
        )
    };
    let n_rate_limited = before.iter().filter(is_rate_limited).count();
    let n_joined = before
        .iter()
        .filter(|r| matches!(r, Received::Server(ServerMessage::Joined { .. })))
        .count();
    assert!(
        n_rate_limited >= 8 && n_rate_limited + n_joined == before.len(),
        "{before:?}"
    );
    assert_eq!(
        end,
        Received::Closed(Some((1008, "rate limit exceeded".into())))
    );
}

/// The receive buffer of a recipient that reads slowly or not at all: what it has not
/// read waits in the server's queue for it rather than in its kernel.
const SMALL_RECEIVE_BUFFER: u32 = 64 * 1024;

/// A member relaying its whole allowance at once to a member that reads slowly but
/// steadily does not get it disconnected: what does not fit its queue is dropped, and the
/// sender is told (`relay-cap`). Before, the recipient was disconnected as too slow.
#[tokio::test]
async fn a_burst_to_a_slow_but_steady_reader_costs_the_sender_not_the_reader() {
    let server = TestServer::start().await;
    let mut sender = server.client().await;
    let mut reader = Client::connect_with_receive_buffer(server.addr, SMALL_RECEIVE_BUFFER).await;
    sender.join(room(1)).await;
    reader.join(room(1)).await;
    sender
        .expect(ServerMessage::PeerJoined {
            room: room(1),
            peer: reader.peer,
        })
        .await;
    // The whole burst (8 MiB, eight times what the reader's queue holds), at once.
    let envelope = Envelope {
        direction: confab_core::wire::relay::Direction::To(reader.peer),
        payload: &[7; MAX_ENVELOPE_LEN - HEADER_LEN],
    }
    .encode();
    let n_envelopes = (sender.relay_burst_bytes / MAX_ENVELOPE_LEN as u64) as usize;
    for _ in 0..n_envelopes {
        sender.send_binary(envelope.clone()).await;
    }
    // The reader reads an envelope every 20 ms (about 3 MiB/s, more than the relay rate).
    let n_received = read_slowly(&mut reader, Duration::from_millis(20), |received| {
        matches!(received, Received::Binary(_))
    })
    .await;
    assert!(
        0 < n_received && n_received < n_envelopes,
        "{n_received} of {n_envelopes} relayed"
    );
    told_and_still_connected(&mut sender, &mut reader).await;
    // Told once: at most one a second.
    sender.expect_quiet(Duration::from_millis(100)).await;
    let metrics = String::from_utf8(server.get("/metrics", &[]).await.body).unwrap();
    let drops = format!(
        "confab_recipient_busy_drops_total {}\n",
        n_envelopes - n_received
    );
    assert!(metrics.contains(&drops), "{drops} in {metrics}");
}

/// The same for signals: a burst of large signals (400 of 15 KB, the message rate's
/// burst) to a slow but steady reader is dropped in part, the sender told.
#[tokio::test]
async fn a_burst_of_signals_to_a_slow_reader_costs_the_sender_not_the_reader() {
    let server = TestServer::start().await;
    let mut sender = server.client().await;
    let mut reader = Client::connect_with_receive_buffer(server.addr, SMALL_RECEIVE_BUFFER).await;
    sender.join(room(1)).await;
    reader.join(room(1)).await;
    sender
        .expect(ServerMessage::PeerJoined {
            room: room(1),
            peer: reader.peer,
        })
        .await;
    let data = "s".repeat(15_000);
    let n_signals = 2 * server_messages_per_second() - 10;
    for _ in 0..n_signals {
        sender.signal(reader.peer, &data).await;
    }
    let n_received = read_slowly(&mut reader, Duration::from_millis(5), |received| {
        matches!(received, Received::Server(ServerMessage::Signal { .. }))
    })
    .await;
    assert!(
        0 < n_received && n_received < n_signals,
        "{n_received} of {n_signals} forwarded"
    );
    told_and_still_connected(&mut sender, &mut reader).await;
}

/// Reads, pausing `pause` before each read, until nothing comes for 500 ms; counts what
/// `is_expected` accepts and fails on anything else (a close above all).
async fn read_slowly(
    reader: &mut Client,
    pause: Duration,
    is_expected: impl Fn(&Received) -> bool,
) -> usize {
    let mut n_received = 0;
    loop {
        tokio::time::sleep(pause).await;
        match reader.try_recv(Duration::from_millis(500)).await {
            Some(received) if is_expected(&received) => n_received += 1,
            None => return n_received,
            Some(other) => panic!("after {n_received} messages the reader got {other:?}"),
        }
    }
}

/// The sender was told its recipient was busy, and both are still connected: a signal
/// still gets through.
async fn told_and_still_connected(sender: &mut Client, reader: &mut Client) {
    let told = sender.expect_error(ErrorCode::RelayCap).await;
    assert!(told.contains("recipient"), "{told}");
    sender.signal(reader.peer, "still there?").await;
    reader
        .expect(ServerMessage::Signal {
            from: sender.peer,
            data: "still there?".into(),
        })
        .await;
}

/// The default message rate a second (its burst is twice that).
fn server_messages_per_second() -> usize {
    confab_server::DEFAULT_MESSAGES_PER_SECOND.get() as usize
}

/// A recipient that reads nothing at all is disconnected once its queue made no
/// progress for `--queue-stall`; meanwhile its sender's envelopes are dropped and the
/// sender is told.
#[tokio::test]
async fn a_recipient_that_does_not_read_is_disconnected_after_the_stall_time() {
    let stall = Duration::from_secs(1);
    let server = TestServer::start_with(|config| {
        config.messages_per_second = NonZeroU32::new(1_000_000).unwrap();
        // Megabytes must reach the queue: no relay cap in the way.
        config.relay_bytes_per_sec = NonZeroU64::new(1 << 40).unwrap();
        config.relay_burst_bytes = 1 << 40;
        config.queue_stall = stall;
    })
    .await;
    let mut sender = server.client().await;
    let mut stuck = Client::connect_with_receive_buffer(server.addr, SMALL_RECEIVE_BUFFER).await;
    sender.join(room(1)).await;
    stuck.join(room(1)).await;
    sender
        .expect(ServerMessage::PeerJoined {
            room: room(1),
            peer: stuck.peer,
        })
        .await;
    // `stuck` never reads again. Its queue fills; then envelopes are dropped (the sender
    // is told) until the queue has made no progress for the stall time.
    let envelope = Envelope {
        direction: confab_core::wire::relay::Direction::To(stuck.peer),
        payload: &[7; 60_000],
    }
    .encode();
    let started = Instant::now();
    let (mut is_told, mut left) = (false, None);
    while left.is_none() && started.elapsed() < 4 * stall {
        sender.send_binary(envelope.clone()).await;
        while let Some(received) = sender.try_recv(Duration::from_millis(1)).await {
            match received {
                Received::Server(ServerMessage::Error {
                    code: ErrorCode::RelayCap,
                    ..
                }) => is_told = true,
                // An envelope that raced the disconnection: refused, as the peer is gone.
                // The room's notice that it left may come after this answer.
                Received::Server(ServerMessage::Error {
                    code: ErrorCode::UnknownPeer,
                    ..
                }) => {}
                other => left = Some(other),
            }
        }
    }
    let elapsed = started.elapsed();
    assert!(is_told, "the sender was told its envelopes were dropped");
    assert_eq!(
        left,
        Some(Received::Server(ServerMessage::PeerLeft {
            room: room(1),
            peer: stuck.peer
        })),
        "after {elapsed:?}"
    );
    assert!(
        elapsed >= stall,
        "disconnected after {elapsed:?}, before the stall time"
    );
    // The sender itself is fine.
    sender.signal(stuck.peer, "gone?").await;
    sender.expect_error(ErrorCode::UnknownPeer).await;
    drop(stuck);
    let mut c = Client::connect(server.addr).await;
    assert_eq!(c.join(room(1)).await, [sender.peer]);
}

/// A relay cap small enough to cross within a fraction of a second.
const TEST_RELAY_RATE: u64 = 64 * 1024;
const TEST_RELAY_BURST: u64 = 128 * 1024;

#[tokio::test]
async fn the_welcome_states_the_relay_byte_cap() {
    let server = TestServer::start().await;
    let a = server.client().await;
    assert_eq!(
        (a.relay_bytes_per_sec, a.relay_burst_bytes),
        (2_097_152, 8_388_608)
    );
    let server = capped_server().await;
    let a = server.client().await;
    assert_eq!(
        (a.relay_bytes_per_sec, a.relay_burst_bytes),
        (TEST_RELAY_RATE, TEST_RELAY_BURST)
    );
}

#[tokio::test]
async fn relaying_faster_than_the_byte_cap_drops_envelopes_with_relay_cap_errors() {
    let server = capped_server().await;
    let (mut a, mut b) = pair_in_room(&server).await;
    let payload = vec![7; 16 * 1024];
    let envelope_len = (HEADER_LEN + payload.len()) as u64;
    // 1 MiB as fast as we can: 14 s worth at the cap.
    let n_sent = 64;
    let started = Instant::now();
    for _ in 0..n_sent {
        a.relay(b.peer, &payload).await;
    }
    // The server handles one connection's frames in order: once `b` sees this signal,
    // every envelope before it has been charged (or dropped).
    a.signal(b.peer, "done").await;
    let mut n_relayed = 0;
    loop {
        match b.recv().await {
            Received::Binary(bytes) => {
                assert_eq!(bytes.len() as u64, envelope_len);
                n_relayed += 1;
            }
            Received::Server(ServerMessage::Signal { from, data }) if from == a.peer => {
                assert_eq!(data, "done");
                break;
            }
            other => panic!("expected relays then the signal, got {other:?}"),
        }
    }
    let elapsed = started.elapsed();

    // Bounds, not timings: the bucket started full (the burst) and refilled at the rate
    // for at most `elapsed`. One envelope of slack for rounding.
    let relayed = n_relayed * envelope_len;
    let allowed = TEST_RELAY_BURST as f64 + TEST_RELAY_RATE as f64 * elapsed.as_secs_f64();
    assert!(
        relayed as f64 <= allowed + envelope_len as f64,
        "{n_relayed} envelopes ({relayed} bytes) relayed in {elapsed:?}"
    );
    assert!(
        relayed + envelope_len > TEST_RELAY_BURST,
        "the burst passes: {n_relayed} envelopes"
    );
    assert!(n_relayed < n_sent, "{n_relayed} of {n_sent} relayed");

    // The sender heard about it, at most once a second; the dozens of drops in a row were
    // not flood strikes.
    let mut n_errors = 0;
    while let Some(received) = a.try_recv(Duration::from_millis(200)).await {
        match received {
            Received::Server(ServerMessage::Error {
                code: ErrorCode::RelayCap,
                ..
            }) => n_errors += 1,
            other => panic!("expected relay-cap errors, got {other:?}"),
        }
    }
    assert!(
        (1..=1 + elapsed.as_secs()).contains(&n_errors),
        "{n_errors} relay-cap errors in {elapsed:?}"
    );

    // The connection is open; after a pause (≥ 0.5 s with the quiet read above, so at
    // least 32 KiB refilled) a full envelope goes through again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = vec![8; 16 * 1024];
    a.relay(b.peer, &again).await;
    assert_eq!(b.expect_relay_from(a.peer).await, again);
    a.expect_quiet(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn relaying_under_the_byte_cap_loses_nothing() {
    let server = capped_server().await;
    let (mut a, mut b) = pair_in_room(&server).await;
    let payload_len = 8 * 1024;
    let envelope_len = (HEADER_LEN + payload_len) as u64;
    // Paced by the welcome: three quarters of the burst at once, then half the rate. In
    // all more than the burst, so the refill matters; even if the server read two paced
    // envelopes back to back, it stays under the cap.
    let n_burst = a.relay_burst_bytes * 3 / 4 / envelope_len;
    let pace = Duration::from_secs_f64(2.0 * envelope_len as f64 / a.relay_bytes_per_sec as f64);
    let n_paced = 6;
    let n_sent = n_burst + n_paced;
    assert!(n_sent * envelope_len > a.relay_burst_bytes);
    for i in 0..n_sent {
        if i >= n_burst {
            tokio::time::sleep(pace).await;
        }
        a.relay(b.peer, &vec![i as u8; payload_len]).await;
    }
    for i in 0..n_sent {
        assert_eq!(
            b.expect_relay_from(a.peer).await,
            vec![i as u8; payload_len],
            "envelope {i}"
        );
    }
    a.expect_quiet(Duration::from_millis(100)).await;
}

/// A server with a 64 KiB/s relay cap (128 KiB burst) and a message rate out of the way.
async fn capped_server() -> TestServer {
    TestServer::start_with(|config| {
        config.relay_bytes_per_sec = NonZeroU64::new(TEST_RELAY_RATE).unwrap();
        config.relay_burst_bytes = TEST_RELAY_BURST;
        config.messages_per_second = NonZeroU32::new(10_000).unwrap();
    })
    .await
}

/// Two clients in room 1, each having read the other's arrival.
async fn pair_in_room(server: &TestServer) -> (Client, Client) {
    let (mut a, mut b) = (server.client().await, server.client().await);
    a.join(room(1)).await;
    assert_eq!(b.join(room(1)).await, [a.peer]);
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: b.peer,
    })
    .await;
    (a, b)
}

#[tokio::test]
async fn pings_count_against_the_rate_limit_and_a_ping_flood_is_closed() {
    let server =
        TestServer::start_with(|config| config.messages_per_second = NonZeroU32::new(1).unwrap())
            .await;
    let mut a = server.client().await;
    // Burst is 2: two pings are answered (the harness skips pongs), then the drops begin.
    for _ in 0..40 {
        if a.send_lossy(Message::Ping(vec![7; 8].into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let (before, end) = a.recv_until_closed().await;
    assert!(
        before.iter().any(|r| matches!(
            r,
            Received::Server(ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            })
        )),
        "{before:?}"
    );
    assert_eq!(
        end,
        Received::Closed(Some((1008, "rate limit exceeded".into())))
    );
}
