//! Mailbox unit tests: when deposits happen (the outbox rule: at publish, when the last
//! member link drops, after a restore; never what a member acknowledged or the server
//! confirmed), and what taking in entries may and may not do.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use super::super::tests::{drain, restore};
use super::super::{Client, ClientEvent, Config, Output, Role};
use super::OutboxRecord;
use crate::history::{Content, UnixMillis};
use crate::identity::Identity;
use crate::ids::PeerId;
use crate::mailbox::SealedEntry;
use crate::room::RoomSecret;
use crate::signal::{MailboxItem, MailboxSeq};
use crate::{Instant, MemberKey};

const ROOM: [u8; 32] = [5; 32];

fn client(n: u8, room: [u8; 32]) -> Client {
    let config = Config {
        display_name: format!("c{n}"),
        ..Config::default()
    };
    let mut client = Client::new(
        Identity::from_seed([n; 32]),
        RoomSecret::from_bytes(room),
        config,
        [n; 32],
    );
    // These tests are not about the store (see `own::tests` for write-ahead).
    client.run_without_store();
    client
}

fn deposits(events: &[ClientEvent]) -> Vec<SealedEntry> {
    events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::MailboxDeposit { entry, .. } => Some(entry.clone()),
            _ => None,
        })
        .collect()
}

/// The sequence numbers (in our chain) of the events deposited.
fn deposited(events: &[ClientEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::MailboxDeposit { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect()
}

/// The persisted events' bytes.
fn persisted(events: &[ClientEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Persist { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// The last outbox record reported, if any.
fn last_record(events: &[ClientEvent]) -> Option<OutboxRecord> {
    events.iter().rev().find_map(|event| match event {
        ClientEvent::PersistOutbox { record } => Some(record.clone()),
        _ => None,
    })
}

/// Alice as she starts again: her persisted events, then her outbox record.
fn restarted(stored: &[Vec<u8>], record: OutboxRecord) -> (Client, Vec<ClientEvent>) {
    let mut alice = client(1, ROOM);
    restore(&mut alice, Instant::now(), stored);
    alice.restore_outbox(record);
    let events = drain(&mut alice);
    (alice, events)
}

/// Numbers entries as a server would, from `first`.
fn page(entries: &[SealedEntry], first: u64) -> Vec<MailboxItem> {
    entries
        .iter()
        .zip(first..)
        .map(|(entry, seq)| MailboxItem {
            seq: MailboxSeq::new(seq),
            entry: entry.clone(),
        })
        .collect()
}

fn texts(client: &Client) -> Vec<(MemberKey, String)> {
    client
        .messages()
        .into_iter()
        .map(|message| (message.author, message.text))
        .collect()
}

/// Alice, alone, writes `n` messages (and an edit of the first); returns her deposits.
fn alone_writes(alice: &mut Client, now: Instant, n: u64) -> Vec<SealedEntry> {
    let mut first = None;
    for idx in 0..n {
        let id = alice
            .send_text(now, UnixMillis(1_000 + idx), &format!("m{idx}"))
            .unwrap();
        first.get_or_insert(id);
    }
    if let Some(target) = first {
        let edit = Content::Edit {
            target,
            text: "m0 (edited)".into(),
        };
        alice.post(now, UnixMillis(2_000), edit).unwrap();
    }
    deposits(&drain(alice))
}

/// Connects two clients back to back until both are quiet (`a` is peer 1 at `b`, `b` peer
/// 2 at `a`). No timer runs, so no delivery receipt is sent yet.
fn link(a: &mut Client, b: &mut Client, now: Instant) {
    link_as(a, b, (PeerId::new(1), PeerId::new(2)), now);
}

/// [`link`] with the peer ids `(a at b, b at a)`.
fn link_as(a: &mut Client, b: &mut Client, (pa, pb): (PeerId, PeerId), now: Instant) {
    b.add_peer(now, pa, Role::Responder);
    a.add_peer(now, pb, Role::Initiator);
    exchange(a, b, (pa, pb), now);
}

/// Carries frames between two linked clients until both are quiet (frames for anyone
/// else are lost).
fn exchange(a: &mut Client, b: &mut Client, (pa, pb): (PeerId, PeerId), now: Instant) {
    for _ in 0..1_000 {
        let to_b = transmits_to(a, pb);
        let to_a = transmits_to(b, pa);
        if to_a.is_empty() && to_b.is_empty() {
            return;
        }
        for bytes in to_b {
            b.handle_frame(now, pa, &bytes);
        }
        for bytes in to_a {
            a.handle_frame(now, pb, &bytes);
        }
    }
    panic!("no quiescence");
}

/// Lets a second pass on both linked clients (timers fire: catch-up, delivery receipts),
/// carrying frames between them; `a`'s events are returned, `b`'s dropped.
fn settle(a: &mut Client, b: &mut Client, now: &mut Instant) -> Vec<ClientEvent> {
    let (pa, pb) = (PeerId::new(1), PeerId::new(2));
    let mut events = Vec::new();
    for _ in 0..10 {
        *now += Duration::from_millis(150);
        a.handle_timeout(*now);
        b.handle_timeout(*now);
        for _ in 0..1_000 {
            let (to_b, a_events) = outputs(a, pb);
            let to_a = transmits_to(b, pa);
            events.extend(a_events);
            if to_a.is_empty() && to_b.is_empty() {
                break;
            }
            for bytes in to_b {
                b.handle_frame(*now, pa, &bytes);
            }
            for bytes in to_a {
                a.handle_frame(*now, pb, &bytes);
            }
        }
    }
    events
}

/// Drains `client`: the bytes of its transmits to `peer` (others are lost) and its events.
fn outputs(client: &mut Client, peer: PeerId) -> (Vec<Vec<u8>>, Vec<ClientEvent>) {
    let (mut out, mut events) = (Vec::new(), Vec::new());
    loop {
        match client.poll_output() {
            Output::Transmit(t) if t.peer == peer => out.push(t.bytes),
            Output::Transmit(_) => {}
            Output::Event(event) => events.push(event),
            Output::Timeout(_) => return (out, events),
        }
    }
}

/// Drains `client`, returning the bytes of its transmits to `peer` (events and other
/// transmits are dropped).
fn transmits_to(client: &mut Client, peer: PeerId) -> Vec<Vec<u8>> {
    outputs(client, peer).0
}

#[test]
fn deposits_happen_only_while_no_member_is_linked() {
    let now = Instant::now();
    let mut alice = client(1, ROOM);
    let mut bob = client(2, ROOM);
    drain(&mut alice);

    // Alone: every published event is deposited, sealed, as its signed bytes.
    let id = alice.send_text(now, UnixMillis(1), "alone").unwrap();
    let events = drain(&mut alice);
    let entries = deposits(&events);
    assert_eq!(entries.len(), 1);
    let persisted: Vec<&Vec<u8>> = events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Persist { bytes, .. } => Some(bytes),
            _ => None,
        })
        .collect();
    let keys = RoomSecret::from_bytes(ROOM).mailbox_keys();
    assert_eq!(&keys.open(&entries[0]).unwrap(), persisted[0]);
    // Reactions, names and edits too.
    let react = Content::React {
        target: id,
        emoji: "👍".into(),
        on: true,
    };
    alice.post(now, UnixMillis(2), react).unwrap();
    alice.set_display_name(now, UnixMillis(3), "Alice");
    let more = deposits(&drain(&mut alice));
    assert_eq!(more.len(), 2);
    // Every entry has its own nonce (bytes 1..25).
    let nonces: std::collections::BTreeSet<&[u8]> = entries
        .iter()
        .chain(&more)
        .map(|entry| &entry.as_bytes()[1..25])
        .collect();
    assert_eq!(nonces.len(), 3);

    // With Bob linked: nothing is deposited (Bob forwards it through catch-up).
    link(&mut alice, &mut bob, now);
    alice.send_text(now, UnixMillis(4), "together").unwrap();
    assert!(deposits(&drain(&mut alice)).is_empty());

    // Bob gone again before he acknowledged "together" (it never reached him): it is
    // deposited now; what was deposited before is not deposited twice.
    alice.remove_peer(now, PeerId::new(2));
    assert_eq!(deposited(&drain(&mut alice)), [4]);
    // And deposits at publish resume.
    alice.send_text(now, UnixMillis(5), "alone again").unwrap();
    assert_eq!(deposited(&drain(&mut alice)), [5]);
}

#[test]
fn the_last_link_dropping_deposits_what_no_member_acknowledged() {
    let mut now = Instant::now();
    let mut alice = client(1, ROOM);
    let mut bob = client(2, ROOM);
    let mut carol = client(3, ROOM);
    link(&mut alice, &mut bob, now);
    settle(&mut alice, &mut bob, &mut now);
    let (carol_at_alice, alice_at_carol) = (PeerId::new(3), PeerId::new(4));
    link_as(
        &mut alice,
        &mut carol,
        (alice_at_carol, carol_at_alice),
        now,
    );

    // Bob received and acknowledged the first message.
    alice.send_text(now, UnixMillis(1), "held by Bob").unwrap();
    let events = settle(&mut alice, &mut bob, &mut now);
    assert_eq!(alice.member_progress(&bob.identity().member_key()).0, 1);
    assert_eq!(last_record(&events).map(|r| r.up_to()), Some(1));
    // The next two go out while both are linked, and reach nobody (their tabs die first).
    alice
        .send_text(now, UnixMillis(2), "lost with Bob")
        .unwrap();
    alice
        .send_text(now, UnixMillis(3), "lost with Carol")
        .unwrap();
    let events = drain(&mut alice);
    assert!(deposited(&events).is_empty(), "linked: {events:?}");

    // Bob's link drops: Carol is still linked, nothing is deposited.
    alice.remove_peer(now, PeerId::new(2));
    assert!(deposited(&drain(&mut alice)).is_empty());
    // Carol's goes silent too (no goodbye): Alice is alone, and deposits the two events
    // nobody acknowledged, in order, as their signed bytes.
    now += Duration::from_secs(60);
    alice.handle_timeout(now);
    let events = drain(&mut alice);
    assert!(events.contains(&ClientEvent::PeerLeft {
        peer: carol_at_alice
    }));
    assert_eq!(deposited(&events), [2, 3]);
    let keys = RoomSecret::from_bytes(ROOM).mailbox_keys();
    let opened: Vec<Vec<u8>> = deposits(&events)
        .iter()
        .map(|entry| keys.open(entry).unwrap())
        .collect();
    let me = alice.identity().member_key();
    let expected: Vec<Vec<u8>> = [2, 3]
        .iter()
        .map(|seq| {
            let id = alice.history().id_at(&me, *seq).unwrap();
            alice.history().get(&id).unwrap().bytes().to_vec()
        })
        .collect();
    assert_eq!(opened, expected);
    // A member who had everything (Bob, back) leaves nothing to deposit.
    link(&mut alice, &mut bob, now);
    settle(&mut alice, &mut bob, &mut now);
    assert_eq!(alice.outbox_record().up_to(), 3);
    alice.remove_peer(now, PeerId::new(2));
    assert!(deposited(&drain(&mut alice)).is_empty());
}

#[test]
fn events_a_member_acknowledged_are_never_deposited() {
    let mut now = Instant::now();
    let mut alice = client(1, ROOM);
    let mut bob = client(2, ROOM);
    let mut stored = persisted(&drain(&mut alice));
    link(&mut alice, &mut bob, now);
    for idx in 0..3 {
        alice
            .send_text(now, UnixMillis(idx), &format!("live {idx}"))
            .unwrap();
    }
    let events = settle(&mut alice, &mut bob, &mut now);
    stored.extend(persisted(&events));
    assert!(deposited(&events).is_empty());
    let record = last_record(&events).expect("the receipt is reported for persisting");
    assert_eq!(record.up_to(), 3);

    // Bob leaves: nothing to deposit. Alice reloads, alone: nothing either.
    alice.remove_peer(now, PeerId::new(2));
    assert!(deposited(&drain(&mut alice)).is_empty());
    let (_, events) = restarted(&stored, record);
    assert!(deposited(&events).is_empty(), "{events:?}");
}

#[test]
fn a_restore_deposits_only_what_the_server_did_not_confirm() {
    let now = Instant::now();
    let mut alice = client(1, ROOM);
    for idx in 0..4 {
        alice
            .send_text(now, UnixMillis(idx), &format!("m{idx}"))
            .unwrap();
    }
    let events = drain(&mut alice);
    let stored = persisted(&events);
    assert_eq!(deposited(&events), [1, 2, 3, 4]);
    // The server confirms the first and the third; the others' answers never come (the
    // connection dropped, or the tab closed).
    alice.mailbox_stored(1);
    alice.mailbox_stored(3);
    let record = last_record(&drain(&mut alice)).unwrap();
    assert!(record.covers(1) && !record.covers(2) && record.covers(3) && !record.covers(4));
    let bytes = record.encode();
    assert_eq!(OutboxRecord::decode(&bytes), Ok(record.clone()));

    // Reloaded: the two unconfirmed ones go again, and only those.
    let (mut alice, events) = restarted(&stored, OutboxRecord::decode(&bytes).unwrap());
    assert_eq!(deposited(&events), [2, 4]);
    let keys = RoomSecret::from_bytes(ROOM).mailbox_keys();
    assert_eq!(
        keys.open(&deposits(&events)[0]).unwrap(),
        stored[1],
        "the same signed event"
    );
    // Without any record (first start with this rule, or the record was lost) everything
    // goes: a repeat is harmless, a loss is not.
    let (_, events) = restarted(&stored, OutboxRecord::default());
    assert_eq!(deposited(&events), [1, 2, 3, 4]);

    // Confirmed now: the watermark covers all four, and a further restart deposits nothing.
    alice.mailbox_stored(4);
    alice.mailbox_stored(2);
    let events = drain(&mut alice);
    let record = last_record(&events).unwrap();
    assert_eq!(record.up_to(), 4);
    assert_eq!(
        record.encode().len(),
        13,
        "no stray numbers beyond the watermark"
    );
    let (_, events) = restarted(&stored, record);
    assert!(deposited(&events).is_empty());
}

#[test]
fn confirmed_events_are_never_deposited_again() {
    let now = Instant::now();
    let mut alice = client(1, ROOM);
    let mut bob = client(2, ROOM);
    alice.send_text(now, UnixMillis(1), "one").unwrap();
    alice.send_text(now, UnixMillis(2), "two").unwrap();
    assert_eq!(deposited(&drain(&mut alice)), [1, 2]);
    alice.mailbox_stored(2);
    alice.mailbox_stored(1);
    // Repeated and unknown confirmations change nothing.
    drain(&mut alice);
    alice.mailbox_stored(1);
    alice.mailbox_stored(9);
    assert!(last_record(&drain(&mut alice)).is_none());

    // Bob links and drops before acknowledging anything: nothing to deposit.
    link(&mut alice, &mut bob, now);
    alice.remove_peer(now, PeerId::new(2));
    assert!(deposited(&drain(&mut alice)).is_empty());
    // Nor on restart.
    let mut stored = Vec::new();
    for seq in 1..=2 {
        let id = alice
            .history()
            .id_at(&alice.identity().member_key(), seq)
            .unwrap();
        stored.push(alice.history().get(&id).unwrap().bytes().to_vec());
    }
    let (_, events) = restarted(&stored, alice.outbox_record().clone());
    assert!(deposited(&events).is_empty());
}

#[test]
fn a_record_beyond_the_restored_chain_covers_nothing_published_later() {
    // The events were lost (say, storage was cleared) but a record says 1..=9 are held.
    let now = Instant::now();
    let record =
        OutboxRecord::decode(&hex("01 0000000000000009 00000001 000000000000000c")).unwrap();
    let (mut alice, events) = restarted(&[], record);
    assert!(deposited(&events).is_empty());
    assert_eq!(alice.outbox_record(), &OutboxRecord::default());
    // A new event 1, sent live and lost with Bob's tab, still goes to the mailbox.
    let mut bob = client(2, ROOM);
    link(&mut alice, &mut bob, now);
    alice.send_text(now, UnixMillis(1), "new").unwrap();
    drain(&mut alice);
    alice.remove_peer(now, PeerId::new(2));
    assert_eq!(deposited(&drain(&mut alice)), [1]);
}

#[test]
fn outbox_records_that_do_not_decode_are_refused() {
    let record = OutboxRecord::decode(&hex(
        "01 0000000000000002 00000002 0000000000000004 0000000000000007",
    ))
    .unwrap();
    assert!(record.covers(2) && !record.covers(3) && record.covers(4) && record.covers(7));
    for bad in [
        "",
        "02 0000000000000002 00000000",
        "01 0000000000000002 00000001",
        "01 0000000000000002 00000001 0000000000000002",
        "01 0000000000000002 00000002 0000000000000007 0000000000000004",
        "01 0000000000000002 00000000 00",
    ] {
        assert!(OutboxRecord::decode(&hex(bad)).is_err(), "{bad}");
    }
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn a_returning_member_reads_the_mailbox_in_room_order() {
    let now = Instant::now();
    let mut alice = client(1, ROOM);
    let entries = alone_writes(&mut alice, now, 5);
    assert_eq!(entries.len(), 6);
    let expected = texts(&alice);

    let mut bob = client(2, ROOM);
    let ingest = bob.handle_mailbox_entries(now, &page(&entries, 10));
    assert_eq!(
        ingest,
        super::MailboxIngest {
            up_to: Some(MailboxSeq::new(15)),
            accepted: 6,
            unreadable: 0,
            refused: 0,
        }
    );
    let events = drain(&mut bob);
    let persisted = events
        .iter()
        .filter(|event| matches!(event, ClientEvent::Persist { .. }))
        .count();
    assert_eq!(persisted, 6);
    assert!(deposits(&events).is_empty(), "intake never deposits");
    assert_eq!(texts(&bob), expected);
    assert_eq!(texts(&bob)[0].1, "m0 (edited)");
    assert_eq!(texts(&bob)[0].0, alice.identity().member_key());
}

#[test]
fn history_order_does_not_depend_on_the_order_entries_are_served() {
    let now = Instant::now();
    let mut alice = client(1, ROOM);
    let entries = alone_writes(&mut alice, now, 6);
    let served = page(&entries, 1);
    let expected: Vec<_> = alice.history().ids().collect();

    let mut orders: Vec<Vec<MailboxItem>> = vec![served.clone()];
    orders.push(served.iter().rev().cloned().collect());
    let mut rotated = served.clone();
    rotated.rotate_left(3);
    orders.push(rotated);
    for order in orders {
        // All in one page, and one entry per page.
        let mut whole = client(2, ROOM);
        whole.handle_mailbox_entries(now, &order);
        let mut single = client(3, ROOM);
        for item in &order {
            single.handle_mailbox_entries(now, std::slice::from_ref(item));
        }
        for bob in [&whole, &single] {
            assert_eq!(bob.history().ids().collect::<Vec<_>>(), expected);
            assert_eq!(texts(bob), texts(&alice));
        }
    }
}

#[test]
fn duplicates_are_harmless() {
    let now = Instant::now();
    let mut alice = client(1, ROOM);
    let entries = alone_writes(&mut alice, now, 3);
    let mut bob = client(2, ROOM);
    let first = bob.handle_mailbox_entries(now, &page(&entries, 1));
    drain(&mut bob);
    // The same page again (a replay), and the same entries under other numbers.
    for again in [page(&entries, 1), page(&entries, 40)] {
        let ingest = bob.handle_mailbox_entries(now, &again);
        assert_eq!(ingest.accepted, 0);
        assert_eq!((ingest.unreadable, ingest.refused), (0, 0));
        let events = drain(&mut bob);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::Message(_) | ClientEvent::Persist { .. })),
            "{events:?}"
        );
    }
    assert_eq!(first.accepted, 4);
    assert_eq!(bob.history().len(), 4);
    // Alice reading her own deposits back changes nothing either.
    let before = texts(&alice);
    assert_eq!(
        alice
            .handle_mailbox_entries(now, &page(&entries, 1))
            .accepted,
        0
    );
    assert_eq!(texts(&alice), before);
}

#[test]
fn foreign_tampered_and_forged_entries_are_dropped() {
    let now = Instant::now();
    let keys = RoomSecret::from_bytes(ROOM).mailbox_keys();

    // Carol's event in another room, deposited there: does not open here.
    let mut carol = client(3, [6; 32]);
    let foreign = alone_writes(&mut carol, now, 1);
    // The same event sealed with this room's keys (someone holding both secrets moved
    // it): opens, but its signature binds the other room.
    let other_room_event = RoomSecret::from_bytes([6; 32])
        .mailbox_keys()
        .open(&foreign[0])
        .unwrap();
    let moved = keys.seal([1; 24], &other_room_event).unwrap();
    // Not an event at all.
    let garbage = keys.seal([2; 24], b"not an event").unwrap();
    // One of Alice's entries with a flipped bit.
    let mut alice = client(1, ROOM);
    let genuine = alone_writes(&mut alice, now, 2);
    let mut bytes = genuine[0].as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = SealedEntry::from_bytes(bytes).unwrap();
    // An event re-signed by nobody: Alice's bytes with a changed text byte, resealed.
    let mut forged = keys.open(&genuine[1]).unwrap();
    let idx = forged.len() - 70;
    forged[idx] ^= 1;
    let forged = keys.seal([3; 24], &forged).unwrap();

    let mut bob = client(2, ROOM);
    let bad = [foreign[0].clone(), moved, garbage, tampered, forged];
    let ingest = bob.handle_mailbox_entries(now, &page(&bad, 1));
    assert_eq!(
        ingest,
        super::MailboxIngest {
            up_to: Some(MailboxSeq::new(5)),
            accepted: 0,
            unreadable: 2,
            refused: 3,
        }
    );
    let events = drain(&mut bob);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(bob.history().len(), 0);

    // The genuine entries still go in afterwards.
    let ingest = bob.handle_mailbox_entries(now, &page(&genuine, 6));
    assert_eq!(ingest.accepted, 3);
    assert_eq!(texts(&bob), texts(&alice));
    // An empty page changes nothing and moves no cursor.
    assert_eq!(
        bob.handle_mailbox_entries(now, &[]),
        super::MailboxIngest::default()
    );
}
