//! History events on the wire and at rest (the same bytes: an event is signed once and
//! then forwarded and stored unchanged).
//!
//! ```text
//! signed   = unsigned signature[64]                (Ed25519 over context, room id, unsigned)
//! unsigned = version:u8 (=1) author[32] seq:u64be lamport:u64be prev[32] sent_at_ms:u64be
//!            kind:u8 content
//!   text    = kind 1, flags:u8 (bit 0 reply, bit 1 mentions), [reply_to[32]],
//!             [count:u8 (1..=MAX_MENTIONS), member[32] * count (ascending)], len:u16be, text
//!   edit    = kind 2, target[32], len:u16be, text
//!   delete  = kind 3, target[32]
//!   react   = kind 4, target[32], on:u8 (0|1), len:u8, emoji (<= MAX_EMOJI_LEN)
//!   profile = kind 5, len:u8, name (<= MAX_NAME_LEN)
//!   file    = kind 6, size:u64be, blake3[32], len:u8, media type (<= 127 B),
//!             len:u8, name (1..=255 B)
//!   govern  = kind 7, action   (see `govern.rs`)
//! ```
//!
//! `seq` and `lamport` are at least 1 and `lamport` is below `u64::MAX`, so a successor
//! always exists.
//!
//! A run of one author's consecutive events (a catch-up answer) travels *compact*: each
//! entry drops `author`, `seq` and `prev` (72 bytes), which the receiver restores from the
//! run's header and the previous entry's id before checking the signature as usual:
//!
//! ```text
//! entry = version:u8 lamport:u64be sent_at_ms:u64be kind:u8 content signature[64]
//! ```

use super::file::{FileMeta, MAX_FILE_NAME_LEN, MAX_FILE_SIZE, MAX_MIME_LEN};
use super::govern::{self, Govern};
use super::reader::WireRead as _;
use super::{DecodeError, MAX_NAME_LEN, MAX_TEXT_LEN, Reader, truncate_utf8};
use crate::ids::{EventId, MemberKey};

/// Longest reaction, in UTF-8 bytes (one emoji with modifiers fits).
pub const MAX_EMOJI_LEN: usize = 32;
/// Most members one message may mention.
pub const MAX_MENTIONS: usize = 32;
/// Longest signed event: a reply of the longest text, mentioning the most members.
pub const MAX_EVENT_LEN: usize =
    HEADER_LEN + 1 + 1 + 32 + 1 + 32 * MAX_MENTIONS + 2 + MAX_TEXT_LEN + SIGNATURE_LEN;

/// Wall-clock time as Unix milliseconds, supplied by the adapter (core never reads clocks).
/// Shown to people, never used for ordering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub u64);

/// Where an event sits in the room's one order: by Lamport time, then author key, then
/// sequence number. Every member derives the same key from the same event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    /// Lamport time.
    pub lamport: u64,
    /// Author.
    pub author: MemberKey,
    /// The author's sequence number.
    pub seq: u64,
}

/// What an event does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A message, optionally replying to another.
    Text {
        /// Shown literally, never as markup. At most [`MAX_TEXT_LEN`] bytes.
        text: String,
        /// The message this one answers.
        reply_to: Option<EventId>,
        /// The members it mentions (`@name`), so they are told even where they muted the
        /// room: in key order, no repeats, at most [`MAX_MENTIONS`].
        mentions: Vec<MemberKey>,
    },
    /// Replaces the text of one of the author's own messages.
    Edit {
        /// The message edited (must be the same author's).
        target: EventId,
        /// The new text.
        text: String,
    },
    /// Withdraws one of the author's own messages.
    Delete {
        /// The message deleted (must be the same author's).
        target: EventId,
    },
    /// Adds or removes the author's reaction to any message.
    React {
        /// The message reacted to.
        target: EventId,
        /// One emoji (at most [`MAX_EMOJI_LEN`] bytes).
        emoji: String,
        /// Added (`true`) or withdrawn.
        on: bool,
    },
    /// The author's display name from now on.
    Profile {
        /// At most [`MAX_NAME_LEN`] bytes.
        name: String,
    },
    /// A file the author offers; its bytes travel outside history (see [`crate::transfer`]).
    File(FileMeta),
    /// A governance action (roles, removals, epochs, settings: see [`crate::governance`]).
    Govern(Govern),
}

/// An event's fields, before or after signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Who wrote it.
    pub author: MemberKey,
    /// The author's sequence number, from 1, without gaps.
    pub seq: u64,
    /// Lamport time: larger than that of every event the author had seen.
    pub lamport: u64,
    /// The id of the author's event `seq - 1` ([`EventId::GENESIS`] for `seq == 1`).
    pub prev: EventId,
    /// The author's wall clock when writing.
    pub sent_at: UnixMillis,
    /// What it does.
    pub content: Content,
}

const TEXT_REPLY: u8 = 1;
const TEXT_MENTIONS: u8 = 2;

const HEADER_LEN: usize = 1 + 32 + 8 + 8 + 32 + 8;
const SIGNATURE_LEN: usize = 64;

const KIND_TEXT: u8 = 1;
const KIND_EDIT: u8 = 2;
const KIND_DELETE: u8 = 3;
const KIND_REACT: u8 = 4;
const KIND_PROFILE: u8 = 5;
const KIND_FILE: u8 = 6;
const KIND_GOVERN: u8 = 7;

/// Encodes an event's signed part. Over-long texts and names are cut on a char boundary
/// (the client refuses them before this point).
pub(crate) fn encode_unsigned(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 64);
    out.push(super::VERSION);
    out.extend_from_slice(event.author.as_bytes());
    out.extend_from_slice(&event.seq.to_be_bytes());
    out.extend_from_slice(&event.lamport.to_be_bytes());
    out.extend_from_slice(event.prev.as_bytes());
    out.extend_from_slice(&event.sent_at.0.to_be_bytes());
    match &event.content {
        Content::Text {
            text,
            reply_to,
            mentions,
        } => {
            out.push(KIND_TEXT);
            let mentions = mentions.get(..MAX_MENTIONS).unwrap_or(mentions);
            let mut flags = 0;
            if reply_to.is_some() {
                flags |= TEXT_REPLY;
            }
            if !mentions.is_empty() {
                flags |= TEXT_MENTIONS;
            }
            out.push(flags);
            if let Some(target) = reply_to {
                out.extend_from_slice(target.as_bytes());
            }
            if !mentions.is_empty() {
                out.push(u8::try_from(mentions.len()).unwrap_or(u8::MAX));
                for member in mentions {
                    out.extend_from_slice(member.as_bytes());
                }
            }
            push_text(&mut out, text);
        }
        Content::Edit { target, text } => {
            out.push(KIND_EDIT);
            out.extend_from_slice(target.as_bytes());
            push_text(&mut out, text);
        }
        Content::Delete { target } => {
            out.push(KIND_DELETE);
            out.extend_from_slice(target.as_bytes());
        }
        Content::React { target, emoji, on } => {
            out.push(KIND_REACT);
            out.extend_from_slice(target.as_bytes());
            out.push(u8::from(*on));
            push_short(&mut out, truncate_utf8(emoji, MAX_EMOJI_LEN));
        }
        Content::Profile { name } => {
            out.push(KIND_PROFILE);
            push_short(&mut out, truncate_utf8(name, MAX_NAME_LEN));
        }
        Content::File(file) => {
            out.push(KIND_FILE);
            out.extend_from_slice(&file.size.to_be_bytes());
            out.extend_from_slice(&file.hash);
            push_short(&mut out, truncate_utf8(&file.mime, MAX_MIME_LEN));
            push_short(&mut out, truncate_utf8(&file.name, MAX_FILE_NAME_LEN));
        }
        Content::Govern(action) => {
            out.push(KIND_GOVERN);
            govern::encode(action, &mut out);
        }
    }
    out
}

/// Splits a signed event into its fields, its unsigned bytes and its signature. Never
/// panics; checks sizes, version, ranges and UTF-8, not the signature.
pub(crate) fn decode_signed(bytes: &[u8]) -> Result<(Event, &[u8], [u8; 64]), DecodeError> {
    if bytes.len() > MAX_EVENT_LEN {
        return Err(DecodeError::TooLong {
            what: "event",
            max: MAX_EVENT_LEN,
            got: bytes.len(),
        });
    }
    let Some(split) = bytes.len().checked_sub(SIGNATURE_LEN) else {
        return Err(DecodeError::Truncated {
            needed: SIGNATURE_LEN - bytes.len(),
        });
    };
    let (unsigned, signature) = bytes.split_at(split);
    let mut signature_bytes = [0u8; 64];
    signature_bytes.copy_from_slice(signature);
    let mut reader = Reader::versioned(unsigned, "event", MAX_EVENT_LEN)?;
    let author = MemberKey(reader.array()?);
    let seq = reader.u64()?;
    let lamport = reader.u64()?;
    if seq == 0 {
        return Err(DecodeError::Invalid("sequence number 0"));
    }
    if lamport == 0 || lamport == u64::MAX {
        return Err(DecodeError::Invalid("lamport time"));
    }
    let prev = EventId(reader.array()?);
    let sent_at = UnixMillis(reader.u64()?);
    let content = match reader.u8()? {
        KIND_TEXT => {
            let flags = reader.u8()?;
            if flags & !(TEXT_REPLY | TEXT_MENTIONS) != 0 {
                return Err(DecodeError::Invalid("text flags"));
            }
            let reply_to = match flags & TEXT_REPLY {
                0 => None,
                _ => Some(EventId(reader.array()?)),
            };
            let mentions = match flags & TEXT_MENTIONS {
                0 => Vec::new(),
                _ => read_mentions(&mut reader)?,
            };
            let text = read_text(&mut reader)?;
            Content::Text {
                text,
                reply_to,
                mentions,
            }
        }
        KIND_EDIT => {
            let target = EventId(reader.array()?);
            let text = read_text(&mut reader)?;
            Content::Edit { target, text }
        }
        KIND_DELETE => Content::Delete {
            target: EventId(reader.array()?),
        },
        KIND_REACT => {
            let target = EventId(reader.array()?);
            let on = match reader.u8()? {
                0 => false,
                1 => true,
                _ => return Err(DecodeError::Invalid("reaction flag")),
            };
            let len = usize::from(reader.u8()?);
            let emoji = reader.str(len, MAX_EMOJI_LEN, "emoji")?.to_owned();
            if emoji.is_empty() {
                return Err(DecodeError::Invalid("empty emoji"));
            }
            Content::React { target, emoji, on }
        }
        KIND_PROFILE => {
            let len = usize::from(reader.u8()?);
            let name = reader.str(len, MAX_NAME_LEN, "display name")?.to_owned();
            Content::Profile { name }
        }
        KIND_FILE => {
            let size = reader.u64()?;
            if size > MAX_FILE_SIZE {
                return Err(DecodeError::Invalid("file size"));
            }
            let hash = reader.array()?;
            let len = usize::from(reader.u8()?);
            let mime = reader.str(len, MAX_MIME_LEN, "media type")?.to_owned();
            let len = usize::from(reader.u8()?);
            let name = reader.str(len, MAX_FILE_NAME_LEN, "file name")?.to_owned();
            if name.is_empty() {
                return Err(DecodeError::Invalid("empty file name"));
            }
            Content::File(FileMeta {
                name,
                mime,
                size,
                hash,
            })
        }
        KIND_GOVERN => Content::Govern(govern::decode(&mut reader)?),
        got => {
            return Err(DecodeError::UnknownKind {
                what: "event kind",
                got,
            });
        }
    };
    reader.finish()?;
    let event = Event {
        author,
        seq,
        lamport,
        prev,
        sent_at,
        content,
    };
    Ok((event, unsigned, signature_bytes))
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    let text = truncate_utf8(text, MAX_TEXT_LEN);
    out.extend_from_slice(&u16::try_from(text.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn push_short(out: &mut Vec<u8>, text: &str) {
    out.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(text.as_bytes());
}

/// 1..=[`MAX_MENTIONS`] members in ascending order (one encoding per set, so decoding and
/// encoding again gives the same bytes).
fn read_mentions(reader: &mut Reader<'_>) -> Result<Vec<MemberKey>, DecodeError> {
    let count = usize::from(reader.u8()?);
    if count == 0 || count > MAX_MENTIONS {
        return Err(DecodeError::Invalid("mention count"));
    }
    let mut mentions: Vec<MemberKey> = Vec::with_capacity(count);
    for _ in 0..count {
        let member = MemberKey(reader.array()?);
        if mentions.last().is_some_and(|last| *last >= member) {
            return Err(DecodeError::Invalid("mentions out of order"));
        }
        mentions.push(member);
    }
    Ok(mentions)
}

fn read_text(reader: &mut Reader<'_>) -> Result<String, DecodeError> {
    let len = usize::from(reader.u16()?);
    Ok(reader.str(len, MAX_TEXT_LEN, "text")?.to_owned())
}

/// Offsets in a signed event: author 1..33, seq 33..41, lamport 41..49, prev 49..81.
const AUTHOR_AT: usize = 1;
const LAMPORT_AT: usize = 41;
const REST_AT: usize = 81;

/// The compact entry of a signed event (see the module documentation); `None` if the
/// bytes are too short to be an event.
pub(crate) fn compact(signed: &[u8]) -> Option<Vec<u8>> {
    let version = signed.first()?;
    let lamport = signed.get(LAMPORT_AT..LAMPORT_AT + 8)?;
    let rest = signed.get(REST_AT..)?;
    let mut out = Vec::with_capacity(1 + 8 + rest.len());
    out.push(*version);
    out.extend_from_slice(lamport);
    out.extend_from_slice(rest);
    Some(out)
}

/// The signed event behind a compact entry, given what the run says about it. Never
/// panics; whether the result is a valid event is for the signature check to say.
pub(crate) fn expand(
    entry: &[u8],
    author: &MemberKey,
    seq: u64,
    prev: &EventId,
) -> Result<Vec<u8>, DecodeError> {
    if entry.len() < 9 {
        return Err(DecodeError::Truncated {
            needed: 9 - entry.len(),
        });
    }
    let (head, rest) = entry.split_at(9);
    let mut out = Vec::with_capacity(entry.len() + 72);
    out.extend_from_slice(head.get(..AUTHOR_AT).unwrap_or_default());
    out.extend_from_slice(author.as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(head.get(1..).unwrap_or_default());
    out.extend_from_slice(prev.as_bytes());
    out.extend_from_slice(rest);
    Ok(out)
}
