//! Oversized frames, rate limiting, flooding and slow recipients.

use std::num::NonZeroU32;
use std::time::Duration;

use confab_core::signal::{ClientMessage, ErrorCode, MAX_SIGNAL_LEN, ServerMessage};
use confab_core::wire::relay::{Envelope, MAX_ENVELOPE_LEN};

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

#[tokio::test]
async fn a_recipient_that_does_not_read_is_disconnected() {
    let server = TestServer::start_with(|config| {
        config.messages_per_second = NonZeroU32::new(1_000_000).unwrap()
    })
    .await;
    let (mut sender, mut slow) = (server.client().await, server.client().await);
    sender.join(room(1)).await;
    slow.join(room(1)).await;
    sender
        .expect(ServerMessage::PeerJoined {
            room: room(1),
            peer: slow.peer,
        })
        .await;
    // `slow` never reads again. Its outbound queue (1024 messages) and the socket buffers
    // fill; then the server drops it and tells the sender.
    let envelope = Envelope {
        direction: confab_core::wire::relay::Direction::To(slow.peer),
        payload: &[7; 60_000],
    }
    .encode();
    let mut left = None;
    for _ in 0..100 {
        for _ in 0..50 {
            sender.send_binary(envelope.clone()).await;
        }
        left = sender.try_recv(Duration::from_millis(1)).await;
        if left.is_some() {
            break;
        }
    }
    let left = match left {
        Some(left) => left,
        None => sender.recv().await,
    };
    assert_eq!(
        left,
        Received::Server(ServerMessage::PeerLeft {
            room: room(1),
            peer: slow.peer
        })
    );
    // The sender itself is fine.
    sender.signal(slow.peer, "gone?").await;
    sender.expect_error(ErrorCode::UnknownPeer).await;
    drop(slow);
    let mut c = Client::connect(server.addr).await;
    assert_eq!(c.join(room(1)).await, [sender.peer]);
}
