//! The room secret: 256 bits carried in the invite link's `#fragment`, from which the
//! public room id, the Noise pre-shared key, the mailbox keys and the signalling seal key
//! are derived with HKDF-SHA256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::ids::RoomId;
use crate::mailbox::MailboxKeys;

mod epoch;

pub use epoch::{Commitment, EpochSecret, Invite};

const INFO_ROOM_ID: &[u8] = b"confab/v1/room-id";
const INFO_NOISE_PSK: &[u8] = b"confab/v1/noise-psk";
const INFO_MAILBOX_SEAL: &[u8] = b"confab/v1/mailbox-seal";
const INFO_MAILBOX_DEPOSIT: &[u8] = b"confab/v1/mailbox-deposit";
const INFO_SIGNAL_SEAL: &[u8] = b"confab/v1/signal-seal";

/// A room's secret. Whoever holds it may join the room; the server never sees it.
///
/// Deliberately neither `Debug` nor `Display`: use [`RoomSecret::to_fragment`] where the
/// secret must be shown (the invite link), and nowhere else.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RoomSecret {
    bytes: [u8; 32],
    /// Derived once: every frame of the room names it, and its HKDF was 8 to 10 % of a
    /// governed simulation's CPU when derived per frame. Public, so not zeroized.
    #[zeroize(skip)]
    room_id: RoomId,
}

/// A fragment that is not a room secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomSecretError {
    /// Not unpadded URL-safe base64.
    #[error("the invite link is damaged: its secret is not valid base64")]
    Encoding,
    /// Decoded to the wrong number of bytes.
    #[error("the invite link is damaged: its secret has {got} bytes instead of 32")]
    Length {
        /// Bytes decoded.
        got: usize,
    },
}

impl RoomSecret {
    /// Wraps 32 random bytes (the adapter draws them from a CSPRNG).
    pub fn from_bytes(bytes: [u8; 32]) -> RoomSecret {
        let room_id = RoomId::from_bytes(expand(&bytes, INFO_ROOM_ID));
        RoomSecret { bytes, room_id }
    }

    /// Parses the part of an invite link after `#` (43 characters of URL-safe base64).
    pub fn from_fragment(fragment: &str) -> Result<RoomSecret, RoomSecretError> {
        let fragment = fragment.trim().trim_start_matches('#');
        let bytes = URL_SAFE_NO_PAD
            .decode(fragment)
            .map_err(|_| RoomSecretError::Encoding)?;
        let got = bytes.len();
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| RoomSecretError::Length { got })?;
        Ok(RoomSecret::from_bytes(arr))
    }

    /// The invite link fragment (without `#`).
    pub fn to_fragment(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes)
    }

    /// The public room id the signalling server introduces peers by.
    pub fn room_id(&self) -> RoomId {
        self.room_id
    }

    /// The Noise pre-shared key: only holders of the secret complete a handshake.
    pub(crate) fn noise_psk(&self) -> [u8; 32] {
        self.expand(INFO_NOISE_PSK)
    }

    /// The keys of this room's offline mailbox on the server: the seal key and the room
    /// deposit key (see [`crate::mailbox`]).
    pub fn mailbox_keys(&self) -> MailboxKeys {
        MailboxKeys::from_derived(
            self.room_id(),
            self.expand(INFO_MAILBOX_SEAL),
            self.expand(INFO_MAILBOX_DEPOSIT),
        )
    }

    /// The link of the mailbox where the notice that this link was superseded is left
    /// (`client/superseded.rs`): whoever holds this link derives it, nobody else.
    pub(crate) fn notice(&self) -> RoomSecret {
        RoomSecret::from_bytes(self.expand(b"confab/v2/superseded-notice"))
    }

    /// The key that seals signalling payloads between members (see
    /// [`crate::signal::SignalSeal`]).
    pub(crate) fn signal_key(&self) -> [u8; 32] {
        self.expand(INFO_SIGNAL_SEAL)
    }

    /// The raw bytes, for encodings that carry the secret (the invite link).
    fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    fn expand(&self, info: &[u8]) -> [u8; 32] {
        expand(&self.bytes, info)
    }
}

/// 32 bytes of HKDF-SHA256 (no salt) from `secret` under the label `info`.
fn expand(secret: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(None, secret);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 255 * 32 limit, so expand cannot fail.
    #[allow(clippy::expect_used)]
    hkdf.expand(info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_round_trips() {
        let secret = RoomSecret::from_bytes([42; 32]);
        let fragment = secret.to_fragment();
        assert_eq!(fragment.len(), 43);
        assert_eq!(
            RoomSecret::from_fragment(&fragment).map(|s| s.to_fragment()),
            Ok(fragment.clone())
        );
        let with_hash = RoomSecret::from_fragment(&format!("#{fragment}")).map(|s| s.room_id());
        assert_eq!(with_hash, Ok(secret.room_id()));
    }

    #[test]
    fn damaged_fragments_are_refused_with_a_reason() {
        assert_eq!(
            RoomSecret::from_fragment("***").err(),
            Some(RoomSecretError::Encoding)
        );
        assert_eq!(
            RoomSecret::from_fragment("AAAA").err(),
            Some(RoomSecretError::Length { got: 3 })
        );
        assert_eq!(
            RoomSecret::from_fragment("").err(),
            Some(RoomSecretError::Length { got: 0 })
        );
    }

    #[test]
    fn derivations_are_fixed_and_independent() {
        // Golden values, cross-checked with an independent HKDF-SHA256 (Python hmac):
        // changing a label or the KDF changes every room id in the wild.
        let secret = RoomSecret::from_bytes([0; 32]);
        let room_id = secret.room_id().to_string();
        let psk = crate::ids::hex(&secret.noise_psk());
        assert_ne!(room_id, psk);
        assert_eq!(
            room_id,
            "d51e6256445b03d528d9699827249e43b21e5fd933bb5ebacf07a711395d43d6"
        );
        assert_eq!(
            psk,
            "723c3df82f8fe01baa6ea20f63d61c45dd8354a4489d3d9eae8553cdf78c491b"
        );
        assert_ne!(RoomSecret::from_bytes([1; 32]).room_id(), secret.room_id());
    }
}
