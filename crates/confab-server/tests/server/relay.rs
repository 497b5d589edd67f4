//! Binary relay envelopes and the relay record hook (relay payloads and signals).

use confab_core::signal::{ErrorCode, ServerMessage};
use confab_core::wire::MAX_FRAME_LEN;
use confab_core::wire::relay::{Direction, Envelope};

use crate::harness::{Client, TestServer, read_at_least, room};

async fn pair(server: &TestServer) -> (Client, Client) {
    let (mut a, mut b) = (server.client().await, server.client().await);
    a.join(room(1)).await;
    b.join(room(1)).await;
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: b.peer,
    })
    .await;
    (a, b)
}

#[tokio::test]
async fn relay_forwards_the_payload_unchanged_from_the_sender() {
    let server = TestServer::start().await;
    let (mut a, mut b) = pair(&server).await;
    let payload: Vec<u8> = (0..=255).cycle().take(1000).collect();
    a.relay(b.peer, &payload).await;
    assert_eq!(b.expect_relay_from(a.peer).await, payload);

    // The largest envelope and the empty one both pass.
    let largest = vec![0xa5; MAX_FRAME_LEN];
    b.relay(a.peer, &largest).await;
    assert_eq!(a.expect_relay_from(b.peer).await, largest);
    b.relay(a.peer, &[]).await;
    assert_eq!(a.expect_relay_from(b.peer).await, Vec::<u8>::new());
}

#[tokio::test]
async fn relay_to_a_stranger_or_with_a_bad_envelope_is_refused() {
    let server = TestServer::start().await;
    let (mut a, mut b) = pair(&server).await;
    let mut stranger = server.client().await;
    stranger.join(room(2)).await;

    a.relay(stranger.peer, b"secret").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
    a.relay(a.peer, b"me").await;
    a.expect_error(ErrorCode::UnknownPeer).await;

    let from_envelope = Envelope {
        direction: Direction::From(b.peer),
        payload: b"spoof",
    }
    .encode();
    let mut wrong_version = Envelope {
        direction: Direction::To(b.peer),
        payload: b"x",
    }
    .encode();
    wrong_version[0] = 9;
    for bad in [
        from_envelope,
        wrong_version,
        vec![1, 1, 0],
        vec![],
        vec![1, 3, 0, 0, 0, 0, 0, 0, 0, 1],
    ] {
        a.send_binary(bad).await;
        a.expect_error(ErrorCode::BadEnvelope).await;
    }
    b.expect_quiet(std::time::Duration::from_millis(150)).await;
    stranger
        .expect_quiet(std::time::Duration::from_millis(1))
        .await;
}

#[tokio::test]
async fn relay_record_file_receives_exactly_the_payloads() {
    let record_dir = tempfile::tempdir().unwrap();
    let record = record_dir.path().join("relay.bin");
    let path = record.clone();
    let server =
        TestServer::start_with(move |config| config.dangerously_record_relay = Some(path)).await;
    let (mut a, mut b) = pair(&server).await;
    let first = b"\x01\x02ciphertext-one".to_vec();
    let second = vec![0xee; 300];
    a.relay(b.peer, &first).await;
    assert_eq!(b.expect_relay_from(a.peer).await, first);
    b.relay(a.peer, &second).await;
    assert_eq!(a.expect_relay_from(b.peer).await, second);

    // Signals go to their own file, so the relay's stays exactly the relayed payloads.
    a.signal(b.peer, "sealed-one").await;
    b.expect(ServerMessage::Signal {
        from: a.peer,
        data: "sealed-one".into(),
    })
    .await;
    let signals = record_dir.path().join("relay.bin.signals");
    assert_eq!(read_at_least(&signals, 10).await, b"sealed-one");

    let expected = [first, second].concat();
    assert_eq!(read_at_least(&record, expected.len()).await, expected);
}
