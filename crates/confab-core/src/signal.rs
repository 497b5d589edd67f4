//! The signalling protocol between the app and `confab-server`: JSON text frames over one
//! WebSocket. The server introduces peers of a room (known to it only by [`RoomId`]) and
//! forwards opaque SDP/ICE strings; it never sees room secrets or chat content.
//!
//! Binary WebSocket frames carry relay envelopes ([`crate::wire::relay`]).

use serde::{Deserialize, Serialize};

use crate::ids::{PeerId, RoomId};

/// Largest signalling text frame the server accepts (SDP with many candidates fits).
pub const MAX_SIGNAL_LEN: usize = 16 * 1024;

/// App to server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Enter a room: the server answers `Joined` and tells the others `PeerJoined`.
    Join {
        /// Which room.
        room: RoomId,
    },
    /// Leave a room.
    Leave {
        /// Which room.
        room: RoomId,
    },
    /// Forward an opaque WebRTC signal (SDP or ICE candidate, JSON-encoded) to a peer that
    /// shares a room with us.
    Signal {
        /// Recipient.
        to: PeerId,
        /// Opaque to the server.
        data: String,
    },
}

/// Server to app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// First frame on a connection.
    Welcome {
        /// Our id for this connection.
        peer: PeerId,
        /// ICE servers the operator configured (empty on loopback).
        ice_servers: Vec<IceServer>,
        /// Relayed bytes per second this connection may send (whole binary messages,
        /// header included); envelopes beyond it are dropped with `relay-cap`. 0: unknown
        /// (a server from before the cap).
        #[serde(default)]
        relay_bytes_per_sec: u64,
        /// Relayed bytes this connection may send at once, above the sustained rate.
        /// 0: unknown.
        #[serde(default)]
        relay_burst_bytes: u64,
    },
    /// We are in the room; these peers were already there.
    Joined {
        /// The room.
        room: RoomId,
        /// Members before us.
        peers: Vec<PeerId>,
    },
    /// Someone entered a room we are in.
    PeerJoined {
        /// The room.
        room: RoomId,
        /// Newcomer.
        peer: PeerId,
    },
    /// Someone left a room we are in (or their connection closed).
    PeerLeft {
        /// The room.
        room: RoomId,
        /// Who.
        peer: PeerId,
    },
    /// A forwarded WebRTC signal.
    Signal {
        /// Sender.
        from: PeerId,
        /// Opaque.
        data: String,
    },
    /// A request was refused; the connection stays open unless it is abusive.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

/// One STUN or TURN server, in `RTCIceServer` shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:` / `turn:` / `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Why the server refused something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not valid JSON or not a known message.
    BadRequest,
    /// Frame larger than allowed.
    TooLarge,
    /// Sending faster than allowed.
    RateLimited,
    /// Too many rooms on one connection.
    TooManyRooms,
    /// The room is full.
    RoomFull,
    /// The named peer is not in any room with us.
    UnknownPeer,
    /// The relay envelope was malformed.
    BadEnvelope,
    /// Relaying faster than the byte cap stated in `Welcome`: the envelope was dropped
    /// (sent at most once a second; later drops are silent). The connection stays open.
    RelayCap,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_stable_json_shape() {
        let join = ClientMessage::Join {
            room: RoomId::from_bytes([1; 32]),
        };
        let json = serde_json::to_string(&join).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"type":"join","room":"{}"}}"#, "01".repeat(32))
        );
        assert_eq!(serde_json::from_str::<ClientMessage>(&json).unwrap(), join);
        let welcome = ServerMessage::Welcome {
            peer: PeerId::new(5),
            ice_servers: vec![],
            relay_bytes_per_sec: 2_097_152,
            relay_burst_bytes: 8_388_608,
        };
        let json = serde_json::to_string(&welcome).unwrap();
        assert_eq!(
            json,
            r#"{"type":"welcome","peer":"0000000000000005","ice_servers":[],"relay_bytes_per_sec":2097152,"relay_burst_bytes":8388608}"#
        );
        assert_eq!(
            serde_json::from_str::<ServerMessage>(&json).unwrap(),
            welcome
        );
        // A welcome from a server before the relay cap: the cap is unknown (0).
        let old = r#"{"type":"welcome","peer":"0000000000000005","ice_servers":[]}"#;
        assert_eq!(
            serde_json::from_str::<ServerMessage>(old).unwrap(),
            ServerMessage::Welcome {
                peer: PeerId::new(5),
                ice_servers: vec![],
                relay_bytes_per_sec: 0,
                relay_burst_bytes: 0,
            }
        );
        let error = ServerMessage::Error {
            code: ErrorCode::TooManyRooms,
            message: "x".into(),
        };
        assert!(
            serde_json::to_string(&error)
                .unwrap()
                .contains(r#""code":"too-many-rooms""#)
        );
        let relay_cap = ServerMessage::Error {
            code: ErrorCode::RelayCap,
            message: "x".into(),
        };
        assert!(
            serde_json::to_string(&relay_cap)
                .unwrap()
                .contains(r#""code":"relay-cap""#)
        );
    }

    #[test]
    fn unknown_or_malformed_messages_are_errors_not_panics() {
        for bad in [
            r#"{"type":"nope"}"#,
            r#"{"type":"join","room":"zz"}"#,
            "[]",
            "",
            r#"{"type":"join","room":"00","x":1}"#,
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }
}
