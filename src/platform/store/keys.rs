//! Opening the store and everything that touches its data key: creating or unlocking it,
//! passphrases, the file worker's and the service worker's copies, and exports (a whole
//! profile under its own passphrase) and imports.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use confab_core::vault::layout::{self, CONTACTS, EVENTS, KEY_PROFILE, KEY_WRAPPED, META, ROOMS};
use confab_core::vault::{self, KdfParams, Record, Vault, WrappedKey};
use zeroize::Zeroizing;

use super::{Backend, BrowserStore, DB_NAME, IdbBackend, Op, Store, StoreError, put};
use crate::platform::entropy;

impl Store<IdbBackend> {
    /// Opens the app's profile ([`DB_NAME`]) with the default Argon2 costs, and
    /// [`KdfParams::EXPORT`] for exports. See [`Store::open_backend`] for what
    /// `passphrase` does.
    pub async fn open(passphrase: Option<&str>) -> Result<BrowserStore, StoreError> {
        let store = Store::open_database(DB_NAME, passphrase, KdfParams::default()).await?;
        Ok(store.with_export_kdf(KdfParams::EXPORT))
    }

    /// Opens the profile in database `name` (tests use their own), creating or upgrading
    /// it; fails with [`StoreError::OtherTab`] while another tab has it open.
    pub async fn open_database(
        name: &str,
        passphrase: Option<&str>,
        kdf: KdfParams,
    ) -> Result<BrowserStore, StoreError> {
        Store::open_backend(IdbBackend::open(name).await?, passphrase, kdf).await
    }
}

impl Store<IdbBackend> {
    /// What the file worker needs to open this store beside the page: the database name
    /// and the data key, wrapped *plain* (it crosses to the worker by `postMessage`, inside
    /// the page's own agent cluster; it is never stored in that form).
    pub fn worker_credentials(&self) -> Result<(String, Zeroizing<Vec<u8>>), StoreError> {
        let name = self
            .backend
            .name()
            .ok_or_else(|| StoreError::Unavailable("the database is closed".into()))?;
        let wrapped = self.vault.borrow_mut().wrap(None, self.kdf)?;
        Ok((name, wrapped.encode()))
    }

    /// The file worker's side of [`Store::worker_credentials`]: opens database `name`
    /// (no tab lock, no upgrade: see [`IdbBackend::open_in_worker`]) with the data key.
    pub async fn open_in_worker(name: &str, key: &[u8]) -> Result<BrowserStore, StoreError> {
        let wrapped = WrappedKey::decode(key)?;
        if wrapped.needs_passphrase() {
            return Err(StoreError::Unavailable(
                "the file worker was given a wrapped key".into(),
            ));
        }
        let vault = Vault::unlock(&wrapped, None, entropy::seed())?;
        Ok(Store {
            backend: IdbBackend::open_in_worker(name).await?,
            vault: RefCell::new(vault),
            kdf: KdfParams::default(),
            export_kdf: KdfParams::EXPORT,
            protected: Cell::new(false),
            next_seq: RefCell::new(HashMap::new()),
        })
    }
}

impl Store<IdbBackend> {
    /// Opens the profile in database `name` from the service worker, to read what a push
    /// needs (`platform/service_worker.rs`): no tab lock (a tab may hold it, or none),
    /// no upgrade (a database that is missing or at another version is refused, and none
    /// is created) and no writes. A profile protected by a passphrase is
    /// [`StoreError::Locked`]: the worker never asks for one.
    pub async fn open_read_only_in_worker(name: &str) -> Result<BrowserStore, StoreError> {
        let backend = IdbBackend::open_in_worker(name).await?;
        let bytes = backend
            .get(META, KEY_WRAPPED)
            .await?
            .ok_or_else(|| StoreError::Unavailable("no profile here".into()))?;
        let wrapped = WrappedKey::decode(&bytes)?;
        if wrapped.needs_passphrase() {
            return Err(StoreError::Locked);
        }
        let vault = Vault::unlock(&wrapped, None, entropy::seed())?;
        Ok(Store {
            backend,
            vault: RefCell::new(vault),
            kdf: KdfParams::default(),
            export_kdf: KdfParams::EXPORT,
            protected: Cell::new(false),
            next_seq: RefCell::new(HashMap::new()),
        })
    }
}

impl<B: Backend> Store<B> {
    /// Unlocks the profile in `backend`, or creates one there if it is empty.
    ///
    /// - Existing profile with a passphrase: `None` is [`StoreError::Locked`], a wrong one
    ///   [`StoreError::WrongPassphrase`]. Takes about as long as one Argon2id run.
    /// - Existing profile without one: any passphrase given is ignored.
    /// - Empty backend: a new data key, wrapped under `passphrase` if there is one.
    ///
    /// `kdf` sets the Argon2 costs for passphrases set from now on (here, by
    /// [`Store::set_passphrase`], and by [`Store::export`] unless
    /// [`Store::with_export_kdf`] says otherwise); a stored key keeps its own.
    pub async fn open_backend(
        backend: B,
        passphrase: Option<&str>,
        kdf: KdfParams,
    ) -> Result<Store<B>, StoreError> {
        let passphrase = passphrase.filter(|p| !p.is_empty());
        let (vault, protected) = match backend.get(META, KEY_WRAPPED).await? {
            Some(bytes) => {
                let wrapped = WrappedKey::decode(&bytes)?;
                let vault = Vault::unlock(&wrapped, passphrase, entropy::seed())?;
                (vault, wrapped.needs_passphrase())
            }
            None => {
                let mut vault = Vault::create(entropy::seed());
                let wrapped = vault.wrap(passphrase, kdf)?;
                backend
                    .write(vec![put(META, KEY_WRAPPED, wrapped.encode().to_vec())])
                    .await?;
                (vault, passphrase.is_some())
            }
        };
        Ok(Store {
            backend,
            vault: RefCell::new(vault),
            kdf,
            export_kdf: kdf,
            protected: Cell::new(protected),
            next_seq: RefCell::new(HashMap::new()),
        })
    }

    /// This store, exporting with `params` (until now: the costs it was opened with).
    pub fn with_export_kdf(mut self, params: KdfParams) -> Store<B> {
        self.export_kdf = params;
        self
    }

    /// Whether a passphrase protects the profile.
    pub fn has_passphrase(&self) -> bool {
        self.protected.get()
    }

    /// Protects the profile with `passphrase`, changes it, or (`None` or empty) removes
    /// it. Only the data key is re-wrapped; no record is rewritten.
    pub async fn set_passphrase(&self, passphrase: Option<&str>) -> Result<(), StoreError> {
        let passphrase = passphrase.filter(|p| !p.is_empty());
        let wrapped = self.vault.borrow_mut().wrap(passphrase, self.kdf)?;
        self.backend
            .write(vec![put(META, KEY_WRAPPED, wrapped.encode().to_vec())])
            .await?;
        self.protected.set(passphrase.is_some());
        Ok(())
    }

    /// The whole profile (profile, rooms, events, contacts; not the data key, and not the
    /// `files` and `chunks` stores: files can be huge, and an export must fit in memory) as
    /// one file, encrypted under `passphrase` with Argon2id and XChaCha20-Poly1305 (format:
    /// [`confab_core::vault::export_profile`]). Takes one Argon2id run. A passphrase too
    /// easy to guess is [`StoreError::WeakPassphrase`]. Each object store
    /// is read in its own transaction, so export while nothing is being written.
    pub async fn export(&self, passphrase: &str) -> Result<Vec<u8>, StoreError> {
        // Before reading everything (core checks again).
        vault::passphrase::check(passphrase).map_err(StoreError::WeakPassphrase)?;
        let mut records = Vec::new();
        if let Some(value) = self.load(META, KEY_PROFILE).await? {
            records.push(Record {
                store: META.to_owned(),
                key: KEY_PROFILE.to_vec(),
                value: value.to_vec(),
            });
        }
        for store in [ROOMS, EVENTS, CONTACTS] {
            for (key, value) in self.load_all(store, &[]).await? {
                records.push(Record {
                    store: store.to_owned(),
                    key,
                    value: value.to_vec(),
                });
            }
        }
        Ok(vault::export_profile(
            &records,
            passphrase,
            self.export_kdf,
            entropy::seed(),
        )?)
    }

    /// Replaces the profile, rooms, events and contacts with those of an [`Store::export`]
    /// file, in one transaction; the data key and passphrase stay as they are, and so do
    /// the stored files (an export holds none). A wrong
    /// `passphrase` is [`StoreError::WrongPassphrase`] and changes nothing; so does a damaged
    /// file ([`StoreError::Corrupt`]).
    pub async fn import(&self, bytes: &[u8], passphrase: &str) -> Result<(), StoreError> {
        let records = vault::import_profile(bytes, passphrase)?;
        let mut ops = vec![Op::DeletePrefix {
            store: META,
            prefix: KEY_PROFILE.to_vec(),
        }];
        for store in [ROOMS, EVENTS, CONTACTS] {
            ops.push(Op::DeletePrefix {
                store,
                prefix: Vec::new(),
            });
        }
        for record in &records {
            let store = layout::check_imported(record)?;
            ops.push(self.sealed_put(store, record.key.clone(), &record.value)?);
        }
        self.backend.write(ops).await?;
        self.next_seq.borrow_mut().clear();
        Ok(())
    }
}
