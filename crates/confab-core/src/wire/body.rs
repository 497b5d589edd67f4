//! Plaintexts: what travels inside a transport frame, and the identity card inside the
//! handshake.
//!
//! ```text
//! body  = tag:u8 fields
//!   ping     = tag 2, nonce:u64be          pong = tag 3, nonce:u64be
//!   bye      = tag 4
//!   events   = tag 5, count:u16be, (len:u16be signed_event)*      (see `event`)
//!   have     = tag 6, full:u8 (0|1), count:u16be, (author[32] seq:u64be head[32])*
//!   want     = tag 7, author[32], after:u64be, up_to:u64be         (after < up_to)
//!   typing   = tag 8, active:u8 (0|1)
//!   read     = tag 9, lamport:u64be author[32] seq:u64be
//!   presence = tag 10, state:u8 (1 online, 2 away)
//!   run      = tag 11, author[32], first_seq:u64be, prev[32], count:u16be,
//!              (len:u16be compact_event)*      (consecutive events of one author)
//!   file_want  = tag 12, file[32], from:u32be        (send chunks from..; resumes too)
//!   file_chunk = tag 13, file[32], index:u32be, data (1..=CHUNK_LEN bytes)
//!   file_ack   = tag 14, file[32], next:u32be        (chunks ..next are stored)
//!   file_stop  = tag 15, file[32], reason:u8         (1 declined 2 paused 3 cancelled
//!                                                     4 unavailable 5 failed)
//!   call       = tag 16, data                         (call signalling: opaque to core)
//!   epoch      = tag 17, epoch:u64be, secret[32]      (a governed room's epoch secret, handed
//!                                                     to a member let in: see `room/epoch.rs`)
//! card  = signing_key[32] signature[64] name_len:u8 name (UTF-8, <= MAX_NAME_LEN)
//! ```
//!
//! Tag 1 (the foundation's unsigned chat message) is retired: messages are history events.

use super::event::OrderKey;
use super::file::{CHUNK_LEN, StopReason};
use super::reader::WireRead as _;
use super::{DecodeError, Reader};
use crate::ids::{EventId, MemberKey};

/// Longest chat text, in UTF-8 bytes.
pub const MAX_TEXT_LEN: usize = 16 * 1024;
/// Longest display name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 64;

const TAG_PING: u8 = 2;
const TAG_PONG: u8 = 3;
const TAG_BYE: u8 = 4;
const TAG_EVENTS: u8 = 5;
const TAG_HAVE: u8 = 6;
const TAG_WANT: u8 = 7;
const TAG_TYPING: u8 = 8;
const TAG_READ: u8 = 9;
const TAG_PRESENCE: u8 = 10;
const TAG_RUN: u8 = 11;
const TAG_FILE_WANT: u8 = 12;
const TAG_FILE_CHUNK: u8 = 13;
const TAG_FILE_ACK: u8 = 14;
const TAG_FILE_STOP: u8 = 15;
const TAG_CALL: u8 = 16;
const TAG_EPOCH: u8 = 17;

/// Bytes a `Body::FileChunk` adds before its data.
pub const FILE_CHUNK_HEADER_LEN: usize = 1 + 32 + 4;

/// Whether a member is looking at the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Presence {
    /// The tab is visible and in use.
    Online,
    /// The tab is hidden or idle.
    Away,
}

/// What a member holds of one author: events `1..=seq`, the last of which is `head`
/// (comparing heads reveals an author who signed two versions of one event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The author.
    pub author: MemberKey,
    /// Highest sequence number held without a gap.
    pub seq: u64,
    /// The id of that event.
    pub head: EventId,
}

/// A decrypted transport payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
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
    /// Signed history events, each as its signed encoding.
    Events(Vec<Vec<u8>>),
    /// How far the sender's history goes, per author: every event up to `seq`. `full`
    /// lists every author the sender knows; otherwise only those that changed.
    Have {
        /// A complete list, not an update.
        full: bool,
        /// Per author: the highest sequence number held without a gap.
        marks: Vec<Mark>,
    },
    /// Please send `author`'s events `after + 1 ..= up_to`.
    Want {
        /// Whose events.
        author: MemberKey,
        /// The last one the sender already has.
        after: u64,
        /// The last one wanted.
        up_to: u64,
    },
    /// The sender is typing (repeated while they are), or stopped.
    Typing {
        /// Typing now.
        active: bool,
    },
    /// The sender has read everything up to here.
    Read {
        /// The last event read, in room order.
        up_to: OrderKey,
    },
    /// The sender's presence changed.
    Presence(Presence),
    /// Consecutive events of one author, compact (see `wire::event`): entry `i` is event
    /// `first_seq + i`; the first one's `prev` is given, each next one's is the id of the
    /// one before.
    Run {
        /// Their author.
        author: MemberKey,
        /// Sequence number of the first entry.
        first_seq: u64,
        /// `prev` of the first entry.
        prev: EventId,
        /// Compact entries.
        entries: Vec<Vec<u8>>,
    },
    /// Please send the chunks of `file` from index `from` on (a start or a resume).
    FileWant {
        /// The file message's id.
        file: EventId,
        /// First chunk wanted.
        from: u32,
    },
    /// One chunk of a file.
    FileChunk {
        /// The file message's id.
        file: EventId,
        /// Its index.
        index: u32,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// The sender of this has stored every chunk before `next`.
    FileAck {
        /// The file message's id.
        file: EventId,
        /// First chunk not stored.
        next: u32,
    },
    /// Stop sending or asking for `file`.
    FileStop {
        /// The file message's id.
        file: EventId,
        /// Why.
        reason: StopReason,
    },
    /// Call signalling (ringing, SDP, ICE, media state) between two verified members;
    /// its meaning is the app's, its secrecy and authenticity the session's.
    Call(Vec<u8>),
    /// A governed room's current epoch secret, handed to a member who may read the room.
    Epoch {
        /// Its number.
        epoch: u64,
        /// The secret.
        secret: EpochKey,
    },
}

/// An epoch secret on the wire: zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct EpochKey(pub [u8; 32]);

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochKey(..)")
    }
}

impl Body {
    /// Parses a body. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Body, DecodeError> {
        let mut reader = Reader::new(bytes);
        let body = match reader.u8()? {
            TAG_PING => Body::Ping {
                nonce: reader.u64()?,
            },
            TAG_PONG => Body::Pong {
                nonce: reader.u64()?,
            },
            TAG_BYE => Body::Bye,
            TAG_EVENTS => {
                let count = reader.u16()?;
                let mut events = Vec::new();
                for _ in 0..count {
                    let len = usize::from(reader.u16()?);
                    events.push(reader.take(len)?.to_vec());
                }
                Body::Events(events)
            }
            TAG_HAVE => {
                let full = flag(&mut reader, "have flag")?;
                let count = reader.u16()?;
                let mut marks = Vec::new();
                for _ in 0..count {
                    marks.push(Mark {
                        author: MemberKey(reader.array()?),
                        seq: reader.u64()?,
                        head: EventId(reader.array()?),
                    });
                }
                Body::Have { full, marks }
            }
            TAG_WANT => {
                let author = MemberKey(reader.array()?);
                let after = reader.u64()?;
                let up_to = reader.u64()?;
                if after >= up_to {
                    return Err(DecodeError::Invalid("want range"));
                }
                Body::Want {
                    author,
                    after,
                    up_to,
                }
            }
            TAG_TYPING => Body::Typing {
                active: flag(&mut reader, "typing flag")?,
            },
            TAG_READ => Body::Read {
                up_to: OrderKey {
                    lamport: reader.u64()?,
                    author: MemberKey(reader.array()?),
                    seq: reader.u64()?,
                },
            },
            TAG_PRESENCE => Body::Presence(match reader.u8()? {
                1 => Presence::Online,
                2 => Presence::Away,
                got => {
                    return Err(DecodeError::UnknownKind {
                        what: "presence",
                        got,
                    });
                }
            }),
            TAG_RUN => {
                let author = MemberKey(reader.array()?);
                let first_seq = reader.u64()?;
                let prev = EventId(reader.array()?);
                if first_seq == 0 {
                    return Err(DecodeError::Invalid("sequence number 0"));
                }
                let count = reader.u16()?;
                let mut entries = Vec::new();
                for _ in 0..count {
                    let len = usize::from(reader.u16()?);
                    entries.push(reader.take(len)?.to_vec());
                }
                Body::Run {
                    author,
                    first_seq,
                    prev,
                    entries,
                }
            }
            TAG_FILE_WANT => Body::FileWant {
                file: EventId(reader.array()?),
                from: reader.u32()?,
            },
            TAG_FILE_CHUNK => {
                let file = EventId(reader.array()?);
                let index = reader.u32()?;
                let data = reader.rest();
                if data.is_empty() || data.len() > CHUNK_LEN {
                    return Err(DecodeError::Invalid("chunk length"));
                }
                Body::FileChunk {
                    file,
                    index,
                    data: data.to_vec(),
                }
            }
            TAG_FILE_ACK => Body::FileAck {
                file: EventId(reader.array()?),
                next: reader.u32()?,
            },
            TAG_FILE_STOP => {
                let file = EventId(reader.array()?);
                let code = reader.u8()?;
                let reason = StopReason::from_code(code).ok_or(DecodeError::UnknownKind {
                    what: "stop reason",
                    got: code,
                })?;
                Body::FileStop { file, reason }
            }
            TAG_CALL => Body::Call(reader.rest().to_vec()),
            TAG_EPOCH => Body::Epoch {
                epoch: reader.u64()?,
                secret: EpochKey(reader.array()?),
            },
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

    /// Serialises the body. Callers keep lists within a frame (see `Client`): at most
    /// 65,535 entries are encoded.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Body::Ping { nonce } => [&[TAG_PING][..], &nonce.to_be_bytes()].concat(),
            Body::Pong { nonce } => [&[TAG_PONG][..], &nonce.to_be_bytes()].concat(),
            Body::Bye => vec![TAG_BYE],
            Body::Events(events) => {
                let events = events.get(..usize::from(u16::MAX)).unwrap_or(events);
                let mut out = vec![TAG_EVENTS];
                out.extend_from_slice(&len_u16(events.len()).to_be_bytes());
                for event in events {
                    out.extend_from_slice(&len_u16(event.len()).to_be_bytes());
                    out.extend_from_slice(event.get(..usize::from(u16::MAX)).unwrap_or(event));
                }
                out
            }
            Body::Have { full, marks } => {
                let marks = marks.get(..usize::from(u16::MAX)).unwrap_or(marks);
                let mut out = Vec::with_capacity(4 + HAVE_LEN_PER_MARK * marks.len());
                out.push(TAG_HAVE);
                out.push(u8::from(*full));
                out.extend_from_slice(&len_u16(marks.len()).to_be_bytes());
                for mark in marks {
                    out.extend_from_slice(mark.author.as_bytes());
                    out.extend_from_slice(&mark.seq.to_be_bytes());
                    out.extend_from_slice(mark.head.as_bytes());
                }
                out
            }
            Body::Want {
                author,
                after,
                up_to,
            } => {
                let mut out = vec![TAG_WANT];
                out.extend_from_slice(author.as_bytes());
                out.extend_from_slice(&after.to_be_bytes());
                out.extend_from_slice(&up_to.to_be_bytes());
                out
            }
            Body::Typing { active } => vec![TAG_TYPING, u8::from(*active)],
            Body::Read { up_to } => {
                let mut out = vec![TAG_READ];
                out.extend_from_slice(&up_to.lamport.to_be_bytes());
                out.extend_from_slice(up_to.author.as_bytes());
                out.extend_from_slice(&up_to.seq.to_be_bytes());
                out
            }
            Body::Run {
                author,
                first_seq,
                prev,
                entries,
            } => {
                let entries = entries.get(..usize::from(u16::MAX)).unwrap_or(entries);
                let mut out = vec![TAG_RUN];
                out.extend_from_slice(author.as_bytes());
                out.extend_from_slice(&first_seq.to_be_bytes());
                out.extend_from_slice(prev.as_bytes());
                out.extend_from_slice(&len_u16(entries.len()).to_be_bytes());
                for entry in entries {
                    out.extend_from_slice(&len_u16(entry.len()).to_be_bytes());
                    out.extend_from_slice(entry.get(..usize::from(u16::MAX)).unwrap_or(entry));
                }
                out
            }
            Body::FileWant { file, from } => {
                [&[TAG_FILE_WANT][..], file.as_bytes(), &from.to_be_bytes()].concat()
            }
            Body::FileChunk { file, index, data } => [
                &[TAG_FILE_CHUNK][..],
                file.as_bytes(),
                &index.to_be_bytes(),
                data,
            ]
            .concat(),
            Body::FileAck { file, next } => {
                [&[TAG_FILE_ACK][..], file.as_bytes(), &next.to_be_bytes()].concat()
            }
            Body::FileStop { file, reason } => {
                [&[TAG_FILE_STOP][..], file.as_bytes(), &[reason.code()]].concat()
            }
            Body::Call(data) => [&[TAG_CALL][..], data].concat(),
            Body::Epoch { epoch, secret } => {
                [&[TAG_EPOCH][..], &epoch.to_be_bytes(), &secret.0].concat()
            }
            Body::Presence(presence) => vec![
                TAG_PRESENCE,
                match presence {
                    Presence::Online => 1,
                    Presence::Away => 2,
                },
            ],
        }
    }
}

/// Bytes a `Body::Events` adds per event beyond the event itself.
pub const EVENTS_OVERHEAD_PER_EVENT: usize = 2;
/// Bytes of a `Body::Events` before its first event.
pub const EVENTS_HEADER_LEN: usize = 3;
/// Bytes of a `Body::Run` before its first entry.
pub const RUN_HEADER_LEN: usize = 1 + 32 + 8 + 32 + 2;
/// Bytes of a `Body::Have` per author.
pub const HAVE_LEN_PER_MARK: usize = 72;

fn flag(reader: &mut Reader<'_>, what: &'static str) -> Result<bool, DecodeError> {
    match reader.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Invalid(what)),
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
