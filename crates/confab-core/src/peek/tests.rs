//! Tests of [`MailboxPeek`]: what a push's worker would notify, from real sealed entries.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::*;
use crate::history::{Event, UnixMillis};
use crate::identity::Identity;
use crate::transfer::FileMeta;

const SERVER_PEER: PeerId = PeerId::new(42);

fn room() -> RoomSecret {
    RoomSecret::from_bytes([5; 32])
}

fn alice() -> Identity {
    Identity::from_seed([1; 32])
}

fn bob() -> Identity {
    Identity::from_seed([2; 32])
}

fn carol() -> Identity {
    Identity::from_seed([3; 32])
}

/// `author`'s event `seq` at Lamport time `lamport`, signed for `room`.
fn event(
    author: &Identity,
    room: &RoomSecret,
    seq: u64,
    lamport: u64,
    content: Content,
) -> VerifiedEvent {
    let event = Event {
        author: author.member_key(),
        seq,
        lamport,
        prev: EventId::GENESIS,
        sent_at: UnixMillis(1_000 * lamport),
        content,
    };
    VerifiedEvent::sign(author, &room.room_id(), event)
}

fn text(text: &str, mentions: Vec<MemberKey>) -> Content {
    Content::Text {
        text: text.to_owned(),
        reply_to: None,
        mentions,
    }
}

/// `payload` sealed for `room`'s mailbox as server entry `seq`.
fn item(room: &RoomSecret, seq: u64, payload: &[u8]) -> MailboxItem {
    let nonce = [seq as u8; crate::mailbox::NONCE_LEN];
    MailboxItem {
        seq: MailboxSeq::new(seq),
        entry: room.mailbox_keys().seal(nonce, payload).unwrap(),
    }
}

/// Bob's peek into `room()`, having read nothing, from the start.
fn peek_for_bob(read: ReadMarks) -> MailboxPeek {
    MailboxPeek::new(&room(), bob().member_key(), read, MailboxSeq::new(0))
}

#[test]
fn fetch_is_proven_with_the_room_deposit_key_for_our_connection() {
    let peek = MailboxPeek::new(
        &room(),
        bob().member_key(),
        ReadMarks::default(),
        MailboxSeq::new(7),
    );
    let ClientMessage::MailboxFetch {
        room: id,
        after,
        proof,
    } = peek.fetch(SERVER_PEER)
    else {
        panic!("not a fetch");
    };
    assert_eq!((id, after), (room().room_id(), MailboxSeq::new(7)));
    let key = room().mailbox_keys().deposit_key();
    assert!(key.verify_access(&id, SERVER_PEER, &proof).is_ok());
    assert!(key.verify_access(&id, PeerId::new(43), &proof).is_err());
}

#[test]
fn the_newest_unread_message_by_someone_else_is_shown_with_names_and_mentions() {
    let room = room();
    let (alice, bob, carol) = (alice(), bob(), carol());
    let entries = [
        item(
            &room,
            1,
            event(&alice, &room, 1, 10, Content::Profile { name: "Al".into() }).bytes(),
        ),
        item(
            &room,
            2,
            event(&alice, &room, 2, 11, text("hello", vec![])).bytes(),
        ),
        item(
            &room,
            3,
            event(
                &alice,
                &room,
                3,
                12,
                Content::Profile {
                    name: "Alice".into(),
                },
            )
            .bytes(),
        ),
        // Later in room order though deposited first... and our own message, newest of all.
        item(
            &room,
            4,
            event(&bob, &room, 1, 30, text("mine", vec![])).bytes(),
        ),
        item(
            &room,
            5,
            event(
                &carol,
                &room,
                1,
                20,
                text("hi @Bob", vec![bob.member_key()]),
            )
            .bytes(),
        ),
        item(
            &room,
            6,
            event(
                &alice,
                &room,
                4,
                13,
                Content::React {
                    target: EventId::GENESIS,
                    emoji: "👍".into(),
                    on: true,
                },
            )
            .bytes(),
        ),
        item(
            &room,
            7,
            event(
                &alice,
                &room,
                5,
                14,
                Content::File(FileMeta {
                    name: "notes.pdf".into(),
                    mime: "application/pdf".into(),
                    size: 3,
                    hash: [0; 32],
                }),
            )
            .bytes(),
        ),
    ];
    let mut peek = peek_for_bob(ReadMarks::default());
    assert_eq!(
        peek.handle_entries(SERVER_PEER, room.room_id(), &entries, false),
        None
    );
    let summary = peek.summary();
    let latest = summary.latest.clone().unwrap();
    assert_eq!(latest.author, carol.member_key());
    assert_eq!(latest.content, PeekedContent::Text("hi @Bob".into()));
    assert!(latest.mentions_me);
    assert_eq!(
        (summary.unread, summary.mentions_me, summary.dropped),
        (3, true, 0)
    );
    assert_eq!(peek.name_of(&alice.member_key()), Some("Alice"));
    assert_eq!(peek.name_of(&carol.member_key()), None);

    // Without Carol's message: the file is the newest, and nothing mentions us.
    let mut peek = peek_for_bob(ReadMarks::default());
    let without_carol: Vec<MailboxItem> = entries
        .iter()
        .filter(|item| item.seq != MailboxSeq::new(5))
        .cloned()
        .collect();
    peek.handle_entries(SERVER_PEER, room.room_id(), &without_carol, false);
    let summary = peek.summary();
    assert_eq!(
        summary.latest.unwrap().content,
        PeekedContent::File("notes.pdf".into())
    );
    assert_eq!((summary.unread, summary.mentions_me), (2, false));
}

#[test]
fn read_replayed_deleted_and_own_messages_show_nothing() {
    let room = room();
    let (alice, bob) = (alice(), bob());
    let first = event(&alice, &room, 1, 10, text("read already", vec![]));
    let second = event(&alice, &room, 2, 11, text("taken back", vec![]));
    let entries = [
        item(&room, 1, first.bytes()),
        item(&room, 2, second.bytes()),
        item(
            &room,
            3,
            event(
                &alice,
                &room,
                3,
                12,
                Content::Delete {
                    target: second.id(),
                },
            )
            .bytes(),
        ),
        item(
            &room,
            4,
            event(
                &alice,
                &room,
                4,
                13,
                Content::Edit {
                    target: first.id(),
                    text: "edited".into(),
                },
            )
            .bytes(),
        ),
        item(
            &room,
            5,
            event(&bob, &room, 1, 14, text("mine", vec![bob.member_key()])).bytes(),
        ),
        // The server replays the first entry: still read.
        item(&room, 6, first.bytes()),
    ];
    let mut peek = peek_for_bob(ReadMarks::new([(alice.member_key(), 1)]));
    peek.handle_entries(SERVER_PEER, room.room_id(), &entries, false);
    assert_eq!(peek.summary(), PeekSummary::default());

    // Someone else's "delete" of Alice's message withdraws nothing.
    let mut peek = peek_for_bob(ReadMarks::new([(alice.member_key(), 1)]));
    let not_hers = event(
        &carol(),
        &room,
        1,
        12,
        Content::Delete {
            target: second.id(),
        },
    );
    peek.handle_entries(
        SERVER_PEER,
        room.room_id(),
        &[
            item(&room, 2, second.bytes()),
            item(&room, 3, not_hers.bytes()),
        ],
        false,
    );
    assert_eq!(peek.summary().unread, 1);
}

/// Bob blocked Carol: her messages (one mentioning him) neither count nor preview; Alice's
/// still do.
#[test]
fn a_blocked_members_messages_do_not_count() {
    let room = room();
    let (alice, bob, carol) = (alice(), bob(), carol());
    let entries = [
        item(
            &room,
            1,
            event(&alice, &room, 1, 10, text("from Alice", vec![])).bytes(),
        ),
        item(
            &room,
            2,
            event(
                &carol,
                &room,
                1,
                11,
                text("from Carol", vec![bob.member_key()]),
            )
            .bytes(),
        ),
    ];
    let mut peek = peek_for_bob(ReadMarks::default()).blocking([carol.member_key()]);
    peek.handle_entries(SERVER_PEER, room.room_id(), &entries, false);
    let summary = peek.summary();
    assert_eq!((summary.unread, summary.mentions_me), (1, false));
    assert_eq!(
        summary.latest.map(|m| m.content),
        Some(PeekedContent::Text("from Alice".into()))
    );
    // Only Carol wrote: nothing to notify.
    let mut peek = peek_for_bob(ReadMarks::default()).blocking([carol.member_key()]);
    peek.handle_entries(SERVER_PEER, room.room_id(), &entries[1..], false);
    assert_eq!(peek.summary(), PeekSummary::default());
}

#[test]
fn forged_foreign_and_undecodable_entries_are_dropped_and_counted() {
    let room = room();
    let other = RoomSecret::from_bytes([6; 32]);
    let alice = alice();
    let real = event(&alice, &room, 1, 10, text("real", vec![]));
    let mut forged = event(&alice, &room, 2, 11, text("forged", vec![]))
        .bytes()
        .to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let entries = [
        // Signed for another room, sealed for ours.
        item(
            &room,
            1,
            event(&alice, &other, 2, 11, text("other room", vec![])).bytes(),
        ),
        // Sealed for another room.
        item(
            &other,
            2,
            event(&alice, &room, 2, 11, text("other key", vec![])).bytes(),
        ),
        // A bad signature.
        item(&room, 3, &forged),
        // Not an event at all.
        item(&room, 4, b"\x01garbage"),
        item(&room, 5, real.bytes()),
    ];
    let mut peek = peek_for_bob(ReadMarks::default());
    peek.handle_entries(SERVER_PEER, room.room_id(), &entries, false);
    let summary = peek.summary();
    assert_eq!((summary.unread, summary.dropped), (1, 4));
    assert_eq!(summary.latest.unwrap().id, real.id());

    // A whole page said to be another room's is dropped.
    let mut peek = peek_for_bob(ReadMarks::default());
    peek.handle_entries(
        SERVER_PEER,
        other.room_id(),
        &[item(&room, 5, real.bytes())],
        true,
    );
    assert_eq!((peek.summary().unread, peek.summary().dropped), (0, 1));
}

#[test]
fn pages_are_fetched_after_the_last_seen_entry_and_bounded() {
    let room = room();
    let alice = alice();
    let mut peek = peek_for_bob(ReadMarks::default());
    for page in 0..MAX_PAGES as u64 {
        let seq = 10 * (page + 1);
        let entry = item(
            &room,
            seq,
            event(&alice, &room, page + 1, page + 1, text("x", vec![])).bytes(),
        );
        let next = peek.handle_entries(SERVER_PEER, room.room_id(), &[entry], true);
        if page + 1 < MAX_PAGES as u64 {
            let Some(ClientMessage::MailboxFetch { after, .. }) = next else {
                panic!("page {page}: no next fetch");
            };
            assert_eq!(after, MailboxSeq::new(seq));
        } else {
            assert_eq!(next, None, "more than {MAX_PAGES} pages");
        }
    }
    assert_eq!(peek.summary().unread, MAX_PAGES);

    // A server that says "more" without moving on is not asked again.
    let mut peek = MailboxPeek::new(
        &room,
        bob().member_key(),
        ReadMarks::default(),
        MailboxSeq::new(9),
    );
    assert_eq!(
        peek.handle_entries(SERVER_PEER, room.room_id(), &[], true),
        None
    );
}

/// A governed room's peek opens the current epoch's mailbox and verifies events signed
/// over the genesis; the link's mailbox keys (what a stranger with the link derives) and
/// events signed over the epoch's room id are dropped.
#[test]
fn a_governed_rooms_peek_reads_its_epochs_mailbox_signed_over_the_genesis() {
    let epoch = EpochSecret::from_bytes([8; 32]);
    let genesis = RoomId::from_bytes([9; 32]);
    let alice = alice();
    let signed = |context: &RoomId, text_: &str| {
        let event = Event {
            author: alice.member_key(),
            seq: 1,
            lamport: 10,
            prev: EventId::GENESIS,
            sent_at: UnixMillis(10_000),
            content: text(text_, vec![]),
        };
        VerifiedEvent::sign(&alice, context, event)
    };
    let sealed = |keys: &crate::mailbox::MailboxKeys, seq: u64, payload: &[u8]| MailboxItem {
        seq: MailboxSeq::new(seq),
        entry: keys
            .seal([seq as u8; crate::mailbox::NONCE_LEN], payload)
            .unwrap(),
    };
    let link = epoch.link();
    let entries = [
        sealed(&epoch.mailbox_keys(), 1, signed(&genesis, "hello").bytes()),
        sealed(
            &link.mailbox_keys(),
            2,
            signed(&genesis, "link keys").bytes(),
        ),
        sealed(
            &epoch.mailbox_keys(),
            3,
            signed(&link.room_id(), "wrong context").bytes(),
        ),
    ];
    let mut peek = MailboxPeek::governed(
        &epoch,
        genesis,
        bob().member_key(),
        ReadMarks::default(),
        MailboxSeq::new(0),
    );
    let ClientMessage::MailboxFetch { room, .. } = peek.fetch(SERVER_PEER) else {
        panic!("a fetch");
    };
    assert_eq!(room, link.room_id());
    assert_eq!(
        peek.handle_entries(SERVER_PEER, link.room_id(), &entries, false),
        None
    );
    let summary = peek.summary();
    assert_eq!((summary.unread, summary.dropped), (1, 2));
    assert_eq!(
        summary.latest.map(|m| m.content),
        Some(PeekedContent::Text("hello".into()))
    );
}
