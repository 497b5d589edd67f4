//! Write-ahead and learning our own head: our events go to nobody (peer, mailbox, marks)
//! before the store has them, a failed write withdraws them and their numbers are signed
//! again without a fork, a client without a store sends at once, and a restarted author
//! whose store lost events learns its chain before signing (bounded for bare claims).

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use super::super::tests::{A, B, Duo, client_with_store, peer_of};
use super::HEAD_WAIT;
use crate::client::{ClientEvent, Output, Role, SendError};
use crate::history::{Content, UnixMillis};
use crate::ids::EventId;
use crate::wire::{Body, Mark};

fn stored_duo() -> Duo {
    let mut duo = Duo::new();
    duo.clients = [client_with_store(1, 1), client_with_store(2, 2)];
    duo
}

/// The ids `idx` asked to persist so far.
fn to_persist(duo: &Duo, idx: usize) -> Vec<EventId> {
    duo.events[idx]
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Persist { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The store commits everything `idx` asked to persist so far.
fn commit(duo: &mut Duo, idx: usize) {
    duo.pump();
    let ids = to_persist(duo, idx);
    let now = duo.now;
    duo.clients[idx].handle_persisted(now, &ids);
    duo.pump();
}

/// Delivers what `idx` has queued (once), keeping its events.
fn deliver_once(duo: &mut Duo, idx: usize) {
    let now = duo.now;
    loop {
        match duo.clients[idx].poll_output() {
            Output::Transmit(t) => {
                let to = t.peer.to_u64() as usize - 1;
                duo.clients[to].handle_frame(now, peer_of(idx), &t.bytes);
            }
            Output::Event(event) => duo.events[idx].push(event),
            Output::Timeout(_) => return,
        }
    }
}

fn post(duo: &mut Duo, idx: usize, text: &str) -> Result<EventId, SendError> {
    let now = duo.now;
    duo.clients[idx].send_text(now, UnixMillis(1), text)
}

#[test]
fn our_event_reaches_nobody_before_the_store_has_it() {
    let mut duo = stored_duo();
    duo.connect();
    commit(&mut duo, A);
    commit(&mut duo, B);
    post(&mut duo, A, "hello").unwrap();
    duo.pump();
    // Shown to us and handed to the store, but not sent, not even as a mark.
    assert_eq!(duo.texts(A), ["hello"]);
    assert!(duo.texts(B).is_empty());
    duo.wait(Duration::from_secs(11)); // an anti-entropy round: full marks go out
    assert!(duo.texts(B).is_empty());
    let me = duo.clients[A].identity().member_key();
    assert_eq!(duo.clients[B].history().mark(&me), 0);
    commit(&mut duo, A);
    assert_eq!(duo.texts(B), ["hello"]);
}

#[test]
fn alone_our_event_is_deposited_only_once_stored() {
    let mut duo = stored_duo();
    commit(&mut duo, A);
    duo.events[A].clear();
    let id = post(&mut duo, A, "for later").unwrap();
    duo.pump();
    let deposited =
        |duo: &Duo| (duo.events[A].iter()).any(|e| matches!(e, ClientEvent::MailboxDeposit { .. }));
    assert!(!deposited(&duo));
    let now = duo.now;
    duo.clients[A].handle_persisted(now, &[id]);
    duo.pump();
    assert!(deposited(&duo));
}

#[test]
fn a_failed_write_withdraws_our_unsent_events_and_their_numbers_are_signed_again() {
    let mut duo = stored_duo();
    duo.connect();
    let one = post(&mut duo, A, "one").unwrap();
    let now = duo.now;
    duo.clients[A].handle_persisted(now, &[one]);
    duo.pump();
    let two = post(&mut duo, A, "two").unwrap();
    post(&mut duo, A, "three").unwrap();
    duo.pump();
    duo.events[A].clear();
    // The write with "two" failed (storage full): "three" came after it, so it goes too.
    let now = duo.now;
    duo.clients[A].handle_persist_failed(now, &[two]);
    duo.pump();
    let not_sent: Vec<String> = duo.events[A]
        .iter()
        .find_map(|event| match event {
            ClientEvent::NotSent { events } => Some(
                events
                    .iter()
                    .filter_map(|(_, content)| match content {
                        Content::Text { text, .. } => Some(text.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        })
        .expect("the user is told");
    assert_eq!(not_sent, ["two", "three"]);
    assert!(
        duo.events[A]
            .iter()
            .any(|e| matches!(e, ClientEvent::Rebuilt))
    );
    assert_eq!(duo.texts(A), ["one"]);
    assert_eq!(duo.texts(B), ["one"]);
    // A late acknowledgement of the failed write sends nothing.
    let now = duo.now;
    duo.clients[A].handle_persisted(now, &[two]);
    duo.pump();
    assert_eq!(duo.texts(B), ["one"]);
    // The next post takes number 2 again; nobody saw the old one, so nobody is banned.
    let again = post(&mut duo, A, "two, again").unwrap();
    let now = duo.now;
    duo.clients[A].handle_persisted(now, &[again]);
    duo.pump();
    let me = duo.clients[A].identity().member_key();
    assert_eq!(duo.clients[A].history().get(&again).unwrap().event().seq, 2);
    assert_eq!(duo.texts(B), ["one", "two, again"]);
    assert!(!duo.clients[B].history().is_banned(&me));
    assert!(!duo.clients[A].history().is_banned(&me));
}

#[test]
fn a_client_without_a_store_sends_at_once() {
    let mut duo = stored_duo();
    duo.clients[A].run_without_store();
    duo.connect();
    post(&mut duo, A, "now").unwrap();
    duo.pump();
    assert_eq!(duo.texts(B), ["now"]);
}

/// Links A (initiating) and B, delivering just enough for B's marks to reach A: A's request
/// for what they name is not answered yet.
fn link_until_marks_arrive(duo: &mut Duo) {
    let now = duo.now;
    duo.clients[B].add_peer(now, peer_of(A), Role::Responder);
    duo.clients[A].add_peer(now, peer_of(B), Role::Initiator);
    deliver_once(duo, A);
    deliver_once(duo, B);
    deliver_once(duo, A);
}

/// B holds A's chain 1..=3; A comes back with an empty store (it lost its data) and links.
fn returning_author_with_an_empty_store() -> Duo {
    let mut duo = stored_duo();
    duo.connect();
    for text in ["one", "two", "three"] {
        post(&mut duo, A, text).unwrap();
        commit(&mut duo, A);
    }
    commit(&mut duo, B);
    assert_eq!(duo.texts(B), ["one", "two", "three"]);
    let now = duo.now;
    duo.clients[B].remove_peer(now, peer_of(A));
    duo.clients[A] = client_with_store(1, 9);
    duo.events = [Vec::new(), Vec::new()];
    duo.pump();
    duo
}

#[test]
fn a_restarted_author_learns_its_chain_from_a_member_before_signing() {
    let mut duo = returning_author_with_an_empty_store();
    // Handshake, then B's marks (A: 3) reach A; A's request for them is not answered yet.
    link_until_marks_arrive(&mut duo);
    deliver_once(&mut duo, B);
    assert_eq!(duo.clients[A].verified_peers().count(), 1);
    assert_eq!(post(&mut duo, A, "too soon"), Err(SendError::CatchingUp));
    duo.pump();
    assert_eq!(duo.texts(A), ["one", "two", "three"]);
    let id = post(&mut duo, A, "four").unwrap();
    commit(&mut duo, A);
    let me = duo.clients[A].identity().member_key();
    assert_eq!(duo.clients[A].history().get(&id).unwrap().event().seq, 4);
    assert_eq!(duo.texts(B), ["one", "two", "three", "four"]);
    assert!(!duo.clients[B].history().is_banned(&me));
}

#[test]
fn a_signed_event_of_ours_beyond_our_mark_holds_posting_until_the_gap_fills() {
    let mut duo = returning_author_with_an_empty_store();
    let me = duo.clients[A].identity().member_key();
    let third = duo.clients[B]
        .history()
        .range(&me, 2, 3)
        .next()
        .unwrap()
        .bytes()
        .to_vec();
    link_until_marks_arrive(&mut duo);
    // With B's marks, our own event 3 (proof that our chain is longer); A's request for
    // 1..=3 is not answered yet.
    let now = duo.now;
    assert!(duo.clients[B].dangerously_send_body_for_testing_only(
        now,
        peer_of(A),
        &Body::Events(vec![third]),
    ));
    deliver_once(&mut duo, B);
    assert_eq!(post(&mut duo, A, "too soon"), Err(SendError::CatchingUp));
    // Proof holds posting back for longer than a bare claim would.
    duo.now += HEAD_WAIT * 2;
    assert_eq!(
        post(&mut duo, A, "still too soon"),
        Err(SendError::CatchingUp)
    );
    duo.pump();
    duo.wait(Duration::from_secs(4));
    assert_eq!(duo.texts(A), ["one", "two", "three"]);
    post(&mut duo, A, "four").unwrap();
    commit(&mut duo, A);
    assert_eq!(duo.texts(B), ["one", "two", "three", "four"]);
    assert!(!duo.clients[B].history().is_banned(&me));
}

#[test]
fn a_bare_claim_on_our_chain_holds_posting_back_only_briefly_and_once() {
    let mut duo = stored_duo();
    duo.connect();
    commit(&mut duo, A);
    commit(&mut duo, B);
    let me = duo.clients[A].identity().member_key();
    let claim = |seq: u64| Body::Have {
        full: false,
        marks: vec![Mark {
            author: me,
            seq,
            head: EventId::from_bytes_for_testing_only([7; 32]),
        }],
    };
    let now = duo.now;
    duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), &claim(50));
    duo.pump();
    assert_eq!(post(&mut duo, A, "held"), Err(SendError::CatchingUp));
    duo.wait(HEAD_WAIT);
    post(&mut duo, A, "after the wait").unwrap();
    // Claiming again holds nothing back: a hostile member cannot block us for good.
    let now = duo.now;
    duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), &claim(60));
    duo.pump();
    post(&mut duo, A, "not held").unwrap();
}
