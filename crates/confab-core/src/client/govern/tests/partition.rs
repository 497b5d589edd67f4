//! Partitioned sides of a governed room find each other again through the mailboxes of the
//! epochs they left (`govern/left.rs`), and nothing said reaches the removed on the way.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::*;
use super::mesh::Mesh;
use crate::governance::Rank;
use crate::history::Content;

/// The owner (0) and an admin (1), with members 2 to `n - 1`.
fn room_with_admin(n: usize) -> Mesh {
    let mut mesh = Mesh::found(n);
    let member = mesh.key(1);
    mesh.govern(0, Govern::Promote { member, seen: 0 }).unwrap();
    mesh
}

/// Cuts every link between `a` and `b`.
fn split(mesh: &mut Mesh, a: &[usize], b: &[usize]) {
    for &i in a {
        for &j in b {
            mesh.unlink(i, j);
        }
    }
}

/// Lets every pair of `a` and `b` reach each other again (the server links them once they
/// are in one room).
fn heal(mesh: &mut Mesh, a: &[usize], b: &[usize]) {
    for &i in a {
        for &j in b {
            mesh.link(i, j);
        }
    }
}

/// `idx` says `n` lines starting with `what`: more than the few events of the rekeyer's a
/// rekey used to carry into the old mailbox (`REMOVAL_NEWS`). Returns them.
fn chat(mesh: &mut Mesh, idx: usize, what: &str, n: usize) -> Vec<String> {
    let lines: Vec<String> = (0..n).map(|i| format!("{what} {i}")).collect();
    for line in &lines {
        mesh.post(idx, line);
    }
    lines
}

fn remove(mesh: &mut Mesh, by: usize, who: usize) {
    let member = mesh.key(who);
    mesh.govern(by, Govern::Remove { member, seen: 0 }).unwrap();
}

/// Ids of the whole messages `idx` holds.
fn held_texts(mesh: &Mesh, idx: usize) -> Vec<String> {
    let mut texts: Vec<String> = mesh.clients[idx]
        .history
        .iter()
        .filter_map(|event| match &event.event().content {
            Content::Text { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    texts.sort();
    texts
}

/// Everyone in `members` is in one epoch and room, with one governance and history.
fn assert_converged(mesh: &Mesh, members: &[usize]) {
    let first = members[0];
    for &idx in members {
        assert!(mesh.epoch(idx).is_some(), "client {idx} holds no epoch");
        assert_eq!(mesh.epoch(idx), mesh.epoch(first), "client {idx}'s epoch");
        assert_eq!(
            mesh.clients[idx].room_id(),
            mesh.clients[first].room_id(),
            "client {idx}'s room"
        );
        assert_eq!(
            mesh.clients[idx].governance(),
            mesh.clients[first].governance(),
            "client {idx}'s governance"
        );
        assert_eq!(
            mesh.clients[idx].history.len(),
            mesh.clients[first].history.len(),
            "client {idx}'s history"
        );
        assert_eq!(
            mesh.clients[idx].history.unavailable().count(),
            0,
            "client {idx} holds messages only redacted"
        );
        assert!(
            !mesh.clients[idx].governance().needs_rekey(),
            "client {idx}"
        );
    }
}

/// `removed` holds none of `said` (texts said after its removal) nor the secret of the
/// epoch `member` is in.
fn assert_shut_out(mesh: &Mesh, removed: usize, member: usize, said: &[&str]) {
    let held = held_texts(mesh, removed);
    for text in said {
        assert!(!held.iter().any(|t| t == text), "{removed} holds {text:?}");
    }
    let secret = |idx: usize| mesh.clients[idx].epoch().map(|(_, s)| *s.as_bytes());
    assert_ne!(secret(removed), secret(member), "{removed} holds the epoch");
    assert_ne!(
        mesh.clients[removed].room_id(),
        mesh.clients[member].room_id()
    );
}

/// Side A (the owner) removes one member and rekeys `a` times, side B (an admin) removes
/// another and rekeys `b` times, each side chatting between rekeys; healed, everyone left
/// ends in one epoch with one governance and one history, and neither removed member holds
/// what was said after its removal. On the old code the sides never met: each stayed in its
/// own room (the mailboxes held only the rekeyer's last few events, in the epoch it left).
fn partition_heals(a: usize, b: usize) {
    let mut mesh = room_with_admin(6);
    let (side_a, side_b) = ([0, 2, 4], [1, 3, 5]);
    mesh.post(2, "before the split");
    split(&mut mesh, &side_a, &side_b);
    remove(&mut mesh, 0, 4);
    remove(&mut mesh, 1, 5);
    let mut said = chat(&mut mesh, 0, "owner", 10);
    said.extend(chat(&mut mesh, 1, "admin", 10));
    for round in 0..a.max(b) {
        if round < a {
            mesh.rekey(0);
            let text = format!("A {round}");
            mesh.post(2, &text);
            said.push(text);
        }
        if round < b {
            mesh.rekey(1);
            let text = format!("B {round}");
            mesh.post(3, &text);
            said.push(text);
        }
    }
    assert_ne!(mesh.clients[0].room_id(), mesh.clients[1].room_id());
    heal(&mut mesh, &side_a, &side_b);
    let members = [0, 1, 2, 3];
    mesh.settle(&members, 8);
    assert_converged(&mesh, &members);
    let mut texts = said.clone();
    texts.push("before the split".to_owned());
    texts.sort();
    assert_eq!(held_texts(&mesh, 3), texts);
    let said: Vec<&str> = said.iter().map(String::as_str).collect();
    for removed in [4, 5] {
        assert_eq!(mesh.clients[0].governance().rank(&mesh.key(removed)), None);
        assert_shut_out(&mesh, removed, 0, &said);
    }
}

#[test]
fn sides_that_rekeyed_once_each_apart_converge() {
    partition_heals(1, 1);
}

#[test]
fn sides_that_rekeyed_twice_and_once_apart_converge() {
    partition_heals(2, 1);
}

#[test]
fn sides_that_rekeyed_once_and_three_times_apart_converge() {
    partition_heals(1, 3);
}

#[test]
fn sides_that_rekeyed_many_times_apart_converge() {
    partition_heals(5, 4);
}

/// Two admins remove each other apart and each rekeys; a newcomer joins on one side and is
/// sealed its next epoch. Healed, the more senior admin's removal counts, the other's rekeys
/// with it are refused, and everyone left (the newcomer too) converges.
#[test]
fn admins_who_removed_each_other_and_a_newcomer_converge_once_healed() {
    let mut mesh = Mesh::found(5);
    let (owner, ann, bob, carol, dan) = (0, 1, 2, 3, 4);
    for admin in [ann, bob] {
        let member = mesh.key(admin);
        mesh.govern(owner, Govern::Promote { member, seen: 0 })
            .unwrap();
    }
    // Ann (more senior) with Carol; Bob with Dan; the owner is away.
    mesh.unlink_all(owner);
    split(&mut mesh, &[ann, carol], &[bob, dan]);
    remove(&mut mesh, ann, bob);
    chat(&mut mesh, ann, "Ann apart", 10);
    mesh.rekey(ann);
    remove(&mut mesh, bob, ann);
    mesh.rekey(bob);
    mesh.post(dan, "Dan apart");
    // A newcomer arrives on Ann's side, with her link, and the next epoch is sealed to it.
    let eve = mesh.arrive_by(ann, &[ann, carol]);
    mesh.post(eve, "hello from Eve");
    mesh.rekey(ann);
    mesh.post(carol, "Carol apart");
    mesh.rekey(bob);
    heal(&mut mesh, &[ann, carol, eve], &[bob, dan]);
    let members = [ann, carol, dan, eve];
    mesh.settle(&members, 8);
    assert_converged(&mesh, &members);
    let governance = mesh.clients[ann].governance();
    assert_eq!(governance.rank(&mesh.key(ann)), Some(Rank::Admin));
    assert_eq!(governance.rank(&mesh.key(bob)), None);
    assert_eq!(governance.rank(&mesh.key(eve)), Some(Rank::Member));
    let texts = held_texts(&mesh, eve);
    assert!(texts.iter().any(|t| t == "Dan apart"), "{texts:?}");
    assert_shut_out(&mesh, bob, ann, &["Carol apart", "hello from Eve"]);
}

/// The owner demotes the admin while they are apart (in epoch `base`); the admin, not
/// knowing, rekeys its side away (Dan follows). The owner's side never moves, so no
/// rekeyer's bundle carries the demotion: healed, the admin's side finds it in the mailbox
/// of the epoch it left, the admin's rekey counts for nothing, and everyone ends in the
/// owner's epoch. On the old code the demotion reached only the owner's side, and the sides
/// stayed apart for good (sim seed 222, with most of the room on the admin's side); from
/// epoch 0 (which no lockbox holds) the admin's side also had nowhere to go back to.
fn an_admin_demoted_apart_comes_back(base: u64) {
    let mut mesh = room_with_admin(4);
    let (owner, admin, carol, dan) = (0, 1, 2, 3);
    for _ in 0..base {
        mesh.rekey(owner);
    }
    split(&mut mesh, &[owner, carol], &[admin, dan]);
    let member = mesh.key(admin);
    mesh.govern(owner, Govern::Demote { member, seen: 0 })
        .unwrap();
    mesh.post(carol, "Carol apart");
    mesh.rekey(admin);
    mesh.post(dan, "Dan apart");
    assert_eq!(mesh.epoch(dan), Some(base + 1));
    heal(&mut mesh, &[owner, carol], &[admin, dan]);
    let members = [owner, admin, carol, dan];
    mesh.settle(&members, 8);
    assert_converged(&mesh, &members);
    assert_eq!(
        mesh.epoch(owner),
        Some(base),
        "the owner's side never moved"
    );
    let governance = mesh.clients[dan].governance();
    assert_eq!(governance.rank(&mesh.key(admin)), Some(Rank::Member));
}

#[test]
fn an_admin_demoted_apart_comes_back_with_those_who_followed_its_rekey() {
    an_admin_demoted_apart_comes_back(1);
}

#[test]
fn an_admin_demoted_apart_in_epoch_0_comes_back_with_those_who_followed_its_rekey() {
    an_admin_demoted_apart_comes_back(0);
}

/// Ben is away (no links at all) while the owner's side rekeys three times and the
/// admin's side once; back, he follows into the room everyone converged on.
#[test]
fn a_member_away_through_the_partition_catches_up() {
    let mut mesh = room_with_admin(5);
    let (owner, admin, ben, carol, dan) = (0, 1, 2, 3, 4);
    mesh.unlink_all(ben);
    split(&mut mesh, &[owner, carol], &[admin, dan]);
    chat(&mut mesh, owner, "owner apart", 10);
    for round in 0..3 {
        mesh.rekey(owner);
        mesh.post(carol, &format!("A {round}"));
    }
    mesh.rekey(admin);
    mesh.post(dan, "B 0");
    heal(&mut mesh, &[owner, carol], &[admin, dan]);
    mesh.settle(&[owner, admin, carol, dan], 6);
    for other in [owner, admin, carol, dan] {
        mesh.link(ben, other);
    }
    mesh.settle(&[owner, admin, ben, carol, dan], 6);
    assert_converged(&mesh, &[owner, admin, ben, carol, dan]);
    assert_eq!(held_texts(&mesh, ben).len(), 14);
}

/// The owner removes Mallory, says something, and only then starts the new epoch (a page
/// closed between the two). Mallory still holds the old epoch's secret, so she reads its
/// mailbox, where the owner deposited the news of the new epoch. She learns the room's
/// governance, and no word said after her removal. On the old code the owner deposited its
/// last events there whole: "after Mallory" among them.
#[test]
fn a_removed_member_reading_old_mailboxes_learns_no_content() {
    let mut mesh = room_with_admin(4);
    let (owner, admin, ben, mallory) = (0, 1, 2, 3);
    mesh.post(owner, "before Mallory left");
    split(&mut mesh, &[owner, ben], &[admin, mallory]);
    remove(&mut mesh, owner, mallory);
    mesh.post(owner, "after Mallory");
    mesh.rekey(owner);
    mesh.post(owner, "in the new epoch");
    // Apart, the admin rekeys too (Mallory is still in the room as far as he knows).
    mesh.rekey(admin);
    mesh.post(admin, "admin apart");
    // Mallory, holding every key she was ever handed, reads every mailbox she can open.
    let mut keys: Vec<&crate::mailbox::MailboxKeys> =
        mesh.clients[mallory].mailbox.iter().collect();
    keys.extend(mesh.clients[mallory].left_mailboxes.keys());
    let genesis = *mesh.clients[mallory].history.room();
    let rooms: std::collections::BTreeSet<RoomId> = mesh
        .events
        .iter()
        .flatten()
        .filter_map(|event| match event {
            ClientEvent::MailboxDeposit { room, .. } => Some(*room),
            _ => None,
        })
        .collect();
    let mut payloads = Vec::new();
    for room in rooms {
        for item in mesh.mailbox(room) {
            payloads.extend(keys.iter().filter_map(|keys| keys.open(&item.entry).ok()));
        }
    }
    let opened = payloads.len();
    for bytes in payloads {
        let events = if crate::wire::bundle::is_bundle(&bytes) {
            // Sealed to the members the owner counts: not to her.
            mesh.clients[mallory]
                .open_bundle(&bytes)
                .unwrap_or_default()
        } else {
            vec![bytes]
        };
        for bytes in events {
            let event = VerifiedEvent::verify(&genesis, &bytes).unwrap();
            if let Content::Text { text, .. } = &event.event().content {
                assert_eq!(text, "before Mallory left", "Mallory read it");
            }
        }
    }
    assert!(opened > 0, "the news of the owner's epoch is there");
    heal(&mut mesh, &[owner, ben], &[admin, mallory]);
    mesh.settle(&[owner, admin, ben, mallory], 6);
    assert_converged(&mesh, &[owner, admin, ben]);
    assert_shut_out(
        &mesh,
        mallory,
        owner,
        &["after Mallory", "in the new epoch"],
    );
}

/// The admin's and Dan's tabs reload while apart: a page stores its room's current epoch,
/// not those it left, yet history holds their lockboxes of the epochs before it, so both
/// read the mailbox of the epoch the sides share (epoch 1 here) again and converge. Before,
/// a reloaded member read no left mailbox at all.
#[test]
fn members_who_reloaded_apart_still_find_the_other_side() {
    let mut mesh = room_with_admin(4);
    let (owner, admin, carol, dan) = (0, 1, 2, 3);
    mesh.rekey(owner);
    split(&mut mesh, &[owner, carol], &[admin, dan]);
    chat(&mut mesh, owner, "owner apart", 10);
    mesh.rekey(owner);
    mesh.rekey(owner);
    mesh.rekey(admin);
    mesh.post(dan, "Dan apart");
    for idx in [admin, dan] {
        mesh.reload(idx);
        assert_eq!(mesh.epoch(idx), Some(2), "client {idx}");
        assert_eq!(mesh.clients[idx].left_rooms().count(), 1, "client {idx}");
    }
    mesh.link(admin, dan);
    heal(&mut mesh, &[owner, carol], &[admin, dan]);
    mesh.settle(&[owner, admin, carol, dan], 6);
    assert_converged(&mesh, &[owner, admin, carol, dan]);
    assert_eq!(held_texts(&mesh, carol).len(), 11);
}

/// The merge window: the owner, apart with Carol, says more than one catch-up request
/// carries ([`crate::client::sync::MAX_WANT`]), removes Dave, and its page closes before it
/// rekeys. Carol holds the removal, Bob (on Dave's side) does not. When Carol and Bob first
/// link, Bob pulls the owner's long chain and Carol's short one side by side; on the old
/// code Carol's words after the removal reached Bob first, and Bob, not knowing Dave was
/// removed yet, passed them on to Dave. Now a member gives a peer the governance it lacks
/// before anything else, so nothing said after the removal reaches Dave, and it reaches
/// everyone else in the next epoch, which the owner starts once back.
#[test]
fn what_is_said_after_a_removal_reaches_nobody_before_the_removal_does() {
    let mut mesh = Mesh::found(4);
    let (owner, carol, bob, dave) = (0, 1, 2, 3);
    mesh.post(bob, "before the split");
    split(&mut mesh, &[owner, carol], &[bob, dave]);
    chat(
        &mut mesh,
        owner,
        "owner apart",
        crate::client::sync::MAX_WANT as usize + 8,
    );
    remove(&mut mesh, owner, dave);
    mesh.unlink_all(owner);
    mesh.post(carol, "Carol after");
    mesh.post(bob, "Bob apart");
    assert!(held_texts(&mesh, dave).contains(&"Bob apart".to_owned()));

    // The sides meet; no owner or admin is there to rekey. Bob's requests reach Carol slowly:
    // his first ones are answered, his next (the rest of the owner's chain) waits while he
    // tells Dave what he now holds.
    mesh.slow_down(bob, carol);
    heal(&mut mesh, &[carol], &[bob, dave]);
    let carol_after = "Carol after".to_owned();
    for _ in 0..10 {
        if held_texts(&mesh, bob).contains(&carol_after) {
            break;
        }
        mesh.release(bob, carol, true);
    }
    mesh.wait(crate::Duration::from_secs(3));
    mesh.release(bob, carol, false);
    mesh.settle(&[carol, bob, dave], 4);
    assert_eq!(mesh.clients[bob].governance().rank(&mesh.key(dave)), None);
    mesh.post(bob, "Bob after");
    let held = held_texts(&mesh, dave);
    for text in ["Carol after", "Bob after"] {
        assert!(!held.contains(&text.to_owned()), "Dave holds {text:?}");
    }

    // The owner is back and rekeys: everyone but Dave holds it all.
    heal(&mut mesh, &[owner], &[carol, bob, dave]);
    let members = [owner, carol, bob];
    mesh.settle(&members, 6);
    assert_converged(&mesh, &members);
    for idx in members {
        let held = held_texts(&mesh, idx);
        for text in ["Carol after", "Bob after"] {
            assert!(held.contains(&text.to_owned()), "{idx} lacks {text:?}");
        }
    }
    assert_shut_out(&mesh, dave, owner, &["Carol after", "Bob after"]);
}

/// Write-ahead holds for governance given first too: an action of ours the store has not
/// committed goes to nobody, even when a peer must be given the governance it lacks before
/// what it asked for. On the old code the owner pushed Ann its unstored `Promote` with
/// Bob's words: had its page died then, it would have signed another event with that
/// number, a fork of its own chain.
#[test]
fn governance_pushed_first_holds_nothing_of_ours_the_store_has_not_got() {
    let mut mesh = Mesh::found(3);
    let (owner, ann, bob) = (0, 1, 2);
    mesh.unlink(ann, bob);
    mesh.clients[owner].own.write_ahead = true;
    let member = mesh.key(ann);
    mesh.govern(owner, Govern::Promote { member, seen: 0 })
        .unwrap();
    let sent = mesh.clients[owner].own_sent_up_to();
    mesh.post(bob, "through the owner");
    mesh.wait(crate::Duration::from_secs(12));

    assert!(held_texts(&mesh, ann).contains(&"through the owner".to_owned()));
    let owner_key = mesh.key(owner);
    assert_eq!(mesh.clients[ann].history.mark(&owner_key), sent);
    assert_eq!(
        mesh.clients[ann].governance().rank(&member),
        Some(Rank::Member)
    );
}

/// Seed 466's shape. Ray (an admin) is apart with Mallory and rekeys (epoch 1, a rival).
/// Ada, who followed him, goes over to the owner's side, where the owner rekeys (the epoch
/// 1 that wins), removes Mallory and rekeys again (2); there Ada rekeys (3). Her bundle in
/// the rival's mailbox holds her chain and the owner's. Ray reads it: taking the owner's
/// rekey 1, his own lost, he moves and deposits a bundle into the rival's mailbox for
/// whoever stayed there, before he took in Mallory's removal. On the old code the bundle
/// packed events in chain order, Ada's first: Ray then held her rekey to 3 (written in
/// epoch 2, which Mallory never held) and sealed it to Mallory, who still counted.
#[test]
fn a_member_reading_a_bundle_forwards_nothing_written_after_a_removal_it_did_not_take_in_yet() {
    let mut mesh = room_with_admin(5);
    let (owner, ada, ray, ben, mallory) = (0, 1, 2, 3, 4);
    let member = mesh.key(ray);
    mesh.govern(owner, Govern::Promote { member, seen: 0 })
        .unwrap();
    split(&mut mesh, &[owner, ben], &[ada, ray, mallory]);
    // Ray's rekey comes later in the room's order than the owner's: it loses.
    chat(&mut mesh, ray, "Ray apart", 3);
    mesh.rekey(ray);
    assert_eq!(mesh.epoch(ada), Some(1));
    assert_eq!(mesh.epoch(mallory), Some(1));
    let rival = mesh.clients[ray].room_id();
    split(&mut mesh, &[ada], &[ray, mallory]);
    mesh.rekey(owner);
    remove(&mut mesh, owner, mallory);
    mesh.rekey(owner);
    heal(&mut mesh, &[ada], &[owner, ben]);
    mesh.settle(&[owner, ada, ben], 2);
    assert_eq!(mesh.epoch(ada), Some(2));
    let later = mesh.rekey(ada);
    assert_eq!(mesh.epoch(ada), Some(3));
    let now = mesh.now;
    let entries = mesh.mailbox(rival);
    mesh.clients[ray].handle_mailbox_entries(now, &entries);
    mesh.pump();
    assert!(mesh.clients[ray].history.contains(&later));
    // Mallory reads every mailbox she can open, as often as anything new comes.
    for _ in 0..3 {
        let mut rooms = vec![mesh.clients[mallory].room_id()];
        rooms.extend(mesh.clients[mallory].left_rooms());
        for room in rooms {
            let now = mesh.now;
            let entries = mesh.mailbox(room);
            mesh.clients[mallory].handle_mailbox_entries(now, &entries);
            mesh.pump();
        }
    }
    assert!(
        !mesh.clients[mallory].history.contains(&later),
        "Mallory holds Ada's rekey to epoch 3"
    );
}
