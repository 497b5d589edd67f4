//! Randomness from the browser's CSPRNG (`crypto.getRandomValues`).

/// 32 random bytes for seeds and secrets.
pub fn seed() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // getrandom's `wasm_js` backend calls crypto.getRandomValues, which cannot fail in a
    // page that loaded at all; a failure means no CSPRNG, and then nothing here is safe.
    #[allow(clippy::expect_used)]
    getrandom_04::fill(&mut bytes).expect("crypto.getRandomValues is available");
    bytes
}
