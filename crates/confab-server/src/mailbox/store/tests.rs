//! The store against a real redb file in a temporary directory, with time passed in.

use confab_core::RoomSecret;
use confab_core::mailbox::MailboxKeys;

use super::*;

const TTL: u64 = 1_000;
const T0: u64 = 1_700_000_000_000;

fn limits() -> StoreLimits {
    StoreLimits {
        ttl_ms: TTL,
        room_max_entries: 5,
        room_max_bytes: 1_000,
        total_max_bytes: 1_500,
        page_max_entries: 3,
        page_max_bytes: 250,
    }
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("mailbox.redb"), limits()).unwrap()
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
            .put(T0, &keys.room(), &keys.deposit_key(), bytes)
            .unwrap()
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
            .put(T0, &a.room(), &a.deposit_key(), &vec![7; len])
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
            .put(T0, &b.room(), &b.deposit_key(), &vec![7; len])
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
        store.put(T0, &a.room(), &a.deposit_key(), b"x").unwrap();
    }
    let refused = store.put(T0, &a.room(), &a.deposit_key(), b"x");
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
        .put(T0, &b.room(), &b.deposit_key(), &[0; 900])
        .unwrap();
    let refused = store.put(T0, &b.room(), &b.deposit_key(), &[0; 101]);
    assert!(matches!(
        refused,
        Err(PutError::RoomFull { n_bytes: 900, .. })
    ));
    store
        .put(T0, &b.room(), &b.deposit_key(), &[0; 100])
        .unwrap();
    // The whole store: 1,500 bytes, 1,005 used.
    let c = keys(3);
    let refused = store.put(T0, &c.room(), &c.deposit_key(), &[0; 496]);
    assert!(matches!(
        refused,
        Err(PutError::StoreFull { max_bytes: 1_500 })
    ));
    store
        .put(T0, &c.room(), &c.deposit_key(), &[0; 495])
        .unwrap();
    assert_eq!(store.total_bytes().unwrap(), 1_500);
    assert_eq!(store.room_usage(&b.room()).unwrap(), Some((2, 1_000)));
}

#[test]
fn the_first_deposit_binds_the_room_to_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (owner, stranger) = (keys(1), keys(2));
    let room = owner.room();
    store.put(T0, &room, &owner.deposit_key(), b"mine").unwrap();
    let refused = store.put(T0, &room, &stranger.deposit_key(), b"theirs");
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
    store.put(T0, &a.room(), &a.deposit_key(), b"old").unwrap();
    store
        .put(T0 + 10, &b.room(), &b.deposit_key(), b"b")
        .unwrap();
    store
        .put(T0 + 500, &a.room(), &a.deposit_key(), b"newer")
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
        .put(T0 + 5_000, &a.room(), &b.deposit_key(), b"again")
        .unwrap();
    assert_eq!(seq.to_u64(), 4);
}

#[test]
fn a_clock_stepping_back_never_reorders_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = keys(1);
    store.put(T0, &a.room(), &a.deposit_key(), b"1").unwrap();
    // Stored at T0, not T0 - 10,000: it expires after the first, not long before it.
    store
        .put(T0 - 10_000, &a.room(), &a.deposit_key(), b"2")
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
    )
    .unwrap();
    let a = keys(1);
    for _ in 0..(EXPIRE_BATCH + 10) {
        store.put(T0, &a.room(), &a.deposit_key(), b"x").unwrap();
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
        store.put(T0, &a.room(), &a.deposit_key(), b"kept").unwrap();
    }
    let store = open(&dir);
    assert_eq!(
        fetch_all(&store, T0, &a, 0).entries,
        vec![(MailboxSeq::new(1), b"kept".to_vec())]
    );
    assert!(matches!(
        store.put(T0, &a.room(), &b.deposit_key(), b"x"),
        Err(PutError::Denied)
    ));
    let seq = store.put(T0, &a.room(), &a.deposit_key(), b"x").unwrap();
    assert_eq!(seq.to_u64(), 2);
}

#[test]
fn a_database_held_by_another_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(&dir);
    let second = Store::open(&dir.path().join("mailbox.redb"), limits());
    assert!(matches!(second, Err(StoreError::Database(_))));
}
