//! Push subscriptions on disk: `push.redb` in `--data-dir`, one record per (room,
//! endpoint), so they survive a restart. Read whole at start; written on each change.
//!
//! ```text
//! key   = room_id[32] endpoint(UTF-8)
//! value = version:u8(=1) deposit_key[32] p256dh[65] auth[16] tag_len:u8 tag
//! ```

use std::path::Path;

use confab_core::RoomId;
use confab_core::mailbox::DepositKey;
use confab_core::signal::{AUTH_LEN, P256DH_LEN, PushSubscription};
use redb::{Database, ReadableTable as _, TableDefinition};

const SUBSCRIPTIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("subscriptions");
const VERSION: u8 = 1;

/// The subscriptions database.
pub(crate) struct Store {
    db: Database,
}

/// One stored subscription.
pub(crate) struct Stored {
    pub(crate) room: RoomId,
    pub(crate) subscription: PushSubscription,
    pub(crate) key: DepositKey,
}

impl Store {
    pub(crate) fn open(path: &Path) -> Result<Store, Box<redb::Error>> {
        let db = Database::create(path).map_err(boxed)?;
        let txn = db.begin_write().map_err(boxed)?;
        txn.open_table(SUBSCRIPTIONS).map_err(boxed)?;
        txn.commit().map_err(boxed)?;
        Ok(Store { db })
    }

    /// Every subscription that decodes (a record that does not is skipped).
    pub(crate) fn load(&self) -> Result<Vec<Stored>, Box<redb::Error>> {
        let txn = self.db.begin_read().map_err(boxed)?;
        let table = txn.open_table(SUBSCRIPTIONS).map_err(boxed)?;
        let mut all = Vec::new();
        for row in table.iter().map_err(boxed)? {
            let (key, value) = row.map_err(boxed)?;
            if let Some(stored) = decode(key.value(), value.value()) {
                all.push(stored);
            }
        }
        Ok(all)
    }

    /// Stores (or replaces) a subscription.
    pub(crate) fn put(
        &self,
        room: RoomId,
        subscription: &PushSubscription,
        key: &DepositKey,
    ) -> Result<(), Box<redb::Error>> {
        let txn = self.db.begin_write().map_err(boxed)?;
        {
            let mut table = txn.open_table(SUBSCRIPTIONS).map_err(boxed)?;
            let tag = subscription.tag().as_bytes();
            let mut value = Vec::with_capacity(1 + 32 + P256DH_LEN + AUTH_LEN + 1 + tag.len());
            value.push(VERSION);
            value.extend_from_slice(&key.to_bytes());
            value.extend_from_slice(subscription.p256dh());
            value.extend_from_slice(subscription.auth());
            // Tags are at most MAX_TAG_LEN (64) bytes.
            value.push(tag.len() as u8);
            value.extend_from_slice(tag);
            table
                .insert(
                    record_key(room, subscription.endpoint()).as_slice(),
                    value.as_slice(),
                )
                .map_err(boxed)?;
        }
        txn.commit().map_err(boxed)?;
        Ok(())
    }

    /// Forgets the subscriptions of `(room, endpoint)` pairs.
    pub(crate) fn remove(&self, gone: &[(RoomId, String)]) -> Result<(), Box<redb::Error>> {
        let txn = self.db.begin_write().map_err(boxed)?;
        {
            let mut table = txn.open_table(SUBSCRIPTIONS).map_err(boxed)?;
            for (room, endpoint) in gone {
                table
                    .remove(record_key(*room, endpoint).as_slice())
                    .map_err(boxed)?;
            }
        }
        txn.commit().map_err(boxed)?;
        Ok(())
    }
}

/// redb's error is large and this path is rare: boxed.
fn boxed(err: impl Into<redb::Error>) -> Box<redb::Error> {
    Box::new(err.into())
}

fn record_key(room: RoomId, endpoint: &str) -> Vec<u8> {
    [room.as_bytes().as_slice(), endpoint.as_bytes()].concat()
}

fn decode(key: &[u8], value: &[u8]) -> Option<Stored> {
    let (room, endpoint) = key.split_at_checked(32)?;
    let room = RoomId::from_bytes(room.try_into().ok()?);
    let endpoint = std::str::from_utf8(endpoint).ok()?.to_owned();
    let (&version, rest) = value.split_first()?;
    if version != VERSION {
        return None;
    }
    let (deposit_key, rest) = rest.split_at_checked(32)?;
    let (p256dh, rest) = rest.split_at_checked(P256DH_LEN)?;
    let (auth, rest) = rest.split_at_checked(AUTH_LEN)?;
    let (&tag_len, tag) = rest.split_first()?;
    if tag.len() != usize::from(tag_len) {
        return None;
    }
    let key = DepositKey::from_bytes(deposit_key.try_into().ok()?).ok()?;
    let tag = std::str::from_utf8(tag).ok()?.to_owned();
    let subscription = PushSubscription::new(
        endpoint,
        p256dh.try_into().ok()?,
        auth.try_into().ok()?,
        tag,
    )
    .ok()?;
    Some(Stored {
        room,
        subscription,
        key,
    })
}
