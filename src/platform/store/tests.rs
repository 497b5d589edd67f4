//! Browser tests of the encrypted store on real IndexedDB (and the same code on
//! [`MemoryBackend`]). Each test uses its own database name and deletes it at the end.

use std::time::Duration;

use confab_core::vault::{self, KdfParams, Vault, WrappedKey};
use confab_core::{RoomId, RoomSecret};
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use super::idb::{IdbBackend, SCHEMA_VERSION, idb_error};
use super::lock::lock_name;
use super::{
    Backend, BrowserStore, CHUNKS, CONTACTS, EVENTS, FILES, META, MemoryBackend, MemoryStore,
    Profile, ROOMS, RoomKind, SavedRoom, Store, StoreError,
};
use crate::platform::tab_lock::TabLock;
use crate::platform::{clock, entropy};

wasm_bindgen_test_configure!(run_in_browser);

/// Cheap Argon2 costs: the tests are about the store, not the KDF.
pub(super) const FAST: KdfParams = KdfParams {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

pub(super) const SECRET_TEXT: &str = "attack at dawn, bring the cake";

/// A database name no other test (or earlier run) uses.
pub(super) fn unique_db(test: &str) -> String {
    let tag: String = entropy::seed()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("confab-test-{test}-{tag}")
}

pub(super) async fn open(name: &str, passphrase: Option<&str>) -> Result<BrowserStore, StoreError> {
    Store::open_database(name, passphrase, FAST).await
}

/// Deletes the database; every store on it must be dropped first.
pub(super) async fn delete(name: &str) {
    IdbBackend::delete_database(name).await.unwrap();
}

pub(super) fn profile(name: &str) -> Profile {
    Profile {
        identity_seed: [42; 32],
        display_name: name.to_owned(),
    }
}

pub(super) fn room(byte: u8, title: &str, last_opened_ms: u64) -> SavedRoom {
    SavedRoom {
        secret: RoomSecret::from_bytes([byte; 32]),
        kind: RoomKind::Group,
        title: title.to_owned(),
        last_opened_ms,
        genesis: None,
        epoch: None,
        first_epoch: None,
        untitled: Vec::new(),
    }
}

pub(super) fn event(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// Writes one of everything through `store`.
pub(super) async fn fill<B: Backend>(store: &Store<B>) -> (RoomId, RoomId) {
    store.save_profile(&profile("Alice")).await.unwrap();
    let (a, b) = (room(1, "Garden club", 100), room(2, "Work", 200));
    store.save_room(&a).await.unwrap();
    store.save_room(&b).await.unwrap();
    store
        .append_events(a.home(), &[event("a1"), event(SECRET_TEXT)])
        .await
        .unwrap();
    store.append_events(b.home(), &[event("b1")]).await.unwrap();
    store.append_events(a.home(), &[event("a3")]).await.unwrap();
    store.save_contact([9; 32], b"bob's card").await.unwrap();
    store.save_contact([3; 32], b"carol's card").await.unwrap();
    (a.home(), b.home())
}

/// Checks what [`fill`] wrote.
pub(super) async fn check_filled<B: Backend>(store: &Store<B>, (a, b): (RoomId, RoomId)) {
    let loaded = store.load_profile().await.unwrap().unwrap();
    assert!(loaded == profile("Alice"));
    let rooms = store.rooms().await.unwrap();
    let titles: Vec<&str> = rooms.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Work", "Garden club"],
        "most recently opened first"
    );
    assert_eq!(rooms[0].home(), b);
    assert_eq!(rooms[1].last_opened_ms, 100);
    assert_eq!(
        store.load_events(a).await.unwrap(),
        [event("a1"), event(SECRET_TEXT), event("a3")]
    );
    assert_eq!(store.load_events(b).await.unwrap(), [event("b1")]);
    assert_eq!(
        store.contacts().await.unwrap(),
        [
            ([3; 32], b"carol's card".to_vec()),
            ([9; 32], b"bob's card".to_vec())
        ]
    );
}

/// A room saved by the previous build (a version 2 record, bytes as it wrote them) reads
/// back as an ungoverned room at its room id; a governed room is saved under its genesis
/// with the epoch we hold, and after a reopen it reads back whole, its events under the
/// genesis too (they outlive epochs).
#[wasm_bindgen_test]
async fn version_2_rooms_still_read_and_governed_rooms_live_under_their_genesis() {
    let name = unique_db("saved-room-v3");
    let old = RoomSecret::from_bytes([4; 32]);
    let genesis = RoomId::from_bytes([5; 32]);
    let epoch_secret = confab_core::room::EpochSecret::from_bytes([6; 32]);
    {
        let store = open(&name, None).await.unwrap();
        // Version 2: `2 last_opened_ms:u64be fragment_len:u32be fragment title_len:u32be
        // title kind`, assembled by hand.
        let fragment = old.to_fragment();
        let mut v2 = vec![2, 0, 0, 0, 0, 0, 0, 0, 9];
        v2.extend_from_slice(&(fragment.len() as u32).to_be_bytes());
        v2.extend_from_slice(fragment.as_bytes());
        v2.extend_from_slice(&4u32.to_be_bytes());
        v2.extend_from_slice(b"Work");
        v2.push(1);
        store
            .save_room_bytes_for_testing_only(old.room_id(), &v2)
            .await
            .unwrap();
        let governed = SavedRoom {
            secret: epoch_secret.link(),
            kind: RoomKind::Group,
            title: "Plans".into(),
            last_opened_ms: 5,
            genesis: Some(genesis),
            epoch: Some((2, epoch_secret.clone())),
            first_epoch: None,
            untitled: Vec::new(),
        };
        store.save_room(&governed).await.unwrap();
        store
            .append_events(governed.home(), &[event("in epoch 2")])
            .await
            .unwrap();
    }
    let store = open(&name, None).await.unwrap();
    let rooms = store.rooms().await.unwrap();
    assert_eq!(rooms.len(), 2);
    let (before, governed) = (&rooms[0], &rooms[1]);
    assert_eq!((before.title.as_str(), before.last_opened_ms), ("Work", 9));
    assert_eq!(
        (before.home(), before.room_id()),
        (old.room_id(), old.room_id())
    );
    assert!(before.genesis.is_none() && before.epoch.is_none());
    assert_eq!(governed.home(), genesis);
    assert_eq!(governed.room_id(), epoch_secret.link().room_id());
    let (n, secret) = governed.epoch.as_ref().unwrap();
    assert_eq!(
        (*n, secret.link().room_id()),
        (2, epoch_secret.link().room_id())
    );
    assert_eq!(
        store.load_events(genesis).await.unwrap(),
        [event("in epoch 2")]
    );
    assert_eq!(
        store.load_events(governed.room_id()).await.unwrap(),
        Vec::<Vec<u8>>::new()
    );
    drop(store);
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn everything_round_trips_and_survives_a_reopen() {
    let name = unique_db("round-trip");
    {
        let store = open(&name, None).await.unwrap();
        assert!(!store.has_passphrase());
        assert!(store.load_profile().await.unwrap().is_none());
        assert!(store.rooms().await.unwrap().is_empty());
        let ids = fill(&store).await;
        check_filled(&store, ids).await;
    }
    let store = open(&name, None).await.unwrap();
    let (a, b) = (room(1, "", 0).home(), room(2, "", 0).home());
    check_filled(&store, (a, b)).await;
    // Sequence numbers continue after a reopen.
    store.append_events(a, &[event("a4")]).await.unwrap();
    assert_eq!(store.load_events(a).await.unwrap().len(), 4);
    assert_eq!(store.load_events(a).await.unwrap()[3], event("a4"));
    // Saving again replaces.
    store.save_room(&room(1, "Renamed", 300)).await.unwrap();
    store.save_contact([9; 32], b"new card").await.unwrap();
    assert_eq!(store.rooms().await.unwrap()[0].title, "Renamed");
    assert_eq!(store.contacts().await.unwrap()[1].1, b"new card");
    // Forgetting a room takes its events with it, and no other room's.
    store.forget_room(a).await.unwrap();
    assert_eq!(store.rooms().await.unwrap().len(), 1);
    assert!(store.load_events(a).await.unwrap().is_empty());
    assert_eq!(store.load_events(b).await.unwrap(), [event("b1")]);
    drop(store);
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn concurrent_appends_keep_every_event_in_call_order() {
    let name = unique_db("concurrent");
    let store = open(&name, None).await.unwrap();
    let room = room(5, "r", 0).home();
    let batches: Vec<Vec<Vec<u8>>> = (0..5)
        .map(|i| vec![event(&format!("{i}a")), event(&format!("{i}b"))])
        .collect();
    futures::future::try_join_all(batches.iter().map(|batch| store.append_events(room, batch)))
        .await
        .unwrap();
    let expected: Vec<Vec<u8>> = batches.into_iter().flatten().collect();
    assert_eq!(store.load_events(room).await.unwrap(), expected);
    drop(store);
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn passphrase_right_wrong_changed_and_removed() {
    let name = unique_db("passphrase");
    {
        let store = open(&name, Some("first pass")).await.unwrap();
        assert!(store.has_passphrase());
        store.save_profile(&profile("Alice")).await.unwrap();
    }
    assert_eq!(open(&name, None).await.err(), Some(StoreError::Locked));
    assert_eq!(
        open(&name, Some("wrong")).await.err(),
        Some(StoreError::WrongPassphrase)
    );
    // The wrong attempt changed nothing.
    {
        let store = open(&name, Some("first pass")).await.unwrap();
        assert!(store.load_profile().await.unwrap().unwrap() == profile("Alice"));
        store.set_passphrase(Some("second pass")).await.unwrap();
    }
    assert_eq!(
        open(&name, Some("first pass")).await.err(),
        Some(StoreError::WrongPassphrase)
    );
    {
        let store = open(&name, Some("second pass")).await.unwrap();
        assert!(store.load_profile().await.unwrap().unwrap() == profile("Alice"));
        store.set_passphrase(None).await.unwrap();
        assert!(!store.has_passphrase());
    }
    {
        // No passphrase any more; one offered anyway is ignored.
        let store = open(&name, None).await.unwrap();
        assert!(store.load_profile().await.unwrap().unwrap() == profile("Alice"));
        drop(store);
        let store = open(&name, Some("whatever")).await.unwrap();
        // An empty passphrase means none.
        store.set_passphrase(Some("")).await.unwrap();
        assert!(!store.has_passphrase());
    }
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn weak_passphrases_are_refused_with_the_reason_and_change_nothing() {
    let name = unique_db("weak");
    let store = open(&name, None).await.unwrap();
    store.save_profile(&profile("Alice")).await.unwrap();
    for (weak, reason) in [
        ("hunter2", "at least 10 characters"),
        ("aaaaaaaaaaaa", "at least 5 different characters"),
        ("Password123!", "most common passwords"),
    ] {
        let refused = store.set_passphrase(Some(weak)).await.unwrap_err();
        assert!(refused.to_string().contains(reason), "{weak}: {refused}");
        assert!(!store.has_passphrase());
        let refused = store.export(weak).await.err().unwrap();
        assert!(matches!(refused, StoreError::WeakPassphrase(_)), "{weak}");
    }
    drop(store);
    // Still unprotected: it opens without a passphrase.
    let store = open(&name, None).await.unwrap();
    assert!(store.load_profile().await.unwrap().unwrap() == profile("Alice"));
    drop(store);
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn exports_use_their_own_argon2_costs() {
    let name = unique_db("export-costs");
    let costs = KdfParams {
        m_cost_kib: 128,
        t_cost: 2,
        p_cost: 1,
    };
    let store = open(&name, None).await.unwrap().with_export_kdf(costs);
    store.save_profile(&profile("Alice")).await.unwrap();
    let file = store.export("export pass").await.unwrap();
    // version, "confab-profile", then m, t, p as u32be.
    let params = |at: usize| u32::from_be_bytes(file[at..at + 4].try_into().unwrap());
    assert_eq!((params(15), params(19), params(23)), (128, 2, 1));
    drop(store);
    delete(&name).await;
}

/// Every key and value in every object store, read with raw IndexedDB calls.
pub(super) async fn raw_contents(name: &str) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let db = Database::open(name).await.unwrap();
    let mut out = Vec::new();
    for store in [META, ROOMS, EVENTS, CONTACTS, FILES, CHUNKS] {
        let tx = db.transaction(store).build().unwrap();
        let object_store = tx.object_store(store).unwrap();
        let keys: Vec<JsValue> = object_store
            .get_all_keys::<JsValue>()
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let values: Vec<JsValue> = object_store
            .get_all::<JsValue>()
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (key, value) in keys.into_iter().zip(values) {
            out.push((
                store.to_owned(),
                Uint8Array::new(&key).to_vec(),
                Uint8Array::new(&value).to_vec(),
            ));
        }
    }
    db.close();
    out
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[wasm_bindgen_test]
async fn with_a_passphrase_nothing_readable_reaches_indexeddb() {
    let name = unique_db("raw");
    {
        let store = open(&name, Some("store pass")).await.unwrap();
        fill(&store).await;
    }
    let raw = raw_contents(&name).await;
    assert_eq!(
        raw.len(),
        2 + 2 + 4 + 2,
        "key, profile, 2 rooms, 4 events, 2 contacts"
    );
    let secret_fragment = RoomSecret::from_bytes([1; 32]).to_fragment();
    let needles: [&[u8]; 6] = [
        SECRET_TEXT.as_bytes(),
        b"attack",
        b"Alice",
        b"Garden club",
        b"carol's card",
        secret_fragment.as_bytes(),
    ];
    for (store, key, value) in &raw {
        for needle in needles {
            assert!(!contains(key, needle), "{store}: plaintext in a key");
            assert!(!contains(value, needle), "{store}: plaintext in a value");
        }
        assert!(!contains(value, &[42; 32]), "{store}: the identity seed");
    }
    // The wrapped key is the only unsealed value, and it needs the passphrase.
    let (_, _, wrapped) = raw
        .iter()
        .find(|(s, k, _)| s == META && k == b"key")
        .unwrap();
    assert!(WrappedKey::decode(wrapped).unwrap().needs_passphrase());
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn a_profile_held_by_another_tab_is_refused_until_released() {
    let name = unique_db("tabs");
    // Another tab: it holds the profile's lock.
    let other_tab = TabLock::try_acquire(&lock_name(&name)).await.unwrap();
    assert!(other_tab.is_some());
    assert_eq!(open(&name, None).await.err(), Some(StoreError::OtherTab));
    drop(other_tab);
    // The release reaches the lock manager asynchronously.
    let mut store = None;
    for _ in 0..100 {
        match open(&name, None).await {
            Ok(opened) => {
                store = Some(opened);
                break;
            }
            Err(StoreError::OtherTab) => clock::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("{e}"),
        }
    }
    let store = store.expect("the profile opens once the other tab let go");
    // Now this page holds it: other tabs are refused ...
    assert!(
        TabLock::try_acquire(&lock_name(&name))
            .await
            .unwrap()
            .is_none()
    );
    // ... and a second handle in this page too, while the first is open.
    assert!(matches!(
        open(&name, None).await,
        Err(StoreError::Unavailable(_))
    ));
    drop(store);
    // The page keeps the lock, so reopening right away works.
    drop(open(&name, None).await.unwrap());
    delete(&name).await;
}

/// Writes `value` under `key` in `store` with raw IndexedDB calls.
pub(super) async fn raw_put(db: &Database, store: &str, key: &[u8], value: &[u8]) {
    let tx = db
        .transaction(store)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    let object_store = tx.object_store(store).unwrap();
    object_store
        .put(JsValue::from(Uint8Array::from(value)))
        .with_key(JsValue::from(Uint8Array::from(key)))
        .without_key_type()
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A schema-1 database written by hand, byte for byte as the record formats say, opens
/// with today's code: the data reads back and the stores added since work.
#[wasm_bindgen_test]
async fn a_version_1_database_is_upgraded_and_still_readable() {
    let name = unique_db("migrate");
    let mut vault = Vault::create([11; 32]);
    let room = RoomSecret::from_bytes([4; 32]);
    let room_id = room.room_id();
    {
        let db = Database::open(name.as_str())
            .with_version(1u32)
            .with_on_upgrade_needed(|_, db| {
                for store in ["meta", "rooms", "events"] {
                    db.create_object_store(store).build()?;
                }
                Ok(())
            })
            .await
            .unwrap();
        raw_put(
            &db,
            "meta",
            b"key",
            &vault.wrap(None, FAST).unwrap().encode(),
        )
        .await;
        // profile = version:u8 seed[32] name_len:u32be name
        let mut profile_bytes = vec![1];
        profile_bytes.extend_from_slice(&[42; 32]);
        profile_bytes.extend_from_slice(&5u32.to_be_bytes());
        profile_bytes.extend_from_slice(b"Alice");
        let sealed = vault
            .seal(&vault::record_context("meta", b"profile"), &profile_bytes)
            .unwrap();
        raw_put(&db, "meta", b"profile", &sealed).await;
        // room = version:u8 last_opened_ms:u64be fragment_len:u32be fragment title_len:u32be title
        let fragment = room.to_fragment();
        let mut room_bytes = vec![1];
        room_bytes.extend_from_slice(&7u64.to_be_bytes());
        room_bytes.extend_from_slice(&(fragment.len() as u32).to_be_bytes());
        room_bytes.extend_from_slice(fragment.as_bytes());
        room_bytes.extend_from_slice(&3u32.to_be_bytes());
        room_bytes.extend_from_slice(b"Old");
        let key = room_id.as_bytes().to_vec();
        let sealed = vault
            .seal(&vault::record_context("rooms", &key), &room_bytes)
            .unwrap();
        raw_put(&db, "rooms", &key, &sealed).await;
        // event key = room id ‖ seq:u64be
        let mut key = room_id.as_bytes().to_vec();
        key.extend_from_slice(&0u64.to_be_bytes());
        let sealed = vault
            .seal(&vault::record_context("events", &key), b"old event")
            .unwrap();
        raw_put(&db, "events", &key, &sealed).await;
        db.close();
    }

    let store = open(&name, None).await.unwrap();
    assert!(store.load_profile().await.unwrap().unwrap() == profile("Alice"));
    let rooms = store.rooms().await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        (rooms[0].title.as_str(), rooms[0].last_opened_ms),
        ("Old", 7)
    );
    assert_eq!(rooms[0].home(), room_id);
    store
        .append_events(room_id, &[event("new event")])
        .await
        .unwrap();
    assert_eq!(
        store.load_events(room_id).await.unwrap(),
        [event("old event"), event("new event")]
    );
    store.save_contact([1; 32], b"new store").await.unwrap();
    assert_eq!(store.contacts().await.unwrap().len(), 1);
    drop(store);

    let db = Database::open(name.as_str()).await.unwrap();
    assert_eq!(db.version(), f64::from(SCHEMA_VERSION));
    db.close();
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn a_database_from_a_newer_version_is_refused_clearly() {
    let name = unique_db("newer");
    let db = Database::open(name.as_str())
        .with_version(SCHEMA_VERSION + 1)
        .await
        .unwrap();
    db.close();
    match open(&name, None).await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("newer"), "{why}"),
        other => panic!("expected Unavailable, got {:?}", other.err()),
    }
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn export_then_import_into_another_database_gives_the_same_data() {
    let (from, to) = (unique_db("export-from"), unique_db("export-to"));
    let source = open(&from, Some("source pass")).await.unwrap();
    let ids = fill(&source).await;
    let file = source.export("export pass").await.unwrap();
    assert!(!contains(&file, SECRET_TEXT.as_bytes()));

    let target = open(&to, Some("target pass")).await.unwrap();
    target.save_profile(&profile("Someone else")).await.unwrap();
    target
        .append_events(room(8, "", 0).home(), &[event("to be replaced")])
        .await
        .unwrap();
    assert_eq!(
        target.import(&file, "wrong pass").await.err(),
        Some(StoreError::WrongPassphrase)
    );
    assert!(matches!(
        target.import(&file[..file.len() - 1], "export pass").await,
        Err(StoreError::WrongPassphrase)
    ));
    assert!(matches!(
        target.import(b"not an export", "export pass").await,
        Err(StoreError::Corrupt(_))
    ));
    // Nothing changed.
    assert!(target.load_profile().await.unwrap().unwrap() == profile("Someone else"));

    target.import(&file, "export pass").await.unwrap();
    check_filled(&target, ids).await;
    assert!(
        target
            .load_events(room(8, "", 0).home())
            .await
            .unwrap()
            .is_empty()
    );
    // Appends continue after the imported events.
    target
        .append_events(ids.0, &[event("after")])
        .await
        .unwrap();
    assert_eq!(target.load_events(ids.0).await.unwrap().len(), 4);
    drop(target);
    // Still there after a reopen, under the target's own passphrase.
    let target = open(&to, Some("target pass")).await.unwrap();
    assert!(target.load_profile().await.unwrap().unwrap() == profile("Alice"));
    drop((source, target));
    delete(&from).await;
    delete(&to).await;
}

#[wasm_bindgen_test]
fn a_quota_error_is_reported_as_such() {
    let full =
        web_sys::DomException::new_with_message_and_name("full", "QuotaExceededError").unwrap();
    assert_eq!(idb_error(full), StoreError::QuotaExceeded);
    let other = web_sys::DomException::new_with_message_and_name("no", "DataError").unwrap();
    assert!(matches!(idb_error(other), StoreError::Unavailable(_)));
}

/// A full disk, for real (a storage bucket's quota, see `quota.rs`): a write that does not
/// fit fails as [`StoreError::QuotaExceeded`], which the page words as "full", and leaves
/// nothing of itself behind (IndexedDB rolls the transaction back); once there is room
/// again, the same write is kept, after what was kept before.
#[wasm_bindgen_test]
async fn a_full_disk_refuses_a_write_whole_says_so_and_takes_it_once_freed() {
    let name = unique_db("full");
    let cramped = super::quota::Cramped::new(&name, 512 * 1024).await;
    let store = open(&name, None).await.unwrap();
    let home = room(7, "r", 0).home();
    store.append_events(home, &[event("kept")]).await.unwrap();
    cramped.fill().await;
    let later = [event("later 1"), event("later 2")];
    assert_eq!(
        store.append_events(home, &later).await,
        Err(StoreError::QuotaExceeded)
    );
    assert_eq!(
        store.save_contact([3; 32], b"card").await,
        Err(StoreError::QuotaExceeded)
    );
    assert_eq!(store.load_events(home).await.unwrap(), [event("kept")]);
    assert!(store.contacts().await.unwrap().is_empty());
    cramped.free().await;
    store.append_events(home, &later).await.unwrap();
    store.save_contact([3; 32], b"card").await.unwrap();
    assert_eq!(
        store.load_events(home).await.unwrap(),
        [event("kept"), event("later 1"), event("later 2")]
    );
    assert_eq!(store.contacts().await.unwrap().len(), 1);
    drop(store);
    delete(&name).await;
    drop(cramped);
}

/// The same sealing code over the in-memory backend, as the driver's tests will use it.
#[wasm_bindgen_test]
async fn the_memory_store_behaves_the_same() {
    let backend = MemoryBackend::default();
    let ids = {
        let store: MemoryStore = Store::open_backend(backend.clone(), Some("memory pass"), FAST)
            .await
            .unwrap();
        fill(&store).await
    };
    assert_eq!(
        Store::open_backend(backend.clone(), Some("q"), FAST)
            .await
            .err(),
        Some(StoreError::WrongPassphrase)
    );
    let store = Store::open_backend(backend.clone(), Some("memory pass"), FAST)
        .await
        .unwrap();
    check_filled(&store, ids).await;
    let file = store.export("export pass").await.unwrap();
    let copy = Store::open_backend(MemoryBackend::default(), None, FAST)
        .await
        .unwrap();
    copy.import(&file, "export pass").await.unwrap();
    check_filled(&copy, ids).await;
    // Sealed values are bound to their key: one moved to another key does not open.
    let sealed = store
        .backend()
        .get(CONTACTS, &[9; 32])
        .await
        .unwrap()
        .unwrap();
    store
        .backend()
        .write(vec![super::Op::Put {
            store: CONTACTS,
            key: vec![3; 32],
            value: sealed,
        }])
        .await
        .unwrap();
    assert!(matches!(
        store.contacts().await,
        Err(StoreError::Corrupt(_))
    ));
}

/// A rewritten event replaces its record where it was (no other record changes), and an
/// export made after it holds only the new form (issue 17, item 6).
#[wasm_bindgen_test]
async fn a_rewritten_event_replaces_its_record_in_the_store_and_in_exports() {
    let name = unique_db("rewrite");
    let store = open(&name, None).await.unwrap().with_export_kdf(FAST);
    let room = room(6, "r", 0).home();
    let records = store
        .append_events(room, &[event("before"), event(SECRET_TEXT)])
        .await
        .unwrap();
    store.append_events(room, &[event("after")]).await.unwrap();
    store
        .rewrite_events(&[(records[1].clone(), event("erased"))])
        .await
        .unwrap();
    assert_eq!(
        store.load_events(room).await.unwrap(),
        [event("before"), event("erased"), event("after")]
    );
    // The records load_event_records hands out rewrite the same way.
    let (record, _) = store.load_event_records(room).await.unwrap().remove(0);
    store
        .rewrite_events(&[(record, event("first"))])
        .await
        .unwrap();
    assert_eq!(store.load_events(room).await.unwrap()[0], event("first"));
    let file = store.export("export pass").await.unwrap();
    let exported = vault::import_profile(&file, "export pass").unwrap();
    assert!(exported.iter().any(|r| r.value == event("erased")));
    assert!(
        exported
            .iter()
            .all(|r| !contains(&r.value, SECRET_TEXT.as_bytes()))
    );
    drop(store);
    delete(&name).await;
}
