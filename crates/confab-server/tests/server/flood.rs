//! A mailbox flood cannot deny a real room: deposits into fresh room ids from one address,
//! from many /64s of one IPv6 /48, and from many addresses, against a small store, while a
//! real room deposits before and after. Addresses come from `X-Forwarded-For`
//! (`--trust-forwarded-for`).

use confab_core::mailbox::MailboxKeys;
use confab_core::signal::{ErrorCode, MailboxReply, ServerMessage};

use crate::harness::{Client, Received, TestServer};
use crate::mailbox::keys;
use crate::metrics::scrape_until;

/// Entries of the flood: 8 KiB each.
const FLOOD_ENTRY: usize = 8 * 1024;
/// The store: room for 64 flood entries.
const STORE_BYTES: u64 = 64 * FLOOD_ENTRY as u64;
/// One address's share: 16 flood entries.
const SHARE_BYTES: u64 = 16 * FLOOD_ENTRY as u64;

async fn server() -> TestServer {
    TestServer::start_with(|config| {
        config.trust_forwarded_for = true;
        config.mailbox_max_bytes = STORE_BYTES;
        config.mailbox_max_bytes_per_ip = SHARE_BYTES;
    })
    .await
}

impl Client {
    /// Deposits `payload`: its sequence number, or the error code it was refused with.
    async fn try_deposit(&mut self, keys: &MailboxKeys, payload: &[u8]) -> Result<u64, ErrorCode> {
        self.mailbox_put(keys, payload).await;
        match self.recv().await {
            Received::Mailbox(MailboxReply::MailboxStored { seq, .. }) => Ok(seq.to_u64()),
            Received::Server(ServerMessage::Error { code, .. }) => Err(code),
            other => panic!("expected an answer to a deposit, got {other:?}"),
        }
    }
}

/// A flood entry for fresh room `n` (a room id nobody else uses).
pub(crate) fn flood_room(n: u32) -> MailboxKeys {
    let mut secret = [0xf1; 32];
    secret[..4].copy_from_slice(&n.to_be_bytes());
    confab_core::RoomSecret::from_bytes(secret).mailbox_keys()
}

/// The real room: deposits `before`, lets `flood` run, deposits again; every deposit must
/// be stored and every entry still there.
async fn real_room_survives(server: &TestServer, flood: impl AsyncFnOnce()) {
    let real = keys(77);
    let mut alice = Client::connect_from(server.addr, Some("203.0.113.1")).await;
    let mut stored = Vec::new();
    for n in 0..3u8 {
        stored.push(
            alice
                .try_deposit(&real, &[n; 1000])
                .await
                .expect("before the flood"),
        );
    }
    flood().await;
    for n in 3..6u8 {
        let seq = alice.try_deposit(&real, &[n; 1000]).await;
        stored.push(
            seq.unwrap_or_else(|code| panic!("the real room's deposit was refused: {code:?}")),
        );
    }
    let mut bob = Client::connect_from(server.addr, Some("203.0.113.2")).await;
    let (page, _) = bob.fetch_page(&real, 0).await;
    let fetched: Vec<u64> = page.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(fetched, stored, "the real room's entries are all kept");
}

/// The store holds at most one address's share besides the real room's six entries.
async fn flood_held_at_most_one_share(server: &TestServer) {
    let scrape = scrape_until(server.addr, |_| true).await;
    let held = scrape.get("confab_mailbox_bytes");
    assert!(held <= SHARE_BYTES + 6 * 1100, "{held}");
}

#[tokio::test]
async fn a_flood_from_one_address_cannot_deny_a_real_room() {
    let server = server().await;
    real_room_survives(&server, async || {
        let mut flooder = Client::connect_from(server.addr, Some("198.51.100.7")).await;
        // 100 fresh rooms of 8 KiB: more than the whole store.
        for n in 0..100 {
            let _ = flooder.try_deposit(&flood_room(n), &[0; FLOOD_ENTRY]).await;
        }
    })
    .await;
    flood_held_at_most_one_share(&server).await;
}

#[tokio::test]
async fn a_flood_from_many_64s_of_one_48_counts_as_one_address() {
    let server = server().await;
    real_room_survives(&server, async || {
        for prefix in 0..40u32 {
            let address = format!("2001:db8:7:{prefix:x}::1");
            let mut flooder = Client::connect_from(server.addr, Some(&address)).await;
            for n in 0..3 {
                let _ = flooder
                    .try_deposit(&flood_room(prefix * 3 + n), &[0; FLOOD_ENTRY])
                    .await;
            }
        }
    })
    .await;
    flood_held_at_most_one_share(&server).await;
}

#[tokio::test]
async fn a_flood_from_many_addresses_pushes_out_only_itself() {
    let server = server().await;
    real_room_survives(&server, async || {
        // 100 addresses, one entry each: more than the store holds, none over its share.
        for n in 0..100u32 {
            let address = format!("198.51.{}.{}", 100 + n / 200, n % 200 + 1);
            let mut flooder = Client::connect_from(server.addr, Some(&address)).await;
            let stored = flooder.try_deposit(&flood_room(n), &[0; FLOOD_ENTRY]).await;
            assert!(
                stored.is_ok(),
                "a flooder is refused only by its own caps: {stored:?}"
            );
        }
    })
    .await;
    scrape_until(server.addr, |scrape| {
        scrape.get("confab_mailbox_bytes") <= STORE_BYTES
            && scrape.get("confab_mailbox_entries_evicted_total") > 0
    })
    .await;
}
