//! [`SignalSeal`]: seals the WebRTC signals (offer, answer, ICE candidates, the switch to
//! the relay) that members send each other through the server, so that only members of
//! the room read them and the server forwards ciphertext. Without it, whoever learned a
//! room id (NATS subjects, server memory) could send an offer and learn every member's IP
//! addresses from the answer, and the server read every SDP and DTLS fingerprint.
//!
//! - **Key:** HKDF-SHA256 of the room secret with its own label (`confab/v1/signal-seal`),
//!   XChaCha20-Poly1305.
//! - **Addressing:** the associated data names the sender and the recipient peer ids (the
//!   server's ids for the two connections), so a signal opens only for the recipient it
//!   was sealed to, as coming from the sender that sealed it; the server cannot redirect
//!   one member's offer to another or pass it off as someone else's.
//! - **Nonce:** 24 fresh bytes from the client's seeded RNG for every seal.
//! - **Replay:** the sealed plaintext starts with the sender's counter, which increases
//!   with every signal it seals (to anyone). The recipient keeps, per sender, the highest
//!   counter accepted and a 64-counter window below it (as IPsec and WireGuard do, RFC
//!   6479): a counter seen before, or older than the window, is refused. We chose a counter
//!   over a record of seen nonces because its memory is fixed per sender (16 bytes) and
//!   nothing is ever forgotten inside it, whereas a bounded nonce record must evict, and an
//!   evicted nonce could be replayed. The server forwards one connection's signals in
//!   order (one WebSocket, one NATS subject), so the window only absorbs rare reordering.
//!   Windows exist only for senders whose signals opened, i.e. members; at most
//!   [`MAX_SENDERS`] are kept (the least recently heard from goes first), which only a
//!   member sending from that many connections could reach.
//!
//! Refused input (not base64, not a sealed signal, sealed with another room's secret or
//! for another pair of peers, altered, replayed) leaves the state as it was.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

use crate::ids::PeerId;
use crate::rng::SeededRng;
use crate::room::RoomSecret;
use crate::wire::signal::{
    MAX_PAYLOAD_LEN, NONCE_LEN, SealedSignal, associated_data, decode_plaintext, encode_plaintext,
};
use crate::wire::{DecodeError, TAG_LEN};

/// The ChaCha20 stream of the seed that nonces come from: the client hands its own seed
/// (whose streams 0 and 1 feed its other random choices and the mailbox's nonces), so
/// sealing changes no other random choice and shares no stream with them.
const RNG_STREAM: u64 = 2;

/// Senders whose replay windows are kept.
pub const MAX_SENDERS: usize = 1024;
/// Counters below a sender's highest that may still arrive (once each).
pub const REPLAY_WINDOW: u64 = 64;

/// Seals our signals and opens those sent to us. One per room and client; see the module
/// docs.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub struct SignalSeal {
    key: Zeroizing<[u8; 32]>,
    rng: SeededRng,
    /// The counter of our next seal.
    next_counter: u64,
    /// Per sender: what it has already sent us.
    senders: BTreeMap<PeerId, Window>,
    /// Ticks with every accepted signal, to find the least recently heard from sender.
    heard: u64,
}

/// Why a signal was refused. Deliberately coarse: the contents are never shown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalRefusal {
    /// Not a sealed signal (not base64, or not the layout): e.g. an unsealed JSON signal.
    #[error("unsealed or malformed signal: {0}")]
    Malformed(DecodeError),
    /// Did not authenticate: another room's secret, another sender or recipient, or altered.
    #[error("signal failed authentication")]
    Open,
    /// Authentic, but already accepted, or too old.
    #[error("replayed signal")]
    Replay,
}

/// A payload too long to seal (local misuse).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("signal is {got} bytes; the limit is {max}")]
pub struct SignalTooLong {
    /// Its size.
    pub got: usize,
    /// The limit.
    pub max: usize,
}

/// One sender's replay window.
#[derive(Clone, Copy, Debug)]
struct Window {
    highest: u64,
    /// Bit i: counter `highest - i` was accepted (bit 0 is `highest` itself).
    seen: u64,
    /// When we last accepted a signal from this sender (in `heard` ticks).
    heard: u64,
}

impl SignalSeal {
    /// The seal for `room`; `seed` feeds its nonces (stream 2 of it; the client passes its
    /// own seed, never OS randomness).
    pub fn new(room: &RoomSecret, seed: [u8; 32]) -> SignalSeal {
        SignalSeal {
            key: Zeroizing::new(room.signal_key()),
            rng: SeededRng::from_seed_stream(seed, RNG_STREAM),
            next_counter: 0,
            senders: BTreeMap::new(),
            heard: 0,
        }
    }

    /// Seals `payload` from `from` (us) to `to`, as the text for a signalling frame's `data`.
    pub fn seal(
        &mut self,
        from: PeerId,
        to: PeerId,
        payload: &str,
    ) -> Result<String, SignalTooLong> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(SignalTooLong {
                got: payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nonce);
        let mut buffer = encode_plaintext(self.next_counter, payload.as_bytes());
        let tag = self
            .cipher()
            .encrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                &associated_data(from, to),
                &mut buffer,
            )
            .map_err(|_| SignalTooLong {
                got: payload.len(),
                max: MAX_PAYLOAD_LEN,
            })?;
        buffer.extend_from_slice(&tag);
        self.next_counter += 1;
        let sealed = SealedSignal {
            nonce,
            ciphertext: &buffer,
        };
        Ok(URL_SAFE_NO_PAD.encode(sealed.encode()))
    }

    /// Opens `data` (a signalling frame's text) that the server says `from` sent to `to`
    /// (us). Returns the payload, or why it was refused; a refusal changes nothing.
    pub fn open(&mut self, from: PeerId, to: PeerId, data: &str) -> Result<String, SignalRefusal> {
        let bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SignalRefusal::Malformed(DecodeError::Invalid("base64")))?;
        let sealed = SealedSignal::decode(&bytes).map_err(SignalRefusal::Malformed)?;
        let split = sealed.ciphertext.len().saturating_sub(TAG_LEN);
        let (ciphertext, tag) = sealed.ciphertext.split_at(split);
        let mut plaintext = ciphertext.to_vec();
        self.cipher()
            .decrypt_in_place_detached(
                XNonce::from_slice(&sealed.nonce),
                &associated_data(from, to),
                &mut plaintext,
                Tag::from_slice(tag),
            )
            .map_err(|_| SignalRefusal::Open)?;
        let (counter, payload) = decode_plaintext(&plaintext).map_err(SignalRefusal::Malformed)?;
        let payload = std::str::from_utf8(payload)
            .map_err(|_| SignalRefusal::Malformed(DecodeError::Utf8))?
            .to_owned();
        self.accept(from, counter)?;
        Ok(payload)
    }

    /// Records `counter` from `from` unless it was seen or is too old.
    fn accept(&mut self, from: PeerId, counter: u64) -> Result<(), SignalRefusal> {
        let heard = self.heard + 1;
        let Some(window) = self.senders.get_mut(&from) else {
            if self.senders.len() >= MAX_SENDERS {
                let quietest = self
                    .senders
                    .iter()
                    .min_by_key(|(_, window)| window.heard)
                    .map(|(peer, _)| *peer);
                if let Some(peer) = quietest {
                    self.senders.remove(&peer);
                }
            }
            self.senders.insert(
                from,
                Window {
                    highest: counter,
                    seen: 1,
                    heard,
                },
            );
            self.heard = heard;
            return Ok(());
        };
        if counter > window.highest {
            let shift = counter - window.highest;
            window.seen = if shift >= REPLAY_WINDOW {
                1
            } else {
                (window.seen << shift) | 1
            };
            window.highest = counter;
        } else {
            let age = window.highest - counter;
            if age >= REPLAY_WINDOW || window.seen & (1 << age) != 0 {
                return Err(SignalRefusal::Replay);
            }
            window.seen |= 1 << age;
        }
        window.heard = heard;
        self.heard = heard;
        Ok(())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.key).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: PeerId = PeerId::new(0x0a);
    const BOB: PeerId = PeerId::new(0x0b);
    const CAROL: PeerId = PeerId::new(0x0c);
    const OFFER: &str = r#"{"type":"offer","sdp":"v=0\r\na=fingerprint:sha-256 AB"}"#;

    fn room() -> RoomSecret {
        RoomSecret::from_bytes([7; 32])
    }

    fn seal(seed: u8) -> SignalSeal {
        SignalSeal::new(&room(), [seed; 32])
    }

    #[test]
    fn a_signal_opens_only_for_its_recipient_from_its_sender_in_its_room() {
        let (mut alice, mut bob, mut carol) = (seal(1), seal(2), seal(3));
        let sealed = alice.seal(ALICE, BOB, OFFER).unwrap();
        // The server sees neither the SDP nor anything readable.
        for needle in ["v=0", "fingerprint", "offer"] {
            assert!(!sealed.contains(needle), "{sealed}");
        }
        // Carol, a member, cannot read what was sealed to Bob, nor can it pass for hers.
        assert_eq!(carol.open(ALICE, CAROL, &sealed), Err(SignalRefusal::Open));
        // Swapped or altered peer ids.
        assert_eq!(bob.open(BOB, ALICE, &sealed), Err(SignalRefusal::Open));
        assert_eq!(bob.open(CAROL, BOB, &sealed), Err(SignalRefusal::Open));
        assert_eq!(
            bob.open(PeerId::new(0x0a | 1 << 40), BOB, &sealed),
            Err(SignalRefusal::Open)
        );
        // Another room's secret.
        let mut stranger = SignalSeal::new(&RoomSecret::from_bytes([8; 32]), [2; 32]);
        assert_eq!(stranger.open(ALICE, BOB, &sealed), Err(SignalRefusal::Open));
        // None of the refusals above moved Bob's state: the real thing opens.
        assert_eq!(bob.open(ALICE, BOB, &sealed), Ok(OFFER.to_owned()));
    }

    #[test]
    fn altered_truncated_or_unsealed_signals_are_refused() {
        let (mut alice, mut bob) = (seal(1), seal(2));
        let sealed = alice.seal(ALICE, BOB, OFFER).unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for index in [0, 1, 25, 30, bytes.len() - 1] {
            let mut altered = bytes.clone();
            altered[index] ^= 0x20;
            let refusal = bob.open(ALICE, BOB, &URL_SAFE_NO_PAD.encode(&altered));
            assert!(refusal.is_err(), "byte {index} altered: {refusal:?}");
        }
        for len in [0, 1, 25, 48, bytes.len() - 1] {
            let refusal = bob.open(ALICE, BOB, &URL_SAFE_NO_PAD.encode(&bytes[..len]));
            assert!(
                matches!(
                    refusal,
                    Err(SignalRefusal::Malformed(_) | SignalRefusal::Open)
                ),
                "{len} bytes: {refusal:?}"
            );
        }
        // Today's plaintext signals, and other junk, are not sealed signals.
        for unsealed in [
            r#"{"type":"offer","sdp":"v=0\r\n"}"#,
            r#"{"type":"use-relay"}"#,
            "",
            "AAAA",
            "not base64!",
        ] {
            assert!(
                matches!(
                    bob.open(ALICE, BOB, unsealed),
                    Err(SignalRefusal::Malformed(_))
                ),
                "{unsealed}"
            );
        }
        assert_eq!(bob.open(ALICE, BOB, &sealed), Ok(OFFER.to_owned()));
    }

    #[test]
    fn replays_are_refused_and_reordering_within_the_window_is_not() {
        let (mut alice, mut bob) = (seal(1), seal(2));
        let sealed: Vec<String> = (0..100)
            .map(|i| alice.seal(ALICE, BOB, &format!("{i}")).unwrap())
            .collect();
        assert_eq!(bob.open(ALICE, BOB, &sealed[0]), Ok("0".to_owned()));
        assert_eq!(bob.open(ALICE, BOB, &sealed[0]), Err(SignalRefusal::Replay));
        // Out of order within the window: each once.
        assert_eq!(bob.open(ALICE, BOB, &sealed[10]), Ok("10".to_owned()));
        assert_eq!(bob.open(ALICE, BOB, &sealed[5]), Ok("5".to_owned()));
        assert_eq!(bob.open(ALICE, BOB, &sealed[5]), Err(SignalRefusal::Replay));
        assert_eq!(
            bob.open(ALICE, BOB, &sealed[10]),
            Err(SignalRefusal::Replay)
        );
        // Far ahead: what falls out of the window is refused, even if never seen.
        assert_eq!(bob.open(ALICE, BOB, &sealed[99]), Ok("99".to_owned()));
        assert_eq!(
            bob.open(ALICE, BOB, &sealed[20]),
            Err(SignalRefusal::Replay)
        );
        assert_eq!(bob.open(ALICE, BOB, &sealed[36]), Ok("36".to_owned()));
        // A replay is refused without moving anything: the window is as it was.
        assert_eq!(bob.open(ALICE, BOB, &sealed[98]), Ok("98".to_owned()));
    }

    #[test]
    fn counters_are_per_sender_and_nonces_never_repeat() {
        let (mut alice, mut carol, mut bob) = (seal(1), seal(3), seal(2));
        // Alice's counter runs across recipients: Bob sees a gap and accepts.
        let to_carol = alice.seal(ALICE, CAROL, "a").unwrap();
        let to_bob = alice.seal(ALICE, BOB, "b").unwrap();
        assert_eq!(carol.open(ALICE, CAROL, &to_carol), Ok("a".to_owned()));
        assert_eq!(bob.open(ALICE, BOB, &to_bob), Ok("b".to_owned()));
        // Carol's counter 0 is not Alice's counter 0.
        let from_carol = carol.seal(CAROL, BOB, "c").unwrap();
        assert_eq!(bob.open(CAROL, BOB, &from_carol), Ok("c".to_owned()));
        // Fresh nonces: the same payload never seals to the same bytes or nonce.
        let nonces: std::collections::BTreeSet<[u8; NONCE_LEN]> = (0..200)
            .map(|_| {
                let text = alice.seal(ALICE, BOB, OFFER).unwrap();
                let bytes = URL_SAFE_NO_PAD.decode(text).unwrap();
                SealedSignal::decode(&bytes).unwrap().nonce
            })
            .collect();
        assert_eq!(nonces.len(), 200);
    }

    #[test]
    fn senders_are_bounded() {
        let mut bob = seal(2);
        for raw in 0..=MAX_SENDERS as u64 {
            let sender = PeerId::new(1000 + raw);
            let mut member = SignalSeal::new(&room(), [9; 32]);
            let sealed = member.seal(sender, BOB, "x").unwrap();
            assert_eq!(bob.open(sender, BOB, &sealed), Ok("x".to_owned()));
        }
        assert_eq!(bob.senders.len(), MAX_SENDERS);
        assert!(!bob.senders.contains_key(&PeerId::new(1000)));
    }

    #[test]
    fn payloads_up_to_the_limit_fit_a_signalling_frame() {
        let mut alice = seal(1);
        let sealed = alice
            .seal(ALICE, BOB, &"x".repeat(MAX_PAYLOAD_LEN))
            .unwrap();
        let frame = serde_json::to_string(&crate::signal::ClientMessage::Signal {
            to: BOB,
            data: sealed,
        })
        .unwrap();
        assert!(
            frame.len() <= crate::signal::MAX_SIGNAL_LEN,
            "{}",
            frame.len()
        );
        assert_eq!(
            alice.seal(ALICE, BOB, &"x".repeat(MAX_PAYLOAD_LEN + 1)),
            Err(SignalTooLong {
                got: MAX_PAYLOAD_LEN + 1,
                max: MAX_PAYLOAD_LEN
            })
        );
    }
}
