//! Welcome, rooms and signal forwarding.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::time::Duration;

use confab_core::PeerId;
use confab_core::signal::{ErrorCode, ServerMessage};
use confab_server::parse_ice_server;

use crate::harness::{Client, Received, TestServer, room};

const QUIET: Duration = Duration::from_millis(150);

#[tokio::test]
async fn welcome_gives_distinct_nonzero_ids_and_the_ice_servers() {
    let ice_servers = vec![
        parse_ice_server("stun:stun.example.org:3478").unwrap(),
        parse_ice_server("turn:user:pass@turn.example.org:3478").unwrap(),
    ];
    let expected = ice_servers.clone();
    let server = TestServer::start_with(|config| config.ice_servers = ice_servers).await;
    let mut ids = HashSet::new();
    for _ in 0..8 {
        let client = server.client().await;
        assert_ne!(client.peer, PeerId::new(0));
        assert_eq!(client.ice_servers, expected);
        assert!(ids.insert(client.peer), "duplicate id {:?}", client.peer);
    }
    assert_eq!(expected[1].username.as_deref(), Some("user"));
    assert_eq!(expected[1].urls, ["turn:turn.example.org:3478"]);
}

#[tokio::test]
async fn joining_lists_earlier_peers_and_tells_them() {
    let server = TestServer::start().await;
    let (mut a, mut b, mut c) = (
        server.client().await,
        server.client().await,
        server.client().await,
    );
    assert_eq!(a.join(room(1)).await, []);
    assert_eq!(b.join(room(1)).await, [a.peer]);
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: b.peer,
    })
    .await;
    assert_eq!(c.join(room(1)).await, [a.peer, b.peer]);
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: c.peer,
    })
    .await;
    b.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: c.peer,
    })
    .await;

    // Joining again answers again and tells nobody.
    assert_eq!(b.join(room(1)).await, [a.peer, c.peer]);
    a.expect_quiet(QUIET).await;
    c.expect_quiet(QUIET).await;
}

#[tokio::test]
async fn signal_is_forwarded_verbatim_with_from() {
    let server = TestServer::start().await;
    let (mut a, mut b) = (server.client().await, server.client().await);
    a.join(room(1)).await;
    b.join(room(1)).await;
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: b.peer,
    })
    .await;
    let data =
        r#"{"sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1","type":"offer","note":"ünïcödé \"quoted\""}"#;
    a.signal(b.peer, data).await;
    b.expect(ServerMessage::Signal {
        from: a.peer,
        data: data.to_owned(),
    })
    .await;
    b.signal(a.peer, "").await;
    a.expect(ServerMessage::Signal {
        from: b.peer,
        data: String::new(),
    })
    .await;
}

#[tokio::test]
async fn signal_without_a_shared_room_is_unknown_peer() {
    let server = TestServer::start().await;
    let (mut a, mut b, mut stranger) = (
        server.client().await,
        server.client().await,
        server.client().await,
    );
    a.join(room(1)).await;
    b.join(room(1)).await;
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: b.peer,
    })
    .await;
    stranger.join(room(2)).await;

    a.signal(stranger.peer, "hello").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
    a.signal(PeerId::new(12345), "hello").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
    a.signal(a.peer, "me").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
    stranger.expect_quiet(QUIET).await;

    // Once b leaves, a and b no longer share a room.
    b.leave(room(1)).await;
    a.expect(ServerMessage::PeerLeft {
        room: room(1),
        peer: b.peer,
    })
    .await;
    a.signal(b.peer, "still there?").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
}

#[tokio::test]
async fn malformed_requests_are_bad_request_and_the_connection_survives() {
    let server = TestServer::start().await;
    let mut a = server.client().await;
    for bad in [
        "not json",
        "",
        "[]",
        "null",
        r#"{"type":"nope"}"#,
        r#"{"type":"join"}"#,
        r#"{"type":"join","room":"zz"}"#,
        r#"{"type":"join","room":"00","extra":1}"#,
        r#"{"type":"signal","to":"xyz","data":"x"}"#,
        r#"{"type":"signal","to":"0000000000000001","data":7}"#,
    ] {
        a.send_text(bad).await;
        let message = a.expect_error(ErrorCode::BadRequest).await;
        assert!(
            message.len() < 200 && !message.is_empty(),
            "{bad:?} -> {message:?}"
        );
    }
    assert_eq!(a.join(room(1)).await, []);
}

#[tokio::test]
async fn disconnecting_tells_the_others_in_every_room() {
    let server = TestServer::start().await;
    let (mut a, mut b, mut c) = (
        server.client().await,
        server.client().await,
        server.client().await,
    );
    for client in [&mut a, &mut b] {
        client.join(room(1)).await;
        client.join(room(2)).await;
    }
    c.join(room(2)).await;
    for n in [1, 2] {
        a.expect(ServerMessage::PeerJoined {
            room: room(n),
            peer: b.peer,
        })
        .await;
    }
    a.expect(ServerMessage::PeerJoined {
        room: room(2),
        peer: c.peer,
    })
    .await;
    b.expect(ServerMessage::PeerJoined {
        room: room(2),
        peer: c.peer,
    })
    .await;

    // A clean close.
    let a_peer = a.peer;
    a.close().await;
    b.expect(ServerMessage::PeerLeft {
        room: room(1),
        peer: a_peer,
    })
    .await;
    b.expect(ServerMessage::PeerLeft {
        room: room(2),
        peer: a_peer,
    })
    .await;
    c.expect(ServerMessage::PeerLeft {
        room: room(2),
        peer: a_peer,
    })
    .await;

    // An abrupt drop (no close frame).
    let b_peer = b.peer;
    drop(b);
    c.expect(ServerMessage::PeerLeft {
        room: room(2),
        peer: b_peer,
    })
    .await;

    // Room 1 is empty and gone; joining it starts afresh.
    assert_eq!(c.join(room(1)).await, []);
}

#[tokio::test]
async fn a_connection_may_be_in_only_so_many_rooms() {
    let server = TestServer::start_with(|config| {
        config.max_rooms_per_connection = NonZeroUsize::new(2).unwrap()
    })
    .await;
    let mut a = server.client().await;
    a.join(room(1)).await;
    a.join(room(2)).await;
    a.send(&confab_core::signal::ClientMessage::Join { room: room(3) })
        .await;
    let message = a.expect_error(ErrorCode::TooManyRooms).await;
    assert!(message.contains('2'), "{message}");
    a.join(room(1)).await; // rejoining is fine
    a.leave(room(1)).await;
    a.join(room(3)).await;
}

#[tokio::test]
async fn a_full_room_refuses_newcomers() {
    let server =
        TestServer::start_with(|config| config.room_capacity = NonZeroUsize::new(2).unwrap()).await;
    let (mut a, mut b, mut c) = (
        server.client().await,
        server.client().await,
        server.client().await,
    );
    a.join(room(1)).await;
    b.join(room(1)).await;
    c.send(&confab_core::signal::ClientMessage::Join { room: room(1) })
        .await;
    c.expect_error(ErrorCode::RoomFull).await;
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: b.peer,
    })
    .await;
    a.expect_quiet(QUIET).await;
    drop(b);
    assert!(matches!(
        a.recv().await,
        Received::Server(ServerMessage::PeerLeft { .. })
    ));
    assert_eq!(c.join(room(1)).await, [a.peer]);
}

#[tokio::test]
async fn odd_inputs_never_break_the_server() {
    let server = TestServer::start().await;
    let mut a = server.client().await;
    let texts = [
        "{".repeat(1000),
        "\u{0}".into(),
        r#"{"type":"leave","room":"0000000000000000000000000000000000000000000000000000000000000000"}"#.into(),
        r#"{"type":"signal","to":"0000000000000000","data":""}"#.into(),
        format!(r#"{{"type":"signal","to":"ffffffffffffffff","data":"{}"}}"#, "x".repeat(10_000)),
    ];
    for text in texts {
        a.send_text(text).await;
    }
    for bytes in [
        vec![],
        vec![1],
        vec![0; 10],
        vec![1, 2, 0, 0, 0, 0, 0, 0, 0, 1],
        vec![1, 9, 0, 0, 0, 0, 0, 0, 0, 1],
    ] {
        a.send_binary(bytes).await;
    }
    // Every input got an answer or was silently fine (leave), in order; then it still works.
    let mut n_errors = 0;
    while let Some(Received::Server(ServerMessage::Error { .. })) =
        a.try_recv(Duration::from_millis(300)).await
    {
        n_errors += 1;
    }
    assert_eq!(n_errors, 9);
    assert_eq!(a.join(room(9)).await, []);
    let mut b = Client::connect(server.addr).await;
    assert_eq!(b.join(room(9)).await, [a.peer]);
}
