//! The server's WebSocket frame decoder on arbitrary client bytes: see
//! `confab_server::fuzzing::check_socket_frames`, which the server's tests also replay on
//! `fuzz/corpus/socket/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    confab_server::fuzzing::check_socket_frames(bytes);
});
