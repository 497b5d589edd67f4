//! The seeded RNG that core draws from, and its adapter for `snow`'s ephemeral keys.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore as _, SeedableRng as _};

/// A ChaCha20 stream seeded by the adapter; never the OS RNG.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(crate) struct SeededRng(ChaCha20Rng);

impl SeededRng {
    pub(crate) fn from_seed(seed: [u8; 32]) -> SeededRng {
        SeededRng(ChaCha20Rng::from_seed(seed))
    }

    /// Another stream of the same seed (ChaCha20's stream id), independent of stream 0
    /// that [`SeededRng::from_seed`] gives: a feature drawing from its own stream leaves
    /// every other draw, and so every seeded replay, as it was.
    pub(crate) fn from_seed_stream(seed: [u8; 32], stream: u64) -> SeededRng {
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_stream(stream);
        SeededRng(rng)
    }

    /// A fresh seed for a child machine (one per handshake), so children never share a stream.
    pub(crate) fn child_seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.0.fill_bytes(&mut seed);
        seed
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Fills `dest` from the stream (salts and nonces).
    pub(crate) fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }
}

impl snow::types::Random for SeededRng {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// `snow`'s default crypto, with randomness from a seed instead of the OS.
pub(crate) struct SeededResolver {
    seed: std::cell::Cell<Option<[u8; 32]>>,
    crypto: snow::resolvers::DefaultResolver,
}

impl SeededResolver {
    pub(crate) fn new(seed: [u8; 32]) -> SeededResolver {
        SeededResolver {
            seed: std::cell::Cell::new(Some(seed)),
            crypto: snow::resolvers::DefaultResolver,
        }
    }
}

impl snow::resolvers::CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        // Handed out once: a second request would otherwise repeat the same stream.
        self.seed
            .take()
            .map(|seed| Box::new(SeededRng::from_seed(seed)) as Box<dyn snow::types::Random>)
    }
    fn resolve_dh(&self, choice: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        self.crypto.resolve_dh(choice)
    }
    fn resolve_hash(
        &self,
        choice: &snow::params::HashChoice,
    ) -> Option<Box<dyn snow::types::Hash>> {
        self.crypto.resolve_hash(choice)
    }
    fn resolve_cipher(
        &self,
        choice: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        self.crypto.resolve_cipher(choice)
    }
}
