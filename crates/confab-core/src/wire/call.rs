//! Call signalling: [`CallMessage`], the JSON carried in a session's `Body::Call`, and
//! [`fingerprints`], the reader of a session description's `a=fingerprint` lines.
//!
//! The encoding is the one Confab has always sent (unversioned JSON, tagged by `"t"`):
//! `{"t":"invite","call":7,"video":true}`. Older clients read what this one sends and the
//! other way round; the golden strings in the tests pin it.

use serde::{Deserialize, Serialize};

use crate::ids::CallId;

/// Longest call message taken (an SDP with many candidates stays far below it).
pub const MAX_CALL_MESSAGE_LEN: usize = 64 * 1024;

/// One call signalling message, inside the peer's Noise session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CallMessage {
    /// The DTLS fingerprints of the sender's end of the direct link (see [`fingerprints`]).
    Dtls {
        /// As the sender's local description declares them.
        fingerprints: Vec<String>,
    },
    /// Ringing: join call `call`.
    Invite {
        /// The call.
        call: CallId,
        /// With video.
        video: bool,
    },
    /// The sender is in call `call` (it accepted, or it answers someone who did).
    Join {
        /// The call.
        call: CallId,
    },
    /// The sender will not join.
    Decline {
        /// The call.
        call: CallId,
    },
    /// The sender left (or stopped ringing).
    Leave {
        /// The call.
        call: CallId,
    },
    /// A renegotiation offer for the sender's media.
    Offer {
        /// The call.
        call: CallId,
        /// The session description.
        sdp: String,
    },
    /// The answer to an [`CallMessage::Offer`].
    Answer {
        /// The call.
        call: CallId,
        /// The session description.
        sdp: String,
    },
    /// The sender's microphone, camera and screen.
    State {
        /// The call.
        call: CallId,
        /// Microphone off.
        muted: bool,
        /// Camera off.
        camera_off: bool,
        /// Sharing the screen.
        sharing: bool,
    },
}

/// A call message that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallDecodeError {
    /// Longer than [`MAX_CALL_MESSAGE_LEN`].
    #[error("call message of {0} bytes is too long")]
    TooLong(usize),
    /// Not a call message (the JSON error, for logs).
    #[error("unreadable call message: {0}")]
    Unreadable(String),
}

impl CallMessage {
    /// The bytes for `Client::send_call`.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing this enum cannot fail: strings, integers and booleans only.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a message a peer sent.
    pub fn decode(bytes: &[u8]) -> Result<CallMessage, CallDecodeError> {
        if bytes.len() > MAX_CALL_MESSAGE_LEN {
            return Err(CallDecodeError::TooLong(bytes.len()));
        }
        serde_json::from_slice(bytes)
            .map_err(|error| CallDecodeError::Unreadable(error.to_string()))
    }
}

/// The DTLS certificate fingerprints a session description declares (`a=fingerprint:`
/// lines, upper-cased: `"SHA-256 AB:CD:.."`), in order, a repeat of the line before it
/// (one per bundled media section) counted once.
pub fn fingerprints(sdp: &str) -> Vec<String> {
    let mut found: Vec<String> = sdp
        .lines()
        .filter_map(|line| line.trim().strip_prefix("a=fingerprint:"))
        .map(|value| value.trim().to_ascii_uppercase())
        .collect();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_the_json_older_clients_send() {
        let call = CallId::new(7);
        let cases = [
            (
                CallMessage::Dtls {
                    fingerprints: vec!["SHA-256 AB:CD".into()],
                },
                r#"{"t":"dtls","fingerprints":["SHA-256 AB:CD"]}"#,
            ),
            (
                CallMessage::Invite { call, video: true },
                r#"{"t":"invite","call":7,"video":true}"#,
            ),
            (CallMessage::Join { call }, r#"{"t":"join","call":7}"#),
            (CallMessage::Decline { call }, r#"{"t":"decline","call":7}"#),
            (CallMessage::Leave { call }, r#"{"t":"leave","call":7}"#),
            (
                CallMessage::Offer {
                    call,
                    sdp: "v=0".into(),
                },
                r#"{"t":"offer","call":7,"sdp":"v=0"}"#,
            ),
            (
                CallMessage::Answer {
                    call,
                    sdp: "v=0".into(),
                },
                r#"{"t":"answer","call":7,"sdp":"v=0"}"#,
            ),
            (
                CallMessage::State {
                    call: CallId::new(u64::MAX),
                    muted: true,
                    camera_off: false,
                    sharing: true,
                },
                r#"{"t":"state","call":18446744073709551615,"muted":true,"camera_off":false,"sharing":true}"#,
            ),
        ];
        for (message, json) in cases {
            assert_eq!(String::from_utf8(message.encode()).unwrap(), json);
            assert_eq!(CallMessage::decode(json.as_bytes()).unwrap(), message);
        }
    }

    #[test]
    fn unreadable_messages_are_refused() {
        for bad in [
            &b"{\"t\":\"ring\",\"call\":1}"[..],
            b"{\"t\":\"join\"}",
            b"{\"t\":\"join\",\"call\":-1}",
            b"not json",
        ] {
            assert!(matches!(
                CallMessage::decode(bad),
                Err(CallDecodeError::Unreadable(_))
            ));
        }
        let long = vec![b' '; MAX_CALL_MESSAGE_LEN + 1];
        assert_eq!(
            CallMessage::decode(&long),
            Err(CallDecodeError::TooLong(MAX_CALL_MESSAGE_LEN + 1))
        );
    }

    #[test]
    fn fingerprints_are_read_from_every_media_section_once() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:sha-256 ab:CD:01\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AB:CD:01\r\n";
        assert_eq!(fingerprints(sdp), ["SHA-256 AB:CD:01"]);
        assert!(fingerprints("v=0\r\n").is_empty());
        let two = "a=fingerprint:sha-256 01\r\na=fingerprint:sha-1 02\r\n";
        assert_eq!(fingerprints(two), ["SHA-256 01", "SHA-1 02"]);
    }
}
