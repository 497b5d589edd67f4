//! The only place that maps bytes to types.
//!
//! Every peer-to-peer frame starts with the format version byte, checked first, then a kind:
//!
//! ```text
//! frame      = version:u8 (=1) kind:u8 body
//! handshake  = kind 1, step:u8 (0..=2), noise_message          (authenticated by Noise)
//! transport  = kind 2, counter:u64be, ciphertext (>= 16 bytes) (ChaCha20-Poly1305, nonce = counter)
//! abort      = kind 3, reason:u8                               (unauthenticated hint; see below)
//! ```
//!
//! Inside a transport frame the plaintext is a [`Body`]. Frames are at most
//! [`MAX_FRAME_LEN`] bytes; Noise messages at most 65,535.
//!
//! Call signalling is JSON inside `Body::Call` (see [`call`]).
//!
//! The relay envelope wraps a frame for the server's WebSocket relay (see [`relay`]); a
//! sealed signal carries a WebRTC signal through the server (see [`signal`]).

mod body;
pub mod call;
pub mod event;
pub mod file;
mod reader;
pub mod relay;
pub mod signal;

use crate::bytes::Reader;
pub use body::{
    Body, Card, EVENTS_HEADER_LEN, EVENTS_OVERHEAD_PER_EVENT, FILE_CHUNK_HEADER_LEN,
    HAVE_LEN_PER_MARK, MAX_NAME_LEN, MAX_TEXT_LEN, Mark, Presence, RUN_HEADER_LEN, truncate_utf8,
};
pub use event::{MAX_EMOJI_LEN, MAX_EVENT_LEN, MAX_MENTIONS};
use reader::WireRead as _;

/// Current format version, byte 0 of every frame.
pub const VERSION: u8 = 1;
/// Noise's limit on one message.
pub const MAX_NOISE_LEN: usize = 65_535;
/// Largest frame: header plus the largest Noise message.
pub const MAX_FRAME_LEN: usize = 10 + MAX_NOISE_LEN;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;

const KIND_HANDSHAKE: u8 = 1;
const KIND_TRANSPORT: u8 = 2;
const KIND_ABORT: u8 = 3;

/// A decoded peer-to-peer frame, borrowing the input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// One Noise handshake message.
    Handshake {
        /// Which message of the pattern (0, 1 or 2 for XX).
        step: u8,
        /// The Noise message.
        message: &'a [u8],
    },
    /// An encrypted [`Body`].
    Transport {
        /// Explicit nonce; strictly increasing per direction.
        counter: u64,
        /// Ciphertext and tag.
        ciphertext: &'a [u8],
    },
    /// The sender gave up on the handshake. Unauthenticated, so it only ever ends a
    /// handshake early that would otherwise time out; it never touches a live session.
    Abort {
        /// Why, as an [`AbortReason`].
        reason: AbortReason,
    },
}

/// Why a handshake was abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// The handshake did not verify (most often: a different room secret).
    HandshakeFailed,
    /// Anything else, including codes from newer versions.
    Other,
}

impl std::fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ciphertext and handshake bytes are omitted: lengths are enough for logs.
        match self {
            Frame::Handshake { step, message } => {
                write!(f, "Handshake {{ step: {step}, len: {} }}", message.len())
            }
            Frame::Transport {
                counter,
                ciphertext,
            } => {
                write!(
                    f,
                    "Transport {{ counter: {counter}, len: {} }}",
                    ciphertext.len()
                )
            }
            Frame::Abort { reason } => write!(f, "Abort {{ reason: {reason:?} }}"),
        }
    }
}

/// Why bytes are not a valid frame, body or envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Byte 0 is another format version.
    #[error("unsupported format version {got} (expected {expected})")]
    Version {
        /// Our version.
        expected: u8,
        /// What came.
        got: u8,
    },
    /// Ended before a field did.
    #[error("truncated: needed {needed} more bytes")]
    Truncated {
        /// Missing bytes.
        needed: usize,
    },
    /// Unknown kind or tag byte.
    #[error("unknown {what} {got}")]
    UnknownKind {
        /// Which field.
        what: &'static str,
        /// The value.
        got: u8,
    },
    /// Larger than allowed.
    #[error("{what} too long: {got} bytes (max {max})")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The limit.
        max: usize,
        /// The size.
        got: usize,
    },
    /// A field is out of its range.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes after the last field.
    #[error("{0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// Text is not UTF-8.
    #[error("text is not valid UTF-8")]
    Utf8,
}

impl<'a> Frame<'a> {
    /// Parses a frame. Never panics, whatever the input.
    pub fn decode(bytes: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let mut reader = Reader::versioned(bytes, "frame", MAX_FRAME_LEN)?;
        let frame = match reader.u8()? {
            KIND_HANDSHAKE => {
                let step = reader.u8()?;
                if step > 2 {
                    return Err(DecodeError::Invalid("handshake step"));
                }
                Frame::Handshake {
                    step,
                    message: reader.rest(),
                }
            }
            KIND_TRANSPORT => {
                let counter = reader.u64()?;
                let ciphertext = reader.rest();
                if ciphertext.len() < TAG_LEN {
                    return Err(DecodeError::Truncated {
                        needed: TAG_LEN - ciphertext.len(),
                    });
                }
                Frame::Transport {
                    counter,
                    ciphertext,
                }
            }
            KIND_ABORT => {
                let reason = match reader.u8()? {
                    1 => AbortReason::HandshakeFailed,
                    _ => AbortReason::Other,
                };
                reader.finish()?;
                Frame::Abort { reason }
            }
            got => {
                return Err(DecodeError::UnknownKind {
                    what: "frame kind",
                    got,
                });
            }
        };
        Ok(frame)
    }

    /// Serialises the frame.
    pub fn encode(&self) -> Vec<u8> {
        match *self {
            Frame::Handshake { step, message } => {
                let mut out = Vec::with_capacity(3 + message.len());
                out.extend_from_slice(&[VERSION, KIND_HANDSHAKE, step]);
                out.extend_from_slice(message);
                out
            }
            Frame::Transport {
                counter,
                ciphertext,
            } => {
                let mut out = Vec::with_capacity(10 + ciphertext.len());
                out.extend_from_slice(&[VERSION, KIND_TRANSPORT]);
                out.extend_from_slice(&counter.to_be_bytes());
                out.extend_from_slice(ciphertext);
                out
            }
            Frame::Abort { reason } => {
                let code = match reason {
                    AbortReason::HandshakeFailed => 1,
                    AbortReason::Other => 0,
                };
                vec![VERSION, KIND_ABORT, code]
            }
        }
    }

    /// The header of a transport frame, written in front of the ciphertext in place.
    pub(crate) fn transport_header(counter: u64) -> [u8; 10] {
        let mut header = [0u8; 10];
        header[0] = VERSION;
        header[1] = KIND_TRANSPORT;
        header[2..].copy_from_slice(&counter.to_be_bytes());
        header
    }
}

#[cfg(test)]
mod tests;
