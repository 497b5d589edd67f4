//! Identifier newtypes: peers (assigned by the signalling server), rooms, history events
//! and members.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A connection's id within a room, assigned by the signalling server.
///
/// It says nothing about who the peer is: identity is proven only by the Noise handshake.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PeerId(u64);

impl PeerId {
    /// Wraps a raw id.
    pub const fn new(raw: u64) -> PeerId {
        PeerId(raw)
    }
    /// The raw id, as it travels in relay envelopes.
    pub const fn to_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}
impl From<PeerId> for String {
    fn from(id: PeerId) -> String {
        id.to_string()
    }
}
impl TryFrom<String> for PeerId {
    type Error = IdParseError;
    fn try_from(s: String) -> Result<PeerId, IdParseError> {
        s.parse()
    }
}
impl FromStr for PeerId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<PeerId, IdParseError> {
        if s.len() != 16 {
            return Err(IdParseError::Length {
                expected: 16,
                got: s.len(),
            });
        }
        u64::from_str_radix(s, 16)
            .map(PeerId)
            .map_err(|_| IdParseError::NotHex)
    }
}

/// The public name of a room: HKDF of the room secret. The server knows only this.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct RoomId([u8; 32]);

impl RoomId {
    /// Wraps raw bytes (normally produced by [`crate::RoomSecret::room_id`]).
    pub const fn from_bytes(bytes: [u8; 32]) -> RoomId {
        RoomId(bytes)
    }
    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}
impl fmt::Debug for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A room id is public, but it is still a correlator: logs show a prefix only.
        write!(f, "RoomId({}…)", hex(&self.0[..4]))
    }
}
impl From<RoomId> for String {
    fn from(id: RoomId) -> String {
        id.to_string()
    }
}
impl TryFrom<String> for RoomId {
    type Error = IdParseError;
    fn try_from(s: String) -> Result<RoomId, IdParseError> {
        s.parse()
    }
}
impl FromStr for RoomId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<RoomId, IdParseError> {
        unhex_32(s).map(RoomId)
    }
}

/// A history event's id: SHA-256 of the room id and the event's signed content, so every
/// member computes the same id and nobody can make two events share one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub(crate) [u8; 32]);

impl EventId {
    /// An id as stored or received (it names an event only if one hashes to it).
    pub const fn from_bytes(bytes: [u8; 32]) -> EventId {
        EventId(bytes)
    }

    /// Builds an id from raw bytes, for UI tests that need ids without events.
    #[doc(hidden)]
    pub const fn from_bytes_for_testing_only(bytes: [u8; 32]) -> EventId {
        EventId(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}
impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}
impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", hex(&self.0[..4]))
    }
}
impl FromStr for EventId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<EventId, IdParseError> {
        unhex_32(s).map(EventId)
    }
}

/// A call's id, drawn at random by whoever starts the call; every call message names it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(u64);

impl CallId {
    /// Wraps a raw id.
    pub const fn new(raw: u64) -> CallId {
        CallId(raw)
    }
}
impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({self})")
    }
}

/// A member of a room as history knows them: their Ed25519 public key. Events name their
/// author by it, receipts and read markers are kept per member key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberKey(pub(crate) [u8; 32]);

impl MemberKey {
    /// Wraps raw key bytes (as found in an event or an identity card).
    pub const fn from_bytes(bytes: [u8; 32]) -> MemberKey {
        MemberKey(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}
impl fmt::Display for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}
impl fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberKey({})", hex(&self.0[..4]))
    }
}
impl FromStr for MemberKey {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<MemberKey, IdParseError> {
        unhex_32(s).map(MemberKey)
    }
}

/// An id string was not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdParseError {
    /// Wrong number of hex digits.
    #[error("expected {expected} hex digits, got {got}")]
    Length {
        /// Expected digits.
        expected: usize,
        /// Digits found.
        got: usize,
    },
    /// Not lowercase or uppercase hexadecimal.
    #[error("not hexadecimal")]
    NotHex,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0xf] {
            out.extend(char::from_digit(u32::from(nibble), 16));
        }
    }
    out
}

/// 64 hex digits as 32 bytes.
fn unhex_32(s: &str) -> Result<[u8; 32], IdParseError> {
    let bytes = unhex(s)?;
    let got = bytes.len();
    bytes.try_into().map_err(|_| IdParseError::Length {
        expected: 64,
        got: got * 2,
    })
}

fn unhex(s: &str) -> Result<Vec<u8>, IdParseError> {
    if !s.len().is_multiple_of(2) {
        return Err(IdParseError::NotHex);
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).map_err(|_| IdParseError::NotHex)?;
            u8::from_str_radix(text, 16).map_err(|_| IdParseError::NotHex)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let peer = PeerId::new(0xdead_beef_0000_0001);
        assert_eq!(peer.to_string(), "deadbeef00000001");
        assert_eq!("deadbeef00000001".parse::<PeerId>(), Ok(peer));
        let room = RoomId::from_bytes([0xab; 32]);
        assert_eq!(room.to_string().parse::<RoomId>(), Ok(room));
        assert_eq!(format!("{room:?}"), "RoomId(abababab…)");
    }

    #[test]
    fn bad_ids_are_refused() {
        assert_eq!(
            "xyz".parse::<PeerId>(),
            Err(IdParseError::Length {
                expected: 16,
                got: 3
            })
        );
        assert_eq!("zz".repeat(8).parse::<PeerId>(), Err(IdParseError::NotHex));
        assert_eq!(
            "ab".parse::<RoomId>(),
            Err(IdParseError::Length {
                expected: 64,
                got: 2
            })
        );
        assert!("é".repeat(32).parse::<RoomId>().is_err());
    }
}

/// Hashes for the maps keyed by [`EventId`] that a client looks up on every event it takes
/// in (history's events, by id): std's SipHash of a 32-byte id was ~3.5 % of the
/// governance simulation's CPU. Ids are SHA-256 outputs, but whoever writes events could
/// grind them for colliding bits: so the hash is keyed, with a secret drawn from std's
/// `RandomState` for each map (as SipHash's keys are), and mixes every word of the key
/// through a folded 64x64->128 multiply with it, which no one who does not know the
/// secret can aim collisions at (the scheme of `foldhash` and `wyhash`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHash {
    key: u64,
    seed: u64,
}

impl Default for IdHash {
    fn default() -> IdHash {
        use std::hash::BuildHasher;
        let random = std::collections::hash_map::RandomState::new();
        IdHash {
            key: random.hash_one(0u8) | 1,
            seed: random.hash_one(1u8),
        }
    }
}

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            key: self.key,
            state: self.seed,
        }
    }
}

/// The hasher of [`IdHash`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHasher {
    key: u64,
    state: u64,
}

impl IdHasher {
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(self.key);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut le = [0; 8];
            le.copy_from_slice(word);
            self.mix(u64::from_le_bytes(le));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut le = [0; 8];
            for (to, from) in le.iter_mut().zip(rest) {
                *to = *from;
            }
            self.mix(u64::from_le_bytes(le) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}
