//! Notices of superseded links: a stranger with a left link is told, nobody else is, and no
//! notice a stranger, a removed member or a replay can make shows for a current link.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::*;
use crate::client::Courier;
use crate::client::courier::NOTICE_EVERY;
use crate::client::govern::tests::mesh::Mesh;
use crate::governance::{Govern, genesis_of};
use crate::history::Content;
use crate::identity::Identity;
use crate::signal::{MailboxItem, MailboxReply};

/// The governance tests' Mesh (`govern/tests/mesh.rs`), as this file names it.
type Room = Mesh;

/// What this file asks of the Mesh besides its own.
trait Notices {
    fn read_notices(&mut self, idx: usize) -> bool;
    fn read(&mut self, idx: usize, entries: &[MailboxItem]) -> bool;
    fn notice(&self, idx: usize, left: &RoomSecret) -> Notice;
}

impl Notices for Mesh {
    /// Client `idx` fetches its link's notice mailbox: whether it reported the link superseded.
    fn read_notices(&mut self, idx: usize) -> bool {
        let entries = match self.clients[idx].notice_room() {
            Some(room) => self.mailbox(room),
            None => Vec::new(),
        };
        self.read(idx, &entries)
    }

    /// Client `idx` takes `entries` from the server: whether it reported the link superseded.
    fn read(&mut self, idx: usize, entries: &[MailboxItem]) -> bool {
        let now = self.now;
        self.clients[idx].handle_mailbox_entries(now, entries);
        self.pump();
        self.events[idx].contains(&ClientEvent::LinkSuperseded)
    }

    /// The notice client `idx` left for `left`, decoded.
    fn notice(&self, idx: usize, left: &RoomSecret) -> Notice {
        let keys = left.notice().mailbox_keys();
        let entry = self.mailbox(keys.room()).into_iter().last().unwrap();
        let by = self.clients[idx].identity().member_key();
        let notice = Notice::decode(&keys.open(&entry.entry).unwrap()).unwrap();
        let rekey = self.clients[idx]
            .history
            .get(&notice.rekey)
            .unwrap()
            .event();
        assert_eq!(rekey.author, by);
        assert!(matches!(rekey.content, Content::Govern(Govern::Rekey(_))));
        VerifyingKey::from_bytes(by.as_bytes())
            .unwrap()
            .verify_strict(
                &statement(notice.genesis, notice.room, notice.rekey),
                &Signature::from_bytes(&notice.signature),
            )
            .unwrap();
        notice
    }
}

/// `notice` sealed into the notice mailbox of `link`, by someone who holds that link.
fn sealed_for(link: &RoomSecret, notice: &Notice) -> Vec<MailboxItem> {
    let keys = link.notice().mailbox_keys();
    let entry = keys.seal([7; 24], &notice.encode()).unwrap();
    vec![MailboxItem {
        seq: MailboxSeq::new(1),
        entry,
    }]
}

/// The owner resets the link: a stranger with the old link is told, once; one with the new
/// link is not; nor is Ann, a member, given the same entries.
#[test]
fn a_reset_link_shows_as_superseded_to_strangers_only() {
    let mut room = Room::found(2);
    let (owner, ann) = (0, 1);
    let old = room.clients[owner].invite();
    room.rekey(owner);
    let new = room.clients[owner].invite();
    assert_ne!(old.link.room_id(), new.link.room_id());

    let stranger = room.open(&old);
    assert_eq!(
        room.clients[stranger].notice_room(),
        Some(old.link.notice().room_id())
    );
    assert!(!room.clients[stranger].link_superseded());
    assert!(room.read_notices(stranger));
    assert!(room.clients[stranger].link_superseded());
    // Reported once, however often the mailbox is read.
    room.read_notices(stranger);
    let reported = room.events[stranger]
        .iter()
        .filter(|e| **e == ClientEvent::LinkSuperseded)
        .count();
    assert_eq!(reported, 1);

    let newcomer = room.open(&new);
    assert!(!room.read_notices(newcomer));
    // The old link's notice sealed for the new link is not one: it names the old room.
    let notice = room.notice(owner, &old.link);
    assert!(!room.read(newcomer, &sealed_for(&new.link, &notice)));

    // A member never reads notices: it holds an epoch secret and follows its lockboxes.
    assert_eq!(room.clients[ann].notice_room(), None);
    let entries = room.mailbox(old.link.notice().room_id());
    assert!(!room.read(ann, &entries));
}

/// A room of `n`: the owner (0) makes 1 an admin, who removes `removed` and rekeys. Returns
/// the room and the invite `removed` held.
fn an_admin_removes(n: usize, removed: usize) -> (Room, crate::room::Invite) {
    let mut room = Room::found(n);
    let (owner, admin) = (0, 1);
    let member = room.key(admin);
    room.govern(owner, Govern::Promote { member, seen: 0 })
        .unwrap();
    let old = room.clients[removed].invite();
    let member = room.key(removed);
    room.govern(admin, Govern::Remove { member, seen: 0 })
        .unwrap();
    room.rekey(admin);
    (room, old)
}

/// An admin removes Carol and rekeys: the notice carries the owner's promotion of the
/// admin, and a stranger with the link Carol held is told.
#[test]
fn a_removed_members_link_shows_as_superseded_after_an_admins_rekey() {
    let (mut room, old) = an_admin_removes(3, 2);
    let (admin, carol) = (1, 2);
    let notice = room.notice(admin, &old.link);
    assert_eq!(notice.events.len(), 2);
    let fresh = room.open(&old);
    assert!(room.read_notices(fresh));
    // Carol's own client holds the old epoch's secret: it shows her removal, not this.
    assert!(!room.read(carol, &room.mailbox(old.link.notice().room_id())));
}

/// An admin removes Carol and rekeys. Whoever holds the old link (Carol among them) opens
/// the notice and learns only what proves the link superseded: the owner's and the admin's
/// keys. No other member's key is in it, in clear or in any event it carries (the Rekey's
/// lockboxes named each member sealed into the new epoch).
#[test]
fn a_notice_names_nobody_but_the_authority_that_signed_it() {
    let (mut room, old) = an_admin_removes(5, 3);
    let (owner, admin, bob, carol, dan) = (0, 1, 2, 3, 4);

    let keys = old.link.notice().mailbox_keys();
    let entries = room.mailbox(keys.room());
    assert!(!entries.is_empty());
    let holds = |bytes: &[u8], key: &[u8; 32]| bytes.windows(32).any(|w| w == key);
    // What the notice used to carry: the Rekey, whose lockboxes name Bob and Dan.
    let rekey = room.notice(admin, &old.link).rekey;
    let rekey = room.clients[admin]
        .history
        .get(&rekey)
        .unwrap()
        .bytes()
        .to_vec();
    assert!(holds(&rekey, room.key(bob).as_bytes()));
    assert!(holds(&rekey, room.key(dan).as_bytes()));
    for item in &entries {
        let bytes = keys.open(&item.entry).unwrap();
        assert!(verify_notice(old.genesis.unwrap(), old.link.room_id(), &bytes).is_ok());
        assert!(holds(&bytes, room.key(owner).as_bytes()));
        assert!(holds(&bytes, room.key(admin).as_bytes()));
        for member in [bob, carol, dan] {
            let key = room.key(member);
            assert!(!holds(&bytes, key.as_bytes()), "member {member}'s key");
            let exchange = room.clients[member].identity().dh_key_bytes();
            assert!(!holds(&bytes, &exchange), "member {member}'s X25519 key");
        }
    }
    // A stranger with the old link is still told.
    let stranger = room.open(&old);
    assert!(room.read_notices(stranger));
}

/// Every part of a notice is checked: who signed, for which genesis and link, with what
/// authority. Each forgery below is sealed for the link it targets, as a holder of that
/// link could; none shows.
#[test]
fn forged_or_misdirected_notices_do_not_show() {
    let mut room = Room::found(3);
    let (owner, admin, member) = (0, 1, 2);
    let admin_key = room.key(admin);
    room.govern(
        owner,
        Govern::Promote {
            member: admin_key,
            seen: 0,
        },
    )
    .unwrap();
    let link0 = room.clients[owner].invite();
    let genesis = link0.genesis.unwrap();
    room.rekey(admin);
    let genuine = room.notice(admin, &link0.link);
    let link1 = room.clients[owner].invite();
    assert!(verify_notice(genesis, link0.link.room_id(), &genuine.encode()).is_ok());

    let stranger = room.open(&link1);
    let shows =
        |room: &mut Room, notice: &Notice| room.read(stranger, &sealed_for(&link1.link, notice));
    let sign = |idx: usize, notice: &Notice| {
        Identity::from_seed([idx as u8 + 1; 32]).sign_raw(&statement(
            notice.genesis,
            notice.room,
            notice.rekey,
        ))
    };

    // Replayed for another link: it names the link it left.
    assert!(!shows(&mut room, &genuine));
    let mut retargeted = genuine.clone();
    retargeted.room = link1.link.room_id();
    assert_eq!(
        verify_notice(genesis, link1.link.room_id(), &retargeted.encode()),
        Err(NoticeError::Signature)
    );
    assert!(!shows(&mut room, &retargeted));

    // Signed by a member over the admin's genuine rekey, for the current link.
    let mut by_member = retargeted.clone();
    by_member.signature = sign(member, &by_member);
    assert_eq!(
        verify_notice(genesis, link1.link.room_id(), &by_member.encode()),
        Err(NoticeError::Signature)
    );
    assert!(!shows(&mut room, &by_member));

    // The admin's own signature, but without the promotion that gave her authority: it is
    // judged as the owner's, whose signature it is not.
    let mut unpromoted = retargeted.clone();
    unpromoted.events.remove(1);
    unpromoted.signature = sign(admin, &unpromoted);
    assert_eq!(
        verify_notice(genesis, link1.link.room_id(), &unpromoted.encode()),
        Err(NoticeError::Signature)
    );
    assert!(!shows(&mut room, &unpromoted));

    // A "promotion" that is not the owner's: the member's own event in its place.
    let member_event = room.clients[member]
        .history
        .iter()
        .find(|e| e.event().author == room.key(member))
        .unwrap()
        .bytes()
        .to_vec();
    let mut self_made = retargeted.clone();
    self_made.events[1] = member_event;
    self_made.signature = sign(admin, &self_made);
    assert_eq!(
        verify_notice(genesis, link1.link.room_id(), &self_made.encode()),
        Err(NoticeError::NoAuthority)
    );

    // Another genesis: the same notice judged for another room, or relabelled for it (its
    // events are signed over the genesis they belong to).
    let other = genesis_of(&room.key(member), &[9; 32]);
    assert_eq!(
        verify_notice(other, link0.link.room_id(), &genuine.encode()),
        Err(NoticeError::OtherRoom)
    );
    let mut relabelled = genuine.clone();
    relabelled.genesis = other;
    assert_eq!(
        verify_notice(other, link0.link.room_id(), &relabelled.encode()),
        Err(NoticeError::Event)
    );

    // Another rekey id than the one signed.
    let mut other_rekey = genuine.clone();
    other_rekey.rekey = EventId::from_bytes([3; 32]);
    assert_eq!(
        verify_notice(genesis, link0.link.room_id(), &other_rekey.encode()),
        Err(NoticeError::Signature)
    );
    assert!(!room.clients[stranger].link_superseded());
}

/// Two rival rekeys from one epoch: the loser's notice still shows for the link both left
/// (the room id is superseded either way: the winner left it too).
#[test]
fn a_rival_rekey_that_lost_still_supersedes_the_link_both_left() {
    let mut room = Room::found(3);
    let (owner, admin) = (0, 1);
    let admin_key = room.key(admin);
    room.govern(
        owner,
        Govern::Promote {
            member: admin_key,
            seen: 0,
        },
    )
    .unwrap();
    let old = room.clients[owner].invite();
    // The admin apart: both rekey from epoch 0, and the owner's wins.
    room.unlink_all(admin);
    room.rekey(owner);
    let admin_notice_at = room.mailbox(old.link.notice().room_id()).len();
    room.rekey(admin);
    assert_eq!(
        room.mailbox(old.link.notice().room_id()).len(),
        admin_notice_at + 1
    );
    let loser = room.notice(admin, &old.link);
    let genesis = old.genesis.unwrap();
    assert!(verify_notice(genesis, old.link.room_id(), &loser.encode()).is_ok());
    let stranger = room.open(&old);
    assert!(room.read(stranger, &sealed_for(&old.link, &loser)));
}

/// A removed ex-admin signs a notice naming the current link's room id over her genuine
/// rekey of an earlier epoch. The notice alone cannot show she lost her authority (that is
/// an absence), so it verifies; but she cannot seal it for the current link, which the rekey
/// that removed her drew without her: whatever she deposits, a stranger with the current
/// link is not told.
#[test]
fn a_removed_ex_admin_cannot_make_the_current_link_look_superseded() {
    let mut room = Room::found(3);
    let (owner, eve) = (0, 1);
    let eve_key = room.key(eve);
    room.govern(
        owner,
        Govern::Promote {
            member: eve_key,
            seen: 0,
        },
    )
    .unwrap();
    let link0 = room.clients[owner].invite();
    room.rekey(eve);
    let link1 = room.clients[eve].invite();
    room.govern(
        owner,
        Govern::Remove {
            member: eve_key,
            seen: 0,
        },
    )
    .unwrap();
    room.rekey(owner);
    let current = room.clients[owner].invite();
    assert_eq!(room.clients[eve].room_id(), link1.link.room_id());
    let genesis = current.genesis.unwrap();

    let mut forged = room.notice(eve, &link0.link);
    forged.room = current.link.room_id();
    forged.signature = Identity::from_seed([eve as u8 + 1; 32]).sign_raw(&statement(
        genesis,
        forged.room,
        forged.rekey,
    ));
    assert!(verify_notice(genesis, current.link.room_id(), &forged.encode()).is_ok());
    // Sealed under every link she holds.
    let entries: Vec<MailboxItem> = [&link0.link, &link1.link, &room.clients[eve].invite().link]
        .into_iter()
        .flat_map(|link| sealed_for(link, &forged))
        .collect();
    let stranger = room.open(&current);
    assert!(!room.read(stranger, &entries));
    assert!(!room.read_notices(stranger));
}

/// A stranger's courier asks for its link's notice mailbox on `joined`, from the start, and
/// reads the one page whole: it moves no cursor of the room's own mailbox (which it would
/// read from there once let in), acknowledges nothing and asks for no next page.
#[test]
fn a_strangers_courier_reads_the_notice_mailbox_without_moving_its_cursor() {
    let mut room = Room::found(1);
    let old = room.clients[0].invite();
    room.rekey(0);
    let stranger = room.open(&old);
    let (mut courier, notice_room, now) = joined_courier(&room, stranger);
    let fetch = courier.poll_transmit();
    assert!(
        matches!(fetch, Some(ClientMessage::MailboxFetch { room: r, after, .. })
            if r == notice_room && after == MailboxSeq::new(0)),
        "{fetch:?}"
    );
    let mut entries = room.mailbox(notice_room);
    for item in &mut entries {
        item.seq = MailboxSeq::new(item.seq.to_u64() + 40);
    }
    let reply = MailboxReply::MailboxEntries {
        room: notice_room,
        entries,
        more: true,
    };
    courier.handle_reply(now, &mut room.clients[stranger], reply);
    room.pump();
    assert!(room.events[stranger].contains(&ClientEvent::LinkSuperseded));
    assert_eq!(courier.cursor(), MailboxSeq::new(0));
    assert_eq!(courier.take_unsaved_cursor(), None);
    assert_eq!(courier.poll_transmit(), None);
}

/// While it waits to be let in, a stranger's courier reads its link's notice mailbox again
/// every `NOTICE_EVERY` (nobody tells it of a deposit there): a link reset after it joined
/// shows within a minute, not at its next connection.
#[test]
fn a_waiting_strangers_courier_reads_the_notice_mailbox_again() {
    let mut room = Room::found(1);
    let old = room.clients[0].invite();
    let stranger = room.open(&old);
    let (mut courier, notice_room, now) = joined_courier(&room, stranger);
    assert!(courier.poll_transmit().is_some());
    let empty = MailboxReply::MailboxEntries {
        room: notice_room,
        entries: Vec::new(),
        more: false,
    };
    courier.handle_reply(now, &mut room.clients[stranger], empty);
    assert_eq!(courier.poll_transmit(), None);
    assert_eq!(courier.poll_timeout(), Some(now + NOTICE_EVERY));
    room.rekey(0);
    courier.handle_timeout(now + NOTICE_EVERY / 2, &room.clients[stranger]);
    assert_eq!(courier.poll_transmit(), None);
    let later = now + NOTICE_EVERY;
    courier.handle_timeout(later, &room.clients[stranger]);
    let fetch = courier.poll_transmit();
    assert!(
        matches!(fetch, Some(ClientMessage::MailboxFetch { room: r, .. }) if r == notice_room),
        "{fetch:?}"
    );
    let reply = MailboxReply::MailboxEntries {
        room: notice_room,
        entries: room.mailbox(notice_room),
        more: false,
    };
    courier.handle_reply(later, &mut room.clients[stranger], reply);
    room.pump();
    assert!(room.events[stranger].contains(&ClientEvent::LinkSuperseded));
    assert_eq!(courier.poll_timeout(), Some(later + NOTICE_EVERY));
}

/// A courier for `stranger`'s room, joined on a server connection: with its notice room and
/// the time.
fn joined_courier(room: &Room, stranger: usize) -> (Courier, RoomId, crate::Instant) {
    let notice_room = room.clients[stranger].notice_room().unwrap();
    let (now, server) = (room.now, PeerId::new(77));
    let mut courier = Courier::new(room.clients[stranger].room_id());
    courier.handle_welcome(now, server, 0);
    courier.handle_joined(now, &room.clients[stranger]);
    (courier, notice_room, now)
}
