//! Client unit tests: two clients wired back to back (no network model; see `tests/sim`
//! for that): posting and its checks, catch-up after an absence, receipts, typing,
//! presence, restore, and a peer that sends forged events.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::*;
use crate::history::Content;
use crate::ids::EventId;
use crate::signal::SignalRefusal;
use crate::wire::MAX_TEXT_LEN;

/// Two clients back to back (also used by the receipts tests).
pub(super) struct Duo {
    pub(super) now: Instant,
    pub(super) clients: [Client; 2],
    pub(super) events: [Vec<ClientEvent>; 2],
}

pub(super) const A: usize = 0;
pub(super) const B: usize = 1;

pub(super) fn peer_of(idx: usize) -> PeerId {
    PeerId::new(idx as u64 + 1)
}

/// Client `n` of the test room, named "c<n>", with a store (write-ahead) as the app runs
/// it, its randomness from `seed`.
pub(super) fn client_with_store(n: u8, seed: u8) -> Client {
    let config = Config {
        display_name: format!("c{n}"),
        ..Config::default()
    };
    Client::new(
        Identity::from_seed([n; 32]),
        RoomSecret::from_bytes([5; 32]),
        config,
        [seed; 32],
    )
}

/// Client `n` of the test room, named "c<n>", without a store: these tests are not about
/// it (see `own::tests` for write-ahead).
pub(super) fn client(n: u8) -> Client {
    let mut client = client_with_store(n, n);
    client.run_without_store();
    client
}

/// Restores `stored` into `client` as the app does at start (records keyed by position,
/// the wall clock reading 0).
pub(super) fn restore(client: &mut Client, now: Instant, stored: &[Vec<u8>]) -> Restored<usize> {
    let stored = stored.iter().map(Vec::as_slice).enumerate();
    client.restore(now, UnixMillis(0), stored)
}

/// Drains `client`, returning its events (transmits are dropped: nobody is linked).
pub(super) fn drain(client: &mut Client) -> Vec<ClientEvent> {
    let mut events = Vec::new();
    loop {
        match client.poll_output() {
            Output::Transmit(_) => {}
            Output::Event(event) => events.push(event),
            Output::Timeout(_) => return events,
        }
    }
}

impl Duo {
    pub(super) fn new() -> Duo {
        Duo {
            now: Instant::now(),
            clients: [client(1), client(2)],
            events: [Vec::new(), Vec::new()],
        }
    }

    pub(super) fn connect(&mut self) {
        let now = self.now;
        self.clients[B].add_peer(now, peer_of(A), Role::Responder);
        self.clients[A].add_peer(now, peer_of(B), Role::Initiator);
        self.pump();
    }

    pub(super) fn disconnect(&mut self) {
        let now = self.now;
        self.clients[A].remove_peer(now, peer_of(B));
        self.clients[B].remove_peer(now, peer_of(A));
        self.drain_dropping();
    }

    /// Delivers every transmit until both are quiet.
    pub(super) fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for idx in [A, B] {
                loop {
                    match self.clients[idx].poll_output() {
                        Output::Transmit(t) => {
                            moved = true;
                            let to = t.peer.to_u64() as usize - 1;
                            let now = self.now;
                            self.clients[to].handle_frame(now, peer_of(idx), &t.bytes);
                        }
                        Output::Event(e) => self.events[idx].push(e),
                        Output::Timeout(_) => break,
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    fn drain_dropping(&mut self) {
        for idx in [A, B] {
            while let Output::Transmit(_) | Output::Event(_) = self.clients[idx].poll_output() {}
        }
    }

    /// Advances time and fires timers on both.
    pub(super) fn wait(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        for client in &mut self.clients {
            client.handle_timeout(now);
        }
        self.pump();
    }

    pub(super) fn texts(&self, idx: usize) -> Vec<String> {
        self.clients[idx]
            .messages()
            .into_iter()
            .filter(|m| m.notice.is_none())
            .map(|m| m.text)
            .collect()
    }

    /// What client `idx` asked to persist, in order: its store.
    fn persisted(&self, idx: usize) -> Vec<Vec<u8>> {
        self.events[idx]
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Persist { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn post(&mut self, idx: usize, text: &str) -> EventId {
        let now = self.now;
        let id = self.clients[idx]
            .send_text(now, UnixMillis(1), text)
            .unwrap();
        self.pump();
        id
    }
}

fn plain(text: &str) -> Content {
    Content::Text {
        text: text.to_owned(),
        reply_to: None,
        mentions: Vec::new(),
    }
}

#[test]
fn posts_are_checked_before_anything_is_signed() {
    let mut duo = Duo::new();
    let now = duo.now;
    let a = &mut duo.clients[A];
    assert_eq!(a.send_text(now, UnixMillis(0), "  "), Err(SendError::Empty));
    assert!(matches!(
        a.send_text(now, UnixMillis(0), &"x".repeat(MAX_TEXT_LEN + 1)),
        Err(SendError::TooLong { .. })
    ));
    let unknown = EventId([1; 32]);
    assert_eq!(
        a.post(now, UnixMillis(0), Content::Delete { target: unknown }),
        Err(SendError::UnknownTarget)
    );
    assert!(a.history().is_empty());
}

#[test]
fn only_the_author_edits_and_deletes() {
    let mut duo = Duo::new();
    duo.connect();
    let hello = duo.post(A, "hello");
    let now = duo.now;
    assert_eq!(
        duo.clients[B].post(
            now,
            UnixMillis(2),
            Content::Edit {
                target: hello,
                text: "no".into()
            }
        ),
        Err(SendError::NotYours)
    );
    duo.clients[A]
        .post(
            now,
            UnixMillis(2),
            Content::Edit {
                target: hello,
                text: "hello!".into(),
            },
        )
        .unwrap();
    duo.pump();
    assert_eq!(duo.texts(B), vec!["hello!"]);
    duo.clients[A]
        .post(now, UnixMillis(3), Content::Delete { target: hello })
        .unwrap();
    duo.pump();
    assert!(duo.clients[B].messages()[0].deleted);
    assert_eq!(
        duo.clients[A].post(now, UnixMillis(3), Content::Delete { target: hello }),
        Err(SendError::Deleted)
    );
}

/// Whom a message mentions reaches the other member with it, signed: in key order, once
/// each, however the app listed them; more than a message may hold is refused unsigned.
#[test]
fn mentions_reach_the_other_member_in_key_order_once_each() {
    let mut duo = Duo::new();
    duo.connect();
    let now = duo.now;
    let (alice, bob) = (
        duo.clients[A].identity().member_key(),
        duo.clients[B].identity().member_key(),
    );
    let too_many = (0..=crate::wire::MAX_MENTIONS)
        .map(|n| MemberKey([n as u8; 32]))
        .collect();
    assert!(matches!(
        duo.clients[A].post(
            now,
            UnixMillis(1),
            Content::Text {
                text: "everyone!".into(),
                reply_to: None,
                mentions: too_many,
            }
        ),
        Err(SendError::TooManyMentions { .. })
    ));
    duo.clients[A]
        .post(
            now,
            UnixMillis(1),
            Content::Text {
                text: "@Bob and me".into(),
                reply_to: None,
                mentions: vec![bob, alice, bob],
            },
        )
        .unwrap();
    duo.pump();
    let mut expected = vec![alice, bob];
    expected.sort();
    let shown = duo.clients[B].messages();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].mentions, expected);
    assert_eq!(duo.clients[A].messages()[0].mentions, expected);
}

#[test]
fn what_was_written_while_apart_is_caught_up_once_on_reconnect() {
    let mut duo = Duo::new();
    duo.connect();
    duo.post(A, "one");
    duo.wait(Duration::from_millis(200)); // B's receipt
    duo.disconnect();
    // Written while the other was away: kept in history, delivered to nobody yet.
    duo.post(A, "two");
    duo.post(B, "three");
    for n in 0..600 {
        duo.post(A, &format!("bulk {n}"));
    }
    assert_eq!(
        duo.clients[A]
            .member_progress(&duo.clients[B].identity().member_key())
            .0,
        1
    );
    duo.connect();
    duo.wait(Duration::from_millis(200));
    assert_eq!(duo.texts(A), duo.texts(B));
    assert_eq!(duo.texts(A).len(), 603);
    // Each message was shown once on B.
    let shown: usize = duo.events[B]
        .iter()
        .filter(|e| matches!(e, ClientEvent::Message(m) if m.text.starts_with("bulk")))
        .count();
    assert_eq!(shown, 600);
    // B's receipts reach A: delivered up to A's last event.
    let b_key = duo.clients[B].identity().member_key();
    let a_mark = duo.clients[A]
        .history()
        .mark(&duo.clients[A].identity().member_key());
    assert_eq!(duo.clients[A].member_progress(&b_key).0, a_mark);
}

#[test]
fn a_member_missing_events_learns_of_them_from_whoever_it_sends_its_marks_to() {
    let mut duo = Duo::new();
    duo.connect();
    // A writes and the frame carrying it is lost; A's timers do not fire, so A never
    // announces it on its own.
    let now = duo.now;
    duo.clients[A]
        .send_text(now, UnixMillis(1), "lost")
        .unwrap();
    duo.drain_dropping();
    assert!(duo.texts(B).is_empty());
    // B's anti-entropy sends its full marks to its one peer, A. A answers with the marks B
    // is behind on, and B pulls the event.
    duo.now += Config::default().anti_entropy_interval;
    let now = duo.now;
    duo.clients[B].handle_timeout(now);
    duo.pump();
    assert_eq!(duo.texts(B), ["lost"]);
}

#[test]
fn read_markers_typing_and_presence_reach_the_other_side() {
    let mut duo = Duo::new();
    duo.connect();
    let a_key = duo.clients[A].identity().member_key();
    let now = duo.now;
    duo.clients[A].set_typing(now, true);
    duo.clients[A].set_typing(now, true); // debounced: not sent twice
    duo.pump();
    let typing = |duo: &Duo| {
        duo.events[B]
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Typing { member, active } if *member == a_key => Some(*active),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(typing(&duo), vec![true]);
    // Expires by itself.
    duo.wait(Duration::from_secs(7));
    assert_eq!(typing(&duo), vec![true, false]);
    // Posting clears it at once.
    duo.now += Duration::from_secs(3);
    let now = duo.now;
    duo.clients[A].set_typing(now, true);
    duo.pump();
    duo.post(A, "hi");
    assert_eq!(typing(&duo), vec![true, false, true, false]);

    let key = duo.clients[B].messages()[0].key;
    let now = duo.now;
    duo.clients[B].mark_read(now, key);
    duo.clients[B].set_presence(now, Presence::Away);
    duo.pump();
    let b_key = duo.clients[B].identity().member_key();
    assert_eq!(duo.clients[A].member_progress(&b_key).1, Some(key));
    assert!(duo.events[A].contains(&ClientEvent::Presence {
        member: b_key,
        presence: Presence::Away
    }));
}

#[test]
fn restore_brings_back_history_and_continues_the_chain() {
    let mut duo = Duo::new();
    duo.connect();
    duo.post(A, "one");
    duo.post(B, "two");
    let mut stored = duo.persisted(A);
    stored.reverse(); // any order
    let room = RoomSecret::from_bytes([5; 32]);
    let mut again = Client::new(
        Identity::from_seed([1; 32]),
        room,
        Config::default(),
        [9; 32],
    );
    assert_eq!(restore(&mut again, duo.now, &stored).n_events, 2);
    assert_eq!(
        again
            .messages()
            .into_iter()
            .map(|m| m.text)
            .collect::<Vec<_>>(),
        duo.texts(A)
    );
    let next = again.send_text(duo.now, UnixMillis(5), "three").unwrap();
    let event = again.history().get(&next).unwrap().event().clone();
    assert_eq!(event.seq, 2);
    assert!(event.lamport > 2);
}

#[test]
fn a_peer_that_forwards_a_forged_event_is_dropped() {
    let mut duo = Duo::new();
    duo.connect();
    let now = duo.now;
    let mut forged = {
        let mut other = History::new(duo.clients[A].room_id());
        other
            .create(
                &Identity::from_seed([7; 32]),
                UnixMillis(0),
                Content::Text {
                    text: "forged".into(),
                    reply_to: None,
                    mentions: Vec::new(),
                },
            )
            .unwrap()
            .bytes()
            .to_vec()
    };
    let last = forged.len() - 1;
    forged[last] ^= 1;
    // B sends it inside its authentic session.
    let Some(PeerState::Established { session, .. }) = duo.clients[B].channel_mut(peer_of(A))
    else {
        panic!("not established");
    };
    let bytes = session.seal(&Body::Events(vec![forged]).encode()).unwrap();
    duo.clients[A].handle_frame(now, peer_of(B), &bytes);
    duo.pump();
    assert!(duo.events[A].iter().any(|e| matches!(
        e,
        ClientEvent::PeerFailed {
            reason: FailReason::Misbehaved(_),
            ..
        }
    )));
    assert!(duo.clients[A].messages().is_empty());
    assert_eq!(duo.clients[A].verified_peers().count(), 0);
}

#[test]
fn call_signalling_reaches_only_the_verified_peer_it_was_sent_to() {
    let mut duo = Duo::new();
    let now = duo.now;
    assert!(
        !duo.clients[A].send_call(now, peer_of(B), b"offer"),
        "not verified yet"
    );
    duo.connect();
    assert!(duo.clients[A].send_call(now, peer_of(B), b"{\"type\":\"invite\"}"));
    duo.pump();
    let a_key = duo.clients[A].identity().member_key();
    assert!(duo.events[B].iter().any(|e| matches!(
        e,
        ClientEvent::Call { peer, member, data } if *peer == peer_of(A) && *member == a_key && data == b"{\"type\":\"invite\"}"
    )));
    let too_big = vec![0; crate::session::MAX_PLAINTEXT_LEN];
    assert!(!duo.clients[A].send_call(now, peer_of(B), &too_big));
}

#[test]
fn signals_open_only_sealed_to_us_and_refusals_are_peer_rejections() {
    let (mut a, mut b) = (client(1), client(2));
    let (pa, pb) = (peer_of(A), peer_of(B));
    let offer = r#"{"kind":"offer","sdp":"v=0\r\n"}"#;
    let Ok(ClientMessage::Signal { to, data }) = a.seal_signal(pa, pb, offer) else {
        panic!("sealed");
    };
    assert_eq!(to, pb);
    assert!(!data.contains("v=0"));
    // Unsealed, then misaddressed: dropped as rejections, nothing opened.
    assert_eq!(b.open_signal(pb, pa, offer), None);
    assert_eq!(b.open_signal(pa, pb, &data), None);
    let rejected: Vec<ClientEvent> = drain(&mut b);
    assert!(
        matches!(
            &rejected[..],
            [
                ClientEvent::PeerRejected {
                    reason: RejectReason::Signal(SignalRefusal::Malformed(_)),
                    ..
                },
                ClientEvent::PeerRejected {
                    reason: RejectReason::Signal(SignalRefusal::Open),
                    ..
                },
            ]
        ),
        "{rejected:?}"
    );
    assert_eq!(b.open_signal(pb, pa, &data).as_deref(), Some(offer));
    assert_eq!(b.open_signal(pb, pa, &data), None);
    assert!(matches!(
        &drain(&mut b)[..],
        [ClientEvent::PeerRejected {
            reason: RejectReason::Signal(SignalRefusal::Replay),
            ..
        }]
    ));
}

/// Issue 14, item 1: one event at Lamport `u64::MAX - 1` from any member left every other
/// member able to post once more; after that their messages looked sent but were refused
/// by everyone, their own history included.
#[test]
fn a_lamport_bomb_does_not_stop_the_others_from_posting() {
    let mut duo = Duo::new();
    duo.connect();
    let now = duo.now;
    let wall = UnixMillis(1_800_000_000_000);
    let bomber = Identity::from_seed([2; 32]);
    let bomb = VerifiedEvent::sign(
        &bomber,
        &duo.clients[A].room_id(),
        crate::history::Event {
            author: bomber.member_key(),
            seq: 1,
            lamport: u64::MAX - 1,
            prev: EventId::GENESIS,
            sent_at: wall,
            content: Content::Text {
                text: "boom".into(),
                reply_to: None,
                mentions: Vec::new(),
            },
        },
    );
    let body = Body::Events(vec![bomb.bytes().to_vec()]);
    duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), &body);
    duo.pump();
    assert!(!duo.clients[A].history().contains(&bomb.id()));
    let posts: Vec<EventId> = ["one", "two"]
        .into_iter()
        .map(|text| duo.clients[A].send_text(now, wall, text).unwrap())
        .collect();
    duo.pump();
    for post in &posts {
        assert!(
            duo.clients[A].history().contains(post),
            "not in its own history"
        );
        assert!(
            duo.clients[B].history().contains(post),
            "refused by the peer"
        );
    }
}

/// Old code took a Lamport bomb (another member's event at `u64::MAX - 1`) and stored it.
/// Restored without the clock's bound, it left every later `create` exhausted, for good.
#[test]
fn a_stored_lamport_bomb_is_refused_on_restore_and_the_room_goes_on() {
    let mut duo = Duo::new();
    duo.connect();
    duo.post(A, "one");
    duo.post(B, "two");
    let mallory = Identity::from_seed([7; 32]);
    let room = RoomSecret::from_bytes([5; 32]).room_id();
    // Mallory had seen "one" and "two".
    let mut writer = History::new(room);
    for bytes in duo.persisted(A) {
        let event = VerifiedEvent::verify(&room, &bytes).unwrap();
        writer.insert(event, Horizon::UNBOUNDED).unwrap();
    }
    let first = writer.create(&mallory, UnixMillis(1), plain("hi")).unwrap();
    let bomb = VerifiedEvent::sign(
        &mallory,
        &room,
        crate::history::Event {
            author: mallory.member_key(),
            seq: 2,
            lamport: u64::MAX - 1,
            prev: first.id(),
            sent_at: UnixMillis(2),
            content: plain("boom"),
        },
    );
    let mut stored = duo.persisted(A);
    stored.insert(1, first.bytes().to_vec());
    stored.insert(2, bomb.bytes().to_vec());
    duo.disconnect();
    let now = duo.now;
    let wall = UnixMillis(1_800_000_000_000);
    let mut again = client(1);
    let restored = again.restore(now, wall, stored.iter().map(Vec::as_slice).enumerate());
    assert_eq!(
        restored,
        Restored {
            n_events: 3,
            refused: vec![2]
        },
        "the bomb is refused, to be deleted from the store"
    );
    let three = again.send_text(now, wall, "three");
    assert!(three.is_ok(), "{three:?}");
    let three = again
        .history()
        .get(&three.unwrap())
        .unwrap()
        .event()
        .clone();
    assert_eq!((three.seq, three.lamport), (2, 4), "right after \"hi\"");
    // The room keeps one order: B, who never took the bomb, takes "hi" and "three" from
    // A and shows them as A does.
    duo.clients[A] = again;
    duo.connect();
    assert_eq!(duo.texts(A), ["one", "two", "hi", "three"]);
    assert_eq!(duo.texts(B), duo.texts(A));
    // Offered the bomb again, A refuses it as not yet.
    let body = Body::Events(vec![bomb.bytes().to_vec()]);
    duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), &body);
    duo.pump();
    assert!(!duo.clients[A].history().contains(&bomb.id()));
    assert!(duo.clients[A].send_text(now, wall, "four").is_ok());
}

/// Issue 14, items 6 and 7: a profile whose chain turns out forked (used in a second
/// browser) lost everything it had written, in its own client too, and went on signing
/// events every member refused.
#[test]
fn a_profile_that_finds_its_chain_forked_refuses_to_post_and_keeps_what_came_before() {
    let mut duo = Duo::new();
    duo.connect();
    let before = duo.post(A, "before the fork");
    let stored = duo.persisted(A);
    // The same profile, imported in another browser, writes its own second event.
    let mut elsewhere = client(1);
    restore(&mut elsewhere, duo.now, &stored);
    let other_second = elsewhere
        .send_text(duo.now, UnixMillis(2), "in the other browser")
        .unwrap();
    let other_second = elsewhere.history().get(&other_second).unwrap().clone();
    duo.post(A, "here");
    let now = duo.now;
    let body = Body::Events(vec![other_second.bytes().to_vec()]);
    duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), &body);
    duo.pump();
    let result = duo.clients[A].send_text(now, UnixMillis(3), "after");
    assert!(result.is_err(), "a forked profile signed another event");
    assert_eq!(result, Err(SendError::ProfileForked));
    for idx in [A, B] {
        let history = duo.clients[idx].history();
        assert!(
            history.contains(&before),
            "{idx} lost what came before the fork"
        );
        assert_eq!(history.mark(&duo.clients[A].identity().member_key()), 1);
    }
}
