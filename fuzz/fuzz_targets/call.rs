//! Call signalling on arbitrary bytes: see `confab_core::fuzzing::check_call`, which
//! core's tests also replay on `fuzz/corpus/call/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    confab_core::fuzzing::check_call(bytes);
});
