//! Every decoder in `confab_core::wire` on arbitrary bytes: never panics, and whatever
//! decodes re-encodes to bytes that decode to the same value.

#![no_main]

use confab_core::wire::relay::Envelope;
use confab_core::wire::{Body, Card, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(frame) = Frame::decode(bytes) {
        let again = frame.encode();
        assert_eq!(Frame::decode(&again), Ok(frame));
    }
    if let Ok(body) = Body::decode(bytes) {
        assert_eq!(Body::decode(&body.encode()), Ok(body));
    }
    if let Ok(card) = Card::decode(bytes) {
        assert_eq!(Card::decode(&card.encode()), Ok(card));
    }
    if let Ok(envelope) = Envelope::decode(bytes) {
        let again = envelope.encode();
        assert_eq!(Envelope::decode(&again), Ok(envelope));
    }
});
