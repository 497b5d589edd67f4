//! Newcomers let in by a member still in an epoch the room left: one handed a secret but no
//! history follows through the left mailbox; one let in by a member in good standing is
//! sealed into the next epoch (its hand-over counts); one let in by a removed member is not
//! sealed into the room, whatever its clock says (the removed member's hand-over is past
//! its cut, and a `Join` alone entitles nobody).

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::*;
use super::mesh::Mesh;
use crate::client::Courier;
use crate::history::Content;
use crate::identity::Identity;
use crate::signal::{ClientMessage, MailboxReply, MailboxSeq};

/// A fresh client opens the invite `by` shares now, with a wall clock as late as the
/// others' (the mesh's own `open` reads 5 ms whenever it is), linked to `to`: its index.
fn arrive_late(mesh: &mut Mesh, by: usize, to: &[usize]) -> usize {
    let invite = mesh.clients[by].invite();
    let now = mesh.now;
    let wall = mesh.clients[by].wall.map_or(0, |(at, wall)| {
        wall.0 + now.saturating_duration_since(at).as_millis() as u64
    });
    let idx = mesh.open_at(&invite, UnixMillis(wall));
    for &other in to {
        mesh.link(other, idx);
    }
    idx
}

fn holds_text(mesh: &Mesh, idx: usize, text: &str) -> bool {
    mesh.clients[idx]
        .history
        .iter()
        .any(|event| matches!(&event.event().content, Content::Text { text: t, .. } if t == text))
}

/// A newcomer handed epoch 1's secret that holds nothing of the room's history yet (its
/// only link went right after the handover, as member 52's did in seed 2 of the governance
/// simulation) while everyone else moves on: the next rekey is sealed to it, and the bundle left in epoch 1's mailbox carries every governance action with its
/// author's chain, so it can tell that rekey counts (the owner's `Create` and `Promote` of
/// the admin are older than epoch 1). On the old code the bundle held only what came after
/// the admin entered epoch 1, the newcomer could not take the rekey in, and it stayed in
/// epoch 1's room for good.
#[test]
fn a_newcomer_holding_no_history_follows_through_the_left_mailbox() {
    let mut mesh = Mesh::found(3);
    let member = mesh.key(1);
    mesh.govern(0, Govern::Promote { member, seen: 0 }).unwrap();
    mesh.rekey(1);
    assert_eq!(mesh.epoch(0), Some(1));
    let genesis = mesh.clients[0].governance().genesis().unwrap();
    let secret = mesh.clients[0].epoch().map(|(_, s)| s.clone()).unwrap();
    let idx = mesh.clients.len();
    // The admin hands it the secret (its hand-over first, as `offer_epoch` does).
    let newcomer_key = Identity::from_seed([idx as u8 + 1; 32]).member_key();
    mesh.govern(
        1,
        Govern::Handover {
            member: newcomer_key,
            epoch: 1,
            commitment: secret.commitment().0,
        },
    )
    .unwrap();
    let mut newcomer = Client::new(
        Identity::from_seed([idx as u8 + 1; 32]),
        secret.link(),
        Mesh::config(idx),
        [100 + idx as u8; 32],
    )
    .with_genesis(genesis)
    .with_epoch(1, secret);
    newcomer.run_without_store();
    let now = mesh.now;
    newcomer.restore(now, UnixMillis(5), std::iter::empty::<((), &[u8])>());
    // Its Join, posted on meeting the member that let it in, alone now: into the mailbox.
    newcomer.join_if_new(now, UnixMillis(5));
    mesh.add(newcomer);
    mesh.pump();
    let members = [0, 1, 2];
    // The others take its Join from epoch 1's mailbox (it counts as left out of epoch 1:
    // the owner rekeys at once).
    mesh.settle(&members, 1);
    assert!(mesh.clients[1].governance().joined(&mesh.key(idx)));
    if mesh.epoch(1) == Some(1) {
        mesh.rekey(1);
    }
    assert!(mesh.epoch(1) >= Some(2));
    assert_eq!(mesh.epoch(idx), Some(1));
    assert_eq!(
        mesh.clients[idx].governance().epoch(),
        0,
        "it holds no history"
    );
    mesh.link(idx, 0);
    mesh.settle(&[0, 1, 2, idx], 4);
    assert_eq!(mesh.epoch(idx), mesh.epoch(1));
    assert_eq!(mesh.clients[idx].governance(), mesh.clients[0].governance());
}

/// Whether any rekey client 0 holds was sealed to `idx`.
fn sealed_to(mesh: &Mesh, idx: usize) -> bool {
    let key = mesh.key(idx);
    mesh.clients[0].governance_actions().iter().any(
        |action| matches!(&action.what, Govern::Rekey(rekey) if rekey.lockboxes.contains_key(&key)),
    )
}

/// The owner removes Dave (2), starts the next epoch and says something in it.
fn remove_dave(mesh: &mut Mesh) {
    let member = mesh.key(2);
    mesh.govern(0, Govern::Remove { member, seen: 0 }).unwrap();
    mesh.rekey(0);
    mesh.post(0, "said after Dave's removal");
}

/// The owner removes Dave (2) while he is cut off (after resetting the link, if
/// `reset_first`: the removal is then written in epoch 1, which Dave never held), rekeys
/// and says something; Dave, not aware, lets a fresh key in with epoch 0's link (its wall
/// clock `early`, 5 ms, or as late as the others'), then drops the link. Returns the mesh
/// and the fresh key's index.
fn dave_lets_in(early: bool, reset_first: bool) -> (Mesh, usize) {
    let mut mesh = Mesh::found(4);
    mesh.wait(crate::Duration::from_secs(30));
    for other in [0, 1, 3] {
        mesh.unlink(2, other);
    }
    let base = u64::from(reset_first);
    if reset_first {
        mesh.rekey(0);
    }
    remove_dave(&mut mesh);
    assert_eq!(mesh.epoch(0), Some(base + 1));
    let fresh = if early {
        let invite = mesh.clients[2].invite();
        let fresh = mesh.open(&invite);
        mesh.link(2, fresh);
        fresh
    } else {
        arrive_late(&mut mesh, 2, &[2])
    };
    mesh.pump();
    assert_eq!(mesh.epoch(fresh), Some(0), "Dave let it in");
    mesh.unlink(2, fresh);
    (mesh, fresh)
}
/// `idx` reads its link's notice mailbox (it must have one to read) and learns that the
/// link is no longer valid. Returns the notice mailbox's room id.
fn told_its_link_is_void(mesh: &mut Mesh, idx: usize) -> RoomId {
    let notices = mesh.clients[idx].notice_room().expect("it reads notices");
    let entries = mesh.mailbox(notices);
    let now = mesh.now;
    mesh.clients[idx].handle_mailbox_entries(now, &entries);
    mesh.pump();
    assert!(mesh.clients[idx].link_superseded());
    notices
}

/// Dave, removed by the owner while he was cut off and not yet aware, lets a fresh key in
/// ([`dave_lets_in`]): the fresh key says what it says by epoch 0's mailbox. It must not be
/// sealed into the room, not by the rekey its Join seems to precede nor by a later reset
/// of the link, nor open the bundle the owner leaves in epoch 0's mailbox; it learns that
/// its link is no longer valid.
fn a_removed_member_lets_in(early: bool) {
    let (mut mesh, fresh) = dave_lets_in(early, false);
    let members = [0, 1, 2, 3, fresh];
    mesh.settle(&members, 10);
    assert!(
        mesh.clients[0].governance().joined(&mesh.key(fresh)),
        "its Join reached the owner (through epoch 0's mailbox)"
    );
    assert!(!sealed_to(&mesh, fresh), "sealed to the key Dave let in");
    mesh.rekey(0);
    mesh.settle(&members, 4);
    assert!(!sealed_to(&mesh, fresh), "a later rekey sealed to it");
    let learned = mesh.clients[fresh]
        .governance_actions()
        .iter()
        .any(|action| matches!(&action.what, Govern::Rekey(rekey) if rekey.epoch == 2));
    assert!(!learned, "it read the rekey to epoch 2 in a bundle");
    assert!(!holds_text(&mesh, fresh, "said after Dave's removal"));
    // Its own governance says so too: it reads its link's notice mailbox, as a stranger
    // with the link does, and learns the link is no longer valid. (On the old code it held
    // epoch 0's secret and so never read notices: it waited there for good, sim seed 202.)
    let notices = told_its_link_is_void(&mut mesh, fresh);
    let fetch = mesh.clients[fresh].mailbox_fetch(super::mesh::peer(0), MailboxSeq::new(0));
    assert!(
        matches!(fetch, Some(ClientMessage::MailboxFetch { room, .. }) if room == notices),
        "{fetch:?}"
    );
}

/// The fresh key's courier, once joined, reads epoch 0's mailbox, where the owner's removal
/// of Dave went whole: from then on it reads its link's notice mailbox instead, and learns
/// the link is no longer valid. (Without `watch_notices` it read notices only if it had
/// nothing to read on joining.)
#[test]
fn the_courier_of_a_newcomer_let_in_by_a_removed_member_reads_its_links_notices() {
    let (mut mesh, fresh) = dave_lets_in(false, false);
    let (now, room) = (mesh.now, mesh.clients[fresh].room_id());
    let mut courier = Courier::new(room);
    courier.handle_welcome(now, PeerId::new(77), 0);
    courier.handle_joined(now, &mesh.clients[fresh]);
    let fetch = courier.poll_transmit();
    assert!(
        matches!(fetch, Some(ClientMessage::MailboxFetch { room: r, .. }) if r == room),
        "{fetch:?}"
    );
    assert_eq!(
        mesh.clients[fresh].notice_room(),
        None,
        "it knows nothing yet"
    );
    let entries = mesh.mailbox(room);
    let reply = MailboxReply::MailboxEntries {
        room,
        entries,
        more: false,
    };
    courier.handle_reply(now, &mut mesh.clients[fresh], reply);
    let notices = mesh.clients[fresh]
        .notice_room()
        .expect("it learned Dave's removal");
    let fetch = std::iter::from_fn(|| courier.poll_transmit())
        .find(|message| matches!(message, ClientMessage::MailboxFetch { .. }));
    assert!(
        matches!(fetch, Some(ClientMessage::MailboxFetch { room: r, .. }) if r == notices),
        "{fetch:?}"
    );
    let entries = mesh.mailbox(notices);
    let reply = MailboxReply::MailboxEntries {
        room: notices,
        entries,
        more: false,
    };
    courier.handle_reply(now, &mut mesh.clients[fresh], reply);
    assert!(mesh.clients[fresh].link_superseded());
}

/// As in seed 202 of the governance simulation: the owner resets the link while Dave is
/// cut off and only then removes him, so the removal is written in epoch 1, which neither
/// Dave nor the key he lets in with epoch 0 ever held. The members who take Dave's
/// hand-over (past his cut) and the key's `Join` from epoch 0's mailbox leave the news of
/// Dave's removal there, sealed to that key: it learns that nobody with the right to let
/// it in, and that its link is no longer valid. On the old code it counted Dave in good
/// standing, thought itself left out of epoch 1 and waited in epoch 0 for a rekey that
/// never came.
#[test]
fn a_newcomer_let_in_by_a_member_removed_in_an_epoch_it_never_held_is_told_its_link_is_void() {
    let (mut mesh, fresh) = dave_lets_in(false, true);
    let members = [0, 1, 2, 3, fresh];
    mesh.settle(&members, 10);
    let key = mesh.key(fresh);
    assert!(mesh.clients[0].governance().joined(&key));
    assert!(!sealed_to(&mesh, fresh), "sealed to the key Dave let in");
    let governance = mesh.clients[fresh].governance();
    assert!(
        governance.removed(&mesh.key(2)).is_some(),
        "it learned Dave's removal"
    );
    assert!(!governance.entitled(&key));
    told_its_link_is_void(&mut mesh, fresh);
    assert!(!holds_text(&mesh, fresh, "said after Dave's removal"));
}

/// Seed 277's shape: Dave, an admin, removed by the owner in epoch 1 while cut off and not
/// yet aware, lets a fresh key in with epoch 1's link and then rekeys (his epoch 2, which
/// counts for nothing, sealed to it): the key follows him there before it learns of his
/// removal, and stays (no epoch of the room's chain was sealed to it). Once it has learned,
/// it reads the notice mailbox of the link it was let in with (epoch 1's, which the owner's
/// rekey left) and learns that the link is no longer valid. On the old code it read the
/// notice mailbox of the link of Dave's epoch, which nobody ever left, and was never told.
#[test]
fn a_newcomer_that_followed_its_removed_handers_rekey_is_told_its_link_is_void() {
    let mut mesh = Mesh::found(4);
    let dave = mesh.key(2);
    mesh.govern(
        0,
        Govern::Promote {
            member: dave,
            seen: 0,
        },
    )
    .unwrap();
    mesh.rekey(0);
    mesh.wait(crate::Duration::from_secs(30));
    for other in [0, 1, 3] {
        mesh.unlink(2, other);
    }
    remove_dave(&mut mesh);
    let fresh = arrive_late(&mut mesh, 2, &[2]);
    assert_eq!(mesh.epoch(fresh), Some(1), "Dave let it in");
    mesh.rekey(2);
    assert_eq!(mesh.epoch(fresh), Some(2), "it followed Dave's rekey");
    mesh.unlink(2, fresh);
    let members = [0, 1, 3, fresh];
    mesh.settle(&members, 10);
    let governance = mesh.clients[fresh].governance();
    assert!(
        governance.removed(&dave).is_some(),
        "it learned Dave's removal"
    );
    assert!(!governance.entitled(&mesh.key(fresh)));
    assert_eq!(mesh.epoch(fresh), Some(2), "in Dave's epoch still");
    told_its_link_is_void(&mut mesh, fresh);
    assert!(!holds_text(&mesh, fresh, "said after Dave's removal"));
}

/// Found in session 16's review of 7a409f4: with `rejoin_if_stranded` (reverted) the key
/// announced itself again from epoch 0, the room counted it left out and sealed it into
/// epoch 2. The room cannot tell it from an honest newcomer by its `Join` (an event names
/// no epoch), only by who let it in: Dave's hand-over is past his cut.
#[test]
fn a_newcomer_let_in_by_a_removed_member_is_not_sealed_into_the_room() {
    a_removed_member_lets_in(false);
}

/// With an early clock its Join orders before the rekey that shut Dave out. Before
/// hand-overs that counted it left out of epoch 1 and the owner sealed epoch 2 to it at
/// once (this failed on 1604401, "sealed to the key Dave let in"); and any later rekey
/// sealed to every member whose Join it held. Now a rekey seals only to whom the epoch
/// before was given by right (`Governance::entitled`).
#[test]
fn a_newcomer_with_an_early_clock_let_in_by_a_removed_member_is_not_sealed_into_the_room() {
    a_removed_member_lets_in(true);
}

/// An honest newcomer let in by Bob while Bob was cut off in epoch 0 and the owner reset
/// the link (7a409f4's case, whose rule was reverted for letting the removed member's
/// newcomer in too): Bob's hand-over of epoch 0 counts (he is in good standing), so once it
/// reaches the owner the newcomer is left out of epoch 1 and sealed the next, whatever its
/// clock. Without hand-overs it stayed in epoch 0's room for good (late clock), or was
/// sealed in only because its Join claimed an early time (early clock).
#[test]
fn a_newcomer_left_in_an_epoch_the_room_left_is_sealed_into_the_next() {
    for early in [false, true] {
        let mut mesh = Mesh::found(3);
        mesh.wait(crate::Duration::from_secs(30));
        for other in [0, 2] {
            mesh.unlink(1, other);
        }
        mesh.rekey(0);
        mesh.post(0, "said in epoch 1");
        let fresh = if early {
            let invite = mesh.clients[1].invite();
            let fresh = mesh.open(&invite);
            mesh.link(1, fresh);
            fresh
        } else {
            arrive_late(&mut mesh, 1, &[1])
        };
        mesh.pump();
        assert_eq!(mesh.epoch(fresh), Some(0), "Bob let it in (early {early})");
        for other in [0, 2] {
            mesh.link(1, other);
        }
        let members = [0, 1, 2, fresh];
        mesh.settle(&members, 12);
        assert!(sealed_to(&mesh, fresh), "never sealed in (early {early})");
        assert_eq!(mesh.epoch(fresh), mesh.epoch(0), "early {early}");
        mesh.settle(&members, 4);
        assert!(holds_text(&mesh, fresh, "said in epoch 1"), "early {early}");
    }
}

/// A newcomer Ann let in (her hand-over went out) whose secret never arrived: the frame
/// carrying it was lost, then the link ended. Holding no epoch, it reads only its link's
/// notice mailbox; the room moves on and seals it the next epoch (its hand-over counts), and
/// it must follow into it (governance simulation, seed 14 at d78d3ff: member 57).
#[test]
fn a_newcomer_whose_secret_never_arrived_follows_the_epoch_sealed_to_it() {
    let mut mesh = Mesh::found(3);
    let (owner, ann) = (0, 1);
    let invite = mesh.clients[owner].invite();
    let newcomer = mesh.open(&invite);
    // Ann initiates; she lets the newcomer in on its second handshake message. Of what she
    // sends it then, only her last handshake message arrives; the newcomer joins, and what
    // she sends it after (the secret again) is lost with the link.
    mesh.slow_down(ann, newcomer);
    mesh.link(ann, newcomer);
    mesh.release(ann, newcomer, true);
    let first = mesh
        .held
        .iter()
        .position(|(f, t, _)| (*f, *t) == (ann, newcomer));
    let last_handshake = mesh.held.remove(first.unwrap());
    mesh.held.retain(|(f, t, _)| (*f, *t) != (ann, newcomer));
    mesh.held.push(last_handshake);
    mesh.release(ann, newcomer, true);
    mesh.unlink(ann, newcomer);
    mesh.wait(crate::Duration::from_secs(3));
    assert!(mesh.clients[newcomer].epoch().is_none());
    let key = mesh.key(newcomer);
    assert!(mesh.clients[ann].governance().joined(&key), "ann: no join");
    assert!(mesh.clients[owner].governance().handed(&key));
    assert!(mesh.clients[owner].governance().joined(&key));
    let rekey = mesh.rekey(owner);
    let sealed = mesh.clients[owner].history.get(&rekey).map(|event| {
        matches!(&event.event().content,
            Content::Govern(Govern::Rekey(r)) if r.lockboxes.contains_key(&key))
    });
    assert_eq!(sealed, Some(true), "the rekey is sealed to the newcomer");
    mesh.settle(&[owner, ann, 2], 2);
    for _ in 0..3 {
        let now = mesh.now;
        let rooms: Vec<RoomId> = mesh.clients[newcomer].notice_room().into_iter().collect();
        for room in rooms {
            let entries = mesh.mailbox(room);
            mesh.clients[newcomer].handle_mailbox_entries(now, &entries);
        }
        mesh.settle(&[owner, ann, 2], 1);
    }
    assert_eq!(mesh.epoch(newcomer), mesh.epoch(owner));
}

/// Bob, cut off in epoch `first` (0: the room's first, which no lockbox holds; 1) while the
/// owner rekeys nine times (it leaves every kept list of left epochs: `LEFT_MAILBOXES`),
/// lets a newcomer in with its link. Once his hand-over reaches the owner, it counts late:
/// the newcomer is left out and the owner's next rekey seals it in. The newcomer waits in
/// that epoch, reading its mailbox, where nobody deposits any more: the owner's rekey must
/// leave its news there (governance simulation, seed 25 at 740c924: member 50 in epoch 1,
/// sealed into 10 to 14; seed 136 at a16349e: member 50 handed epoch 0).
#[test]
fn a_newcomer_handed_an_epoch_older_than_any_kept_follows_the_rekey_sealed_to_it() {
    for first in [0, 1] {
        let mut mesh = Mesh::found(3);
        let (owner, bob) = (0, 1);
        if first == 1 {
            mesh.rekey(owner);
            mesh.settle(&[0, 1, 2], 2);
        }
        assert_eq!(mesh.epoch(bob), Some(first));
        for other in [0, 2] {
            mesh.unlink(bob, other);
        }
        for _ in 0..9 {
            mesh.rekey(owner);
            mesh.settle(&[0, 2], 1);
        }
        assert_eq!(mesh.epoch(2), Some(first + 9));
        let fresh = arrive_late(&mut mesh, bob, &[bob]);
        mesh.pump();
        assert_eq!(mesh.epoch(fresh), Some(first), "Bob let it in");
        mesh.unlink(bob, fresh);
        // Bob's chain (his hand-over) and the newcomer's Join reach the owner (as over a
        // link once Bob is back).
        let mut chain: Vec<Vec<u8>> = Vec::new();
        for author in [mesh.key(bob), mesh.key(fresh)] {
            let from = mesh.clients[owner].history.mark(&author);
            let to = mesh.clients[bob].history.mark(&author);
            let events = mesh.clients[bob].history.range(&author, from, to);
            chain.extend(events.map(|event| event.bytes().to_vec()));
        }
        assert!(chain.len() >= 2);
        let now = mesh.now;
        mesh.clients[owner].handle_events(now, super::mesh::peer(bob), &chain);
        mesh.pump();
        assert!(mesh.clients[owner].governance().joined(&mesh.key(fresh)));
        mesh.settle(&[0, 2, fresh], 4);
        assert!(sealed_to(&mesh, fresh), "never sealed in (epoch {first})");
        assert_eq!(mesh.epoch(fresh), mesh.epoch(owner), "epoch {first}");
    }
}
