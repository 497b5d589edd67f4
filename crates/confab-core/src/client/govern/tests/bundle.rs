//! What a rekeyer leaves in the mailboxes of the epochs it left (`govern/left.rs`): a rekey
//! costs a few entries per mailbox.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::*;
use super::mesh::Mesh;
use crate::signal::MailboxItem;

/// The bundles `by` deposited into `room`'s mailbox (`seq` 0: not its outbox; not the
/// news of a removal either), as the server hands them out.
fn deposits_of(mesh: &Mesh, by: usize, room: RoomId) -> Vec<MailboxItem> {
    let client = &mesh.clients[by];
    let is_bundle = |entry: &crate::mailbox::SealedEntry| {
        client
            .mailbox
            .iter()
            .chain(client.left_mailboxes.keys())
            .find_map(|keys| keys.open(entry).ok())
            .is_some_and(|payload| crate::wire::bundle::is_bundle(&payload))
    };
    mesh.events[by]
        .iter()
        .filter_map(|event| match event {
            ClientEvent::MailboxDeposit {
                room: r,
                entry,
                seq: 0,
            } if *r == room && is_bundle(entry) => Some(entry.clone()),
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
            assert!(payload.len() <= crate::mailbox::MAX_PAYLOAD_LEN);
            carried += mesh.clients[owner].open_bundle(&payload).unwrap().len();
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

/// Whether `needle` occurs in `haystack`.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Mallory is offline when the owner removes her and rekeys. In the next epoch Eve joins,
/// the owner renames itself and promotes Ben, then rekeys again: its bundles go into the
/// mailboxes of both epochs it left, epoch 0's among them, whose keys Mallory still holds.
/// Reading every mailbox with every key she was ever handed, she finds no byte of Eve's
/// keys, the new name or the new epoch's commitment, and once her client took it all in it
/// holds no event of the later epochs (nor knows Eve). On the old code the bundle went into
/// epoch 0's mailbox in clear: she read Eve's `Join`, the name, the promotion and the rekey.
#[test]
fn a_removed_member_finds_nothing_of_later_epochs_in_old_mailboxes() {
    let mut mesh = Mesh::found(4);
    let (owner, admin, ben, mallory) = (0, 1, 2, 3);
    let member = mesh.key(admin);
    mesh.govern(owner, Govern::Promote { member, seen: 0 })
        .unwrap();
    mesh.unlink_all(mallory);
    let member = mesh.key(mallory);
    mesh.govern(owner, Govern::Remove { member, seen: 0 })
        .unwrap();
    mesh.rekey(owner);
    // The news of her own removal: what the owner held then.
    let known: std::collections::BTreeSet<EventId> = mesh.clients[owner].history.ids().collect();
    let eve = mesh.arrive(&[owner, admin, ben]);
    let now = mesh.now;
    mesh.clients[owner].set_display_name(now, UnixMillis(6), "Olivia Later");
    let member = mesh.key(ben);
    mesh.govern(owner, Govern::Promote { member, seen: 0 })
        .unwrap();
    mesh.post(eve, "hello from Eve");
    let last = mesh.rekey(owner);
    assert_eq!(mesh.epoch(eve), Some(2));
    let later: Vec<EventId> = mesh.clients[owner]
        .history
        .ids()
        .filter(|id| !known.contains(id))
        .collect();
    assert!(later.len() >= 4, "{} later events", later.len());
    let commitment = match &mesh.clients[owner]
        .history
        .get(&last)
        .unwrap()
        .event()
        .content
    {
        Content::Govern(Govern::Rekey(rekey)) => rekey.commitment,
        _ => unreachable!(),
    };
    let eve_keys = [
        mesh.key(eve).as_bytes().to_vec(),
        mesh.clients[eve].identity().dh_key_bytes().to_vec(),
    ];
    // Every mailbox anyone deposited into, read with every key Mallory holds.
    let rooms: std::collections::BTreeSet<RoomId> = mesh
        .events
        .iter()
        .flatten()
        .filter_map(|event| match event {
            ClientEvent::MailboxDeposit { room, .. } => Some(*room),
            _ => None,
        })
        .collect();
    let mut keys: Vec<&crate::mailbox::MailboxKeys> =
        mesh.clients[mallory].mailbox.iter().collect();
    keys.extend(mesh.clients[mallory].left_mailboxes.keys());
    let mut opened = 0;
    for room in &rooms {
        for item in mesh.mailbox(*room) {
            for bytes in keys.iter().filter_map(|keys| keys.open(&item.entry).ok()) {
                opened += 1;
                for key in &eve_keys {
                    assert!(!holds(&bytes, key), "Mallory reads a key of Eve's");
                }
                assert!(
                    !holds(&bytes, b"Olivia Later"),
                    "Mallory reads the new name"
                );
                assert!(!holds(&bytes, &commitment), "Mallory reads the last rekey");
            }
        }
    }
    assert!(opened > 0, "the owner's bundle is in epoch 0's mailbox");
    let now = mesh.now;
    for room in &rooms {
        let entries = mesh.mailbox(*room);
        mesh.clients[mallory].handle_mailbox_entries(now, &entries);
    }
    mesh.pump();
    let held: Vec<&EventId> = later
        .iter()
        .filter(|id| mesh.clients[mallory].history.contains(id))
        .collect();
    assert!(held.is_empty(), "Mallory holds {} later events", held.len());
    assert!(!mesh.clients[mallory].governance().joined(&mesh.key(eve)));
    assert_eq!(mesh.epoch(mallory), Some(0));
}

/// `idx` reads all there is in the mailboxes of its room and the epochs it left.
fn read_mailboxes(mesh: &mut Mesh, idx: usize) {
    let mut rooms = vec![mesh.clients[idx].room_id()];
    rooms.extend(mesh.clients[idx].left_rooms());
    let now = mesh.now;
    for room in rooms {
        let entries = mesh.mailbox(room);
        mesh.clients[idx].handle_mailbox_entries(now, &entries);
    }
    mesh.pump();
}

/// Mallory's page is closed while the owner, linked to Ben, says a few things, removes her
/// and rekeys. Reopened, she reads her epoch's mailbox: the removal is there, with the
/// owner's few events before it redacted, so she learns she was removed (and reads none of
/// what was said meanwhile). Before, a removal went into the mailbox only from a member
/// linked to nobody: the bundle that carries it is sealed to the members still in.
#[test]
fn a_member_removed_while_away_learns_it_from_the_mailbox() {
    let mut mesh = Mesh::found(3);
    let (owner, mallory) = (0, 2);
    mesh.unlink_all(mallory);
    for i in 0..5 {
        mesh.post(owner, &format!("while Mallory is away {i}"));
    }
    let member = mesh.key(mallory);
    mesh.govern(owner, Govern::Remove { member, seen: 0 })
        .unwrap();
    mesh.rekey(owner);
    assert_eq!(mesh.clients[mallory].governance().removed(&member), None);
    read_mailboxes(&mut mesh, mallory);
    assert!(
        mesh.clients[mallory]
            .governance()
            .removed(&member)
            .is_some()
    );
    let said = mesh.clients[mallory].history.iter().any(|event| {
        matches!(&event.event().content, Content::Text { text, .. } if text.starts_with("while"))
    });
    assert!(!said, "Mallory reads what was said while she was away");
}

/// Seed 56's shape: Dave (an admin) is away when the owner makes Ann an admin and Ann
/// removes him. Back, he reads his epoch's mailbox: the removal is there with Ann's few
/// events before it, and the owner's promotion of Ann with the owner's few events before
/// it, so he can tell that she had the right to remove him. On the old code the promotion
/// was not there: he judged the removal void (no authority), counted himself in good
/// standing and went on (in seed 56 he let a newcomer in and rekeyed it away with him).
#[test]
fn a_member_removed_while_away_by_an_admin_made_meanwhile_learns_it_from_the_mailbox() {
    let mut mesh = Mesh::found(4);
    let (owner, ann, dave) = (0, 1, 2);
    let member = mesh.key(dave);
    mesh.govern(owner, Govern::Promote { member, seen: 0 })
        .unwrap();
    mesh.unlink_all(dave);
    mesh.post(owner, "while Dave is away");
    let member = mesh.key(ann);
    mesh.govern(owner, Govern::Promote { member, seen: 0 })
        .unwrap();
    let member = mesh.key(dave);
    mesh.govern(ann, Govern::Remove { member, seen: 0 })
        .unwrap();
    mesh.rekey(ann);
    assert_eq!(mesh.clients[dave].governance().removed(&member), None);
    read_mailboxes(&mut mesh, dave);
    assert!(
        mesh.clients[dave].governance().removed(&member).is_some(),
        "Dave counts himself in the room"
    );
}
