//! History and timeline: merge laws (proptest), forgeries, chains, gaps, and folding.

use proptest::prelude::*;

use super::*;
use crate::wire::MAX_TEXT_LEN;

const ROOM: RoomId = RoomId::from_bytes([3; 32]);

pub(crate) fn arb_event() -> impl Strategy<Value = Event> {
    let content = prop_oneof![
        (".{0,40}", proptest::option::of(any::<[u8; 32]>())).prop_map(|(text, reply)| {
            Content::Text {
                text,
                reply_to: reply.map(EventId),
            }
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

fn identity(n: u8) -> Identity {
    Identity::from_seed([n; 32])
}

fn text(s: &str) -> Content {
    Content::Text {
        text: s.to_owned(),
        reply_to: None,
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
                let _ = views[writer].insert(event.clone());
            }
        }
        let event = views[writer].create(
            &authors[writer],
            UnixMillis(msg_idx as u64),
            text(&format!("m{msg_idx}")),
        );
        all.push(event);
    }
    all
}

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn merged(events: impl IntoIterator<Item = VerifiedEvent>) -> History {
    let mut history = History::new(ROOM);
    for event in events {
        let _ = history.insert(event).unwrap();
    }
    history
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
        prop_assert_eq!(other.n_held, 0);
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
        history.insert(events[2].clone()),
        Ok(Inserted::Held {
            author,
            have: 0,
            seq: 3
        })
    );
    assert_eq!(history.insert(events[2].clone()), Ok(Inserted::Duplicate));
    assert!(matches!(
        history.insert(events[1].clone()),
        Ok(Inserted::Held { seq: 2, .. })
    ));
    assert_eq!(history.mark(&author), 0);
    assert_eq!(
        history.insert(events[0].clone()),
        Ok(Inserted::Accepted(vec![
            events[0].id(),
            events[1].id(),
            events[2].id()
        ]))
    );
    assert_eq!(history.mark(&author), 3);
    assert_eq!(history.n_held, 0);
    let range: Vec<EventId> = history.range(&author, 1, 3).map(|e| e.id()).collect();
    assert_eq!(range, vec![events[1].id(), events[2].id()]);
    assert_eq!(history.range(&author, 3, 99).count(), 0);
}

#[test]
fn an_author_who_equivocates_loses_every_event_everywhere() {
    let (author, honest_author) = (identity(1), identity(2));
    let mut history = History::new(ROOM);
    let first = history.create(&author, UnixMillis(1), text("first"));
    let second = history.create(&author, UnixMillis(2), text("second"));
    let other = history.create(&honest_author, UnixMillis(3), text("unrelated"));
    let mut fork = History::new(ROOM);
    let forked = fork.create(&author, UnixMillis(1), text("other first"));
    assert_eq!(
        history.insert(forked.clone()),
        Ok(Inserted::Equivocation {
            author: author.member_key(),
            removed: vec![first.id(), second.id()]
        })
    );
    assert_eq!(history.ids().collect::<Vec<_>>(), vec![other.id()]);
    assert_eq!(history.mark(&author.member_key()), 0);
    assert_eq!(history.insert(first.clone()), Err(EventError::Banned));
    // Another member who saw the other branch first reaches the same state from the proof.
    let mut elsewhere = History::new(ROOM);
    let _ = elsewhere.insert(other.clone()).unwrap();
    let _ = elsewhere.insert(forked).unwrap();
    let proof = history.proof(&author.member_key()).unwrap().clone();
    for event in proof {
        let _ = elsewhere.insert(event); // the second one is refused: already banned
    }
    assert!(elsewhere.is_banned(&author.member_key()));
    assert_eq!(
        elsewhere.ids().collect::<Vec<_>>(),
        history.ids().collect::<Vec<_>>()
    );
    // A fork among held events is a proof too.
    let mut holder = History::new(ROOM);
    let held = fork.create(&author, UnixMillis(4), text("fork two"));
    assert!(matches!(
        holder.insert(second.clone()),
        Ok(Inserted::Held { .. })
    ));
    assert!(matches!(
        holder.insert(held),
        Ok(Inserted::Equivocation { removed, .. }) if removed.is_empty()
    ));
    assert_eq!(holder.n_held, 0);
}

#[test]
fn a_successor_of_another_branch_does_not_chain() {
    let author = identity(1);
    let mut honest = History::new(ROOM);
    honest.create(&author, UnixMillis(1), text("first"));
    let mut fork = History::new(ROOM);
    fork.create(&author, UnixMillis(1), text("other first"));
    let fork_next = fork.create(&author, UnixMillis(2), text("second"));
    assert_eq!(honest.insert(fork_next), Err(EventError::Chain));
}

#[test]
fn too_far_ahead_is_refused_without_holding() {
    let author = identity(1);
    let mut writer = History::new(ROOM);
    let mut last = None;
    for n in 0..=MAX_AHEAD {
        last = Some(writer.create(
            &author,
            UnixMillis(n),
            Content::Profile { name: "a".into() },
        ));
    }
    let mut history = History::new(ROOM);
    assert_eq!(
        history.insert(last.unwrap()),
        Err(EventError::TooFarAhead { seq: MAX_AHEAD + 1 })
    );
    assert_eq!(history.n_held, 0);
    assert!(history.logs.is_empty());
}

#[test]
fn timeline_applies_edits_deletes_reactions_and_names_by_room_order() {
    let (alice, bob) = (identity(1), identity(2));
    let mut history = History::new(ROOM);
    let mut timeline = Timeline::new();
    macro_rules! post {
        ($who:expr, $content:expr) => {{
            let event = history.create($who, UnixMillis(0), $content);
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
    let hello = alice_history.create(&alice, UnixMillis(0), text("hello"));
    let mut bob_history = History::new(ROOM);
    let _ = bob_history.insert(hello.clone());
    let like = bob_history.create(
        &bob,
        UnixMillis(1),
        Content::React {
            target: hello.id(),
            emoji: "❤".into(),
            on: true,
        },
    );
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
    let event = history.create(
        &author,
        UnixMillis(u64::MAX),
        Content::Text {
            text: "é".repeat(MAX_TEXT_LEN / 2),
            reply_to: Some(EventId([9; 32])),
        },
    );
    assert_eq!(event.bytes().len(), crate::wire::MAX_EVENT_LEN);
    assert!(VerifiedEvent::verify(&ROOM, event.bytes()).is_ok());
}
