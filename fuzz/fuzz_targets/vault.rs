//! See `confab_core::fuzzing::check_vault`: the check this target runs is the one
//! core's tests replay on `fuzz/corpus/vault/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    confab_core::fuzzing::check_vault(bytes);
});
