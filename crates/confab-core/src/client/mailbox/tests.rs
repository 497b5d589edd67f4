//! Mailbox unit tests: when deposits happen, and what taking in entries may and may not do.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::{Client, Config, Event, Output, Role};
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
    Client::new(
        Identity::from_seed([n; 32]),
        RoomSecret::from_bytes(room),
        config,
        [n; 32],
    )
}

/// Drains `client`, returning its events (transmits are dropped: nobody is linked).
fn drain(client: &mut Client) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        match client.poll_output() {
            Output::Transmit(_) => {}
            Output::Event(event) => events.push(event),
            Output::Timeout(_) => return events,
        }
    }
}

fn deposits(events: &[Event]) -> Vec<SealedEntry> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::MailboxDeposit { entry } => Some(entry.clone()),
            _ => None,
        })
        .collect()
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

/// Connects two clients back to back until both are quiet.
fn link(a: &mut Client, b: &mut Client, now: Instant) {
    let (pa, pb) = (PeerId::new(1), PeerId::new(2));
    b.add_peer(now, pa, Role::Responder);
    a.add_peer(now, pb, Role::Initiator);
    for _ in 0..1_000 {
        let to_b = transmits(a);
        let to_a = transmits(b);
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

/// Drains `client`, returning its transmits' bytes (events are dropped).
fn transmits(client: &mut Client) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match client.poll_output() {
            Output::Transmit(t) => out.push(t.bytes),
            Output::Event(_) => {}
            Output::Timeout(_) => return out,
        }
    }
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
            Event::Persist { bytes, .. } => Some(bytes),
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

    // Bob gone again: deposits resume.
    alice.remove_peer(now, PeerId::new(2));
    alice.send_text(now, UnixMillis(5), "alone again").unwrap();
    assert_eq!(deposits(&drain(&mut alice)).len(), 1);
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
        .filter(|event| matches!(event, Event::Persist { .. }))
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
                .any(|e| matches!(e, Event::Message(_) | Event::Persist { .. })),
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
