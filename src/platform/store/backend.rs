//! [`Backend`]: raw storage under the sealing layer (named object stores of byte keys and
//! values), the [`Op`]s a batch applies, and [`MemoryBackend`], a map for tests.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::StoreError;

/// One change in a [`Backend::write`] batch.
pub enum Op {
    /// Store `value` under `key`, replacing what was there.
    Put {
        /// Object store.
        store: &'static str,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Delete every key that starts with `prefix` (all of them for an empty prefix).
    DeletePrefix {
        /// Object store.
        store: &'static str,
        /// Key prefix.
        prefix: Vec<u8>,
    },
}

impl Op {
    /// The object store it changes.
    pub fn store(&self) -> &'static str {
        match self {
            Op::Put { store, .. } | Op::DeletePrefix { store, .. } => store,
        }
    }
}

/// Raw storage under the sealing layer: named object stores mapping byte keys to byte
/// values, keys ordered bytewise. [`IdbBackend`] is IndexedDB, [`MemoryBackend`] a map.
// The app is single-threaded wasm: nobody needs these futures to be `Send`.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// The value under `key`.
    async fn get(&self, store: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every `(key, value)` whose key starts with `prefix`, in key order, as one snapshot.
    async fn scan(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;
    /// The greatest key that starts with `prefix`.
    async fn last_key(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Applies every op, in order, atomically: all or none.
    async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError>;
}

/// A [`Backend`] in memory. Clones share the same map, so a test can "reopen" a store by
/// opening another [`Store`] on a clone.
#[derive(Clone, Default)]
pub struct MemoryBackend(Rc<RefCell<MemoryMap>>);

/// `(object store, key) → value`.
type MemoryMap = BTreeMap<(&'static str, Vec<u8>), Vec<u8>>;

impl Backend for MemoryBackend {
    async fn get(&self, store: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.borrow().get(&(store, key.to_vec())).cloned())
    }

    async fn scan(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let map = self.0.borrow();
        Ok(map
            .range((store, prefix.to_vec())..)
            .take_while(|((s, key), _)| *s == store && key.starts_with(prefix))
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }

    async fn last_key(
        &self,
        store: &'static str,
        prefix: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.scan(store, prefix).await?.pop().map(|(key, _)| key))
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut map = self.0.borrow_mut();
        for op in ops {
            match op {
                Op::Put { store, key, value } => {
                    map.insert((store, key), value);
                }
                Op::DeletePrefix { store, prefix } => {
                    map.retain(|(s, key), _| !(*s == store && key.starts_with(&prefix)));
                }
            }
        }
        Ok(())
    }
}
