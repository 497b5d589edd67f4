//! The sealed signalling payload: what travels in a signalling frame's `data` (as unpadded
//! URL-safe base64) so that the server forwards only ciphertext (see
//! [`crate::signal::SignalSeal`] for the keys and the replay rule).
//!
//! ```text
//! sealed    = version:u8 (=1) nonce[24] ciphertext tag[16]      XChaCha20-Poly1305
//! plaintext = counter:u64be payload                               (payload: the app's JSON signal)
//! associated data = "confab/v1/signal" version:u8 from:u64be to:u64be
//! ```

use super::reader::WireRead as _;
use super::{DecodeError, Reader, TAG_LEN, VERSION};
use crate::ids::PeerId;

/// XChaCha20 nonce length.
pub const NONCE_LEN: usize = 24;
/// Largest payload (the app's signal) that may be sealed: its frame, in base64 inside the
/// signalling JSON, stays under [`crate::signal::MAX_SIGNAL_LEN`].
pub const MAX_PAYLOAD_LEN: usize = 12_000;
/// Bytes a seal adds to a payload: version, nonce, counter and tag.
pub const OVERHEAD: usize = 1 + NONCE_LEN + COUNTER_LEN + TAG_LEN;
/// Largest sealed signal.
pub const MAX_SEALED_LEN: usize = OVERHEAD + MAX_PAYLOAD_LEN;
/// Associated data length.
pub const AD_LEN: usize = AD_LABEL.len() + 1 + 8 + 8;

const COUNTER_LEN: usize = 8;
const AD_LABEL: &[u8] = b"confab/v1/signal";

/// A decoded sealed signal, borrowing the input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SealedSignal<'a> {
    /// The nonce it was sealed under.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext and tag (at least the tag and the sealed counter).
    pub ciphertext: &'a [u8],
}

impl std::fmt::Debug for SealedSignal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lengths only: logs never carry ciphertext.
        write!(f, "SealedSignal {{ len: {} }}", self.ciphertext.len())
    }
}

impl<'a> SealedSignal<'a> {
    /// Parses a sealed signal. Never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<SealedSignal<'a>, DecodeError> {
        let mut reader = Reader::versioned(bytes, "sealed signal", MAX_SEALED_LEN)?;
        let nonce = reader.array::<NONCE_LEN>()?;
        let ciphertext = reader.rest();
        let least = COUNTER_LEN + TAG_LEN;
        if ciphertext.len() < least {
            return Err(DecodeError::Truncated {
                needed: least - ciphertext.len(),
            });
        }
        Ok(SealedSignal { nonce, ciphertext })
    }

    /// Serialises it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN + self.ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(self.ciphertext);
        out
    }
}

/// The associated data binding a sealed signal to its sender and recipient.
pub fn associated_data(from: PeerId, to: PeerId) -> [u8; AD_LEN] {
    let mut out = [0u8; AD_LEN];
    let fields = AD_LABEL
        .iter()
        .copied()
        .chain([VERSION])
        .chain(from.to_u64().to_be_bytes())
        .chain(to.to_u64().to_be_bytes());
    for (slot, byte) in out.iter_mut().zip(fields) {
        *slot = byte;
    }
    out
}

/// The plaintext: the sender's counter, then the payload.
pub fn encode_plaintext(counter: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(COUNTER_LEN + payload.len() + TAG_LEN);
    out.extend_from_slice(&counter.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits an opened plaintext into the sender's counter and the payload.
pub fn decode_plaintext(plaintext: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    let mut reader = Reader::new(plaintext);
    let counter = reader.u64()?;
    Ok((counter, reader.rest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed() {
        let sealed = SealedSignal {
            nonce: [7; NONCE_LEN],
            ciphertext: &[9; 24],
        };
        let bytes = sealed.encode();
        assert_eq!(bytes.len(), 1 + 24 + 24);
        assert_eq!(bytes[0], 1);
        assert_eq!(SealedSignal::decode(&bytes), Ok(sealed));
        assert_eq!(
            crate::ids::hex(&associated_data(PeerId::new(1), PeerId::new(0x0203))),
            format!(
                "{}01{}{}",
                crate::ids::hex(b"confab/v1/signal"),
                "0000000000000001",
                "0000000000000203"
            )
        );
        assert_eq!(
            encode_plaintext(5, b"x"),
            [0, 0, 0, 0, 0, 0, 0, 5, b'x'].to_vec()
        );
        assert_eq!(
            decode_plaintext(&encode_plaintext(5, b"x")),
            Ok((5, &b"x"[..]))
        );
    }

    #[test]
    fn short_long_or_foreign_bytes_are_refused() {
        assert!(SealedSignal::decode(&[]).is_err());
        assert_eq!(
            SealedSignal::decode(&[2; 60]),
            Err(DecodeError::Version {
                expected: 1,
                got: 2
            })
        );
        let mut short = vec![1];
        short.extend_from_slice(&[0; NONCE_LEN + 23]);
        assert_eq!(
            SealedSignal::decode(&short),
            Err(DecodeError::Truncated { needed: 1 })
        );
        let mut long = vec![1];
        long.resize(MAX_SEALED_LEN + 1, 0);
        assert!(matches!(
            SealedSignal::decode(&long),
            Err(DecodeError::TooLong { .. })
        ));
        assert!(decode_plaintext(&[0; 7]).is_err());
    }
}
