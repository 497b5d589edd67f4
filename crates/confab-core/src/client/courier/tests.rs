//! Courier unit tests: deposits paced under the announced allowance, a `rate-limited`
//! deposit sent again once it refills, answers matched to deposits, and fetches on
//! `joined` and on `mailbox-new` (coalesced while one is under way).

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use super::super::tests::{client, drain};
use super::super::{Client, ClientEvent};
use super::{Courier, DEFAULT_PUTS_PER_MINUTE, LEFT_EVERY, Refused};
use crate::Instant;
use crate::client::govern::tests::mesh::Mesh;
use crate::history::UnixMillis;
use crate::ids::{PeerId, RoomId};
use crate::mailbox::SealedEntry;
use crate::signal::{ClientMessage, ErrorCode, MailboxItem, MailboxReply, MailboxSeq};

const SERVER_PEER: PeerId = PeerId::new(77);

/// What the courier asked the server, in a form easy to compare.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Put(SealedEntry),
    Fetch(u64),
    Ack(u64),
}

/// Everything the courier has to send, in order.
fn sent(courier: &mut Courier) -> Vec<Request> {
    std::iter::from_fn(|| courier.poll_transmit())
        .map(|message| match message {
            ClientMessage::MailboxPut { entry, .. } => Request::Put(entry),
            ClientMessage::MailboxFetch { after, .. } => Request::Fetch(after.to_u64()),
            ClientMessage::MailboxAck { up_to, .. } => Request::Ack(up_to.to_u64()),
            other => panic!("not a mailbox request: {other:?}"),
        })
        .collect()
}

fn puts(requests: &[Request]) -> Vec<SealedEntry> {
    requests
        .iter()
        .filter_map(|request| match request {
            Request::Put(entry) => Some(entry.clone()),
            _ => None,
        })
        .collect()
}

/// A client alone that writes `n` messages: it and its deposits, (seq, entry), in order.
fn writer(n: u8, now: Instant, n_messages: u64) -> (Client, Vec<(u64, SealedEntry)>) {
    let mut alice = client(n);
    for idx in 0..n_messages {
        alice
            .send_text(now, UnixMillis(1_000 + idx), &format!("m{idx}"))
            .unwrap();
    }
    let deposits = drain(&mut alice)
        .into_iter()
        .filter_map(|event| match event {
            ClientEvent::MailboxDeposit { seq, entry, .. } => Some((seq, entry)),
            _ => None,
        })
        .collect();
    (alice, deposits)
}

/// A courier connected and joined with the allowance `per_minute` (its first fetch is
/// taken), holding `deposits`.
fn connected(
    client: &Client,
    now: Instant,
    per_minute: u32,
    deposits: &[(u64, SealedEntry)],
) -> (Courier, Vec<Request>) {
    let mut courier = Courier::new(client.room_id());
    for (seq, entry) in deposits {
        courier.deposit(now, client, *seq, client.room_id(), entry.clone());
    }
    assert_eq!(sent(&mut courier), [], "nothing goes out before joined");
    courier.handle_welcome(now, SERVER_PEER, per_minute);
    assert_eq!(sent(&mut courier), [], "nothing goes out before joined");
    courier.handle_joined(now, client);
    let mut requests = sent(&mut courier);
    assert_eq!(requests.remove(0), Request::Fetch(0));
    (courier, requests)
}

fn entries(room: RoomId, items: &[(u64, SealedEntry)], more: bool) -> MailboxReply {
    MailboxReply::MailboxEntries {
        room,
        entries: items
            .iter()
            .map(|(seq, entry)| MailboxItem {
                seq: MailboxSeq::new(*seq),
                entry: entry.clone(),
            })
            .collect(),
        more,
    }
}

fn stored(room: RoomId) -> MailboxReply {
    MailboxReply::MailboxStored {
        room,
        seq: MailboxSeq::new(1),
    }
}

fn notice(room: RoomId, seq: u64) -> MailboxReply {
    MailboxReply::MailboxNew {
        room,
        seq: MailboxSeq::new(seq),
    }
}

#[test]
fn deposits_go_out_paced_under_the_announced_allowance() {
    let now = Instant::now();
    let (mut alice, deposits) = writer(1, now, 5);
    let all: Vec<SealedEntry> = deposits.iter().map(|(_, entry)| entry.clone()).collect();
    // Three a minute: three at once (the server's bucket starts full), then one per 20 s.
    let (mut courier, requests) = connected(&alice, now, 3, &deposits);
    assert_eq!(puts(&requests), all[..3]);
    assert_eq!(courier.n_queued(), 2);
    let due = now + Duration::from_secs(20);
    assert_eq!(courier.poll_timeout(), Some(due));
    courier.handle_timeout(due - Duration::from_millis(1), &alice);
    assert_eq!(sent(&mut courier), []);
    courier.handle_timeout(due, &alice);
    assert_eq!(puts(&sent(&mut courier)), all[3..4]);
    assert_eq!(courier.poll_timeout(), Some(due + Duration::from_secs(20)));
    courier.handle_timeout(due + Duration::from_secs(20), &alice);
    assert_eq!(puts(&sent(&mut courier)), all[4..]);
    assert_eq!(courier.poll_timeout(), None, "nothing waits");

    // A deposit published later waits its turn too.
    let later = due + Duration::from_secs(21);
    alice.send_text(later, UnixMillis(9_000), "late").unwrap();
    let (seq, entry) = drain(&mut alice)
        .into_iter()
        .find_map(|event| match event {
            ClientEvent::MailboxDeposit { seq, entry, .. } => Some((seq, entry)),
            _ => None,
        })
        .unwrap();
    courier.deposit(later, &alice, seq, alice.room_id(), entry.clone());
    assert_eq!(sent(&mut courier), [], "one token is 20 s away");
    assert_eq!(courier.poll_timeout(), Some(due + Duration::from_secs(40)));
    courier.handle_timeout(due + Duration::from_secs(40), &alice);
    assert_eq!(sent(&mut courier), [Request::Put(entry)]);
}

#[test]
fn a_server_that_does_not_announce_its_allowance_gets_the_default() {
    let now = Instant::now();
    let (alice, deposits) = writer(1, now, 1);
    let (_, entry) = deposits[0].clone();
    let mut courier = Courier::new(alice.room_id());
    courier.handle_welcome(now, SERVER_PEER, 0);
    courier.handle_joined(now, &alice);
    sent(&mut courier);
    let n = DEFAULT_PUTS_PER_MINUTE as usize + 5;
    for seq in 0..n {
        courier.deposit(now, &alice, seq as u64 + 1, alice.room_id(), entry.clone());
    }
    assert_eq!(
        puts(&sent(&mut courier)).len(),
        DEFAULT_PUTS_PER_MINUTE as usize
    );
    assert_eq!(courier.n_queued(), 5);
    assert_eq!(
        courier.poll_timeout(),
        Some(now + Duration::from_millis(500))
    );
}

#[test]
fn a_deposit_refused_as_too_many_goes_again_once_the_allowance_refills() {
    let now = Instant::now();
    let (mut alice, deposits) = writer(1, now, 3);
    let all: Vec<SealedEntry> = deposits.iter().map(|(_, entry)| entry.clone()).collect();
    let room = alice.room_id();
    let (mut courier, requests) = connected(&alice, now, 120, &deposits);
    assert_eq!(puts(&requests), all);
    // The address's allowance (shared by the tab's rooms) refuses the first.
    let refused = courier.handle_error(now, &alice, ErrorCode::RateLimited);
    assert_eq!(refused, Refused::DepositDeferred);
    assert_eq!(sent(&mut courier), [], "not at once");
    assert_eq!(courier.n_queued(), 1);
    let due = now + Duration::from_millis(500);
    assert_eq!(courier.poll_timeout(), Some(due));
    courier.handle_timeout(due, &alice);
    assert_eq!(sent(&mut courier), [Request::Put(all[0].clone())]);
    // The other answers can no longer be matched: nothing is confirmed on this
    // connection, and what it did not confirm goes again on the next.
    for _ in 0..3 {
        courier.handle_reply(due, &mut alice, stored(room));
    }
    assert!(!alice.outbox_record().covers(1));
    assert!(
        !drain(&mut alice)
            .iter()
            .any(|e| matches!(e, ClientEvent::PersistOutbox { .. }))
    );
    courier.disconnected();
    assert_eq!(courier.n_queued(), 3);
    courier.handle_welcome(due, SERVER_PEER, 120);
    courier.handle_joined(due, &alice);
    let again = sent(&mut courier);
    assert_eq!(again[0], Request::Fetch(0));
    assert_eq!(puts(&again).len(), 3);
}

#[test]
fn answers_confirm_deposits_in_order_and_errors_no_deposit_gets_leave_that_alone() {
    let now = Instant::now();
    let (mut alice, deposits) = writer(1, now, 3);
    let room = alice.room_id();
    let (mut courier, _) = connected(&alice, now, 120, &deposits);
    courier.handle_reply(now, &mut alice, stored(room));
    assert!(alice.outbox_record().covers(1));
    // A signal to someone who left: not an answer to a deposit.
    let refused = courier.handle_error(now, &alice, ErrorCode::UnknownPeer);
    assert_eq!(refused, Refused::Nothing);
    courier.handle_reply(now, &mut alice, stored(room));
    assert!(alice.outbox_record().covers(2));
    // An error a deposit may get: taken as the third's, and nothing is confirmed after.
    let refused = courier.handle_error(now, &alice, ErrorCode::MailboxFull);
    assert_eq!(refused, Refused::Deposit);
    assert!(!alice.outbox_record().covers(3));
    assert_eq!(courier.n_queued(), 0, "not on this connection");
    courier.disconnected();
    assert_eq!(courier.n_queued(), 1, "again on the next");
}

#[test]
fn a_notice_fetches_from_the_cursor_and_notices_during_a_fetch_cost_one_more() {
    let now = Instant::now();
    let (_, bobs) = writer(2, now, 3);
    let mut alice = client(1);
    let room = alice.room_id();
    let numbered: Vec<(u64, SealedEntry)> = bobs
        .iter()
        .zip(10..)
        .map(|((_, entry), seq)| (seq, entry.clone()))
        .collect();

    // Not connected, not joined, or another room: nothing.
    let mut courier = Courier::new(room);
    courier.handle_reply(now, &mut alice, notice(room, 10));
    courier.handle_welcome(now, SERVER_PEER, 120);
    courier.handle_reply(now, &mut alice, notice(room, 10));
    assert_eq!(sent(&mut courier), []);
    courier.handle_joined(now, &alice);
    assert_eq!(sent(&mut courier), [Request::Fetch(0)]);
    let other = RoomId::from_bytes([9; 32]);

    // The joined fetch is under way: notices only mark one more as due.
    for seq in 10..13 {
        courier.handle_reply(now, &mut alice, notice(room, seq));
    }
    courier.handle_reply(now, &mut alice, notice(other, 50));
    assert_eq!(sent(&mut courier), []);
    let ingest = courier.handle_reply(now, &mut alice, entries(room, &numbered[..1], false));
    assert_eq!(ingest.unwrap().accepted, 1);
    assert_eq!(sent(&mut courier), [Request::Ack(10), Request::Fetch(10)]);
    assert_eq!(courier.take_unsaved_cursor(), Some(MailboxSeq::new(10)));
    courier.handle_reply(now, &mut alice, entries(room, &numbered[1..], false));
    assert_eq!(sent(&mut courier), [Request::Ack(12)], "no third fetch");
    assert_eq!(courier.cursor(), MailboxSeq::new(12));
    assert_eq!(alice.messages().len(), 3);

    // A notice for what was read already fetches nothing; a newer one fetches once.
    courier.handle_reply(now, &mut alice, notice(room, 12));
    courier.handle_reply(now, &mut alice, notice(other, 13));
    assert_eq!(sent(&mut courier), []);
    courier.handle_reply(now, &mut alice, notice(room, 13));
    assert_eq!(sent(&mut courier), [Request::Fetch(12)]);
    courier.handle_reply(now, &mut alice, notice(room, 14));
    courier.handle_reply(now, &mut alice, entries(room, &[], false));
    assert_eq!(sent(&mut courier), [Request::Fetch(12)], "the one due");
    // A refused fetch ends it too, and the next notice fetches again.
    courier.handle_reply(now, &mut alice, notice(room, 15));
    assert_eq!(
        courier.handle_error(now, &alice, ErrorCode::MailboxUnavailable),
        Refused::Fetch
    );
    assert_eq!(sent(&mut courier), [Request::Fetch(12)]);
    courier.handle_reply(now, &mut alice, entries(room, &[], false));
    courier.handle_reply(now, &mut alice, notice(room, 16));
    assert_eq!(sent(&mut courier), [Request::Fetch(12)]);

    // A new connection forgets the notice due: its joined fetch covers it.
    courier.handle_reply(now, &mut alice, notice(room, 17));
    courier.disconnected();
    courier.handle_welcome(now, SERVER_PEER, 120);
    courier.handle_joined(now, &alice);
    assert_eq!(sent(&mut courier), [Request::Fetch(12)]);
    courier.handle_reply(now, &mut alice, entries(room, &[], false));
    assert_eq!(sent(&mut courier), []);
}

#[test]
fn pages_are_fetched_until_the_last() {
    let now = Instant::now();
    let (_, bobs) = writer(2, now, 2);
    let mut alice = client(1);
    let room = alice.room_id();
    let mut courier = Courier::new(room);
    courier.set_cursor(MailboxSeq::new(4));
    courier.handle_welcome(now, SERVER_PEER, 120);
    courier.handle_joined(now, &alice);
    assert_eq!(sent(&mut courier), [Request::Fetch(4)]);
    courier.handle_reply(
        now,
        &mut alice,
        entries(room, &[(5, bobs[0].1.clone())], true),
    );
    assert_eq!(sent(&mut courier), [Request::Ack(5), Request::Fetch(5)]);
    courier.handle_reply(
        now,
        &mut alice,
        entries(room, &[(6, bobs[1].1.clone())], false),
    );
    assert_eq!(sent(&mut courier), [Request::Ack(6)]);
    // Another room's page is not ours.
    let other = RoomId::from_bytes([9; 32]);
    assert_eq!(
        courier.handle_reply(
            now,
            &mut alice,
            entries(other, &[(7, bobs[1].1.clone())], false)
        ),
        None
    );
    assert_eq!(sent(&mut courier), []);
}

/// The client moved to a new epoch's room: the courier reads that room's mailbox from the
/// cursor it is given once the app joined it, ignores what the old room still answers, and
/// a deposit naming the old room still goes.
#[test]
fn a_moved_courier_reads_the_new_rooms_mailbox_and_keeps_queued_deposits() {
    let now = Instant::now();
    let (_, bobs) = writer(2, now, 2);
    let (mut alice, ours) = writer(1, now, 1);
    let room = alice.room_id();
    let (mut courier, requests) = connected(&alice, now, 120, &[]);
    assert_eq!(requests, []);
    let numbered: Vec<(u64, SealedEntry)> = bobs
        .iter()
        .zip(5..)
        .map(|((_, entry), seq)| (seq, entry.clone()))
        .collect();
    courier.handle_reply(now, &mut alice, entries(room, &numbered[..1], false));
    assert_eq!(courier.cursor(), MailboxSeq::new(5));
    let _ = sent(&mut courier);

    let new_room = RoomId::from_bytes([9; 32]);
    courier.move_to(new_room, MailboxSeq::new(3));
    assert_eq!(
        (courier.room(), courier.cursor()),
        (new_room, MailboxSeq::new(3))
    );
    // The old room's answers and anything before the new room's `joined` do nothing.
    assert!(
        courier
            .handle_reply(now, &mut alice, entries(room, &numbered[1..], false))
            .is_none()
    );
    courier.handle_reply(now, &mut alice, notice(new_room, 9));
    let (seq, entry) = ours[0].clone();
    courier.deposit(now, &alice, seq, room, entry.clone());
    assert_eq!(sent(&mut courier), []);
    assert_eq!(alice.messages().len(), 2, "ours and Bob's first");
    courier.handle_joined(now, &alice);
    assert_eq!(sent(&mut courier), [Request::Fetch(3), Request::Put(entry)]);
}

/// The rooms and cursors of the fetches the courier asks, in order (other requests
/// dropped).
fn fetches(courier: &mut Courier) -> Vec<(RoomId, u64)> {
    std::iter::from_fn(|| courier.poll_transmit())
        .filter_map(|message| match message {
            ClientMessage::MailboxFetch { room, after, .. } => Some((room, after.to_u64())),
            _ => None,
        })
        .collect()
}

/// Ben, cut off, never hears of the reset and writes on in the epoch the others left:
/// his message waits in that epoch's mailbox. Ann's courier reads her room's mailbox and
/// the left epoch's: Ben's message reaches her. Ten minutes on it reads the left one
/// again, from where it got to. (Before, only the room's own mailbox was read.)
#[test]
fn the_mailboxes_of_left_epochs_are_read_on_joining_and_again_later() {
    let mut mesh = Mesh::found(3);
    let (owner, ann, ben) = (0, 1, 2);
    let old_room = mesh.clients[ann].room_id();
    mesh.unlink_all(ben);
    mesh.rekey(owner);
    let new_room = mesh.clients[ann].room_id();
    assert_ne!(new_room, old_room);
    assert_eq!(
        mesh.clients[ann].left_rooms().collect::<Vec<_>>(),
        [old_room]
    );
    mesh.post(ben, "written in the old epoch");
    let now = mesh.now;
    let mut courier = Courier::new(new_room);
    courier.handle_welcome(now, SERVER_PEER, 120);
    courier.handle_joined(now, &mesh.clients[ann]);
    assert_eq!(fetches(&mut courier), [(new_room, 0), (old_room, 0)]);
    let items = mesh.mailbox(old_room);
    let last = items.last().unwrap().seq;
    let page = MailboxReply::MailboxEntries {
        room: old_room,
        entries: items,
        more: false,
    };
    let ingest = courier
        .handle_reply(now, &mut mesh.clients[ann], page)
        .unwrap();
    assert!(ingest.accepted > 0);
    mesh.pump();
    assert!(
        mesh.texts(ann)
            .contains(&"written in the old epoch".to_owned())
    );
    assert_eq!(fetches(&mut courier), []);
    // Its cursor and the room's are apart; the next round comes after LEFT_EVERY.
    assert_eq!(courier.cursor(), MailboxSeq::default());
    assert_eq!(courier.poll_timeout(), Some(now + LEFT_EVERY));
    courier.handle_timeout(now + LEFT_EVERY / 2, &mesh.clients[ann]);
    assert_eq!(fetches(&mut courier), []);
    courier.handle_timeout(now + LEFT_EVERY, &mesh.clients[ann]);
    assert_eq!(fetches(&mut courier), [(old_room, last.to_u64())]);
}
