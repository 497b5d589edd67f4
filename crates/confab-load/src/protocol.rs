//! The three signalling protocols the load generator speaks, and the payload every one of
//! them carries: what a client sends to join, to send one message to its room, and how
//! it reads what arrives.
//!
//! "One message" is the same for all three: a client addresses the other members of its
//! room (4 in rooms of 5), so one message is 4 expected deliveries.
//! - **Confab**: one `signal` per other member (`{"type":"signal","to":PEER,"data":..}`),
//!   the frame a browser sends to reach one peer through the server. Relay envelopes are
//!   the other point-to-point path; signals are the one comparable with the baselines,
//!   which only signal.
//! - **PeerJS**: one `OFFER` per other member (`{"type":"OFFER","dst":ID,"payload":..}`),
//!   also point-to-point.
//! - **y-webrtc**: one `publish` to the room's topic; the server sends it to every
//!   subscriber, the sender included (its own echo is not counted).

use std::fmt;

use anyhow::{Context as _, bail};
use confab_core::{PeerId, RoomId};
use serde_json::{Value, json};

/// Which server, and so which protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// `confab-server`'s `/ws` (confab_core::signal).
    Confab,
    /// y-webrtc's `bin/server.js`: topics, subscribe and publish.
    YWebrtc,
    /// PeerJS server (`peerjs`): ids, point-to-point OFFER/ANSWER/CANDIDATE.
    Peerjs,
}

/// Where one client's frames go: the other members of its room, in this protocol's terms.
#[derive(Clone, Debug)]
pub enum Members {
    /// Confab: the server's peer ids, learnt from `joined`, `peer-joined` and `peer-present`.
    Confab(Vec<PeerId>),
    /// y-webrtc: the topic.
    YWebrtc(String),
    /// PeerJS: the ids the other members connected with.
    Peerjs(Vec<String>),
}

/// What one received text frame meant.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A benchmark payload (see [`Payload`]).
    Payload(String),
    /// Confab: the room as it was when we joined.
    Joined(Vec<PeerId>),
    /// Confab: someone joined our room.
    PeerJoined(PeerId),
    /// Confab: someone left our room.
    PeerLeft(PeerId),
    /// Confab: `welcome` with our peer id; PeerJS: `OPEN`; y-webrtc: `pong`.
    Ready,
    /// An error the server reported, or a frame that means a delivery failed.
    Error(String),
    /// Anything else.
    Other,
}

/// The benchmark payload: who sent it, its number, and when (microseconds since the
/// generator's start, one clock for senders and receivers alike), padded to a size like
/// a small ICE candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload {
    pub sender: u32,
    pub seq: u32,
    pub sent_us: u64,
}

/// Characters of padding in every payload.
pub const PAYLOAD_PAD: usize = 120;

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Confab => "confab",
            Protocol::YWebrtc => "y-webrtc",
            Protocol::Peerjs => "peerjs",
        })
    }
}

impl std::str::FromStr for Protocol {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Protocol> {
        match text {
            "confab" => Ok(Protocol::Confab),
            "y-webrtc" => Ok(Protocol::YWebrtc),
            "peerjs" => Ok(Protocol::Peerjs),
            other => bail!("unknown server {other:?} (confab, y-webrtc, peerjs)"),
        }
    }
}

impl Protocol {
    /// The WebSocket URL client `idx` opens on a server at `authority` (`host:port`).
    pub fn url(self, authority: &str, idx: usize) -> String {
        match self {
            Protocol::Confab => format!("ws://{authority}/ws"),
            Protocol::YWebrtc => format!("ws://{authority}/"),
            Protocol::Peerjs => format!(
                "ws://{authority}/peerjs?key=peerjs&id={}&token=t{idx}",
                peerjs_id(idx)
            ),
        }
    }

    /// Whether the server speaks first (and the client must read that before it is
    /// connected): Confab's `welcome`, PeerJS's `OPEN`.
    pub fn greets(self) -> bool {
        matches!(self, Protocol::Confab | Protocol::Peerjs)
    }

    /// The frames that put a client into room `room` (none for PeerJS, which has no
    /// rooms). y-webrtc gets a `ping` after its `subscribe`: the `pong` says the
    /// subscription was processed.
    pub fn join_frames(self, run: u32, room: usize) -> Vec<String> {
        match self {
            Protocol::Confab => {
                vec![json!({"type": "join", "room": room_id(run, room).to_string()}).to_string()]
            }
            Protocol::YWebrtc => vec![
                json!({"type": "subscribe", "topics": [topic(run, room)]}).to_string(),
                json!({"type": "ping"}).to_string(),
            ],
            Protocol::Peerjs => Vec::new(),
        }
    }

    /// The frames of one message carrying `payload` to `members`.
    pub fn message_frames(self, members: &Members, payload: &str) -> Vec<String> {
        match members {
            Members::Confab(peers) => peers
                .iter()
                .map(|peer| {
                    json!({"type": "signal", "to": peer.to_string(), "data": payload}).to_string()
                })
                .collect(),
            Members::YWebrtc(topic) => {
                vec![json!({"type": "publish", "topic": topic, "data": payload}).to_string()]
            }
            Members::Peerjs(ids) => ids
                .iter()
                .map(|id| json!({"type": "OFFER", "dst": id, "payload": payload}).to_string())
                .collect(),
        }
    }

    /// Reads one text frame from the server.
    pub fn parse(self, text: &str) -> Incoming {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return Incoming::Error(format!("not JSON: {}", abbreviate(text)));
        };
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        let field = |name: &str| value.get(name).and_then(Value::as_str);
        match (self, kind) {
            (Protocol::Confab, "signal") => payload_or_error(field("data"), text),
            (Protocol::Confab, "welcome") => Incoming::Ready,
            (Protocol::Confab, "joined") => {
                let peers = value
                    .get("peers")
                    .and_then(Value::as_array)
                    .map(|peers| {
                        peers
                            .iter()
                            .filter_map(|peer| peer.as_str()?.parse().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                Incoming::Joined(peers)
            }
            // `peer-present`: a member on another node who was there first (scale-out).
            (Protocol::Confab, "peer-joined" | "peer-present" | "peer-left") => {
                match field("peer").and_then(|peer| peer.parse().ok()) {
                    Some(peer) if kind != "peer-left" => Incoming::PeerJoined(peer),
                    Some(peer) => Incoming::PeerLeft(peer),
                    None => Incoming::Error(format!("bad {kind}: {}", abbreviate(text))),
                }
            }
            (Protocol::Confab, "error") => Incoming::Error(abbreviate(text)),
            (Protocol::YWebrtc, "publish") => payload_or_error(field("data"), text),
            (Protocol::YWebrtc, "pong") => Incoming::Ready,
            (Protocol::Peerjs, "OFFER") => payload_or_error(field("payload"), text),
            (Protocol::Peerjs, "OPEN") => Incoming::Ready,
            (Protocol::Peerjs, "ERROR" | "ID-TAKEN" | "EXPIRE" | "LEAVE") => {
                Incoming::Error(abbreviate(text))
            }
            _ => Incoming::Other,
        }
    }
}

impl Payload {
    /// The payload's text: `L:sender:seq:sent_us:` and padding.
    pub fn encode(self) -> String {
        let Payload {
            sender,
            seq,
            sent_us,
        } = self;
        let mut text = format!("L:{sender}:{seq}:{sent_us}:");
        text.extend(std::iter::repeat_n('x', PAYLOAD_PAD));
        text
    }

    pub fn decode(text: &str) -> anyhow::Result<Payload> {
        let mut parts = text.split(':');
        if parts.next() != Some("L") {
            bail!("not a benchmark payload: {}", abbreviate(text));
        }
        let mut number = |what: &str| {
            parts
                .next()
                .with_context(|| format!("payload without {what}"))?
                .parse::<u64>()
                .with_context(|| format!("payload with a bad {what}"))
        };
        let sender = u32::try_from(number("sender")?)?;
        let seq = u32::try_from(number("seq")?)?;
        let sent_us = number("time")?;
        Ok(Payload {
            sender,
            seq,
            sent_us,
        })
    }
}

/// The room id of room `room` in run `run` (runs differ so that a restarted Confab node
/// with a mailbox never mixes them; ids are arbitrary bytes to the server).
pub fn room_id(run: u32, room: usize) -> RoomId {
    let mut bytes = [0x4c; 32];
    bytes[..4].copy_from_slice(&run.to_le_bytes());
    bytes[4..12].copy_from_slice(&(room as u64).to_le_bytes());
    RoomId::from_bytes(bytes)
}

/// y-webrtc's topic for room `room` in run `run`.
pub fn topic(run: u32, room: usize) -> String {
    format!("load-{run}-{room}")
}

/// The id client `idx` connects to PeerJS with.
pub fn peerjs_id(idx: usize) -> String {
    format!("c{idx}")
}

fn payload_or_error(data: Option<&str>, text: &str) -> Incoming {
    match data {
        Some(data) => Incoming::Payload(data.to_owned()),
        None => Incoming::Error(format!("message without data: {}", abbreviate(text))),
    }
}

fn abbreviate(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let payload = Payload {
            sender: 4999,
            seq: 7,
            sent_us: 20_000_123,
        };
        let text = payload.encode();
        assert!(text.len() > PAYLOAD_PAD);
        assert_eq!(Payload::decode(&text).unwrap(), payload);
        assert!(Payload::decode("hello").is_err());
        assert!(Payload::decode("L:1:2").is_err());
    }

    #[test]
    fn each_protocol_reads_its_delivery_frame() {
        let text = Payload {
            sender: 1,
            seq: 2,
            sent_us: 3,
        }
        .encode();
        let confab = json!({"type": "signal", "from": "0000000000000005", "data": text});
        let y_webrtc = json!({"type": "publish", "topic": "t", "data": text, "clients": 5});
        let peerjs = json!({"type": "OFFER", "src": "c1", "dst": "c2", "payload": text});
        for (protocol, frame) in [
            (Protocol::Confab, confab),
            (Protocol::YWebrtc, y_webrtc),
            (Protocol::Peerjs, peerjs),
        ] {
            assert_eq!(
                protocol.parse(&frame.to_string()),
                Incoming::Payload(text.clone()),
                "{protocol}"
            );
        }
        let joined = json!({"type": "joined", "room": room_id(0, 1).to_string(),
            "peers": ["0000000000000005", "000000000000000a"]});
        assert_eq!(
            Protocol::Confab.parse(&joined.to_string()),
            Incoming::Joined(vec![PeerId::new(5), PeerId::new(10)])
        );
    }

    #[test]
    fn confab_members_come_from_peer_joined_and_peer_present_and_go_with_peer_left() {
        use confab_core::signal::ServerMessage;
        let (room, peer) = (room_id(0, 1), PeerId::new(7));
        for (message, expected) in [
            (
                ServerMessage::PeerJoined { room, peer },
                Incoming::PeerJoined(peer),
            ),
            (
                ServerMessage::PeerPresent { room, peer },
                Incoming::PeerJoined(peer),
            ),
            (
                ServerMessage::PeerLeft { room, peer },
                Incoming::PeerLeft(peer),
            ),
        ] {
            let text = serde_json::to_string(&message).unwrap();
            assert_eq!(Protocol::Confab.parse(&text), expected, "{text}");
        }
    }

    #[test]
    fn one_message_is_one_frame_per_member_or_one_publish() {
        let peers = Members::Confab(vec![PeerId::new(1), PeerId::new(2), PeerId::new(3)]);
        assert_eq!(Protocol::Confab.message_frames(&peers, "p").len(), 3);
        let ids = Members::Peerjs(vec!["c1".into(), "c2".into()]);
        assert_eq!(Protocol::Peerjs.message_frames(&ids, "p").len(), 2);
        let topic = Members::YWebrtc("t".into());
        assert_eq!(Protocol::YWebrtc.message_frames(&topic, "p").len(), 1);
    }
}
