//! Byte-exact and property tests for the wire format.

use proptest::prelude::*;

use super::relay::{Direction, Envelope};
use super::*;
use crate::history::{Content, Event, OrderKey, UnixMillis};
use crate::ids::{EventId, MemberKey, PeerId, hex};

fn check_frame(frame: Frame<'_>, expected_hex: &str) {
    let bytes = frame.encode();
    assert_eq!(hex(&bytes), expected_hex);
    assert_eq!(Frame::decode(&bytes), Ok(frame));
}

fn check_body(body: Body, expected_hex: &str) {
    let bytes = body.encode();
    assert_eq!(hex(&bytes), expected_hex);
    assert_eq!(Body::decode(&bytes), Ok(body));
}

#[test]
fn frames_have_a_fixed_layout() {
    check_frame(
        Frame::Handshake {
            step: 1,
            message: &[0xaa, 0xbb],
        },
        "010101aabb",
    );
    check_frame(
        Frame::Transport {
            counter: 258,
            ciphertext: &[0x07; 16],
        },
        &format!("01020000000000000102{}", "07".repeat(16)),
    );
    check_frame(
        Frame::Abort {
            reason: AbortReason::HandshakeFailed,
        },
        "010301",
    );
}

#[test]
fn bodies_have_a_fixed_layout() {
    check_body(Body::Ping { nonce: 5 }, "020000000000000005");
    check_body(Body::Pong { nonce: 5 }, "030000000000000005");
    check_body(Body::Bye, "04");
    check_body(Body::Events(vec![vec![0xaa], vec![]]), "0500020001aa0000");
    check_body(
        Body::Have {
            full: true,
            marks: vec![Mark {
                author: MemberKey([0x11; 32]),
                seq: 3,
                head: EventId([0x12; 32]),
            }],
        },
        &format!(
            "06010001{}0000000000000003{}",
            "11".repeat(32),
            "12".repeat(32)
        ),
    );
    check_body(
        Body::Want {
            author: MemberKey([0x22; 32]),
            after: 1,
            up_to: 9,
        },
        &format!("07{}00000000000000010000000000000009", "22".repeat(32)),
    );
    check_body(Body::Typing { active: true }, "0801");
    check_body(
        Body::Read {
            up_to: OrderKey {
                lamport: 7,
                author: MemberKey([0x33; 32]),
                seq: 2,
            },
        },
        &format!("090000000000000007{}0000000000000002", "33".repeat(32)),
    );
    check_body(Body::Presence(Presence::Away), "0a02");
    check_body(
        Body::Epoch {
            epoch: 3,
            secret: super::EpochKey([0x77; 32]),
        },
        &format!("110000000000000003{}", "77".repeat(32)),
    );
    check_body(
        Body::FileWant {
            file: EventId([0x66; 32]),
            from: 3,
        },
        &format!("0c{}00000003", "66".repeat(32)),
    );
    check_body(
        Body::FileChunk {
            file: EventId([0x66; 32]),
            index: 258,
            data: vec![0xab, 0xcd],
        },
        &format!("0d{}00000102abcd", "66".repeat(32)),
    );
    check_body(
        Body::FileAck {
            file: EventId([0x66; 32]),
            next: 16,
        },
        &format!("0e{}00000010", "66".repeat(32)),
    );
    check_body(
        Body::FileStop {
            file: EventId([0x66; 32]),
            reason: crate::transfer::StopReason::Paused,
        },
        &format!("0f{}02", "66".repeat(32)),
    );
}

#[test]
fn chunks_are_never_empty_or_longer_than_a_chunk() {
    let file = EventId([1; 32]);
    let empty = Body::FileChunk {
        file,
        index: 0,
        data: vec![],
    }
    .encode();
    assert!(Body::decode(&empty).is_err());
    let full = Body::FileChunk {
        file,
        index: 0,
        data: vec![1; crate::transfer::CHUNK_LEN],
    };
    let bytes = full.encode();
    assert!(bytes.len() <= crate::session::MAX_PLAINTEXT_LEN);
    assert_eq!(Body::decode(&bytes), Ok(full));
    let over = Body::FileChunk {
        file,
        index: 0,
        data: vec![1; crate::transfer::CHUNK_LEN + 1],
    };
    assert!(Body::decode(&over.encode()).is_err());
    let mut bad_reason = Body::FileStop {
        file,
        reason: crate::transfer::StopReason::Failed,
    }
    .encode();
    *bad_reason.last_mut().unwrap() = 9;
    assert!(Body::decode(&bad_reason).is_err());
}

/// Event 2 of author 0x44…, text "hé", whose bytes the layout tests spell out.
fn sample_event() -> Event {
    Event {
        author: MemberKey([0x44; 32]),
        seq: 2,
        lamport: 5,
        prev: EventId([0x55; 32]),
        sent_at: UnixMillis(1000),
        content: Content::Text {
            text: "hé".into(),
            reply_to: None,
            mentions: Vec::new(),
        },
    }
}

#[test]
fn events_have_a_fixed_layout() {
    let event = sample_event();
    let unsigned = event::encode_unsigned_v1(&event);
    assert_eq!(
        hex(&unsigned),
        format!(
            "01{}00000000000000020000000000000005{}00000000000003e8010000 03 68c3a9",
            "44".repeat(32),
            "55".repeat(32)
        )
        .replace(' ', "")
    );
    let signed = [unsigned.clone(), vec![0x66; 64]].concat();
    let (decoded, rest, signature) = event::decode_signed(&signed).unwrap();
    assert_eq!(decoded, event);
    assert_eq!(rest, &unsigned[..]);
    assert_eq!(signature, [0x66; 64]);
}

/// Version 2 (what is written now) signs the header, the kind and a hash of the content;
/// the content follows the signature after form byte 1, and the redacted form of a text
/// is form byte 0 and the hash of its content. Both decode (the redacted one to
/// `Content::Redacted`), and their signed parts are the same bytes, hence so are their ids.
#[test]
fn version_2_events_sign_a_content_hash_and_redact_to_form_0() {
    let event = sample_event();
    let (unsigned, tail) = event::encode_v2(&event);
    // SHA-256("confab/v2/content" || 01 || SHA-256(00 0003 68c3a9)): a text keeps
    // nothing public.
    let hash = "d429b214150420381252ddc579c3ea6261d2419e069842602b212fcb74af5682";
    let private_hash = "5ce02b072f1973bb37b61186a9e4d606bc8efaf6181b993914112a767b0d909a";
    assert_eq!(
        hex(&unsigned),
        format!(
            "02{}00000000000000020000000000000005{}00000000000003e8 01 {hash}",
            "44".repeat(32),
            "55".repeat(32)
        )
        .replace(' ', "")
    );
    assert_eq!(hex(&tail), "01 00 0003 68c3a9".replace(' ', ""));
    let full = [unsigned.clone(), vec![0x66; 64], tail].concat();
    let (decoded, signed, signature) = event::decode_signed(&full).unwrap();
    assert_eq!(decoded, event);
    assert_eq!(signed, &unsigned[..]);
    assert_eq!(signature, [0x66; 64]);

    let redacted = event::redact(&full).unwrap();
    assert_eq!(
        hex(&redacted[unsigned.len()..]),
        format!("{}00{private_hash}", "66".repeat(64))
    );
    let (decoded, signed, _) = event::decode_signed(&redacted).unwrap();
    let erased = Content::Redacted {
        kind: 1,
        target: None,
    };
    assert_eq!(decoded.content, erased);
    assert_eq!((decoded.seq, decoded.author), (event.seq, event.author));
    assert_eq!(signed, &unsigned[..]);
    assert_eq!(event::redact(&redacted), None);
    // Version 1 signs its content: it has no redacted form.
    let v1 = [event::encode_unsigned_v1(&event), vec![0x66; 64]].concat();
    assert_eq!(event::redact(&v1), None);

    // Content that does not hash to the signed hash (whole or redacted), an empty
    // content (form 1 and nothing), bytes after a redacted form and an unknown form are
    // all refused.
    let mut altered = full.clone();
    *altered.last_mut().unwrap() ^= 1;
    let mut altered_hash = redacted.clone();
    *altered_hash.last_mut().unwrap() ^= 1;
    let empty = [unsigned.clone(), vec![0x66; 64], vec![1]].concat();
    let trailing = [redacted.clone(), vec![0]].concat();
    let mut form = full.clone();
    form[unsigned.len() + 64] = 2;
    let mismatch = DecodeError::Invalid("content does not match its hash");
    for (bytes, error) in [
        (altered, mismatch.clone()),
        (altered_hash, mismatch.clone()),
        (empty, mismatch.clone()),
        (trailing, DecodeError::TrailingBytes(1)),
        (form, DecodeError::Invalid("event form")),
    ] {
        assert_eq!(event::decode_signed(&bytes).map(|_| ()), Err(error));
    }
    assert!(matches!(
        event::decode_signed(&full[..unsigned.len() + 64]),
        Err(DecodeError::Truncated { .. })
    ));

    // An edit's redacted form keeps its target (public), not its text.
    let mut edit = event.clone();
    edit.content = Content::Edit {
        target: EventId([0x77; 32]),
        text: "hé".into(),
    };
    let (edit_unsigned, edit_tail) = event::encode_v2(&edit);
    let edit_full = [edit_unsigned.clone(), vec![0x66; 64], edit_tail].concat();
    let edit_redacted = event::redact(&edit_full).unwrap();
    assert_eq!(edit_redacted.len(), edit_unsigned.len() + 64 + 1 + 32 + 32);
    assert!(edit_redacted.ends_with(&[0x77; 32]));
    let (decoded, _, _) = event::decode_signed(&edit_redacted).unwrap();
    let erased_edit = Content::Redacted {
        kind: 2,
        target: Some(EventId([0x77; 32])),
    };
    assert_eq!(decoded.content, erased_edit);
    let mut retargeted = edit_redacted.clone();
    *retargeted.last_mut().unwrap() = 0x78;
    assert_eq!(event::decode_signed(&retargeted).map(|_| ()), Err(mismatch));

    // Only messages, files and edits are ever erased: a delete (like a reaction, a name
    // or a governance action) has no redacted form, and one made up is refused.
    let mut delete = event.clone();
    delete.content = Content::Delete {
        target: EventId([0x77; 32]),
    };
    let (delete_unsigned, delete_tail) = event::encode_v2(&delete);
    let whole = [delete_unsigned.clone(), vec![0x66; 64], delete_tail].concat();
    assert_eq!(event::redact(&whole), None);
    let made_up = [delete_unsigned, vec![0x66; 64], vec![0], vec![0; 32]].concat();
    assert_eq!(
        event::decode_signed(&made_up).map(|_| ()),
        Err(DecodeError::Invalid("redacted form of a kind kept whole"))
    );

    // Runs carry both forms: the header fields a run restores are at the same offsets.
    for signed in [&full, &redacted, &edit_redacted] {
        let entry = event::compact(signed).unwrap();
        assert_eq!(entry.len(), signed.len() - 72);
        assert_eq!(
            event::expand(&entry, &event.author, event.seq, &event.prev).as_ref(),
            Ok(signed)
        );
    }
}

/// A reply that mentions two members: flags 3, the reply's id, then the count and the
/// members in key order; events without mentions keep their old bytes (flags 0 or 1).
#[test]
fn mentions_follow_the_reply_in_key_order() {
    let mut event = sample_event();
    event.content = Content::Text {
        text: "hé".into(),
        reply_to: Some(EventId([0x77; 32])),
        mentions: vec![MemberKey([0x11; 32]), MemberKey([0x22; 32])],
    };
    let unsigned = event::encode_unsigned_v1(&event);
    let content = hex(&unsigned[89..]);
    assert_eq!(
        content,
        format!(
            "01 03 {} 02 {}{} 0003 68c3a9",
            "77".repeat(32),
            "11".repeat(32),
            "22".repeat(32)
        )
        .replace(' ', "")
    );
    let signed = |unsigned: &[u8]| [unsigned, &[0x66; 64]].concat();
    let (decoded, _, _) = event::decode_signed(&signed(&unsigned)).unwrap();
    assert_eq!(decoded, event);
    // One encoding per set: out of order, repeated, none or unknown flags are refused.
    let at_count = 89 + 2 + 32;
    let mut swapped = unsigned.clone();
    swapped[at_count + 1..at_count + 33].copy_from_slice(&[0x22; 32]);
    swapped[at_count + 33..at_count + 65].copy_from_slice(&[0x11; 32]);
    let mut repeated = unsigned.clone();
    repeated[at_count + 33..at_count + 65].copy_from_slice(&[0x11; 32]);
    let mut none = unsigned[..at_count].to_vec();
    none.push(0);
    none.extend_from_slice(&unsigned[at_count + 65..]);
    let mut flags = unsigned.clone();
    flags[90] = 0x07;
    for (what, bytes) in [
        ("mentions out of order", swapped),
        ("mentions out of order", repeated),
        ("mention count", none),
        ("text flags", flags),
    ] {
        assert_eq!(
            event::decode_signed(&signed(&bytes)).map(|_| ()),
            Err(DecodeError::Invalid(what))
        );
    }
}

#[test]
fn runs_drop_author_seq_and_prev_and_restore_them() {
    let event = sample_event();
    let signed = [event::encode_unsigned_v1(&event), vec![0x66; 64]].concat();
    let entry = event::compact(&signed).unwrap();
    assert_eq!(entry.len(), signed.len() - 72);
    assert_eq!(
        event::expand(&entry, &event.author, event.seq, &event.prev),
        Ok(signed)
    );
    assert!(matches!(
        event::expand(&entry[..5], &event.author, 1, &event.prev),
        Err(DecodeError::Truncated { .. })
    ));
    check_body(
        Body::Run {
            author: MemberKey([0x11; 32]),
            first_seq: 7,
            prev: EventId([0x22; 32]),
            entries: vec![vec![0xab]],
        },
        &format!(
            "0b{}0000000000000007{}00010001ab",
            "11".repeat(32),
            "22".repeat(32)
        ),
    );
}

#[test]
fn bad_bodies_and_events_say_what_is_wrong() {
    assert_eq!(
        Body::decode(&[1]),
        Err(DecodeError::UnknownKind {
            what: "body tag",
            got: 1
        })
    );
    let want = Body::Want {
        author: MemberKey([0; 32]),
        after: 5,
        up_to: 6,
    }
    .encode();
    let mut backwards = want.clone();
    backwards[40] = 9; // after = ..09 > up_to
    assert_eq!(
        Body::decode(&backwards),
        Err(DecodeError::Invalid("want range"))
    );
    assert_eq!(
        Body::decode(&[6, 2, 0, 0]),
        Err(DecodeError::Invalid("have flag"))
    );
    let zero_seq = Event {
        author: MemberKey([1; 32]),
        seq: 0,
        lamport: 1,
        prev: EventId([0; 32]),
        sent_at: UnixMillis(0),
        content: Content::Profile { name: "x".into() },
    };
    let signed = [event::encode_unsigned_v1(&zero_seq), vec![0; 64]].concat();
    assert_eq!(
        event::decode_signed(&signed).map(|_| ()),
        Err(DecodeError::Invalid("sequence number 0"))
    );
    assert!(matches!(
        event::decode_signed(&[1; 10]),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn relay_envelopes_have_a_fixed_layout() {
    let envelope = Envelope {
        direction: Direction::To(PeerId::new(0x0102)),
        payload: b"x",
    };
    let bytes = envelope.encode();
    assert_eq!(hex(&bytes), "0101000000000000010278");
    assert_eq!(Envelope::decode(&bytes), Ok(envelope));
    let from = Envelope {
        direction: Direction::From(PeerId::new(9)),
        payload: &[],
    };
    assert_eq!(Envelope::decode(&from.encode()), Ok(from));
}

#[test]
fn bad_frames_say_what_is_wrong() {
    let cases: &[(&[u8], DecodeError)] = &[
        (&[], DecodeError::Truncated { needed: 1 }),
        (
            &[2, 1, 0],
            DecodeError::Version {
                expected: 1,
                got: 2,
            },
        ),
        (&[1], DecodeError::Truncated { needed: 1 }),
        (
            &[1, 9],
            DecodeError::UnknownKind {
                what: "frame kind",
                got: 9,
            },
        ),
        (&[1, 1, 3], DecodeError::Invalid("handshake step")),
        (&[1, 2, 0, 0, 0], DecodeError::Truncated { needed: 5 }),
        (
            &[1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2],
            DecodeError::Truncated { needed: 14 },
        ),
        (&[1, 3, 1, 0], DecodeError::TrailingBytes(1)),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            Frame::decode(bytes).as_ref().err(),
            Some(expected),
            "{}",
            hex(bytes)
        );
    }
    let huge = vec![1u8; MAX_FRAME_LEN + 1];
    assert!(matches!(
        Frame::decode(&huge),
        Err(DecodeError::TooLong { .. })
    ));
}

#[test]
fn bad_bodies_and_cards_say_what_is_wrong() {
    assert_eq!(
        Body::decode(&[99]),
        Err(DecodeError::UnknownKind {
            what: "body tag",
            got: 99
        })
    );
    assert_eq!(Body::decode(&[4, 0]), Err(DecodeError::TrailingBytes(1)));
    // An event whose text length says more than the limit, or whose text is not UTF-8.
    let event = Event {
        author: MemberKey([1; 32]),
        seq: 1,
        lamport: 1,
        prev: EventId([0; 32]),
        sent_at: UnixMillis(0),
        content: Content::Edit {
            target: EventId([2; 32]),
            text: "ab".into(),
        },
    };
    let unsigned = event::encode_unsigned_v1(&event);
    let len_at = unsigned.len() - 4;
    let mut too_long = unsigned.clone();
    too_long[len_at..len_at + 2].copy_from_slice(&u16::MAX.to_be_bytes());
    too_long.extend_from_slice(&[0; 64]);
    assert!(matches!(
        event::decode_signed(&too_long),
        Err(DecodeError::TooLong { what: "text", .. })
    ));
    let mut not_utf8 = unsigned;
    let last = not_utf8.len() - 1;
    not_utf8[last] = 0xff;
    not_utf8.extend_from_slice(&[0; 64]);
    assert_eq!(
        event::decode_signed(&not_utf8).map(|_| ()),
        Err(DecodeError::Utf8)
    );
    assert_eq!(
        Card::decode(&[0; 10]),
        Err(DecodeError::Truncated { needed: 22 })
    );
}

#[test]
fn long_text_and_names_are_cut_on_char_boundaries() {
    assert_eq!(truncate_utf8("héllo", 2), "h");
    assert_eq!(truncate_utf8("héllo", 3), "hé");
    let card = Card {
        signing_key: [1; 32],
        signature: [2; 64],
        display_name: "é".repeat(40),
    };
    let decoded = Card::decode(&card.encode()).unwrap();
    assert_eq!(decoded.display_name, "é".repeat(32));
}

fn arb_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..5)
            .prop_map(Body::Events),
        (
            any::<bool>(),
            proptest::collection::vec((any::<[u8; 32]>(), any::<u64>(), any::<[u8; 32]>()), 0..5)
        )
            .prop_map(|(full, marks)| Body::Have {
                full,
                marks: marks
                    .into_iter()
                    .map(|(k, seq, h)| Mark {
                        author: MemberKey(k),
                        seq,
                        head: EventId(h)
                    })
                    .collect()
            }),
        (any::<[u8; 32]>(), 0u64..1000, 1u64..1000).prop_map(|(k, after, n)| Body::Want {
            author: MemberKey(k),
            after,
            up_to: after + n
        }),
        any::<bool>().prop_map(|active| Body::Typing { active }),
        (
            any::<[u8; 32]>(),
            1u64..u64::MAX,
            any::<[u8; 32]>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4)
        )
            .prop_map(|(a, first_seq, p, entries)| Body::Run {
                author: MemberKey(a),
                first_seq,
                prev: EventId(p),
                entries
            }),
        (any::<u64>(), any::<[u8; 32]>(), any::<u64>()).prop_map(|(lamport, k, seq)| Body::Read {
            up_to: OrderKey {
                lamport,
                author: MemberKey(k),
                seq
            }
        }),
        prop_oneof![Just(Presence::Online), Just(Presence::Away)].prop_map(Body::Presence),
        any::<u64>().prop_map(|nonce| Body::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Body::Pong { nonce }),
        Just(Body::Bye),
        proptest::collection::vec(any::<u8>(), 0..100).prop_map(Body::Call),
        (any::<u64>(), any::<[u8; 32]>()).prop_map(|(epoch, secret)| Body::Epoch {
            epoch,
            secret: super::EpochKey(secret)
        }),
        (any::<[u8; 32]>(), any::<u32>()).prop_map(|(f, from)| Body::FileWant {
            file: EventId(f),
            from
        }),
        (
            any::<[u8; 32]>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 1..100)
        )
            .prop_map(|(f, index, data)| Body::FileChunk {
                file: EventId(f),
                index,
                data
            }),
        (any::<[u8; 32]>(), any::<u32>()).prop_map(|(f, next)| Body::FileAck {
            file: EventId(f),
            next
        }),
        (any::<[u8; 32]>(), 1u8..=5).prop_map(|(f, code)| Body::FileStop {
            file: EventId(f),
            reason: crate::transfer::StopReason::from_code(code).unwrap()
        }),
    ]
}

proptest! {
    #[test]
    fn bodies_round_trip(body in arb_body()) {
        prop_assert_eq!(Body::decode(&body.encode()), Ok(body));
    }

    #[test]
    fn events_round_trip(event in crate::history::tests::arb_event()) {
        let signed = [event::encode_unsigned_v1(&event), vec![7; 64]].concat();
        let (decoded, _, _) = event::decode_signed(&signed).unwrap();
        prop_assert_eq!(&decoded, &event);
        let (unsigned, tail) = event::encode_v2(&event);
        let signed = [unsigned, vec![7; 64], tail].concat();
        let (decoded, _, _) = event::decode_signed(&signed).unwrap();
        prop_assert_eq!(decoded, event);
    }

    #[test]
    fn cards_round_trip(key in any::<[u8; 32]>(), sig in proptest::collection::vec(any::<u8>(), 64), name in ".{0,20}") {
        let card = Card { signing_key: key, signature: sig.try_into().unwrap(), display_name: name };
        prop_assert_eq!(Card::decode(&card.encode()), Ok(card));
    }

    #[test]
    fn frames_round_trip(step in 0u8..3, counter in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 16..300)) {
        let handshake = Frame::Handshake { step, message: &payload };
        let bytes = handshake.encode();
        prop_assert_eq!(Frame::decode(&bytes), Ok(handshake));
        let transport = Frame::Transport { counter, ciphertext: &payload };
        let bytes = transport.encode();
        prop_assert_eq!(Frame::decode(&bytes), Ok(transport));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reencode_stably(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(frame) = Frame::decode(&bytes) {
            let again = frame.encode();
            prop_assert_eq!(Frame::decode(&again), Ok(frame));
        }
        if let Ok(body) = Body::decode(&bytes) {
            prop_assert_eq!(Body::decode(&body.encode()), Ok(body));
        }
        if let Ok((event, unsigned, _)) = event::decode_signed(&bytes) {
            prop_assert_eq!(event::encode_unsigned_v1(&event), unsigned.to_vec());
        }
        let _ = Card::decode(&bytes);
        if let Ok(envelope) = Envelope::decode(&bytes) {
            let again = envelope.encode();
            prop_assert_eq!(Envelope::decode(&again), Ok(envelope));
        }
    }
}
