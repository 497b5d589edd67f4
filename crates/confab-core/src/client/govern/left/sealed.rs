//! A bundle sealed to the members its depositor counts in the room (`wire/bundle.rs` has
//! the layout): what keeps a member removed in an old epoch, who still holds that epoch's
//! mailbox keys, from reading the room's later governance in its mailbox.
//!
//! - **Sealing.** Each deposit draws a fresh random key; its lockbox
//!   (`crate::lockbox::seal_bundle_key`: Noise_N to the member's X25519 key from its
//!   `Join`) goes to every member the depositor counts in the room now (joined, not
//!   removed, may read): stragglers in old epochs, the other side of a partition and
//!   newcomers a rekey left out open it, whatever epoch they hold; a removed member does
//!   not. Every entry of the deposit carries the same lockboxes, shuffled, under its own
//!   nonce (so each entry is whole on its own). Nothing in an entry names a member, and
//!   decoys pad the lockboxes to a multiple of 8, so their count says the room's size only
//!   roughly.
//! - **Opening.** A reader does not know which lockbox is its own: it tries each, once a
//!   deposit. A deposit's lockboxes share one ephemeral key, so that costs one X25519
//!   operation a deposit (`lockbox::BundleOpener`), not one a lockbox. It remembers the keys it opened by the
//!   deposit's key id (a hash of the key, checked once opened), and the deposits it could
//!   not open by a hash of their lockboxes (a forged entry reusing a deposit's key id
//!   cannot make a reader drop the genuine one's entries), the last
//!   [`OPENED_KEPT`] and [`UNOPENED_KEPT`].

use std::collections::VecDeque;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::identity::{Identity, PublicIdentity};
use crate::ids::RoomId;
use crate::lockbox;
use crate::rng::SeededRng;
use crate::wire::bundle::{self, KEY_ID_LEN, NONCE_LEN};
use crate::wire::govern::{LOCKBOX_LEN, MAX_LOCKBOXES};

/// How many deposits' keys a reader keeps (a rekey makes one deposit, or a few where rival
/// rekeys lost).
pub(in crate::client) const OPENED_KEPT: usize = 64;
/// How many deposits a reader remembers it could not open.
pub(in crate::client) const UNOPENED_KEPT: usize = 256;

const KEY_ID_CONTEXT: &[u8] = b"confab/v2/bundle-key-id";
/// Lockboxes come in multiples of this ([`MAX_LOCKBOXES`] is one).
const LOCKBOX_PADDING: usize = 8;

/// One deposit's key and the header every entry of it carries.
pub(in crate::client) struct Sealer {
    key: Zeroizing<[u8; 32]>,
    key_id: [u8; KEY_ID_LEN],
    header: Vec<u8>,
}

/// The deposits a reader opened and those it could not.
#[derive(Default)]
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(in crate::client) struct BundleKeys {
    opened: VecDeque<([u8; KEY_ID_LEN], Zeroizing<[u8; 32]>)>,
    unopened: VecDeque<[u8; 32]>,
}

impl Sealer {
    /// A fresh key for one deposit, sealed to each of `holders` in the room `genesis`
    /// (`None` for none or more than [`MAX_LOCKBOXES`]).
    pub(in crate::client) fn new(
        genesis: RoomId,
        holders: &[PublicIdentity],
        rng: &mut SeededRng,
    ) -> Option<Sealer> {
        if holders.is_empty() || holders.len() > MAX_LOCKBOXES {
            return None;
        }
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut_slice());
        // One ephemeral key for every lockbox of the deposit, decoys too (the first seed
        // drawn; as many are drawn as before, so what follows draws as it did): a reader
        // computes one X25519 a deposit, not one a lockbox it tries. Each lockbox stays its
        // holder's alone (the X25519 is with its key, the prologue names it), as with the
        // one ephemeral key of a multi-recipient sealed sender.
        let mut ephemeral: Option<[u8; 32]> = None;
        let mut seed = |rng: &mut SeededRng| {
            let drawn = rng.child_seed();
            *ephemeral.get_or_insert(drawn)
        };
        let mut lockboxes: Vec<[u8; LOCKBOX_LEN]> = holders
            .iter()
            .map(|holder| lockbox::seal_bundle_key(&key, genesis, holder, seed(rng)))
            .collect();
        // Padded to a multiple of LOCKBOX_PADDING with lockboxes of another key to nobody
        // (a throwaway identity): they look like the others, so the count tells a removed
        // reader the room's size only roughly.
        let mut decoy = [0u8; 32];
        rng.fill_bytes(&mut decoy);
        while !lockboxes.len().is_multiple_of(LOCKBOX_PADDING) {
            let nobody = Identity::from_seed(rng.child_seed()).public();
            lockboxes.push(lockbox::seal_bundle_key(
                &decoy,
                genesis,
                &nobody,
                seed(rng),
            ));
        }
        // Fisher-Yates: the order says nothing of who (the caller's order is by key).
        for at in (1..lockboxes.len()).rev() {
            let other = (rng.next_u64() % (at as u64 + 1)) as usize;
            lockboxes.swap(at, other);
        }
        let key_id = key_id(&key);
        let header = bundle::encode_header(&key_id, &lockboxes)?;
        Some(Sealer {
            key,
            key_id,
            header,
        })
    }

    /// How many bytes of an entry the events may fill (their lengths included).
    pub(in crate::client) fn room_for_events(&self) -> usize {
        crate::mailbox::MAX_PAYLOAD_LEN
            .saturating_sub(self.header.len() + NONCE_LEN + bundle::TAG_LEN)
    }

    /// One entry holding `events` (a list from [`bundle::encode_events`]).
    pub(in crate::client) fn seal(&self, events: &[u8], rng: &mut SeededRng) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let sealed = cipher(&self.key)
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: events,
                    aad: &self.header,
                },
            )
            .ok()?;
        Some(bundle::encode(&self.header, &nonce, &sealed))
    }

    /// The depositor's own reader remembers the key (it reads its deposits back).
    pub(in crate::client) fn remember(&self, keys: &mut BundleKeys) {
        keys.remember_opened(self.key_id, self.key.clone());
    }
}

impl BundleKeys {
    /// The events of the bundle entry `bytes` (an opened mailbox entry), if it is sealed to
    /// `identity` in the room `genesis`; nothing verified yet. `None` for an entry not for
    /// us (removed, or never counted by its depositor), altered or malformed.
    pub(in crate::client) fn open(
        &mut self,
        identity: &Identity,
        genesis: RoomId,
        bytes: &[u8],
    ) -> Option<Vec<Vec<u8>>> {
        let entry = bundle::decode(bytes).ok()?;
        let key = match self.opened.iter().find(|(id, _)| *id == entry.key_id) {
            Some((_, key)) => key.clone(),
            None => {
                let tried: [u8; 32] = Sha256::digest(entry.aad).into();
                if self.unopened.contains(&tried) {
                    return None;
                }
                let mut opener = lockbox::BundleOpener::new(identity, genesis);
                let key = entry
                    .lockboxes
                    .iter()
                    .find_map(|sealed| opener.open(sealed).ok())
                    .filter(|key| key_id(key) == entry.key_id);
                let Some(key) = key else {
                    if self.unopened.len() >= UNOPENED_KEPT {
                        self.unopened.pop_front();
                    }
                    self.unopened.push_back(tried);
                    return None;
                };
                self.remember_opened(entry.key_id, key.clone());
                key
            }
        };
        let events = cipher(&key)
            .decrypt(
                XNonce::from_slice(&entry.nonce),
                Payload {
                    msg: entry.sealed,
                    aad: entry.aad,
                },
            )
            .ok()?;
        let events = bundle::decode_events(&events).ok()?;
        Some(events.into_iter().map(<[u8]>::to_vec).collect())
    }

    fn remember_opened(&mut self, key_id: [u8; KEY_ID_LEN], key: Zeroizing<[u8; 32]>) {
        if self.opened.iter().any(|(id, _)| *id == key_id) {
            return;
        }
        if self.opened.len() >= OPENED_KEPT {
            self.opened.pop_front();
        }
        self.opened.push_back((key_id, key));
    }
}

fn key_id(key: &[u8; 32]) -> [u8; KEY_ID_LEN] {
    let hash = Sha256::new()
        .chain_update(KEY_ID_CONTEXT)
        .chain_update(key)
        .finalize();
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(hash.get(..KEY_ID_LEN).unwrap_or_default());
    id
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn genesis() -> RoomId {
        RoomId::from_bytes([1; 32])
    }

    /// Sealed to Bob and Carol: each opens every entry of the deposit (the lockboxes tried
    /// once), Mallory none; an altered entry opens for nobody, and a forged entry under
    /// the deposit's key id does not stop Bob reading the genuine ones.
    #[test]
    fn a_bundle_opens_for_its_holders_only() {
        let [bob, carol, mallory] = [2, 3, 4].map(|n| Identity::from_seed([n; 32]));
        let mut rng = SeededRng::from_seed([5; 32]);
        let sealer = Sealer::new(genesis(), &[bob.public(), carol.public()], &mut rng).unwrap();
        let events: [&[u8]; 2] = [b"one", b"two"];
        let list = bundle::encode_events(events.into_iter()).unwrap();
        let entries: Vec<Vec<u8>> = (0..2)
            .map(|_| sealer.seal(&list, &mut rng).unwrap())
            .collect();
        assert_ne!(entries[0], entries[1], "a nonce per entry");
        let parts = bundle::decode(&entries[0]).unwrap();
        assert_eq!(parts.lockboxes.len(), LOCKBOX_PADDING, "padded with decoys");
        let want = Some(vec![b"one".to_vec(), b"two".to_vec()]);
        for reader in [&bob, &carol] {
            let mut keys = BundleKeys::default();
            for entry in &entries {
                assert_eq!(keys.open(reader, genesis(), entry), want);
            }
            assert_eq!(keys.opened.len(), 1);
        }
        let mut keys = BundleKeys::default();
        for entry in &entries {
            assert_eq!(keys.open(&mallory, genesis(), entry), None);
        }
        assert_eq!(keys.unopened.len(), 1, "tried once");
        let mut altered = entries[0].clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(BundleKeys::default().open(&bob, genesis(), &altered), None);
        // Mallory's forgery: the genuine key id, lockboxes of her own key sealed to Bob.
        let forged_sealer = Sealer::new(genesis(), &[bob.public()], &mut rng).unwrap();
        let mut forged = forged_sealer.seal(&list, &mut rng).unwrap();
        forged[1..1 + KEY_ID_LEN].copy_from_slice(&sealer.key_id);
        let mut keys = BundleKeys::default();
        assert_eq!(keys.open(&bob, genesis(), &forged), None);
        assert_eq!(keys.open(&bob, genesis(), &entries[0]), want);
    }

    /// A deposit's lockboxes (decoys too) share one ephemeral key, so its reader computes
    /// one X25519 for the deposit; each still opens only for its holder, and lockboxes
    /// sealed one by one (each its own ephemeral key) open as before.
    #[test]
    fn a_deposits_lockboxes_share_one_ephemeral_key() {
        let readers: Vec<Identity> = (10..15).map(|n| Identity::from_seed([n; 32])).collect();
        let holders: Vec<PublicIdentity> = readers.iter().map(Identity::public).collect();
        let mut rng = SeededRng::from_seed([6; 32]);
        let sealer = Sealer::new(genesis(), &holders, &mut rng).unwrap();
        let entry = sealer
            .seal(
                &bundle::encode_events([b"x".as_slice()].into_iter()).unwrap(),
                &mut rng,
            )
            .unwrap();
        let parts = bundle::decode(&entry).unwrap();
        assert_eq!(parts.lockboxes.len(), LOCKBOX_PADDING);
        let ephemeral = parts.lockboxes[0].get(..32).unwrap();
        assert!(
            parts
                .lockboxes
                .iter()
                .all(|sealed| sealed.get(..32) == Some(ephemeral)),
            "one ephemeral key a deposit"
        );
        for reader in &readers {
            let mut opener = lockbox::BundleOpener::new(reader, genesis());
            let opened: Vec<Zeroizing<[u8; 32]>> = parts
                .lockboxes
                .iter()
                .filter_map(|sealed| opener.open(sealed).ok())
                .collect();
            assert_eq!(opened.len(), 1, "its own lockbox only");
            assert_eq!(key_id(&opened[0]), sealer.key_id);
        }
        // Sealed one by one: each its own ephemeral key, and the opener takes it too.
        let key = [9; 32];
        let singles: Vec<[u8; LOCKBOX_LEN]> = holders
            .iter()
            .enumerate()
            .map(|(n, holder)| lockbox::seal_bundle_key(&key, genesis(), holder, [n as u8; 32]))
            .collect();
        assert_ne!(singles[0].get(..32), singles[1].get(..32));
        let mut opener = lockbox::BundleOpener::new(&readers[3], genesis());
        let opened: Vec<usize> = (0..singles.len())
            .filter(|n| opener.open(&singles[*n]).is_ok_and(|k| *k == key))
            .collect();
        assert_eq!(opened, vec![3]);
    }
}
