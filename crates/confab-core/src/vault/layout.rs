//! Where the app's store keeps each record: the object stores and the byte keys in them
//! (the table is in the app's `platform/store.rs`). Pure, so the keys are tested natively
//! and their decoders fuzzed (`fuzz/fuzz_targets/records.rs`); the app only moves these
//! bytes in and out of IndexedDB.
//!
//! Keys hold no message content: room ids are public (the server sees them), sequence
//! numbers are assigned by the store, contacts are keyed by public keys, files by the id of
//! the signed event that announced them (a hash). Within a room, event keys sort in append
//! order; within a file, chunk keys sort in index order.

use super::Record;
use super::records::{Profile, RecordError, SavedRoom};
use crate::bytes::Reader;
use crate::ids::RoomId;

/// Object store: the wrapped key, the profile and per-room records ([`RoomMeta`]).
pub const META: &str = "meta";
/// Object store: one record per room.
pub const ROOMS: &str = "rooms";
/// Object store: history events, per room in insertion order.
pub const EVENTS: &str = "events";
/// Object store: contacts.
pub const CONTACTS: &str = "contacts";
/// Object store: one record per file being received or kept (its transfer state).
pub const FILES: &str = "files";
/// Object store: file content, per file in chunk index order.
pub const CHUNKS: &str = "chunks";

/// Key of the wrapped data key in [`META`] (stored as is, not sealed).
pub const KEY_WRAPPED: &[u8] = b"key";
/// Key of the [`Profile`] in [`META`].
pub const KEY_PROFILE: &[u8] = b"profile";

/// Length of a key in [`EVENTS`]: room id ‖ sequence number.
pub const EVENT_KEY_LEN: usize = 40;
/// Length of a key in [`CHUNKS`]: file id ‖ chunk index.
pub const CHUNK_KEY_LEN: usize = 36;

/// A room's own records in [`META`], each under its prefix followed by the room id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomMeta {
    /// The room's mailbox cursor ([`super::records::encode_cursor`]).
    MailboxCursor,
    /// The room's `OutboxRecord`.
    Outbox,
    /// The room's `ReceiptsRecord`.
    Receipts,
    /// The room's [`super::records::ReadMarks`].
    Read,
    /// The composer's unsent text (UTF-8).
    Draft,
    /// Present (empty) while the room is muted.
    Mute,
}

impl RoomMeta {
    /// Every kind: what forgetting a room deletes.
    pub const ALL: [RoomMeta; 6] = [
        RoomMeta::MailboxCursor,
        RoomMeta::Outbox,
        RoomMeta::Receipts,
        RoomMeta::Read,
        RoomMeta::Draft,
        RoomMeta::Mute,
    ];

    /// The prefix in [`META`].
    pub fn prefix(self) -> &'static [u8] {
        match self {
            RoomMeta::MailboxCursor => b"mailbox:",
            RoomMeta::Outbox => b"outbox:",
            RoomMeta::Receipts => b"receipts:",
            RoomMeta::Read => b"read:",
            RoomMeta::Draft => b"draft:",
            RoomMeta::Mute => b"mute:",
        }
    }

    /// `prefix ‖ room id`: where `room`'s record of this kind lives in [`META`].
    pub fn key(self, room: RoomId) -> Vec<u8> {
        let mut key = self.prefix().to_vec();
        key.extend_from_slice(room.as_bytes());
        key
    }
}

/// `room id ‖ seq:u64be`: bytewise order is append order within a room.
pub fn event_key(room: RoomId, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(EVENT_KEY_LEN);
    key.extend_from_slice(room.as_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Reads [`event_key`]'s form back.
pub fn decode_event_key(key: &[u8]) -> Result<(RoomId, u64), RecordError> {
    let bad = || RecordError::new("an event key is not 40 bytes");
    let mut reader = Reader::new(key);
    let room = RoomId::from_bytes(reader.array().map_err(|_| bad())?);
    let seq = reader.u64().map_err(|_| bad())?;
    reader.finish().map_err(|_| bad())?;
    Ok((room, seq))
}

/// `file id ‖ index:u32be`: bytewise order is index order within a file.
pub fn chunk_key(file: [u8; 32], index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(CHUNK_KEY_LEN);
    key.extend_from_slice(&file);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// Reads [`chunk_key`]'s form back.
pub fn decode_chunk_key(key: &[u8]) -> Result<([u8; 32], u32), RecordError> {
    let bad = || RecordError::new("a chunk key is not 36 bytes");
    let mut reader = Reader::new(key);
    let file = reader.array().map_err(|_| bad())?;
    let index = reader.u32().map_err(|_| bad())?;
    reader.finish().map_err(|_| bad())?;
    Ok((file, index))
}

/// A 32-byte key (a contact's public signing key, a file id); `what` names it in the error.
pub fn decode_key32(key: &[u8], what: &str) -> Result<[u8; 32], RecordError> {
    <[u8; 32]>::try_from(key).map_err(|_| RecordError::new(format!("{what} is not 32 bytes")))
}

/// Which store an imported record (from `import_profile`) goes to, after checking that it
/// fits there: the profile, a room under its own id, an event or a contact. Anything else
/// (the data key, per-room records, files) is not part of an export.
pub fn check_imported(record: &Record) -> Result<&'static str, RecordError> {
    let bad = |what: &str| Err(RecordError::new(format!("the import holds {what}")));
    match record.store.as_str() {
        META if record.key == KEY_PROFILE => {
            Profile::decode(&record.value)?;
            Ok(META)
        }
        ROOMS => {
            let room = SavedRoom::decode(&record.value)?;
            if room.home().as_bytes().as_slice() != record.key.as_slice() {
                return bad("a room under another id");
            }
            Ok(ROOMS)
        }
        EVENTS if record.key.len() == EVENT_KEY_LEN => Ok(EVENTS),
        CONTACTS if record.key.len() == 32 => Ok(CONTACTS),
        _ => bad("a record Confab does not know"),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::room::RoomSecret;

    fn room() -> RoomId {
        RoomSecret::from_bytes([7; 32]).room_id()
    }

    #[test]
    fn event_keys_sort_in_append_order_and_read_back() {
        let keys: Vec<Vec<u8>> = [0, 1, 255, 256, u64::MAX]
            .iter()
            .map(|seq| event_key(room(), *seq))
            .collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(keys[2][32..], [0, 0, 0, 0, 0, 0, 0, 255]);
        assert_eq!(decode_event_key(&keys[3]), Ok((room(), 256)));
        assert!(decode_event_key(&keys[3][..39]).is_err());
        assert!(decode_event_key(&[&keys[3][..], &[0]].concat()).is_err());
    }

    #[test]
    fn chunk_keys_sort_in_index_order_and_read_back() {
        let file = [3; 32];
        assert!(chunk_key(file, 255) < chunk_key(file, 256));
        assert_eq!(chunk_key(file, 0x0102_0304)[32..], [1, 2, 3, 4]);
        assert_eq!(decode_chunk_key(&chunk_key(file, 9)), Ok((file, 9)));
        assert!(decode_chunk_key(&[0; 35]).is_err());
        assert!(decode_chunk_key(&[0; 37]).is_err());
        assert_eq!(decode_key32(&[5; 32], "a file id"), Ok([5; 32]));
        assert_eq!(
            decode_key32(&[5; 31], "a file id").unwrap_err().to_string(),
            "a file id is not 32 bytes"
        );
    }

    #[test]
    fn room_meta_keys_are_prefix_then_room_and_never_prefix_one_another() {
        assert_eq!(
            RoomMeta::Read.key(room()),
            [&b"read:"[..], room().as_bytes()].concat()
        );
        for a in RoomMeta::ALL {
            for b in RoomMeta::ALL {
                assert_eq!(a == b, a.prefix().starts_with(b.prefix()), "{a:?} {b:?}");
            }
            assert!(!KEY_PROFILE.starts_with(a.prefix()) && !a.prefix().starts_with(KEY_PROFILE));
            assert!(!KEY_WRAPPED.starts_with(a.prefix()) && !a.prefix().starts_with(KEY_WRAPPED));
        }
    }

    #[test]
    fn an_import_goes_only_where_it_fits() {
        let record = |store: &str, key: Vec<u8>, value: Vec<u8>| Record {
            store: store.to_owned(),
            key,
            value,
        };
        let profile = Profile {
            identity_seed: [1; 32],
            display_name: "Ada".into(),
        };
        let saved = SavedRoom {
            secret: RoomSecret::from_bytes([7; 32]),
            kind: crate::vault::records::RoomKind::Group,
            title: "Book club".into(),
            last_opened_ms: 5,
            genesis: None,
            epoch: None,
            first_epoch: None,
            untitled: Vec::new(),
        };
        let ok = [
            record(META, KEY_PROFILE.to_vec(), profile.encode().to_vec()),
            record(ROOMS, room().as_bytes().to_vec(), saved.encode().to_vec()),
            record(EVENTS, event_key(room(), 3), b"event".to_vec()),
            record(CONTACTS, vec![9; 32], b"contact".to_vec()),
        ];
        let stores: Vec<&str> = ok.iter().map(|r| check_imported(r).unwrap()).collect();
        assert_eq!(stores, [META, ROOMS, EVENTS, CONTACTS]);
        let refused = [
            record(META, KEY_WRAPPED.to_vec(), vec![]),
            record(META, RoomMeta::Draft.key(room()), b"hi".to_vec()),
            record(META, KEY_PROFILE.to_vec(), b"not a profile".to_vec()),
            record(ROOMS, vec![0; 32], saved.encode().to_vec()),
            record(EVENTS, vec![0; 39], b"event".to_vec()),
            record(CONTACTS, vec![9; 33], b"contact".to_vec()),
            record(FILES, vec![0; 32], b"file".to_vec()),
            record(CHUNKS, chunk_key([0; 32], 0), b"chunk".to_vec()),
        ];
        for record in &refused {
            assert!(check_imported(record).is_err(), "{}", record.store);
        }
    }
}
