//! The store against a real redb file in a temporary directory, with time passed in.

use confab_core::RoomSecret;
use confab_core::mailbox::MailboxKeys;

use super::*;

const TTL: u64 = 1_000;
const T0: u64 = 1_700_000_000_000;
/// The address tag of most deposits here.
const OWNER: AddressTag = AddressTag(1);
const CACHE: usize = 1 << 20;

fn limits() -> StoreLimits {
    StoreLimits {
        ttl_ms: TTL,
        room_max_entries: 5,
        room_max_bytes: 1_000,
        owner_max_bytes: 1_500,
        total_max_bytes: 1_500,
        page_max_entries: 3,
        page_max_bytes: 250,
    }
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("mailbox.redb"), limits(), CACHE).unwrap()
}

fn keys(n: u8) -> MailboxKeys {
    RoomSecret::from_bytes([n; 32]).mailbox_keys()
}

fn seqs(page: &Page) -> Vec<u64> {
    page.entries.iter().map(|(seq, _)| seq.to_u64()).collect()
}

fn fetch_all(store: &Store, now: u64, keys: &MailboxKeys, after: u64) -> Page {
    let key = keys.deposit_key();
    store
        .fetch(now, &keys.room(), MailboxSeq::new(after), |bound| {
            *bound == key
        })
        .unwrap()
}

#[test]
fn put_then_fetch_after_a_cursor_in_deposit_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (a, b) = (keys(1), keys(2));
    let put = |keys: &MailboxKeys, bytes: &[u8]| {
        store
            .put(T0, &keys.room(), &keys.deposit_key(), bytes, OWNER)
            .unwrap()
            .seq
            .to_u64()
    };
    assert_eq!(put(&a, b"a1"), 1);
    assert_eq!(put(&b, b"b1"), 2);
    assert_eq!(put(&a, b"a2"), 3);
    let page = fetch_all(&store, T0, &a, 0);
    assert_eq!(
        page.entries,
        vec![
            (MailboxSeq::new(1), b"a1".to_vec()),
            (MailboxSeq::new(3), b"a2".to_vec())
        ]
    );
    assert!(!page.more);
    assert_eq!(seqs(&fetch_all(&store, T0, &a, 1)), [3]);
    assert_eq!(seqs(&fetch_all(&store, T0, &a, 3)), Vec::<u64>::new());
    assert_eq!(seqs(&fetch_all(&store, T0, &b, 0)), [2]);
    // A room nobody deposited into reads as empty, whatever the proof.
    let empty = store
        .fetch(T0, &keys(3).room(), MailboxSeq::new(0), |_| false)
        .unwrap();
    assert_eq!(empty.entries, vec![]);
    assert_eq!(store.room_usage(&a.room()).unwrap(), Some((2, 4)));
    assert_eq!(store.total_bytes().unwrap(), 6);
}

#[test]
fn pages_are_bounded_by_entries_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = keys(1);
    for len in [10, 10, 10, 10] {
        store
            .put(T0, &a.room(), &a.deposit_key(), &vec![7; len], OWNER)
            .unwrap();
    }
    let first = fetch_all(&store, T0, &a, 0);
    assert_eq!((seqs(&first), first.more), (vec![1, 2, 3], true));
    let second = fetch_all(&store, T0, &a, 3);
    assert_eq!((seqs(&second), second.more), (vec![4], false));

    // Bytes: 200 + 200 > 250, so one entry a page; an entry larger than a page still goes.
    let b = keys(2);
    for len in [200, 200, 300] {
        store
            .put(T0, &b.room(), &b.deposit_key(), &vec![7; len], OWNER)
            .unwrap();
    }
    let mut after = 0;
    let mut sizes = Vec::new();
    loop {
        let page = fetch_all(&store, T0, &b, after);
        assert_eq!(page.entries.len(), 1);
        after = page.entries[0].0.to_u64();
        sizes.push(page.entries[0].1.len());
        if !page.more {
            break;
        }
    }
    assert_eq!(sizes, [200, 200, 300]);
}

#[test]
fn full_rooms_and_stores_refuse_new_entries_and_keep_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = keys(1);
    for _ in 0..5 {
        store
            .put(T0, &a.room(), &a.deposit_key(), b"x", OWNER)
            .unwrap();
    }
    let refused = store.put(T0, &a.room(), &a.deposit_key(), b"x", OWNER);
    assert!(
        matches!(
            refused,
            Err(PutError::RoomFull {
                n_entries: 5,
                max_entries: 5,
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(seqs(&fetch_all(&store, T0, &a, 3)), [4, 5]);

    // Bytes per room: 1,000.
    let b = keys(2);
    store
        .put(T0, &b.room(), &b.deposit_key(), &[0; 900], OWNER)
        .unwrap();
    let refused = store.put(T0, &b.room(), &b.deposit_key(), &[0; 101], OWNER);
    assert!(matches!(
        refused,
        Err(PutError::RoomFull { n_bytes: 900, .. })
    ));
    store
        .put(T0, &b.room(), &b.deposit_key(), &[0; 100], OWNER)
        .unwrap();
    assert_eq!(store.room_usage(&b.room()).unwrap(), Some((2, 1_000)));
}

/// Deposits `n` entries of `len` bytes from `owner`, each into a room of its own
/// (`keys(first)`, `keys(first + 1)`, …).
fn flood(store: &Store, owner: AddressTag, first: u8, n: u8, len: usize) {
    for room in first..first + n {
        let keys = keys(room);
        store
            .put(T0, &keys.room(), &keys.deposit_key(), &vec![0; len], owner)
            .unwrap();
    }
}

#[test]
fn an_address_over_its_share_makes_room_from_its_own_oldest_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("mailbox.redb"),
        StoreLimits {
            owner_max_bytes: 1_000,
            room_max_bytes: 5_000,
            total_max_bytes: 10_000,
            ..limits()
        },
        CACHE,
    )
    .unwrap();
    let (real, flooder) = (keys(200), AddressTag(9));
    store
        .put(T0, &real.room(), &real.deposit_key(), &[1; 300], OWNER)
        .unwrap();
    // Ten rooms of 300 bytes from one address: only the last three fit its share.
    flood(&store, flooder, 1, 10, 300);
    assert_eq!(store.owner_usage(flooder).unwrap(), 900);
    for gone in 1..=7 {
        assert_eq!(
            store.room_usage(&keys(gone).room()).unwrap(),
            None,
            "{gone}"
        );
    }
    assert_eq!(store.room_usage(&keys(10).room()).unwrap(), Some((1, 300)));
    // Nobody else lost anything.
    assert_eq!(seqs(&fetch_all(&store, T0, &real, 0)), [1]);
    // An entry larger than a share is refused outright.
    let refused = store.put(
        T0,
        &keys(50).room(),
        &keys(50).deposit_key(),
        &[0; 1_001],
        flooder,
    );
    assert!(
        matches!(refused, Err(PutError::StoreFull { max_bytes: 1_000 })),
        "{refused:?}"
    );
}

#[test]
fn a_full_store_makes_room_from_the_address_holding_the_most() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let real = keys(200);
    store
        .put(T0, &real.room(), &real.deposit_key(), &[1; 100], OWNER)
        .unwrap();
    // Many addresses fill the store (1,500 bytes): 7 of 200 bytes each.
    for n in 0..7u8 {
        flood(&store, AddressTag(100 + u64::from(n)), 10 * n + 1, 1, 200);
    }
    assert_eq!(store.total_bytes().unwrap(), 1_500);
    // The real room still deposits: the oldest entry of the largest holder goes (of
    // equal holders, the larger tag), not the real room's.
    let stored = store
        .put(T0, &real.room(), &real.deposit_key(), &[2; 100], OWNER)
        .unwrap();
    assert_eq!(stored.n_evicted, 1);
    assert_eq!(seqs(&fetch_all(&store, T0, &real, 0)), [1, 9]);
    assert_eq!(store.owner_usage(AddressTag(106)).unwrap(), 0);
    assert_eq!(store.total_bytes().unwrap(), 1_400);
    // A flooder that goes on only ever pushes out flooders holding as much as it does.
    for n in 0..20u8 {
        flood(&store, AddressTag(200 + u64::from(n)), 100 + n, 1, 200);
        assert_eq!(seqs(&fetch_all(&store, T0, &real, 0)), [1, 9]);
    }
    assert!(store.total_bytes().unwrap() <= 1_500);
}

#[test]
fn the_same_deposits_leave_two_stores_the_same() {
    // What a cluster relies on: applying one log gives every node the same entries,
    // whatever each had swept before.
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let stores = dirs.each_ref().map(open);
    let mut log = Vec::new();
    for n in 0..40u64 {
        let room = keys(u8::try_from(n % 9).unwrap());
        let owner = AddressTag(n % 4 + 1);
        let at = T0 + n * 100;
        log.push((
            n + 1,
            at,
            room,
            owner,
            vec![0; 60 + (n as usize * 37) % 200],
        ));
    }
    for (idx, store) in stores.iter().enumerate() {
        for (seq, at, room, owner, entry) in &log {
            if idx == 1 && seq % 7 == 0 {
                // This node sweeps now and then; the other never does.
                store.expire(*at).unwrap();
            }
            let _ = store.apply(*seq, *at, &room.room(), &room.deposit_key(), entry, *owner);
        }
    }
    let now = T0 + 40 * 100;
    for room in 0..9 {
        let [a, b] = stores
            .each_ref()
            .map(|store| fetch_all(store, now, &keys(room), 0));
        assert_eq!(seqs(&a), seqs(&b), "room {room}");
    }
    assert_eq!(
        stores[0].total_bytes().unwrap(),
        stores[1].total_bytes().unwrap()
    );
}

#[test]
fn a_log_decided_in_batches_leaves_the_store_as_one_by_one() {
    // Group commit: how deposits are cut into transactions changes no decision, refusals
    // (another key, a full room) and evictions and expiry included.
    let mut log = Vec::new();
    for n in 0..60u64 {
        // Every other deposit goes to room 0, which fills up.
        let room = if n % 2 == 0 {
            0
        } else {
            u8::try_from(n % 7).unwrap()
        };
        let len = if room == 0 {
            50
        } else {
            60 + (n as usize * 37) % 200
        };
        // Every fifth deposit claims its room with another room's key.
        let key = if n % 5 == 4 {
            keys(room + 1)
        } else {
            keys(room)
        };
        log.push(Deposit {
            at_ms: T0 + n * 25,
            seq: Some(n + 1),
            room: keys(room).room(),
            key: key.deposit_key(),
            entry: vec![0; len],
            depositor: AddressTag(n % 3 + 1),
        });
    }
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let stores = dirs.each_ref().map(open);
    let outcome = |outcome: Result<Option<Stored>, PutError>| match outcome {
        Ok(stored) => format!("{stored:?}"),
        Err(err) => err.to_string(),
    };
    let mut outcomes: [Vec<String>; 3] = Default::default();
    for (idx, batch_len) in [1, 7, log.len()].into_iter().enumerate() {
        for batch in log.chunks(batch_len) {
            let decided = stores[idx].insert_all(batch).unwrap();
            outcomes[idx].extend(decided.into_iter().map(outcome));
        }
    }
    assert!(
        outcomes[0]
            .iter()
            .any(|o| o.contains("another deposit key"))
    );
    assert!(outcomes[0].iter().any(|o| o.contains("is full")));
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0], outcomes[2]);
    let now = T0 + 60 * 25;
    for room in 0..7 {
        // Whichever key the room is bound to (a wrong key may have come first).
        let pages = stores.each_ref().map(|store| {
            let page = store.fetch(now, &keys(room).room(), MailboxSeq::new(0), |_| true);
            seqs(&page.unwrap())
        });
        assert_eq!(pages[0], pages[1], "room {room}");
        assert_eq!(pages[0], pages[2], "room {room}");
    }
    let totals = stores.each_ref().map(|store| store.total_bytes().unwrap());
    assert_eq!(totals, [totals[0]; 3]);
    let last = stores.each_ref().map(|store| store.last_seq().unwrap());
    assert_eq!(last, [60; 3]);
}

#[test]
fn a_failed_transaction_stores_nothing_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (good, broken) = (keys(1), keys(2));
    // A room record that does not decode: deciding a deposit into that room fails.
    let txn = store.db.begin_write().unwrap();
    txn.open_table(ROOMS)
        .unwrap()
        .insert(broken.room().as_bytes().as_slice(), [9u8; 3].as_slice())
        .unwrap();
    txn.commit().unwrap();
    let deposit = |keys: &MailboxKeys| Deposit {
        at_ms: T0,
        seq: None,
        room: keys.room(),
        key: keys.deposit_key(),
        entry: vec![1; 100],
        depositor: OWNER,
    };
    let failed = store.insert_all(&[deposit(&good), deposit(&broken), deposit(&good)]);
    assert!(matches!(failed, Err(StoreError::Format(_))), "{failed:?}");
    // Nothing of the batch was kept, not even the deposit decided before the failure.
    assert_eq!(store.last_seq().unwrap(), 0);
    assert_eq!(store.total_bytes().unwrap(), 0);
    assert!(fetch_all(&store, T0, &good, 0).entries.is_empty());
    // The next batch is decided afresh.
    let stored = store.insert_all(&[deposit(&good)]).unwrap();
    assert!(matches!(
        stored[..],
        [Ok(Some(Stored { n_evicted: 0, .. }))]
    ));
    assert_eq!(store.last_seq().unwrap(), 1);
}

#[test]
fn the_first_deposit_binds_the_room_to_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (owner, stranger) = (keys(1), keys(2));
    let room = owner.room();
    store
        .put(T0, &room, &owner.deposit_key(), b"mine", OWNER)
        .unwrap();
    let refused = store.put(T0, &room, &stranger.deposit_key(), b"theirs", OWNER);
    assert!(matches!(refused, Err(PutError::Denied)), "{refused:?}");
    let stranger_key = stranger.deposit_key();
    let denied = store.fetch(T0, &room, MailboxSeq::new(0), |bound| {
        *bound == stranger_key
    });
    assert!(matches!(denied, Err(AccessError::Denied)));
    assert!(matches!(
        store.check_access(&room, |bound| *bound == stranger_key),
        Err(AccessError::Denied)
    ));
    assert!(
        store
            .check_access(&room, |bound| *bound == owner.deposit_key())
            .is_ok()
    );
    assert_eq!(store.room_usage(&room).unwrap(), Some((1, 4)));
}

#[test]
fn entries_expire_after_the_ttl_and_take_the_binding_with_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (a, b) = (keys(1), keys(2));
    store
        .put(T0, &a.room(), &a.deposit_key(), b"old", OWNER)
        .unwrap();
    store
        .put(T0 + 10, &b.room(), &b.deposit_key(), b"b", OWNER)
        .unwrap();
    store
        .put(T0 + 500, &a.room(), &a.deposit_key(), b"newer", OWNER)
        .unwrap();
    // Not served once expired, even before a sweep.
    assert_eq!(seqs(&fetch_all(&store, T0 + TTL - 1, &a, 0)), [1, 3]);
    assert_eq!(seqs(&fetch_all(&store, T0 + TTL, &a, 0)), [3]);
    assert_eq!(store.expire(T0 + TTL - 1).unwrap(), 0);
    assert_eq!(store.expire(T0 + TTL + 10).unwrap(), 2);
    assert_eq!(store.room_usage(&a.room()).unwrap(), Some((1, 5)));
    assert_eq!(store.room_usage(&b.room()).unwrap(), None);
    assert_eq!(store.total_bytes().unwrap(), 5);
    assert_eq!(store.expire(T0 + TTL + 500).unwrap(), 1);
    assert_eq!(store.room_usage(&a.room()).unwrap(), None);
    assert_eq!(store.total_bytes().unwrap(), 0);
    // An empty room binds again, and sequence numbers go on increasing.
    let seq = store
        .put(T0 + 5_000, &a.room(), &b.deposit_key(), b"again", OWNER)
        .unwrap();
    assert_eq!(seq.seq.to_u64(), 4);
}

#[test]
fn a_clock_stepping_back_never_reorders_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = keys(1);
    store
        .put(T0, &a.room(), &a.deposit_key(), b"1", OWNER)
        .unwrap();
    // Stored at T0, not T0 - 10,000: it expires after the first, not long before it.
    store
        .put(T0 - 10_000, &a.room(), &a.deposit_key(), b"2", OWNER)
        .unwrap();
    assert_eq!(seqs(&fetch_all(&store, T0 + TTL - 1, &a, 0)), [1, 2]);
    assert_eq!(store.expire(T0 + TTL).unwrap(), 2);
}

#[test]
fn expiry_works_through_more_than_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("mailbox.redb"),
        StoreLimits {
            room_max_entries: 5_000,
            total_max_bytes: u64::MAX,
            room_max_bytes: u64::MAX,
            ..limits()
        },
        CACHE,
    )
    .unwrap();
    let a = keys(1);
    for _ in 0..(EXPIRE_BATCH + 10) {
        store
            .put(T0, &a.room(), &a.deposit_key(), b"x", OWNER)
            .unwrap();
    }
    assert_eq!(store.expire(T0 + TTL).unwrap(), (EXPIRE_BATCH + 10) as u64);
    assert_eq!(store.room_usage(&a.room()).unwrap(), None);
}

#[test]
fn entries_bindings_and_sequence_numbers_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (keys(1), keys(2));
    {
        let store = open(&dir);
        store
            .put(T0, &a.room(), &a.deposit_key(), b"kept", OWNER)
            .unwrap();
    }
    let store = open(&dir);
    assert_eq!(
        fetch_all(&store, T0, &a, 0).entries,
        vec![(MailboxSeq::new(1), b"kept".to_vec())]
    );
    assert!(matches!(
        store.put(T0, &a.room(), &b.deposit_key(), b"x", OWNER),
        Err(PutError::Denied)
    ));
    let seq = store
        .put(T0, &a.room(), &a.deposit_key(), b"x", OWNER)
        .unwrap();
    assert_eq!(seq.seq.to_u64(), 2);
}

#[test]
fn a_database_held_by_another_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(&dir);
    let second = Store::open(&dir.path().join("mailbox.redb"), limits(), CACHE);
    assert!(matches!(second, Err(StoreError::Database(_))));
}
