//! Byte-exact and property tests for the wire format.

use proptest::prelude::*;

use super::relay::{Direction, Envelope};
use super::*;
use crate::ids::{PeerId, hex};

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
    check_body(
        Body::Chat {
            seq: 1,
            sent_at_ms: 2,
            text: "hé".into(),
        },
        "0100000000000000010000000000000002000368c3a9",
    );
    check_body(Body::Ping { nonce: 5 }, "020000000000000005");
    check_body(Body::Pong { nonce: 5 }, "030000000000000005");
    check_body(Body::Bye, "04");
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
        Body::decode(&[9]),
        Err(DecodeError::UnknownKind {
            what: "body tag",
            got: 9
        })
    );
    assert_eq!(Body::decode(&[4, 0]), Err(DecodeError::TrailingBytes(1)));
    let mut too_long = vec![1u8];
    too_long.extend_from_slice(&[0; 16]);
    too_long.extend_from_slice(&u16::MAX.to_be_bytes());
    assert!(matches!(
        Body::decode(&too_long),
        Err(DecodeError::TooLong { what: "text", .. })
    ));
    let mut not_utf8 = vec![1u8];
    not_utf8.extend_from_slice(&[0; 16]);
    not_utf8.extend_from_slice(&[0, 1, 0xff]);
    assert_eq!(Body::decode(&not_utf8), Err(DecodeError::Utf8));
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
        (any::<u64>(), any::<u64>(), ".{0,200}").prop_map(|(seq, sent_at_ms, text)| Body::Chat {
            seq,
            sent_at_ms,
            text
        }),
        any::<u64>().prop_map(|nonce| Body::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Body::Pong { nonce }),
        Just(Body::Bye),
    ]
}

proptest! {
    #[test]
    fn bodies_round_trip(body in arb_body()) {
        prop_assert_eq!(Body::decode(&body.encode()), Ok(body));
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
        let _ = Card::decode(&bytes);
        if let Ok(envelope) = Envelope::decode(&bytes) {
            let again = envelope.encode();
            prop_assert_eq!(Envelope::decode(&again), Ok(envelope));
        }
    }
}
