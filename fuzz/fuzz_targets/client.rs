//! A whole `Client` driven by arbitrary bytes from its peers, one still handshaking and one
//! with an established session, from a prepared state (handshake done, a history held):
//! see `confab_core::fuzzing::check_client`, which core's tests also replay on
//! `fuzz/corpus/client/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    confab_core::fuzzing::check_client(bytes);
});
