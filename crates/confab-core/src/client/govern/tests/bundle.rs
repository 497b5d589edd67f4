//! What a rekeyer leaves in the mailboxes of the epochs it left (`govern/left.rs`): a rekey
//! costs a few entries per mailbox.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::*;
use super::mesh::Mesh;
use crate::signal::MailboxItem;

/// The bundles `by` deposited into `room`'s mailbox (`seq` 0: not its outbox), as the
/// server hands them out.
fn deposits_of(mesh: &Mesh, by: usize, room: RoomId) -> Vec<MailboxItem> {
    mesh.events[by]
        .iter()
        .filter_map(|event| match event {
            ClientEvent::MailboxDeposit {
                room: r,
                entry,
                seq: 0,
            } if *r == room => Some(entry.clone()),
            _ => None,
        })
        .enumerate()
        .map(|(i, entry)| MailboxItem {
            seq: crate::signal::MailboxSeq::new(i as u64 + 1),
            entry,
        })
        .collect()
}

/// A 50-member room (each member's `Join` is governance, so every chain is in the bundle)
/// where the owner said 300 things: its two rekeys deposit a few entries into each mailbox
/// it left, each of which a member takes in on its own. On the old code
/// each event was an entry of its own: 305 into the first mailbox (49 Joins and the owner's
/// last 256 events).
#[test]
fn a_rekey_in_a_fifty_member_room_deposits_a_few_entries_per_mailbox() {
    let mut mesh = Mesh::found(50);
    let (owner, mallory) = (0, 49);
    for i in 0..300 {
        let now = mesh.now;
        mesh.clients[owner]
            .send_text(now, UnixMillis(5), &format!("line {i}"))
            .unwrap();
    }
    mesh.pump();
    let member = mesh.key(mallory);
    mesh.govern(owner, Govern::Remove { member, seen: 0 })
        .unwrap();
    let first = mesh.clients[owner].room_id();
    mesh.rekey(owner);
    let second = mesh.clients[owner].room_id();
    let after_first = deposits_of(&mesh, owner, first).len();
    mesh.rekey(owner);
    let into_first = deposits_of(&mesh, owner, first);
    let into_second = deposits_of(&mesh, owner, second);
    let mut carried = 0;
    for entries in [&into_first, &into_second] {
        for item in entries {
            let payload = mesh.clients[owner]
                .left_mailboxes
                .keys()
                .find_map(|keys| keys.open(&item.entry).ok())
                .unwrap();
            assert!(crate::wire::bundle::is_bundle(&payload));
            carried += crate::wire::bundle::decode(&payload).unwrap().len();
        }
    }
    eprintln!(
        "entries: {after_first} into epoch 0's mailbox at the first rekey, {} more at the \
         second, {} into epoch 1's; {carried} events carried",
        into_first.len() - after_first,
        into_second.len()
    );
    assert!(after_first <= 3, "{after_first} entries");
    assert!(
        into_first.len() - after_first <= 3,
        "{} entries",
        into_first.len()
    );
    assert!(into_second.len() <= 3, "{} entries", into_second.len());
    assert!(carried >= 300, "{carried} events carried");
}
