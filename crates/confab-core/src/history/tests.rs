//! History and timeline: merge laws (proptest), forgeries, chains, gaps, and folding.

use proptest::prelude::*;

use std::collections::BTreeSet;

use super::*;
use crate::wire::MAX_TEXT_LEN;

const ROOM: RoomId = RoomId::from_bytes([3; 32]);

pub(crate) fn arb_event() -> impl Strategy<Value = Event> {
    let content = prop_oneof![
        (
            ".{0,40}",
            proptest::option::of(any::<[u8; 32]>()),
            proptest::collection::btree_set(any::<[u8; 32]>(), 0..4)
        )
            .prop_map(|(text, reply, mentions)| Content::Text {
                text,
                reply_to: reply.map(EventId),
                // In key order, once each, as core posts them.
                mentions: mentions.into_iter().map(MemberKey).collect(),
            }),
        (any::<[u8; 32]>(), ".{0,40}").prop_map(|(t, text)| Content::Edit {
            target: EventId(t),
            text
        }),
        any::<[u8; 32]>().prop_map(|t| Content::Delete { target: EventId(t) }),
        (any::<[u8; 32]>(), "[a-z😀]{1,4}", any::<bool>()).prop_map(|(t, emoji, on)| {
            Content::React {
                target: EventId(t),
                emoji,
                on,
            }
        }),
        ".{0,16}".prop_map(|name| Content::Profile { name }),
        (
            ".{1,40}",
            "[a-z]{1,10}/[a-z]{1,10}",
            any::<u64>(),
            any::<[u8; 32]>()
        )
            .prop_map(|(name, mime, size, hash)| Content::File(
                crate::transfer::FileMeta {
                    name,
                    mime,
                    size: size % crate::transfer::MAX_FILE_SIZE,
                    hash
                }
            )),
        crate::wire::govern::tests::arb_govern().prop_map(Content::Govern),
    ];
    (
        any::<[u8; 32]>(),
        1u64..u64::MAX,
        1u64..u64::MAX - 1,
        any::<[u8; 32]>(),
        any::<u64>(),
        content,
    )
        .prop_map(|(author, seq, lamport, prev, sent_at, content)| Event {
            author: MemberKey(author),
            seq,
            lamport,
            prev: EventId(prev),
            sent_at: UnixMillis(sent_at),
            content,
        })
}

pub(super) fn identity(n: u8) -> Identity {
    Identity::from_seed([n; 32])
}

pub(super) fn text(s: &str) -> Content {
    Content::Text {
        text: s.to_owned(),
        reply_to: None,
        mentions: Vec::new(),
    }
}

/// `n_authors` write `n_events` in turn, each seeing a random subset of what was written
/// before, so Lamport times interleave as in a real room. Returns every event.
fn world(seed: u64, n_authors: u8, n_events: usize) -> Vec<VerifiedEvent> {
    let mut rng = seed;
    let authors: Vec<Identity> = (1..=n_authors).map(identity).collect();
    let mut views: Vec<History> = authors.iter().map(|_| History::new(ROOM)).collect();
    let mut all: Vec<VerifiedEvent> = Vec::new();
    for msg_idx in 0..n_events {
        let writer = (next(&mut rng) % u64::from(n_authors)) as usize;
        // Learn some of what others wrote (in order per author, as sync would deliver).
        for event in &all {
            if next(&mut rng).is_multiple_of(3) {
                let _ = views[writer].insert(event.clone(), Horizon::UNBOUNDED);
            }
        }
        let event = views[writer]
            .create(
                &authors[writer],
                UnixMillis(msg_idx as u64),
                text(&format!("m{msg_idx}")),
            )
            .unwrap();
        all.push(event);
    }
    all
}

pub(super) fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn merged(events: impl IntoIterator<Item = VerifiedEvent>) -> History {
    let mut history = History::new(ROOM);
    for event in events {
        let _ = history.insert(event, Horizon::UNBOUNDED);
    }
    history
}

/// Like [`world`], but now and then a writer edits or deletes one of its own messages
/// still shown. Returns every event (full forms) and the ids a delete erases (the messages
/// and their edits).
pub(super) fn world_with_deletes(
    seed: u64,
    n_authors: u8,
    n_events: usize,
) -> (Vec<VerifiedEvent>, BTreeSet<EventId>) {
    let mut rng = seed;
    let authors: Vec<Identity> = (1..=n_authors).map(identity).collect();
    let mut views: Vec<History> = authors.iter().map(|_| History::new(ROOM)).collect();
    let mut shown: Vec<Vec<EventId>> = authors.iter().map(|_| Vec::new()).collect();
    let mut edits: Vec<(EventId, EventId)> = Vec::new();
    let mut all: Vec<VerifiedEvent> = Vec::new();
    let mut deleted = BTreeSet::new();
    for msg_idx in 0..n_events {
        let writer = (next(&mut rng) % u64::from(n_authors)) as usize;
        for event in &all {
            if next(&mut rng).is_multiple_of(3) {
                let _ = views[writer].insert(event.clone(), Horizon::UNBOUNDED);
            }
        }
        let roll = next(&mut rng) % 6;
        let content = if !shown[writer].is_empty() && roll < 2 {
            let pick = (next(&mut rng) % shown[writer].len() as u64) as usize;
            let target = shown[writer].swap_remove(pick);
            deleted.insert(target);
            Content::Delete { target }
        } else if !shown[writer].is_empty() && roll == 2 {
            let pick = (next(&mut rng) % shown[writer].len() as u64) as usize;
            Content::Edit {
                target: shown[writer][pick],
                text: format!("edited{msg_idx}"),
            }
        } else {
            text(&format!("secret{msg_idx}"))
        };
        let event = views[writer]
            .create(&authors[writer], UnixMillis(msg_idx as u64), content)
            .unwrap();
        match event.event().content {
            Content::Text { .. } => shown[writer].push(event.id()),
            Content::Edit { target, .. } => edits.push((event.id(), target)),
            _ => {}
        }
        all.push(event.clone());
    }
    // What a writer erased in its own view is what it would serve: the full forms are
    // the ones signed, taken before any erasure.
    for (edit, target) in edits {
        if deleted.contains(&target) {
            deleted.insert(edit);
        }
    }
    (all, deleted)
}

/// Each accepted event's stored bytes, by id.
fn stored(history: &History) -> Vec<(EventId, Vec<u8>)> {
    history
        .iter()
        .map(|event| (event.id(), event.bytes().to_vec()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any arrival order, with any duplicates, gives the same history: nothing lost,
    /// nothing twice, the same order.
    #[test]
    fn merge_is_order_independent_idempotent_and_lossless(
        seed in any::<u64>(),
        n_authors in 1u8..5,
        n_events in 1usize..40,
        shuffle_seed in any::<u64>(),
        dup_every in 1usize..5,
    ) {
        let events = world(seed, n_authors, n_events);
        let reference = merged(events.clone());
        prop_assert_eq!(reference.len(), events.len());

        let mut shuffled: Vec<VerifiedEvent> = events.clone();
        let mut rng = shuffle_seed;
        for idx in (1..shuffled.len()).rev() {
            let pick = (next(&mut rng) % (idx as u64 + 1)) as usize;
            shuffled.swap(idx, pick);
        }
        let with_dups: Vec<VerifiedEvent> = shuffled
            .iter()
            .enumerate()
            .flat_map(|(i, e)| std::iter::repeat_n(e.clone(), if i % dup_every == 0 { 2 } else { 1 }))
            .collect();
        let other = merged(with_dups);
        prop_assert_eq!(other.ids().collect::<Vec<_>>(), reference.ids().collect::<Vec<_>>());
        prop_assert_eq!(other.marks(), reference.marks());
        prop_assert_eq!(other.held_bytes(), 0);
    }

    /// Merging two histories (union) is commutative.
    #[test]
    fn merging_two_histories_is_commutative(seed in any::<u64>(), split in any::<u64>()) {
        let events = world(seed, 3, 24);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut rng = split;
        for event in &events {
            match next(&mut rng) % 3 {
                0 => a.push(event.clone()),
                1 => b.push(event.clone()),
                _ => { a.push(event.clone()); b.push(event.clone()); }
            }
        }
        let ab = merged(a.iter().chain(&b).cloned());
        let ba = merged(b.iter().chain(&a).cloned());
        prop_assert_eq!(ab.ids().collect::<Vec<_>>(), ba.ids().collect::<Vec<_>>());
    }

    /// An author who forks (two branches after a common prefix) among honest authors: any
    /// arrival order, with duplicates, ends with the same history, which keeps the prefix
    /// and drops both branches.
    #[test]
    fn forks_merge_to_the_same_history_in_any_order(
        seed in any::<u64>(),
        prefix in 0usize..4,
        branch_a in 1usize..4,
        branch_b in 1usize..4,
        shuffle_seeds in any::<[u64; 2]>(),
    ) {
        let forker = identity(9);
        let (common, a, b) = forked_chains(&forker, prefix, branch_a, branch_b);
        let honest = world(seed, 2, 12);
        let undisputed = merged(honest.iter().chain(&common).cloned());
        let all: Vec<VerifiedEvent> = honest.iter().chain(&common).chain(&a).chain(&b).cloned().collect();
        for shuffle_seed in shuffle_seeds {
            let mut shuffled: Vec<VerifiedEvent> =
                all.iter().chain(all.iter().step_by(3)).cloned().collect();
            let mut rng = shuffle_seed;
            for idx in (1..shuffled.len()).rev() {
                let pick = (next(&mut rng) % (idx as u64 + 1)) as usize;
                shuffled.swap(idx, pick);
            }
            let history = merged(shuffled);
            prop_assert_eq!(history.ids().collect::<Vec<_>>(), undisputed.ids().collect::<Vec<_>>());
            prop_assert_eq!(history.forked_from(&forker.member_key()), Some(prefix as u64 + 1));
            prop_assert_eq!(history.held_bytes(), 0);
        }
    }

    /// Redacted forms mixed in (those of deleted messages, as members serve them, and
    /// forged ones of messages nobody deleted), in any order, with duplicates: every
    /// member ends with the same events in the same forms. A deleted message is held
    /// redacted whatever arrived first; every other event whole, as soon as any full form
    /// arrived; one only ever seen redacted waits as unavailable.
    #[test]
    fn redacted_forms_merge_to_the_same_history_in_any_order(
        seed in any::<u64>(),
        n_authors in 1u8..4,
        n_events in 1usize..30,
        shuffle_seeds in any::<[u64; 2]>(),
        forge_every in 1usize..5,
        withhold in any::<prop::sample::Index>(),
    ) {
        let (events, deleted) = world_with_deletes(seed, n_authors, n_events);
        let redacted: Vec<VerifiedEvent> = events
            .iter()
            .enumerate()
            .filter(|(i, e)| deleted.contains(&e.id()) || i % forge_every == 0)
            .filter_map(|(_, e)| e.redacted())
            .collect();
        let reference = merged(events.clone());
        let mut runs = Vec::new();
        for shuffle_seed in shuffle_seeds {
            let mut shuffled: Vec<VerifiedEvent> =
                events.iter().chain(&redacted).chain(events.iter().step_by(2)).cloned().collect();
            let mut rng = shuffle_seed;
            for idx in (1..shuffled.len()).rev() {
                let pick = (next(&mut rng) % (idx as u64 + 1)) as usize;
                shuffled.swap(idx, pick);
            }
            let history = merged(shuffled);
            prop_assert_eq!(history.ids().collect::<Vec<_>>(), reference.ids().collect::<Vec<_>>());
            prop_assert_eq!(history.marks(), reference.marks());
            prop_assert_eq!(history.unavailable().count(), 0);
            runs.push(stored(&history));
        }
        prop_assert_eq!(&runs[0], &runs[1]);
        prop_assert_eq!(&runs[0], &stored(&reference));
        for event in &events {
            let held = reference.get(&event.id()).unwrap();
            prop_assert_eq!(held.is_redacted(), deleted.contains(&event.id()));
            if let Content::Text { text, .. } | Content::Edit { text, .. } = &event.event().content
                && deleted.contains(&event.id())
            {
                let bytes = held.bytes();
                prop_assert!(!bytes.windows(text.len()).any(|w| w == text.as_bytes()));
            }
        }
        // One event's full form withheld: it waits as unavailable, unless deleted.
        let gone = &events[withhold.index(events.len())];
        let history = merged(
            events
                .iter()
                .filter(|e| e.id() != gone.id())
                .cloned()
                .chain(gone.redacted()),
        );
        let waiting: Vec<EventId> = history.unavailable().map(|(_, _, id)| id).collect();
        let expected = if deleted.contains(&gone.id()) || gone.redacted().is_none() {
            vec![]
        } else {
            vec![gone.id()]
        };
        prop_assert_eq!(waiting, expected);
    }

    /// Flipping any byte of a signed event makes it fail verification (or decoding); it
    /// never panics and never verifies as something else.
    #[test]
    fn altered_events_never_verify(idx in any::<prop::sample::Index>(), bit in 0u8..8) {
        let event = world(1, 1, 1).remove(0);
        let mut bytes = event.bytes().to_vec();
        let at = idx.index(bytes.len());
        bytes[at] ^= 1 << bit;
        prop_assert!(VerifiedEvent::verify(&ROOM, &bytes).is_err());
    }

    /// A history that holds an event takes its exact bytes, or its redacted form, again
    /// without checking the signature, but any altered copy of either, its signature
    /// included (the id hashes only the signed part, so a copy with another signature has
    /// the same id), is checked in full and fails.
    #[test]
    fn a_held_event_skips_the_check_only_byte_for_byte(
        idx in any::<prop::sample::Index>(),
        bit in 0u8..8,
        redacted in any::<bool>(),
    ) {
        let event = world(1, 1, 1).remove(0);
        let mut history = History::new(ROOM);
        history.insert(event.clone(), Horizon::UNBOUNDED).unwrap();
        let copy = if redacted { event.redacted().unwrap() } else { event.clone() };
        prop_assert_eq!(history.verify(copy.bytes()).map(|again| again.id()), Ok(event.id()));
        // A held copy is handed back as held: what checking it afresh decodes.
        prop_assert_eq!(history.verify(copy.bytes()), VerifiedEvent::verify(&ROOM, copy.bytes()));
        let mut bytes = copy.bytes().to_vec();
        let at = idx.index(bytes.len());
        bytes[at] ^= 1 << bit;
        prop_assert!(history.verify(&bytes).is_err());
    }
}

#[test]
fn events_verify_only_in_their_room_and_ids_are_content_hashes() {
    let event = world(2, 1, 1).remove(0);
    let again = VerifiedEvent::verify(&ROOM, event.bytes()).unwrap();
    assert_eq!(again.id(), event.id());
    assert_eq!(
        VerifiedEvent::verify(&RoomId::from_bytes([4; 32]), event.bytes()),
        Err(EventError::Signature)
    );
    assert_eq!(
        VerifiedEvent::restore(&ROOM, event.bytes(), Some(EventId([0; 32]))),
        Err(EventError::Corrupt)
    );
}

#[test]
fn gaps_are_held_until_filled_then_accepted_in_sequence() {
    let events = world(3, 1, 3);
    let mut history = History::new(ROOM);
    let author = identity(1).member_key();
    assert_eq!(
        history.insert(events[2].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Held {
            author,
            have: 0,
            seq: 3
        })
    );
    assert_eq!(
        history.insert(events[2].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Duplicate)
    );
    assert!(matches!(
        history.insert(events[1].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Held { seq: 2, .. })
    ));
    assert_eq!(history.mark(&author), 0);
    assert_eq!(
        history.insert(events[0].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Accepted(vec![
            events[0].id(),
            events[1].id(),
            events[2].id()
        ]))
    );
    assert_eq!(history.mark(&author), 3);
    assert_eq!(history.held_bytes(), 0);
    let range: Vec<EventId> = history.range(&author, 1, 3).map(|e| e.id()).collect();
    assert_eq!(range, vec![events[1].id(), events[2].id()]);
    assert_eq!(history.range(&author, 3, 99).count(), 0);
}

/// Only the author's own delete of a message erases it: Eve's delete of Alice's message,
/// and Alice's delete of her own reaction, leave the content. A version-1 message (from a
/// store written before version 2) signs its text, which then cannot be dropped: deleted,
/// it is hidden from the timeline but its bytes stay whole (the documented limit).
#[test]
fn only_an_authors_delete_of_a_version_2_message_erases_it() {
    let (alice, eve) = (identity(1), identity(2));
    let mut history = History::new(ROOM);
    let secret = history
        .create(&alice, UnixMillis(1), text("secret"))
        .unwrap();
    let react = Content::React {
        target: secret.id(),
        emoji: "👍".into(),
        on: true,
    };
    let reaction = history.create(&alice, UnixMillis(2), react).unwrap();
    let mut eves = History::new(ROOM);
    eves.insert(secret.clone(), Horizon::UNBOUNDED).unwrap();
    let forged = eves
        .create(
            &eve,
            UnixMillis(3),
            Content::Delete {
                target: secret.id(),
            },
        )
        .unwrap();
    history.insert(forged, Horizon::UNBOUNDED).unwrap();
    history
        .create(
            &alice,
            UnixMillis(4),
            Content::Delete {
                target: reaction.id(),
            },
        )
        .unwrap();
    assert_eq!(history.get(&secret.id()).unwrap().bytes(), secret.bytes());
    assert_eq!(
        history.get(&reaction.id()).unwrap().bytes(),
        reaction.bytes()
    );
    assert!(history.take_rewritten().is_empty());
    assert!(!history.erased(&secret.id()));

    history
        .create(
            &alice,
            UnixMillis(5),
            Content::Delete {
                target: secret.id(),
            },
        )
        .unwrap();
    let held = history.get(&secret.id()).unwrap().clone();
    assert!(held.is_redacted());
    assert_eq!(Some(&held), secret.redacted().as_ref());
    assert_eq!(history.take_rewritten(), vec![held.clone()]);
    assert!(VerifiedEvent::verify(&ROOM, held.bytes()).is_ok());

    let old = VerifiedEvent::sign_v1(
        &identity(3),
        &ROOM,
        Event {
            author: identity(3).member_key(),
            seq: 1,
            lamport: 1,
            prev: EventId::GENESIS,
            sent_at: UnixMillis(0),
            content: text("old"),
        },
    );
    assert_eq!(old.redacted(), None);
    let mut history = History::new(ROOM);
    history.insert(old.clone(), Horizon::UNBOUNDED).unwrap();
    history
        .create(
            &identity(3),
            UnixMillis(1),
            Content::Delete { target: old.id() },
        )
        .unwrap();
    assert_eq!(history.get(&old.id()).unwrap().bytes(), old.bytes());
    assert!(history.take_rewritten().is_empty());
}

#[test]
fn a_fork_at_the_first_event_removes_every_event_of_its_author_everywhere() {
    let (author, honest_author) = (identity(1), identity(2));
    let mut history = History::new(ROOM);
    let first = history
        .create(&author, UnixMillis(1), text("first"))
        .unwrap();
    let second = history
        .create(&author, UnixMillis(2), text("second"))
        .unwrap();
    let other = history
        .create(&honest_author, UnixMillis(3), text("unrelated"))
        .unwrap();
    let mut fork = History::new(ROOM);
    let forked = fork
        .create(&author, UnixMillis(1), text("other first"))
        .unwrap();
    assert_eq!(
        history.insert(forked.clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Equivocation {
            author: author.member_key(),
            from_seq: 1,
            accepted: Vec::new(),
            removed: vec![first.id(), second.id()]
        })
    );
    assert_eq!(history.ids().collect::<Vec<_>>(), vec![other.id()]);
    assert_eq!(history.mark(&author.member_key()), 0);
    assert_eq!(
        history.insert(first.clone(), Horizon::UNBOUNDED),
        Err(EventError::Banned)
    );
    // Another member who saw the other branch first reaches the same state from the proof.
    let mut elsewhere = History::new(ROOM);
    let _ = elsewhere.insert(other.clone(), Horizon::UNBOUNDED).unwrap();
    let _ = elsewhere.insert(forked, Horizon::UNBOUNDED).unwrap();
    let proof = history.proof(&author.member_key()).unwrap().clone();
    for event in proof {
        // The second one is refused: already banned.
        let _ = elsewhere.insert(event, Horizon::UNBOUNDED);
    }
    assert!(elsewhere.is_banned(&author.member_key()));
    assert_eq!(
        elsewhere.ids().collect::<Vec<_>>(),
        history.ids().collect::<Vec<_>>()
    );
    // A fork among held events is a proof too.
    let mut holder = History::new(ROOM);
    let held = fork
        .create(&author, UnixMillis(4), text("fork two"))
        .unwrap();
    assert!(matches!(
        holder.insert(second.clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Held { .. })
    ));
    assert!(matches!(
        holder.insert(held, Horizon::UNBOUNDED),
        Ok(Inserted::Equivocation { removed, from_seq: 2, .. }) if removed.is_empty()
    ));
    assert_eq!(holder.held_bytes(), 0);
}

/// An author's events 1..=`prefix`, then two branches from `prefix + 1` on.
fn forked_chains(
    author: &Identity,
    prefix: usize,
    branch_a: usize,
    branch_b: usize,
) -> (Vec<VerifiedEvent>, Vec<VerifiedEvent>, Vec<VerifiedEvent>) {
    let mut history = History::new(ROOM);
    let common: Vec<VerifiedEvent> = (0..prefix)
        .map(|n| {
            history
                .create(author, UnixMillis(n as u64), text(&format!("c{n}")))
                .unwrap()
        })
        .collect();
    let mut other = history.clone();
    let a = (0..branch_a)
        .map(|n| {
            history
                .create(author, UnixMillis(n as u64), text(&format!("a{n}")))
                .unwrap()
        })
        .collect();
    let b = (0..branch_b)
        .map(|n| {
            other
                .create(author, UnixMillis(n as u64), text(&format!("b{n}")))
                .unwrap()
        })
        .collect();
    (common, a, b)
}

/// Item 6 of issue 14: the proof removed every event of the author, though those before
/// the fork are the same on both branches.
#[test]
fn a_proven_fork_removes_only_what_is_in_dispute_and_everyone_keeps_the_rest() {
    let author = identity(1);
    let key = author.member_key();
    let (common, a, b) = forked_chains(&author, 3, 3, 2);
    // X saw branch a, then one event of branch b.
    let mut x = merged(common.iter().chain(&a).cloned());
    assert!(matches!(
        x.insert(b[1].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Equivocation { from_seq: 5, .. })
    ));
    // Y saw branch b first, then the first event of a: the fork is proven at seq 4.
    let mut y = merged(common.iter().chain(&b).cloned());
    assert!(matches!(
        y.insert(a[0].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Equivocation { from_seq: 4, ref removed, .. }) if removed.len() == 2
    ));
    // X learns Y's proof (sent to whoever still holds events from seq 4 on).
    for event in y.proof(&key).unwrap().clone() {
        let _ = x.insert(event, Horizon::UNBOUNDED);
    }
    // Z had only the common part, then gets Y's proof and the rest of both branches.
    let mut z = merged(common.iter().cloned());
    for event in y.proof(&key).unwrap().iter().chain(&a).chain(&b) {
        let _ = z.insert(event.clone(), Horizon::UNBOUNDED);
    }
    let common_ids: Vec<EventId> = common.iter().map(|e| e.id()).collect();
    for member in [&mut x, &mut y, &mut z] {
        assert_eq!(member.ids().collect::<Vec<_>>(), common_ids);
        assert_eq!(member.forked_from(&key), Some(4));
        assert_eq!(
            member.insert(a[2].clone(), Horizon::UNBOUNDED),
            Err(EventError::Banned)
        );
    }
}

/// Item 7 of issue 14: a profile whose own chain is proven forked (used in two browsers)
/// must refuse to write, not return an event its own history and everyone else refuse.
#[test]
fn a_forked_profile_cannot_create_and_keeps_what_it_wrote_before() {
    let me = identity(1);
    let (common, mine, elsewhere) = forked_chains(&me, 2, 1, 1);
    let mut history = merged(common.iter().chain(&mine).cloned());
    let _ = history.insert(elsewhere[0].clone(), Horizon::UNBOUNDED);
    assert_eq!(
        history.create(&me, UnixMillis(9), text("more")),
        Err(CreateError::Forked)
    );
    assert_eq!(history.mark(&me.member_key()), 2);
}

#[test]
fn a_successor_of_another_branch_proves_a_fork() {
    let author = identity(1);
    let (common, a, b) = forked_chains(&author, 1, 1, 2);
    let mut honest = merged(common.iter().chain(&a).cloned());
    // b[1] is seq 3: held, then shown not to follow a[0] when... it is never reached; but
    // a successor that names another predecessor right after our head is a proof.
    let mut short = merged(common.iter().cloned());
    assert!(matches!(
        short.insert(b[1].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Held { seq: 3, .. })
    ));
    assert!(matches!(
        short.insert(a[0].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Equivocation { from_seq: 3, ref accepted, .. }) if accepted == &vec![a[0].id()]
    ));
    assert!(matches!(
        honest.insert(b[1].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Equivocation { from_seq: 3, .. })
    ));
    assert_eq!(
        short.ids().collect::<Vec<_>>(),
        honest.ids().collect::<Vec<_>>()
    );
    // A first event that names a predecessor is invalid by itself, not a proof.
    let bad = VerifiedEvent::sign(
        &author,
        &ROOM,
        Event {
            prev: EventId([1; 32]),
            ..common[0].event().clone()
        },
    );
    assert_eq!(
        honest.insert(bad, Horizon::UNBOUNDED),
        Err(EventError::Chain)
    );
}

/// Item 1 of issue 14: after one event at Lamport `u64::MAX - 1`, a member could post once
/// more, then never: `create` capped the time, its own history refused the event, and it
/// was sent anyway.
#[test]
fn a_lamport_bomb_is_not_yet_and_everyone_goes_on_posting() {
    let (bomber, member) = (identity(1), identity(2));
    let wall = UnixMillis(1_800_000_000_000);
    let bomb = VerifiedEvent::sign(
        &bomber,
        &ROOM,
        Event {
            author: bomber.member_key(),
            seq: 1,
            lamport: u64::MAX - 1,
            prev: EventId::GENESIS,
            sent_at: wall,
            content: text("boom"),
        },
    );
    let mut history = History::new(ROOM);
    assert_eq!(
        history.insert(bomb.clone(), Horizon::at(wall)),
        Err(EventError::NotYet {
            lamport: u64::MAX - 1
        })
    );
    assert!(history.is_empty());
    let posts: Vec<VerifiedEvent> = (0..2)
        .map(|n| {
            history
                .create(&member, wall, text(&format!("after {n}")))
                .unwrap()
        })
        .collect();
    let fresh = merged(posts.iter().cloned());
    for post in &posts {
        assert!(history.contains(&post.id()) && fresh.contains(&post.id()));
    }
    // Even a history that holds the bomb (restored from a store) refuses to sign past it.
    let mut bombed = merged([bomb]);
    assert_eq!(
        bombed
            .create(&member, wall, text("one"))
            .map(|e| e.event().lamport),
        Err(CreateError::Exhausted)
    );
}

#[test]
fn an_event_from_the_future_is_accepted_once_the_clock_passes_it() {
    let author = identity(1);
    let wall = UnixMillis(1_800_000_000_000);
    let horizon = Horizon::at(wall);
    assert_eq!(
        horizon.lamport(),
        (wall.0 + MAX_AHEAD_OF_CLOCK_MS) << LAMPORT_SHIFT
    );
    let sign = |seq, lamport, prev| {
        VerifiedEvent::sign(
            &author,
            &ROOM,
            Event {
                author: author.member_key(),
                seq,
                lamport,
                prev,
                sent_at: wall,
                content: text("early"),
            },
        )
    };
    let early = sign(1, horizon.lamport() + 1, EventId::GENESIS);
    let next = sign(2, horizon.lamport() + 2, early.id());
    let mut history = History::new(ROOM);
    // Not held either: nothing is kept of it.
    assert!(matches!(
        history.insert(next.clone(), horizon),
        Err(EventError::NotYet { .. })
    ));
    assert!(matches!(
        history.insert(early.clone(), horizon),
        Err(EventError::NotYet { .. })
    ));
    assert!(history.is_empty() && history.held_bytes() == 0);
    let later = Horizon::at(UnixMillis(wall.0 + 1));
    assert_eq!(
        history.insert(early.clone(), later),
        Ok(Inserted::Accepted(vec![early.id()]))
    );
    assert_eq!(
        history.insert(next.clone(), later),
        Ok(Inserted::Accepted(vec![next.id()]))
    );
    // Our own restored events are never bounded.
    let restored = merged([early, next]);
    assert_eq!(restored.len(), 2);
}

/// `n` events of `author`, each of [`LONG`] bytes, so 64 fill an author's held bytes and
/// 512 the room's.
fn long_chain(author: &Identity, n: usize) -> Vec<VerifiedEvent> {
    let mut writer = History::new(ROOM);
    let filler = |len: usize| Content::Text {
        text: "x".repeat(len),
        reply_to: None,
        mentions: Vec::new(),
    };
    (0..n)
        .map(|_| {
            let probe = writer.clone().create(author, UnixMillis(0), filler(0));
            let overhead = probe.unwrap().bytes().len();
            let event = writer.create(author, UnixMillis(0), filler(LONG - overhead));
            event.unwrap()
        })
        .collect()
}

const LONG: usize = 16 * 1024;

/// Item 3 of issue 14: held events were bounded by count only (16,384 of up to 16.6 KB).
#[test]
fn a_flood_of_held_events_stays_under_the_byte_bounds_and_honest_ones_fill_in() {
    let mut history = History::new(ROOM);
    // An honest author's events 2..=4 arrive before their first.
    let honest_events = long_chain(&identity(100), 4);
    for event in &honest_events[1..] {
        assert!(matches!(
            history.insert(event.clone(), Horizon::UNBOUNDED),
            Ok(Inserted::Held { .. })
        ));
    }
    // Ten flooders send their events 2..=100 (about 1.6 MB each) and never their first.
    for flooder in 1..=10 {
        for event in long_chain(&identity(flooder), 100).into_iter().skip(1) {
            let _ = history.insert(event, Horizon::UNBOUNDED);
        }
        // Checks the bounds per author and in all.
        history.held.checked();
    }
    assert_eq!(history.held_bytes(), MAX_HELD_BYTES);
    // The honest events held before the flood fill in once the gap does.
    let ids: Vec<EventId> = honest_events.iter().map(|e| e.id()).collect();
    assert_eq!(
        history.insert(honest_events[0].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Accepted(ids))
    );
}

/// Keys are cheap: eight attackers who kept the room's held bytes full made every honest
/// author's out-of-order events `HeldFull`. The room's bound is now shared fairly.
#[test]
fn attackers_filling_the_held_bytes_do_not_keep_an_honest_authors_events_out() {
    let mut history = History::new(ROOM);
    let mut attackers: Vec<Vec<VerifiedEvent>> = (1..=8)
        .map(|attacker| long_chain(&identity(attacker), 65))
        .collect();
    for chain in &attackers {
        for event in &chain[1..] {
            let _ = history.insert(event.clone(), Horizon::UNBOUNDED);
        }
    }
    assert_eq!(history.held_bytes(), MAX_HELD_BYTES);
    let honest = identity(100);
    let honest_events = long_chain(&honest, 3);
    for event in &honest_events[1..] {
        assert_eq!(
            history.insert(event.clone(), Horizon::UNBOUNDED),
            Ok(Inserted::Held {
                author: honest.member_key(),
                have: 0,
                seq: event.event().seq
            })
        );
    }
    // More attackers, and the first ones again, evict only attackers' events.
    attackers.extend((9..=12).map(|attacker| long_chain(&identity(attacker), 65)));
    for chain in &attackers {
        for event in &chain[1..] {
            let _ = history.insert(event.clone(), Horizon::UNBOUNDED);
        }
    }
    assert_eq!(history.held.checked()[&honest.member_key()], vec![2, 3]);
    let ids: Vec<EventId> = honest_events.iter().map(|e| e.id()).collect();
    assert_eq!(
        history.insert(honest_events[0].clone(), Horizon::UNBOUNDED),
        Ok(Inserted::Accepted(ids))
    );
    // An evicted attacker's events are taken again in sequence (as catch-up sends them).
    for event in &attackers[0] {
        let _ = history.insert(event.clone(), Horizon::UNBOUNDED);
    }
    assert_eq!(history.mark(&identity(1).member_key()), 65);
}

#[test]
fn too_far_ahead_is_refused_without_holding() {
    let author = identity(1);
    let mut writer = History::new(ROOM);
    let mut last = None;
    for n in 0..=MAX_AHEAD {
        last = Some(
            writer
                .create(
                    &author,
                    UnixMillis(n),
                    Content::Profile { name: "a".into() },
                )
                .unwrap(),
        );
    }
    let mut history = History::new(ROOM);
    assert_eq!(
        history.insert(last.unwrap(), Horizon::UNBOUNDED),
        Err(EventError::TooFarAhead { seq: MAX_AHEAD + 1 })
    );
    assert_eq!(history.held_bytes(), 0);
    assert!(history.logs.is_empty());
}

#[test]
fn timeline_applies_edits_deletes_reactions_and_names_by_room_order() {
    let (alice, bob) = (identity(1), identity(2));
    let mut history = History::new(ROOM);
    let mut timeline = Timeline::new();
    macro_rules! post {
        ($who:expr, $content:expr) => {{
            let event = history.create($who, UnixMillis(0), $content).unwrap();
            timeline.apply(&event);
            event.id()
        }};
    }
    let hello = post!(&alice, text("hello"));
    post!(
        &alice,
        Content::Profile {
            name: "Alice".into()
        }
    );
    post!(
        &bob,
        Content::Edit {
            target: hello,
            text: "hacked".into()
        }
    );
    post!(
        &bob,
        Content::React {
            target: hello,
            emoji: "👍".into(),
            on: true
        }
    );
    post!(
        &alice,
        Content::React {
            target: hello,
            emoji: "👍".into(),
            on: true
        }
    );
    post!(
        &alice,
        Content::Edit {
            target: hello,
            text: "hello, all".into()
        }
    );
    post!(
        &bob,
        Content::React {
            target: hello,
            emoji: "👍".into(),
            on: false
        }
    );
    let view = timeline.message(&hello).unwrap().clone();
    assert_eq!(view.text, "hello, all");
    assert!(view.edited);
    assert_eq!(
        view.reactions,
        vec![Reaction {
            emoji: "👍".into(),
            by: vec![alice.member_key()]
        }]
    );
    assert_eq!(timeline.name(&alice.member_key()), Some("Alice"));

    post!(&bob, Content::Delete { target: hello });
    assert!(!timeline.message(&hello).unwrap().deleted);
    post!(&alice, Content::Delete { target: hello });
    let view = timeline.message(&hello).unwrap();
    assert!(view.deleted);
    assert_eq!(view.text, "");
    // After a delete, edits do nothing.
    post!(
        &alice,
        Content::Edit {
            target: hello,
            text: "back".into()
        }
    );
    assert_eq!(timeline.message(&hello).unwrap().text, "");
}

#[test]
fn a_reaction_that_arrives_before_its_message_is_shown_with_it() {
    let (alice, bob) = (identity(1), identity(2));
    let mut alice_history = History::new(ROOM);
    let hello = alice_history
        .create(&alice, UnixMillis(0), text("hello"))
        .unwrap();
    let mut bob_history = History::new(ROOM);
    let _ = bob_history.insert(hello.clone(), Horizon::UNBOUNDED);
    let like = bob_history
        .create(
            &bob,
            UnixMillis(1),
            Content::React {
                target: hello.id(),
                emoji: "❤".into(),
                on: true,
            },
        )
        .unwrap();
    let mut timeline = Timeline::new();
    assert_eq!(timeline.apply(&like), None);
    let Some(TimelineChange::Message(view)) = timeline.apply(&hello) else {
        panic!("message not shown");
    };
    assert_eq!(view.reactions.len(), 1);
}

#[test]
fn the_longest_reply_fits_the_event_limit() {
    let author = identity(1);
    let mut history = History::new(ROOM);
    let most_mentions = (0..crate::wire::MAX_MENTIONS)
        .map(|n| MemberKey([n as u8; 32]))
        .collect();
    let event = history
        .create(
            &author,
            UnixMillis(u64::MAX),
            Content::Text {
                text: "é".repeat(MAX_TEXT_LEN / 2),
                reply_to: Some(EventId([9; 32])),
                mentions: most_mentions,
            },
        )
        .unwrap();
    assert_eq!(event.bytes().len(), crate::wire::MAX_EVENT_LEN);
    assert!(VerifiedEvent::verify(&ROOM, event.bytes()).is_ok());
}
