//! Web Push: a push with no content to every browser that subscribed to a room's mailbox
//! when someone else deposits into it (issue 15), so the app's service worker can wake,
//! fetch the mailbox itself and show a notification while no tab is open.
//!
//! - **Keys.** The VAPID key is generated on first start and kept in `--data-dir`
//!   (`vapid.rs`); its public half goes to clients in `welcome` (`push_key`).
//! - **Subscribing** (`push-subscribe`) takes the room's deposit key and an access proof
//!   for this connection, as a fetch does: a subscription is bound to that key, and a room
//!   whose mailbox is bound to another key refuses it (`mailbox-denied`). Pushes go only
//!   to subscriptions whose key is the key bound to the room when the deposit lands, so
//!   only members' browsers are woken. Kept in `push.redb` (`store.rs`); at most
//!   [`MAX_PER_ROOM`] a room (the oldest goes) and [`MAX_PER_ADDRESS`] live ones
//!   registered from one client address (IPv6 /48) since start (`rate-limited`).
//! - **Pushing.** A stored deposit ([`Push::notify`], called where `mailbox-new` is)
//!   queues a notice without waiting ([`QUEUE_LEN`]; beyond, it is dropped and counted).
//!   One task takes notices and pushes, encrypted (RFC 8291, `encrypt.rs`), the
//!   subscription's tag and nothing else, to each subscription of the room but those the
//!   depositing connection registered; at most one push per subscription per
//!   `--push-interval`: a deposit within it is pushed once at its end. At most
//!   [`MAX_SENDING`] pushes are in flight. 404 or 410 from the push service forgets the
//!   subscription.
//! - **What others learn.** The push service learns when a subscription is pushed and
//!   that this server pushes it (the VAPID key), and sees only ciphertext of the tag, a
//!   random string the app chose for the subscription and room. This server learns
//!   which endpoint subscribed to which room id, from which address, and when it pushes;
//!   a browser has one endpoint for all its rooms, so the server can tell which rooms one
//!   browser follows (as it could from the connecting address). Neither learns a name, a
//!   message, the tag's meaning or a room secret: the app's service worker fetches the
//!   mailbox like any member and reads it on the device.
//! - **Endpoints** must be https on public addresses (`endpoint.rs`, an SSRF guard) of a
//!   known push service (`--push-services`: a client cannot use the server as a
//!   reflector). A refusal is its own `push-refused`, never an `error`, which would read
//!   as the answer to a mailbox request in flight.
//! - `--no-push` turns it all off: no key is loaded, `welcome` has no `push_key`,
//!   `push-subscribe` is answered `push-unavailable`.

mod encrypt;
mod endpoint;
mod store;
mod vapid;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use confab_core::mailbox::{DepositKey, DepositProof};
use confab_core::signal::PushSubscription;
use confab_core::{PeerId, RoomId};
use rand::RngCore as _;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::config::PushServices;
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub(crate) use endpoint::Target;

use crate::mailbox::{AddressTag, Mailbox};
use crate::shutdown::stopped;
use endpoint::Caller;
use store::Store;
use vapid::Vapid;

/// Subscriptions one room may have; a new one beyond replaces the oldest.
pub(crate) const MAX_PER_ROOM: usize = 256;
/// Live subscriptions registered from one client address (IPv6 /48) since start.
pub(crate) const MAX_PER_ADDRESS: usize = 64;
/// Deposit notices waiting for the push task.
pub(crate) const QUEUE_LEN: usize = 1024;
/// Pushes in flight at once.
pub(crate) const MAX_SENDING: usize = 16;
/// The push service may hold a push this long for a browser that is offline.
const PUSH_TTL_SECS: u32 = 24 * 3600;

/// How push runs (from `Config`).
#[derive(Clone, Debug)]
pub(crate) struct PushConfig {
    pub(crate) enabled: bool,
    pub(crate) contact: Option<String>,
    pub(crate) interval: Duration,
    pub(crate) allow_any_endpoint: bool,
    pub(crate) services: PushServices,
}

/// Web Push for the whole server; off when `--no-push` or its key cannot be loaded.
pub(crate) struct Push {
    on: Option<On>,
}

/// Why `push-subscribe` or `push-unsubscribe` was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    #[error("this server sends no push notifications")]
    Unavailable,
    #[error("the deposit key or proof does not match the room's")]
    Denied,
    #[error("the push endpoint is refused: {0}")]
    Endpoint(String),
    #[error("too many push subscriptions from your address")]
    TooMany,
}

/// What the push side counted, for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PushCounts {
    pub(crate) enabled: bool,
    pub(crate) subscriptions: u64,
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) gone: u64,
    pub(crate) coalesced: u64,
    pub(crate) notices_dropped: u64,
}

struct On {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Notice>,
    /// Where a room's bound deposit key is read.
    mailbox: Arc<Mailbox>,
}

/// What the connection tasks and the push task share.
struct Shared {
    vapid: Vapid,
    config: PushConfig,
    caller: Caller,
    store: Option<Store>,
    subscriptions: Mutex<Subscriptions>,
    sending: Arc<Semaphore>,
    sent: AtomicU64,
    failed: AtomicU64,
    gone: AtomicU64,
    coalesced: AtomicU64,
    notices_dropped: AtomicU64,
}

#[derive(Default)]
struct Subscriptions {
    rooms: HashMap<RoomId, Vec<Subscriber>>,
    per_address: HashMap<AddressTag, usize>,
}

struct Subscriber {
    subscription: PushSubscription,
    key: DepositKey,
    /// The connection that registered it (none if loaded from disk).
    by: Option<PeerId>,
    /// The address it counts against (none if loaded from disk).
    address: Option<AddressTag>,
    last_sent: Option<Instant>,
    /// A push is scheduled for the end of the interval.
    is_due: bool,
}

/// A deposit was stored.
struct Notice {
    room: RoomId,
    depositor: Option<PeerId>,
}

impl Push {
    /// Loads (or creates) the VAPID key and the stored subscriptions in `data_dir` and
    /// starts the push task, which ends when `stop` turns true. Push is off, with an
    /// error logged, if the key cannot be read or written.
    pub(crate) fn start(
        config: PushConfig,
        data_dir: &Path,
        mailbox: Arc<Mailbox>,
        stop: watch::Receiver<bool>,
    ) -> Push {
        if !config.enabled {
            info!("push notifications are off (--no-push)");
            return Push { on: None };
        }
        let mut rng = rand::rng();
        let vapid = match Vapid::load_or_create(data_dir, config.contact.clone(), || {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            bytes
        }) {
            Ok(vapid) => vapid,
            Err(err) => {
                tracing::error!(%err, "cannot load or create the VAPID key; push notifications are off");
                return Push { on: None };
            }
        };
        if config.contact.is_none() {
            warn!("no --push-contact: some push services (Apple's) refuse pushes without one");
        }
        if config.allow_any_endpoint {
            warn!(
                "!!! --dangerously-allow-any-push-endpoint is set: clients can make this server \
                 POST to any address, loopback and private networks included. Tests only. !!!"
            );
        }
        let store = match Store::open(&data_dir.join("push.redb")) {
            Ok(store) => Some(store),
            Err(err) => {
                tracing::error!(%err, "cannot open push.redb; subscriptions will not survive a restart");
                None
            }
        };
        let mut subscriptions = Subscriptions::default();
        if let Some(store) = &store {
            match store.load() {
                Ok(all) => {
                    for stored in all {
                        subscriptions.insert(
                            stored.room,
                            Subscriber {
                                subscription: stored.subscription,
                                key: stored.key,
                                by: None,
                                address: None,
                                last_sent: None,
                                is_due: false,
                            },
                        );
                    }
                }
                Err(err) => warn!(%err, "cannot read push.redb"),
            }
        }
        let shared = Arc::new(Shared {
            caller: Caller::new(config.allow_any_endpoint),
            vapid,
            config,
            store,
            subscriptions: Mutex::new(subscriptions),
            sending: Arc::new(Semaphore::new(MAX_SENDING)),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            gone: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            notices_dropped: AtomicU64::new(0),
        });
        let (queue, notices) = mpsc::channel(QUEUE_LEN);
        tokio::spawn(run(
            Arc::clone(&shared),
            notices,
            Arc::clone(&mailbox),
            stop,
        ));
        Push {
            on: Some(On {
                shared,
                queue,
                mailbox,
            }),
        }
    }

    /// The VAPID public key for `welcome`, if push is on.
    pub(crate) fn public_key(&self) -> Option<String> {
        self.on
            .as_ref()
            .map(|on| on.shared.vapid.public_key().to_owned())
    }

    /// Registers `subscription` for `room` from connection `by` at `address`, after
    /// checking `proof` against `key` and `key` against the room's mailbox.
    pub(crate) async fn subscribe(
        &self,
        room: RoomId,
        subscription: PushSubscription,
        key: DepositKey,
        proof: DepositProof,
        by: PeerId,
        address: AddressTag,
    ) -> Result<(), PushError> {
        let on = self.on.as_ref().ok_or(PushError::Unavailable)?;
        Target::parse(subscription.endpoint(), &on.shared.config)
            .map_err(|err| PushError::Endpoint(err.to_string()))?;
        key.verify_access(&room, by, &proof)
            .map_err(|_| PushError::Denied)?;
        if on
            .mailbox
            .room_key(room)
            .await
            .is_some_and(|bound| bound != key)
        {
            return Err(PushError::Denied);
        }
        {
            let mut subscriptions = on.shared.lock();
            let is_new = subscriptions.find(room, subscription.endpoint()).is_none();
            if is_new
                && subscriptions
                    .per_address
                    .get(&address)
                    .copied()
                    .unwrap_or(0)
                    >= MAX_PER_ADDRESS
            {
                return Err(PushError::TooMany);
            }
            subscriptions.insert(
                room,
                Subscriber {
                    subscription: subscription.clone(),
                    key,
                    by: Some(by),
                    address: Some(address),
                    last_sent: None,
                    is_due: false,
                },
            );
        }
        let shared = Arc::clone(&on.shared);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(store) = &shared.store
                && let Err(err) = store.put(room, &subscription, &key)
            {
                warn!(%err, "cannot store a push subscription");
            }
        })
        .await;
        Ok(())
    }

    /// Forgets `room`'s subscription at `endpoint`, after checking `proof` against `key`
    /// and `key` against the subscription's.
    pub(crate) async fn unsubscribe(
        &self,
        room: RoomId,
        endpoint: String,
        key: DepositKey,
        proof: DepositProof,
        by: PeerId,
    ) -> Result<(), PushError> {
        let on = self.on.as_ref().ok_or(PushError::Unavailable)?;
        key.verify_access(&room, by, &proof)
            .map_err(|_| PushError::Denied)?;
        {
            let mut subscriptions = on.shared.lock();
            match subscriptions.find(room, &endpoint) {
                Some(subscriber) if subscriber.key != key => return Err(PushError::Denied),
                Some(_) => subscriptions.remove(room, &endpoint),
                None => return Ok(()),
            }
        }
        let shared = Arc::clone(&on.shared);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(store) = &shared.store {
                let _ = store.remove(&[(room, endpoint)]);
            }
        })
        .await;
        Ok(())
    }

    /// A deposit into `room` was stored (by connection `depositor`, if on this node):
    /// queues the pushes without waiting. A full queue drops the notice (counted).
    pub(crate) fn notify(&self, room: RoomId, depositor: Option<PeerId>) {
        let Some(on) = &self.on else {
            return;
        };
        if on.queue.try_send(Notice { room, depositor }).is_err() {
            on.shared.notices_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts for `/metrics`.
    pub(crate) fn counts(&self) -> PushCounts {
        let Some(on) = &self.on else {
            return PushCounts::default();
        };
        let shared = &on.shared;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let subscriptions = shared.lock().rooms.values().map(Vec::len).sum::<usize>();
        PushCounts {
            enabled: true,
            subscriptions: subscriptions as u64,
            sent: load(&shared.sent),
            failed: load(&shared.failed),
            gone: load(&shared.gone),
            coalesced: load(&shared.coalesced),
            notices_dropped: load(&shared.notices_dropped),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Subscriptions> {
        // A panic while holding the lock leaves the tables consistent (every change is one
        // insert or remove): keep going.
        self.subscriptions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Subscriptions {
    fn find(&mut self, room: RoomId, endpoint: &str) -> Option<&mut Subscriber> {
        self.rooms
            .get_mut(&room)?
            .iter_mut()
            .find(|subscriber| subscriber.subscription.endpoint() == endpoint)
    }

    /// Adds `subscriber` to `room`, replacing one with the same endpoint, or the oldest
    /// when the room is full.
    fn insert(&mut self, room: RoomId, subscriber: Subscriber) {
        self.remove(room, subscriber.subscription.endpoint());
        let in_room = self.rooms.entry(room).or_default();
        let oldest = (in_room.len() >= MAX_PER_ROOM).then(|| in_room.remove(0));
        if let Some(address) = subscriber.address {
            *self.per_address.entry(address).or_default() += 1;
        }
        in_room.push(subscriber);
        if let Some(oldest) = oldest {
            self.uncount(oldest.address);
        }
    }

    fn remove(&mut self, room: RoomId, endpoint: &str) {
        let Some(in_room) = self.rooms.get_mut(&room) else {
            return;
        };
        let Some(index) = in_room
            .iter()
            .position(|subscriber| subscriber.subscription.endpoint() == endpoint)
        else {
            return;
        };
        let removed = in_room.remove(index);
        if in_room.is_empty() {
            self.rooms.remove(&room);
        }
        self.uncount(removed.address);
    }

    fn uncount(&mut self, address: Option<AddressTag>) {
        if let Some(address) = address
            && let Some(n_subscriptions) = self.per_address.get_mut(&address)
        {
            *n_subscriptions = n_subscriptions.saturating_sub(1);
            if *n_subscriptions == 0 {
                self.per_address.remove(&address);
            }
        }
    }
}

/// The push task: takes notices, pushes now or at the end of each subscription's
/// interval, until the server stops.
async fn run(
    shared: Arc<Shared>,
    mut notices: mpsc::Receiver<Notice>,
    mailbox: Arc<Mailbox>,
    mut stop: watch::Receiver<bool>,
) {
    // Pushes waiting for their subscription's interval to end.
    let mut due: BTreeMap<Instant, Vec<(RoomId, String)>> = BTreeMap::new();
    loop {
        let next_due = due.keys().next().copied();
        tokio::select! {
            notice = notices.recv() => {
                let Some(Notice { room, depositor }) = notice else { return };
                let Some(bound) = mailbox.room_key(room).await else { continue };
                let now = Instant::now();
                let interval = shared.config.interval;
                let mut to_send = Vec::new();
                {
                    let mut subscriptions = shared.lock();
                    let Some(in_room) = subscriptions.rooms.get_mut(&room) else { continue };
                    for subscriber in in_room.iter_mut() {
                        if subscriber.key != bound || (depositor.is_some() && subscriber.by == depositor) {
                            continue;
                        }
                        match subscriber.last_sent {
                            Some(last) if now.duration_since(last) < interval => {
                                shared.coalesced.fetch_add(1, Ordering::Relaxed);
                                if !subscriber.is_due {
                                    subscriber.is_due = true;
                                    due.entry(last + interval).or_default().push((room, subscriber.subscription.endpoint().to_owned()));
                                }
                            }
                            _ => {
                                subscriber.last_sent = Some(now);
                                to_send.push((room, subscriber.subscription.clone()));
                            }
                        }
                    }
                }
                for (room, subscription) in to_send {
                    spawn_send(&shared, room, subscription);
                }
            }
            () = sleep_until(next_due) => {
                let now = Instant::now();
                let later = due.split_off(&(now + Duration::from_nanos(1)));
                let ready = std::mem::replace(&mut due, later);
                let mut to_send = Vec::new();
                {
                    let mut subscriptions = shared.lock();
                    for (room, endpoint) in ready.into_values().flatten() {
                        if let Some(subscriber) = subscriptions.find(room, &endpoint)
                            && subscriber.is_due
                        {
                            subscriber.is_due = false;
                            subscriber.last_sent = Some(now);
                            to_send.push((room, subscriber.subscription.clone()));
                        }
                    }
                }
                for (room, subscription) in to_send {
                    spawn_send(&shared, room, subscription);
                }
            }
            () = stopped(&mut stop) => return,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Pushes `subscription`'s tag in a task of its own (at most [`MAX_SENDING`] at once);
/// forgets the subscription if the push service says it is gone.
fn spawn_send(shared: &Arc<Shared>, room: RoomId, subscription: PushSubscription) {
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let Ok(_permit) = Arc::clone(&shared.sending).acquire_owned().await else {
            return;
        };
        match send(&shared, &subscription).await {
            Ok(status) if (200..300).contains(&status) => {
                shared.sent.fetch_add(1, Ordering::Relaxed);
            }
            Ok(404 | 410) => {
                shared.gone.fetch_add(1, Ordering::Relaxed);
                let endpoint = subscription.endpoint().to_owned();
                shared.lock().remove(room, &endpoint);
                let store_shared = Arc::clone(&shared);
                let _ = tokio::task::spawn_blocking(move || {
                    if let Some(store) = &store_shared.store {
                        let _ = store.remove(&[(room, endpoint)]);
                    }
                })
                .await;
                debug!(
                    ?subscription,
                    "the push service no longer knows a subscription; forgotten"
                );
            }
            Ok(status) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                debug!(?subscription, status, "the push service refused a push");
            }
            Err(err) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                debug!(?subscription, %err, "a push could not be sent");
            }
        }
    });
}

async fn send(shared: &Shared, subscription: &PushSubscription) -> Result<u16, String> {
    let target =
        Target::parse(subscription.endpoint(), &shared.config).map_err(|err| err.to_string())?;
    let (body, authorization) = {
        let mut rng = rand::rng();
        let as_private = vapid::new_secret(|| {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            bytes
        });
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let body = encrypt::encrypt(
            subscription.p256dh(),
            subscription.auth(),
            subscription.tag().as_bytes(),
            &as_private,
            salt,
        )
        .map_err(|err| err.to_string())?;
        let now_unix = crate::mailbox::unix_ms() / 1000;
        (body, shared.vapid.authorization(&target.origin(), now_unix))
    };
    let headers = [
        ("authorization", authorization),
        ("content-encoding", "aes128gcm".to_owned()),
        ("content-type", "application/octet-stream".to_owned()),
        ("ttl", PUSH_TTL_SECS.to_string()),
        ("urgency", "high".to_owned()),
    ];
    shared
        .caller
        .post(&target, &headers, body)
        .await
        .map_err(|err| err.to_string())
}
