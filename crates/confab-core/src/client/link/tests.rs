//! Which link of a member seen twice stays: the direct one, else the newer one.

// Tests start the virtual clock from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::tests::{client, client_with_store};
use super::*;
use crate::Instant;
use crate::client::{Output, Via};

/// The server's id for A.
const A_ID: PeerId = PeerId::new(100);

/// Moves frames between `a` and `b` (A's link to `b` is `b_id`) until both are quiet;
/// what reaches A arrives the way A sent (direct, or relayed "from" `b_id`). Returns A's
/// events.
fn pump(now: Instant, a: &mut Client, b: &mut Client, b_id: PeerId) -> Vec<ClientEvent> {
    let mut events = Vec::new();
    let mut relayed = false;
    loop {
        let mut moved = false;
        loop {
            match a.poll_output() {
                Output::Transmit(t) if t.peer == b_id => {
                    moved = true;
                    relayed = t.via == Via::Relay;
                    b.handle_frame(now, A_ID, &t.bytes);
                }
                Output::Transmit(_) => {}
                Output::Event(event) => events.push(event),
                Output::Timeout(_) => break,
            }
        }
        loop {
            match b.poll_output() {
                Output::Transmit(t) => {
                    moved = true;
                    if relayed {
                        a.handle_relayed(now, b_id, &t.bytes);
                    } else {
                        a.handle_frame(now, b_id, &t.bytes);
                    }
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        if !moved {
            return events;
        }
    }
}

/// Another client of member 2 (same identity, its own randomness): the member on a second
/// browser tab or after its server connection was replaced.
fn member_2_again() -> Client {
    let mut again = client_with_store(2, 9);
    again.run_without_store();
    again
}

#[test]
fn a_second_relayed_link_of_a_member_replaces_its_relayed_one() {
    let now = Instant::now();
    let (p1, p2) = (PeerId::new(1), PeerId::new(2));
    let mut a = client(1);
    a.set_force_relay(true);
    a.connected(now, A_ID);
    let (mut b1, mut b2) = (client(2), member_2_again());

    a.connect_peer(now, p1);
    b1.add_peer(now, A_ID, Role::Responder);
    let events = pump(now, &mut a, &mut b1, p1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::PeerVerified { peer, .. } if *peer == p1))
    );
    assert_eq!(a.path(p1), Some(Path::Relay));

    // The member's new server connection: the old relayed link is the stale one.
    a.connect_peer(now, p2);
    b2.add_peer(now, A_ID, Role::Responder);
    let events = pump(now, &mut a, &mut b2, p2);
    assert!(
        events.contains(&ClientEvent::PeerReplaced { peer: p1 }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::PeerVerified { peer, .. } if *peer == p2))
    );
    let linked: Vec<PeerId> = a.verified_peers().map(|(peer, _)| peer).collect();
    assert_eq!(linked, [p2]);
    assert_eq!(a.path(p1), None);
}

#[test]
fn a_direct_link_of_a_member_outlives_a_second_link_of_it() {
    let now = Instant::now();
    let (p1, p2) = (PeerId::new(1), PeerId::new(2));
    let mut a = client(1);
    a.connected(now, A_ID);
    let (mut b1, mut b2) = (client(2), member_2_again());

    // A direct link: A offers, the connection opens, the handshake runs on it.
    a.connect_peer(now, p1);
    let Some(ClientEvent::OpenDirect { generation, .. }) = drain_events(&mut a)
        .into_iter()
        .find(|e| matches!(e, ClientEvent::OpenDirect { .. }))
    else {
        panic!("a direct connection asked for");
    };
    a.handle_direct_open(now, p1, generation);
    b1.add_peer(now, A_ID, Role::Responder);
    let events = pump(now, &mut a, &mut b1, p1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::PeerVerified { peer, .. } if *peer == p1))
    );
    assert_eq!(a.path(p1), Some(Path::Direct));

    // The member comes again through the relay (its server connection was replaced while
    // the direct link lived on): the new link is the one to go, never reported verified.
    b2.add_peer(now, A_ID, Role::Initiator);
    let Output::Transmit(start) = b2.poll_output() else {
        panic!("a handshake start");
    };
    a.handle_relayed(now, p2, &start.bytes);
    let events = pump(now, &mut a, &mut b2, p2);
    assert!(
        events.contains(&ClientEvent::PeerReplaced { peer: p2 }),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ClientEvent::PeerVerified { peer, .. } if *peer == p2))
    );
    let linked: Vec<PeerId> = a.verified_peers().map(|(peer, _)| peer).collect();
    assert_eq!(linked, [p1]);
    assert_eq!(a.path(p1), Some(Path::Direct));
}

fn drain_events(client: &mut Client) -> Vec<ClientEvent> {
    let mut events = Vec::new();
    loop {
        match client.poll_output() {
            Output::Event(event) => events.push(event),
            Output::Transmit(_) => {}
            Output::Timeout(_) => return events,
        }
    }
}
