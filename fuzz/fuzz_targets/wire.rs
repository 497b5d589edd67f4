//! Every decoder of peer or stored bytes (`confab_core::wire`, history events, contacts,
//! vault records) on arbitrary bytes: never panics, and whatever decodes re-encodes to bytes
//! that decode to the same value.

#![no_main]

use confab_core::wire::relay::Envelope;
use confab_core::contacts::Contact;
use confab_core::history::VerifiedEvent;
use confab_core::vault::WrappedKey;
use confab_core::wire::{Body, Card, Frame};
use confab_core::RoomId;
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
    let room = RoomId::from_bytes([7; 32]);
    if let Ok(event) = VerifiedEvent::restore(&room, bytes, None) {
        let again = VerifiedEvent::restore(&room, event.bytes(), Some(event.id()));
        assert_eq!(again, Ok(event.clone()));
        // A version-2 message's redacted form keeps its id and decodes to the same fields.
        if let Some(redacted) = event.redacted() {
            let again = VerifiedEvent::restore(&room, redacted.bytes(), Some(event.id()));
            assert_eq!(again, Ok(redacted.clone()));
            assert!(redacted.is_redacted() && redacted.redacted().is_none());
        }
        // Arbitrary bytes carry no valid signature.
        assert!(VerifiedEvent::verify(&room, bytes).is_err());
    }
    if let Ok(contact) = Contact::decode(bytes) {
        assert_eq!(Contact::decode(&contact.encode()), Ok(contact));
    }
    if let Ok(wrapped) = WrappedKey::decode(bytes) {
        let again = WrappedKey::decode(&wrapped.encode());
        assert!(again.is_ok());
    }
    if let Ok(envelope) = Envelope::decode(bytes) {
        let again = envelope.encode();
        assert_eq!(Envelope::decode(&again), Ok(envelope));
    }
});
