//! Browser tests of what the store keeps, record by record: files and their chunks, and a
//! room's own records (mailbox cursor, outbox, receipts, read marks, draft, mute), on real
//! IndexedDB and on [`MemoryBackend`]. Helpers are shared with `tests.rs`.

use confab_core::RoomId;
use confab_core::transfer::CHUNK_LEN;
use confab_core::vault::{self, Vault};
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use wasm_bindgen_test::*;

use crate::platform::store::tests::{
    FAST, SECRET_TEXT, contains, delete, fill, open, profile, raw_contents, raw_put, room,
    unique_db,
};
use crate::platform::store::{
    Backend, CHUNKS, FILES, META, MemoryBackend, MemoryStore, ReadMarks, Store, StoreError,
};

wasm_bindgen_test_configure!(run_in_browser);

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
    (backend, store, a.home(), b.home())
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
