//! Browser tests of the encrypted store on real IndexedDB (and the same code on
//! [`MemoryBackend`]). Each test uses its own database name and deletes it at the end.

use std::time::Duration;

use confab_core::transfer::CHUNK_LEN;
use confab_core::vault::{self, KdfParams, Vault, WrappedKey};
use confab_core::{RoomId, RoomSecret};
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use super::idb::{IdbBackend, SCHEMA_VERSION, idb_error, lock_name};
use super::{
    Backend, BrowserStore, CHUNKS, CONTACTS, EVENTS, FILES, META, MemoryBackend, MemoryStore,
    Profile, ROOMS, ReadMarks, SavedRoom, Store, StoreError,
};
use crate::platform::tab_lock::TabLock;
use crate::platform::{clock, entropy};

wasm_bindgen_test_configure!(run_in_browser);

/// Cheap Argon2 costs: the tests are about the store, not the KDF.
const FAST: KdfParams = KdfParams {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

const SECRET_TEXT: &str = "attack at dawn, bring the cake";

/// A database name no other test (or earlier run) uses.
fn unique_db(test: &str) -> String {
    let tag: String = entropy::seed()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("confab-test-{test}-{tag}")
}

async fn open(name: &str, passphrase: Option<&str>) -> Result<BrowserStore, StoreError> {
    Store::open_database(name, passphrase, FAST).await
}

/// Deletes the database; every store on it must be dropped first.
async fn delete(name: &str) {
    IdbBackend::delete_database(name).await.unwrap();
}

fn profile(name: &str) -> Profile {
    Profile {
        identity_seed: [42; 32],
        display_name: name.to_owned(),
    }
}

fn room(byte: u8, title: &str, last_opened_ms: u64) -> SavedRoom {
    SavedRoom {
        secret: RoomSecret::from_bytes([byte; 32]),
        title: title.to_owned(),
        last_opened_ms,
    }
}

fn event(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// Writes one of everything through `store`.
async fn fill<B: Backend>(store: &Store<B>) -> (RoomId, RoomId) {
    store.save_profile(&profile("Alice")).await.unwrap();
    let (a, b) = (room(1, "Garden club", 100), room(2, "Work", 200));
    store.save_room(&a).await.unwrap();
    store.save_room(&b).await.unwrap();
    store
        .append_events(a.id(), &[event("a1"), event(SECRET_TEXT)])
        .await
        .unwrap();
    store.append_events(b.id(), &[event("b1")]).await.unwrap();
    store.append_events(a.id(), &[event("a3")]).await.unwrap();
    store.save_contact([9; 32], b"bob's card").await.unwrap();
    store.save_contact([3; 32], b"carol's card").await.unwrap();
    (a.id(), b.id())
}

/// Checks what [`fill`] wrote.
async fn check_filled<B: Backend>(store: &Store<B>, (a, b): (RoomId, RoomId)) {
    let loaded = store.load_profile().await.unwrap().unwrap();
    assert!(loaded == profile("Alice"));
    let rooms = store.rooms().await.unwrap();
    let titles: Vec<&str> = rooms.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Work", "Garden club"],
        "most recently opened first"
    );
    assert_eq!(rooms[0].id(), b);
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
    let (a, b) = (room(1, "", 0).id(), room(2, "", 0).id());
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
    let room = room(5, "r", 0).id();
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
async fn raw_contents(name: &str) -> Vec<(String, Vec<u8>, Vec<u8>)> {
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
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
async fn raw_put(db: &Database, store: &str, key: &[u8], value: &[u8]) {
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
    assert_eq!(rooms[0].id(), room_id);
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
        .append_events(room(8, "", 0).id(), &[event("to be replaced")])
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
            .load_events(room(8, "", 0).id())
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

/// Chunk `index` of a test file: [`SECRET_TEXT`] over and over, then the index, so every
/// chunk differs and holds recognisable plaintext.
fn chunk_bytes(index: u32, len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = SECRET_TEXT.bytes().cycle().take(len).collect();
    let at = len.saturating_sub(4);
    bytes[at..].copy_from_slice(&index.to_be_bytes()[..len - at]);
    bytes
}

/// Stores file `[7; 32]` in two steps (chunks 0–1 with a record, then chunk 2, a short
/// last one, with the record updated), and one chunk of file `[8; 32]`.
async fn fill_files<B: Backend>(store: &Store<B>) {
    let (c0, c1, c2) = (
        chunk_bytes(0, CHUNK_LEN),
        chunk_bytes(1, CHUNK_LEN),
        chunk_bytes(2, 1000),
    );
    assert_eq!(store.chunk_count([7; 32]).await.unwrap(), 0);
    store
        .put_chunks([7; 32], 0, &[&c0, &c1], Some(b"2 of 3"))
        .await
        .unwrap();
    // The record and the chunks were written together: both are there.
    assert_eq!(store.chunk_count([7; 32]).await.unwrap(), 2);
    assert_eq!(
        store.file_records().await.unwrap(),
        [([7; 32], b"2 of 3".to_vec())]
    );
    store
        .put_chunks([7; 32], 2, &[&c2], Some(b"3 of 3"))
        .await
        .unwrap();
    store
        .put_chunks([8; 32], 0, &[b"other file"], None)
        .await
        .unwrap();
}

/// Checks what [`fill_files`] wrote, then forgets chunks and files.
async fn check_files<B: Backend>(store: &Store<B>) {
    assert_eq!(store.chunk_count([7; 32]).await.unwrap(), 3);
    assert_eq!(store.chunk_count([8; 32]).await.unwrap(), 1);
    assert_eq!(store.chunk_count([9; 32]).await.unwrap(), 0);
    for index in 0..2 {
        assert_eq!(
            store.chunk([7; 32], index).await.unwrap(),
            Some(chunk_bytes(index, CHUNK_LEN))
        );
    }
    assert_eq!(
        store.chunk([7; 32], 2).await.unwrap(),
        Some(chunk_bytes(2, 1000))
    );
    assert_eq!(store.chunk([7; 32], 3).await.unwrap(), None);
    assert_eq!(
        store.chunk([8; 32], 0).await.unwrap().as_deref(),
        Some(&b"other file"[..])
    );
    assert_eq!(
        store.file_records().await.unwrap(),
        [([7; 32], b"3 of 3".to_vec())]
    );
    // Files are not part of an export.
    let copy = Store::open_backend(MemoryBackend::default(), None, FAST)
        .await
        .unwrap();
    copy.import(&store.export("export pass").await.unwrap(), "export pass")
        .await
        .unwrap();
    assert!(copy.file_records().await.unwrap().is_empty());
    assert_eq!(copy.chunk_count([7; 32]).await.unwrap(), 0);

    store.save_file_record([8; 32], b"eight").await.unwrap();
    store.forget_chunks([8; 32]).await.unwrap();
    assert_eq!(store.chunk_count([8; 32]).await.unwrap(), 0);
    assert_eq!(store.file_records().await.unwrap().len(), 2, "record kept");
    store.forget_file([7; 32]).await.unwrap();
    assert_eq!(store.chunk_count([7; 32]).await.unwrap(), 0);
    assert_eq!(store.chunk([7; 32], 0).await.unwrap(), None);
    assert_eq!(
        store.file_records().await.unwrap(),
        [([8; 32], b"eight".to_vec())]
    );
}

#[wasm_bindgen_test]
async fn file_chunks_round_trip_through_a_reopen_and_are_forgotten() {
    let name = unique_db("chunks");
    {
        let store = open(&name, Some("store pass")).await.unwrap();
        fill_files(&store).await;
    }
    let store = open(&name, Some("store pass")).await.unwrap();
    check_files(&store).await;
    drop(store);
    delete(&name).await;
}

#[wasm_bindgen_test]
async fn file_chunks_in_the_memory_store() {
    let backend = MemoryBackend::default();
    {
        let store: MemoryStore = Store::open_backend(backend.clone(), None, FAST)
            .await
            .unwrap();
        fill_files(&store).await;
    }
    let store = Store::open_backend(backend, None, FAST).await.unwrap();
    check_files(&store).await;
}

#[wasm_bindgen_test]
async fn chunks_are_bound_to_their_file_and_index() {
    let store: MemoryStore = Store::open_backend(MemoryBackend::default(), None, FAST)
        .await
        .unwrap();
    fill_files(&store).await;
    let key = |file: u8, index: u32| {
        let mut key = vec![file; 32];
        key.extend_from_slice(&index.to_be_bytes());
        key
    };
    let sealed = store
        .backend()
        .get(CHUNKS, &key(7, 0))
        .await
        .unwrap()
        .unwrap();
    let swap = |key: Vec<u8>| super::Op::Put {
        store: CHUNKS,
        key,
        value: sealed.clone(),
    };
    store
        .backend()
        .write(vec![swap(key(7, 1)), swap(key(8, 0))])
        .await
        .unwrap();
    for (file, index) in [([7; 32], 1), ([8; 32], 0)] {
        assert!(matches!(
            store.chunk(file, index).await,
            Err(StoreError::Corrupt(_))
        ));
    }
    assert!(store.chunk([7; 32], 0).await.unwrap().is_some());
}

#[wasm_bindgen_test]
async fn with_a_passphrase_no_file_content_reaches_indexeddb() {
    let name = unique_db("raw-chunks");
    {
        let store = open(&name, Some("store pass")).await.unwrap();
        fill_files(&store).await;
        store.save_file_record([9; 32], b"photo.jpg").await.unwrap();
    }
    let raw = raw_contents(&name).await;
    let n_chunks = raw.iter().filter(|(store, ..)| store == CHUNKS).count();
    assert_eq!(n_chunks, 4);
    let n_files = raw.iter().filter(|(store, ..)| store == FILES).count();
    assert_eq!(n_files, 2);
    for (store, key, value) in &raw {
        for needle in [&SECRET_TEXT.as_bytes()[..12], b"other file", b"photo.jpg"] {
            assert!(!contains(key, needle), "{store}: plaintext in a key");
            assert!(!contains(value, needle), "{store}: plaintext in a value");
        }
    }
    delete(&name).await;
}

/// A schema-2 database (no `files`, no `chunks`) written by hand opens with today's code:
/// its contacts read back and files can be stored.
#[wasm_bindgen_test]
async fn a_version_2_database_is_upgraded_to_3_keeping_its_data() {
    let name = unique_db("migrate-2");
    let mut vault = Vault::create([12; 32]);
    {
        let db = Database::open(name.as_str())
            .with_version(2u32)
            .with_on_upgrade_needed(|_, db| {
                for store in ["meta", "rooms", "events", "contacts"] {
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
        let sealed = vault
            .seal(&vault::record_context("contacts", &[5; 32]), b"dave")
            .unwrap();
        raw_put(&db, "contacts", &[5; 32], &sealed).await;
        db.close();
    }

    let store = open(&name, None).await.unwrap();
    assert_eq!(
        store.contacts().await.unwrap(),
        [([5; 32], b"dave".to_vec())]
    );
    fill_files(&store).await;
    check_files(&store).await;
    drop(store);

    let db = Database::open(name.as_str()).await.unwrap();
    assert_eq!(db.version(), 3.0);
    db.close();
    delete(&name).await;
}

/// A memory store with two saved rooms (for the per-room `meta` records), and its backend
/// to [`reopen`] it.
async fn two_rooms() -> (MemoryBackend, MemoryStore, RoomId, RoomId) {
    let backend = MemoryBackend::default();
    let store = reopen(&backend).await;
    let (a, b) = (room(1, "A", 1), room(2, "B", 2));
    store.save_room(&a).await.unwrap();
    store.save_room(&b).await.unwrap();
    (backend, store, a.id(), b.id())
}

/// The store on `backend` opened again, as after a reload.
async fn reopen(backend: &MemoryBackend) -> MemoryStore {
    Store::open_backend(backend.clone(), None, FAST)
        .await
        .unwrap()
}

/// What `meta` holds under `prefix ‖ room` (sealed), exactly as stored.
async fn raw_meta(store: &MemoryStore, prefix: &[u8], room: RoomId) -> Vec<u8> {
    let key = [prefix, room.as_bytes()].concat();
    store.backend().get(META, &key).await.unwrap().unwrap()
}

/// A fresh store with `store`'s export imported.
async fn exported_and_imported(store: &MemoryStore) -> MemoryStore {
    let exported = store.export("export passphrase").await.unwrap();
    let fresh = reopen(&MemoryBackend::default()).await;
    fresh.import(&exported, "export passphrase").await.unwrap();
    fresh
}

#[wasm_bindgen_test]
async fn mailbox_cursors_are_per_room_sealed_and_forgotten_with_the_room() {
    use confab_core::signal::MailboxSeq;
    let (backend, store, a, b) = two_rooms().await;
    assert_eq!(
        store.mailbox_cursor(a).await.unwrap(),
        MailboxSeq::default()
    );
    store
        .save_mailbox_cursor(a, MailboxSeq::new(41))
        .await
        .unwrap();
    store
        .save_mailbox_cursor(a, MailboxSeq::new(0x0102_0304_0506))
        .await
        .unwrap();
    store
        .save_mailbox_cursor(b, MailboxSeq::new(7))
        .await
        .unwrap();
    // Reopened: still there, each room its own.
    let store = reopen(&backend).await;
    assert_eq!(
        store.mailbox_cursor(a).await.unwrap(),
        MailboxSeq::new(0x0102_0304_0506)
    );
    assert_eq!(store.mailbox_cursor(b).await.unwrap(), MailboxSeq::new(7));
    // Sealed like every record: the raw value is not the plain encoding.
    let raw = raw_meta(&store, b"mailbox:", b).await;
    assert_ne!(raw, [&[1u8][..], &7u64.to_be_bytes()].concat());
    // Forgetting a room forgets its cursor, not the other room's.
    store.forget_room(a).await.unwrap();
    assert_eq!(
        store.mailbox_cursor(a).await.unwrap(),
        MailboxSeq::default()
    );
    assert_eq!(store.mailbox_cursor(b).await.unwrap(), MailboxSeq::new(7));
}

#[wasm_bindgen_test]
async fn outbox_records_are_per_room_sealed_and_forgotten_with_the_room() {
    use confab_core::client::OutboxRecord;
    let (backend, store, a, b) = two_rooms().await;
    assert_eq!(store.outbox(a).await.unwrap(), None);
    // Everything up to 5 in other hands, and 9 stored beyond it.
    let plain = [
        &[1u8][..],
        &5u64.to_be_bytes(),
        &1u32.to_be_bytes(),
        &9u64.to_be_bytes(),
    ]
    .concat();
    let record = OutboxRecord::decode(&plain).unwrap();
    store.save_outbox(a, &record).await.unwrap();
    store
        .save_outbox(b, &OutboxRecord::default())
        .await
        .unwrap();
    assert_ne!(raw_meta(&store, b"outbox:", a).await, plain);
    // Reopened: still there, each room its own.
    let store = reopen(&backend).await;
    assert_eq!(store.outbox(a).await.unwrap(), Some(record));
    assert_eq!(
        store.outbox(b).await.unwrap(),
        Some(OutboxRecord::default())
    );
    // Forgetting a room forgets its record, not the other room's.
    store.forget_room(a).await.unwrap();
    assert_eq!(store.outbox(a).await.unwrap(), None);
    assert!(store.outbox(b).await.unwrap().is_some());
}

#[wasm_bindgen_test]
async fn receipts_records_are_sealed_per_room_and_forgotten_with_the_room() {
    use confab_core::client::ReceiptsRecord;
    use confab_core::{MemberKey, OrderKey};
    let (backend, store, a, b) = two_rooms().await;
    assert_eq!(store.receipts(a).await.unwrap(), None);
    // Bob holds our events up to 3 and read up to one of them; Carol holds 1.
    let (bob, carol) = (
        MemberKey::from_bytes([7; 32]),
        MemberKey::from_bytes([8; 32]),
    );
    let read = OrderKey {
        lamport: 4,
        author: MemberKey::from_bytes([1; 32]),
        seq: 3,
    };
    let record = ReceiptsRecord::new([(bob, 3, Some(read)), (carol, 1, None)]);
    store.save_receipts(a, &record).await.unwrap();
    store
        .save_receipts(b, &ReceiptsRecord::new([(carol, 9, None)]))
        .await
        .unwrap();
    // Sealed: the plain encoding is not what is stored.
    assert_ne!(raw_meta(&store, b"receipts:", a).await, record.encode());
    // Reopened: still there, each room its own.
    let store = reopen(&backend).await;
    let loaded = store.receipts(a).await.unwrap().unwrap();
    assert_eq!(loaded, record);
    assert_eq!(loaded.get(&bob), Some((3, Some(read))));
    assert_eq!(
        store.receipts(b).await.unwrap().unwrap().get(&carol),
        Some((9, None))
    );
    // Not exported.
    let imported = exported_and_imported(&store).await;
    assert_eq!(imported.receipts(a).await.unwrap(), None);
    // Forgetting a room forgets its record, not the other room's.
    store.forget_room(a).await.unwrap();
    assert_eq!(store.receipts(a).await.unwrap(), None);
    assert!(store.receipts(b).await.unwrap().is_some());
}

#[wasm_bindgen_test]
async fn read_marks_are_sealed_per_room_and_forgotten_with_the_room() {
    use confab_core::{MemberKey, OrderKey};
    let (backend, store, a, b) = two_rooms().await;
    assert_eq!(store.read_marks(a).await.unwrap(), None);
    let (bob, carol, dave) = (
        MemberKey::from_bytes([7; 32]),
        MemberKey::from_bytes([8; 32]),
        MemberKey::from_bytes([9; 32]),
    );
    // Seen in room a: Bob's events up to 4 (the higher of two marks), Carol's up to 2.
    let seen = ReadMarks::new([(bob, 3), (carol, 2), (bob, 4)]);
    store.save_read_marks(a, &seen).await.unwrap();
    // Nothing yet in room b (a room whose history was empty when first kept).
    store
        .save_read_marks(b, &ReadMarks::default())
        .await
        .unwrap();
    // Sealed: the plain encoding (and the member keys in it) is not what is stored.
    let raw = raw_meta(&store, b"read:", a).await;
    assert!(!contains(&raw, &[7; 32]) && !contains(&raw, &[8; 32]));
    // Reopened: still there, each room its own, saying what was seen.
    let store = reopen(&backend).await;
    let loaded = store.read_marks(a).await.unwrap().unwrap();
    assert_eq!(loaded, seen);
    let key = |author, seq| OrderKey {
        lamport: 1,
        author,
        seq,
    };
    assert!(loaded.has_seen(&key(bob, 1)) && loaded.has_seen(&key(bob, 4)));
    assert!(!loaded.has_seen(&key(bob, 5)), "Bob's next message is new");
    assert!(loaded.has_seen(&key(carol, 2)) && !loaded.has_seen(&key(carol, 3)));
    assert!(
        !loaded.has_seen(&key(dave, 1)),
        "a newcomer's first message is new"
    );
    let empty = store.read_marks(b).await.unwrap().unwrap();
    assert_eq!(empty, ReadMarks::default());
    assert!(!empty.has_seen(&key(bob, 1)));
    // Saving again replaces.
    store
        .save_read_marks(a, &ReadMarks::new([(bob, 6)]))
        .await
        .unwrap();
    let replaced = store.read_marks(a).await.unwrap().unwrap();
    assert!(replaced.has_seen(&key(bob, 6)) && !replaced.has_seen(&key(carol, 1)));
    // Not exported: an imported profile starts with what it holds seen.
    let imported = exported_and_imported(&store).await;
    assert_eq!(imported.read_marks(a).await.unwrap(), None);
    // Forgetting a room forgets its marks, not the other room's.
    store.forget_room(a).await.unwrap();
    assert_eq!(store.read_marks(a).await.unwrap(), None);
    assert!(store.read_marks(b).await.unwrap().is_some());
}

#[wasm_bindgen_test]
async fn drafts_are_sealed_per_room_capped_and_forgotten_with_the_room() {
    let (backend, store, a, b) = two_rooms().await;
    assert_eq!(store.draft(a).await.unwrap(), None);
    store.save_draft(a, SECRET_TEXT).await.unwrap();
    // Longer than the cap (2-byte characters, one across the cap's byte): cut to the
    // whole characters before it.
    let long = format!("x{}", "é".repeat(super::DRAFT_CAP));
    store.save_draft(b, &long).await.unwrap();
    // Sealed: the text is not what is stored.
    let raw = raw_meta(&store, b"draft:", a).await;
    assert!(!contains(&raw, SECRET_TEXT.as_bytes()));
    // Reopened: each room its own.
    let store = reopen(&backend).await;
    assert_eq!(store.draft(a).await.unwrap().as_deref(), Some(SECRET_TEXT));
    let cut = store.draft(b).await.unwrap().unwrap();
    assert_eq!(cut.len(), super::DRAFT_CAP - 1);
    assert!(long.starts_with(&cut));
    // Saving empty forgets it; the other room keeps its own.
    store.save_draft(b, "").await.unwrap();
    assert_eq!(store.draft(b).await.unwrap(), None);
    store.save_draft(b, "again").await.unwrap();
    // Not exported.
    let imported = exported_and_imported(&store).await;
    assert_eq!(imported.draft(a).await.unwrap(), None);
    // Forgetting a room forgets its draft, not the other room's.
    store.forget_room(a).await.unwrap();
    assert_eq!(store.draft(a).await.unwrap(), None);
    assert_eq!(store.draft(b).await.unwrap().as_deref(), Some("again"));
}

#[wasm_bindgen_test]
async fn read_marks_that_do_not_decode_are_refused() {
    let (_backend, store, a, _b) = two_rooms().await;
    let author = [7u8; 32];
    let record = |n: u32, entries: &[([u8; 32], u64)]| {
        let mut plain = vec![1u8];
        plain.extend_from_slice(&n.to_be_bytes());
        for (author, seq) in entries {
            plain.extend_from_slice(author);
            plain.extend_from_slice(&seq.to_be_bytes());
        }
        plain
    };
    for (what, plain) in [
        (
            "another version",
            [&[2u8][..], &0u32.to_be_bytes()].concat(),
        ),
        ("truncated", record(2, &[(author, 1)])),
        (
            "trailing bytes",
            [record(1, &[(author, 1)]), vec![0]].concat(),
        ),
        ("an author twice", record(2, &[(author, 1), (author, 2)])),
    ] {
        let op = store
            .sealed_put(META, [&b"read:"[..], a.as_bytes()].concat(), &plain)
            .unwrap();
        store.backend().write(vec![op]).await.unwrap();
        assert!(
            matches!(store.read_marks(a).await, Err(StoreError::Corrupt(_))),
            "{what}"
        );
    }
    // The well-formed one reads back.
    let op = store
        .sealed_put(
            META,
            [&b"read:"[..], a.as_bytes()].concat(),
            &record(1, &[(author, 3)]),
        )
        .unwrap();
    store.backend().write(vec![op]).await.unwrap();
    let seen = store.read_marks(a).await.unwrap().unwrap();
    assert_eq!(
        seen,
        ReadMarks::new([(confab_core::MemberKey::from_bytes(author), 3)])
    );
}

/// The service worker's read of the profile (`Store::open_read_only_in_worker`): beside
/// the tab that holds the lock it reads the profile, rooms and marks as they are; a
/// passphrase makes it `Locked` (it never asks); a database that does not exist is
/// refused and not created.
#[wasm_bindgen_test]
async fn the_service_worker_reads_the_profile_beside_the_tab_and_never_unlocks_it() {
    use wasm_bindgen::JsCast as _;
    let name = unique_db("push-read");
    let tab = open(&name, None).await.unwrap();
    let (garden, _) = fill(&tab).await;
    let marks = ReadMarks::new([(confab_core::MemberKey::from_bytes([9; 32]), 3)]);
    tab.save_read_marks(garden, &marks).await.unwrap();
    let worker = Store::open_read_only_in_worker(&name).await.unwrap();
    let read = worker.load_profile().await.unwrap().unwrap();
    assert_eq!(read.display_name, "Alice");
    assert_eq!(read.identity_seed, profile("Alice").identity_seed);
    let titles: Vec<String> = worker
        .rooms()
        .await
        .unwrap()
        .into_iter()
        .map(|room| room.title)
        .collect();
    assert!(titles.contains(&"Garden club".to_owned()), "{titles:?}");
    assert_eq!(worker.read_marks(garden).await.unwrap(), Some(marks));
    drop(worker);

    tab.set_passphrase(Some("correct horse battery staple"))
        .await
        .unwrap();
    assert_eq!(
        Store::open_read_only_in_worker(&name).await.err(),
        Some(StoreError::Locked)
    );
    drop(tab);
    delete(&name).await;

    let missing = unique_db("push-missing");
    assert!(Store::open_read_only_in_worker(&missing).await.is_err());
    let databases = js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into()).unwrap();
    let list = js_sys::Reflect::get(&databases, &"databases".into())
        .unwrap()
        .unchecked_into::<js_sys::Function>()
        .call0(&databases)
        .unwrap();
    let list = wasm_bindgen_futures::JsFuture::from(list.unchecked_into::<js_sys::Promise>())
        .await
        .unwrap();
    let names: Vec<String> = js_sys::Array::from(&list)
        .iter()
        .filter_map(|db| js_sys::Reflect::get(&db, &"name".into()).ok()?.as_string())
        .collect();
    assert!(!names.contains(&missing), "created {missing}");
}
