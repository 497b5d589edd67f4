//! History events on the wire and at rest (the same bytes: an event is signed once and
//! then forwarded and stored unchanged, except that a deleted message's content is dropped).
//!
//! Version 2 (every event written now) signs a hash of the content, not the content, so a
//! deleted message can lose its content and still verify (its *redacted form*; its id is
//! the same, so chains, marks and order are unchanged):
//!
//! ```text
//! signed   = unsigned signature[64] form          (Ed25519 over context, room id, unsigned)
//! unsigned = version:u8 (=2) header kind:u8 content_hash[32]
//! header   = author[32] seq:u64be lamport:u64be prev[32] sent_at_ms:u64be
//! form     = 1 content                            (full)
//!          | 0 private_hash[32] public            (redacted: text, file and edit only)
//! content  = public private                       (public: an edit's target[32]; nothing
//!                                                  for a text or file; all of other kinds)
//! content_hash = SHA-256("confab/v2/content" || kind || public || SHA-256(private))
//! ```
//!
//! Either form must hash to `content_hash`. The redacted form keeps an edit's target, so
//! a member can check that the edit's author deleted that message.
//!
//! Version 1 (stored history from before) signs the content itself; it stays readable but
//! cannot be redacted:
//!
//! ```text
//! signed   = unsigned signature[64]                (Ed25519 over context, room id, unsigned)
//! unsigned = version:u8 (=1) header kind:u8 content
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
//! entry = version:u8 (=1) lamport:u64be sent_at_ms:u64be kind:u8 content signature[64]
//!       | version:u8 (=2) lamport:u64be sent_at_ms:u64be kind:u8 content_hash[32]
//!         signature[64] form (as above)
//! ```

use super::file::{FileMeta, MAX_FILE_NAME_LEN, MAX_FILE_SIZE, MAX_MIME_LEN};
use super::govern::{self, Govern};
use super::reader::WireRead as _;
use super::{DecodeError, MAX_NAME_LEN, MAX_TEXT_LEN, Reader, truncate_utf8};
use crate::ids::{EventId, MemberKey};
use sha2::{Digest as _, Sha256};

/// Longest reaction, in UTF-8 bytes (one emoji with modifiers fits).
pub const MAX_EMOJI_LEN: usize = 32;
/// Most members one message may mention.
pub const MAX_MENTIONS: usize = 32;
/// Longest signed event: a reply of the longest text, mentioning the most members.
/// (Version 2: its content hash and form byte come on top of version 1's content.)
pub const MAX_EVENT_LEN: usize = HEADER_LEN
    + 1
    + CONTENT_HASH_LEN
    + SIGNATURE_LEN
    + 1
    + 1
    + 32
    + 1
    + 32 * MAX_MENTIONS
    + 2
    + MAX_TEXT_LEN;

/// The version byte of events that sign a hash of their content (every event written now).
pub const EVENT_V2: u8 = 2;

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
    /// Content erased (the redacted form of a version-2 message, file or edit): its kind
    /// is known, and an edit's target. Never posted; decoded from a redacted form.
    Redacted {
        /// The kind byte the content had.
        kind: u8,
        /// The message an erased edit changed.
        target: Option<EventId>,
    },
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
const CONTENT_HASH_LEN: usize = 32;
/// A version-2 event's signed part: header, kind, content hash.
const UNSIGNED_V2_LEN: usize = HEADER_LEN + 1 + CONTENT_HASH_LEN;
const CONTENT_HASH_CONTEXT: &[u8] = b"confab/v2/content";
const FORM_REDACTED: u8 = 0;
const FORM_FULL: u8 = 1;

pub(crate) const KIND_TEXT: u8 = 1;
const KIND_EDIT: u8 = 2;
const KIND_DELETE: u8 = 3;
const KIND_REACT: u8 = 4;
const KIND_PROFILE: u8 = 5;
pub(crate) const KIND_FILE: u8 = 6;
const KIND_GOVERN: u8 = 7;

/// Encodes a version-2 event: its signed part (header, kind, content hash) and what
/// follows the signature (the full form). Over-long texts and names are cut on a char
/// boundary (the client refuses them before this point).
pub(crate) fn encode_v2(event: &Event) -> (Vec<u8>, Vec<u8>) {
    let mut unsigned = Vec::with_capacity(UNSIGNED_V2_LEN);
    push_header(&mut unsigned, EVENT_V2, event);
    let mut content = Vec::with_capacity(64);
    encode_content(&event.content, &mut content);
    let (kind, body) = content.split_first().map_or((0, &[][..]), |(k, b)| (*k, b));
    unsigned.push(kind);
    unsigned.extend_from_slice(&content_hash(kind, body));
    let mut tail = Vec::with_capacity(1 + body.len());
    tail.push(FORM_FULL);
    tail.extend_from_slice(body);
    (unsigned, tail)
}

/// Encodes a version-1 event's signed part (the content itself). Only old stored history
/// and tests have these.
#[cfg(test)]
pub(crate) fn encode_unsigned_v1(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 64);
    push_header(&mut out, 1, event);
    encode_content(&event.content, &mut out);
    out
}

/// The content hash of `content` (its encoding after the kind byte): see the module
/// documentation.
fn content_hash(kind: u8, content: &[u8]) -> [u8; 32] {
    let (public, private) = content.split_at(public_len(kind).min(content.len()));
    hash_parts(kind, public, &Sha256::digest(private).into())
}

fn hash_parts(kind: u8, public: &[u8], private_hash: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(CONTENT_HASH_CONTEXT)
        .chain_update([kind])
        .chain_update(public)
        .chain_update(private_hash)
        .finalize()
        .into()
}

/// How much of a kind's content stays in its redacted form: an edit keeps the message it
/// changed (so a member can check that its author deleted that message); a text or a file
/// keeps nothing; other kinds are never redacted (all of it).
fn public_len(kind: u8) -> usize {
    match kind {
        KIND_TEXT | KIND_FILE => 0,
        KIND_EDIT => 32,
        _ => usize::MAX,
    }
}

fn push_header(out: &mut Vec<u8>, version: u8, event: &Event) {
    out.push(version);
    out.extend_from_slice(event.author.as_bytes());
    out.extend_from_slice(&event.seq.to_be_bytes());
    out.extend_from_slice(&event.lamport.to_be_bytes());
    out.extend_from_slice(event.prev.as_bytes());
    out.extend_from_slice(&event.sent_at.0.to_be_bytes());
}

/// The kind byte, then the content's encoding.
fn encode_content(content: &Content, out: &mut Vec<u8>) {
    match content {
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
            push_text(out, text);
        }
        Content::Edit { target, text } => {
            out.push(KIND_EDIT);
            out.extend_from_slice(target.as_bytes());
            push_text(out, text);
        }
        Content::Delete { target } => {
            out.push(KIND_DELETE);
            out.extend_from_slice(target.as_bytes());
        }
        Content::React { target, emoji, on } => {
            out.push(KIND_REACT);
            out.extend_from_slice(target.as_bytes());
            out.push(u8::from(*on));
            push_short(out, truncate_utf8(emoji, MAX_EMOJI_LEN));
        }
        Content::Profile { name } => {
            out.push(KIND_PROFILE);
            push_short(out, truncate_utf8(name, MAX_NAME_LEN));
        }
        Content::File(file) => {
            out.push(KIND_FILE);
            out.extend_from_slice(&file.size.to_be_bytes());
            out.extend_from_slice(&file.hash);
            push_short(out, truncate_utf8(&file.mime, MAX_MIME_LEN));
            push_short(out, truncate_utf8(&file.name, MAX_FILE_NAME_LEN));
        }
        Content::Govern(action) => {
            out.push(KIND_GOVERN);
            govern::encode(action, out);
        }
        // Nothing to sign: the result does not decode, so nobody accepts it.
        Content::Redacted { kind, .. } => out.push(*kind),
    }
}

/// Splits a signed event (either version) into its fields, its signed bytes and its
/// signature. Never panics; checks sizes, version, ranges, UTF-8 and (version 2) that
/// content present hashes to the signed content hash, not the signature. A redacted form
/// decodes with [`Content::Redacted`].
pub(crate) fn decode_signed(bytes: &[u8]) -> Result<(Event, &[u8], [u8; 64]), DecodeError> {
    if bytes.len() > MAX_EVENT_LEN {
        return Err(DecodeError::TooLong {
            what: "event",
            max: MAX_EVENT_LEN,
            got: bytes.len(),
        });
    }
    match bytes.first() {
        Some(&EVENT_V2) => decode_v2(bytes),
        Some(&super::VERSION) => decode_v1(bytes),
        Some(&got) => Err(DecodeError::Version {
            expected: EVENT_V2,
            got,
        }),
        None => Err(DecodeError::Truncated { needed: 1 }),
    }
}

fn decode_v1(bytes: &[u8]) -> Result<(Event, &[u8], [u8; 64]), DecodeError> {
    let Some(split) = bytes.len().checked_sub(SIGNATURE_LEN) else {
        return Err(DecodeError::Truncated {
            needed: SIGNATURE_LEN - bytes.len(),
        });
    };
    let (unsigned, signature) = bytes.split_at(split);
    let mut reader = Reader::versioned(unsigned, "event", MAX_EVENT_LEN)?;
    let header = read_header(&mut reader)?;
    let kind = reader.u8()?;
    let content = read_content(kind, &mut reader)?;
    reader.finish()?;
    Ok((header.with(content), unsigned, signature_of(signature)))
}

fn decode_v2(bytes: &[u8]) -> Result<(Event, &[u8], [u8; 64]), DecodeError> {
    let form_at = UNSIGNED_V2_LEN + SIGNATURE_LEN;
    let Some(form) = bytes.get(form_at) else {
        return Err(DecodeError::Truncated {
            needed: form_at + 1 - bytes.len(),
        });
    };
    let (unsigned, rest) = bytes.split_at(UNSIGNED_V2_LEN);
    let (signature, body) = rest.split_at(SIGNATURE_LEN);
    let mut reader = Reader::new(unsigned.get(1..).unwrap_or_default());
    let header = read_header(&mut reader)?;
    let kind = reader.u8()?;
    let hash: [u8; 32] = reader.array()?;
    reader.finish()?;
    let body = body.get(1..).unwrap_or_default();
    let content = match *form {
        FORM_REDACTED => {
            if !redactable(kind) {
                return Err(DecodeError::Invalid("redacted form of a kind kept whole"));
            }
            let mut reader = Reader::new(body);
            let private_hash: [u8; 32] = reader.array()?;
            let public = reader.take(public_len(kind))?;
            reader.finish()?;
            if hash_parts(kind, public, &private_hash) != hash {
                return Err(DecodeError::Invalid("content does not match its hash"));
            }
            let target = match kind {
                KIND_EDIT => Some(EventId(public.try_into().unwrap_or([0; 32]))),
                _ => None,
            };
            Content::Redacted { kind, target }
        }
        FORM_FULL => {
            if content_hash(kind, body) != hash {
                return Err(DecodeError::Invalid("content does not match its hash"));
            }
            let mut reader = Reader::new(body);
            let content = read_content(kind, &mut reader)?;
            reader.finish()?;
            content
        }
        _ => return Err(DecodeError::Invalid("event form")),
    };
    Ok((header.with(content), unsigned, signature_of(signature)))
}

fn signature_of(bytes: &[u8]) -> [u8; 64] {
    let mut signature = [0u8; 64];
    signature.copy_from_slice(bytes.get(..64).unwrap_or(&[0; 64]));
    signature
}

/// An event's fields but its content.
struct Header {
    author: MemberKey,
    seq: u64,
    lamport: u64,
    prev: EventId,
    sent_at: UnixMillis,
}

impl Header {
    fn with(self, content: Content) -> Event {
        Event {
            author: self.author,
            seq: self.seq,
            lamport: self.lamport,
            prev: self.prev,
            sent_at: self.sent_at,
            content,
        }
    }
}

/// The header after the version byte.
fn read_header(reader: &mut Reader<'_>) -> Result<Header, DecodeError> {
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
    Ok(Header {
        author,
        seq,
        lamport,
        prev,
        sent_at,
    })
}

/// The content of an event of `kind` (what follows the kind byte).
fn read_content(kind: u8, reader: &mut Reader<'_>) -> Result<Content, DecodeError> {
    let content = match kind {
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
                _ => read_mentions(reader)?,
            };
            let text = read_text(reader)?;
            Content::Text {
                text,
                reply_to,
                mentions,
            }
        }
        KIND_EDIT => {
            let target = EventId(reader.array()?);
            let text = read_text(reader)?;
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
        KIND_GOVERN => Content::Govern(govern::decode(reader)?),
        got => {
            return Err(DecodeError::UnknownKind {
                what: "event kind",
                got,
            });
        }
    };
    Ok(content)
}

/// Only messages, files and edits are ever erased (by their author's delete of the
/// message); every other kind (deletes, reactions, names, governance) is kept whole, so a
/// redacted form of one is forged and does not decode.
fn redactable(kind: u8) -> bool {
    matches!(kind, KIND_TEXT | KIND_FILE | KIND_EDIT)
}

/// The redacted form of a full version-2 message, file or edit (its private content
/// erased, same id and signature); `None` for version 1, which signs its content, for
/// other kinds and for a form already redacted.
pub(crate) fn redact(signed: &[u8]) -> Option<Vec<u8>> {
    let form_at = UNSIGNED_V2_LEN + SIGNATURE_LEN;
    if signed.first() != Some(&EVENT_V2)
        || signed.get(form_at) != Some(&FORM_FULL)
        || !signed.get(HEADER_LEN).is_some_and(|kind| redactable(*kind))
    {
        return None;
    }
    let kind = *signed.get(HEADER_LEN)?;
    let content = signed.get(form_at + 1..)?;
    let (public, private) = content.split_at(public_len(kind).min(content.len()));
    let mut out = signed.get(..form_at)?.to_vec();
    out.push(FORM_REDACTED);
    out.extend_from_slice(&Sha256::digest(private));
    out.extend_from_slice(public);
    Some(out)
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
