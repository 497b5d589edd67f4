//! The signalling protocol between the app and `confab-server`: JSON text frames over one
//! WebSocket. The server introduces peers of a room (known to it only by [`RoomId`]) and
//! forwards opaque strings between them: WebRTC signals (SDP, ICE candidates) sealed by
//! [`SignalSeal`] for one member from another, so the server reads no SDP, address or
//! DTLS fingerprint; it never sees room secrets or chat content.
//!
//! Binary WebSocket frames carry relay envelopes ([`crate::wire::relay`]).
//!
//! The offline mailbox ([`crate::mailbox`]) is three requests, `mailbox-put`,
//! `mailbox-fetch` and `mailbox-ack`, answered by a [`MailboxReply`] (or an `error`), and
//! one notice, `mailbox-new` (another connection deposited into a room we are in), also a
//! [`MailboxReply`]. The mailbox's frames are a separate enum so that matches on
//! [`ServerMessage`] stay exhaustive for clients that do not use the mailbox yet;
//! [`ServerFrame`] reads either.
//!
//! **Order.** The server answers a connection's requests in the order it sent them: each
//! `mailbox-put` with `mailbox-stored` or an `error`, `join` with `joined` or an `error`,
//! any request it refuses (`rate-limited`, `bad-request`, ...) with an `error` in its
//! place; requests that succeed silently (`leave`, `signal`, `mailbox-ack`, relay
//! envelopes) take no place. One connection's deposits are stored in that order too (their
//! sequence numbers increase). What is not an answer (`peer-joined`, `peer-left`, a
//! forwarded `signal` or relay envelope, `mailbox-new`) may come between, also before the
//! answer to an earlier request: the server forwards while a deposit waits for its store.
//! A `mailbox-fetch` sees the deposits answered before it was read, not necessarily those
//! of the same connection still waiting.

use serde::{Deserialize, Serialize};

use crate::ids::{PeerId, RoomId};
use crate::mailbox::{DepositKey, DepositProof, MAX_ENTRY_LEN, SealedEntry};

mod push;
mod seal;

pub use push::{
    AUTH_LEN, MAX_ENDPOINT_LEN, MAX_TAG_LEN, P256DH_LEN, PushSubscription, PushSubscriptionError,
};
pub use seal::{MAX_SENDERS, REPLAY_WINDOW, SignalRefusal, SignalSeal, SignalTooLong};

/// Largest signalling text frame the server accepts (SDP with many candidates fits).
/// Only `mailbox-put` may be longer, up to [`MAX_MAILBOX_PUT_LEN`].
pub const MAX_SIGNAL_LEN: usize = 16 * 1024;
/// Largest `mailbox-put` text frame: one largest entry in base64 plus the other fields.
pub const MAX_MAILBOX_PUT_LEN: usize = MAX_ENTRY_LEN.div_ceil(3) * 4 + 512;

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
    /// Forward an opaque signal to a peer that shares a room with us. Confab's clients send
    /// a WebRTC signal sealed by [`SignalSeal`] (unpadded URL-safe base64).
    Signal {
        /// Recipient.
        to: PeerId,
        /// Opaque to the server.
        data: String,
    },
    /// Deposit a sealed entry in a room's mailbox. The first deposit into a room binds its
    /// deposit key (trust on first use); later ones must carry the same key. Answered
    /// `mailbox-stored`, or `mailbox-full` / `mailbox-denied` / `rate-limited`.
    MailboxPut {
        /// Which room's mailbox.
        room: RoomId,
        /// The sealed entry (unpadded URL-safe base64).
        entry: SealedEntry,
        /// The room's deposit public key.
        key: DepositKey,
        /// The deposit key's put proof for (room, our peer id, entry).
        proof: DepositProof,
    },
    /// Read a room's mailbox: entries with a sequence number above `after` (and above what
    /// this connection acknowledged), oldest first, one page. Answered `mailbox-entries`.
    MailboxFetch {
        /// Which room's mailbox.
        room: RoomId,
        /// The last sequence number already held (0: from the start).
        after: MailboxSeq,
        /// The deposit key's access proof for (room, our peer id).
        proof: DepositProof,
    },
    /// "This connection holds everything up to `up_to`": later fetches on this connection
    /// start after it. No reply unless refused. Entries are not deleted by it (they expire).
    MailboxAck {
        /// Which room's mailbox.
        room: RoomId,
        /// The highest sequence number held.
        up_to: MailboxSeq,
        /// The deposit key's access proof for (room, our peer id).
        proof: DepositProof,
    },
    /// Asks for a Web Push to `subscription` whenever someone else deposits into `room`'s
    /// mailbox: a push with no content but the subscription's tag. Registering the same
    /// endpoint for the room again replaces it. No reply unless refused: then
    /// [`ServerMessage::PushRefused`] (`push-unavailable`, `mailbox-denied`, `bad-request`,
    /// `rate-limited`), never an `error`, which could be taken for the answer to a mailbox
    /// request in flight.
    PushSubscribe {
        /// Which room's mailbox.
        room: RoomId,
        /// Where to push, with which keys and tag.
        subscription: PushSubscription,
        /// The room's deposit public key (bound to the room's mailbox, if it has entries).
        key: DepositKey,
        /// The deposit key's access proof for (room, our peer id).
        proof: DepositProof,
    },
    /// Stops pushes for `room` to `endpoint`. No reply unless refused
    /// ([`ServerMessage::PushRefused`]).
    PushUnsubscribe {
        /// Which room.
        room: RoomId,
        /// The subscription's endpoint URL.
        endpoint: String,
        /// The room's deposit public key.
        key: DepositKey,
        /// The deposit key's access proof for (room, our peer id).
        proof: DepositProof,
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
        /// Mailbox deposits this connection may make a minute (also the most at once);
        /// beyond it they are refused `rate-limited`. 0: unknown (a server from before
        /// it said so; its default was 120).
        #[serde(default)]
        mailbox_puts_per_minute: u32,
        /// The server's VAPID public key (RFC 8292; an uncompressed P-256 point, unpadded
        /// base64url), the `applicationServerKey` for `pushManager.subscribe`. Absent: this
        /// server sends no Web Push (turned off, or from before it could).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        push_key: Option<String>,
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
    /// A member who was in the room before us, learned of after our `Joined` (in a cluster,
    /// from another node): we are the newcomer to them, as if they had been in `Joined`'s
    /// list. Every pair of members hears of each other once as `Joined`/`PeerPresent` on
    /// one side (the newcomer, who connects) and `PeerJoined` on the other.
    PeerPresent {
        /// The room.
        room: RoomId,
        /// The earlier member.
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
    /// A `push-subscribe` or `push-unsubscribe` for `room` was refused. Its own message, not
    /// an `error`: mailbox requests are answered in order, and an `error` in their place
    /// reads as the answer to the oldest one in flight.
    PushRefused {
        /// The room the request named.
        room: RoomId,
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
    /// A request was refused; the connection stays open unless it is abusive.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

/// Server to app: answers to mailbox requests, and the notice of a new deposit. A separate
/// enum from [`ServerMessage`] (see the module docs); the `type` tags do not overlap, so
/// [`ServerFrame`] tells them apart. A client that does not know a tag (an older one) logs
/// the frame as unreadable and goes on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum MailboxReply {
    /// One page of a room's mailbox, in sequence order.
    MailboxEntries {
        /// The room.
        room: RoomId,
        /// Entries after the cursor, oldest first.
        entries: Vec<MailboxItem>,
        /// More entries follow: fetch again after the last one's `seq`.
        more: bool,
    },
    /// A deposit was stored under `seq`.
    MailboxStored {
        /// The room.
        room: RoomId,
        /// Its sequence number.
        seq: MailboxSeq,
    },
    /// Not an answer: another connection (on this node or another) deposited into `room`,
    /// which we joined, under `seq`. Fetch from the cursor to read it. Never sent to the
    /// depositor, nor for a room we did not join; at most one per deposit, and none is
    /// resent after a reconnect (the fetch after `joined` covers that).
    MailboxNew {
        /// The room.
        room: RoomId,
        /// The new entry's sequence number.
        seq: MailboxSeq,
    },
}

/// One stored entry as fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxItem {
    /// The server's sequence number for it.
    pub seq: MailboxSeq,
    /// The sealed entry as deposited.
    pub entry: SealedEntry,
}

/// A mailbox entry's sequence number on the server: increasing in deposit order across the
/// whole server (not per room, so a cursor stays valid even after a room's mailbox empties
/// and fills again). A JSON number.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MailboxSeq(u64);

/// Any server text frame: a [`ServerMessage`] or a [`MailboxReply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServerFrame {
    /// Signalling.
    Server(ServerMessage),
    /// The mailbox.
    Mailbox(MailboxReply),
}

impl MailboxSeq {
    /// Wraps a raw sequence number.
    pub const fn new(raw: u64) -> MailboxSeq {
        MailboxSeq(raw)
    }

    /// The raw number.
    pub const fn to_u64(self) -> u64 {
        self.0
    }
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
    /// Relaying faster than the byte cap stated in `Welcome`, or than the recipient reads
    /// (its queue on the server is full): the envelope or signal was dropped (sent at most
    /// once a second; later drops are silent). The connection stays open.
    RelayCap,
    /// The room's mailbox (or the server's, or this connection's deposit allowance) is
    /// full: the entry was refused; the stored ones are kept.
    MailboxFull,
    /// The deposit key or proof does not match the one bound to the room's mailbox.
    MailboxDenied,
    /// The server's mailbox store is not available (disabled or failing).
    MailboxUnavailable,
    /// This server sends no Web Push (`--no-push`, or its keys could not be loaded).
    PushUnavailable,
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
            mailbox_puts_per_minute: 120,
            push_key: None,
        };
        let json = serde_json::to_string(&welcome).unwrap();
        assert_eq!(
            json,
            r#"{"type":"welcome","peer":"0000000000000005","ice_servers":[],"relay_bytes_per_sec":2097152,"relay_burst_bytes":8388608,"mailbox_puts_per_minute":120}"#
        );
        assert_eq!(
            serde_json::from_str::<ServerMessage>(&json).unwrap(),
            welcome
        );
        // A welcome from a server before the relay cap and the deposit allowance: both
        // are unknown (0).
        let old = r#"{"type":"welcome","peer":"0000000000000005","ice_servers":[]}"#;
        assert_eq!(
            serde_json::from_str::<ServerMessage>(old).unwrap(),
            ServerMessage::Welcome {
                peer: PeerId::new(5),
                ice_servers: vec![],
                relay_bytes_per_sec: 0,
                relay_burst_bytes: 0,
                mailbox_puts_per_minute: 0,
                push_key: None,
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
    fn mailbox_messages_have_a_stable_json_shape() {
        let keys = crate::RoomSecret::from_bytes([3; 32]).mailbox_keys();
        let room = keys.room();
        let peer = PeerId::new(5);
        let entry = keys.seal([1; 24], b"sealed").unwrap();
        let entry_text = String::from(entry.clone());
        let key_text = String::from(keys.deposit_key());
        let put = ClientMessage::MailboxPut {
            room,
            entry: entry.clone(),
            key: keys.deposit_key(),
            proof: keys.prove_put(peer, &entry),
        };
        let json = serde_json::to_string(&put).unwrap();
        let proof_text = String::from(keys.prove_put(peer, &entry));
        assert_eq!(
            json,
            format!(
                r#"{{"type":"mailbox-put","room":"{room}","entry":"{entry_text}","key":"{key_text}","proof":"{proof_text}"}}"#
            )
        );
        assert!(json.len() < MAX_SIGNAL_LEN);
        assert_eq!(serde_json::from_str::<ClientMessage>(&json).unwrap(), put);

        let access = String::from(keys.prove_access(peer));
        for (message, expected) in [
            (
                ClientMessage::MailboxFetch {
                    room,
                    after: MailboxSeq::new(7),
                    proof: keys.prove_access(peer),
                },
                format!(
                    r#"{{"type":"mailbox-fetch","room":"{room}","after":7,"proof":"{access}"}}"#
                ),
            ),
            (
                ClientMessage::MailboxAck {
                    room,
                    up_to: MailboxSeq::new(9),
                    proof: keys.prove_access(peer),
                },
                format!(r#"{{"type":"mailbox-ack","room":"{room}","up_to":9,"proof":"{access}"}}"#),
            ),
        ] {
            assert_eq!(serde_json::to_string(&message).unwrap(), expected);
            assert_eq!(
                serde_json::from_str::<ClientMessage>(&expected).unwrap(),
                message
            );
        }

        let entries = ServerFrame::Mailbox(MailboxReply::MailboxEntries {
            room,
            entries: vec![MailboxItem {
                seq: MailboxSeq::new(3),
                entry: entry.clone(),
            }],
            more: true,
        });
        let json = serde_json::to_string(&entries).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"type":"mailbox-entries","room":"{room}","entries":[{{"seq":3,"entry":"{entry_text}"}}],"more":true}}"#
            )
        );
        assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), entries);
        let stored = r#"{"type":"mailbox-stored","room":"0303030303030303030303030303030303030303030303030303030303030303","seq":12}"#;
        assert_eq!(
            serde_json::from_str::<ServerFrame>(stored).unwrap(),
            ServerFrame::Mailbox(MailboxReply::MailboxStored {
                room: RoomId::from_bytes([3; 32]),
                seq: MailboxSeq::new(12),
            })
        );
        let new = ServerFrame::Mailbox(MailboxReply::MailboxNew {
            room,
            seq: MailboxSeq::new(13),
        });
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"type":"mailbox-new","room":"{room}","seq":13}}"#)
        );
        assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), new);
        // Signalling still reads as before, through either type.
        let joined = r#"{"type":"joined","room":"0303030303030303030303030303030303030303030303030303030303030303","peers":[]}"#;
        assert!(matches!(
            serde_json::from_str::<ServerFrame>(joined).unwrap(),
            ServerFrame::Server(ServerMessage::Joined { .. })
        ));
        assert!(serde_json::from_str::<ServerMessage>(stored).is_err());

        for (code, text) in [
            (ErrorCode::MailboxFull, "mailbox-full"),
            (ErrorCode::MailboxDenied, "mailbox-denied"),
            (ErrorCode::MailboxUnavailable, "mailbox-unavailable"),
        ] {
            let error = ServerMessage::Error {
                code,
                message: "x".into(),
            };
            let json = serde_json::to_string(&error).unwrap();
            assert!(json.contains(&format!(r#""code":"{text}""#)), "{json}");
            assert_eq!(serde_json::from_str::<ServerMessage>(&json).unwrap(), error);
        }
    }

    #[test]
    fn malformed_mailbox_requests_are_errors_not_panics() {
        let keys = crate::RoomSecret::from_bytes([3; 32]).mailbox_keys();
        let room = keys.room();
        let entry = String::from(keys.seal([1; 24], b"x").unwrap());
        let key = String::from(keys.deposit_key());
        let proof = String::from(keys.prove_access(PeerId::new(1)));
        let good = format!(
            r#"{{"type":"mailbox-put","room":"{room}","entry":"{entry}","key":"{key}","proof":"{proof}"}}"#
        );
        assert!(serde_json::from_str::<ClientMessage>(&good).is_ok());
        for bad in [
            good.replace(&entry, "not base64!"),
            good.replace(&entry, "AQID"),
            good.replace(&key, "AAAA"),
            good.replace(&proof, &proof[..80]),
            good.replace(r#","proof""#, r#","x":1,"proof""#),
            good.replace(&format!(r#","proof":"{proof}""#), ""),
            format!(r#"{{"type":"mailbox-fetch","room":"{room}","after":-1,"proof":"{proof}"}}"#),
            format!(r#"{{"type":"mailbox-fetch","room":"{room}","after":"1","proof":"{proof}"}}"#),
            format!(r#"{{"type":"mailbox-ack","room":"{room}","up_to":1}}"#),
        ] {
            assert!(
                serde_json::from_str::<ClientMessage>(&bad).is_err(),
                "{bad}"
            );
        }
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
