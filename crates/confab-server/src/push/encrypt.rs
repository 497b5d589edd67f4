//! Message encryption for Web Push (RFC 8291 over RFC 8188's `aes128gcm`), composed from
//! RustCrypto's vetted primitives: P-256 ECDH (`p256`), HKDF-SHA-256 (`hkdf`) and
//! AES-128-GCM (`aes-gcm`). Nothing here is a primitive of our own; the composition is
//! pinned by RFC 8291's worked example (section 5) in the tests, and the push test decrypts
//! with Mozilla's independent `ece` crate.
//!
//! ```text
//! ecdh_secret = ECDH(as_private, ua_public)
//! ikm   = HKDF(salt = auth_secret, ecdh_secret, "WebPush: info" 0x00 ua_public as_public, 32)
//! cek   = HKDF(salt, ikm, "Content-Encoding: aes128gcm" 0x00, 16)
//! nonce = HKDF(salt, ikm, "Content-Encoding: nonce" 0x00, 12)
//! body  = salt[16] rs:u32be(4096) idlen:u8(65) as_public[65] AES-128-GCM(cek, nonce, plaintext 0x02)
//! ```

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size written in the header; one record holds any payload we send.
const RECORD_SIZE: u32 = 4096;
/// The padding delimiter of the last (here: only) record.
const LAST_RECORD: u8 = 2;
/// Largest plaintext one record holds: the record size minus the tag and the delimiter.
pub(crate) const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - 16 - 1;

/// Why a push message could not be encrypted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncryptError {
    /// The subscription's `p256dh` is not a point on P-256.
    #[error("the subscription's public key is not a P-256 point")]
    PublicKey,
    /// More than one record's worth of plaintext.
    #[error("the payload is longer than one record")]
    TooLong,
}

/// Encrypts `plaintext` for the subscription (`ua_public`, `auth_secret`) with the
/// ephemeral key `as_private` and `salt`, both fresh random for every message.
pub(crate) fn encrypt(
    ua_public: &[u8; 65],
    auth_secret: &[u8; 16],
    plaintext: &[u8],
    as_private: &SecretKey,
    salt: [u8; 16],
) -> Result<Vec<u8>, EncryptError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError::TooLong);
    }
    let ua_key = PublicKey::from_sec1_bytes(ua_public).map_err(|_| EncryptError::PublicKey)?;
    let as_public = as_private.public_key().to_encoded_point(false);
    let as_public = as_public.as_bytes();
    let ecdh = p256::ecdh::diffie_hellman(as_private.to_nonzero_scalar(), ua_key.as_affine());

    let key_info = [b"WebPush: info\0".as_slice(), ua_public, as_public].concat();
    let mut ikm = [0u8; 32];
    expand(auth_secret, ecdh.raw_secret_bytes(), &key_info, &mut ikm);
    let mut cek = [0u8; 16];
    expand(&salt, &ikm, b"Content-Encoding: aes128gcm\0", &mut cek);
    let mut nonce = [0u8; 12];
    expand(&salt, &ikm, b"Content-Encoding: nonce\0", &mut nonce);

    let record = [plaintext, &[LAST_RECORD]].concat();
    let cipher = Aes128Gcm::new(&cek.into());
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), record.as_slice())
        .map_err(|_| EncryptError::TooLong)?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + as_public.len() + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    // A P-256 point in uncompressed form is 65 bytes: it fits the one-byte length.
    body.push(as_public.len() as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// HKDF-SHA-256 extract then expand into `out` (at most 32 bytes: one block, cannot fail).
fn expand(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), ikm);
    // `out` is at most one SHA-256 block, far below HKDF's limit of 255 blocks.
    let _ = hkdf.expand(info, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8291, section 5 (and Appendix A): the worked example, byte for byte.
    #[test]
    fn encrypts_rfc_8291s_example() {
        let as_private = SecretKey::from_slice(&hex(
            "c9f58f89813e9f8e872e71f42aa64e1757c9254dcc62b72ddc010bb4043ea11c",
        ))
        .unwrap();
        let ua_public: [u8; 65] = hex(
            "042571b2becdfde360551aaf1ed0f4cd366c11cebe555f89bcb7b186a53339173168ece2ebe018597bd30479b86e3c8f8eced577ca59187e9246990db682008b0e",
        )
        .try_into()
        .unwrap();
        let auth: [u8; 16] = hex("05305932a1c7eabe13b6cec9fda48882").try_into().unwrap();
        let salt: [u8; 16] = hex("0c6bfaadad67958803092d454676f397").try_into().unwrap();
        let body = encrypt(
            &ua_public,
            &auth,
            b"When I grow up, I want to be a watermelon",
            &as_private,
            salt,
        )
        .unwrap();
        assert_eq!(
            body,
            hex(
                "0c6bfaadad67958803092d454676f397000010004104fe33f4ab0dea71914db55823f73b54948f41306d920732dbb9a59a53286482200e597a7b7bc260ba1c227998580992e93973002f3012a28ae8f06bbb78e5ec0ff297de5b429bba7153d3a4ae0caa091fd425f3b4b5414add8ab37a19c1bbb05cf5cb5b2a2e0562d558635641ec52812c6c8ff42e95ccb86be7cd"
            )
        );
    }

    #[test]
    fn a_point_off_the_curve_or_a_long_payload_is_refused() {
        let as_private = SecretKey::from_slice(&[7; 32]).unwrap();
        let mut off_curve = [0u8; 65];
        off_curve[0] = 4;
        off_curve[1] = 1;
        assert!(matches!(
            encrypt(&off_curve, &[0; 16], b"x", &as_private, [0; 16]),
            Err(EncryptError::PublicKey)
        ));
        let ua_public: [u8; 65] = SecretKey::from_slice(&[9; 32])
            .unwrap()
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .try_into()
            .unwrap();
        assert!(
            encrypt(
                &ua_public,
                &[0; 16],
                &[0; MAX_PLAINTEXT],
                &as_private,
                [0; 16]
            )
            .is_ok()
        );
        assert!(matches!(
            encrypt(
                &ua_public,
                &[0; 16],
                &[0; MAX_PLAINTEXT + 1],
                &as_private,
                [0; 16]
            ),
            Err(EncryptError::TooLong)
        ));
    }
}
