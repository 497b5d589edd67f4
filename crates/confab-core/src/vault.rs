//! Encryption at rest: a random data key seals every stored record and is itself kept
//! wrapped under a passphrase (Argon2id) or, without one, as is; plus the
//! passphrase-protected profile export.
//!
//! Pure like the rest of core: salts, nonces and data keys come from a `SeededRng`
//! seeded by the caller (`crypto.getRandomValues` in the app), never from the OS.
//!
//! # Keys
//!
//! - The **data key** (32 random bytes) encrypts every record with XChaCha20-Poly1305
//!   under a fresh random 24-byte nonce. The caller's *context* (store name and record
//!   key, see [`record_context`]) is authenticated as associated data, so a record moved
//!   to another key or store fails to open.
//! - The data key is stored as a [`WrappedKey`]: [`WrappedKey::Plain`] without a
//!   passphrase (anyone who can read the storage can read the records), or
//!   [`WrappedKey::Passphrase`]: encrypted under a key derived from the passphrase by
//!   Argon2id (version 0x13) with [`KdfParams`] (default: the OWASP recommendation,
//!   19,456 KiB of memory, 2 passes, 1 lane) and a random 16-byte salt.
//! - Changing or removing the passphrase re-wraps the data key ([`Vault::wrap`]); the
//!   records stay as they are.
//! - An export ([`export_profile`]) re-encrypts all records under a key derived by
//!   Argon2id from a passphrase chosen for the export, with its own salt.
//!
//! # Formats (version 1; byte 0 is always the format version)
//!
//! ```text
//! sealed record = version:u8(=1) nonce[24] ciphertext(plaintext ‖ tag[16])
//!     ciphertext = XChaCha20-Poly1305(data key, nonce, plaintext, AAD = version ‖ context)
//! wrapped key   = version:u8(=1) kind:u8 …
//!     kind 0, plain:      data_key[32]
//!     kind 1, passphrase: m_cost_kib:u32be t_cost:u32be p_cost:u32be salt[16] nonce[24] wrapped[48]
//!         wrapped = XChaCha20-Poly1305(Argon2id(passphrase, salt, m, t, p), nonce, data key,
//!                                      AAD = version ‖ kind ‖ params ‖ salt)
//! export        = version:u8(=1) "confab-profile" m_cost_kib:u32be t_cost:u32be p_cost:u32be
//!                 salt[16] nonce[24] ciphertext
//!     ciphertext = XChaCha20-Poly1305(Argon2id(passphrase, salt, m, t, p), nonce, body,
//!                                     AAD = every byte before the ciphertext)
//!     body = count:u32be { store_len:u8 store(UTF-8) key_len:u32be key value_len:u32be value }*
//! ```
//!
//! Decoding never panics. Parameters read from bytes are bounded ([`KdfParams::MAX_M_COST_KIB`]
//! and friends) so a crafted file cannot make us allocate gigabytes. A wrapped key or
//! export whose tag fails reads as [`VaultError::WrongPassphrase`]: the two causes
//! (a wrong passphrase, altered bytes) cannot be told apart.

use argon2::{Algorithm, Argon2, Block, Params};
use chacha20poly1305::aead::{Aead as _, AeadInPlace as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub mod passphrase;
pub use passphrase::WeakPassphrase;

use crate::bytes::{ReadError, Reader};
use crate::rng::SeededRng;

pub mod layout;
pub mod records;

/// Format version: byte 0 of sealed records, wrapped keys and exports.
pub const VERSION: u8 = 1;
/// Length of the data key and of passphrase-derived keys.
pub const KEY_LEN: usize = 32;
/// Length of an Argon2 salt.
pub const SALT_LEN: usize = 16;
/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// How many bytes [`Vault::seal`] adds to a plaintext.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

const KIND_PLAIN: u8 = 0;
const KIND_PASSPHRASE: u8 = 1;
const EXPORT_MAGIC: &[u8; 14] = b"confab-profile";
const PARAMS_LEN: usize = 12;
/// Everything a passphrase-wrapped key authenticates: version, kind, params, salt.
const WRAP_HEADER_LEN: usize = 2 + PARAMS_LEN + SALT_LEN;
/// Everything an export authenticates: version, magic, params, salt, nonce.
const EXPORT_HEADER_LEN: usize = 1 + EXPORT_MAGIC.len() + PARAMS_LEN + SALT_LEN + NONCE_LEN;

/// Why the vault refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The passphrase does not unlock the key (or the protected bytes were altered: the
    /// two cannot be told apart).
    #[error("wrong passphrase (or the protected data was altered)")]
    WrongPassphrase,
    /// The data key is protected by a passphrase and none was given.
    #[error("a passphrase is needed to unlock this profile")]
    PassphraseRequired,
    /// The bytes are not what they should be: truncated, trailing bytes, an unknown kind,
    /// or a record whose tag does not verify under this key and context.
    #[error("the stored data is damaged: {0}")]
    Corrupt(&'static str),
    /// A format version this build does not read.
    #[error("unsupported format version {got} (this build reads version {expected})")]
    Version {
        /// The version this build reads.
        expected: u8,
        /// The version found.
        got: u8,
    },
    /// Argon2 parameters outside what we accept (see [`KdfParams::check`]).
    #[error(
        "unsupported Argon2 parameters: m = {} KiB, t = {}, p = {}",
        .0.m_cost_kib, .0.t_cost, .0.p_cost
    )]
    KdfParams(KdfParams),
    /// A record or export larger than the format can describe.
    #[error("too large to encrypt")]
    TooLarge,
    /// A passphrase being chosen is too easy to guess ([`passphrase::check`]).
    #[error("{0}")]
    WeakPassphrase(#[from] WeakPassphrase),
}

/// Argon2id cost parameters. [`Default`] is [`KdfParams::OWASP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory in KiB (Argon2 `m`).
    pub m_cost_kib: u32,
    /// Passes over memory (Argon2 `t`).
    pub t_cost: u32,
    /// Lanes (Argon2 `p`). The browser computes them one after another.
    pub p_cost: u32,
}

impl KdfParams {
    /// OWASP's recommendation for Argon2id: 19,456 KiB (19 MiB), 2 passes, 1 lane.
    pub const OWASP: KdfParams = KdfParams {
        m_cost_kib: 19_456,
        t_cost: 2,
        p_cost: 1,
    };
    /// For the exported profile file, which an attacker who gets it can attack offline
    /// for as long as they like: 65,536 KiB (64 MiB), 3 passes, 1 lane (five times OWASP's
    /// memory × passes per guess, and the memory RFC 9106 suggests where 2 GiB cannot be
    /// had). Older files, exported with [`KdfParams::OWASP`], name their costs and import.
    pub const EXPORT: KdfParams = KdfParams {
        m_cost_kib: 65_536,
        t_cost: 3,
        p_cost: 1,
    };
    /// Largest memory accepted, 256 MiB: a crafted file must not exhaust the tab.
    pub const MAX_M_COST_KIB: u32 = 262_144;
    /// Most passes accepted.
    pub const MAX_T_COST: u32 = 16;
    /// Most lanes accepted.
    pub const MAX_P_COST: u32 = 16;

    /// Checks the bounds: `1 ≤ t ≤ 16`, `1 ≤ p ≤ 16`, `8·p ≤ m ≤ 262,144` KiB.
    pub fn check(self) -> Result<(), VaultError> {
        let KdfParams {
            m_cost_kib: m,
            t_cost: t,
            p_cost: p,
        } = self;
        let ok = (1..=Self::MAX_T_COST).contains(&t)
            && (1..=Self::MAX_P_COST).contains(&p)
            && (p.saturating_mul(8)..=Self::MAX_M_COST_KIB).contains(&m);
        if ok {
            Ok(())
        } else {
            Err(VaultError::KdfParams(self))
        }
    }

    /// The 32-byte key Argon2id derives from `passphrase` and `salt`.
    fn derive(
        self,
        passphrase: &str,
        salt: &[u8; SALT_LEN],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
        self.check()?;
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(KEY_LEN))
            .map_err(|_| VaultError::KdfParams(self))?;
        let mut memory = vec![Block::default(); params.block_count()];
        let argon = Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let result = argon.hash_password_into_with_memory(
            passphrase.as_bytes(),
            salt,
            key.as_mut_slice(),
            &mut memory,
        );
        memory.zeroize();
        result.map_err(|_| VaultError::KdfParams(self))?;
        Ok(key)
    }

    fn encode_into(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.m_cost_kib.to_be_bytes());
        out.extend_from_slice(&self.t_cost.to_be_bytes());
        out.extend_from_slice(&self.p_cost.to_be_bytes());
    }

    fn decode(reader: &mut Reader<'_>) -> Result<KdfParams, VaultError> {
        let params = KdfParams {
            m_cost_kib: reader.u32()?,
            t_cost: reader.u32()?,
            p_cost: reader.u32()?,
        };
        params.check()?;
        Ok(params)
    }
}

impl Default for KdfParams {
    fn default() -> KdfParams {
        KdfParams::OWASP
    }
}

/// The data key as it is stored. Holds a secret in the [`Plain`](WrappedKey::Plain) case,
/// so it is neither `Debug` nor `Display`.
pub enum WrappedKey {
    /// No passphrase: the data key itself. Whoever reads the storage reads the records.
    Plain(PlainKey),
    /// The data key encrypted under a passphrase.
    Passphrase(PassphraseWrap),
}

/// A data key stored without a passphrase. Opaque, zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PlainKey([u8; KEY_LEN]);

/// A data key encrypted under `Argon2id(passphrase, salt, params)`. Not secret by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassphraseWrap {
    /// Argon2id costs used to derive the wrapping key.
    pub params: KdfParams,
    /// Argon2 salt.
    pub salt: [u8; SALT_LEN],
    /// XChaCha20-Poly1305 nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The encrypted data key and its tag.
    pub ciphertext: [u8; KEY_LEN + TAG_LEN],
}

impl PassphraseWrap {
    /// The associated data: every byte of the encoding before the nonce.
    fn header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAP_HEADER_LEN);
        out.push(VERSION);
        out.push(KIND_PASSPHRASE);
        self.params.encode_into(&mut out);
        out.extend_from_slice(&self.salt);
        out
    }
}

impl WrappedKey {
    /// Whether unlocking needs a passphrase.
    pub fn needs_passphrase(&self) -> bool {
        matches!(self, WrappedKey::Passphrase(_))
    }

    /// The Argon2 parameters protecting the key, if a passphrase does.
    pub fn kdf_params(&self) -> Option<KdfParams> {
        match self {
            WrappedKey::Plain(_) => None,
            WrappedKey::Passphrase(wrap) => Some(wrap.params),
        }
    }

    /// The stored form (see the module docs). For [`WrappedKey::Plain`] these bytes are
    /// the secret key; they are zeroized when dropped.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        match self {
            WrappedKey::Plain(key) => {
                let mut out = Zeroizing::new(Vec::with_capacity(2 + KEY_LEN));
                out.push(VERSION);
                out.push(KIND_PLAIN);
                out.extend_from_slice(&key.0);
                out
            }
            WrappedKey::Passphrase(wrap) => {
                let mut out = wrap.header();
                out.extend_from_slice(&wrap.nonce);
                out.extend_from_slice(&wrap.ciphertext);
                Zeroizing::new(out)
            }
        }
    }

    /// Parses [`WrappedKey::encode`]'s output. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<WrappedKey, VaultError> {
        let mut reader = versioned(bytes)?;
        let wrapped = match reader.u8()? {
            KIND_PLAIN => WrappedKey::Plain(PlainKey(reader.array()?)),
            KIND_PASSPHRASE => WrappedKey::Passphrase(PassphraseWrap {
                params: KdfParams::decode(&mut reader)?,
                salt: reader.array()?,
                nonce: reader.array()?,
                ciphertext: reader.array()?,
            }),
            _ => return Err(VaultError::Corrupt("unknown key protection")),
        };
        reader.finish()?;
        Ok(wrapped)
    }
}

/// The unlocked data key: seals and opens records. Neither `Debug` nor `Display`; the key
/// is zeroized on drop.
///
/// Nonces come from a ChaCha20 stream seeded by the caller. Give every `Vault` a fresh
/// seed from a CSPRNG: two vaults with the same key and seed would repeat nonces.
pub struct Vault {
    key: Zeroizing<[u8; KEY_LEN]>,
    rng: SeededRng,
}

impl Vault {
    /// A new random data key (for a new profile). Wrap it with [`Vault::wrap`] and store
    /// the result.
    pub fn create(seed: [u8; 32]) -> Vault {
        let mut rng = SeededRng::from_seed(seed);
        let key = Zeroizing::new(rng.child_seed());
        // The nonce stream is seeded from the first stream's output, so its state cannot
        // give back the key.
        let rng = SeededRng::from_seed(rng.child_seed());
        Vault { key, rng }
    }

    /// Recovers the data key. A passphrase given for a [`WrappedKey::Plain`] key is
    /// ignored; none given for a [`WrappedKey::Passphrase`] key is
    /// [`VaultError::PassphraseRequired`]; a wrong one is [`VaultError::WrongPassphrase`].
    /// Runs Argon2id for a protected key: with the default parameters, some tens of
    /// milliseconds in headless Chromium on a desktop CPU; slower devices take longer.
    pub fn unlock(
        wrapped: &WrappedKey,
        passphrase: Option<&str>,
        seed: [u8; 32],
    ) -> Result<Vault, VaultError> {
        let key = match wrapped {
            WrappedKey::Plain(key) => Zeroizing::new(key.0),
            WrappedKey::Passphrase(wrap) => {
                let passphrase = passphrase.ok_or(VaultError::PassphraseRequired)?;
                let kek = wrap.params.derive(passphrase, &wrap.salt)?;
                let plain = cipher(&kek)
                    .decrypt(
                        XNonce::from_slice(&wrap.nonce),
                        Payload {
                            msg: &wrap.ciphertext,
                            aad: &wrap.header(),
                        },
                    )
                    .map(Zeroizing::new)
                    .map_err(|_| VaultError::WrongPassphrase)?;
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                if plain.len() != KEY_LEN {
                    return Err(VaultError::Corrupt("wrapped key has the wrong length"));
                }
                key.copy_from_slice(&plain);
                key
            }
        };
        Ok(Vault {
            key,
            rng: SeededRng::from_seed(seed),
        })
    }

    /// The data key wrapped for storage: under `passphrase` (Argon2id with `params`, a
    /// fresh salt and nonce), or as is for `None`. Changing or removing the passphrase is
    /// exactly this: store the new result in place of the old; no record changes. A
    /// passphrase too easy to guess is refused ([`VaultError::WeakPassphrase`]).
    pub fn wrap(
        &mut self,
        passphrase: Option<&str>,
        params: KdfParams,
    ) -> Result<WrappedKey, VaultError> {
        let Some(passphrase) = passphrase else {
            return Ok(WrappedKey::Plain(PlainKey(*self.key)));
        };
        passphrase::check(passphrase)?;
        self.wrap_unchecked(passphrase, params)
    }

    /// [`Vault::wrap`] under `passphrase`, whatever it is.
    fn wrap_unchecked(
        &mut self,
        passphrase: &str,
        params: KdfParams,
    ) -> Result<WrappedKey, VaultError> {
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut salt);
        self.rng.fill_bytes(&mut nonce);
        let kek = params.derive(passphrase, &salt)?;
        let mut wrap = PassphraseWrap {
            params,
            salt,
            nonce,
            ciphertext: [0u8; KEY_LEN + TAG_LEN],
        };
        let mut buffer = Zeroizing::new(*self.key);
        let tag = cipher(&kek)
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), &wrap.header(), &mut *buffer)
            .map_err(|_| VaultError::TooLarge)?;
        let (body, tag_out) = wrap.ciphertext.split_at_mut(KEY_LEN);
        body.copy_from_slice(&*buffer);
        tag_out.copy_from_slice(&tag);
        Ok(WrappedKey::Passphrase(wrap))
    }

    /// Encrypts one record. `context` names where the record lives (use
    /// [`record_context`]); [`Vault::open`] needs the same context. The result is
    /// [`SEALED_OVERHEAD`] bytes longer than `plaintext`.
    pub fn seal(&mut self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nonce);
        seal_with(&self.key, nonce, &record_aad(context), plaintext)
    }

    /// Decrypts a record sealed with this key and `context`. A record from another key,
    /// another context, or with any byte altered is [`VaultError::Corrupt`].
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        open_with(&self.key, &record_aad(context), sealed)
    }
}

/// The context for a record stored under `key` in the store named `store`:
/// `store_len:u64be store key`, so no two (store, key) pairs share a context.
pub fn record_context(store: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + store.len() + key.len());
    out.extend_from_slice(&(store.len() as u64).to_be_bytes());
    out.extend_from_slice(store.as_bytes());
    out.extend_from_slice(key);
    out
}

/// One record of a profile, in the clear: what [`export_profile`] takes and
/// [`import_profile`] gives back. The value may be secret, so it is zeroized on drop and
/// the type is not `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Record {
    /// Which store the record belongs to (at most 255 bytes of UTF-8).
    pub store: String,
    /// The record's key in that store.
    pub key: Vec<u8>,
    /// The record's value, decrypted.
    pub value: Vec<u8>,
}

/// One byte blob holding `records`, encrypted under a key derived from `passphrase` by
/// Argon2id with `params` (use [`KdfParams::EXPORT`]) and a salt drawn from `seed`.
/// The format is in the module docs. Takes as long as one Argon2id run with `params`. A
/// passphrase too easy to guess is refused ([`VaultError::WeakPassphrase`]).
pub fn export_profile(
    records: &[Record],
    passphrase: &str,
    params: KdfParams,
    seed: [u8; 32],
) -> Result<Vec<u8>, VaultError> {
    passphrase::check(passphrase)?;
    let body = encode_export_body(records)?;
    let mut rng = SeededRng::from_seed(seed);
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut nonce);
    let kek = params.derive(passphrase, &salt)?;
    let mut out = Vec::with_capacity(EXPORT_HEADER_LEN + body.len() + TAG_LEN);
    out.push(VERSION);
    out.extend_from_slice(EXPORT_MAGIC);
    params.encode_into(&mut out);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    let sealed = cipher(&kek)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &body,
                aad: &out,
            },
        )
        .map_err(|_| VaultError::TooLarge)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The records of an [`export_profile`] blob. A wrong passphrase (or altered bytes) is
/// [`VaultError::WrongPassphrase`]; anything that is not an export is
/// [`VaultError::Corrupt`] or [`VaultError::Version`]. Never panics.
pub fn import_profile(bytes: &[u8], passphrase: &str) -> Result<Vec<Record>, VaultError> {
    let mut reader = versioned(bytes)?;
    if reader.take(EXPORT_MAGIC.len())? != EXPORT_MAGIC {
        return Err(VaultError::Corrupt("not a Confab profile export"));
    }
    let params = KdfParams::decode(&mut reader)?;
    let salt: [u8; SALT_LEN] = reader.array()?;
    let nonce: [u8; NONCE_LEN] = reader.array()?;
    let ciphertext = reader.rest();
    let header = bytes
        .get(..EXPORT_HEADER_LEN)
        .ok_or(VaultError::Corrupt("truncated"))?;
    let kek = params.derive(passphrase, &salt)?;
    let body = cipher(&kek)
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| VaultError::WrongPassphrase)?;
    decode_export_body(&body)
}

/// An export's body in the clear: `count:u32be { store_len:u8 store(UTF-8) key_len:u32be
/// key value_len:u32be value }*`.
pub(crate) fn encode_export_body(records: &[Record]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let mut body = Zeroizing::new(Vec::new());
    let count = u32::try_from(records.len()).map_err(|_| VaultError::TooLarge)?;
    body.extend_from_slice(&count.to_be_bytes());
    for record in records {
        let store_len = u8::try_from(record.store.len()).map_err(|_| VaultError::TooLarge)?;
        body.push(store_len);
        body.extend_from_slice(record.store.as_bytes());
        for field in [&record.key, &record.value] {
            let len = u32::try_from(field.len()).map_err(|_| VaultError::TooLarge)?;
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(field);
        }
    }
    Ok(body)
}

/// Reads [`encode_export_body`]'s form back (once decrypted: its bytes are the exporter's).
pub(crate) fn decode_export_body(body: &[u8]) -> Result<Vec<Record>, VaultError> {
    let mut reader = Reader::new(body);
    let count = reader.u32()?;
    let mut records = Vec::new();
    for _ in 0..count {
        let store_len = usize::from(reader.u8()?);
        let store = std::str::from_utf8(reader.take(store_len)?)
            .map_err(|_| VaultError::Corrupt("store name is not UTF-8"))?
            .to_owned();
        let key_len = reader.len32()?;
        let key = reader.take(key_len)?.to_vec();
        let value_len = reader.len32()?;
        let value = reader.take(value_len)?.to_vec();
        records.push(Record { store, key, value });
    }
    reader.finish()?;
    Ok(records)
}

fn cipher(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

/// Associated data of a record: the format version, then the caller's context.
fn record_aad(context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + context.len());
    aad.push(VERSION);
    aad.extend_from_slice(context);
    aad
}

/// `version nonce ciphertext tag`, in one allocation.
fn seal_with(
    key: &[u8; KEY_LEN],
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let mut out = Vec::with_capacity(SEALED_OVERHEAD + plaintext.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    // `out` holds the 1 + NONCE_LEN header bytes pushed above, so the split is in bounds.
    let (_, body) = out.split_at_mut(1 + NONCE_LEN);
    let tag = cipher(key)
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, body)
        .map_err(|_| VaultError::TooLarge)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens `seal_with`'s output.
fn open_with(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut reader = versioned(sealed)?;
    let nonce: [u8; NONCE_LEN] = reader.array()?;
    let ciphertext = reader.rest();
    if ciphertext.len() < TAG_LEN {
        return Err(VaultError::Corrupt("truncated"));
    }
    cipher(key)
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| VaultError::Corrupt("a record failed to decrypt"))
}

impl From<ReadError> for VaultError {
    fn from(error: ReadError) -> VaultError {
        match error {
            ReadError::Truncated { .. } => VaultError::Corrupt("truncated"),
            ReadError::Trailing { .. } => VaultError::Corrupt("trailing bytes"),
        }
    }
}

/// A reader past byte 0, after checking that it is [`VERSION`].
fn versioned(bytes: &[u8]) -> Result<Reader<'_>, VaultError> {
    let mut reader = Reader::new(bytes);
    match reader.u8()? {
        VERSION => Ok(reader),
        got => Err(VaultError::Version {
            expected: VERSION,
            got,
        }),
    }
}

#[cfg(test)]
mod tests;
