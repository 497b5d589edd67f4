//! The offline mailbox's cryptography: sealing an entry for a room's mailbox on the server,
//! and the **room deposit key** that proves to the server that a request comes from a
//! member. Pure like the rest of core: nonces come in as arguments.
//!
//! When a message cannot reach any member directly, its sender also deposits it, sealed,
//! in the server's mailbox for the room id; members who come back fetch what they missed.
//! The payload is opaque here (the client puts a signed history event in it, which carries
//! its author's signature already).
//!
//! # Keys (all HKDF-SHA256 of the room secret, see [`crate::RoomSecret::mailbox_keys`])
//!
//! - The **seal key** (`confab/v1/mailbox-seal`): XChaCha20-Poly1305 over the payload,
//!   with the room id authenticated, so the server can neither read an entry nor move it
//!   to another room's mailbox.
//! - The **deposit key** (`confab/v1/mailbox-deposit` is the Ed25519 seed): every member
//!   derives the same keypair. The server learns the public half with a room's first
//!   deposit (trust on first use) and from then on requires a signature by it on every
//!   deposit, fetch and acknowledgement for that room, so someone who only learns a room id
//!   can neither fill nor drain its mailbox. Signatures name the connection's [`PeerId`]
//!   (random per connection, from the server's `welcome`), so an observer who records one
//!   cannot replay it on a connection of its own.
//!
//! # Formats (version 1; byte 0 is always the format version)
//!
//! ```text
//! sealed entry  = version:u8(=1) nonce[24] ciphertext(payload ‖ tag[16])     41..=65,536 B
//!     ciphertext = XChaCha20-Poly1305(seal key, nonce, payload,
//!                                     AAD = "confab/v1/mailbox-entry" ‖ version ‖ room_id[32])
//! put proof     = Ed25519(deposit key, "confab/v1/mailbox-put" ‖ room_id[32] ‖ peer:u64be ‖ entry)
//! access proof  = Ed25519(deposit key, "confab/v1/mailbox-access" ‖ room_id[32] ‖ peer:u64be)
//! ```
//!
//! In signalling JSON ([`crate::signal`]) entries, deposit keys (32 B) and proofs (64 B)
//! are unpadded URL-safe base64.
//!
//! Decoding never panics; every refusal is a [`MailboxError`]. A sealed entry that fails to
//! open reads as [`MailboxError::Open`] whatever the cause (another room, another key, an
//! altered byte): the causes cannot be told apart.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{AeadInPlace as _, KeyInit as _};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::ids::{PeerId, RoomId};

/// Format version: byte 0 of every sealed entry.
pub const VERSION: u8 = 1;
/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// How many bytes sealing adds to a payload.
pub const ENTRY_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// Largest sealed entry the protocol allows (a server may accept less).
pub const MAX_ENTRY_LEN: usize = 64 * 1024;
/// Largest payload that seals into at most [`MAX_ENTRY_LEN`] bytes.
pub const MAX_PAYLOAD_LEN: usize = MAX_ENTRY_LEN - ENTRY_OVERHEAD;
/// Length of a deposit public key.
pub const DEPOSIT_KEY_LEN: usize = 32;
/// Length of a deposit proof (an Ed25519 signature).
pub const PROOF_LEN: usize = 64;

const AAD_LABEL: &[u8] = b"confab/v1/mailbox-entry";
const PUT_CONTEXT: &[u8] = b"confab/v1/mailbox-put";
const ACCESS_CONTEXT: &[u8] = b"confab/v1/mailbox-access";

/// A room's mailbox keys: the seal key and the deposit signing key, both derived from the
/// room secret. Secret: neither `Debug` nor `Display`, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub struct MailboxKeys {
    #[zeroize(skip)]
    room: RoomId,
    seal_key: [u8; 32],
    // Zeroizes itself on drop (ed25519-dalek's `zeroize` feature).
    #[zeroize(skip)]
    deposit: SigningKey,
}

/// A sealed mailbox entry: version 1 and a plausible length, checked on construction. What
/// is inside is known only to members (see [`MailboxKeys::open`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct SealedEntry(Vec<u8>);

/// The public half of a room's deposit key, as the server binds it to the room id: 32
/// bytes checked on construction to be a valid Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct DepositKey([u8; DEPOSIT_KEY_LEN]);

/// A signature by a room's deposit key over a put or an access (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct DepositProof([u8; PROOF_LEN]);

/// Why a mailbox entry, key or proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailboxError {
    /// Not unpadded URL-safe base64.
    #[error("not valid base64")]
    Encoding,
    /// Byte 0 is not a version we read.
    #[error("unknown mailbox entry version {got} (expected {expected})")]
    Version {
        /// [`VERSION`].
        expected: u8,
        /// Byte 0 as found.
        got: u8,
    },
    /// Shorter than the smallest sealed entry, or a key or proof of the wrong length.
    #[error("{got} bytes is too short (at least {min})")]
    TooShort {
        /// Bytes found.
        got: usize,
        /// The least allowed.
        min: usize,
    },
    /// Longer than allowed.
    #[error("{got} bytes is too long (at most {max})")]
    TooLong {
        /// Bytes found.
        got: usize,
        /// The most allowed.
        max: usize,
    },
    /// Not a valid Ed25519 public key.
    #[error("not a valid deposit key")]
    Key,
    /// The proof is not the room deposit key's signature over this request.
    #[error("the deposit proof does not verify")]
    Proof,
    /// The entry does not open: sealed for another room or under another key, or altered.
    #[error("the mailbox entry does not open (another room, another key, or altered)")]
    Open,
}

impl MailboxKeys {
    /// Keys for `room` from the two HKDF outputs (see [`crate::RoomSecret::mailbox_keys`]).
    pub(crate) fn from_derived(
        room: RoomId,
        seal_key: [u8; 32],
        deposit_seed: [u8; 32],
    ) -> MailboxKeys {
        MailboxKeys {
            room,
            seal_key,
            deposit: SigningKey::from_bytes(&deposit_seed),
        }
    }

    /// The room these keys belong to.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// Seals `payload` for this room's mailbox under `nonce` (24 random bytes the caller
    /// draws; never reuse one). Fails only if the payload exceeds [`MAX_PAYLOAD_LEN`].
    pub fn seal(
        &self,
        nonce: [u8; NONCE_LEN],
        payload: &[u8],
    ) -> Result<SealedEntry, MailboxError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(MailboxError::TooLong {
                got: payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        let mut out = Vec::with_capacity(ENTRY_OVERHEAD + payload.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(payload);
        // `out` holds the 1 + NONCE_LEN header bytes pushed above, so the split is in bounds.
        let (_, body) = out.split_at_mut(1 + NONCE_LEN);
        let tag = self
            .cipher()
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), &self.aad(), body)
            .map_err(|_| MailboxError::TooLong {
                got: payload.len(),
                max: MAX_PAYLOAD_LEN,
            })?;
        out.extend_from_slice(&tag);
        Ok(SealedEntry(out))
    }

    /// Opens an entry sealed for this room with these keys. Anything else (another room,
    /// another secret, a flipped bit) is [`MailboxError::Open`].
    pub fn open(&self, entry: &SealedEntry) -> Result<Vec<u8>, MailboxError> {
        let bytes = entry.as_bytes();
        // `SealedEntry` holds at least ENTRY_OVERHEAD bytes, so both splits are in bounds.
        let (header, rest) = bytes.split_at(1 + NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce = header.get(1..).ok_or(MailboxError::Open)?;
        let mut plaintext = ciphertext.to_vec();
        self.cipher()
            .decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                &self.aad(),
                &mut plaintext,
                Tag::from_slice(tag),
            )
            .map_err(|_| MailboxError::Open)?;
        Ok(plaintext)
    }

    /// The room's deposit public key, which the server binds to the room id.
    pub fn deposit_key(&self) -> DepositKey {
        DepositKey(self.deposit.verifying_key().to_bytes())
    }

    /// The proof for depositing `entry` from the connection the server calls `peer`.
    pub fn prove_put(&self, peer: PeerId, entry: &SealedEntry) -> DepositProof {
        let message = put_message(&self.room, peer, entry);
        DepositProof(self.deposit.sign(&message).to_bytes())
    }

    /// The proof for fetching from and acknowledging this room's mailbox on the connection
    /// the server calls `peer` (valid for that connection only).
    pub fn prove_access(&self, peer: PeerId) -> DepositProof {
        let message = access_message(&self.room, peer);
        DepositProof(self.deposit.sign(&message).to_bytes())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.seal_key).into())
    }

    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(AAD_LABEL.len() + 1 + 32);
        aad.extend_from_slice(AAD_LABEL);
        aad.push(VERSION);
        aad.extend_from_slice(self.room.as_bytes());
        aad
    }
}

impl SealedEntry {
    /// Checks the version byte and the length; does not (cannot) check the contents.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<SealedEntry, MailboxError> {
        if bytes.len() > MAX_ENTRY_LEN {
            return Err(MailboxError::TooLong {
                got: bytes.len(),
                max: MAX_ENTRY_LEN,
            });
        }
        if bytes.len() < ENTRY_OVERHEAD {
            return Err(MailboxError::TooShort {
                got: bytes.len(),
                min: ENTRY_OVERHEAD,
            });
        }
        match bytes.first() {
            Some(&VERSION) => Ok(SealedEntry(bytes)),
            got => Err(MailboxError::Version {
                expected: VERSION,
                got: got.copied().unwrap_or_default(),
            }),
        }
    }

    /// The sealed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// How many bytes.
    #[allow(clippy::len_without_is_empty)] // never empty: at least ENTRY_OVERHEAD bytes
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The sealed bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl DepositKey {
    /// Parses a public key (refuses bytes that are not a curve point).
    pub fn from_bytes(bytes: &[u8; DEPOSIT_KEY_LEN]) -> Result<DepositKey, MailboxError> {
        VerifyingKey::from_bytes(bytes)
            .map(|_| DepositKey(*bytes))
            .map_err(|_| MailboxError::Key)
    }

    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; DEPOSIT_KEY_LEN] {
        self.0
    }

    /// Checks that `proof` is this key's signature over depositing `entry` in `room` from
    /// connection `peer`.
    pub fn verify_put(
        &self,
        room: &RoomId,
        peer: PeerId,
        entry: &SealedEntry,
        proof: &DepositProof,
    ) -> Result<(), MailboxError> {
        self.verify(&put_message(room, peer, entry), proof)
    }

    /// Checks that `proof` is this key's signature granting connection `peer` access to
    /// `room`'s mailbox.
    pub fn verify_access(
        &self,
        room: &RoomId,
        peer: PeerId,
        proof: &DepositProof,
    ) -> Result<(), MailboxError> {
        self.verify(&access_message(room, peer), proof)
    }

    fn verify(&self, message: &[u8], proof: &DepositProof) -> Result<(), MailboxError> {
        // Checked on construction; a failure here would only refuse the proof.
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| MailboxError::Key)?;
        key.verify_strict(message, &Signature::from_bytes(&proof.0))
            .map_err(|_| MailboxError::Proof)
    }
}

impl DepositProof {
    /// Wraps signature bytes (checked only by [`DepositKey`]'s `verify_*`).
    pub const fn from_bytes(bytes: [u8; PROOF_LEN]) -> DepositProof {
        DepositProof(bytes)
    }

    /// The 64 signature bytes.
    pub const fn to_bytes(&self) -> [u8; PROOF_LEN] {
        self.0
    }
}

impl fmt::Debug for SealedEntry {
    /// The length only: the ciphertext means nothing to a reader of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedEntry({} bytes)", self.0.len())
    }
}
impl fmt::Debug for DepositKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DepositKey({})", URL_SAFE_NO_PAD.encode(self.to_bytes()))
    }
}
impl fmt::Debug for DepositProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DepositProof(..)")
    }
}

impl From<SealedEntry> for String {
    fn from(entry: SealedEntry) -> String {
        URL_SAFE_NO_PAD.encode(entry.0)
    }
}
impl TryFrom<String> for SealedEntry {
    type Error = MailboxError;
    fn try_from(text: String) -> Result<SealedEntry, MailboxError> {
        // Refuse before decoding: the decoded length is about three quarters of the text's.
        let max_text = MAX_ENTRY_LEN.div_ceil(3) * 4;
        if text.len() > max_text {
            return Err(MailboxError::TooLong {
                got: text.len() / 4 * 3,
                max: MAX_ENTRY_LEN,
            });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| MailboxError::Encoding)?;
        SealedEntry::from_bytes(bytes)
    }
}
impl From<DepositKey> for String {
    fn from(key: DepositKey) -> String {
        URL_SAFE_NO_PAD.encode(key.to_bytes())
    }
}
impl TryFrom<String> for DepositKey {
    type Error = MailboxError;
    fn try_from(text: String) -> Result<DepositKey, MailboxError> {
        DepositKey::from_bytes(&decode_array(&text)?)
    }
}
impl From<DepositProof> for String {
    fn from(proof: DepositProof) -> String {
        URL_SAFE_NO_PAD.encode(proof.0)
    }
}
impl TryFrom<String> for DepositProof {
    type Error = MailboxError;
    fn try_from(text: String) -> Result<DepositProof, MailboxError> {
        decode_array(&text).map(DepositProof)
    }
}

fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], MailboxError> {
    if text.len() > N.div_ceil(3) * 4 {
        return Err(MailboxError::TooLong {
            got: text.len() / 4 * 3,
            max: N,
        });
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| MailboxError::Encoding)?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| MailboxError::TooShort { got, min: N })
}

fn put_message(room: &RoomId, peer: PeerId, entry: &SealedEntry) -> Vec<u8> {
    let mut message = Vec::with_capacity(PUT_CONTEXT.len() + 32 + 8 + entry.len());
    message.extend_from_slice(PUT_CONTEXT);
    message.extend_from_slice(room.as_bytes());
    message.extend_from_slice(&peer.to_u64().to_be_bytes());
    message.extend_from_slice(entry.as_bytes());
    message
}

fn access_message(room: &RoomId, peer: PeerId) -> Vec<u8> {
    let mut message = Vec::with_capacity(ACCESS_CONTEXT.len() + 32 + 8);
    message.extend_from_slice(ACCESS_CONTEXT);
    message.extend_from_slice(room.as_bytes());
    message.extend_from_slice(&peer.to_u64().to_be_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RoomSecret;

    const NONCE: [u8; NONCE_LEN] = [7; NONCE_LEN];
    const PEER: PeerId = PeerId::new(0x0102_0304_0506_0708);

    fn keys(n: u8) -> MailboxKeys {
        RoomSecret::from_bytes([n; 32]).mailbox_keys()
    }

    #[test]
    fn entries_round_trip_and_have_the_documented_layout() {
        let keys = keys(1);
        for payload in [&b""[..], b"hello", &[0xAB; MAX_PAYLOAD_LEN]] {
            let entry = keys.seal(NONCE, payload).unwrap();
            assert_eq!(entry.len(), ENTRY_OVERHEAD + payload.len());
            assert_eq!(entry.as_bytes()[0], VERSION);
            assert_eq!(entry.as_bytes()[1..25], NONCE);
            assert_eq!(keys.open(&entry).unwrap(), payload);
            // Through JSON's base64 and back.
            let text = String::from(entry.clone());
            assert_eq!(SealedEntry::try_from(text).unwrap(), entry);
        }
        assert_eq!(
            keys.seal(NONCE, &[0; MAX_PAYLOAD_LEN + 1]).err(),
            Some(MailboxError::TooLong {
                got: MAX_PAYLOAD_LEN + 1,
                max: MAX_PAYLOAD_LEN
            })
        );
    }

    #[test]
    fn entries_open_only_in_their_room_with_their_key_unaltered() {
        let alice = keys(1);
        let entry = alice.seal(NONCE, b"meet at noon").unwrap();
        // Another room's secret.
        assert_eq!(keys(2).open(&entry), Err(MailboxError::Open));
        // The same seal key, another room id (the AAD): the server moved the entry.
        let moved = MailboxKeys::from_derived(RoomId::from_bytes([9; 32]), alice.seal_key, [0; 32]);
        assert_eq!(moved.open(&entry), Err(MailboxError::Open));
        // Any flipped bit after the version byte.
        for idx in 1..entry.len() {
            let mut bytes = entry.as_bytes().to_vec();
            bytes[idx] ^= 0x10;
            let altered = SealedEntry::from_bytes(bytes).unwrap();
            assert_eq!(alice.open(&altered), Err(MailboxError::Open), "byte {idx}");
        }
    }

    #[test]
    fn malformed_entries_keys_and_proofs_are_refused_with_a_reason() {
        let entry = keys(1).seal(NONCE, b"x").unwrap();
        let mut bytes = entry.into_bytes();
        bytes[0] = 2;
        assert_eq!(
            SealedEntry::from_bytes(bytes).err(),
            Some(MailboxError::Version {
                expected: 1,
                got: 2
            })
        );
        assert_eq!(
            SealedEntry::from_bytes(vec![1; 40]).err(),
            Some(MailboxError::TooShort { got: 40, min: 41 })
        );
        assert_eq!(
            SealedEntry::from_bytes(vec![1; MAX_ENTRY_LEN + 1]).err(),
            Some(MailboxError::TooLong {
                got: MAX_ENTRY_LEN + 1,
                max: MAX_ENTRY_LEN
            })
        );
        assert_eq!(
            SealedEntry::try_from("***".to_owned()).err(),
            Some(MailboxError::Encoding)
        );
        assert!(SealedEntry::try_from("A".repeat(200_000)).is_err());
        assert_eq!(
            DepositKey::try_from("AAAA".to_owned()).err(),
            Some(MailboxError::TooShort { got: 3, min: 32 })
        );
        assert!(DepositKey::try_from("A".repeat(100)).is_err());
        assert_eq!(
            DepositProof::try_from("+/==".to_owned()).err(),
            Some(MailboxError::Encoding)
        );
        // Arbitrary bytes never panic.
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            if let Ok(entry) = SealedEntry::from_bytes(bytes) {
                assert_eq!(keys(1).open(&entry), Err(MailboxError::Open));
            }
        }
    }

    #[test]
    fn deposit_proofs_verify_only_for_their_room_connection_and_entry() {
        let alice = keys(1);
        let key = alice.deposit_key();
        let room = alice.room();
        let entry = alice.seal(NONCE, b"hi").unwrap();
        let proof = alice.prove_put(PEER, &entry);
        assert_eq!(key.verify_put(&room, PEER, &entry, &proof), Ok(()));
        let other_peer = PeerId::new(9);
        assert_eq!(
            key.verify_put(&room, other_peer, &entry, &proof),
            Err(MailboxError::Proof)
        );
        let other_entry = alice.seal(NONCE, b"ho").unwrap();
        assert_eq!(
            key.verify_put(&room, PEER, &other_entry, &proof),
            Err(MailboxError::Proof)
        );
        let other_room = RoomId::from_bytes([3; 32]);
        assert_eq!(
            key.verify_put(&other_room, PEER, &entry, &proof),
            Err(MailboxError::Proof)
        );
        // A put proof is not an access proof, and the other way round.
        assert_eq!(
            key.verify_access(&room, PEER, &proof),
            Err(MailboxError::Proof)
        );
        let access = alice.prove_access(PEER);
        assert_eq!(key.verify_access(&room, PEER, &access), Ok(()));
        assert_eq!(
            key.verify_access(&room, other_peer, &access),
            Err(MailboxError::Proof)
        );
        // Another room's key.
        assert_eq!(
            keys(2).deposit_key().verify_access(&room, PEER, &access),
            Err(MailboxError::Proof)
        );
        // Keys and proofs survive their text form.
        let key_text = String::from(key);
        assert_eq!(key_text.len(), 43);
        assert_eq!(DepositKey::try_from(key_text).unwrap(), key);
        let proof_text = String::from(access);
        assert_eq!(proof_text.len(), 86);
        assert_eq!(DepositProof::try_from(proof_text).unwrap(), access);
    }

    #[test]
    fn mailbox_keys_are_fixed_and_independent_of_the_other_derivations() {
        let secret = RoomSecret::from_bytes([0; 32]);
        let keys = secret.mailbox_keys();
        assert_eq!(keys.room(), secret.room_id());
        let deposit = crate::ids::hex(&keys.deposit_key().to_bytes());
        let seal = crate::ids::hex(&keys.seal_key);
        assert_ne!(seal, secret.room_id().to_string());
        assert_ne!(deposit, seal);
        // Golden values, cross-checked with Python (hmac HKDF-SHA256, `cryptography`'s
        // Ed25519): changing a label changes every deposit key bound on servers.
        assert_eq!(
            deposit,
            "779b2c7a14b1c48a1f6a22c77c712e3eacf5e066afe4ee1e3aa652305d545813"
        );
        assert_eq!(
            seal,
            "c630f78167fc3a17a1061fdc91ef66690178ee7f5e16fdb2c7f0da5e61c2d1a7"
        );
    }
}
