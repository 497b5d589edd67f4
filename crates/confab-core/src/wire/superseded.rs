//! The layout of a superseded link's notice (see `client/superseded.rs`): what a rekeyer
//! leaves for strangers who still hold the link of the epoch it ended.
//!
//! ```text
//! notice = version:u8(=1) genesis[32] room[32] count:u8(1..=2) (len:u32be signed_event)*
//!          rekey[32] signature[64]
//!   events: the genesis's Create, the Promote that made the signer an admin (absent when the
//!   signer is the owner); rekey: the id of the signer's Rekey event, which the notice does
//!   not carry (its lockboxes name every member it was sealed to); signature: Ed25519 by the
//!   signer (the Create's author, or the Promote's member) over
//!   "confab/v2/superseded" ‖ genesis ‖ room ‖ rekey
//! ```

use super::DecodeError;
use super::reader::WireRead as _;
use crate::bytes::Reader;
use crate::ids::{EventId, RoomId};

/// Largest notice: what one mailbox entry carries (64 KiB less its sealing).
pub const MAX_NOTICE_LEN: usize = 64 * 1024 - 41;
/// Fewest and most events a notice carries.
const EVENTS: std::ops::RangeInclusive<usize> = 1..=2;

/// A superseded link's notice, as bytes decode it (nothing verified yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The room's lasting id, which every event is signed over.
    pub genesis: RoomId,
    /// The room id of the link it says is superseded.
    pub room: RoomId,
    /// Signed events: Create, [Promote] (the signer's authority).
    pub events: Vec<Vec<u8>>,
    /// The id of the signer's Rekey that left the link.
    pub rekey: EventId,
    /// The signer's signature over genesis, room and the Rekey's id.
    pub signature: [u8; 64],
}

impl Notice {
    /// The encoding (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![super::VERSION];
        out.extend_from_slice(self.genesis.as_bytes());
        out.extend_from_slice(self.room.as_bytes());
        out.push(u8::try_from(self.events.len()).unwrap_or(u8::MAX));
        for event in &self.events {
            out.extend_from_slice(&u32::try_from(event.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(event);
        }
        out.extend_from_slice(self.rekey.as_bytes());
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses a notice. Never panics, whatever the input.
    pub fn decode(bytes: &[u8]) -> Result<Notice, DecodeError> {
        let mut reader = Reader::versioned(bytes, "notice", MAX_NOTICE_LEN)?;
        let genesis = RoomId::from_bytes(reader.array()?);
        let room = RoomId::from_bytes(reader.array()?);
        let count = usize::from(reader.u8()?);
        if !EVENTS.contains(&count) {
            return Err(DecodeError::Invalid("notice event count"));
        }
        let mut events = Vec::with_capacity(count);
        for _ in 0..count {
            let len = reader.len32()?;
            events.push(reader.take(len)?.to_vec());
        }
        let rekey = EventId::from_bytes(reader.array()?);
        let signature = reader.array()?;
        reader.finish()?;
        Ok(Notice {
            genesis,
            room,
            events,
            rekey,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn notices_round_trip_and_refuse_bad_counts() {
        let notice = Notice {
            genesis: RoomId::from_bytes([1; 32]),
            room: RoomId::from_bytes([2; 32]),
            events: vec![vec![3; 5], vec![4; 2]],
            rekey: EventId::from_bytes([6; 32]),
            signature: [5; 64],
        };
        let bytes = notice.encode();
        assert_eq!(bytes.len(), 1 + 32 + 32 + 1 + (4 + 5) + (4 + 2) + 32 + 64);
        assert_eq!(Notice::decode(&bytes), Ok(notice.clone()));
        for count in [0, 3] {
            let mut wrong = notice.clone();
            wrong.events.resize(count, vec![7]);
            assert_eq!(
                Notice::decode(&wrong.encode()),
                Err(DecodeError::Invalid("notice event count"))
            );
        }
        assert!(Notice::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Notice::decode(&longer), Err(DecodeError::TrailingBytes(1)));
    }
}
