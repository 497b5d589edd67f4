//! A browser's Web Push subscription as the app registers it with the server
//! (`push-subscribe`): the push service's endpoint URL, the subscription's public keys
//! (RFC 8291: `p256dh`, `auth`) and the opaque tag the app chose for the room.
//!
//! Only shapes are checked here (lengths, base64url, a P-256 point's uncompressed form);
//! the server decides which endpoints it will call (https only, no private addresses).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Longest endpoint URL accepted (push services' URLs are a few hundred bytes).
pub const MAX_ENDPOINT_LEN: usize = 1024;
/// Longest tag accepted, in characters of the URL-safe base64 alphabet.
pub const MAX_TAG_LEN: usize = 64;
/// Length of the subscription's public key: an uncompressed P-256 point.
pub const P256DH_LEN: usize = 65;
/// Length of the subscription's authentication secret.
pub const AUTH_LEN: usize = 16;

/// A push subscription for one room: where to push, with which keys, and the tag the push
/// carries (chosen by the app, random per subscription and room, so the push service and
/// the server learn nothing linkable from it). Checked on construction.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSubscription", into = "RawSubscription")]
pub struct PushSubscription {
    endpoint: String,
    p256dh: [u8; P256DH_LEN],
    auth: [u8; AUTH_LEN],
    tag: String,
}

/// Why a push subscription was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushSubscriptionError {
    /// The endpoint is empty, too long or not an http(s) URL.
    #[error("the endpoint must be an https URL of at most {MAX_ENDPOINT_LEN} bytes")]
    Endpoint,
    /// `p256dh` is not a 65-byte uncompressed P-256 point in base64url.
    #[error("p256dh must be an uncompressed P-256 point (65 bytes, base64url)")]
    P256dh,
    /// `auth` is not 16 bytes in base64url.
    #[error("auth must be 16 bytes in base64url")]
    Auth,
    /// The tag is empty, too long or outside the URL-safe base64 alphabet.
    #[error("the tag must be 1 to {MAX_TAG_LEN} characters of A-Z a-z 0-9 - _")]
    Tag,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    endpoint: String,
    p256dh: String,
    auth: String,
    tag: String,
}

impl PushSubscription {
    /// Checks and wraps a subscription's parts.
    pub fn new(
        endpoint: String,
        p256dh: [u8; P256DH_LEN],
        auth: [u8; AUTH_LEN],
        tag: String,
    ) -> Result<PushSubscription, PushSubscriptionError> {
        let is_url = endpoint.starts_with("https://") || endpoint.starts_with("http://");
        if endpoint.len() > MAX_ENDPOINT_LEN || !is_url || endpoint.chars().any(char::is_control) {
            return Err(PushSubscriptionError::Endpoint);
        }
        // SEC1 uncompressed form; whether it is on the curve is the server's to check.
        if p256dh[0] != 4 {
            return Err(PushSubscriptionError::P256dh);
        }
        let is_tag_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if tag.is_empty() || tag.len() > MAX_TAG_LEN || !tag.chars().all(is_tag_char) {
            return Err(PushSubscriptionError::Tag);
        }
        Ok(PushSubscription {
            endpoint,
            p256dh,
            auth,
            tag,
        })
    }

    /// The push service's URL for this subscription.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The subscription's public key (uncompressed P-256).
    pub fn p256dh(&self) -> &[u8; P256DH_LEN] {
        &self.p256dh
    }

    /// The subscription's authentication secret.
    pub fn auth(&self) -> &[u8; AUTH_LEN] {
        &self.auth
    }

    /// The opaque tag every push to this subscription carries.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

// The endpoint URL is a capability (whoever holds it can push to the browser) and the
// tag names a room to the app: neither goes to logs.
impl std::fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let PushSubscription {
            endpoint,
            p256dh: _,
            auth: _,
            tag: _,
        } = self;
        let host = endpoint
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        f.debug_struct("PushSubscription")
            .field("host", &host)
            .finish_non_exhaustive()
    }
}

impl TryFrom<RawSubscription> for PushSubscription {
    type Error = PushSubscriptionError;

    fn try_from(raw: RawSubscription) -> Result<PushSubscription, PushSubscriptionError> {
        let p256dh = decode_array(&raw.p256dh).ok_or(PushSubscriptionError::P256dh)?;
        let auth = decode_array(&raw.auth).ok_or(PushSubscriptionError::Auth)?;
        PushSubscription::new(raw.endpoint, p256dh, auth, raw.tag)
    }
}

impl From<PushSubscription> for RawSubscription {
    fn from(subscription: PushSubscription) -> RawSubscription {
        RawSubscription {
            endpoint: subscription.endpoint,
            p256dh: URL_SAFE_NO_PAD.encode(subscription.p256dh),
            auth: URL_SAFE_NO_PAD.encode(subscription.auth),
            tag: subscription.tag,
        }
    }
}

/// Browsers hand out keys as unpadded base64url (`PushSubscription.toJSON()`); padding is
/// accepted too.
fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(endpoint: &str, p256dh: &str, auth: &str, tag: &str) -> String {
        format!(r#"{{"endpoint":"{endpoint}","p256dh":"{p256dh}","auth":"{auth}","tag":"{tag}"}}"#)
    }

    #[test]
    fn subscriptions_round_trip_and_bad_parts_are_refused() {
        let point = URL_SAFE_NO_PAD.encode([4; P256DH_LEN]);
        let auth = URL_SAFE_NO_PAD.encode([7; AUTH_LEN]);
        let good = raw("https://push.example/abc", &point, &auth, "aZ09-_");
        let parsed: PushSubscription = serde_json::from_str(&good).unwrap();
        assert_eq!(parsed.endpoint(), "https://push.example/abc");
        assert_eq!(parsed.auth(), &[7; AUTH_LEN]);
        assert_eq!(serde_json::to_string(&parsed).unwrap(), good);
        assert_eq!(
            format!("{parsed:?}"),
            r#"PushSubscription { host: "push.example", .. }"#
        );
        let padded = raw("https://push.example/abc", &format!("{point}="), &auth, "t");
        assert!(serde_json::from_str::<PushSubscription>(&padded).is_ok());

        let compressed = URL_SAFE_NO_PAD.encode([[2].as_slice(), &[4; 64]].concat());
        for bad in [
            raw("ftp://push.example/abc", &point, &auth, "t"),
            raw(
                &format!("https://{}", "a".repeat(MAX_ENDPOINT_LEN)),
                &point,
                &auth,
                "t",
            ),
            raw("https://push.example/\\u0000", &point, &auth, "t"),
            raw("https://push.example/abc", &compressed, &auth, "t"),
            raw("https://push.example/abc", &point[..20], &auth, "t"),
            raw(
                "https://push.example/abc",
                &point,
                &URL_SAFE_NO_PAD.encode([1; 15]),
                "t",
            ),
            raw("https://push.example/abc", &point, "not base64!", "t"),
            raw("https://push.example/abc", &point, &auth, ""),
            raw("https://push.example/abc", &point, &auth, "a/b"),
            raw(
                "https://push.example/abc",
                &point,
                &auth,
                &"t".repeat(MAX_TAG_LEN + 1),
            ),
            good.replace(r#","tag""#, r#","x":1,"tag""#),
        ] {
            assert!(
                serde_json::from_str::<PushSubscription>(&bad).is_err(),
                "{bad}"
            );
        }
    }
}
