//! Tests of [`Calls`]: members of a room, each with its own machine, pass call messages
//! to each other as their sessions would (in order, per pair); media is a stand-in.

use super::*;

/// Member `i`'s link id as the others see it.
fn peer(i: usize) -> PeerId {
    PeerId::new(i as u64 + 1)
}

/// Member `i`'s key (a higher `i` is a higher key).
fn key(i: usize) -> MemberKey {
    MemberKey::from_bytes([i as u8 + 1; 32])
}

/// A description declaring the certificate `cert`.
fn sdp(cert: usize) -> String {
    format!(
        "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:sha-256 {cert:02x}:AA\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 {cert:02x}:AA\r\n"
    )
}

/// What member `i`'s app did: every event, and every offer it made.
struct Room {
    calls: Vec<Calls>,
    events: Vec<Vec<CallEvent>>,
    /// (from, to) of every offer made.
    offers: Vec<(usize, usize)>,
}

impl Room {
    /// `n` members, each linked directly to every other, fingerprints checked.
    fn linked(n: usize) -> Room {
        let mut room = Room::new(n);
        for a in 0..n {
            for b in 0..n {
                if a != b {
                    room.calls[a].handle_direct_link(peer(b), &sdp(a), &sdp(b));
                }
            }
        }
        room.pump();
        for a in 0..n {
            assert_eq!(room.calls[a].callable().len(), n - 1);
        }
        room.clear();
        room
    }

    fn new(n: usize) -> Room {
        Room {
            calls: (0..n).map(|i| Calls::new(key(i), [i as u8; 32])).collect(),
            events: vec![Vec::new(); n],
            offers: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.events.iter_mut().for_each(Vec::clear);
        self.offers.clear();
    }

    /// Delivers every message and plays every app's part until all is quiet.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut quiet = true;
            for from in 0..self.calls.len() {
                while let Some((to, data)) = self.calls[from].poll_transmit() {
                    quiet = false;
                    let to = to.to_u64() as usize - 1;
                    self.calls[to]
                        .handle_message(peer(from), key(from), &data)
                        .unwrap();
                }
                while let Some(event) = self.calls[from].poll_event() {
                    quiet = false;
                    match &event {
                        CallEvent::MakeOffer { peer: to, call } => {
                            self.offers.push((from, to.to_u64() as usize - 1));
                            self.calls[from].handle_local_offer(*to, *call, sdp(from));
                        }
                        CallEvent::TakeOffer { peer: to, call, .. } => {
                            self.calls[from].handle_local_answer(*to, *call, sdp(from));
                        }
                        _ => {}
                    }
                    self.events[from].push(event);
                }
            }
            if quiet {
                return;
            }
        }
        panic!("call messages never stopped");
    }

    /// Member `i` starts a call and rings.
    fn start(&mut self, i: usize) {
        self.calls[i].start_call(true).unwrap();
        self.calls[i].handle_media_ready();
        self.pump();
    }

    /// Member `i` accepts the call ringing it and joins.
    fn accept(&mut self, i: usize) {
        assert_eq!(self.calls[i].accept_call(), Some(true));
        self.calls[i].handle_media_ready();
        self.pump();
    }

    fn saw(&self, i: usize, event: &CallEvent) -> bool {
        self.events[i].contains(event)
    }

    fn in_call_with(&self, i: usize) -> Vec<PeerId> {
        let mut with: Vec<PeerId> = self.events[i]
            .iter()
            .filter_map(|e| match e {
                CallEvent::PeerJoined { peer, .. } => Some(*peer),
                _ => None,
            })
            .collect();
        with.sort();
        with
    }
}

#[test]
fn the_lower_key_of_each_pair_offers_once() {
    // Caller with the lower key, then with the higher one.
    for (caller, callee) in [(0, 1), (1, 0)] {
        let mut room = Room::linked(2);
        room.start(caller);
        assert!(room.saw(
            callee,
            &CallEvent::Ringing {
                peer: peer(caller),
                member: key(caller),
                video: true
            }
        ));
        room.accept(callee);
        assert_eq!(room.offers, [(0, 1)], "caller {caller}");
        assert!(room.saw(
            0,
            &CallEvent::TakeAnswer {
                peer: peer(1),
                sdp: sdp(1)
            }
        ));
        assert_eq!(room.in_call_with(caller), [peer(callee)]);
        assert_eq!(room.in_call_with(callee), [peer(caller)]);
    }
}

#[test]
fn a_call_of_four_is_a_mesh_with_one_offer_per_pair() {
    let mut room = Room::linked(4);
    room.start(2);
    for i in [0, 1, 3] {
        room.accept(i);
    }
    let mut offers = room.offers.clone();
    offers.sort();
    assert_eq!(offers, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]);
    for i in 0..4 {
        assert_eq!(room.in_call_with(i).len(), 3, "member {i}");
    }
}

#[test]
fn joins_that_cross_make_one_offer() {
    let mut room = Room::linked(3);
    room.start(2);
    // 0 and 1 accept before either's Join reaches the other.
    for i in [0, 1] {
        assert_eq!(room.calls[i].accept_call(), Some(true));
        room.calls[i].handle_media_ready();
    }
    room.pump();
    let mut offers = room.offers.clone();
    offers.sort();
    assert_eq!(offers, [(0, 1), (0, 2), (1, 2)]);
}

#[test]
fn a_call_rings_at_most_three_others() {
    let mut room = Room::linked(6);
    room.start(0);
    let rung = (1..6)
        .filter(|&i| {
            room.events[i]
                .iter()
                .any(|e| matches!(e, CallEvent::Ringing { .. }))
        })
        .count();
    assert_eq!(rung, MAX_CALL - 1);
}

#[test]
fn a_busy_member_declines_and_a_lone_caller_ends() {
    let mut room = Room::linked(3);
    room.start(0);
    room.accept(1);
    // 2 was rung too but ignored it; it now calls 0 and 1, who are busy.
    room.calls[2].decline_call();
    room.pump();
    room.clear();
    room.calls[2].start_call(false).unwrap();
    room.calls[2].handle_media_ready();
    room.pump();
    assert!(
        !room.events[0]
            .iter()
            .any(|e| matches!(e, CallEvent::Ringing { .. }))
    );
    // Two declines, but 2 had two peers to ring: its call waits for a third.
    assert!(room.calls[2].current().is_some());
    assert!(!room.saw(2, &CallEvent::Ended(CallEnd::Alone)));

    // With one peer to ring, a decline ends the call.
    let mut pair = Room::linked(2);
    pair.start(0);
    pair.calls[1].decline_call();
    pair.pump();
    assert!(pair.saw(1, &CallEvent::RingingStopped));
    assert!(pair.saw(0, &CallEvent::Ended(CallEnd::Alone)));
    assert_eq!(pair.calls[0].current(), None);
}

#[test]
fn the_last_one_leaving_ends_the_call() {
    let mut room = Room::linked(3);
    room.start(0);
    room.accept(1);
    room.accept(2);
    room.clear();
    room.calls[1].hang_up();
    room.pump();
    assert!(room.saw(1, &CallEvent::Ended(CallEnd::HungUp)));
    assert!(room.saw(0, &CallEvent::PeerLeft { peer: peer(1) }));
    assert!(!room.saw(0, &CallEvent::Ended(CallEnd::Alone)));
    room.calls[2].hang_up();
    room.pump();
    assert!(room.saw(0, &CallEvent::Ended(CallEnd::Alone)));
    assert_eq!(room.calls[0].current(), None);
}

#[test]
fn a_caller_hanging_up_stops_the_ringing() {
    let mut room = Room::linked(2);
    room.start(0);
    room.calls[0].hang_up();
    room.pump();
    assert!(room.saw(1, &CallEvent::RingingStopped));
    assert_eq!(room.calls[1].accept_call(), None);
}

#[test]
fn a_lost_link_leaves_the_call_and_stops_ringing() {
    let mut room = Room::linked(3);
    room.start(0);
    room.accept(1);
    room.clear();
    room.calls[0].remove_peer(peer(1));
    room.calls[2].remove_peer(peer(0));
    room.pump();
    assert!(room.saw(0, &CallEvent::PeerLeft { peer: peer(1) }));
    assert!(room.saw(2, &CallEvent::RingingStopped));
    assert_eq!(room.calls[0].callable(), [peer(2)]);
    room.calls[0].remove_peer(peer(2));
    room.pump();
    assert!(room.saw(0, &CallEvent::CanCall(false)));
}

#[test]
fn state_reaches_those_in_the_call() {
    let mut room = Room::linked(2);
    room.start(0);
    room.accept(1);
    room.calls[1].set_state(true, false, true);
    room.pump();
    assert!(room.saw(
        0,
        &CallEvent::PeerState {
            peer: peer(1),
            muted: true,
            camera_off: false,
            sharing: true
        }
    ));
}

#[test]
fn fingerprints_match_whichever_side_comes_first() {
    let mut room = Room::new(2);
    // 1's vouching arrives before 0 learns its link is direct.
    room.calls[1].handle_direct_link(peer(0), &sdp(1), &sdp(0));
    room.pump();
    assert!(room.calls[0].callable().is_empty());
    room.calls[0].handle_direct_link(peer(1), &sdp(0), &sdp(1));
    room.pump();
    assert_eq!(room.calls[0].callable(), [peer(1)]);
    assert_eq!(room.calls[1].callable(), [peer(0)]);
    assert!(room.saw(0, &CallEvent::CanCall(true)));
}

#[test]
fn a_link_not_checked_is_neither_called_nor_heard() {
    let mut room = Room::new(2);
    // Only 1 learns the link is direct; 0's link is relayed: no Dtls from 0.
    room.calls[1].handle_direct_link(peer(0), &sdp(1), &sdp(0));
    room.pump();
    assert!(room.calls[1].callable().is_empty());
    room.calls[1].start_call(false).unwrap();
    room.calls[1].handle_media_ready();
    assert_eq!(room.calls[1].poll_transmit(), None);
    let join = CallMessage::Join {
        call: room.calls[1].current().unwrap().0,
    };
    room.calls[1]
        .handle_message(peer(0), key(0), &join.encode())
        .unwrap();
    room.pump();
    assert_eq!(room.in_call_with(1), Vec::<PeerId>::new());
}

/// The server swapped the first description: the certificate DTLS accepted is the man in
/// the middle's (9), not the one the member vouched for inside Noise.
#[test]
fn a_substituted_first_description_fails_the_link() {
    let mut room = Room::new(2);
    room.calls[0].handle_direct_link(peer(1), &sdp(0), &sdp(9));
    room.calls[1].handle_direct_link(peer(0), &sdp(1), &sdp(0));
    room.pump();
    assert!(room.saw(
        0,
        &CallEvent::Tampered {
            peer: peer(1),
            reason: Tamper::Accepted {
                vouched: vec!["SHA-256 01:AA".into()],
                declared: vec!["SHA-256 09:AA".into()],
            }
        }
    ));
    assert!(room.calls[0].callable().is_empty());
    assert!(!room.calls[0].vouches_for(peer(1), &sdp(1)));
    // A description without fingerprints matches nothing either.
    let mut bare = Room::new(2);
    bare.calls[0].handle_direct_link(peer(1), &sdp(0), "v=0\r\n");
    bare.calls[1].handle_direct_link(peer(0), "v=0\r\n", &sdp(0));
    bare.pump();
    assert!(
        bare.events[0]
            .iter()
            .any(|e| matches!(e, CallEvent::Tampered { .. }))
    );
}

/// A member whose first description matched, then offers media from another certificate
/// (or a description swapped on the way): refused, and the link fails. A check that ran
/// only when the link was verified would take it.
#[test]
fn every_later_description_must_carry_the_vouched_fingerprints() {
    for answer in [false, true] {
        let mut room = Room::linked(2);
        room.start(0);
        room.accept(1);
        room.clear();
        let call = room.calls[0].current().unwrap().0;
        assert!(room.calls[0].vouches_for(peer(1), &sdp(1)));
        assert!(!room.calls[0].vouches_for(peer(1), &sdp(9)));
        let forged = if answer {
            CallMessage::Answer { call, sdp: sdp(9) }
        } else {
            CallMessage::Offer { call, sdp: sdp(9) }
        };
        room.calls[0]
            .handle_message(peer(1), key(1), &forged.encode())
            .unwrap();
        room.pump();
        assert!(!room.events[0].iter().any(|e| matches!(
            e,
            CallEvent::TakeOffer { .. } | CallEvent::TakeAnswer { .. }
        )));
        assert!(room.saw(
            0,
            &CallEvent::Tampered {
                peer: peer(1),
                reason: Tamper::Later {
                    vouched: vec!["SHA-256 01:AA".into()],
                    declared: vec!["SHA-256 09:AA".into()],
                }
            }
        ));
        assert!(room.saw(0, &CallEvent::PeerLeft { peer: peer(1) }));
        assert!(room.calls[0].callable().is_empty());
    }
}

#[test]
fn unreadable_messages_change_nothing() {
    let mut room = Room::linked(2);
    room.start(0);
    room.clear();
    assert!(
        room.calls[0]
            .handle_message(peer(1), key(1), b"{\"t\":\"join\"}")
            .is_err()
    );
    assert_eq!(room.calls[0].poll_event(), None);
    assert_eq!(room.calls[0].poll_transmit(), None);
    assert!(room.calls[0].current().is_some());
}

/// The link of the only member in our call goes (the room moved on without us, or the
/// network): the call ends, instead of staying open with nobody in it.
#[test]
fn a_call_whose_last_member_s_link_goes_ends() {
    let mut room = Room::linked(2);
    room.start(0);
    room.accept(1);
    room.clear();
    room.calls[1].remove_peer(peer(0));
    room.pump();
    assert!(room.saw(1, &CallEvent::PeerLeft { peer: peer(0) }));
    assert!(room.saw(1, &CallEvent::Ended(CallEnd::Alone)));
    assert_eq!(room.calls[1].current(), None);
}

/// A move ends the call for everyone in it, with its reason, and stops one ringing; the
/// old links go; over the new room's links a call can be placed again. A member removed
/// meanwhile ends theirs with their own reason.
#[test]
fn a_move_ends_the_call_with_its_reason_and_it_can_be_placed_again() {
    let mut room = Room::linked(4);
    room.start(0);
    room.accept(1);
    room.accept(2);
    room.clear();
    // Dave (3) was removed, still ringing; the others move (each before its links go).
    room.calls[3].removed_from_room();
    for i in 0..3 {
        room.calls[i].room_moved();
    }
    for a in 0..4 {
        for b in 0..4 {
            if a != b {
                room.calls[a].remove_peer(peer(b));
            }
        }
    }
    room.pump();
    for i in 0..3 {
        assert!(room.saw(i, &CallEvent::Ended(CallEnd::RoomMoved)), "{i}");
        assert!(!room.saw(i, &CallEvent::Ended(CallEnd::Alone)), "{i}");
        assert_eq!(room.calls[i].current(), None);
    }
    assert!(room.saw(3, &CallEvent::RingingStopped));
    assert!(room.calls[3].accept_call().is_none());
    // The new room's links (the harness numbers them as before).
    for a in 0..3 {
        for b in 0..3 {
            if a != b {
                room.calls[a].handle_direct_link(peer(b), &sdp(a), &sdp(b));
            }
        }
    }
    room.pump();
    room.clear();
    assert!(room.calls[1].start_call(false).is_some());
    room.calls[1].handle_media_ready();
    room.pump();
    assert!(
        room.events[0]
            .iter()
            .any(|e| matches!(e, CallEvent::Ringing { .. }))
    );
}
