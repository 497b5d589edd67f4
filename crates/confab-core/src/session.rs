//! The Noise handshake and the encrypted session it becomes.
//!
//! Pattern: `Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s`:
//!
//! ```text
//! -> psk, e                       (payload: empty, but MACed under the psk)
//! <- e, ee, s, es                 (payload: responder's identity card)
//! -> s, se                        (payload: initiator's identity card)
//! ```
//!
//! Why this pattern:
//! - **KCI resistance.** Authentication comes from ephemeral–static DH (`es`, `se`)
//!   combined with `ee`, never from a static–static DH. Stealing Alice's static key lets an
//!   attacker decrypt nothing old (`ee`: forward secrecy) and impersonate Alice, but not
//!   impersonate anyone *to* Alice; Tox's static–static handshake fails exactly there.
//! - **Mutual authentication without prior knowledge.** In a URL room nobody knows the
//!   others' keys yet, which rules out `IK`/`KK` (they fit contacts whose keys we keep).
//! - **psk at position 0.** The PSK is HKDF(room secret, `confab/v1/noise-psk`). Mixed in
//!   before the first message, it authenticates every handshake message to room
//!   membership: a party without the secret, such as the server, cannot get a responder to
//!   answer, so cannot even learn its static key (with `psk3` it could).
//! - **Identity cards.** Each payload is `{ed25519 key, signature over (context ‖ noise
//!   static key ‖ display name), name}`, verified with `verify_strict` (no small-order keys
//!   or non-canonical signatures, as everywhere) against the static key `snow`
//!   authenticated, binding the session to the Ed25519 identity that signs history. The
//!   fingerprint shown is SHA-256 over an identity's two public keys, as six groups of five
//!   digits.
//! - **The DTLS layer below is not trusted.** A member (or a server that learned the room
//!   secret) could swap DTLS fingerprints in SDP and sit in the middle; it would see only
//!   Noise ciphertext.
//!
//! Noise ephemerals come from a seeded ChaCha20 RNG plugged into `snow` through a custom
//! resolver, so core reads no OS randomness. The responder's identity card travels in
//! message 2, the initiator's in message 3, each binding the Noise static key to an Ed25519
//! identity. Transport frames carry an explicit
//! counter used as the nonce. A session's frames may travel over several data channels
//! (the main one and one per file), which reorders them a little, so the receiver keeps a
//! sliding window of [`REPLAY_WINDOW`] counters (as IPsec and WireGuard do, RFC 6479): a
//! counter already accepted, or older than the window, is a replay and is rejected
//! without touching the session.

use crate::identity::{Identity, PublicIdentity};
use crate::rng::SeededResolver;
use crate::wire::{Card, DecodeError, Frame, MAX_NOISE_LEN, TAG_LEN};

/// The Noise protocol name, pinned.
pub const NOISE_PARAMS: &str = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s";
/// Largest plaintext in one transport frame.
pub const MAX_PLAINTEXT_LEN: usize = MAX_NOISE_LEN - TAG_LEN;
/// How far behind the newest accepted counter a frame may arrive and still be accepted
/// (once).
pub const REPLAY_WINDOW: u64 = (REPLAY_WORDS as u64 - 1) * 64;
const REPLAY_WORDS: usize = 128;

/// Which side speaks first. On a WebRTC link the offerer initiates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends message 1.
    Initiator,
    /// Answers.
    Responder,
}

/// A handshake in progress. Consumed by [`Handshake::into_session`].
pub(crate) struct Handshake {
    noise: snow::HandshakeState,
    role: Role,
    /// The next Noise message index we expect to read or write.
    step: u8,
    own_card: Vec<u8>,
    remote: Option<(PublicIdentity, String)>,
}

/// A handshake that cannot go on. Deliberately coarse: details go to the debug log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A message did not decrypt or authenticate (most often: a different room secret).
    #[error("the peer's handshake did not verify")]
    Verify,
    /// The identity card was malformed or its signature did not match the Noise key.
    #[error("the peer's identity card is invalid")]
    Card,
    /// A copy of a message already processed; harmless, ignore it.
    #[error("duplicate handshake message (step {0})")]
    Duplicate(u8),
    /// A message arrived out of turn.
    #[error("handshake message out of order (expected step {expected}, got {got})")]
    OutOfOrder {
        /// Step we were at.
        expected: u8,
        /// Step received.
        got: u8,
    },
}

impl Handshake {
    /// `own_card` is [`Identity::encoded_card`], built once by the caller.
    pub(crate) fn new(
        identity: &Identity,
        own_card: &[u8],
        psk: &[u8; 32],
        role: Role,
        seed: [u8; 32],
    ) -> Handshake {
        let pair = identity.dh_pair();
        let secret = pair.private.clone();
        // The pattern string is a constant and the key lengths are fixed, so building
        // cannot fail; a failure here is a bug in this file, not peer input.
        #[allow(clippy::expect_used)]
        let noise = {
            let params = NOISE_PARAMS.parse().expect("pinned Noise pattern parses");
            let builder = snow::Builder::with_resolver(
                params,
                Box::new(SeededResolver::with_static(seed, pair)),
            )
            .local_private_key(secret.as_slice())
            .expect("32-byte X25519 key")
            .psk(0, psk)
            .expect("psk0 is valid for XX");
            match role {
                Role::Initiator => builder.build_initiator(),
                Role::Responder => builder.build_responder(),
            }
            .expect("complete Noise builder")
        };
        Handshake {
            noise,
            role,
            step: 0,
            own_card: own_card.to_vec(),
            remote: None,
        }
    }

    /// The initiator's first frame.
    pub(crate) fn start(&mut self) -> Option<Vec<u8>> {
        (self.role == Role::Initiator && self.step == 0)
            .then(|| self.write(&[]))
            .flatten()
    }

    /// Feeds one handshake message; returns the frame to answer with, if any.
    pub(crate) fn handle_message(
        &mut self,
        step: u8,
        message: &[u8],
    ) -> Result<Option<Vec<u8>>, HandshakeError> {
        let expected_read = match self.role {
            Role::Initiator => self.step == 1,
            Role::Responder => self.step == 0 || self.step == 2,
        };
        if step < self.step {
            return Err(HandshakeError::Duplicate(step));
        }
        if step != self.step || !expected_read {
            return Err(HandshakeError::OutOfOrder {
                expected: self.step,
                got: step,
            });
        }
        let mut payload = vec![0u8; MAX_NOISE_LEN];
        let len = self
            .noise
            .read_message(message, &mut payload)
            .map_err(|_| HandshakeError::Verify)?;
        self.step += 1;
        if step >= 1 {
            let remote = self.verify_card(payload.get(..len).unwrap_or_default())?;
            self.remote = Some(remote);
        }
        // Responder answers message 1 with its card; initiator answers message 2 with its card.
        match (self.role, step) {
            (Role::Responder, 0) | (Role::Initiator, 1) => {
                let card = std::mem::take(&mut self.own_card);
                Ok(self.write(&card))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.noise.is_handshake_finished() && self.remote.is_some()
    }

    /// The verified peer and its session. `None` until [`Handshake::is_finished`].
    // `into` is the identity but in tests and fuzzing (see `Transport`).
    #[allow(clippy::useless_conversion)]
    pub(crate) fn into_session(self) -> Option<(Session, PublicIdentity, String)> {
        let (identity, name) = self.remote?;
        let transport = self.noise.into_stateless_transport_mode().ok()?;
        Some((
            Session {
                transport: transport.into(),
                send_counter: 0,
                received: ReplayWindow::default(),
            },
            identity,
            name,
        ))
    }

    fn verify_card(&self, payload: &[u8]) -> Result<(PublicIdentity, String), HandshakeError> {
        let card = Card::decode(payload).map_err(|_| HandshakeError::Card)?;
        let remote_static: [u8; 32] = self
            .noise
            .get_remote_static()
            .and_then(|key| key.try_into().ok())
            .ok_or(HandshakeError::Card)?;
        let identity = PublicIdentity::verify_card(
            &card.signing_key,
            &remote_static,
            &card.display_name,
            &card.signature,
        )
        .ok_or(HandshakeError::Card)?;
        Ok((identity, card.display_name))
    }

    fn write(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let mut message = vec![0u8; MAX_NOISE_LEN];
        let len = self.noise.write_message(payload, &mut message).ok()?;
        message.truncate(len);
        let frame = Frame::Handshake {
            step: self.step,
            message: &message,
        }
        .encode();
        self.step += 1;
        Some(frame)
    }
}

/// An established, mutually authenticated session with one peer.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub struct Session {
    transport: Transport,
    send_counter: u64,
    received: ReplayWindow,
}

/// The session's keys. Fuzz targets (and tests) copy prepared sessions
/// (`Client::snapshot_for_fuzzing`): there the keys are shared, read-only (a stateless
/// transport never changes them).
#[cfg(not(any(test, fuzzing)))]
type Transport = snow::StatelessTransportState;
#[cfg(any(test, fuzzing))]
type Transport = std::sync::Arc<snow::StatelessTransportState>;

/// Which recent counters were accepted: a ring of bits over the last [`REPLAY_WORDS`]
/// 64-counter blocks (RFC 6479).
#[cfg_attr(any(test, fuzzing), derive(Clone))]
struct ReplayWindow {
    /// One more than the highest counter accepted (0: none yet).
    next: u64,
    bits: Box<[u64; REPLAY_WORDS]>,
}

impl Default for ReplayWindow {
    fn default() -> ReplayWindow {
        ReplayWindow {
            next: 0,
            bits: Box::new([0; REPLAY_WORDS]),
        }
    }
}

impl ReplayWindow {
    /// The oldest counter still acceptable.
    fn floor(&self) -> u64 {
        self.next.saturating_sub(REPLAY_WINDOW)
    }

    fn slot(counter: u64) -> (usize, u64) {
        let word = (counter >> 6) % REPLAY_WORDS as u64;
        (usize::try_from(word).unwrap_or(0), 1 << (counter & 63))
    }

    fn is_fresh(&self, counter: u64) -> bool {
        // Never sealed (`seal` stops before it), and it would leave nothing newer.
        if counter == u64::MAX {
            return false;
        }
        if counter >= self.next {
            return true;
        }
        if counter < self.floor() {
            return false;
        }
        let (word, bit) = Self::slot(counter);
        self.bits.get(word).is_some_and(|w| w & bit == 0)
    }

    fn accept(&mut self, counter: u64) {
        if counter >= self.next {
            // Clear the blocks the window slides over (all of them after a long jump).
            let first = if self.next == 0 {
                0
            } else {
                ((self.next - 1) >> 6) + 1
            };
            let last = counter >> 6;
            let blocks = last
                .saturating_add(1)
                .saturating_sub(first)
                .min(REPLAY_WORDS as u64);
            for block in first..first + blocks {
                let (word, _) = Self::slot(block << 6);
                if let Some(w) = self.bits.get_mut(word) {
                    *w = 0;
                }
            }
            self.next = counter.saturating_add(1);
        }
        let (word, bit) = Self::slot(counter);
        if let Some(w) = self.bits.get_mut(word) {
            *w |= bit;
        }
    }
}

/// Why an incoming transport frame was dropped. The session is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Not a transport frame at all.
    #[error("malformed frame: {0}")]
    Malformed(#[from] DecodeError),
    /// Counter already accepted, or older than the replay window.
    #[error("replayed or too late frame (counter {counter}, window starts at {floor})")]
    Replay {
        /// The frame's counter.
        counter: u64,
        /// Lowest acceptable.
        floor: u64,
    },
    /// Failed authentication: tampered, or not from this session.
    #[error("frame failed authentication")]
    Decrypt,
}

/// A plaintext that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Larger than one frame holds.
    #[error("plaintext of {got} bytes exceeds {max}")]
    TooLong {
        /// Its size.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// 2^64 frames sent: the session must be replaced.
    #[error("session exhausted")]
    Exhausted,
}

impl Session {
    /// Encrypts `plaintext` into a complete transport frame.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(SealError::TooLong {
                got: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        let counter = self.send_counter;
        let next = counter.checked_add(1).ok_or(SealError::Exhausted)?;
        // One allocation: the header, then the ciphertext written in place behind it.
        let header = Frame::transport_header(counter);
        let mut frame = vec![0u8; header.len() + plaintext.len() + TAG_LEN];
        let (head, body) = frame.split_at_mut(header.len());
        head.copy_from_slice(&header);
        let len = self
            .transport
            .write_message(counter, plaintext, body)
            .map_err(|_| SealError::Exhausted)?;
        frame.truncate(header.len() + len);
        self.send_counter = next;
        Ok(frame)
    }

    /// Decrypts a transport frame. On error nothing changes.
    pub fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, OpenError> {
        match Frame::decode(frame)? {
            Frame::Transport {
                counter,
                ciphertext,
            } => self.open_transport(counter, ciphertext),
            _ => Err(OpenError::Malformed(DecodeError::Invalid(
                "frame kind in session",
            ))),
        }
    }

    pub(crate) fn open_transport(
        &mut self,
        counter: u64,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        if !self.received.is_fresh(counter) {
            return Err(OpenError::Replay {
                counter,
                floor: self.received.floor(),
            });
        }
        let mut plaintext = vec![0u8; ciphertext.len()];
        let len = self
            .transport
            .read_message(counter, ciphertext, &mut plaintext)
            .map_err(|_| OpenError::Decrypt)?;
        plaintext.truncate(len);
        // Authentic: only now record it (after a u64::MAX counter nothing newer exists).
        self.received.accept(counter);
        Ok(plaintext)
    }

    /// Two sessions joined by a completed handshake, for benchmarks and tests.
    #[doc(hidden)]
    pub fn pair_for_testing_only(seed: u8) -> (Session, Session) {
        let psk = [seed; 32];
        let mut initiator = handshake_for_testing(
            seed.wrapping_add(1),
            "alice",
            &psk,
            Role::Initiator,
            seed.wrapping_add(3),
        );
        let mut responder = handshake_for_testing(
            seed.wrapping_add(2),
            "bob",
            &psk,
            Role::Responder,
            seed.wrapping_add(4),
        );
        let mut to_responder = initiator.start();
        let mut to_initiator = None;
        while !(initiator.is_finished() && responder.is_finished()) {
            if let Some(frame) = to_responder.take() {
                if let Ok(Frame::Handshake { step, message }) = Frame::decode(&frame) {
                    to_initiator = responder.handle_message(step, message).ok().flatten();
                }
            } else if let Some(frame) = to_initiator.take() {
                if let Ok(Frame::Handshake { step, message }) = Frame::decode(&frame) {
                    to_responder = initiator.handle_message(step, message).ok().flatten();
                }
            } else {
                break;
            }
        }
        match (initiator.into_session(), responder.into_session()) {
            (Some((a, ..)), Some((b, ..))) => (a, b),
            #[allow(clippy::panic)]
            _ => panic!("in-memory handshake between fixed identities always completes"),
        }
    }
}

/// A handshake for a fixed identity (`identity_seed`), for tests and benchmarks.
fn handshake_for_testing(
    identity_seed: u8,
    name: &str,
    psk: &[u8; 32],
    role: Role,
    seed: u8,
) -> Handshake {
    let identity = Identity::from_seed([identity_seed; 32]);
    Handshake::new(
        &identity,
        &identity.encoded_card(name),
        psk,
        role,
        [seed; 32],
    )
}

#[cfg(test)]
mod tests;
