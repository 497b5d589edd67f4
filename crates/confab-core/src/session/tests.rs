//! Session tests: sealing and opening, tampering, replay and reordering.

use super::*;

#[test]
fn sealed_frames_open_on_the_other_side_only() {
    let (mut alice, mut bob) = Session::pair_for_testing_only(1);
    let frame = alice.seal(b"hello").unwrap();
    assert_eq!(bob.open(&frame).unwrap(), b"hello");
    let back = bob.seal(b"hi").unwrap();
    assert_eq!(alice.open(&back).unwrap(), b"hi");
    // A frame goes one way only: alice cannot open her own.
    let own = alice.seal(b"x").unwrap();
    assert_eq!(alice.open(&own), Err(OpenError::Decrypt));
}

#[test]
fn tampering_is_detected_and_the_session_survives() {
    let (mut alice, mut bob) = Session::pair_for_testing_only(2);
    let frame = alice.seal(b"pay 10").unwrap();
    for byte_idx in [10, frame.len() / 2, frame.len() - 1] {
        let mut tampered = frame.clone();
        tampered[byte_idx] ^= 0x01;
        assert_eq!(
            bob.open(&tampered),
            Err(OpenError::Decrypt),
            "byte {byte_idx}"
        );
    }
    // Changing the counter changes the nonce: also rejected.
    let mut recountered = frame.clone();
    recountered[9] ^= 1;
    assert_eq!(bob.open(&recountered), Err(OpenError::Decrypt));
    assert_eq!(bob.open(&frame).unwrap(), b"pay 10");
}

#[test]
fn replays_are_rejected_and_reordering_within_the_window_is_accepted_once() {
    let (mut alice, mut bob) = Session::pair_for_testing_only(3);
    let first = alice.seal(b"1").unwrap();
    let second = alice.seal(b"2").unwrap();
    let third = alice.seal(b"3").unwrap();
    assert_eq!(bob.open(&first).unwrap(), b"1");
    assert_eq!(
        bob.open(&first),
        Err(OpenError::Replay {
            counter: 0,
            floor: 0
        })
    );
    assert_eq!(bob.open(&third).unwrap(), b"3");
    // Overtaken (another data channel): still accepted, once.
    assert_eq!(bob.open(&second).unwrap(), b"2");
    assert!(matches!(bob.open(&second), Err(OpenError::Replay { .. })));
    assert!(matches!(bob.open(&third), Err(OpenError::Replay { .. })));
    let fourth = alice.seal(b"4").unwrap();
    assert_eq!(bob.open(&fourth).unwrap(), b"4");
}

#[test]
fn frames_older_than_the_replay_window_are_rejected() {
    let (mut alice, mut bob) = Session::pair_for_testing_only(5);
    let frames: Vec<Vec<u8>> = (0..REPLAY_WINDOW + 200)
        .map(|i| alice.seal(&i.to_be_bytes()).unwrap())
        .collect();
    let (held, rest) = frames.split_at(150);
    for frame in rest {
        bob.open(frame).unwrap();
    }
    // The newest accepted is REPLAY_WINDOW + 199, so counters below 200 are out.
    for (counter, frame) in held.iter().enumerate() {
        assert!(
            matches!(bob.open(frame), Err(OpenError::Replay { .. })),
            "counter {counter}"
        );
    }
    for frame in rest.iter().rev().take(300) {
        assert!(matches!(bob.open(frame), Err(OpenError::Replay { .. })));
    }
}

proptest::proptest! {
    /// Any delivery order with duplicates: each frame is accepted exactly once if it is
    /// within the window of the newest accepted when it arrives, never twice.
    #[test]
    fn every_frame_is_accepted_at_most_once(order in proptest::collection::vec(0usize..300, 1..600)) {
        let (mut alice, mut bob) = Session::pair_for_testing_only(6);
        let frames: Vec<Vec<u8>> = (0..300u32).map(|i| alice.seal(&i.to_be_bytes()).unwrap()).collect();
        let mut accepted = std::collections::HashSet::new();
        for index in order {
            if bob.open(&frames[index]).is_ok() {
                proptest::prop_assert!(accepted.insert(index), "frame {} accepted twice", index);
            }
        }
    }
}

#[test]
fn oversized_plaintext_is_refused_before_sealing() {
    let (mut alice, mut bob) = Session::pair_for_testing_only(4);
    let largest = vec![0x42; MAX_PLAINTEXT_LEN];
    let frame = alice.seal(&largest).unwrap();
    assert_eq!(bob.open(&frame).unwrap(), largest);
    let too_big = vec![0; MAX_PLAINTEXT_LEN + 1];
    assert_eq!(
        alice.seal(&too_big),
        Err(SealError::TooLong {
            got: MAX_PLAINTEXT_LEN + 1,
            max: MAX_PLAINTEXT_LEN
        })
    );
}

#[test]
fn handshake_with_a_different_psk_fails_at_the_first_message() {
    let mut initiator = handshake_for_testing(1, "a", &[1; 32], Role::Initiator, 3);
    let mut responder = handshake_for_testing(2, "b", &[2; 32], Role::Responder, 4);
    let first = initiator.start().unwrap();
    let Ok(Frame::Handshake { step, message }) = Frame::decode(&first) else {
        panic!("handshake frame")
    };
    assert_eq!(
        responder.handle_message(step, message),
        Err(HandshakeError::Verify)
    );
}

#[test]
fn handshake_messages_out_of_turn_are_refused() {
    let mut responder = handshake_for_testing(2, "b", &[2; 32], Role::Responder, 4);
    assert_eq!(
        responder.handle_message(1, &[0; 48]),
        Err(HandshakeError::OutOfOrder {
            expected: 0,
            got: 1
        })
    );
    let mut initiator = handshake_for_testing(2, "b", &[2; 32], Role::Initiator, 4);
    assert_eq!(
        initiator.handle_message(0, &[0; 48]),
        Err(HandshakeError::OutOfOrder {
            expected: 0,
            got: 0
        })
    );
}

#[test]
fn noise_pattern_is_the_pinned_one() {
    assert_eq!(NOISE_PARAMS, "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s");
}
