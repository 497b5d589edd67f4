//! What nodes say to each other over NATS, and on which subjects.
//!
//! ```text
//! confab.room.<room-hex>          JSON RoomNote   presence: joined, left, hello, present
//! confab.node.<node-hex>.signal   JSON SignalNote a signal for a peer on that node
//! confab.node.<node-hex>.relay    room[32] to:u64be envelope (kind 2, "from")
//! confab.nodes                    JSON NodeNote   heartbeat (every second), gone
//! confab.mailbox                  MailboxNote     (JetStream stream CONFAB_MAILBOX)
//! ```
//!
//! Nodes trust each other: NATS is the operator's own network. A node still checks that
//! a message's recipient is a local member of the room it names.

use confab_core::mailbox::DepositKey;

use crate::hub::{Arrival, NodeId};
use crate::mailbox::AddressTag;
use confab_core::{PeerId, RoomId};
use serde::{Deserialize, Serialize};

/// The subject every node listens on for heartbeats.
pub(crate) const NODES_SUBJECT: &str = "confab.nodes";
/// The subject of the mailbox stream.
pub(crate) const MAILBOX_SUBJECT: &str = "confab.mailbox";
/// The JetStream stream that orders and keeps mailbox deposits.
pub(crate) const MAILBOX_STREAM: &str = "CONFAB_MAILBOX";

/// Presence in one room, on the room's subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum RoomNote {
    /// A member joined the room on `node`.
    Joined { node: NodeId, presence: Arrival },
    /// `peer` left the room on `node`.
    Left { node: NodeId, peer: PeerId },
    /// `node` started listening to the room: the others answer with `present`.
    Hello { node: NodeId },
    /// All of `node`'s members of the room (replaces what others knew).
    Present { node: NodeId, peers: Vec<Arrival> },
}

/// A signal for a peer on the node whose subject it is sent to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SignalNote {
    pub(crate) room: RoomId,
    pub(crate) from: PeerId,
    pub(crate) to: PeerId,
    pub(crate) data: String,
}

/// Node liveness, on [`NODES_SUBJECT`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum NodeNote {
    /// Still here.
    Heartbeat { node: NodeId },
    /// Shutting down: forget my members now.
    Gone { node: NodeId },
}

/// A mailbox deposit as the stream keeps it:
/// `version:u8(=2) node:u64be at_ms:u64be depositor:u64be room[32] key[32] entry`
/// (version 1, without `depositor`, still decodes: its deposits have an unknown owner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MailboxNote {
    pub(crate) node: NodeId,
    pub(crate) at_ms: u64,
    /// The depositor's address tag, as the depositing node computed it.
    pub(crate) depositor: AddressTag,
    pub(crate) room: RoomId,
    pub(crate) key: DepositKey,
    pub(crate) entry: Vec<u8>,
}

const MAILBOX_NOTE_VERSION: u8 = 2;
const MAILBOX_NOTE_HEADER: usize = 1 + 8 + 8 + 8 + 32 + 32;

impl NodeId {
    /// This node's signal subject.
    pub(crate) fn signal_subject(self) -> String {
        format!("confab.node.{:016x}.signal", self.0)
    }

    /// This node's relay subject.
    pub(crate) fn relay_subject(self) -> String {
        format!("confab.node.{:016x}.relay", self.0)
    }

    /// Both of this node's subjects.
    pub(crate) fn wildcard_subject(self) -> String {
        format!("confab.node.{:016x}.*", self.0)
    }
}

/// The presence subject of `room`.
pub(crate) fn room_subject(room: RoomId) -> String {
    format!("confab.room.{room}")
}

/// `room[32] to:u64be envelope`.
pub(crate) fn encode_relay(room: RoomId, to: PeerId, envelope: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + envelope.len());
    out.extend_from_slice(room.as_bytes());
    out.extend_from_slice(&to.to_u64().to_be_bytes());
    out.extend_from_slice(envelope);
    out
}

/// The inverse of [`encode_relay`].
pub(crate) fn decode_relay(bytes: &[u8]) -> Option<(RoomId, PeerId, &[u8])> {
    let (room, rest) = bytes.split_at_checked(32)?;
    let (to, envelope) = rest.split_at_checked(8)?;
    Some((
        RoomId::from_bytes(room.try_into().ok()?),
        PeerId::new(u64::from_be_bytes(to.try_into().ok()?)),
        envelope,
    ))
}

impl MailboxNote {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAILBOX_NOTE_HEADER + self.entry.len());
        out.push(MAILBOX_NOTE_VERSION);
        out.extend_from_slice(&self.node.0.to_be_bytes());
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        out.extend_from_slice(&self.depositor.0.to_be_bytes());
        out.extend_from_slice(self.room.as_bytes());
        out.extend_from_slice(&self.key.to_bytes());
        out.extend_from_slice(&self.entry);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<MailboxNote> {
        let (&version, rest) = bytes.split_first()?;
        let (node, rest) = rest.split_at_checked(8)?;
        let (at_ms, rest) = rest.split_at_checked(8)?;
        let (depositor, rest) = match version {
            1 => (AddressTag::UNKNOWN, rest),
            MAILBOX_NOTE_VERSION => {
                let (depositor, rest) = rest.split_at_checked(8)?;
                (
                    AddressTag(u64::from_be_bytes(depositor.try_into().ok()?)),
                    rest,
                )
            }
            _ => return None,
        };
        let (room, rest) = rest.split_at_checked(32)?;
        let (key, entry) = rest.split_at_checked(32)?;
        Some(MailboxNote {
            node: NodeId(u64::from_be_bytes(node.try_into().ok()?)),
            at_ms: u64::from_be_bytes(at_ms.try_into().ok()?),
            depositor,
            room: RoomId::from_bytes(room.try_into().ok()?),
            key: DepositKey::from_bytes(key.try_into().ok()?).ok()?,
            entry: entry.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip() {
        let room = RoomId::from_bytes([7; 32]);
        let note = RoomNote::Present {
            node: NodeId(5),
            peers: vec![
                Arrival {
                    peer: PeerId::new(1),
                    since: 10,
                },
                Arrival {
                    peer: PeerId::new(2),
                    since: 11,
                },
            ],
        };
        let json = serde_json::to_string(&note).unwrap();
        assert_eq!(
            json,
            r#"{"type":"present","node":5,"peers":[{"peer":"0000000000000001","since":10},{"peer":"0000000000000002","since":11}]}"#
        );
        assert_eq!(serde_json::from_str::<RoomNote>(&json).unwrap(), note);
        let relay = encode_relay(room, PeerId::new(9), b"env");
        assert_eq!(
            decode_relay(&relay),
            Some((room, PeerId::new(9), &b"env"[..]))
        );
        assert_eq!(decode_relay(&relay[..39]), None);
        let keys = confab_core::RoomSecret::from_bytes([3; 32]).mailbox_keys();
        let mailbox = MailboxNote {
            node: NodeId(u64::MAX),
            at_ms: 1234,
            depositor: AddressTag(77),
            room: keys.room(),
            key: keys.deposit_key(),
            entry: vec![1, 2, 3],
        };
        assert_eq!(
            MailboxNote::decode(&mailbox.encode()),
            Some(mailbox.clone())
        );
        assert_eq!(MailboxNote::decode(&mailbox.encode()[..88]), None);
        // Version 1 (before depositors were noted): an unknown owner.
        let mut old = mailbox.encode();
        old[0] = 1;
        old.drain(17..25);
        let old = MailboxNote::decode(&old).unwrap();
        assert_eq!(old.depositor, AddressTag::UNKNOWN);
        assert_eq!(old.entry, mailbox.entry);
        assert_eq!(
            room_subject(room),
            format!("confab.room.{}", "07".repeat(32))
        );
        assert_eq!(
            NodeId(255).signal_subject(),
            "confab.node.00000000000000ff.signal"
        );
    }
}
