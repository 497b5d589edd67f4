//! The app store's own records in the clear (what [`crate::vault::Vault::seal`] seals in
//! the browser's store): the profile, a saved room, a room's read marks, its mailbox
//! cursor and what we decided about each file ([`FileRecord`]). Pure codecs, here rather
//! than in the app so they are tested natively and fuzzed (`fuzz/fuzz_targets/records.rs`). Core's own records
//! ([`crate::client::OutboxRecord`], [`crate::client::ReceiptsRecord`]) sit with the
//! machines they belong to.
//!
//! Every record starts with the version byte [`RECORD_VERSION`] (a saved room:
//! [`SAVED_ROOM_VERSION`], and it still reads versions 1 to 4); decoding refuses any other version,
//! truncation and trailing bytes, and never panics.

use std::collections::BTreeMap;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::bytes::{ReadError, Reader};
use crate::history::OrderKey;
use crate::ids::MemberKey;
use crate::ids::RoomId;
use crate::room::{EpochSecret, Invite, RoomSecret};
use crate::signal::MailboxSeq;

/// Version byte of every record of this module but [`SavedRoom`].
pub const RECORD_VERSION: u8 = 1;

/// Version byte of a [`SavedRoom`] record: 2 added its [`RoomKind`], 3 a governed room's
/// genesis and epoch, 4 its first epoch, 5 the names a removal took out of its title.
/// Versions 1 (whose kind was read from the title), 2 (ungoverned), 3 (no first epoch) and
/// 4 (no names taken out) still decode.
pub const SAVED_ROOM_VERSION: u8 = 5;

/// How version 1 titled a one-to-one room (`Direct: <their name>`) and our contact room:
/// the app then told a room's kind by its title. Frozen: only for reading old records.
const V1_DIRECT_PREFIX: &str = "Direct: ";
const V1_CONTACT_TITLE: &str = "Your contact room";

/// A saved room's `kind` byte (version 2).
const KIND_GROUP: u8 = 1;
const KIND_DIRECT: u8 = 2;
const KIND_CONTACT: u8 = 3;

/// A stored record that does not decode; the text says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(String);

impl RecordError {
    pub(crate) fn new(what: impl Into<String>) -> RecordError {
        RecordError(what.into())
    }
}

/// Who we are: the 32-byte seed of [`crate::Identity::from_seed`] and the name shown
/// to others. Secret: zeroized on drop, neither `Debug` nor `Display`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Profile {
    /// The identity seed.
    pub identity_seed: [u8; 32],
    /// The display name.
    pub display_name: String,
}

/// A room we joined: its secret (from which its id derives), what kind of room it is, a
/// title and when it was last opened; a governed room's genesis and the epoch we hold.
/// Holds secrets, so it is neither `Debug` nor `Display`.
#[derive(Clone)]
pub struct SavedRoom {
    /// The room secret: a governed room's link of its current epoch (what
    /// [`crate::Client::invite`] gives), so its id is where the room is on the server now.
    pub secret: RoomSecret,
    /// What kind of room: decides how it is titled and shown, never the title.
    pub kind: RoomKind,
    /// A group's title (the names of the first people met in it); a one-to-one room's
    /// contact's name when it was saved, shown while the contacts do not know them; empty
    /// for our contact room.
    pub title: String,
    /// When it was last opened, in Unix milliseconds.
    pub last_opened_ms: u64,
    /// A governed room's lasting id (its history is signed over it); `None`: a room made
    /// before governance, a one-to-one room or our contact room.
    pub genesis: Option<RoomId>,
    /// The epoch of a governed room we hold and its secret (`None` until a member hands it
    /// to us). Members only: it stays in this sealed record, never in a link or a log.
    pub epoch: Option<(u64, EpochSecret)>,
    /// The first epoch of a governed room we held (we founded the room, or a member handed
    /// it to us), once we left it: no lockbox of ours holds its secret, so the client takes
    /// its mailbox back from here ([`crate::Client::with_left_epoch`]). Members only, as
    /// `epoch`.
    pub first_epoch: Option<(u64, EpochSecret)>,
    /// Names taken out of a group's title because their members were removed (or left),
    /// the latest last: each goes back where it stood if its removal is undone (a rival's
    /// removal from across a partition wins, `Governance::may_contest`), after a reload too.
    pub untitled: Vec<Untitled>,
}

/// A name taken out of a group's title ([`SavedRoom::untitled`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Untitled {
    /// The member it named, removed when it was taken out.
    pub member: MemberKey,
    /// The name as the title said it.
    pub name: String,
    /// Where it stood among the title's names (0: first).
    pub place: u32,
}

/// What kind of room a [`SavedRoom`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomKind {
    /// A room made here or joined by an invite link: titled after the people met in it.
    Group,
    /// Our one-to-one room with a contact, whose secret both of us derive
    /// ([`crate::Identity::direct_room_with`]).
    Direct {
        /// Who it is with. `None`: saved by a version 1 record, which did not say; the app
        /// fills it in when it next keeps the room with that contact.
        with: Option<MemberKey>,
    },
    /// Our contact room, behind our contact link ([`crate::Identity::contact_room`]).
    Contact,
}

/// What the user has seen of a room: for each author, every event of theirs up to a
/// sequence number. Chains have no gaps, so one number per author says it exactly, whatever
/// order events arrived or sort in (a message that arrives late and sorts above others is
/// still new). Unread messages are those from others that it does not cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadMarks(BTreeMap<MemberKey, u64>);

impl Profile {
    /// `version:u8(=1) seed[32] name_len:u32be name`
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(37 + self.display_name.len()));
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.identity_seed);
        put_str(&mut out, &self.display_name);
        out
    }

    /// Reads [`Profile::encode`]'s form back.
    pub fn decode(bytes: &[u8]) -> Result<Profile, RecordError> {
        let mut reader = versioned(bytes)?;
        let profile = Profile {
            identity_seed: reader.array()?,
            display_name: string(&mut reader)?,
        };
        reader.finish()?;
        Ok(profile)
    }
}

impl SavedRoom {
    /// The room's lasting id, its key in the store (its events, read marks, draft...) and
    /// what its address names: a governed room's genesis, which outlives its epochs, else
    /// its room id.
    pub fn home(&self) -> RoomId {
        self.genesis.unwrap_or_else(|| self.secret.room_id())
    }

    /// Where the room is on the server now: its (current link's) room id.
    pub fn room_id(&self) -> RoomId {
        self.secret.room_id()
    }

    /// This room as opened by `invite`, a link to it (the same genesis) that may name
    /// another epoch. A room we were never let into (no member handed us its epoch: its
    /// link was reset before anyone answered) takes the invite's link, so a newer link
    /// opens the room where an older one led nowhere. A member keeps the epoch it holds
    /// and follows the room's own rekeys: a link, older or forged, never moves a member
    /// out of the room it is in.
    pub fn opened_by(self, invite: Invite) -> SavedRoom {
        if self.epoch.is_some() || self.genesis.is_none() || invite.genesis != self.genesis {
            return self;
        }
        SavedRoom {
            secret: invite.link,
            ..self
        }
    }

    /// `version:u8(=5) last_opened_ms:u64be secret_len:u32be secret(invite fragment)
    /// title_len:u32be title kind governed untitled`, where `kind` is `1` (group), `3`
    /// (contact), `2 0` (direct, with whom unknown) or `2 1 member_key[32]` (direct),
    /// `governed` is `0` (ungoverned) or `1 genesis[32] epoch first_epoch`, each epoch being
    /// `0` (none) or `1 epoch:u64be epoch_secret[32]`, and `untitled` is
    /// `n:u32be (member_key[32] place:u32be name_len:u32be name)*`.
    ///
    /// Version 4 had no `untitled` (no name taken out). Version 3 had no `first_epoch`.
    /// Version 2 had no `governed` (its rooms are ungoverned). Version 1 had no `kind`
    /// either: a title `Direct: <name>` made a direct room (with whom unknown, `name` its
    /// title now), `Your contact room` the contact room (its title now empty), any other
    /// title a group.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let fragment = Zeroizing::new(self.secret.to_fragment());
        let mut out = Zeroizing::new(Vec::with_capacity(52 + fragment.len() + self.title.len()));
        out.push(SAVED_ROOM_VERSION);
        out.extend_from_slice(&self.last_opened_ms.to_be_bytes());
        put_str(&mut out, &fragment);
        put_str(&mut out, &self.title);
        match self.kind {
            RoomKind::Group => out.push(KIND_GROUP),
            RoomKind::Direct { with: None } => out.extend_from_slice(&[KIND_DIRECT, 0]),
            RoomKind::Direct { with: Some(with) } => {
                out.extend_from_slice(&[KIND_DIRECT, 1]);
                out.extend_from_slice(with.as_bytes());
            }
            RoomKind::Contact => out.push(KIND_CONTACT),
        }
        match self.genesis {
            None => out.push(0),
            Some(genesis) => {
                out.push(1);
                out.extend_from_slice(genesis.as_bytes());
                for epoch in [&self.epoch, &self.first_epoch] {
                    match epoch {
                        None => out.push(0),
                        Some((epoch, secret)) => {
                            out.push(1);
                            out.extend_from_slice(&epoch.to_be_bytes());
                            out.extend_from_slice(secret.as_bytes());
                        }
                    }
                }
            }
        }
        // A title's names: far below 4 billion.
        out.extend_from_slice(&(self.untitled.len() as u32).to_be_bytes());
        for untitled in &self.untitled {
            out.extend_from_slice(untitled.member.as_bytes());
            out.extend_from_slice(&untitled.place.to_be_bytes());
            put_str(&mut out, &untitled.name);
        }
        out
    }

    /// Reads [`SavedRoom::encode`]'s form back, and earlier versions' (see there).
    pub fn decode(bytes: &[u8]) -> Result<SavedRoom, RecordError> {
        let mut reader = Reader::new(bytes);
        let version = reader.u8()?;
        if !(1..=SAVED_ROOM_VERSION).contains(&version) {
            return Err(RecordError(format!(
                "saved room version {version} (this build reads 1 to {SAVED_ROOM_VERSION})"
            )));
        }
        let last_opened_ms = u64::from_be_bytes(reader.array()?);
        let fragment = Zeroizing::new(string(&mut reader)?);
        let secret = RoomSecret::from_fragment(&fragment)
            .map_err(|e| RecordError(format!("a saved room's secret: {e}")))?;
        let mut title = string(&mut reader)?;
        let kind = if version == 1 {
            if let Some(name) = title.strip_prefix(V1_DIRECT_PREFIX) {
                title = name.to_owned();
                RoomKind::Direct { with: None }
            } else if title == V1_CONTACT_TITLE {
                title.clear();
                RoomKind::Contact
            } else {
                RoomKind::Group
            }
        } else {
            match reader.u8()? {
                KIND_GROUP => RoomKind::Group,
                KIND_CONTACT => RoomKind::Contact,
                KIND_DIRECT => match reader.u8()? {
                    0 => RoomKind::Direct { with: None },
                    1 => RoomKind::Direct {
                        with: Some(MemberKey::from_bytes(reader.array()?)),
                    },
                    other => {
                        return Err(RecordError(format!(
                            "a direct room's partner flag is {other}"
                        )));
                    }
                },
                other => return Err(RecordError(format!("unknown room kind {other}"))),
            }
        };
        let (genesis, epoch, first_epoch) = if version < 3 {
            (None, None, None)
        } else {
            match reader.u8()? {
                0 => (None, None, None),
                1 => {
                    let genesis = RoomId::from_bytes(reader.array()?);
                    let epoch = saved_epoch(&mut reader)?;
                    let first_epoch = if version < 4 {
                        None
                    } else {
                        saved_epoch(&mut reader)?
                    };
                    (Some(genesis), epoch, first_epoch)
                }
                other => return Err(RecordError(format!("a governed flag is {other}"))),
            }
        };
        let mut untitled = Vec::new();
        if version >= 5 {
            // Nothing is reserved by the count: one beyond what follows fails at the first
            // name missing.
            for _ in 0..u32::from_be_bytes(reader.array()?) {
                untitled.push(Untitled {
                    member: MemberKey::from_bytes(reader.array()?),
                    place: u32::from_be_bytes(reader.array()?),
                    name: string(&mut reader)?,
                });
            }
        }
        reader.finish()?;
        Ok(SavedRoom {
            secret,
            kind,
            title,
            last_opened_ms,
            genesis,
            epoch,
            first_epoch,
            untitled,
        })
    }
}

/// An epoch as [`SavedRoom::encode`] writes it: `0`, or `1 epoch:u64be epoch_secret[32]`.
fn saved_epoch(reader: &mut Reader<'_>) -> Result<Option<(u64, EpochSecret)>, RecordError> {
    match reader.u8()? {
        0 => Ok(None),
        1 => {
            let epoch = u64::from_be_bytes(reader.array()?);
            let secret = Zeroizing::new(reader.array::<32>()?);
            Ok(Some((epoch, EpochSecret::from_bytes(*secret))))
        }
        other => Err(RecordError(format!("an epoch flag is {other}"))),
    }
}

impl ReadMarks {
    /// Seen: each `(author, seq)` given (the highest, if an author comes twice).
    pub fn new(marks: impl IntoIterator<Item = (MemberKey, u64)>) -> ReadMarks {
        let mut seen = BTreeMap::new();
        for (author, seq) in marks {
            let mark: &mut u64 = seen.entry(author).or_default();
            *mark = (*mark).max(seq);
        }
        ReadMarks(seen)
    }

    /// Whether the event at `key` was seen.
    pub fn has_seen(&self, key: &OrderKey) -> bool {
        self.0.get(&key.author).is_some_and(|seq| key.seq <= *seq)
    }

    /// `version:u8(=1) n:u32be (author[32] seq:u64be)*`, authors ascending.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + 40 * self.0.len());
        out.push(RECORD_VERSION);
        // Authors of one room's history: far below 4 billion.
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (author, seq) in &self.0 {
            out.extend_from_slice(author.as_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
        }
        out
    }

    /// Reads [`ReadMarks::encode`]'s form back (authors in any order, each once).
    pub fn decode(bytes: &[u8]) -> Result<ReadMarks, RecordError> {
        let mut reader = versioned(bytes)?;
        let n = u32::from_be_bytes(reader.array()?);
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let author = MemberKey::from_bytes(reader.array()?);
            let seq = u64::from_be_bytes(reader.array()?);
            if seen.insert(author, seq).is_some() {
                return Err(RecordError("read marks name an author twice".into()));
            }
        }
        reader.finish()?;
        Ok(ReadMarks(seen))
    }
}

/// A mailbox cursor record: `version:u8(=1) seq:u64be`.
pub fn encode_cursor(cursor: MailboxSeq) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(RECORD_VERSION);
    out.extend_from_slice(&cursor.to_u64().to_be_bytes());
    out
}

/// Reads [`encode_cursor`]'s form back.
pub fn decode_cursor(bytes: &[u8]) -> Result<MailboxSeq, RecordError> {
    let mut reader = versioned(bytes)?;
    let seq = u64::from_be_bytes(reader.array()?);
    reader.finish()?;
    Ok(MailboxSeq::new(seq))
}

/// What we decided about a file of a room, kept per file so a reload resumes it: the
/// record `version:u8(=1) room[32] decision:u8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// The room whose history announces the file.
    pub room: RoomId,
    /// What we decided.
    pub decision: FileDecision,
}

/// What we decided about someone's file, or what we keep of our own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileDecision {
    /// Downloading (resume at start-up).
    Accepted,
    /// Paused by us.
    Paused,
    /// Received whole and verified.
    Received,
    /// Declined.
    Declined,
    /// Failed: the kept part is unusable.
    Failed,
    /// Our own file, with a complete encrypted copy stored (served after a reload).
    Kept,
}

impl FileDecision {
    fn code(self) -> u8 {
        match self {
            FileDecision::Accepted => 1,
            FileDecision::Paused => 2,
            FileDecision::Received => 3,
            FileDecision::Declined => 4,
            FileDecision::Failed => 5,
            FileDecision::Kept => 6,
        }
    }

    fn from_code(code: u8) -> Option<FileDecision> {
        Some(match code {
            1 => FileDecision::Accepted,
            2 => FileDecision::Paused,
            3 => FileDecision::Received,
            4 => FileDecision::Declined,
            5 => FileDecision::Failed,
            6 => FileDecision::Kept,
            _ => return None,
        })
    }
}

impl FileRecord {
    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(34);
        out.push(RECORD_VERSION);
        out.extend_from_slice(self.room.as_bytes());
        out.push(self.decision.code());
        out
    }

    /// Reads [`FileRecord::encode`]'s form back.
    pub fn decode(bytes: &[u8]) -> Result<FileRecord, RecordError> {
        let mut reader = versioned(bytes)?;
        let room = RoomId::from_bytes(reader.array()?);
        let code = reader.u8()?;
        reader.finish()?;
        let decision = FileDecision::from_code(code)
            .ok_or_else(|| RecordError(format!("unknown file decision {code}")))?;
        Ok(FileRecord { room, decision })
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    // Lengths are u32: names and titles are far below 4 GiB.
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

impl From<ReadError> for RecordError {
    fn from(error: ReadError) -> RecordError {
        RecordError(match error {
            ReadError::Truncated { .. } => "a record is truncated".into(),
            ReadError::Trailing { .. } => "a record has trailing bytes".into(),
        })
    }
}

/// A reader past byte 0, after checking that it is [`RECORD_VERSION`].
fn versioned(bytes: &[u8]) -> Result<Reader<'_>, RecordError> {
    let mut reader = Reader::new(bytes);
    match reader.u8()? {
        RECORD_VERSION => Ok(reader),
        got => Err(RecordError(format!(
            "record version {got} (this build reads {RECORD_VERSION})"
        ))),
    }
}

/// Text of a `u32be` length.
fn string(reader: &mut Reader<'_>) -> Result<String, RecordError> {
    let len = reader.len32()?;
    String::from_utf8(reader.take(len)?.to_vec())
        .map_err(|_| RecordError("a record holds text that is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `RoomSecret::from_bytes([9; 32])`'s invite fragment.
    const FRAGMENT_9: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk";

    /// A version 1 saved room as older builds wrote it, assembled by hand (not by today's
    /// encoder): `1 last_opened_ms:u64be fragment_len:u32be fragment title_len:u32be title`.
    fn v1_room(title: &str) -> Vec<u8> {
        let mut bytes = vec![1, 0, 0, 0, 0, 0, 0, 0x30, 0x39]; // opened at 12345 ms
        bytes.extend_from_slice(&[0, 0, 0, 43]);
        bytes.extend_from_slice(FRAGMENT_9.as_bytes());
        bytes.extend_from_slice(&(title.len() as u32).to_be_bytes());
        bytes.extend_from_slice(title.as_bytes());
        bytes
    }

    fn kind_and_title(room: &SavedRoom) -> (RoomKind, &str) {
        (room.kind, room.title.as_str())
    }

    /// `bytes` of a room with no name taken out of its title as version 4 wrote it: no
    /// `untitled` (the last four bytes, a count of 0).
    fn as_version_4(bytes: &[u8]) -> Vec<u8> {
        let (v4, untitled) = bytes.split_at(bytes.len() - 4);
        assert_eq!((bytes[0], untitled), (5, &[0; 4][..]));
        let mut v4 = v4.to_vec();
        v4[0] = 4;
        v4
    }

    #[test]
    fn version_1_rooms_take_the_kind_their_title_gave_them() {
        for (title, kind, title_now) in [
            ("Direct: Bob", RoomKind::Direct { with: None }, "Bob"),
            ("Direct: ", RoomKind::Direct { with: None }, ""),
            ("Your contact room", RoomKind::Contact, ""),
            ("Ada, Bob", RoomKind::Group, "Ada, Bob"),
            ("", RoomKind::Group, ""),
            // Only the exact prefix and title counted.
            ("direct: Bob", RoomKind::Group, "direct: Bob"),
            ("Your contact room!", RoomKind::Group, "Your contact room!"),
        ] {
            let room = SavedRoom::decode(&v1_room(title)).unwrap();
            assert_eq!(kind_and_title(&room), (kind, title_now), "{title:?}");
            assert_eq!(room.home(), RoomSecret::from_bytes([9; 32]).room_id());
            assert_eq!(room.last_opened_ms, 12345);
            // Written again in the current version, it keeps its kind.
            let again = room.encode();
            assert_eq!(again[0], SAVED_ROOM_VERSION);
            let again = SavedRoom::decode(&again).unwrap();
            assert_eq!(kind_and_title(&again), (kind, title_now));
        }
    }

    #[test]
    fn a_newer_link_opens_a_room_we_were_never_let_into_and_never_moves_a_member() {
        let genesis = Some(RoomId::from_bytes([1; 32]));
        let (old, new) = (
            RoomSecret::from_bytes([2; 32]),
            RoomSecret::from_bytes([3; 32]),
        );
        let room = |epoch: Option<(u64, EpochSecret)>| SavedRoom {
            secret: old.clone(),
            kind: RoomKind::Group,
            title: String::new(),
            last_opened_ms: 7,
            genesis,
            epoch,
            first_epoch: None,
            untitled: Vec::new(),
        };
        let newer = |genesis| Invite {
            link: new.clone(),
            genesis,
        };
        // Never let in: the newer link is where to go.
        assert_eq!(
            room(None).opened_by(newer(genesis)).room_id(),
            new.room_id()
        );
        // A member stays where it is, in whatever epoch it holds.
        let member = room(Some((2, EpochSecret::from_bytes([4; 32]))));
        let opened = member.opened_by(newer(genesis));
        assert_eq!(opened.room_id(), old.room_id());
        assert_eq!(opened.epoch.map(|(n, _)| n), Some(2));
        // A link to another room changes nothing.
        let other = Some(RoomId::from_bytes([5; 32]));
        assert_eq!(room(None).opened_by(newer(other)).room_id(), old.room_id());
        assert_eq!(room(None).opened_by(newer(None)).room_id(), old.room_id());
    }

    #[test]
    fn version_2_rooms_round_trip_whatever_their_title() {
        for kind in [
            RoomKind::Group,
            RoomKind::Contact,
            RoomKind::Direct { with: None },
            RoomKind::Direct {
                with: Some(MemberKey::from_bytes([3; 32])),
            },
        ] {
            // A group named like a version 1 direct room stays a group, and so on.
            for title in ["Direct: x", "Your contact room", "Zoë"] {
                let room = SavedRoom {
                    secret: RoomSecret::from_bytes([9; 32]),
                    kind,
                    title: title.into(),
                    last_opened_ms: 7,
                    genesis: None,
                    epoch: None,
                    first_epoch: None,
                    untitled: Vec::new(),
                };
                let bytes = room.encode();
                let again = SavedRoom::decode(&bytes).unwrap();
                assert_eq!(kind_and_title(&again), (kind, title));
                assert_eq!((again.home(), again.last_opened_ms), (room.home(), 7));
                assert_eq!(again.encode(), bytes);
                // The same room as version 2 wrote it (no governed byte) reads alike.
                let mut v2 = as_version_4(&bytes);
                v2[0] = 2;
                assert_eq!(v2.pop(), Some(0));
                let old = SavedRoom::decode(&v2).unwrap();
                assert_eq!(kind_and_title(&old), (kind, title));
                assert!(old.genesis.is_none() && old.epoch.is_none());
                assert_eq!(old.encode(), bytes);
            }
        }
    }

    #[test]
    fn truncated_or_unknown_saved_rooms_are_refused() {
        let direct = SavedRoom {
            secret: RoomSecret::from_bytes([9; 32]),
            kind: RoomKind::Direct {
                with: Some(MemberKey::from_bytes([3; 32])),
            },
            title: "Bob".into(),
            last_opened_ms: 7,
            genesis: None,
            epoch: None,
            first_epoch: None,
            untitled: Vec::new(),
        }
        .encode()
        .to_vec();
        for len in 0..direct.len() {
            assert!(SavedRoom::decode(&direct[..len]).is_err(), "{len} bytes");
        }
        let v1 = v1_room("Direct: Bob");
        for len in 0..v1.len() {
            assert!(SavedRoom::decode(&v1[..len]).is_err(), "{len} bytes");
        }
        let mut trailing = direct.clone();
        trailing.push(0);
        assert!(SavedRoom::decode(&trailing).is_err());
        // A version 1 record followed by a kind is not a version 1 record.
        let mut v1_with_kind = v1.clone();
        v1_with_kind.push(KIND_GROUP);
        assert!(SavedRoom::decode(&v1_with_kind).is_err());
        for version in [0, 6, 255] {
            let mut other = direct.clone();
            other[0] = version;
            assert!(SavedRoom::decode(&other).is_err());
        }
        let kind_at = direct.len() - 39;
        for (at, byte) in [(kind_at, 0), (kind_at, 4), (kind_at + 1, 2)] {
            let mut unknown = direct.clone();
            unknown[at] = byte;
            assert!(SavedRoom::decode(&unknown).is_err(), "byte {at} = {byte}");
        }
        let mut bad_secret = v1.clone();
        bad_secret[13] = b'!';
        assert!(SavedRoom::decode(&bad_secret).is_err());
    }

    #[test]
    fn governed_rooms_keep_their_genesis_and_epoch_and_are_stored_under_the_genesis() {
        let genesis = RoomId::from_bytes([5; 32]);
        let epoch_secret = EpochSecret::from_bytes([6; 32]);
        for epoch in [None, Some((3, epoch_secret.clone()))] {
            let room = SavedRoom {
                secret: epoch_secret.link(),
                kind: RoomKind::Group,
                title: "Plans".into(),
                last_opened_ms: 7,
                genesis: Some(genesis),
                epoch,
                first_epoch: None,
                untitled: Vec::new(),
            };
            let bytes = room.encode();
            let again = SavedRoom::decode(&bytes).unwrap();
            assert_eq!(again.home(), genesis);
            assert_eq!(again.room_id(), epoch_secret.link().room_id());
            assert_eq!(
                again.epoch.as_ref().map(|(n, s)| (*n, *s.as_bytes())),
                room.epoch.as_ref().map(|(n, s)| (*n, *s.as_bytes())),
            );
            assert_eq!(again.encode(), bytes);
            for len in 0..bytes.len() {
                assert!(SavedRoom::decode(&bytes[..len]).is_err(), "{len} bytes");
            }
            let mut trailing = bytes.to_vec();
            trailing.push(0);
            assert!(SavedRoom::decode(&trailing).is_err());
        }
        // Pinned: `... kind(1) 1 genesis 1 epoch:u64be secret`.
        let room = SavedRoom {
            secret: epoch_secret.link(),
            kind: RoomKind::Group,
            title: String::new(),
            last_opened_ms: 0,
            genesis: Some(genesis),
            epoch: Some((3, epoch_secret)),
            first_epoch: None,
            untitled: Vec::new(),
        };
        let bytes = room.encode();
        let tail = &bytes[bytes.len() - 80..];
        assert_eq!(tail[..2], [KIND_GROUP, 1]);
        assert_eq!(tail[2..34], [5; 32]);
        assert_eq!(tail[34..43], [1, 0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(tail[43..75], [6; 32]);
        // No first epoch, no name taken out of the title.
        assert_eq!(tail[75..], [0; 5]);
        // Unknown flags are refused.
        let flags = [bytes.len() - 79, bytes.len() - 46, bytes.len() - 5];
        for (at, byte) in flags.map(|at| (at, 2)) {
            let mut unknown = bytes.to_vec();
            unknown[at] = byte;
            assert!(SavedRoom::decode(&unknown).is_err(), "byte {at} = {byte}");
        }
    }

    /// A governed room keeps the first epoch it held once it left it (no lockbox holds that
    /// one's secret); a version 3 record, which had none, still reads.
    #[test]
    fn governed_rooms_keep_their_first_epoch_and_version_3_records_read() {
        let genesis = RoomId::from_bytes([5; 32]);
        let (first, now) = (
            EpochSecret::from_bytes([6; 32]),
            EpochSecret::from_bytes([7; 32]),
        );
        let room = SavedRoom {
            secret: now.link(),
            kind: RoomKind::Group,
            title: String::new(),
            last_opened_ms: 0,
            genesis: Some(genesis),
            epoch: Some((2, now.clone())),
            first_epoch: Some((0, first)),
            untitled: Vec::new(),
        };
        let bytes = room.encode();
        assert_eq!(
            bytes[bytes.len() - 45..bytes.len() - 36],
            [1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(bytes[bytes.len() - 36..bytes.len() - 4], [6; 32]);
        let again = SavedRoom::decode(&bytes).unwrap();
        let numbered =
            |epoch: &Option<(u64, EpochSecret)>| epoch.as_ref().map(|(n, s)| (*n, *s.as_bytes()));
        assert_eq!(numbered(&again.epoch), Some((2, [7; 32])));
        assert_eq!(numbered(&again.first_epoch), Some((0, [6; 32])));
        for len in 0..bytes.len() {
            assert!(SavedRoom::decode(&bytes[..len]).is_err(), "{len} bytes");
        }
        // As version 3 wrote it: no first epoch.
        let mut v3 = bytes[..bytes.len() - 45].to_vec();
        v3[0] = 3;
        let old = SavedRoom::decode(&v3).unwrap();
        assert_eq!(numbered(&old.epoch), Some((2, [7; 32])));
        assert!(old.first_epoch.is_none());
        v3.push(0);
        assert!(
            SavedRoom::decode(&v3).is_err(),
            "version 3 had no first epoch"
        );
    }

    /// The names a removal took out of a group's title are kept with the room (a reload
    /// lost them, so a removal undone after it left them out); a version 4 record, which
    /// had none, still reads, with none taken out.
    #[test]
    fn names_taken_out_of_the_title_are_kept_and_version_4_records_read() {
        let epoch = EpochSecret::from_bytes([6; 32]);
        let mut room = SavedRoom {
            secret: epoch.link(),
            kind: RoomKind::Group,
            title: "Olive".into(),
            last_opened_ms: 7,
            genesis: Some(RoomId::from_bytes([5; 32])),
            epoch: Some((1, epoch)),
            first_epoch: None,
            untitled: Vec::new(),
        };
        let v4 = as_version_4(&room.encode());
        room.untitled = vec![
            Untitled {
                member: MemberKey::from_bytes([3; 32]),
                name: "Bea".into(),
                place: 0,
            },
            Untitled {
                member: MemberKey::from_bytes([4; 32]),
                name: "Zoë".into(),
                place: 2,
            },
        ];
        let bytes = room.encode();
        let again = SavedRoom::decode(&bytes).unwrap();
        assert_eq!(again.untitled, room.untitled);
        assert_eq!(again.title, "Olive");
        assert_eq!(again.encode(), bytes);
        // Pinned: `... n:u32be (member_key[32] place:u32be name_len:u32be name)*`.
        let mut tail = vec![0, 0, 0, 2];
        tail.extend_from_slice(&[3; 32]);
        tail.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]);
        tail.extend_from_slice(b"Bea");
        tail.extend_from_slice(&[4; 32]);
        tail.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4]);
        tail.extend_from_slice("Zoë".as_bytes());
        assert_eq!(bytes[bytes.len() - tail.len()..], tail);
        for len in 0..bytes.len() {
            assert!(SavedRoom::decode(&bytes[..len]).is_err(), "{len} bytes");
        }
        // A count far beyond what follows is refused, not trusted.
        let mut huge = bytes[..bytes.len() - tail.len()].to_vec();
        huge.extend_from_slice(&[0xff; 4]);
        assert!(SavedRoom::decode(&huge).is_err());
        // Version 4: the same room, nothing taken out.
        let old = SavedRoom::decode(&v4).unwrap();
        assert!(old.untitled.is_empty());
        assert_eq!((old.title.as_str(), old.home()), ("Olive", room.home()));
        let mut v4_with_names = bytes.to_vec();
        v4_with_names[0] = 4;
        assert!(
            SavedRoom::decode(&v4_with_names).is_err(),
            "version 4 had no names taken out"
        );
    }

    #[test]
    fn file_records_round_trip_and_bad_ones_are_refused() {
        let room = RoomId::from_bytes([4; 32]);
        for decision in [
            FileDecision::Accepted,
            FileDecision::Paused,
            FileDecision::Received,
            FileDecision::Declined,
            FileDecision::Failed,
            FileDecision::Kept,
        ] {
            let record = FileRecord { room, decision };
            assert_eq!(FileRecord::decode(&record.encode()), Ok(record));
        }
        let mut kept = vec![1];
        kept.extend_from_slice(&[4; 32]);
        kept.push(6);
        assert_eq!(
            FileRecord::decode(&kept).map(|record| record.decision),
            Ok(FileDecision::Kept)
        );
        // Another version, truncated, trailing bytes, an unknown decision.
        assert!(FileRecord::decode(&[2; 34]).is_err());
        assert!(FileRecord::decode(&[1; 10]).is_err());
        assert!(FileRecord::decode(&[1; 35]).is_err());
        let mut unknown = kept.clone();
        unknown[33] = 7;
        assert!(FileRecord::decode(&unknown).is_err());
    }
}
