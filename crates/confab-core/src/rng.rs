//! The seeded RNG that core draws from, and its adapter for `snow`'s ephemeral keys (and
//! our static key, whose public half we know already).

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore as _, SeedableRng as _};
use x25519_dalek::{PublicKey as DhPublic, StaticSecret};
use zeroize::Zeroizing;

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

/// An X25519 key pair of ours (`Identity::dh_pair`): the public half computed once.
#[derive(Clone)]
pub(crate) struct StaticPair {
    pub(crate) private: Zeroizing<[u8; 32]>,
    pub(crate) public: [u8; 32],
}

/// An X25519 result of our static key with one peer key (`theirs`), computed already.
#[derive(Clone)]
pub(crate) struct KnownShared {
    pub(crate) theirs: [u8; 32],
    pub(crate) shared: Zeroizing<[u8; 32]>,
}

impl KnownShared {
    /// X25519 of `pair`'s private key with `theirs`, as `snow`'s `Dh25519::dh` computes it
    /// (the clamped scalar times the point, no check of the result).
    pub(crate) fn compute(pair: &StaticPair, theirs: [u8; 32]) -> KnownShared {
        let shared = StaticSecret::from(*pair.private).diffie_hellman(&DhPublic::from(theirs));
        KnownShared {
            theirs,
            shared: Zeroizing::new(shared.to_bytes()),
        }
    }
}

/// `snow`'s default crypto, with randomness from a seed instead of the OS.
pub(crate) struct SeededResolver {
    seed: std::cell::Cell<Option<[u8; 32]>>,
    crypto: snow::resolvers::DefaultResolver,
    static_pair: Option<StaticPair>,
    known_shared: Option<KnownShared>,
}

impl SeededResolver {
    pub(crate) fn new(seed: [u8; 32]) -> SeededResolver {
        SeededResolver {
            seed: std::cell::Cell::new(Some(seed)),
            crypto: snow::resolvers::DefaultResolver,
            static_pair: None,
            known_shared: None,
        }
    }

    /// Also knows our static key pair: `snow` sets the static private key and derives its
    /// public key, an X25519 base multiplication each handshake and each lockbox tried
    /// (a tenth of the governance simulation's time); given `pair`, that key's public half
    /// is taken as known. Same bytes on the wire, same secrets.
    pub(crate) fn with_static(seed: [u8; 32], pair: StaticPair) -> SeededResolver {
        SeededResolver {
            static_pair: Some(pair),
            ..SeededResolver::new(seed)
        }
    }

    /// Also knows the X25519 result of our static key with one peer key (`with_static`'s
    /// pair): a reader trying a deposit's lockboxes, which share one ephemeral key, computes
    /// it once (`lockbox::BundleOpener`) instead of once a lockbox.
    pub(crate) fn knowing(self, known: KnownShared) -> SeededResolver {
        SeededResolver {
            known_shared: Some(known),
            ..self
        }
    }
}

/// X25519 as `snow`'s default, except that when the key set is `pair`'s private key its
/// public half is not derived again, nor its result with `known`'s peer key.
struct KnownStaticDh {
    inner: Box<dyn snow::types::Dh>,
    pair: StaticPair,
    known: Option<KnownShared>,
    /// Whether the key set is `pair`'s (else `inner` holds it).
    is_pair: bool,
}

impl snow::types::Dh for KnownStaticDh {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn pub_len(&self) -> usize {
        self.inner.pub_len()
    }
    fn priv_len(&self) -> usize {
        self.inner.priv_len()
    }
    fn set(&mut self, privkey: &[u8]) {
        self.is_pair = privkey == self.pair.private.as_slice();
        if !self.is_pair {
            self.inner.set(privkey);
        }
    }
    fn generate(&mut self, rng: &mut dyn snow::types::Random) -> Result<(), snow::Error> {
        self.is_pair = false;
        self.inner.generate(rng)
    }
    fn pubkey(&self) -> &[u8] {
        if self.is_pair {
            &self.pair.public
        } else {
            self.inner.pubkey()
        }
    }
    fn privkey(&self) -> &[u8] {
        if self.is_pair {
            self.pair.private.as_slice()
        } else {
            self.inner.privkey()
        }
    }
    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        if !self.is_pair {
            return self.inner.dh(pubkey, out);
        }
        let theirs: [u8; 32] = pubkey
            .get(..32)
            .and_then(|key| key.try_into().ok())
            .ok_or(snow::Error::Dh)?;
        let out = out.get_mut(..32).ok_or(snow::Error::Dh)?;
        match &self.known {
            Some(known) if known.theirs == theirs => out.copy_from_slice(known.shared.as_slice()),
            _ => out.copy_from_slice(KnownShared::compute(&self.pair, theirs).shared.as_slice()),
        }
        Ok(())
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
        let inner = self.crypto.resolve_dh(choice)?;
        match &self.static_pair {
            Some(pair) if matches!(choice, snow::params::DHChoice::Curve25519) => {
                Some(Box::new(KnownStaticDh {
                    inner,
                    pair: pair.clone(),
                    known: self.known_shared.clone(),
                    is_pair: false,
                }))
            }
            _ => Some(inner),
        }
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

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use snow::resolvers::CryptoResolver as _;

    use super::*;

    /// With our pair set, the known-static X25519 gives snow's default public key and
    /// shared secrets; with another key set, or a generated one, it is snow's default.
    #[test]
    fn the_known_static_key_is_snows_x25519() {
        let identity = crate::identity::Identity::from_seed([7; 32]);
        let pair = identity.dh_pair();
        let resolver = SeededResolver::with_static([1; 32], pair.clone());
        let choice = snow::params::DHChoice::Curve25519;
        let mut known = resolver.resolve_dh(&choice).unwrap();
        let mut plain = snow::resolvers::DefaultResolver
            .resolve_dh(&choice)
            .unwrap();
        let theirs = crate::identity::Identity::from_seed([8; 32])
            .public()
            .dh_key_bytes();
        for private in [*pair.private, [9; 32]] {
            known.set(&private);
            plain.set(&private);
            assert_eq!(known.pubkey(), plain.pubkey());
            assert_eq!(known.privkey(), plain.privkey());
            let (mut ours, mut snows) = ([0u8; 32], [0u8; 32]);
            known.dh(&theirs, &mut ours).unwrap();
            plain.dh(&theirs, &mut snows).unwrap();
            assert_eq!(ours, snows);
        }
        assert_eq!(known.pubkey(), plain.pubkey(), "another key: snow's own");
        known.set(pair.private.as_slice());
        assert_eq!(known.pubkey(), pair.public.as_slice());
        known.generate(&mut SeededRng::from_seed([2; 32])).unwrap();
        plain.generate(&mut SeededRng::from_seed([2; 32])).unwrap();
        assert_eq!(known.pubkey(), plain.pubkey(), "an ephemeral: snow's own");
    }
}
