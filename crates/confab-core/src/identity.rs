//! A person's identity: an Ed25519 signing key (who they are) and an X25519 key (their
//! Noise static key), both derived from one 32-byte seed drawn from a CSPRNG by the adapter.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::{Digest as _, Sha256};
use x25519_dalek::{PublicKey as DhPublic, StaticSecret};
use zeroize::Zeroizing;

const INFO_SIGNING: &[u8] = b"confab/v1/identity/ed25519";
const INFO_DH: &[u8] = b"confab/v1/identity/x25519";
const CARD_CONTEXT: &[u8] = b"confab/v1/identity-card";
const FINGERPRINT_CONTEXT: &[u8] = b"confab/v1/fingerprint";
const DIRECT_ROOM_SALT: &[u8] = b"confab/v1/direct-room";
const CONTACT_ROOM_SALT: &[u8] = b"confab/v1/contact-room";
const ROOM_ADDRESS_SALT: &[u8] = b"confab/v1/room-address";

/// The local identity. Secret: neither `Debug` nor `Display`; keys are zeroized on drop.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub struct Identity {
    signing: SigningKey,
    dh: StaticSecret,
    /// `dh`'s public key, computed once (each lockbox tried and each handshake needs it).
    dh_public: [u8; 32],
}

impl Identity {
    /// Derives both key pairs from a 32-byte seed (from `crypto.getRandomValues` in the app).
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        let seed = Zeroizing::new(seed);
        let hkdf = Hkdf::<Sha256>::new(None, seed.as_slice());
        let mut signing = Zeroizing::new([0u8; 32]);
        let mut dh = Zeroizing::new([0u8; 32]);
        // 32-byte outputs are always valid for HKDF-SHA256.
        #[allow(clippy::expect_used)]
        {
            hkdf.expand(INFO_SIGNING, signing.as_mut_slice())
                .expect("valid HKDF length");
            hkdf.expand(INFO_DH, dh.as_mut_slice())
                .expect("valid HKDF length");
        }
        let dh = StaticSecret::from(*dh);
        Identity {
            signing: SigningKey::from_bytes(&signing),
            dh_public: DhPublic::from(&dh).to_bytes(),
            dh,
        }
    }

    /// The public half, safe to show and send.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            signing: self.signing.verifying_key(),
            dh: self.dh_public,
        }
    }

    /// The Noise static private key, for `snow`.
    pub(crate) fn dh_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.dh.to_bytes())
    }

    /// The Noise static key pair, for `snow` without deriving the public key again
    /// ([`crate::rng::SeededResolver::with_static`]).
    pub(crate) fn dh_pair(&self) -> crate::rng::StaticPair {
        crate::rng::StaticPair {
            private: self.dh_secret_bytes(),
            public: self.dh_public,
        }
    }

    /// Our identity card for handshakes, encoded: built once per client, sent in each
    /// handshake.
    pub(crate) fn encoded_card(&self, display_name: &str) -> Vec<u8> {
        crate::wire::Card {
            signing_key: self.signing.verifying_key().to_bytes(),
            signature: self.sign_card(display_name),
            display_name: display_name.to_owned(),
        }
        .encode()
    }

    /// Signs `message`, which must start with its own domain-separation context.
    pub(crate) fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// Our key as history names members.
    pub fn member_key(&self) -> crate::ids::MemberKey {
        crate::ids::MemberKey(self.signing.verifying_key().to_bytes())
    }

    /// The secret of our contact room: its invite link is our *contact link*. Whoever opens
    /// it meets us there (when we are online) and becomes a contact; from then on we share
    /// a one-to-one room. Derived from our signing key, so it is the same on every device
    /// with this identity and nobody else can compute it.
    pub fn contact_room(&self) -> crate::room::RoomSecret {
        let key = Zeroizing::new(self.signing.to_bytes());
        let hkdf = Hkdf::<Sha256>::new(Some(CONTACT_ROOM_SALT), key.as_slice());
        let mut secret = Zeroizing::new([0u8; 32]);
        // 32-byte outputs are always valid for HKDF-SHA256.
        #[allow(clippy::expect_used)]
        hkdf.expand(b"", secret.as_mut_slice())
            .expect("valid HKDF length");
        crate::room::RoomSecret::from_bytes(*secret)
    }

    /// The secret of our one-to-one room with `other`: both of us derive the same one from
    /// an X25519 agreement of our static keys (so nobody else can), bound to both signing
    /// keys in a fixed order. Opening it needs no invite link.
    pub fn direct_room_with(&self, other: &PublicIdentity) -> crate::room::RoomSecret {
        let shared = Zeroizing::new(
            self.dh
                .diffie_hellman(&DhPublic::from(other.dh_key_bytes()))
                .to_bytes(),
        );
        let mine = self.signing.verifying_key().to_bytes();
        let theirs = other.signing_key_bytes();
        let (low, high) = if mine <= theirs {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        let hkdf = Hkdf::<Sha256>::new(Some(DIRECT_ROOM_SALT), shared.as_slice());
        let mut secret = Zeroizing::new([0u8; 32]);
        // 32-byte outputs are always valid for HKDF-SHA256.
        #[allow(clippy::expect_used)]
        hkdf.expand_multi_info(&[&low, &high], secret.as_mut_slice())
            .expect("valid HKDF length");
        crate::room::RoomSecret::from_bytes(*secret)
    }

    /// How our app names `room` in its own addresses (the page's `#fragment`, a
    /// notification's link) instead of the room's secret: 8 bytes of HKDF-SHA256 over our
    /// signing key and the room id. The same on every device with this identity; without
    /// our key nobody can link it to the room id, and it opens nothing by itself.
    pub fn room_address(&self, room: &crate::ids::RoomId) -> RoomAddress {
        let key = Zeroizing::new(self.signing.to_bytes());
        let hkdf = Hkdf::<Sha256>::new(Some(ROOM_ADDRESS_SALT), key.as_slice());
        let mut address = [0u8; 8];
        // 8-byte outputs are always valid for HKDF-SHA256.
        #[allow(clippy::expect_used)]
        hkdf.expand(room.as_bytes(), &mut address)
            .expect("valid HKDF length");
        RoomAddress(address)
    }

    /// Signs the card that binds our Noise static key and display name to our signing key.
    pub(crate) fn sign_card(&self, display_name: &str) -> [u8; 64] {
        let public = self.public();
        self.signing
            .sign(&card_message(&public.dh, display_name))
            .to_bytes()
    }
}

/// A room as one identity's app addresses it ([`Identity::room_address`]): shown as 16
/// lowercase hex digits, safe in URLs and the browser's history.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RoomAddress([u8; 8]);

impl fmt::Display for RoomAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl std::str::FromStr for RoomAddress {
    type Err = crate::ids::IdParseError;
    /// 16 hex digits (either case).
    fn from_str(text: &str) -> Result<RoomAddress, Self::Err> {
        use crate::ids::IdParseError;
        if text.len() != 16 {
            return Err(IdParseError::Length {
                expected: 16,
                got: text.len(),
            });
        }
        if !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(IdParseError::NotHex);
        }
        u64::from_str_radix(text, 16)
            .map(|value| RoomAddress(value.to_be_bytes()))
            .map_err(|_| IdParseError::NotHex)
    }
}

/// Someone's public keys. Equality is by both keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicIdentity {
    signing: VerifyingKey,
    dh: [u8; 32],
}

impl PublicIdentity {
    /// Checks a card received in a handshake: `signature` by `signing_key` over the Noise
    /// static key the handshake authenticated and the display name.
    pub(crate) fn verify_card(
        signing_key: &[u8; 32],
        dh: &[u8; 32],
        display_name: &str,
        signature: &[u8; 64],
    ) -> Option<PublicIdentity> {
        let signing = VerifyingKey::from_bytes(signing_key).ok()?;
        let signature = Signature::from_bytes(signature);
        // Strict, as for events: no small-order (weak) keys, no non-canonical signatures,
        // so one card verifies under one key only and a weak key is no identity.
        signing
            .verify_strict(&card_message(dh, display_name), &signature)
            .ok()?;
        Some(PublicIdentity { signing, dh: *dh })
    }

    /// Rebuilds a public identity from its two keys (as stored for a contact); `None` if
    /// the signing key is not a valid Ed25519 point.
    pub fn from_keys(signing_key: &[u8; 32], dh_key: &[u8; 32]) -> Option<PublicIdentity> {
        Some(PublicIdentity {
            signing: VerifyingKey::from_bytes(signing_key).ok()?,
            dh: *dh_key,
        })
    }

    /// The Ed25519 public key.
    pub fn signing_key_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// This identity's key as history names members.
    pub fn member_key(&self) -> crate::ids::MemberKey {
        crate::ids::MemberKey(self.signing.to_bytes())
    }

    /// The X25519 (Noise static) public key.
    pub fn dh_key_bytes(&self) -> [u8; 32] {
        self.dh
    }

    /// The short, comparable form of this identity.
    pub fn fingerprint(&self) -> Fingerprint {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_CONTEXT)
            .chain_update(self.signing.as_bytes())
            .chain_update(self.dh)
            .finalize();
        let digest: [u8; 32] = digest.into();
        let (bytes, _) = digest.split_first_chunk::<30>().unwrap_or((&[0; 30], &[]));
        Fingerprint(*bytes)
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PublicIdentity { signing: _, dh: _ } = self;
        write!(f, "PublicIdentity({})", self.fingerprint())
    }
}

/// Six groups of five digits that two people can read to each other to compare keys
/// (about 100 bits; the same scheme Signal uses for its safety numbers, per key).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 30]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (group_idx, chunk) in self.0.chunks_exact(5).enumerate() {
            let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)) % 100_000;
            if group_idx > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{value:05}")?;
        }
        Ok(())
    }
}
impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

fn card_message(dh: &[u8; 32], display_name: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(CARD_CONTEXT.len() + 32 + display_name.len());
    message.extend_from_slice(CARD_CONTEXT);
    message.extend_from_slice(dh);
    message.extend_from_slice(display_name.as_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;

    #[test]
    fn the_same_seed_gives_the_same_identity() {
        let a = Identity::from_seed([1; 32]).public();
        assert_eq!(a, Identity::from_seed([1; 32]).public());
        assert_ne!(a, Identity::from_seed([2; 32]).public());
        assert_ne!(a.signing_key_bytes(), a.dh_key_bytes());
    }

    #[test]
    fn a_room_address_is_per_identity_and_reads_back() {
        let (alice, bob) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
        let room = crate::RoomSecret::from_bytes([7; 32]).room_id();
        let other = crate::RoomSecret::from_bytes([8; 32]).room_id();
        let address = alice.room_address(&room);
        assert_eq!(address, Identity::from_seed([1; 32]).room_address(&room));
        assert_ne!(address, bob.room_address(&room));
        assert_ne!(address, alice.room_address(&other));
        let text = address.to_string();
        assert_eq!(text.len(), 16);
        assert!(!room.to_string().contains(&text));
        assert_eq!(text.parse::<RoomAddress>(), Ok(address));
        assert_eq!(text.to_uppercase().parse::<RoomAddress>(), Ok(address));
        for bad in [
            "",
            "00",
            "0123456789abcdeg",
            "0123456789abcdef0",
            "+123456789abcdef",
            "é123456789abcde",
        ] {
            assert!(bad.parse::<RoomAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn both_sides_derive_the_same_direct_room_and_nobody_else_does() {
        let (alice, bob, carol) = (
            Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]),
            Identity::from_seed([3; 32]),
        );
        let ab = alice.direct_room_with(&bob.public()).room_id();
        assert_eq!(ab, bob.direct_room_with(&alice.public()).room_id());
        assert_ne!(ab, alice.direct_room_with(&carol.public()).room_id());
        assert_ne!(ab, carol.direct_room_with(&bob.public()).room_id());
        let contact = alice.contact_room().room_id();
        assert_eq!(
            contact,
            Identity::from_seed([1; 32]).contact_room().room_id()
        );
        assert_ne!(contact, bob.contact_room().room_id());
        assert_ne!(contact, ab);
    }

    #[test]
    fn fingerprint_is_six_groups_of_five_digits() {
        let text = Identity::from_seed([1; 32])
            .public()
            .fingerprint()
            .to_string();
        let groups: Vec<&str> = text.split(' ').collect();
        assert_eq!(groups.len(), 6, "{text}");
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
    }

    #[test]
    fn cards_verify_only_unaltered() {
        let identity = Identity::from_seed([3; 32]);
        let public = identity.public();
        let signature = identity.sign_card("Alice");
        let key = public.signing_key_bytes();
        let dh = public.dh_key_bytes();
        assert_eq!(
            PublicIdentity::verify_card(&key, &dh, "Alice", &signature),
            Some(public)
        );
        assert_eq!(
            PublicIdentity::verify_card(&key, &dh, "Mallory", &signature),
            None
        );
        assert_eq!(
            PublicIdentity::verify_card(&key, &[0; 32], "Alice", &signature),
            None
        );
        let mut bad = signature;
        bad[0] ^= 1;
        assert_eq!(PublicIdentity::verify_card(&key, &dh, "Alice", &bad), None);
    }

    /// Issue 14, item 4: cards were checked with `verify`, which accepts a small-order
    /// signing key. With the identity point as key, `R` = identity and `s` = 0 is a valid
    /// `verify` signature over every message: anyone could present that "identity" with
    /// any Noise key and name.
    #[test]
    fn cards_with_a_weak_key_never_verify() {
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let key = VerifyingKey::from_bytes(&identity_point).unwrap();
        let dh = [7; 32];
        let message = card_message(&dh, "Anyone");
        // What the lax check accepts ...
        assert!(
            key.verify(&message, &Signature::from_bytes(&signature))
                .is_ok()
        );
        // ... a card must not.
        assert_eq!(
            PublicIdentity::verify_card(&identity_point, &dh, "Anyone", &signature),
            None
        );
    }
}
