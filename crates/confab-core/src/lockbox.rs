//! Lockboxes: a secret sealed to one member. An epoch's secret (see `room/epoch.rs` for the
//! keys), and the key of a bundle a rekeyer deposits into an old epoch's mailbox
//! (`client/govern/left.rs`).
//!
//! A lockbox is one message of the one-way Noise pattern `Noise_N_25519_ChaChaPoly_BLAKE2s`
//! (`snow`, already linked: an ephemeral X25519 key and an AEAD, no home-made construction)
//! to the member's X25519 key, its prologue binding what the secret is for (an epoch's:
//! the room's genesis, the epoch and the member; a bundle key's: the genesis and the
//! member), so a lockbox cannot be moved to another room, epoch or member. Who sealed an
//! epoch's is proven by the signed rekey event that carries it; the event's commitment lets
//! every member check they all received the same secret (a malicious admin cannot split the
//! room). A bundle key's lockbox names nobody: its reader tries each until one opens (a
//! deposit's lockboxes share one ephemeral key, so that is one X25519: [`BundleOpener`]).

use zeroize::Zeroizing;

use crate::identity::{Identity, PublicIdentity};
use crate::ids::{MemberKey, RoomId};
use crate::rng::{KnownShared, SeededResolver, StaticPair};
use crate::room::{Commitment, EpochSecret};
use crate::wire::govern::LOCKBOX_LEN;

const LOCKBOX_CONTEXT: &[u8] = b"confab/v2/lockbox";
const BUNDLE_KEY_CONTEXT: &[u8] = b"confab/v2/bundle-key";
/// The lockbox's one-way Noise pattern.
pub const LOCKBOX_PARAMS: &str = "Noise_N_25519_ChaChaPoly_BLAKE2s";

/// Seals `secret` to `holder` for epoch `epoch` of the room `genesis`. `seed` gives
/// the ephemeral key (one per lockbox).
pub fn seal(
    secret: &EpochSecret,
    genesis: RoomId,
    epoch: u64,
    holder: &PublicIdentity,
    seed: [u8; 32],
) -> [u8; LOCKBOX_LEN] {
    let prologue = prologue(genesis, epoch, &holder.member_key());
    seal_with(&prologue, secret.as_bytes(), holder, seed)
}

/// Opens a lockbox sealed to `identity` for epoch `epoch` of `genesis`, and checks the
/// secret against the rekey event's `commitment`.
pub fn open(
    identity: &Identity,
    genesis: RoomId,
    epoch: u64,
    lockbox: &[u8],
    commitment: Commitment,
) -> Result<EpochSecret, LockboxError> {
    let prologue = prologue(genesis, epoch, &identity.member_key());
    let opened = EpochSecret::from_bytes(*open_with(identity, &prologue, lockbox, None)?);
    if opened.commitment() != commitment {
        return Err(LockboxError::Commitment);
    }
    Ok(opened)
}

/// Seals a bundle's key (32 random bytes, one per deposit) to `holder`, a member of the
/// room `genesis`. `seed` gives the ephemeral key (one per lockbox).
pub fn seal_bundle_key(
    key: &[u8; 32],
    genesis: RoomId,
    holder: &PublicIdentity,
    seed: [u8; 32],
) -> [u8; LOCKBOX_LEN] {
    let prologue = bundle_prologue(genesis, &holder.member_key());
    seal_with(&prologue, key, holder, seed)
}

/// Opens a bundle key's lockbox sealed to `identity` in the room `genesis`.
pub fn open_bundle_key(
    identity: &Identity,
    genesis: RoomId,
    lockbox: &[u8],
) -> Result<Zeroizing<[u8; 32]>, LockboxError> {
    BundleOpener::new(identity, genesis).open(lockbox)
}

/// Tries the lockboxes of one deposit for `identity`'s: the lockboxes a sealer made for one
/// deposit share its ephemeral key (`client/govern/left/sealed.rs`), so the X25519 of our
/// key with it is computed once, not once a lockbox tried (the reader does not know which
/// is its own; a deposit to 50 took it 25 X25519 on average, a sixth of the governance
/// simulation's time). A lockbox with another ephemeral key costs its own X25519, as
/// before: lockboxes sealed one by one open alike.
pub struct BundleOpener<'a> {
    identity: &'a Identity,
    prologue: Vec<u8>,
    pair: StaticPair,
    /// Our X25519 result with the last ephemeral key met.
    last: Option<KnownShared>,
}

impl<'a> BundleOpener<'a> {
    /// An opener of lockboxes sealed to `identity` in the room `genesis`.
    pub fn new(identity: &'a Identity, genesis: RoomId) -> BundleOpener<'a> {
        BundleOpener {
            identity,
            prologue: bundle_prologue(genesis, &identity.member_key()),
            pair: identity.dh_pair(),
            last: None,
        }
    }

    /// The key in `lockbox`, if it was sealed to us (see [`open_bundle_key`]).
    pub fn open(&mut self, lockbox: &[u8]) -> Result<Zeroizing<[u8; 32]>, LockboxError> {
        let theirs: [u8; 32] = lockbox
            .get(..32)
            .and_then(|key| key.try_into().ok())
            .ok_or(LockboxError::Length)?;
        let known = match self.last.take() {
            Some(known) if known.theirs == theirs => known,
            _ => KnownShared::compute(&self.pair, theirs),
        };
        let opened = open_with(self.identity, &self.prologue, lockbox, Some(known.clone()));
        self.last = Some(known);
        opened
    }
}

/// One Noise_N message carrying `secret` to `holder`, under `prologue`.
fn seal_with(
    prologue: &[u8],
    secret: &[u8; 32],
    holder: &PublicIdentity,
    seed: [u8; 32],
) -> [u8; LOCKBOX_LEN] {
    let mut out = [0; LOCKBOX_LEN];
    // Fixed pattern and key lengths: building and writing cannot fail, so a failure is a
    // bug in this function, not input.
    #[allow(clippy::expect_used)]
    {
        let params = LOCKBOX_PARAMS.parse().expect("pinned Noise pattern parses");
        let mut noise = snow::Builder::with_resolver(params, Box::new(SeededResolver::new(seed)))
            .remote_public_key(&holder.dh_key_bytes())
            .expect("32-byte X25519 key")
            .prologue(prologue)
            .expect("a prologue")
            .build_initiator()
            .expect("complete Noise builder");
        let len = noise
            .write_message(secret, &mut out)
            .expect("the lockbox fits its buffer");
        debug_assert_eq!(len, LOCKBOX_LEN);
    }
    out
}

/// Reads [`seal_with`]'s message with `identity`'s X25519 key (its result with the
/// lockbox's ephemeral key taken from `known` if that is for it).
fn open_with(
    identity: &Identity,
    prologue: &[u8],
    lockbox: &[u8],
    known: Option<KnownShared>,
) -> Result<Zeroizing<[u8; 32]>, LockboxError> {
    if lockbox.len() != LOCKBOX_LEN {
        return Err(LockboxError::Length);
    }
    let pair = identity.dh_pair();
    let secret = pair.private.clone();
    let mut resolver = SeededResolver::with_static([0; 32], pair);
    if let Some(known) = known {
        resolver = resolver.knowing(known);
    }
    // As in `seal_with`: fixed parameters cannot fail to build.
    #[allow(clippy::expect_used)]
    let mut noise = {
        let params = LOCKBOX_PARAMS.parse().expect("pinned Noise pattern parses");
        snow::Builder::with_resolver(params, Box::new(resolver))
            .local_private_key(secret.as_slice())
            .expect("32-byte X25519 key")
            .prologue(prologue)
            .expect("a prologue")
            .build_responder()
            .expect("complete Noise builder")
    };
    let mut plain = Zeroizing::new([0u8; LOCKBOX_LEN]);
    let len = noise
        .read_message(lockbox, plain.as_mut_slice())
        .map_err(|_| LockboxError::Sealing)?;
    let bytes: [u8; 32] = plain
        .get(..len)
        .and_then(|b| b.try_into().ok())
        .ok_or(LockboxError::Length)?;
    Ok(Zeroizing::new(bytes))
}

fn bundle_prologue(genesis: RoomId, holder: &MemberKey) -> Vec<u8> {
    let mut prologue = Vec::with_capacity(BUNDLE_KEY_CONTEXT.len() + 32 + 32);
    prologue.extend_from_slice(BUNDLE_KEY_CONTEXT);
    prologue.extend_from_slice(genesis.as_bytes());
    prologue.extend_from_slice(holder.as_bytes());
    prologue
}

fn prologue(genesis: RoomId, epoch: u64, holder: &MemberKey) -> Vec<u8> {
    let mut prologue = Vec::with_capacity(LOCKBOX_CONTEXT.len() + 32 + 8 + 32);
    prologue.extend_from_slice(LOCKBOX_CONTEXT);
    prologue.extend_from_slice(genesis.as_bytes());
    prologue.extend_from_slice(&epoch.to_be_bytes());
    prologue.extend_from_slice(holder.as_bytes());
    prologue
}

/// A lockbox that does not open to a secret for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockboxError {
    /// Not a lockbox's length.
    #[error("a lockbox has the wrong length")]
    Length,
    /// Not sealed to us for this room and epoch, or altered.
    #[error("a lockbox is not sealed to us for this epoch")]
    Sealing,
    /// It opened, but to another secret than the one the rekey announced.
    #[error("a lockbox holds another secret than the one announced")]
    Commitment,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis(n: u8) -> RoomId {
        RoomId::from_bytes([n; 32])
    }

    #[test]
    fn a_lockbox_opens_only_for_its_member_room_and_epoch() {
        let bob = Identity::from_seed([2; 32]);
        let carol = Identity::from_seed([3; 32]);
        let secret = EpochSecret::from_bytes([7; 32]);
        let commitment = secret.commitment();
        let lockbox = seal(&secret, genesis(1), 4, &bob.public(), [9; 32]);
        assert_eq!(lockbox.len(), LOCKBOX_LEN);

        let opened = open(&bob, genesis(1), 4, &lockbox, commitment);
        assert_eq!(opened.map(|s| s.commitment()), Ok(commitment));
        // Not Carol's, not another epoch's, not another room's.
        let refused = [
            open(&carol, genesis(1), 4, &lockbox, commitment),
            open(&bob, genesis(1), 5, &lockbox, commitment),
            open(&bob, genesis(2), 4, &lockbox, commitment),
        ];
        for result in refused {
            assert_eq!(result.err(), Some(LockboxError::Sealing));
        }
        // Altered anywhere.
        for at in [0, 31, 32, LOCKBOX_LEN - 1] {
            let mut altered = lockbox;
            altered[at] ^= 1;
            let result = open(&bob, genesis(1), 4, &altered, commitment);
            assert_eq!(result.err(), Some(LockboxError::Sealing), "byte {at}");
        }
        assert_eq!(
            open(&bob, genesis(1), 4, &lockbox[1..], commitment).err(),
            Some(LockboxError::Length)
        );
    }

    #[test]
    fn a_secret_other_than_the_announced_one_is_refused() {
        let bob = Identity::from_seed([2; 32]);
        let announced = EpochSecret::from_bytes([7; 32]).commitment();
        // A malicious admin seals Bob another secret than everyone else's.
        let lockbox = seal(
            &EpochSecret::from_bytes([8; 32]),
            genesis(1),
            1,
            &bob.public(),
            [9; 32],
        );
        assert_eq!(
            open(&bob, genesis(1), 1, &lockbox, announced).err(),
            Some(LockboxError::Commitment)
        );
    }

    #[test]
    fn lockboxes_replay_from_their_seed_and_differ_between_seeds() {
        let bob = Identity::from_seed([2; 32]).public();
        let secret = EpochSecret::from_bytes([7; 32]);
        let a = seal(&secret, genesis(1), 1, &bob, [9; 32]);
        assert_eq!(a, seal(&secret, genesis(1), 1, &bob, [9; 32]));
        assert_ne!(a, seal(&secret, genesis(1), 1, &bob, [10; 32]));
    }

    /// A bundle key's lockbox opens only for its member in its room, and never as an
    /// epoch's lockbox (another prologue), nor an epoch's as a bundle key's.
    #[test]
    fn a_bundle_key_opens_only_for_its_member_and_room() {
        let bob = Identity::from_seed([2; 32]);
        let carol = Identity::from_seed([3; 32]);
        let key = [7u8; 32];
        let lockbox = seal_bundle_key(&key, genesis(1), &bob.public(), [9; 32]);
        assert_eq!(
            open_bundle_key(&bob, genesis(1), &lockbox).map(|k| *k),
            Ok(key)
        );
        assert_eq!(
            open_bundle_key(&carol, genesis(1), &lockbox).err(),
            Some(LockboxError::Sealing)
        );
        assert_eq!(
            open_bundle_key(&bob, genesis(2), &lockbox).err(),
            Some(LockboxError::Sealing)
        );
        let secret = EpochSecret::from_bytes(key);
        assert_eq!(
            open(&bob, genesis(1), 0, &lockbox, secret.commitment()).err(),
            Some(LockboxError::Sealing)
        );
        let epoch_box = seal(&secret, genesis(1), 0, &bob.public(), [9; 32]);
        assert_eq!(
            open_bundle_key(&bob, genesis(1), &epoch_box).err(),
            Some(LockboxError::Sealing)
        );
    }
}
