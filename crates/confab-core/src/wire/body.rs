//! Plaintexts: what travels inside a transport frame, and the identity card inside the
//! handshake.
//!
//! ```text
//! body  = tag:u8 fields
//!   chat = tag 1, seq:u64be, sent_at_ms:u64be, text_len:u16be, text (UTF-8, <= MAX_TEXT_LEN)
//!   ping = tag 2, nonce:u64be          pong = tag 3, nonce:u64be
//!   bye  = tag 4
//! card  = signing_key[32] signature[64] name_len:u8 name (UTF-8, <= MAX_NAME_LEN)
//! ```

use super::{DecodeError, Reader};

/// Longest chat text, in UTF-8 bytes.
pub const MAX_TEXT_LEN: usize = 16 * 1024;
/// Longest display name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 64;

const TAG_CHAT: u8 = 1;
const TAG_PING: u8 = 2;
const TAG_PONG: u8 = 3;
const TAG_BYE: u8 = 4;

/// A decrypted transport payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A chat message.
    Chat {
        /// The author's sequence number, from 1, one per message.
        seq: u64,
        /// The author's wall clock when sending, Unix milliseconds.
        sent_at_ms: u64,
        /// The text, shown literally.
        text: String,
    },
    /// Liveness probe; answered by `Pong` with the same nonce.
    Ping {
        /// Chosen by the sender.
        nonce: u64,
    },
    /// Answer to `Ping`.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// The sender is leaving the room.
    Bye,
}

impl Body {
    /// Parses a body. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Body, DecodeError> {
        let mut reader = Reader::new(bytes);
        let body = match reader.u8()? {
            TAG_CHAT => {
                let seq = reader.u64()?;
                let sent_at_ms = reader.u64()?;
                let len = usize::from(reader.u16()?);
                let text = reader.str(len, MAX_TEXT_LEN, "text")?.to_owned();
                Body::Chat {
                    seq,
                    sent_at_ms,
                    text,
                }
            }
            TAG_PING => Body::Ping {
                nonce: reader.u64()?,
            },
            TAG_PONG => Body::Pong {
                nonce: reader.u64()?,
            },
            TAG_BYE => Body::Bye,
            got => {
                return Err(DecodeError::UnknownKind {
                    what: "body tag",
                    got,
                });
            }
        };
        reader.finish()?;
        Ok(body)
    }

    /// Serialises the body. A `Chat` longer than [`MAX_TEXT_LEN`] is refused before this
    /// is reached (`Client::send_text`); here it is cut to keep the encoding valid.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Body::Chat {
                seq,
                sent_at_ms,
                text,
            } => {
                let text = truncate_utf8(text, MAX_TEXT_LEN);
                let mut out = Vec::with_capacity(19 + text.len());
                out.push(TAG_CHAT);
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&sent_at_ms.to_be_bytes());
                out.extend_from_slice(&len_u16(text.len()).to_be_bytes());
                out.extend_from_slice(text.as_bytes());
                out
            }
            Body::Ping { nonce } => [&[TAG_PING][..], &nonce.to_be_bytes()].concat(),
            Body::Pong { nonce } => [&[TAG_PONG][..], &nonce.to_be_bytes()].concat(),
            Body::Bye => vec![TAG_BYE],
        }
    }
}

/// The identity card carried in the handshake payload: it binds the Noise static key to an
/// Ed25519 identity and a display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    /// Ed25519 public key.
    pub signing_key: [u8; 32],
    /// Signature over the Noise static key and the name.
    pub signature: [u8; 64],
    /// Display name, at most [`MAX_NAME_LEN`] bytes.
    pub display_name: String,
}

impl Card {
    /// Parses a card. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Card, DecodeError> {
        let mut reader = Reader::new(bytes);
        let signing_key = reader.array()?;
        let signature = reader.array()?;
        let len = usize::from(reader.u8()?);
        let display_name = reader.str(len, MAX_NAME_LEN, "display name")?.to_owned();
        reader.finish()?;
        Ok(Card {
            signing_key,
            signature,
            display_name,
        })
    }

    /// Serialises the card (the name is cut to [`MAX_NAME_LEN`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        let name = truncate_utf8(&self.display_name, MAX_NAME_LEN);
        let mut out = Vec::with_capacity(97 + name.len());
        out.extend_from_slice(&self.signing_key);
        out.extend_from_slice(&self.signature);
        out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(name.as_bytes());
        out
    }
}

/// The longest prefix of `text` that is at most `max` bytes and ends on a char boundary.
pub fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

fn len_u16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}
