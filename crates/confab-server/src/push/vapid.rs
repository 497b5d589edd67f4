//! The server's VAPID identity (RFC 8292): a P-256 key generated on first start and kept in
//! `--data-dir` (`vapid.key`, 32 raw bytes, readable by the owner only), and the signed JWT
//! every push carries, so a push service accepts pushes to a subscription only from the
//! server whose public key the browser subscribed with.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::SecretKey;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;

/// The key file's name in `--data-dir`.
pub(crate) const KEY_FILE: &str = "vapid.key";
/// How long a JWT is valid (RFC 8292 allows at most 24 hours).
pub(crate) const JWT_LIFETIME_SECS: u64 = 12 * 3600;

/// The server's VAPID key. Secret: no `Debug`.
pub(crate) struct Vapid {
    signing: SigningKey,
    /// The public key, uncompressed, unpadded base64url (the welcome's `push_key`).
    public: String,
    /// The JWT's `sub` (`--push-contact`), if set.
    contact: Option<String>,
}

impl Vapid {
    /// Reads the key from `dir`, or generates one (from `random`) and writes it there first.
    pub(crate) fn load_or_create(
        dir: &Path,
        contact: Option<String>,
        random: impl FnMut() -> [u8; 32],
    ) -> std::io::Result<Vapid> {
        let path = dir.join(KEY_FILE);
        let secret = match std::fs::read(&path) {
            Ok(bytes) => SecretKey::from_slice(&bytes).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a P-256 private key", path.display()),
                )
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let secret = new_secret(random);
                std::fs::create_dir_all(dir)?;
                write_private(dir, &path, &secret.to_bytes())?;
                secret
            }
            Err(err) => return Err(err),
        };
        Ok(Vapid::from_secret(&secret, contact))
    }

    fn from_secret(secret: &SecretKey, contact: Option<String>) -> Vapid {
        let public = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        Vapid {
            signing: SigningKey::from(secret),
            public,
            contact,
        }
    }

    /// The public key as browsers take it (`applicationServerKey`).
    pub(crate) fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `origin` (`scheme://host[:port]` of the
    /// endpoint) at `now_unix` seconds.
    pub(crate) fn authorization(&self, origin: &str, now_unix: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let mut claims = serde_json::json!({
            "aud": origin,
            "exp": now_unix + JWT_LIFETIME_SECS,
        });
        if let Some(contact) = &self.contact {
            claims["sub"] = serde_json::Value::String(contact.clone());
        }
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("vapid t={signing_input}.{signature}, k={}", self.public)
    }
}

/// A random scalar in [1, n): `random` is asked again in the (astronomically rare) case of
/// 32 bytes outside that range.
pub(crate) fn new_secret(mut random: impl FnMut() -> [u8; 32]) -> SecretKey {
    loop {
        if let Ok(secret) = SecretKey::from_slice(&random()) {
            return secret;
        }
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place, readable only by
/// the owner (on Unix), so a crash leaves either no key or the whole key.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!("{KEY_FILE}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;

    use super::*;

    #[test]
    fn the_key_survives_a_restart_and_signs_verifiable_jwts() {
        let dir = tempfile::tempdir().unwrap();
        let mut n_drawn = 0;
        let first = Vapid::load_or_create(dir.path(), None, || {
            n_drawn += 1;
            [5; 32]
        })
        .unwrap();
        assert_eq!(n_drawn, 1);
        let again =
            Vapid::load_or_create(dir.path(), Some("mailto:ops@example.org".into()), || {
                unreachable!("the kept key is used")
            })
            .unwrap();
        assert_eq!(first.public_key(), again.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let header = again.authorization("https://push.example", 1_000);
        let rest = header.strip_prefix("vapid t=").unwrap();
        let (jwt, key) = rest.split_once(", k=").unwrap();
        assert_eq!(key, again.public_key());
        let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
        let (_, claims) = signing_input.split_once('.').unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"aud": "https://push.example", "exp": 1_000 + JWT_LIFETIME_SECS, "sub": "mailto:ops@example.org"})
        );
        let verifying =
            VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key).unwrap()).unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        verifying
            .verify(signing_input.as_bytes(), &signature)
            .unwrap();
    }

    #[test]
    fn a_damaged_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(Vapid::load_or_create(dir.path(), None, || [5; 32]).is_err());
    }
}
