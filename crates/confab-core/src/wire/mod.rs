//! The only place that maps what peers exchange to bytes and back.
//!
//! It depends on no other module but `ids` and `bytes` (docs and tests aside): the types
//! peers exchange live here (`Event`, `Content`, `OrderKey`, `UnixMillis` in `event.rs`;
//! `FileMeta`, `StopReason` in `file.rs`), and `history` and `transfer` re-export them.
//! Layouts that never cross between peers live beside their owners, each versioned by
//! byte 0 too: `mailbox.rs` (sealed entry), `vault.rs` and `vault/`, `contacts.rs`,
//! `client/mailbox.rs` (`OutboxRecord`), `client/receipts.rs` (`ReceiptsRecord`), and the
//! app's transfer record.
//!
//! Every peer-to-peer frame starts with the format version byte, checked first, then a kind.
//! The whole format (version 1):
//!
//! ```text
//! frame      = version:u8(=1) kind:u8 …
//!   handshake  kind 1: step:u8(0..2) noise_message
//!   transport  kind 2: counter:u64be ciphertext(≥16 B)     nonce = counter
//!   abort      kind 3: reason:u8                           unauthenticated; ends handshakes only
//! body (transport plaintext) = tag:u8 …        (tag 1, the foundation's unsigned chat, is retired)
//!   ping 2 / pong 3: nonce:u64be      bye 4
//!   events 5: count:u16be (len:u16be signed_event)*
//!   have 6: full:u8 count:u16be (author[32] seq:u64be head[32])*    want 7: author[32] after:u64be up_to:u64be
//!   typing 8: active:u8     read 9: lamport:u64be author[32] seq:u64be     presence 10: 1 online | 2 away
//!   run 11: author[32] first_seq:u64be prev[32] count:u16be (len:u16be compact_event)*
//!   file_want 12: file[32] from:u32be    file_chunk 13: file[32] index:u32be data(1..=64,512 B)
//!   file_ack 14: file[32] next:u32be     file_stop 15: file[32] reason:u8 (1 declined 2 paused 3 cancelled 4 unavailable 5 failed)
//!   call 16: data (JSON call signalling, see `call.rs`)     epoch 17: epoch:u64be secret[32]
//! compact_event = signed_event without author, seq and prev (restored from the run, then verified)
//! signed_event = version:u8 author[32] seq:u64be lamport:u64be prev[32] sent_at_ms:u64be kind:u8 content signature[64]
//!   text 1: flags:u8(1 reply, 2 mentions) [reply_to[32]] [count:u8(1..=32) member[32]* (ascending)] len:u16be text
//!   edit 2: target[32] len:u16be text
//!   delete 3: target[32]   react 4: target[32] on:u8 len:u8 emoji(≤32 B)   profile 5: len:u8 name(≤64 B)
//!   file 6: size:u64be blake3[32] len:u8 media_type(≤127 B) len:u8 name(1..=255 B)
//!   govern 7: action:u8 … (roles, removals, rekeys with lockboxes, settings: see `govern.rs`)
//! card       = signing_key[32] signature[64] len:u8 name(UTF-8, ≤64 B)
//! relay envelope (WebSocket binary) = version:u8 kind:u8(1=to,2=from) peer:u64be frame
//! bundle (a left epoch's mailbox entry, see `bundle.rs`) = version:u8(=0x82) key_id[16] count:u16be lockbox[80]* nonce[24]
//!   XChaCha20-Poly1305(count:u16be (len:u16be signed_event)*) tag[16];  0x81 (in clear) is dropped
//! sealed signal (signal `data`, unpadded base64url) = version:u8(=1) nonce[24] XChaCha20-Poly1305(counter:u64be signal_json) tag[16]
//!   associated data = "confab/v1/signal" version:u8 from:u64be to:u64be;  signal_json ≤ 12,000 B
//! ```
//!
//! Frames are at most 65,545 bytes (Noise's 65,535 plus header). A transport frame whose
//! counter was already accepted, or is more than 8,128 below the highest accepted, is a
//! replay and is dropped (frames of one session cross several data channels, so some
//! reordering is normal); a failed MAC is dropped; neither touches the session (`snow`'s
//! stateless transport, explicit nonces). Events are at most 17,598 bytes (a reply of the
//! longest text mentioning 32 members), so a frame carries at least three. Mentions are
//! signed with the message, so whoever is mentioned is told reliably (even in a room they
//! muted), and nobody can add or remove one in transit.
//!
//! Inside a transport frame the plaintext is a [`Body`] ([`MAX_FRAME_LEN`] bounds the
//! frame). Call signalling is JSON inside `Body::Call` (see [`call`]).
//!
//! The relay envelope wraps a frame for the server's WebSocket relay (see [`relay`]); a
//! sealed signal carries a WebRTC signal through the server (see [`signal`]).

mod body;
pub mod bundle;
pub mod call;
pub mod event;
pub mod file;
pub mod govern;
mod reader;
pub mod relay;
pub mod signal;
pub mod superseded;

use crate::bytes::Reader;
pub use body::{
    Body, Card, EVENTS_HEADER_LEN, EVENTS_OVERHEAD_PER_EVENT, EpochKey, FILE_CHUNK_HEADER_LEN,
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
