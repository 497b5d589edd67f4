//! The relay envelope: how a peer frame travels through the server's WebSocket relay when
//! no direct path exists. The server reads only this header; the payload is an opaque,
//! already-encrypted [`super::Frame`].
//!
//! ```text
//! envelope = version:u8 (=1) kind:u8 peer:u64be payload
//!   kind 1: client -> server, peer = recipient
//!   kind 2: server -> client, peer = sender
//! ```

use super::reader::WireRead as _;
use super::{DecodeError, MAX_FRAME_LEN, Reader, VERSION};
use crate::ids::PeerId;

/// Envelope header length.
pub const HEADER_LEN: usize = 10;
/// Largest envelope.
pub const MAX_ENVELOPE_LEN: usize = HEADER_LEN + MAX_FRAME_LEN;

const KIND_TO: u8 = 1;
const KIND_FROM: u8 = 2;

/// Which way an envelope travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server, naming the recipient.
    To(PeerId),
    /// Server to client, naming the sender.
    From(PeerId),
}

/// A decoded relay envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// Recipient or sender.
    pub direction: Direction,
    /// The opaque frame.
    pub payload: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Parses an envelope. Never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<Envelope<'a>, DecodeError> {
        let mut reader = Reader::versioned(bytes, "relay envelope", MAX_ENVELOPE_LEN)?;
        let kind = reader.u8()?;
        let peer = PeerId::new(reader.u64()?);
        let direction = match kind {
            KIND_TO => Direction::To(peer),
            KIND_FROM => Direction::From(peer),
            got => {
                return Err(DecodeError::UnknownKind {
                    what: "envelope kind",
                    got,
                });
            }
        };
        Ok(Envelope {
            direction,
            payload: reader.rest(),
        })
    }

    /// Serialises the envelope.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, peer) = match self.direction {
            Direction::To(peer) => (KIND_TO, peer),
            Direction::From(peer) => (KIND_FROM, peer),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.extend_from_slice(&[VERSION, kind]);
        out.extend_from_slice(&peer.to_u64().to_be_bytes());
        out.extend_from_slice(self.payload);
        out
    }
}
