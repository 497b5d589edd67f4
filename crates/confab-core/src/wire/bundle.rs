//! The layout of a bundle: the news a rekeyer deposits into the mailbox of an epoch it left
//! (see `client/govern/left.rs`), packed into as few entries as hold it, and sealed to the
//! members the rekeyer counts in the room.
//!
//! ```text
//! bundle  = version:u8(=0x82) key_id[16] count:u16be(1..=128) lockbox[80]{count}
//!           nonce[24] sealed
//! sealed  = XChaCha20-Poly1305(bundle key, nonce, aad = every byte before the nonce) of events
//! events  = count:u16be (len:u16be signed_event)*
//! ```
//!
//! Byte 0 is never a signed event's version (1 or 2): the mailbox tells a bundle from an
//! event by it. Version 0x81 (the events in clear, readable by whoever held the epoch,
//! members removed since included) is no longer read: such an entry is dropped. Each lockbox
//! is the bundle key sealed to one member (`crate::lockbox::seal_bundle_key`), or a decoy
//! padding the count to a multiple of 8, in an order that says nothing of who; `key_id` names the deposit (the first bytes of a hash of its
//! key, so a reader opens the lockboxes once a deposit, whatever number of entries it
//! spans). Each entry is whole on its own: a rekeyer splits a long bundle into several
//! entries, so one the server drops costs only its own events.

use super::DecodeError;
use crate::bytes::Reader;
use crate::wire::govern::{LOCKBOX_LEN, MAX_LOCKBOXES};

/// Byte 0 of a bundle.
pub const BUNDLE_VERSION: u8 = 0x82;
/// Byte 0 of the bundles deposited in clear before 0x82 (dropped).
pub const CLEAR_BUNDLE_VERSION: u8 = 0x81;
/// A deposit's name in each of its entries.
pub const KEY_ID_LEN: usize = 16;
/// The nonce of an entry's sealed events.
pub const NONCE_LEN: usize = 24;
/// The AEAD tag of an entry's sealed events.
pub const TAG_LEN: usize = 16;
/// What an entry holds besides its events' bytes and their lengths: its version, key id,
/// lockbox count, nonce, tag and the event count.
pub const BUNDLE_HEADER_LEN: usize = 1 + KEY_ID_LEN + 2 + NONCE_LEN + TAG_LEN + 2;
/// What a bundle adds per event: its length.
pub const BUNDLE_OVERHEAD_PER_EVENT: usize = 2;

/// One entry of a bundle, its events still sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBundle<'a> {
    /// The deposit it belongs to (see the module doc).
    pub key_id: [u8; KEY_ID_LEN],
    /// The bundle key, sealed to each member the depositor counted.
    pub lockboxes: Vec<&'a [u8]>,
    /// The nonce of `sealed`.
    pub nonce: [u8; NONCE_LEN],
    /// What the AEAD authenticates besides the events: every byte before the nonce.
    pub aad: &'a [u8],
    /// The events, sealed (ciphertext and tag).
    pub sealed: &'a [u8],
}

/// Whether `payload` (an opened mailbox entry) is a bundle, of either version, rather than
/// one signed event.
pub fn is_bundle(payload: &[u8]) -> bool {
    matches!(
        payload.first(),
        Some(&BUNDLE_VERSION | &CLEAR_BUNDLE_VERSION)
    )
}

/// The plaintext list of `events` (each at most `u16::MAX` bytes, at most `u16::MAX` of
/// them; `None` otherwise).
pub fn encode_events<'a>(events: impl ExactSizeIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(&u16::try_from(events.len()).ok()?.to_be_bytes());
    for event in events {
        out.extend_from_slice(&u16::try_from(event.len()).ok()?.to_be_bytes());
        out.extend_from_slice(event);
    }
    Some(out)
}

/// The events of an opened list (nothing verified yet). Never panics.
pub fn decode_events(bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let count = usize::from(reader.u16()?);
    let mut events = Vec::with_capacity(count.min(reader.remaining() / 2));
    for _ in 0..count {
        let len = usize::from(reader.u16()?);
        events.push(reader.take(len)?);
    }
    reader.finish()?;
    Ok(events)
}

/// The header of an entry, up to its nonce (the AEAD's associated data): `None` for no
/// lockbox or more than [`MAX_LOCKBOXES`].
pub fn encode_header(
    key_id: &[u8; KEY_ID_LEN],
    lockboxes: &[[u8; LOCKBOX_LEN]],
) -> Option<Vec<u8>> {
    if lockboxes.is_empty() || lockboxes.len() > MAX_LOCKBOXES {
        return None;
    }
    let mut out = Vec::with_capacity(1 + KEY_ID_LEN + 2 + lockboxes.len() * LOCKBOX_LEN);
    out.push(BUNDLE_VERSION);
    out.extend_from_slice(key_id);
    out.extend_from_slice(&u16::try_from(lockboxes.len()).ok()?.to_be_bytes());
    for lockbox in lockboxes {
        out.extend_from_slice(lockbox);
    }
    Some(out)
}

/// A whole entry: its `header` ([`encode_header`]), `nonce` and `sealed` events.
pub fn encode(header: &[u8], nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(header);
    out.extend_from_slice(nonce);
    out.extend_from_slice(sealed);
    out
}

/// An entry's parts (nothing opened yet). Never panics.
pub fn decode(bytes: &[u8]) -> Result<SealedBundle<'_>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let version = reader.u8()?;
    if version != BUNDLE_VERSION {
        return Err(DecodeError::Version {
            expected: BUNDLE_VERSION,
            got: version,
        });
    }
    let key_id = reader.array()?;
    let count = usize::from(reader.u16()?);
    if count == 0 || count > MAX_LOCKBOXES {
        return Err(DecodeError::Invalid("lockbox count"));
    }
    let mut lockboxes = Vec::with_capacity(count);
    for _ in 0..count {
        lockboxes.push(reader.take(LOCKBOX_LEN)?);
    }
    let aad_len = bytes.len() - reader.remaining();
    let nonce = reader.array()?;
    let sealed = reader.rest();
    if sealed.len() < TAG_LEN {
        return Err(DecodeError::Truncated {
            needed: TAG_LEN - sealed.len(),
        });
    }
    Ok(SealedBundle {
        key_id,
        lockboxes,
        nonce,
        aad: bytes.get(..aad_len).unwrap_or_default(),
        sealed,
    })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn event_lists_round_trip_and_refuse_garbage() {
        let events: [&[u8]; 2] = [&[1, 2], &[3]];
        let list = encode_events(events.into_iter()).unwrap();
        assert_eq!(list, [0, 2, 0, 2, 1, 2, 0, 1, 3]);
        assert_eq!(decode_events(&list).unwrap(), events.to_vec());
        assert!(decode_events(&list[..list.len() - 1]).is_err());
        let mut trailing = list.clone();
        trailing.push(0);
        assert!(decode_events(&trailing).is_err());
        assert!(decode_events(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn entries_round_trip_and_refuse_garbage() {
        let lockboxes = [[5u8; LOCKBOX_LEN], [6u8; LOCKBOX_LEN]];
        let header = encode_header(&[9; KEY_ID_LEN], &lockboxes).unwrap();
        let sealed = [7u8; TAG_LEN + 3];
        let entry = encode(&header, &[8; NONCE_LEN], &sealed);
        assert_eq!(
            entry.len(),
            BUNDLE_HEADER_LEN - 2 + 2 * LOCKBOX_LEN + 3,
            "the header constant counts the event count, inside `sealed`"
        );
        assert!(is_bundle(&entry));
        let parts = decode(&entry).unwrap();
        assert_eq!(parts.key_id, [9; KEY_ID_LEN]);
        assert_eq!(
            parts.lockboxes,
            vec![&[5u8; LOCKBOX_LEN][..], &[6; LOCKBOX_LEN]]
        );
        assert_eq!(parts.nonce, [8; NONCE_LEN]);
        assert_eq!(parts.aad, &header[..]);
        assert_eq!(parts.sealed, &sealed[..]);
        // Cut short anywhere, it does not decode.
        for len in 0..header.len() + NONCE_LEN + TAG_LEN {
            assert!(decode(&entry[..len]).is_err(), "{len} bytes");
        }
        // No lockbox, too many, the clear version: refused.
        assert_eq!(encode_header(&[9; KEY_ID_LEN], &[]), None);
        assert_eq!(
            encode_header(&[9; KEY_ID_LEN], &vec![[0; LOCKBOX_LEN]; MAX_LOCKBOXES + 1]),
            None
        );
        let mut none = entry.clone();
        none[1 + KEY_ID_LEN..1 + KEY_ID_LEN + 2].copy_from_slice(&[0, 0]);
        assert!(decode(&none).is_err());
        let clear = [CLEAR_BUNDLE_VERSION, 0, 0];
        assert!(is_bundle(&clear));
        assert!(decode(&clear).is_err());
        assert!(!is_bundle(&[1, 0]) && !is_bundle(&[2, 0]) && !is_bundle(&[]));
    }
}
