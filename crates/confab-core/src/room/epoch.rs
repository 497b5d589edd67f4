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
//! Each member receives `E_n` in a lockbox (`crate::lockbox`), and the rekey event's
//! commitment makes every member check they all received the same secret.
//!
//! Rooms made before governance (and direct rooms) keep one [`RoomSecret`] forever and a
//! 43-character link; [`Invite::from_fragment`] reads both forms.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{RoomSecret, RoomSecretError};
use crate::ids::RoomId;
use crate::mailbox::MailboxKeys;

const INFO_LINK: &[u8] = b"confab/v2/link";
const INFO_MAILBOX_SEAL: &[u8] = b"confab/v2/mailbox-seal";
const INFO_MAILBOX_DEPOSIT: &[u8] = b"confab/v2/mailbox-deposit";
const COMMITMENT_CONTEXT: &[u8] = b"confab/v2/epoch-commitment";

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

    /// The raw bytes, for sealing to a member (`crate::lockbox`).
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn expand(&self, info: &[u8]) -> [u8; 32] {
        super::expand(&self.0, info)
    }
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
