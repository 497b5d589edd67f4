//! Deposits leave the connection's read loop: while a connection's deposits wait for a
//! busy store, its other frames are read and answered, answers keep request order, and
//! the store writes deposits in batches (group commit). The store is made busy the real
//! way: many depositors at once, from addresses of their own (`--trust-forwarded-for`).

use std::time::Duration;

use confab_core::signal::{ClientMessage, ErrorCode, MailboxReply, ServerMessage};

use crate::flood::flood_room;
use crate::harness::{Client, Message, Received, TestServer, room};
use crate::mailbox::keys;
use crate::metrics::scrape_until;

/// Entries of the busy store's flood: 60 KiB each.
const FLOOD_ENTRY: usize = 60 * 1024;

async fn server() -> TestServer {
    TestServer::start_with(|config| config.trust_forwarded_for = true).await
}

/// `n_flooders` clients, each from an address of its own, each sending `n_each` deposits
/// into fresh rooms without waiting for answers; returns them, answers unread.
async fn flood(server: &TestServer, n_flooders: u32, n_each: u32) -> Vec<Client> {
    let mut flooders = Vec::new();
    for idx in 0..n_flooders {
        let address = format!("198.51.{}.{}", 100 + idx / 200, idx % 200 + 1);
        flooders.push(Client::connect_from(server.addr, Some(&address)).await);
    }
    for (idx, flooder) in (0..).zip(&mut flooders) {
        for n in 0..n_each {
            flooder
                .mailbox_put(&flood_room(idx * n_each + n), &[0; FLOOD_ENTRY])
                .await;
        }
    }
    flooders
}

/// Reads `n` answers to deposits; their sequence numbers (0 for a refusal).
async fn answers(client: &mut Client, n: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.len() < n {
        match client.recv().await {
            Received::Mailbox(MailboxReply::MailboxStored { seq, .. }) => seqs.push(seq.to_u64()),
            Received::Server(ServerMessage::Error { .. }) => seqs.push(0),
            other => panic!("expected an answer to a deposit, got {other:?}"),
        }
    }
    seqs
}

#[tokio::test]
async fn a_connection_is_read_and_served_while_its_deposit_waits_for_the_store() {
    let server = server().await;
    let mut alice = Client::connect_from(server.addr, Some("203.0.113.1")).await;
    let mut bob = Client::connect_from(server.addr, Some("203.0.113.2")).await;
    bob.join(room(1)).await;
    alice.join(room(1)).await;
    bob.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: alice.peer,
    })
    .await;
    // Several MiB of deposits ahead: the store is busy for a while.
    let mut flooders = flood(&server, 40, 8).await;
    let first = answers(&mut flooders[0], 1).await;
    assert_ne!(first, [0], "the flood is stored");

    // Alice deposits, then signals Bob and pings; Bob signals her at the same time.
    alice
        .mailbox_put(&keys(9), b"while the store is busy")
        .await;
    alice.signal(bob.peer, "are you there?").await;
    alice
        .send_lossy(Message::Ping(b"ping".to_vec().into()))
        .await
        .unwrap();
    bob.signal(alice.peer, "here I am").await;
    // Alice gets her pong and Bob's signal before her deposit is stored: her connection
    // was read, and written to, while the deposit waited.
    let mut before_stored = Vec::new();
    loop {
        match alice.recv_raw().await {
            Message::Pong(_) => before_stored.push("pong"),
            Message::Text(text) if text.contains(r#""type":"signal""#) => {
                before_stored.push("signal");
            }
            Message::Text(text) if text.contains(r#""type":"mailbox-stored""#) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    before_stored.sort_unstable();
    assert_eq!(before_stored, ["pong", "signal"]);
    match bob.recv().await {
        Received::Server(ServerMessage::Signal { from, data }) => {
            assert_eq!((from, data.as_str()), (alice.peer, "are you there?"));
        }
        other => panic!("expected Alice's signal, got {other:?}"),
    }
    for (flooder, n) in flooders.iter_mut().zip([7].into_iter().chain([8; 39])) {
        answers(flooder, n).await;
    }
}

#[tokio::test]
async fn a_deposit_still_waiting_when_its_connection_closes_is_announced_once_stored() {
    let server = server().await;
    let real = keys(9);
    let mut bob = Client::connect_from(server.addr, Some("203.0.113.2")).await;
    bob.join(real.room()).await;
    let mut flooders = flood(&server, 40, 8).await;
    let first = answers(&mut flooders[0], 1).await;
    assert_ne!(first, [0], "the flood is stored");
    // Alice deposits and goes at once, before the busy store has answered her.
    let mut alice = Client::connect_from(server.addr, Some("203.0.113.1")).await;
    alice.mailbox_put(&real, b"and goodbye").await;
    alice.close().await;
    let seq = bob.expect_mailbox_new(&real).await;
    let (page, _) = bob.fetch_page(&real, 0).await;
    assert_eq!(page, [(seq, b"and goodbye".to_vec())]);
    for (flooder, n) in flooders.iter_mut().zip([7].into_iter().chain([8; 39])) {
        answers(flooder, n).await;
    }
}

#[tokio::test]
async fn answers_keep_request_order_while_deposits_wait() {
    let server = server().await;
    let mut flooders = flood(&server, 20, 8).await;
    let mut alice = Client::connect_from(server.addr, Some("203.0.113.1")).await;
    let real = keys(9);
    // Deposits, a join, a deposit, a malformed request and a refused fetch, back to
    // back: the join's, the malformed request's and the fetch's answers wait for the
    // deposits before them.
    alice.mailbox_put(&real, b"one").await;
    alice.mailbox_put(&real, b"two").await;
    alice.send(&ClientMessage::Join { room: room(3) }).await;
    alice.mailbox_put(&real, b"three").await;
    alice.send_text("not json").await;
    alice.mailbox_fetch(&keys(10), 0).await;
    alice.mailbox_put(&keys(10), b"another key's room").await;
    let mut seqs = answers(&mut alice, 2).await;
    match alice.recv().await {
        Received::Server(ServerMessage::Joined { room: joined, .. }) => assert_eq!(joined, room(3)),
        other => panic!("expected joined, got {other:?}"),
    }
    seqs.extend(answers(&mut alice, 1).await);
    alice.expect_error(ErrorCode::BadRequest).await;
    match alice.recv().await {
        Received::Mailbox(MailboxReply::MailboxEntries { entries, .. }) => {
            assert!(entries.is_empty());
        }
        other => panic!("expected mailbox-entries, got {other:?}"),
    }
    seqs.extend(answers(&mut alice, 1).await);
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]) && seqs[0] > 0,
        "one connection's deposits are stored in order: {seqs:?}"
    );
    let (page, _) = alice.fetch_page(&real, 0).await;
    let stored: Vec<&[u8]> = page.iter().map(|(_, bytes)| bytes.as_slice()).collect();
    assert_eq!(stored, [&b"one"[..], b"two", b"three"]);
    for flooder in &mut flooders {
        answers(flooder, 8).await;
    }
}

#[tokio::test]
async fn deposits_made_at_once_are_stored_in_fewer_transactions() {
    let server = server().await;
    let (n_flooders, n_each) = (20, 4);
    let mut flooders = flood(&server, n_flooders, n_each).await;
    for flooder in &mut flooders {
        let seqs = answers(flooder, n_each as usize).await;
        assert!(
            seqs.windows(2).all(|pair| pair[0] < pair[1]) && seqs[0] > 0,
            "{seqs:?}"
        );
    }
    let n_deposits = u64::from(n_flooders * n_each);
    let scrape = scrape_until(server.addr, |scrape| {
        scrape.get("confab_mailbox_puts_total") == n_deposits
    })
    .await;
    let n_commits = scrape.get("confab_mailbox_commits_total");
    assert!(
        n_commits < n_deposits / 2,
        "{n_deposits} deposits in {n_commits} transactions"
    );
    assert_eq!(scrape.get("confab_mailbox_waiting_bytes"), 0);
}

#[tokio::test]
async fn a_connection_with_too_many_deposits_waiting_is_refused_in_order() {
    let server = server().await;
    let mut flooders = flood(&server, 30, 8).await;
    // Alice sends more deposits at once than may wait: those beyond are refused
    // `rate-limited`, each in its place, and the others stored.
    let mut alice = Client::connect_from(server.addr, Some("203.0.113.1")).await;
    for n in 0..12u8 {
        alice.mailbox_put(&keys(9), &[n; 100]).await;
    }
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(match alice.recv().await {
            Received::Mailbox(MailboxReply::MailboxStored { .. }) => None,
            Received::Server(ServerMessage::Error { code, .. }) => Some(code),
            other => panic!("expected an answer to a deposit, got {other:?}"),
        });
    }
    let n_refused = codes.iter().filter(|code| code.is_some()).count();
    assert!(n_refused > 0, "{codes:?}");
    assert!(codes[..8].iter().all(Option::is_none), "{codes:?}");
    assert!(
        codes
            .iter()
            .flatten()
            .all(|&code| code == ErrorCode::RateLimited),
        "{codes:?}"
    );
    alice.expect_quiet(Duration::from_millis(100)).await;
    for flooder in &mut flooders {
        answers(flooder, 8).await;
    }
}
