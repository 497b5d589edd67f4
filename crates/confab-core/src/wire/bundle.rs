//! The layout of a bundle: the news a rekeyer deposits into the mailbox of an epoch it left
//! (see `client/govern/left.rs`), packed into as few entries as hold it.
//!
//! ```text
//! bundle = version:u8(=0x81) count:u16be (len:u16be signed_event)*
//! ```
//!
//! Byte 0 (0x81) is never a signed event's version (1 or 2): the mailbox tells a bundle from
//! an event by it. Each entry's bundle is whole on its own: a rekeyer splits a long bundle
//! into several entries, so one the server drops costs only its own events.

use super::DecodeError;
use crate::bytes::Reader;

/// Byte 0 of a bundle.
pub const BUNDLE_VERSION: u8 = 0x81;
/// What a bundle adds: its version and count.
pub const BUNDLE_HEADER_LEN: usize = 1 + 2;
/// What a bundle adds per event: its length.
pub const BUNDLE_OVERHEAD_PER_EVENT: usize = 2;

/// Whether `payload` (an opened mailbox entry) is a bundle rather than one signed event.
pub fn is_bundle(payload: &[u8]) -> bool {
    payload.first() == Some(&BUNDLE_VERSION)
}

/// The bundle of `events` (each at most `u16::MAX` bytes, at most `u16::MAX` of them;
/// `None` otherwise).
pub fn encode<'a>(events: impl ExactSizeIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut out = vec![BUNDLE_VERSION];
    out.extend_from_slice(&u16::try_from(events.len()).ok()?.to_be_bytes());
    for event in events {
        out.extend_from_slice(&u16::try_from(event.len()).ok()?.to_be_bytes());
        out.extend_from_slice(event);
    }
    Some(out)
}

/// A bundle's events (nothing verified yet). Never panics.
pub fn decode(bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let version = reader.u8()?;
    if version != BUNDLE_VERSION {
        return Err(DecodeError::Version {
            expected: BUNDLE_VERSION,
            got: version,
        });
    }
    let count = usize::from(reader.u16()?);
    let mut events = Vec::with_capacity(count.min(reader.remaining() / 2));
    for _ in 0..count {
        let len = usize::from(reader.u16()?);
        events.push(reader.take(len)?);
    }
    reader.finish()?;
    Ok(events)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn bundles_round_trip_and_refuse_garbage() {
        let events: [&[u8]; 2] = [&[1, 2], &[3]];
        let bundle = encode(events.into_iter()).unwrap();
        assert_eq!(
            bundle.len(),
            BUNDLE_HEADER_LEN + 2 * BUNDLE_OVERHEAD_PER_EVENT + 3
        );
        assert!(is_bundle(&bundle));
        assert_eq!(decode(&bundle).unwrap(), events.to_vec());
        assert!(decode(&bundle[..bundle.len() - 1]).is_err());
        let mut trailing = bundle.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        assert!(decode(&[BUNDLE_VERSION, 0xff, 0xff]).is_err());
        assert!(!is_bundle(&[1, 0]) && !is_bundle(&[2, 0]) && !is_bundle(&[]));
        assert!(decode(&[1, 0, 0]).is_err());
    }
}
