//! History events as the protocol knows them: what a member said or did, signed by them.
//!
//! An event names its author ([`MemberKey`](crate::MemberKey)), a per-author sequence
//! number (1, 2, ...), the id of the author's previous event (a hash chain, so an author's
//! events form one line), a Lamport time (one more than the largest the author had seen),
//! the author's wall clock, and its [`Content`]. The signature covers all of it (the
//! content through its hash, in version 2) and the room id, so a member who forwards an
//! event can neither alter it nor move it to another room.
//!
//! A version-2 event has a *redacted form* without its content (see [`crate::wire::event`]):
//! it has the same id and still verifies, so a deleted message's content can be erased
//! while the history around it stays checkable.

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::identity::Identity;
use crate::ids::{EventId, RoomId};
pub use crate::wire::event::{Content, Event, OrderKey, UnixMillis};
use crate::wire::{self, DecodeError};

const SIGNATURE_CONTEXT: &[u8] = b"confab/v1/event-signature";
const ID_CONTEXT: &[u8] = b"confab/v1/event-id";

/// A decoded event whose signature checked out: safe to store, show and forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEvent {
    id: EventId,
    event: Event,
    /// The signed encoding, forwarded and stored as is.
    bytes: Vec<u8>,
}

/// Why an event was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Not decodable.
    #[error("malformed event: {0}")]
    Malformed(DecodeError),
    /// The signature does not verify (forged, altered, or from another room).
    #[error("event signature does not verify")]
    Signature,
    /// The author already has a different event with this sequence number.
    #[error("conflicting event for sequence number {seq}")]
    Conflict {
        /// The sequence number.
        seq: u64,
    },
    /// The author was proven to fork their chain before this event: nothing of theirs
    /// from the fork on is accepted.
    #[error("the author signed conflicting events")]
    Banned,
    /// `prev` or `lamport` do not continue the author's chain.
    #[error("event does not continue its author's chain")]
    Chain,
    /// Too far ahead of what we have from this author to hold until the gap fills.
    #[error("event {seq} is too far ahead")]
    TooFarAhead {
        /// The sequence number.
        seq: u64,
    },
    /// Its Lamport time is beyond what the receiver's clock allows yet (see
    /// [`super::Horizon`]): offered again later, it is accepted once the clock passes it.
    #[error("event lamport time {lamport} is ahead of the clock")]
    NotYet {
        /// The Lamport time.
        lamport: u64,
    },
    /// No room is left to hold this out-of-sequence event: its author holds as much as
    /// it may, or would hold the most of a full room (see [`super::MAX_HELD_BYTES`]). It
    /// is asked for again in sequence.
    #[error("no room to hold event {seq}")]
    HeldFull {
        /// The sequence number.
        seq: u64,
    },
    /// Stored bytes do not hash to the id they were stored under.
    #[error("stored event does not match its id")]
    Corrupt,
}

impl EventId {
    /// The `prev` of an author's first event.
    pub const GENESIS: EventId = EventId([0; 32]);
}

impl Event {
    /// Where this event sits in the room's order.
    pub fn order_key(&self) -> OrderKey {
        OrderKey {
            lamport: self.lamport,
            author: self.author,
            seq: self.seq,
        }
    }
}

impl VerifiedEvent {
    /// Signs `event` (whose `author` must be `identity`'s key) for `room`.
    pub(crate) fn sign(identity: &Identity, room: &RoomId, event: Event) -> VerifiedEvent {
        let (unsigned, tail) = wire::event::encode_v2(&event);
        let signature = identity.sign_raw(&signing_message(room, &unsigned));
        let id = event_id(room, &unsigned);
        let mut bytes = unsigned;
        bytes.extend_from_slice(&signature);
        bytes.extend_from_slice(&tail);
        VerifiedEvent { id, event, bytes }
    }

    /// Signs `event` in the version-1 layout (content signed itself), as stores written
    /// before version 2 hold.
    #[cfg(test)]
    pub(crate) fn sign_v1(identity: &Identity, room: &RoomId, event: Event) -> VerifiedEvent {
        let unsigned = wire::event::encode_unsigned_v1(&event);
        let signature = identity.sign_raw(&signing_message(room, &unsigned));
        let id = event_id(room, &unsigned);
        let mut bytes = unsigned;
        bytes.extend_from_slice(&signature);
        VerifiedEvent { id, event, bytes }
    }

    /// This event without its content (same id, still verifies), if it is a full
    /// version-2 message, file or edit; version 1 signs its content, which then cannot be
    /// dropped.
    pub fn redacted(&self) -> Option<VerifiedEvent> {
        let bytes = wire::event::redact(&self.bytes)?;
        let (event, _, _) = wire::event::decode_signed(&bytes).ok()?;
        Some(VerifiedEvent {
            id: self.id,
            event,
            bytes,
        })
    }

    /// The message an edit changes, whole or redacted.
    pub(crate) fn edit_target(&self) -> Option<EventId> {
        match self.event.content {
            Content::Edit { target, .. }
            | Content::Redacted {
                target: Some(target),
                ..
            } => Some(target),
            _ => None,
        }
    }

    /// Whether this is a redacted form (its content erased).
    pub fn is_redacted(&self) -> bool {
        matches!(self.event.content, Content::Redacted { .. })
    }

    /// Decodes and checks a signed event received for `room`. Never panics.
    pub fn verify(room: &RoomId, bytes: &[u8]) -> Result<VerifiedEvent, EventError> {
        VerifiedEvent::verify_unless_held(room, bytes, |_, _| false)
    }

    /// As [`VerifiedEvent::verify`], but the signature is not checked again when `held`
    /// says this signed part was verified before: `held` gets the event's id and its signed
    /// part, the bytes the signature covers followed by the signature (a prefix of every
    /// form of the event, full or redacted; what follows it, the content, is checked
    /// against the signed content hash by decoding). A copy whose signed part differs in
    /// any byte, its signature included, is checked in full.
    pub fn verify_unless_held(
        room: &RoomId,
        bytes: &[u8],
        held: impl FnOnce(&EventId, &[u8]) -> bool,
    ) -> Result<VerifiedEvent, EventError> {
        let (event, unsigned, signature) =
            wire::event::decode_signed(bytes).map_err(EventError::Malformed)?;
        let id = event_id(room, unsigned);
        let signed = bytes
            .get(..unsigned.len() + signature.len())
            .unwrap_or(bytes);
        if !held(&id, signed) {
            let key = VerifyingKey::from_bytes(event.author.as_bytes())
                .map_err(|_| EventError::Signature)?;
            key.verify_strict(
                &signing_message(room, unsigned),
                &Signature::from_bytes(&signature),
            )
            .map_err(|_| EventError::Signature)?;
        }
        Ok(VerifiedEvent {
            id,
            event,
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes an event from our own store without checking its signature again (it was
    /// checked before it was stored); the id is recomputed and must match `expected`, if
    /// given. Costs a hash instead of a signature check, which is what makes opening a
    /// room of 10,000 messages fast.
    pub fn restore(
        room: &RoomId,
        bytes: &[u8],
        expected: Option<EventId>,
    ) -> Result<VerifiedEvent, EventError> {
        let (event, unsigned, _) =
            wire::event::decode_signed(bytes).map_err(EventError::Malformed)?;
        let id = event_id(room, unsigned);
        if expected.is_some_and(|expected| expected != id) {
            return Err(EventError::Corrupt);
        }
        Ok(VerifiedEvent {
            id,
            event,
            bytes: bytes.to_vec(),
        })
    }

    /// The hash of its signed part (the same for the full and the redacted form).
    pub fn id(&self) -> EventId {
        self.id
    }

    /// The fields.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The signed encoding.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn signing_message(room: &RoomId, unsigned: &[u8]) -> Vec<u8> {
    [SIGNATURE_CONTEXT, room.as_bytes(), unsigned].concat()
}

fn event_id(room: &RoomId, unsigned: &[u8]) -> EventId {
    let digest = Sha256::new()
        .chain_update(ID_CONTEXT)
        .chain_update(room.as_bytes())
        .chain_update(unsigned)
        .finalize();
    EventId(digest.into())
}
