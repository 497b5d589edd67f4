//! The offline mailbox over real WebSockets: deposit, fetch, acknowledge, pages, expiry,
//! caps, deposit keys, malformed input, the notice of a new deposit and a restart on the
//! same data directory.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use confab_core::RoomSecret;
use confab_core::mailbox::{DepositProof, MailboxKeys};
use confab_core::signal::{
    ClientMessage, ErrorCode, MAX_MAILBOX_PUT_LEN, MAX_SIGNAL_LEN, MailboxReply, MailboxSeq,
    ServerMessage,
};

use crate::harness::{Client, Received, TestServer, room};

pub(crate) fn keys(n: u8) -> MailboxKeys {
    RoomSecret::from_bytes([n; 32]).mailbox_keys()
}

/// Seals `payload` (nonce from its first byte and length: unique enough here).
pub(crate) fn seal(keys: &MailboxKeys, payload: &[u8]) -> confab_core::mailbox::SealedEntry {
    let mut nonce = [0u8; 24];
    nonce[0] = payload.first().copied().unwrap_or(0);
    nonce[1..9].copy_from_slice(&(payload.len() as u64).to_be_bytes());
    keys.seal(nonce, payload).unwrap()
}

impl Client {
    /// Sends a deposit of `payload`, sealed and proven with `keys`.
    pub(crate) async fn mailbox_put(&mut self, keys: &MailboxKeys, payload: &[u8]) {
        let entry = seal(keys, payload);
        let proof = keys.prove_put(self.peer, &entry);
        self.send(&ClientMessage::MailboxPut {
            room: keys.room(),
            entry,
            key: keys.deposit_key(),
            proof,
        })
        .await;
    }

    /// Deposits `payload`; returns its sequence number.
    pub(crate) async fn deposit(&mut self, keys: &MailboxKeys, payload: &[u8]) -> u64 {
        self.mailbox_put(keys, payload).await;
        match self.recv().await {
            Received::Mailbox(MailboxReply::MailboxStored { room, seq }) if room == keys.room() => {
                seq.to_u64()
            }
            other => panic!("expected mailbox-stored, got {other:?}"),
        }
    }

    pub(crate) async fn mailbox_fetch(&mut self, keys: &MailboxKeys, after: u64) {
        let proof = keys.prove_access(self.peer);
        self.send(&ClientMessage::MailboxFetch {
            room: keys.room(),
            after: MailboxSeq::new(after),
            proof,
        })
        .await;
    }

    /// Fetches one page after `after`: (seq, opened payload) pairs and the `more` flag.
    pub(crate) async fn fetch_page(
        &mut self,
        keys: &MailboxKeys,
        after: u64,
    ) -> (Vec<(u64, Vec<u8>)>, bool) {
        self.mailbox_fetch(keys, after).await;
        match self.recv().await {
            Received::Mailbox(MailboxReply::MailboxEntries {
                room,
                entries,
                more,
            }) if room == keys.room() => {
                let opened = entries
                    .iter()
                    .map(|item| (item.seq.to_u64(), keys.open(&item.entry).unwrap()))
                    .collect();
                (opened, more)
            }
            other => panic!("expected mailbox-entries, got {other:?}"),
        }
    }

    /// Expects the notice that someone else deposited into `keys`' room; returns its
    /// sequence number.
    pub(crate) async fn expect_mailbox_new(&mut self, keys: &MailboxKeys) -> u64 {
        match self.recv().await {
            Received::Mailbox(MailboxReply::MailboxNew { room, seq }) if room == keys.room() => {
                seq.to_u64()
            }
            other => panic!("expected mailbox-new, got {other:?}"),
        }
    }

    pub(crate) async fn mailbox_ack(&mut self, keys: &MailboxKeys, up_to: u64) {
        let proof = keys.prove_access(self.peer);
        self.send(&ClientMessage::MailboxAck {
            room: keys.room(),
            up_to: MailboxSeq::new(up_to),
            proof,
        })
        .await;
    }
}

fn seqs(page: &[(u64, Vec<u8>)]) -> Vec<u64> {
    page.iter().map(|(seq, _)| *seq).collect()
}

#[tokio::test]
async fn deposits_are_fetched_by_other_connections_and_acks_move_only_their_cursor() {
    let server = TestServer::start().await;
    let keys = keys(1);
    let mut alice = server.client().await;
    assert_eq!(alice.deposit(&keys, b"one").await, 1);
    assert_eq!(alice.deposit(&keys, b"two").await, 2);
    assert_eq!(alice.deposit(&keys, b"three").await, 3);

    let mut bob = server.client().await;
    let (page, more) = bob.fetch_page(&keys, 0).await;
    assert_eq!(
        page,
        vec![
            (1, b"one".to_vec()),
            (2, b"two".to_vec()),
            (3, b"three".to_vec())
        ]
    );
    assert!(!more);
    assert_eq!(seqs(&bob.fetch_page(&keys, 2).await.0), [3]);
    // Bob holds up to 2: his fetches start after it, whatever cursor he names.
    bob.mailbox_ack(&keys, 2).await;
    bob.expect_quiet(Duration::from_millis(100)).await;
    assert_eq!(seqs(&bob.fetch_page(&keys, 0).await.0), [3]);
    // Nothing was deleted: another connection still gets everything.
    let mut carol = server.client().await;
    assert_eq!(seqs(&carol.fetch_page(&keys, 0).await.0), [1, 2, 3]);
    // An empty room's mailbox reads as empty.
    assert_eq!(carol.fetch_page(&self::keys(2), 0).await, (vec![], false));
}

#[tokio::test]
async fn fetches_come_in_bounded_pages() {
    let server = TestServer::start_with(|config| {
        config.mailbox_page_entries = NonZeroUsize::new(2).unwrap();
    })
    .await;
    let keys = keys(1);
    let mut alice = server.client().await;
    for n in 0..5u8 {
        alice.deposit(&keys, &[n; 10]).await;
    }
    let mut bob = server.client().await;
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let (page, more) = bob.fetch_page(&keys, after).await;
        after = page.last().map_or(after, |(seq, _)| *seq);
        pages.push((seqs(&page), more));
        if !more {
            break;
        }
    }
    assert_eq!(
        pages,
        [(vec![1, 2], true), (vec![3, 4], true), (vec![5], false)]
    );
}

#[tokio::test]
async fn entries_expire_and_free_their_rooms_place() {
    let server = TestServer::start_with(|config| {
        config.mailbox_ttl = Duration::from_millis(300);
        config.mailbox_room_max_entries = 1;
    })
    .await;
    let keys = keys(1);
    let mut alice = server.client().await;
    alice.deposit(&keys, b"soon gone").await;
    assert_eq!(seqs(&alice.fetch_page(&keys, 0).await.0), [1]);
    alice.mailbox_put(&keys, b"no room").await;
    alice.expect_error(ErrorCode::MailboxFull).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(alice.fetch_page(&keys, 0).await, (vec![], false));
    // The sweep deleted the entry (not just hid it): the room has space again, and
    // numbering goes on.
    assert_eq!(alice.deposit(&keys, b"again").await, 2);
}

#[tokio::test]
async fn a_full_room_refuses_new_entries_and_keeps_the_old_ones() {
    let server = TestServer::start_with(|config| {
        config.mailbox_room_max_entries = 3;
    })
    .await;
    let keys = keys(1);
    let mut alice = server.client().await;
    for n in 0..3u8 {
        alice.deposit(&keys, &[n; 8]).await;
    }
    alice.mailbox_put(&keys, b"one too many").await;
    let message = alice.expect_error(ErrorCode::MailboxFull).await;
    assert!(
        message.contains("full") && message.contains("kept"),
        "{message}"
    );
    let (page, _) = alice.fetch_page(&keys, 0).await;
    assert_eq!(seqs(&page), [1, 2, 3]);
    assert_eq!(page[0].1, [0; 8]);
    // Another room is not affected.
    assert_eq!(alice.deposit(&self::keys(2), b"elsewhere").await, 4);
}

#[tokio::test]
async fn the_whole_store_has_a_byte_cap_and_makes_room_from_the_largest_holder() {
    let server = TestServer::start_with(|config| {
        config.mailbox_max_bytes = 200;
    })
    .await;
    let mut alice = server.client().await;
    // Each entry is 41 bytes of overhead + 50; one address holds them all.
    alice.deposit(&keys(1), &[1; 50]).await;
    alice.deposit(&keys(2), &[2; 50]).await;
    assert_eq!(alice.deposit(&keys(3), &[3; 50]).await, 3);
    assert_eq!(alice.fetch_page(&keys(1), 0).await, (vec![], false));
    assert_eq!(seqs(&alice.fetch_page(&keys(2), 0).await.0), [2]);
    // An entry larger than the whole store is refused, and nothing goes for it.
    alice.mailbox_put(&keys(4), &[4; 200]).await;
    alice.expect_error(ErrorCode::MailboxFull).await;
    assert_eq!(seqs(&alice.fetch_page(&keys(3), 0).await.0), [3]);
}

#[tokio::test]
async fn requests_without_the_rooms_deposit_key_are_denied() {
    let server = TestServer::start().await;
    let (owner, stranger) = (keys(1), keys(2));
    let mut alice = server.client().await;
    alice.deposit(&owner, b"private").await;

    // Someone who knows only the room id binds nothing and reads nothing: their own key
    // and proofs over the owner's room id.
    let mut mallory = server.client().await;
    let entry = seal(&stranger, b"spam");
    let forged = stranger.prove_put(mallory.peer, &entry);
    mallory
        .send(&ClientMessage::MailboxPut {
            room: owner.room(),
            entry,
            key: stranger.deposit_key(),
            proof: forged,
        })
        .await;
    mallory.expect_error(ErrorCode::MailboxDenied).await;
    let proof = stranger.prove_access(mallory.peer);
    for request in [
        ClientMessage::MailboxFetch {
            room: owner.room(),
            after: MailboxSeq::new(0),
            proof,
        },
        ClientMessage::MailboxAck {
            room: owner.room(),
            up_to: MailboxSeq::new(9),
            proof,
        },
        ClientMessage::MailboxFetch {
            room: owner.room(),
            after: MailboxSeq::new(0),
            proof: DepositProof::from_bytes([0; 64]),
        },
    ] {
        mallory.send(&request).await;
        mallory.expect_error(ErrorCode::MailboxDenied).await;
    }

    // A proof recorded from Alice's connection does not work on another connection.
    let replayed = owner.prove_access(alice.peer);
    mallory
        .send(&ClientMessage::MailboxFetch {
            room: owner.room(),
            after: MailboxSeq::new(0),
            proof: replayed,
        })
        .await;
    mallory.expect_error(ErrorCode::MailboxDenied).await;
    let entry = seal(&owner, b"replayed");
    let replayed = owner.prove_put(alice.peer, &entry);
    mallory
        .send(&ClientMessage::MailboxPut {
            room: owner.room(),
            entry,
            key: owner.deposit_key(),
            proof: replayed,
        })
        .await;
    mallory.expect_error(ErrorCode::MailboxDenied).await;

    // The owner's mailbox is untouched and a member's proof still works.
    assert_eq!(
        alice.fetch_page(&owner, 0).await,
        (vec![(1, b"private".to_vec())], false)
    );
}

#[tokio::test]
async fn malformed_and_oversized_mailbox_requests_are_refused_and_the_connection_goes_on() {
    let server = TestServer::start_with(|config| {
        config.mailbox_max_entry_bytes = 1_000;
    })
    .await;
    let keys = keys(1);
    let mut alice = server.client().await;
    let room_id = keys.room();
    let key = String::from(keys.deposit_key());
    let proof = String::from(keys.prove_access(alice.peer));
    for bad in [
        format!(
            r#"{{"type":"mailbox-put","room":"{room_id}","entry":"!!!","key":"{key}","proof":"{proof}"}}"#
        ),
        format!(
            r#"{{"type":"mailbox-put","room":"{room_id}","entry":"AQID","key":"{key}","proof":"{proof}"}}"#
        ),
        format!(r#"{{"type":"mailbox-fetch","room":"{room_id}","after":-1,"proof":"{proof}"}}"#),
        format!(r#"{{"type":"mailbox-ack","room":"{room_id}","up_to":1,"proof":"short"}}"#),
    ] {
        alice.send_text(bad).await;
        alice.expect_error(ErrorCode::BadRequest).await;
    }
    // Above the configured entry size.
    alice.mailbox_put(&keys, &[0; 1_000]).await;
    alice.expect_error(ErrorCode::TooLarge).await;
    // A put text beyond the largest entry, and a non-put text beyond 16 KiB.
    let huge = format!(
        r#"{{"type":"mailbox-put","room":"{room_id}","entry":"{}","key":"{key}","proof":"{proof}"}}"#,
        "A".repeat(MAX_MAILBOX_PUT_LEN)
    );
    alice.send_text(huge).await;
    alice.expect_error(ErrorCode::TooLarge).await;
    let long_fetch = format!(
        r#"{{"type":"mailbox-fetch","room":"{room_id}","after":0,"proof":"{proof}"{}}}"#,
        " ".repeat(MAX_SIGNAL_LEN)
    );
    alice.send_text(long_fetch).await;
    alice.expect_error(ErrorCode::TooLarge).await;
    // Nothing was stored, and the connection still works.
    assert_eq!(alice.deposit(&keys, b"fine").await, 1);
    assert_eq!(alice.join(room(1)).await, []);
}

#[tokio::test]
async fn the_room_s_other_members_hear_of_a_deposit_and_the_depositor_does_not() {
    let server = TestServer::start().await;
    let keys = keys(1);
    let mut alice = server.client().await;
    let mut bob = server.client().await;
    let mut carol = server.client().await;
    assert_eq!(
        alice.mailbox_puts_per_minute, 120,
        "the welcome states the allowance"
    );
    alice.join(keys.room()).await;
    bob.join(keys.room()).await;
    alice
        .expect(ServerMessage::PeerJoined {
            room: keys.room(),
            peer: bob.peer,
        })
        .await;
    carol.join(self::keys(2).room()).await;

    // Alice's answer comes first and alone: no notice of her own deposit.
    let seq = alice.deposit(&keys, b"for bob").await;
    assert_eq!(bob.expect_mailbox_new(&keys).await, seq);
    alice.expect_quiet(Duration::from_millis(200)).await;
    carol.expect_quiet(Duration::from_millis(1)).await;
    assert_eq!(
        bob.fetch_page(&keys, 0).await.0,
        [(seq, b"for bob".to_vec())]
    );

    // A depositor outside the room (it left, or never joined): every member hears.
    bob.leave(keys.room()).await;
    alice
        .expect(ServerMessage::PeerLeft {
            room: keys.room(),
            peer: bob.peer,
        })
        .await;
    let seq = bob.deposit(&keys, b"from outside").await;
    assert_eq!(alice.expect_mailbox_new(&keys).await, seq);
    bob.expect_quiet(Duration::from_millis(200)).await;
    // Refused deposits tell nobody.
    let mut mallory = server.client().await;
    mallory.mailbox_put(&self::keys(2), b"x").await;
    let entry = seal(&keys, b"forged");
    let proof = self::keys(2).prove_put(mallory.peer, &entry);
    mallory
        .send(&ClientMessage::MailboxPut {
            room: keys.room(),
            entry,
            key: self::keys(2).deposit_key(),
            proof,
        })
        .await;
    assert!(matches!(
        mallory.recv().await,
        Received::Mailbox(MailboxReply::MailboxStored { .. })
    ));
    mallory.expect_error(ErrorCode::MailboxDenied).await;
    alice.expect_quiet(Duration::from_millis(200)).await;
    // Carol is in the other room, which mallory's first deposit went to.
    assert!(matches!(
        carol.recv().await,
        Received::Mailbox(MailboxReply::MailboxNew { .. })
    ));
}

#[tokio::test]
async fn deposits_are_rate_limited_and_capped_per_connection() {
    let server = TestServer::start_with(|config| {
        config.mailbox_puts_per_minute = NonZeroU32::new(2).unwrap();
    })
    .await;
    let keys = keys(1);
    let mut alice = server.client().await;
    // The welcome says so, and a client pacing to it is never refused.
    assert_eq!(alice.mailbox_puts_per_minute, 2);
    alice.deposit(&keys, b"1").await;
    alice.deposit(&keys, b"2").await;
    alice.mailbox_put(&keys, b"3").await;
    alice.expect_error(ErrorCode::RateLimited).await;
    drop(alice);

    let server = TestServer::start_with(|config| {
        config.mailbox_puts_per_connection = 2;
    })
    .await;
    let mut alice = server.client().await;
    alice.deposit(&keys, b"1").await;
    alice.deposit(&keys, b"2").await;
    alice.mailbox_put(&keys, b"3").await;
    alice.expect_error(ErrorCode::MailboxFull).await;
    // Fetching is not a deposit, and the stored entries are there.
    assert_eq!(seqs(&alice.fetch_page(&keys, 0).await.0), [1, 2]);
}

#[tokio::test]
async fn the_mailbox_survives_a_restart_on_the_same_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_owned();
    let keys = keys(1);
    let mut first = TestServer::start_with(|config| config.data_dir = data_dir.clone()).await;
    let mut alice = first.client().await;
    alice.deposit(&keys, b"before the restart").await;
    alice.close().await;
    first.shutdown().await;

    let second = TestServer::start_with(|config| config.data_dir = data_dir.clone()).await;
    let mut bob = second.client().await;
    assert_eq!(
        bob.fetch_page(&keys, 0).await,
        (vec![(1, b"before the restart".to_vec())], false)
    );
    // The numbering survived too.
    let stranger = self::keys(2);
    let entry = seal(&stranger, b"x");
    let proof = stranger.prove_put(bob.peer, &entry);
    bob.send(&ClientMessage::MailboxPut {
        room: stranger.room(),
        entry,
        key: stranger.deposit_key(),
        proof,
    })
    .await;
    assert!(matches!(
        bob.recv().await,
        Received::Mailbox(MailboxReply::MailboxStored { seq, .. }) if seq.to_u64() == 2
    ));
}

#[tokio::test]
async fn without_a_store_the_mailbox_is_unavailable_and_signalling_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let not_a_dir = data.path().join("file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let server = TestServer::start_with(|config| config.data_dir = not_a_dir.clone()).await;
    let keys = keys(1);
    let mut alice = server.client().await;
    alice.mailbox_put(&keys, b"x").await;
    alice.expect_error(ErrorCode::MailboxUnavailable).await;
    alice.mailbox_fetch(&keys, 0).await;
    alice.expect_error(ErrorCode::MailboxUnavailable).await;
    assert_eq!(alice.join(room(1)).await, []);
}
