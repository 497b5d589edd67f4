//! A governed room's keys (issue 17): each epoch has a fresh random [`EpochSecret`] that only
//! its members hold; the invite link carries what it derives one way for strangers.
//!
//! ```text
//! epoch secret E_n (32 random bytes, members only; sealed to each in a lockbox)
//!   ├─ link secret  = HKDF(E_n, "confab/v2/link")    → a RoomSecret: room id, Noise PSK,
//!   │                                                 signal seal (what the link gives)
//!   ├─ mailbox keys = HKDF(E_n, "confab/v2/mailbox-*") (the offline mailbox: members only)
//!   └─ commitment   = SHA-256("confab/v2/epoch-commitment" ‖ E_n)  (in the rekey event)
//! invite link #fragment = base64url(link secret ‖ genesis)   (86 characters)
//! ```
//!
//! Why two levels: whoever holds a link may reach the room and complete a handshake, but
//! reads nothing until a member lets them in (hands them `E_n` inside the Noise session, at
//! once in an open room, after an admin's `Admit` where joining needs approval). So the
//! mailbox, which anyone with the link could otherwise open, holds nothing a newcomer may not
//! read. A new epoch (a removal, "Reset invite link") draws a new `E_{n+1}`: a removed member
//! cannot derive its link secret, so cannot find the room on the server, complete a
//! handshake, or open the mailbox. The genesis in the link is the room's lasting id: the
//! hash of its owner's key and a nonce (see [`crate::governance::genesis_of`]), which every
//! event of the room is signed over, so the owner's `Create` is the only one that matches it
//! and a member cannot hand a newcomer another room's history or governance.
//!
//! A lockbox seals `E_n` to one member's X25519 key with the one-way Noise pattern
//! `Noise_N_25519_ChaChaPoly_BLAKE2s` (an ephemeral key and an AEAD, no home-made
//! construction), its prologue binding the room's genesis, the epoch and the member, so a
//! lockbox cannot be moved to another room, epoch or member. Who sealed it is proven by the
//! signed rekey event that carries it, and the event's commitment makes every member check
//! they all received the same secret (a malicious admin cannot split the room).
//!
//! Rooms made before governance (and direct rooms) keep one [`RoomSecret`] forever and a
//! 43-character link; [`Invite::from_fragment`] reads both forms.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{RoomSecret, RoomSecretError};
use crate::identity::{Identity, PublicIdentity};
use crate::ids::{MemberKey, RoomId};
use crate::mailbox::MailboxKeys;
use crate::rng::SeededResolver;
use crate::wire::govern::LOCKBOX_LEN;

const INFO_LINK: &[u8] = b"confab/v2/link";
const INFO_MAILBOX_SEAL: &[u8] = b"confab/v2/mailbox-seal";
const INFO_MAILBOX_DEPOSIT: &[u8] = b"confab/v2/mailbox-deposit";
const COMMITMENT_CONTEXT: &[u8] = b"confab/v2/epoch-commitment";
const LOCKBOX_CONTEXT: &[u8] = b"confab/v2/lockbox";
/// The lockbox's one-way Noise pattern.
pub const LOCKBOX_PARAMS: &str = "Noise_N_25519_ChaChaPoly_BLAKE2s";

/// One epoch's secret. Members only; neither `Debug` nor `Display`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EpochSecret([u8; 32]);

/// What an epoch's rekey event publishes about its secret: a hash that lets each member
/// check the secret it opened is everyone's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commitment(pub [u8; 32]);

impl EpochSecret {
    /// Wraps 32 random bytes (drawn from the seeded RNG the caller holds).
    pub fn from_bytes(bytes: [u8; 32]) -> EpochSecret {
        EpochSecret(bytes)
    }

    /// What the invite link carries: the room id, the handshake's PSK and the signal seal
    /// derive from it.
    pub fn link(&self) -> RoomSecret {
        RoomSecret::from_bytes(self.expand(INFO_LINK))
    }

    /// The offline mailbox's keys for this epoch.
    pub fn mailbox_keys(&self) -> MailboxKeys {
        MailboxKeys::from_derived(
            self.link().room_id(),
            self.expand(INFO_MAILBOX_SEAL),
            self.expand(INFO_MAILBOX_DEPOSIT),
        )
    }

    /// The commitment the rekey event carries.
    pub fn commitment(&self) -> Commitment {
        let mut hash = Sha256::new();
        hash.update(COMMITMENT_CONTEXT);
        hash.update(self.0);
        Commitment(hash.finalize().into())
    }

    /// Seals this secret to `holder` for epoch `epoch` of the room `genesis`. `seed` gives
    /// the ephemeral key (one per lockbox).
    pub fn seal(
        &self,
        genesis: RoomId,
        epoch: u64,
        holder: &PublicIdentity,
        seed: [u8; 32],
    ) -> [u8; LOCKBOX_LEN] {
        let prologue = prologue(genesis, epoch, &holder.member_key());
        let mut out = [0; LOCKBOX_LEN];
        // Fixed pattern and key lengths: building and writing cannot fail, so a failure is a
        // bug in this function, not input.
        #[allow(clippy::expect_used)]
        {
            let params = LOCKBOX_PARAMS.parse().expect("pinned Noise pattern parses");
            let mut noise =
                snow::Builder::with_resolver(params, Box::new(SeededResolver::new(seed)))
                    .remote_public_key(&holder.dh_key_bytes())
                    .expect("32-byte X25519 key")
                    .prologue(&prologue)
                    .expect("a prologue")
                    .build_initiator()
                    .expect("complete Noise builder");
            let len = noise
                .write_message(&self.0, &mut out)
                .expect("the lockbox fits its buffer");
            debug_assert_eq!(len, LOCKBOX_LEN);
        }
        out
    }

    /// Opens a lockbox sealed to `identity` for epoch `epoch` of `genesis`, and checks the
    /// secret against the rekey event's `commitment`.
    pub fn open(
        identity: &Identity,
        genesis: RoomId,
        epoch: u64,
        lockbox: &[u8],
        commitment: Commitment,
    ) -> Result<EpochSecret, LockboxError> {
        if lockbox.len() != LOCKBOX_LEN {
            return Err(LockboxError::Length);
        }
        let prologue = prologue(genesis, epoch, &identity.member_key());
        let secret = identity.dh_secret_bytes();
        // As in `seal`: fixed parameters cannot fail to build.
        #[allow(clippy::expect_used)]
        let mut noise = {
            let params = LOCKBOX_PARAMS.parse().expect("pinned Noise pattern parses");
            snow::Builder::with_resolver(params, Box::new(SeededResolver::new([0; 32])))
                .local_private_key(secret.as_slice())
                .expect("32-byte X25519 key")
                .prologue(&prologue)
                .expect("a prologue")
                .build_responder()
                .expect("complete Noise builder")
        };
        let mut plain = Zeroizing::new([0u8; LOCKBOX_LEN]);
        let len = noise
            .read_message(lockbox, plain.as_mut_slice())
            .map_err(|_| LockboxError::Sealing)?;
        let bytes: [u8; 32] = plain
            .get(..len)
            .and_then(|b| b.try_into().ok())
            .ok_or(LockboxError::Length)?;
        let opened = EpochSecret(bytes);
        if opened.commitment() != commitment {
            return Err(LockboxError::Commitment);
        }
        Ok(opened)
    }

    fn expand(&self, info: &[u8]) -> [u8; 32] {
        let hkdf = Hkdf::<Sha256>::new(None, &self.0);
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 255 * 32 limit, so expand cannot fail.
        #[allow(clippy::expect_used)]
        hkdf.expand(info, &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

fn prologue(genesis: RoomId, epoch: u64, holder: &MemberKey) -> Vec<u8> {
    let mut prologue = Vec::with_capacity(LOCKBOX_CONTEXT.len() + 32 + 8 + 32);
    prologue.extend_from_slice(LOCKBOX_CONTEXT);
    prologue.extend_from_slice(genesis.as_bytes());
    prologue.extend_from_slice(&epoch.to_be_bytes());
    prologue.extend_from_slice(holder.as_bytes());
    prologue
}

/// A lockbox that does not open to a secret for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockboxError {
    /// Not a lockbox's length.
    #[error("a lockbox has the wrong length")]
    Length,
    /// Not sealed to us for this room and epoch, or altered.
    #[error("a lockbox is not sealed to us for this epoch")]
    Sealing,
    /// It opened, but to another secret than the one the rekey announced.
    #[error("a lockbox holds another secret than the one announced")]
    Commitment,
}

/// What an invite link's fragment names: the link secret, and for a governed room its
/// genesis (`None`: a room made before governance, or a direct room).
#[derive(Clone)]
pub struct Invite {
    /// Reaching the room and the handshake.
    pub link: RoomSecret,
    /// The room's lasting id (its history is signed over it).
    pub genesis: Option<RoomId>,
}

impl Invite {
    /// Reads a fragment: 43 characters (a room secret) or 86 (link secret and genesis).
    pub fn from_fragment(fragment: &str) -> Result<Invite, RoomSecretError> {
        let fragment = fragment.trim().trim_start_matches('#');
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(fragment)
                .map_err(|_| RoomSecretError::Encoding)?,
        );
        match bytes.len() {
            32 | 64 => {
                let (link, genesis) = bytes.split_at(32);
                let link: [u8; 32] = link.try_into().map_err(|_| RoomSecretError::Encoding)?;
                let genesis = <[u8; 32]>::try_from(genesis).ok().map(RoomId::from_bytes);
                Ok(Invite {
                    link: RoomSecret::from_bytes(link),
                    genesis,
                })
            }
            got => Err(RoomSecretError::Length { got }),
        }
    }

    /// The fragment (without `#`).
    pub fn to_fragment(&self) -> String {
        let mut bytes = Zeroizing::new(Vec::with_capacity(64));
        bytes.extend_from_slice(self.link.as_bytes());
        if let Some(genesis) = self.genesis {
            bytes.extend_from_slice(genesis.as_bytes());
        }
        URL_SAFE_NO_PAD.encode(bytes.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis(n: u8) -> RoomId {
        RoomId::from_bytes([n; 32])
    }

    #[test]
    fn a_lockbox_opens_only_for_its_member_room_and_epoch() {
        let bob = Identity::from_seed([2; 32]);
        let carol = Identity::from_seed([3; 32]);
        let secret = EpochSecret::from_bytes([7; 32]);
        let commitment = secret.commitment();
        let lockbox = secret.seal(genesis(1), 4, &bob.public(), [9; 32]);
        assert_eq!(lockbox.len(), LOCKBOX_LEN);

        let opened = EpochSecret::open(&bob, genesis(1), 4, &lockbox, commitment);
        assert_eq!(opened.map(|s| s.commitment()), Ok(commitment));
        // Not Carol's, not another epoch's, not another room's.
        let refused = [
            EpochSecret::open(&carol, genesis(1), 4, &lockbox, commitment),
            EpochSecret::open(&bob, genesis(1), 5, &lockbox, commitment),
            EpochSecret::open(&bob, genesis(2), 4, &lockbox, commitment),
        ];
        for result in refused {
            assert_eq!(result.err(), Some(LockboxError::Sealing));
        }
        // Altered anywhere.
        for at in [0, 31, 32, LOCKBOX_LEN - 1] {
            let mut altered = lockbox;
            altered[at] ^= 1;
            let result = EpochSecret::open(&bob, genesis(1), 4, &altered, commitment);
            assert_eq!(result.err(), Some(LockboxError::Sealing), "byte {at}");
        }
        assert_eq!(
            EpochSecret::open(&bob, genesis(1), 4, &lockbox[1..], commitment).err(),
            Some(LockboxError::Length)
        );
    }

    #[test]
    fn a_secret_other_than_the_announced_one_is_refused() {
        let bob = Identity::from_seed([2; 32]);
        let announced = EpochSecret::from_bytes([7; 32]).commitment();
        // A malicious admin seals Bob another secret than everyone else's.
        let lockbox = EpochSecret::from_bytes([8; 32]).seal(genesis(1), 1, &bob.public(), [9; 32]);
        assert_eq!(
            EpochSecret::open(&bob, genesis(1), 1, &lockbox, announced).err(),
            Some(LockboxError::Commitment)
        );
    }

    #[test]
    fn lockboxes_replay_from_their_seed_and_differ_between_seeds() {
        let bob = Identity::from_seed([2; 32]).public();
        let secret = EpochSecret::from_bytes([7; 32]);
        let a = secret.seal(genesis(1), 1, &bob, [9; 32]);
        assert_eq!(a, secret.seal(genesis(1), 1, &bob, [9; 32]));
        assert_ne!(a, secret.seal(genesis(1), 1, &bob, [10; 32]));
    }

    #[test]
    fn derivations_are_fixed_and_one_way() {
        // Golden values, cross-checked with Python's hmac/hashlib (HKDF-SHA256, zero salt).
        let secret = EpochSecret::from_bytes([0; 32]);
        assert_eq!(
            secret.link().room_id().to_string(),
            "13c0fef2c8bf46d99105f0999941824f15b3b8f52e59908814cd958d5a27cb92"
        );
        assert_eq!(
            crate::ids::hex(&secret.commitment().0),
            "62d73532f6b580ec7c6b9d33cb495ebba547e973db3d32713a0cc7955b91875f"
        );
        // The link secret is not the epoch secret, and epochs do not share rooms or mailboxes.
        let next = EpochSecret::from_bytes([1; 32]);
        assert_ne!(secret.link().room_id(), next.link().room_id());
        assert_ne!(
            secret.link().room_id(),
            RoomSecret::from_bytes([0; 32]).room_id()
        );
        // The mailbox is the link's room's, but only the epoch secret opens it: what a
        // stranger with the link derives does not.
        let keys = secret.mailbox_keys();
        assert_eq!(keys.room(), secret.link().room_id());
        let entry = keys.seal([4; 24], b"members only").ok();
        let entry = entry.as_ref();
        assert_eq!(
            entry.and_then(|e| keys.open(e).ok()).as_deref(),
            Some(&b"members only"[..])
        );
        assert!(entry.is_some_and(|e| secret.link().mailbox_keys().open(e).is_err()));
    }

    #[test]
    fn invites_read_both_link_forms() {
        let legacy = RoomSecret::from_bytes([5; 32]);
        let invite = Invite::from_fragment(&legacy.to_fragment()).ok();
        assert_eq!(
            invite.as_ref().map(|i| (i.link.room_id(), i.genesis)),
            Some((legacy.room_id(), None))
        );

        let governed = Invite {
            link: EpochSecret::from_bytes([6; 32]).link(),
            genesis: Some(genesis(3)),
        };
        let fragment = governed.to_fragment();
        assert_eq!(fragment.len(), 86);
        let read = Invite::from_fragment(&format!("#{fragment}")).ok();
        assert_eq!(
            read.map(|i| (i.link.room_id(), i.genesis)),
            Some((governed.link.room_id(), Some(genesis(3))))
        );
        // The legacy form stays what RoomSecret writes.
        assert_eq!(invite.map(|i| i.to_fragment()), Some(legacy.to_fragment()));

        for bad in ["AAAA", "", &"A".repeat(60)] {
            assert!(matches!(
                Invite::from_fragment(bad),
                Err(RoomSecretError::Length { .. })
            ));
        }
        assert_eq!(
            Invite::from_fragment("***").err(),
            Some(RoomSecretError::Encoding)
        );
    }
}
