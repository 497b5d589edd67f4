//! Receipts unit tests: a member's receipt (only forward, read only once held), the
//! record's encoding (round trip, corrupt records refused, the member cap), restoring it
//! (progress and events come back, banned members and claims beyond our chain do not), and
//! coalescing (one report per burst, at a timer or when a link goes).

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use super::super::ClientEvent;
use super::super::tests::{A, B, Duo, client, drain, peer_of, restore};
use super::{MAX_RECEIPT_MEMBERS, MemberReceipt, PERSIST_RECEIPTS_AFTER, ReceiptsRecord};
use crate::history::{OrderKey, UnixMillis};
use crate::{Instant, MemberKey};

fn key(n: u8) -> MemberKey {
    MemberKey::from_bytes([n; 32])
}

fn order_key(lamport: u64, author: u8, seq: u64) -> OrderKey {
    OrderKey {
        lamport,
        author: key(author),
        seq,
    }
}

impl Duo {
    /// A posts, B catches up and reads it; A hears both receipts.
    fn post_and_read(&mut self, text: &str) -> OrderKey {
        let now = self.now;
        self.clients[A].send_text(now, UnixMillis(1), text).unwrap();
        self.pump();
        // B's delivery receipt goes out after its announcement delay.
        self.wait(Duration::from_millis(300));
        let key = self.clients[B].messages().last().unwrap().key;
        let now = self.now;
        self.clients[B].mark_read(now, key);
        self.pump();
        key
    }

    /// The receipts records A reported, in order.
    fn reported(&self) -> Vec<ReceiptsRecord> {
        self.events[A]
            .iter()
            .filter_map(|event| match event {
                ClientEvent::PersistReceipts { record } => Some(record.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_member_receipt_only_moves_forward() {
    let mut receipt = MemberReceipt::default();
    receipt.advance(Some(3), Some(order_key(5, 1, 2)));
    // An older delivery or read marker (reordered, or restored after a newer one) is
    // ignored; neither moves the other.
    receipt.advance(Some(2), Some(order_key(4, 9, 9)));
    receipt.advance(None, None);
    assert_eq!(
        receipt,
        MemberReceipt {
            delivered: 3,
            read: Some(order_key(5, 1, 2)),
        }
    );
    receipt.advance(None, Some(order_key(6, 1, 1)));
    receipt.advance(Some(4), None);
    assert_eq!(
        receipt,
        MemberReceipt {
            delivered: 4,
            read: Some(order_key(6, 1, 1)),
        }
    );
}

#[test]
fn a_message_counts_as_read_only_once_it_is_held() {
    // Our 3rd event, at Lamport time 7.
    let ours = order_key(7, 1, 3);
    let receipt = |delivered, read| MemberReceipt { delivered, read };
    // Read past it (a concurrent message ordered after ours) without holding it: neither.
    let unheld = receipt(2, Some(order_key(9, 2, 1)));
    assert!(!unheld.holds(&ours) && !unheld.has_read(&ours));
    // Held, read marker before it: delivered, not read.
    let behind = receipt(3, Some(order_key(6, 2, 1)));
    assert!(behind.holds(&ours) && !behind.has_read(&ours));
    // Held, no read marker at all.
    assert!(!receipt(5, None).has_read(&ours));
    // Held and read at it, or past it.
    assert!(receipt(3, Some(ours)).has_read(&ours));
    assert!(receipt(4, Some(order_key(9, 2, 1))).has_read(&ours));
}

#[test]
fn a_record_round_trips_byte_exactly() {
    let record = ReceiptsRecord::new([
        (key(9), 3, Some(order_key(7, 1, 2))),
        (key(2), 5, None),
        // Says nothing: left out.
        (key(4), 0, None),
    ]);
    assert_eq!(record.len(), 2);
    let bytes = record.encode();
    let expected = [
        &[1u8, 0, 2][..],
        &[2; 32],
        &5u64.to_be_bytes(),
        &[0],
        &[9; 32],
        &3u64.to_be_bytes(),
        &[1],
        &7u64.to_be_bytes(),
        &[1; 32],
        &2u64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(bytes, expected);
    assert_eq!(ReceiptsRecord::decode(&bytes), Ok(record.clone()));
    assert_eq!(record.get(&key(9)), Some((3, Some(order_key(7, 1, 2)))));
    assert_eq!(
        ReceiptsRecord::decode(&[1, 0, 0]),
        Ok(ReceiptsRecord::default())
    );
}

#[test]
fn a_corrupt_record_is_refused_whole() {
    let record = ReceiptsRecord::new([(key(2), 5, None), (key(9), 3, Some(order_key(7, 1, 2)))]);
    let good = record.encode();
    let mut cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![1],
        vec![1, 0],
        // Another version.
        [&[0u8][..], &good[1..]].concat(),
        [&[2u8][..], &good[1..]].concat(),
        // A byte missing, a byte left over.
        good[..good.len() - 1].to_vec(),
        [&good[..], &[0]].concat(),
        // One member more than it holds.
        [&[1u8, 0, 3][..], &good[3..]].concat(),
        // More members than a room has.
        [&[1u8][..], &(MAX_RECEIPT_MEMBERS as u16 + 1).to_be_bytes()].concat(),
    ];
    // A read flag other than 0 or 1.
    let mut flag = good.clone();
    flag[3 + 32 + 8] = 2;
    cases.push(flag);
    // Members out of order (and repeated).
    let first = &good[3..3 + 41];
    let second = &good[3 + 41..];
    cases.push([&good[..3], second, first].concat());
    cases.push([&good[..3], first, first].concat());
    for case in cases {
        assert!(ReceiptsRecord::decode(&case).is_err(), "{case:?}");
    }
}

#[test]
fn a_record_keeps_the_members_whose_receipts_cover_most() {
    let receipts = (0..300u64).map(|n| {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        (MemberKey::from_bytes(bytes), n + 1, None)
    });
    let record = ReceiptsRecord::new(receipts);
    assert_eq!(record.len(), MAX_RECEIPT_MEMBERS);
    let bytes = record.encode();
    let decoded = ReceiptsRecord::decode(&bytes).unwrap();
    // The 44 who hold least of our chain were dropped.
    let mut lowest = [0u8; 32];
    lowest[..8].copy_from_slice(&43u64.to_be_bytes());
    assert_eq!(decoded.get(&MemberKey::from_bytes(lowest)), None);
    lowest[..8].copy_from_slice(&44u64.to_be_bytes());
    assert_eq!(
        decoded.get(&MemberKey::from_bytes(lowest)),
        Some((45, None))
    );
}

#[test]
fn receipts_moving_are_reported_once_per_burst_at_a_timer() {
    let mut duo = Duo::new();
    duo.connect();
    let read = duo.post_and_read("hello");
    let b_key = duo.clients[B].identity().member_key();
    assert_eq!(duo.clients[A].member_progress(&b_key), (1, Some(read)));
    // Both receipts arrived, nothing reported yet: a timer before the delay does nothing.
    assert!(duo.reported().is_empty());
    duo.wait(PERSIST_RECEIPTS_AFTER / 4);
    assert!(duo.reported().is_empty());
    // The next timer after it reports everything, once.
    duo.wait(PERSIST_RECEIPTS_AFTER);
    let reported = duo.reported();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].get(&b_key), Some((1, Some(read))));
    assert_eq!(reported[0], duo.clients[A].receipts_record());
    // Quiet receipts are not reported again.
    duo.wait(Duration::from_secs(3));
    assert_eq!(duo.reported().len(), 1);
    // A link going reports at once what moved since.
    let read = duo.post_and_read("again");
    assert_eq!(duo.reported().len(), 1);
    let now = duo.now;
    duo.clients[A].remove_peer(now, peer_of(B));
    duo.pump();
    let reported = duo.reported();
    assert_eq!(reported.len(), 2);
    assert_eq!(reported[1].get(&b_key), Some((2, Some(read))));
}

#[test]
fn restored_receipts_show_before_anyone_links() {
    let mut duo = Duo::new();
    duo.connect();
    duo.post_and_read("one");
    let read = duo.post_and_read("two");
    duo.wait(PERSIST_RECEIPTS_AFTER * 2);
    let record = duo.reported().pop().unwrap();
    let bytes = record.encode();
    let b_key = duo.clients[B].identity().member_key();
    // A reloads alone: history first, then the record.
    let stored: Vec<Vec<u8>> = duo.clients[A]
        .history()
        .iter()
        .map(|event| event.bytes().to_vec())
        .collect();
    let mut alice = client(1);
    restore(&mut alice, duo.now, &stored);
    assert_eq!(alice.member_progress(&b_key), (0, None));
    alice.restore_receipts(ReceiptsRecord::decode(&bytes).unwrap());
    assert_eq!(alice.member_progress(&b_key), (2, Some(read)));
    let events = drain(&mut alice);
    assert!(events.contains(&ClientEvent::Delivered {
        member: b_key,
        up_to: 2
    }));
    assert!(events.contains(&ClientEvent::Read {
        member: b_key,
        up_to: read
    }));
    // Restoring is not a move: nothing to persist again.
    alice.handle_timeout(duo.now + Duration::from_secs(5));
    assert!(
        !drain(&mut alice)
            .iter()
            .any(|event| matches!(event, ClientEvent::PersistReceipts { .. }))
    );
    // Restoring again, or an older record, changes nothing.
    alice.restore_receipts(ReceiptsRecord::new([(b_key, 1, None)]));
    assert!(drain(&mut alice).is_empty());
    assert_eq!(alice.member_progress(&b_key), (2, Some(read)));
}

#[test]
fn a_restored_delivery_beyond_our_chain_counts_up_to_its_head() {
    let mut alice = client(1);
    let now = Instant::now();
    alice.send_text(now, UnixMillis(1), "only one").unwrap();
    drain(&mut alice);
    // A record from a longer chain (events lost since), and a member who only read.
    alice.restore_receipts(ReceiptsRecord::new([
        (key(7), 40, None),
        (key(8), 0, Some(order_key(3, 1, 1))),
    ]));
    assert_eq!(alice.member_progress(&key(7)), (1, None));
    assert_eq!(
        alice.member_progress(&key(8)),
        (0, Some(order_key(3, 1, 1)))
    );
    let events = drain(&mut alice);
    assert_eq!(events.len(), 2, "{events:?}");
}

#[test]
fn a_forged_receipt_beyond_our_chain_neither_shows_nor_stops_a_deposit() {
    use crate::client::Output;
    use crate::ids::EventId;
    use crate::wire::{Body, Mark};
    let mut duo = Duo::new();
    duo.connect();
    duo.post_and_read("one");
    let me = duo.clients[A].identity().member_key();
    let member = duo.clients[B].identity().member_key();
    // B claims to hold our chain up to 100 and to have read far beyond it.
    let forged_have = Body::Have {
        full: false,
        marks: vec![Mark {
            author: me,
            seq: 100,
            head: EventId::from_bytes_for_testing_only([7; 32]),
        }],
    };
    let forged_read = Body::Read {
        up_to: OrderKey {
            lamport: 1_000_000,
            author: me,
            seq: 100,
        },
    };
    duo.events[A].clear();
    let now = duo.now;
    for body in [&forged_have, &forged_read] {
        duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), body);
    }
    duo.pump();
    assert!(
        !duo.events[A].iter().any(|event| matches!(
            event,
            ClientEvent::Delivered { up_to, .. } if *up_to > 1
        ) || matches!(event, ClientEvent::Read { up_to, .. } if up_to.seq > 1)),
        "a receipt for events that do not exist was believed"
    );
    let (delivered, read) = duo.clients[A].member_progress(&member);
    assert_eq!(delivered, 1);
    assert_eq!(read.map(|read| read.seq), Some(1));
    // Our next event (once the claim no longer holds posting back) never reaches B (it
    // drops it), B says anything again, then leaves: nobody holds it, so it is deposited.
    duo.wait(Duration::from_secs(6));
    let now = duo.now;
    duo.clients[A].send_text(now, UnixMillis(2), "two").unwrap();
    while let Output::Transmit(_) | Output::Event(_) = duo.clients[A].poll_output() {}
    duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), &forged_have);
    duo.pump();
    duo.clients[A].remove_peer(now, peer_of(B));
    let deposited: Vec<u64> = drain(&mut duo.clients[A])
        .into_iter()
        .filter_map(|event| match event {
            ClientEvent::MailboxDeposit { seq, .. } => Some(seq),
            _ => None,
        })
        .collect();
    assert_eq!(deposited, [2]);
}
