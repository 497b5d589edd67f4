//! Scenarios between two or three clients: handshake, messages, bad input, timers.

use std::time::Duration;

use confab_core::wire::Frame;
use confab_core::{
    ClientEvent, FailReason, MemberKey, PeerId, RejectReason, RoomSecret, SendError, UnixMillis,
};

use crate::net::{Conditions, Net};

/// Messages shown at `node`, as (author, text), in the order they were first shown.
fn texts(net: &Net, node: usize) -> Vec<(MemberKey, String)> {
    net.nodes[node]
        .events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Message(message) => Some((message.author, message.text.clone())),
            _ => None,
        })
        .collect()
}

fn key(net: &Net, node: usize) -> MemberKey {
    net.nodes[node].client.identity().member_key()
}

fn connected_pair() -> Net {
    let mut net = Net::new(7, 2, Conditions::default());
    net.connect(1, 0);
    net.run_until(100, |net| net.verified(0) == 1 && net.verified(1) == 1);
    net
}

fn rejections(net: &Net, node: usize) -> Vec<RejectReason> {
    net.nodes[node]
        .events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::PeerRejected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_verifies_both_identities() {
    let net = connected_pair();
    for (me, them) in [(0, 1), (1, 0)] {
        let verified: Vec<_> = net.nodes[me]
            .events
            .iter()
            .filter_map(|event| match event {
                ClientEvent::PeerVerified { peer, info } => Some((*peer, info.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(verified.len(), 1);
        let (peer, info) = &verified[0];
        assert_eq!(*peer, net.nodes[them].id);
        assert_eq!(info.identity, *net.nodes[them].client.identity());
        assert_eq!(info.display_name, format!("node{them}"));
        assert_eq!(
            info.identity.fingerprint(),
            net.nodes[them].client.identity().fingerprint()
        );
    }
}

#[test]
fn messages_flow_both_ways_in_order() {
    let mut net = connected_pair();
    for round in 0..3 {
        net.with(0, |client, now| {
            client
                .send_text(now, UnixMillis(1000 + round), &format!("a{round}"))
                .unwrap()
        });
        net.with(1, |client, now| {
            client
                .send_text(now, UnixMillis(2000 + round), &format!("b{round}"))
                .unwrap()
        });
    }
    net.settle();
    let (key_a, key_b) = (key(&net, 0), key(&net, 1));
    let at_a = texts(&net, 0);
    let at_b = texts(&net, 1);
    let sent_by_a: Vec<_> = at_a
        .iter()
        .filter(|(author, _)| *author == key_a)
        .map(|(_, t)| t.as_str())
        .collect();
    let got_by_b: Vec<_> = at_b
        .iter()
        .filter(|(author, _)| *author == key_a)
        .map(|(_, t)| t.as_str())
        .collect();
    let got_by_a: Vec<_> = at_a
        .iter()
        .filter(|(author, _)| *author == key_b)
        .map(|(_, t)| t.as_str())
        .collect();
    // Both show the same room order.
    assert_eq!(
        net.nodes[0].client.messages(),
        net.nodes[1].client.messages()
    );
    assert_eq!(sent_by_a, ["a0", "a1", "a2"]);
    assert_eq!(got_by_b, ["a0", "a1", "a2"]);
    assert_eq!(got_by_a, ["b0", "b1", "b2"]);
    // Same id on both sides.
    let id_at = |node: usize, text: &str| {
        net.nodes[node].events.iter().find_map(|e| match e {
            ClientEvent::Message(m) if m.text == text => Some(m.id),
            _ => None,
        })
    };
    assert_eq!(id_at(0, "a1"), id_at(1, "a1"));
}

#[test]
fn markup_is_carried_as_plain_text() {
    let mut net = connected_pair();
    let evil = "<img src=x onerror=alert(1)>";
    net.with(0, |client, now| {
        client.send_text(now, UnixMillis(1), evil).unwrap()
    });
    net.settle();
    assert!(texts(&net, 1).iter().any(|(_, text)| text == evil));
}

#[test]
fn empty_and_oversized_messages_are_refused_locally() {
    let mut net = connected_pair();
    assert_eq!(
        net.with(0, |c, now| c.send_text(now, UnixMillis(1), "  \n ")),
        Err(SendError::Empty)
    );
    let long = "x".repeat(16 * 1024 + 1);
    assert_eq!(
        net.with(0, |c, now| c.send_text(now, UnixMillis(1), &long)),
        Err(SendError::TooLong {
            got: 16 * 1024 + 1,
            max: 16 * 1024
        })
    );
}

#[test]
fn a_peer_with_another_room_secret_is_dropped_on_both_sides() {
    let mut net = Net::new(3, 1, Conditions::default());
    let stranger = net.add_node(&RoomSecret::from_bytes([0xee; 32]));
    net.connect(stranger, 0);
    net.settle();
    let failure = |node: usize| {
        net.nodes[node].events.iter().find_map(|e| match e {
            ClientEvent::PeerFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    };
    assert!(
        matches!(failure(0), Some(FailReason::Handshake(_))),
        "{:?}",
        net.nodes[0].events
    );
    assert_eq!(failure(stranger), Some(FailReason::Aborted));
    assert_eq!(net.verified(0), 0);
    assert_eq!(net.verified(stranger), 0);
}

#[test]
fn malformed_tampered_and_replayed_frames_are_rejected_and_the_session_survives() {
    let mut net = connected_pair();
    let from = net.nodes[0].id;
    // Capture a real frame by sending a message and intercepting before delivery.
    net.with(0, |c, now| {
        c.send_text(now, UnixMillis(1), "first").unwrap()
    });
    net.settle();
    net.nodes[0].events.clear();

    // Build frames from node 0's next transmission by hand (it goes out once stored).
    let second = net.nodes[0]
        .client
        .send_text(net.now, UnixMillis(2), "second")
        .unwrap();
    net.nodes[0].client.handle_persisted(net.now, &[second]);
    let mut frames = Vec::new();
    loop {
        match net.nodes[0].client.poll_output() {
            confab_core::Output::Transmit(t) => frames.push(t.bytes),
            confab_core::Output::Event(_) => {}
            confab_core::Output::Timeout(_) => break,
        }
    }
    net.drain(0);
    let frame = frames.pop().expect("one frame for the one peer");

    net.inject(from, 1, &[]);
    net.inject(from, 1, &[9, 9, 9]);
    net.inject(
        from,
        1,
        &frame[..frame.len() - 1]
            .iter()
            .copied()
            .chain([frame[frame.len() - 1] ^ 1])
            .collect::<Vec<_>>(),
    );
    net.inject(from, 1, &frame);
    net.inject(from, 1, &frame); // replay
    net.inject(
        from,
        1,
        &Frame::Handshake {
            step: 0,
            message: &[0; 32],
        }
        .encode(),
    );
    net.inject(
        from,
        1,
        &Frame::Abort {
            reason: confab_core::wire::AbortReason::HandshakeFailed,
        }
        .encode(),
    );
    net.inject(PeerId::new(999), 1, &frame);

    let reasons = rejections(&net, 1);
    assert!(matches!(reasons[0], RejectReason::Malformed(_)));
    assert!(matches!(reasons[1], RejectReason::Malformed(_)));
    assert_eq!(reasons[2], RejectReason::Decrypt);
    assert_eq!(reasons[3], RejectReason::Replay);
    assert_eq!(reasons[4], RejectReason::Unexpected("handshake in session"));
    assert_eq!(reasons[5], RejectReason::Unexpected("abort in session"));
    assert_eq!(reasons[6], RejectReason::Unexpected("unknown peer"));
    assert_eq!(reasons.len(), 7);

    // The session still works both ways, and "second" was shown exactly once.
    net.with(0, |c, now| {
        c.send_text(now, UnixMillis(3), "third").unwrap()
    });
    net.with(1, |c, now| {
        c.send_text(now, UnixMillis(4), "reply").unwrap()
    });
    net.settle();
    let key_a = key(&net, 0);
    let got: Vec<_> = texts(&net, 1)
        .into_iter()
        .filter(|(author, _)| *author == key_a)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(got, ["first", "second", "third"]);
    assert!(texts(&net, 0).iter().any(|(_, t)| t == "reply"));
}

#[test]
fn an_unanswered_handshake_times_out() {
    let mut net = Net::new(5, 2, Conditions::default());
    let silent = net.nodes[1].id;
    let start = net.now;
    net.with(0, |c, now| {
        c.add_peer(now, silent, confab_core::Role::Initiator)
    });
    // Node 1 never hears of it (no add_peer), so it rejects the first message.
    net.run_until(10_000, |net| {
        net.nodes[0].events.iter().any(|e| {
            matches!(
                e,
                ClientEvent::PeerFailed {
                    reason: FailReason::Timeout,
                    ..
                }
            )
        })
    });
    assert!(
        net.now - start >= Duration::from_secs(10),
        "{:?}",
        net.now - start
    );
    assert_eq!(net.verified(0), 0);
}

#[test]
fn keepalives_hold_an_idle_session_and_silence_ends_it() {
    let mut net = connected_pair();
    let start = net.now;
    net.run_until(10_000, |net| net.now >= start + Duration::from_secs(120));
    assert_eq!(
        (net.verified(0), net.verified(1)),
        (1, 1),
        "keepalives keep an idle pair alive"
    );
    assert!(
        net.delivered > 20,
        "pings and pongs flowed: {}",
        net.delivered
    );

    // Node 1 vanishes without a word: drop its frames by removing node 0 from its view.
    let id_0 = net.nodes[0].id;
    net.nodes[1].client.remove_peer(net.now, id_0);
    net.drain(1);
    let vanished = net.now;
    net.run_until(10_000, |net| net.verified(0) == 0);
    let waited = net.now - vanished;
    assert!(
        waited >= Duration::from_secs(15) && waited <= Duration::from_secs(21),
        "{waited:?}"
    );
    assert!(
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::PeerLeft { .. }))
    );
}

#[test]
fn a_liveness_check_ends_a_silent_peer_quickly_and_spares_a_live_one() {
    let mut net = connected_pair();
    let (id_0, id_1) = (net.nodes[0].id, net.nodes[1].id);
    // Node 1 answers: the probe is cleared and node 1 stays.
    net.with(0, |c, now| {
        c.check_liveness(now, id_1, Duration::from_secs(3))
    });
    let start = net.now;
    net.run_until(10_000, |net| net.now >= start + Duration::from_secs(10));
    assert_eq!(net.verified(0), 1, "a peer that answers the probe stays");

    // Node 1 is gone without a word: node 0 notices within the probe window, not after
    // the 20 s idle timeout.
    net.nodes[1].client.remove_peer(net.now, id_0);
    net.drain(1);
    let vanished = net.now;
    net.with(0, |c, now| {
        c.check_liveness(now, id_1, Duration::from_secs(3))
    });
    net.run_until(10_000, |net| net.verified(0) == 0);
    assert!(
        net.now - vanished <= Duration::from_secs(3),
        "{:?}",
        net.now - vanished
    );
    assert!(
        net.nodes[0]
            .events
            .contains(&ClientEvent::PeerLeft { peer: id_1 })
    );
    // Probing someone unknown does nothing.
    net.with(0, |c, now| {
        c.check_liveness(now, id_1, Duration::from_secs(3))
    });
}

#[test]
fn leaving_says_goodbye() {
    let mut net = connected_pair();
    net.with(0, |c, now| c.leave(now));
    net.settle();
    assert_eq!(net.verified(1), 0);
    assert!(
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::PeerLeft { .. }))
    );
}

#[test]
fn a_stale_clock_never_moves_time_backwards() {
    let mut net = connected_pair();
    let now = net.now;
    net.nodes[0]
        .client
        .handle_timeout(now + Duration::from_secs(3));
    // An older `now` (e.g. a clock read before the tab slept) changes nothing.
    net.nodes[0].client.handle_timeout(now);
    net.nodes[0]
        .client
        .handle_timeout(now - Duration::from_secs(1));
    net.drain(0);
    assert_eq!(net.verified(0), 1);
    let deadline = net.nodes[0].client.poll_timeout().unwrap();
    assert!(deadline > now + Duration::from_secs(3));
}

#[test]
fn pings_are_answered() {
    let mut net = connected_pair();
    let peer = net.nodes[1].id;
    assert!(net.with(0, |c, now| c.send_ping(now, peer, 42)));
    net.settle();
    assert!(
        net.nodes[0]
            .events
            .contains(&ClientEvent::Pong { peer, nonce: 42 })
    );
    assert!(!net.with(0, |c, now| c.send_ping(now, PeerId::new(77), 1)));
}

#[test]
fn reconnecting_replaces_the_old_session() {
    let mut net = connected_pair();
    net.disconnect(0, 1);
    assert_eq!((net.verified(0), net.verified(1)), (0, 0));
    net.connect(0, 1);
    net.run_until(100, |net| net.verified(0) == 1 && net.verified(1) == 1);
    net.with(1, |c, now| c.send_text(now, UnixMillis(9), "back").unwrap());
    net.settle();
    assert!(texts(&net, 0).iter().any(|(_, t)| t == "back"));
}
