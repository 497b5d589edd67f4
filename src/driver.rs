//! The driver: one task that owns the [`confab_core::Client`], the signalling socket and
//! the peer links. It awaits {UI command, socket event, link event, deadline}, feeds one
//! input to core, drains core's output into links and UI state, and repeats.
//! JS callbacks only push `Input`s onto its channel.
//!
//! - **Persisting (write-ahead).** Every `Event::Persist` is appended to the store after a
//!   drain, in order, one write at a time (the outbox, receipts and read-marks records,
//!   if they moved, after the events). When the write commits the driver reports it
//!   (`Input::Persisted` → `Client::handle_persisted`), and only then do our events in it
//!   go out. A failed write (a full quota) goes to `Client::handle_persist_failed`: our
//!   events in it and after it are withdrawn before anyone saw them (`Event::NotSent`:
//!   they leave the timeline, are dropped from the next write, and the notice quotes their
//!   text, "Not sent — the browser's storage for Confab is full: “…”. Free some space, then
//!   send it again."); others' events stay shown but not kept, and the notice says so.
//!   Without a usable store the driver tells core at start (`Client::run_without_store`:
//!   our events go out at once; `boot` already told the user nothing is kept).
//! - **Links.** Core decides every link (`confab_core::client::link`): whom to connect
//!   to, when a direct path gives way to the relay, which link of a member seen twice
//!   stays, and that nothing through the server changes a verified link. The driver opens
//!   and closes RTCPeerConnections when core says so (`Event::OpenDirect`,
//!   `CloseDirect`), hands them the signals core lets through (`RemoteSignal`), reports
//!   what they do (`handle_direct_open`, `handle_direct_closed`, `handle_local_signal`),
//!   and moves each frame on the path core chose (`Transmit::via`). The test hook
//!   `?ice=withhold` keeps a page's ICE candidates to itself so the end-to-end suite
//!   exercises the relay fallback for real; `?relay=force` never tries a direct path.
//!   The socket reconnects with backoff (at most 10 s apart). Pages say Bye on
//!   `pagehide` and close every room's server connection (a page frozen in the
//!   back/forward cache kept it open, so the server went on listing it and newcomers
//!   showed "Connecting to 1 more…" for a page that never answers); a page restored from
//!   that cache reloads.
//! - **Contacts.** Verified peers are recorded as contacts; a known contact's name on
//!   another key puts a warning (role `alert`) on that member's row. The member list says
//!   "Nobody else is here right now — messages will be delivered when they come back."
//!   when nobody is online or connecting in a room someone else was in.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use confab_core::client::{OutboxRecord, ReceiptsRecord};
use confab_core::contacts::{Contact, Contacts};
use confab_core::signal::{ClientMessage, ServerFrame, ServerMessage};
use confab_core::wire::relay::{Direction as RelayDirection, Envelope};
use confab_core::{
    Client, Content, Event, EventId, FailReason, Generation, Instant, OrderKey, Output, Path,
    PeerId, Presence, PublicIdentity, RoomId, SendError, Via,
};
use futures::StreamExt as _;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use leptos::prelude::*;

use crate::commands::{Command, Commands};
use crate::platform::net::{DirectLink, Network, Signalling};
use crate::platform::rtc::{IceServerConfig, RtcEvent, RtcSignal};
use crate::platform::socket::SocketEvent;
use crate::platform::store::{BrowserStore, EventRecord, ReadMarks, SavedRoom, StoreError};
use crate::platform::{clock, page, pwa};
use crate::state::{
    AppState, ContactView, Draft, MemberStatus, MessageView, Path as ViewPath, ServerStatus,
};

mod calls;
mod files;
mod mailbox;
mod push;

/// Without input for this long, a visible page counts as away.
const IDLE_AFTER: Duration = Duration::from_secs(5 * 60);
/// Longest wait between reconnection attempts to the server.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(10);

/// Restores the room's stored events into `client` ([`Client::restore`]) and deletes the
/// records it refused: others' events beyond the clock's horizon, which older versions
/// kept (an honest one comes again by catch-up once the clock passes it). `Err`: the store
/// could not be read, and nothing was restored.
pub async fn restore_history(
    client: &mut Client,
    store: Option<&BrowserStore>,
) -> Result<(), StoreError> {
    let stored = match store {
        Some(store) => store.load_event_records(client.room_id()).await?,
        None => Vec::new(),
    };
    let events = stored
        .iter()
        .map(|(record, event)| (record, event.as_slice()));
    let restored = client.restore(clock::now(), clock::wall(), events);
    if let Some(store) = store
        && !restored.refused.is_empty()
    {
        log(&format!(
            "deleting {} stored events beyond the clock's horizon",
            restored.refused.len()
        ));
        let refused: Vec<EventRecord> = restored.refused.into_iter().cloned().collect();
        // Should this fail, the next start refuses them again: nothing depends on it.
        let _ = store.delete_events(&refused).await;
    }
    Ok(())
}

/// Told about each person a driver verifies (their keys and the name they use).
pub type OnContact = Rc<dyn Fn(&PublicIdentity, &str)>;

/// What this device keeps for the driver: the store (None: nothing is kept), the contacts
/// loaded from it, and the room as saved.
#[derive(Default)]
pub struct Kept {
    /// The encrypted profile store.
    pub store: Option<Rc<BrowserStore>>,
    /// People met before.
    pub contacts: Contacts,
    /// This room as saved.
    pub room: Option<SavedRoom>,
    /// Called with each person verified here (used to keep a one-to-one room with every
    /// contact running in the background).
    pub on_contact: Option<OnContact>,
}

/// Settings read once at start.
pub struct Settings {
    /// Never try WebRTC: all frames go through the server relay.
    pub force_relay: bool,
    /// Test hook: never send our ICE candidates, so no direct path can form and the
    /// timed fallback to the relay is exercised for real.
    pub dangerously_withhold_ice_candidates: bool,
    /// This room is on screen (not one kept connected in the background): only it
    /// publishes figures for the benchmark harness.
    pub on_screen: bool,
}

#[derive(Debug)]
enum Input {
    Command(Command),
    /// This browser's push subscription for the room, made for server connection `peer`.
    PushSubscription {
        peer: PeerId,
        subscription: confab_core::signal::PushSubscription,
    },
    Socket(SocketEvent),
    Rtc {
        peer: PeerId,
        generation: Generation,
        event: RtcEvent,
    },
    /// A file was read and hashed (or could not be).
    FilePrepared {
        blob: web_sys::Blob,
        meta: Result<confab_core::transfer::FileMeta, String>,
    },
    /// A stored file record of this room, with its chunks stored.
    FileRecord {
        file: EventId,
        decision: files::Decision,
        stored: u32,
    },
    /// The stored part of a download was hashed: resume it.
    Rehashed {
        file: EventId,
        stored: u32,
        // Boxed: BLAKE3's hasher state is about 2 KB.
        digest: Box<confab_core::transfer::FileDigest>,
    },
    /// Resume from `stored` chunks (hash them first).
    RehashFrom {
        file: EventId,
        stored: u32,
    },
    /// Storage checked before accepting a file.
    SpaceChecked {
        file: EventId,
        enough: bool,
        free: Option<u64>,
    },
    /// Consecutive chunks of our file, read from it.
    ChunksRead {
        peer: PeerId,
        file: EventId,
        first: u32,
        data: Result<Vec<u8>, String>,
    },
    /// Our connection's offer or answer for a call, to send inside the peer's session.
    CallDescription(calls::LocalDescription),
    /// Our devices for the call opened (or not).
    CallMedia {
        stream: Option<web_sys::MediaStream>,
        note: Option<String>,
        devices: Vec<(bool, String, String)>,
    },
    /// The screen to share was chosen (or refused).
    ScreenCaptured(Result<web_sys::MediaStream, String>),
    /// What a peer's link receives after a renegotiation.
    CallMediaOf {
        peer: PeerId,
        stream: web_sys::MediaStream,
    },
    /// Another microphone or camera opened (or not).
    DeviceCaptured {
        camera: bool,
        result: Result<web_sys::MediaStream, String>,
    },
    /// The copy of our file was kept in the store (or not).
    FileKept {
        file: EventId,
        result: Result<(), StoreError>,
    },
    /// Received chunks before `up_to` are stored (or failed to be).
    ChunksSaved {
        file: EventId,
        up_to: u32,
        result: Result<(), StoreError>,
    },
    /// The store's write of these events committed (or failed): ours among them may go
    /// out now (or are withdrawn).
    Persisted {
        ids: Vec<EventId>,
        result: Result<(), StoreError>,
    },
}

/// A direct connection the driver holds because core asked for it.
struct Direct {
    generation: Generation,
    rtc: Box<dyn DirectLink>,
}

struct BenchRun {
    peer: PeerId,
    remaining: u32,
    nonce: u64,
    started_ms: f64,
    samples: Vec<f64>,
}

struct Driver {
    client: Client,
    room: RoomId,
    state: AppState,
    settings: Settings,
    inbox: UnboundedSender<Input>,
    network: Box<dyn Network>,
    socket: Option<Box<dyn Signalling>>,
    /// The server's VAPID key from `welcome` (none: it sends no Web Push).
    push_key: Option<String>,
    ice_servers: Vec<IceServerConfig>,
    /// Direct connections by peer (core decides when they open and close).
    rtcs: HashMap<PeerId, Direct>,
    reconnect_attempts: u32,
    reconnect_at: Option<Instant>,
    bench: Option<BenchRun>,
    announced_ready: bool,
    read_up_to: Option<OrderKey>,
    /// Without input until then, we are away.
    idle_at: Instant,
    /// The encrypted profile store (None: nothing is kept, e.g. storage unavailable).
    store: Option<Rc<BrowserStore>>,
    /// Accepted events not yet handed to the store.
    unsaved: Vec<(EventId, Vec<u8>)>,
    /// A write of events is under way: the next waits for it (our events go out in
    /// order as each commits, and one that failed is withdrawn before a later one is
    /// written).
    writing: bool,
    /// Why the last write failed, for the "not sent" notice that follows it.
    write_failure: Option<String>,
    /// Core's latest receipts record, not saved yet.
    unsaved_receipts: Option<ReceiptsRecord>,
    /// What the user has seen here, as last handed to the store (only while on screen).
    seen: Option<ReadMarks>,
    /// `seen`, if it has not been saved yet.
    unsaved_seen: Option<ReadMarks>,
    /// Frame bytes handed to links or the relay since start (benchmarks read it).
    bytes_sent: u64,
    /// People met before.
    contacts: Contacts,
    /// This room as saved (its title lists who we met here).
    saved_room: Option<SavedRoom>,
    /// Told about each person verified here.
    on_contact: Option<OnContact>,
    /// File transfers' bookkeeping.
    transfers: files::Transfers,
    /// Our call.
    calls: calls::Calls,
    /// The server's offline mailbox for this room.
    mailbox: mailbox::Mailbox,
}

/// Starts the driver task for `client`; returns the handle for UI commands.
pub fn start(
    client: Client,
    state: AppState,
    settings: Settings,
    network: Box<dyn Network>,
    kept: Kept,
    commands: &Commands,
) {
    let Kept {
        store,
        contacts,
        room,
        on_contact,
    } = kept;
    let Some(queued) = commands.take_queue() else {
        log("a driver is already running for these commands");
        return;
    };
    let (inbox, inputs) = unbounded();
    // The UI's commands, in order, among the driver's other inputs.
    let inputs = futures::stream::select(inputs, queued.map(Input::Command));
    let room_id = client.room_id();
    let mut client = client;
    let calls = calls::Calls::new(client.identity().member_key());
    client.set_force_relay(settings.force_relay);
    if store.is_none() {
        // Nothing is kept (the user was told at start): our events go out at once.
        client.run_without_store();
    }
    let mut driver = Driver {
        room: room_id,
        client,
        state,
        settings,
        inbox: inbox.clone(),
        network,
        socket: None,
        push_key: None,
        ice_servers: Vec::new(),
        rtcs: HashMap::new(),
        reconnect_attempts: 0,
        reconnect_at: None,
        bench: None,
        announced_ready: false,
        read_up_to: None,
        idle_at: clock::now() + IDLE_AFTER,
        store,
        unsaved: Vec::new(),
        writing: false,
        write_failure: None,
        unsaved_receipts: None,
        seen: None,
        unsaved_seen: None,
        bytes_sent: 0,
        contacts,
        saved_room: room,
        on_contact,
        transfers: files::Transfers::default(),
        calls,
        mailbox: mailbox::Mailbox::new(room_id),
    };
    for contact in driver.contacts.iter() {
        let view = contact_view(&driver.client, contact);
        driver.state.upsert_contact(view);
    }
    // Not a component: the driver runs on the browser's microtask queue directly.
    wasm_bindgen_futures::spawn_local(async move {
        // What of our events is in other hands first: a name event published next is
        // then deposited once, after the rest of the outbox.
        driver.load_mailbox_state().await;
        // Tell the room our name in history, so members who never meet us see it too
        // (a no-op when history already says so).
        let now = clock::now();
        let name = driver.client.display_name().to_owned();
        driver.client.set_display_name(now, clock::wall(), &name);
        driver.drain(now);
        driver.load_file_records();
        if driver.settings.on_screen {
            crate::platform::files::clean_saved().await;
        }
        driver.connect_socket();
        driver.run(inputs).await;
    });
}

impl Driver {
    async fn run(&mut self, mut inputs: impl futures::Stream<Item = Input> + Unpin) {
        // The armed browser timer and when it fires. It is kept while it fires no later
        // than the next deadline: an early wake is harmless (timers ignore it), and not
        // re-arming on every input keeps setTimeout/clearTimeout off the message path.
        let mut timer: Option<(Instant, gloo_timers::future::TimeoutFuture)> = None;
        loop {
            match (self.next_deadline(), &timer) {
                (Some(deadline), Some((armed, _))) if *armed <= deadline => {}
                (Some(deadline), _) => {
                    let wait = deadline.saturating_duration_since(clock::now());
                    timer = Some((deadline, clock::sleep(wait)));
                }
                (None, _) => timer = None,
            }
            let input = match timer.as_mut() {
                Some((_, sleep)) => match futures::future::select(inputs.next(), sleep).await {
                    futures::future::Either::Left((Some(input), _)) => Some(input),
                    futures::future::Either::Left((None, _)) => return,
                    futures::future::Either::Right(_) => None,
                },
                None => match inputs.next().await {
                    Some(input) => Some(input),
                    None => return,
                },
            };
            let now = clock::now();
            match input {
                Some(input) => self.handle_input(now, input),
                None => {
                    timer = None;
                    self.handle_timeout(now);
                }
            }
            self.drain(now);
        }
    }

    /// We verified `identity` calling itself `name`: warn if a known contact goes by that
    /// name with another key, then remember them.
    fn meet(&mut self, identity: &PublicIdentity, name: &str) {
        let key = identity.member_key();
        if let Some(namesake) = self.contacts.namesake(&key, name) {
            self.state.member_warning(
                key,
                format!(
                    "Not the {} you know: this safety number is different ({} before). \
                     It may be someone else, or them on a new device: ask them before trusting it.",
                    namesake.name,
                    namesake.identity.fingerprint()
                ),
            );
        }
        self.title_room(name);
        self.remember(identity, name);
        if let Some(on_contact) = &self.on_contact {
            on_contact(identity, name);
        }
    }

    /// Records (or refreshes "last seen" of) a contact, on screen and on this device.
    fn remember(&mut self, identity: &PublicIdentity, name: &str) {
        let key = identity.member_key();
        let (_, contact) = self.contacts.observe(identity, name, clock::wall());
        self.state
            .upsert_contact(contact_view(&self.client, contact));
        let bytes = contact.encode();
        self.with_store_quietly(move |store| async move {
            store.save_contact(key.as_bytes().to_owned(), &bytes).await
        });
    }

    /// Names the saved room after the first few people met in it.
    fn title_room(&mut self, name: &str) {
        let Some(room) = self.saved_room.as_mut() else {
            return;
        };
        if room.title.starts_with("Direct: ") || room.title == crate::CONTACT_ROOM_TITLE {
            return;
        }
        let mut names: Vec<&str> = room
            .title
            .split(", ")
            .filter(|n| !n.is_empty() && *n != name)
            .collect();
        if names.len() >= 3 {
            return;
        }
        names.push(name);
        room.title = names.join(", ");
        let saved = room.clone();
        let id = saved.id();
        let title = saved.title.clone();
        self.state.rooms.update(|rooms| {
            if let Some(view) = rooms.iter_mut().find(|r| r.id == id) {
                view.title = title;
            }
        });
        self.with_store_quietly(move |store| async move { store.save_room(&saved).await });
    }

    /// Runs a store write in the background; only failures are reported.
    fn with_store_quietly<F, Fut>(&self, task: F)
    where
        F: FnOnce(Rc<BrowserStore>) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<(), StoreError>> + 'static,
    {
        let (Some(store), state) = (self.store.clone(), self.state) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(error) = task(store).await {
                state
                    .notice
                    .set(Some(format!("Could not save to this device: {error}.")));
            }
        });
    }

    /// Where this room's mailbox was read up to on this device, and which of our events
    /// are in other hands (core then deposits the rest if nobody is linked: nobody is yet);
    /// and the composer's unsent draft.
    async fn load_mailbox_state(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        match store.mailbox_cursor(self.room).await {
            Ok(cursor) => self.mailbox.set_cursor(cursor),
            Err(error) => log(&format!(
                "mailbox cursor unreadable, reading from the start: {error}"
            )),
        }
        // Receipts before the first message views are drawn, so what members hold and read
        // shows at once, not "pending" until one links.
        match store.receipts(self.room).await {
            Ok(Some(record)) => self.client.restore_receipts(record),
            Ok(None) => {}
            Err(error) => log(&format!(
                "receipts record unreadable, showing none until members link: {error}"
            )),
        }
        let record = match store.outbox(self.room).await {
            Ok(record) => record.unwrap_or_default(),
            Err(error) => {
                log(&format!(
                    "outbox record unreadable, depositing every unacknowledged event: {error}"
                ));
                OutboxRecord::default()
            }
        };
        self.client.restore_outbox(record);
        match store.draft(self.room).await {
            Ok(draft) => self.state.saved_draft.set(draft),
            Err(error) => log(&format!(
                "draft unreadable, the composer starts empty: {error}"
            )),
        }
        match store.muted(self.room).await {
            Ok(muted) => {
                self.state.muted.set(muted);
                self.push_mirror_muted(muted);
            }
            Err(error) => log(&format!("mute unreadable, the room notifies: {error}")),
        }
        self.drain(clock::now());
    }

    /// Hands accepted events to the store, in order, in one write (one at a time: the next
    /// waits for this one's [`Input::Persisted`], which tells core our events in it may go
    /// out: write-ahead); then the mailbox cursor if it moved (after them, so it never
    /// promises events that were not saved), the outbox record if it grew, the receipts and
    /// the read marks if they moved.
    fn save_events(&mut self) {
        if self.writing {
            return;
        }
        let cursor = self.mailbox.take_unsaved_cursor();
        let outbox = self.mailbox.take_unsaved_outbox();
        let receipts = self.unsaved_receipts.take();
        let seen = self.unsaved_seen.take();
        if self.unsaved.is_empty()
            && cursor.is_none()
            && outbox.is_none()
            && receipts.is_none()
            && seen.is_none()
        {
            return;
        }
        let (ids, events): (Vec<EventId>, Vec<Vec<u8>>) =
            std::mem::take(&mut self.unsaved).into_iter().unzip();
        let Some(store) = self.store.clone() else {
            return;
        };
        self.writing = true;
        let (room, inbox) = (self.room, self.inbox.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let saved = store.append_events(room, &events).await;
            // Core hears of it first: our events in this write may go out now.
            let _ = inbox.unbounded_send(Input::Persisted {
                ids,
                result: saved.clone(),
            });
            if let (Ok(()), Some(cursor)) = (&saved, cursor)
                && let Err(error) = store.save_mailbox_cursor(room, cursor).await
            {
                log(&format!("mailbox cursor not saved: {error}"));
            }
            if let Some(outbox) = outbox
                && let Err(error) = store.save_outbox(room, &outbox).await
            {
                log(&format!("outbox record not saved: {error}"));
            }
            if let Some(receipts) = receipts
                && let Err(error) = store.save_receipts(room, &receipts).await
            {
                log(&format!("receipts record not saved: {error}"));
            }
            if let Some(seen) = seen
                && let Err(error) = store.save_read_marks(room, &seen).await
            {
                log(&format!("read marks not saved: {error}"));
            }
        });
    }

    /// A write of events ended ([`Input::Persisted`]). Committed: core sends ours among
    /// them. Failed: core withdraws ours not sent yet (reported as [`Event::NotSent`]);
    /// others' stay shown but are not kept, and the user is told.
    fn persisted(&mut self, now: Instant, ids: Vec<EventId>, result: Result<(), StoreError>) {
        self.writing = false;
        match result {
            Ok(()) => self.client.handle_persisted(now, &ids),
            Err(error) => {
                let (reason, text) = match error {
                    StoreError::QuotaExceeded => (
                        "the browser's storage for Confab is full".to_owned(),
                        "The browser's storage for Confab is full: messages from others are \
                         shown but not kept, and yours are not sent. Free some space (or export \
                         your profile) and reload."
                            .to_owned(),
                    ),
                    other => (
                        format!("it could not be saved on this device ({other})"),
                        format!("New messages could not be saved: {other}."),
                    ),
                };
                log(&format!("events not saved: {reason}"));
                self.state.notice.set(Some(text));
                self.write_failure = Some(reason);
                self.client.handle_persist_failed(now, &ids);
            }
        }
    }

    /// Core withdrew our events that could not be stored: they are gone from the timeline
    /// (core redraws it) and from the next write; the user gets their text back in the
    /// notice, to send again.
    fn not_sent(&mut self, events: Vec<(EventId, Content)>) {
        self.unsaved
            .retain(|(id, _)| !events.iter().any(|(withdrawn, _)| withdrawn == id));
        let texts: Vec<String> = events
            .into_iter()
            .filter_map(|(_, content)| match content {
                Content::Text { text, .. } | Content::Edit { text, .. } => Some(text),
                Content::File(meta) => Some(meta.name),
                _ => None,
            })
            .collect();
        let reason = self
            .write_failure
            .clone()
            .unwrap_or_else(|| "it could not be saved on this device".to_owned());
        let text = match texts.as_slice() {
            [] => format!("Not sent: {reason}."),
            [one] => format!("Not sent — {reason}: “{one}”. Free some space, then send it again."),
            many => format!(
                "{} messages not sent — {reason}: “{}”. Free some space, then send them again.",
                many.len(),
                many.join("”, “")
            ),
        };
        self.state.notice.set(Some(text));
    }

    /// Runs a store operation in the background and reports its outcome as a notice.
    fn with_store<F, Fut>(&self, what: &'static str, task: F)
    where
        F: FnOnce(Rc<BrowserStore>, AppState) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<String, StoreError>> + 'static,
    {
        let state = self.state;
        let Some(store) = self.store.clone() else {
            state
                .notice
                .set(Some(format!("Cannot {what}: storage is unavailable.")));
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let text = match task(store, state).await {
                Ok(done) => done,
                Err(error) => format!("Could not {what}: {error}."),
            };
            state.notice.set(Some(text));
        });
    }

    /// Online while the page is visible and used; away when hidden or idle.
    fn update_presence(&mut self, now: Instant) {
        let presence = if page::is_visible() && now < self.idle_at {
            Presence::Online
        } else {
            Presence::Away
        };
        self.client.set_presence(now, presence);
    }

    /// Posts `content`; false if core refused it (the user is told why).
    fn post(&mut self, now: Instant, content: Content) -> bool {
        match self.client.post(now, clock::wall(), content) {
            Ok(_) => {
                self.state.notice.set(None);
                // Something the user wrote is now saved on this device: ask to keep it.
                crate::platform::files::ask_to_keep_storage();
                return true;
            }
            // A lasting alert says what happened; a notice would be replaced.
            Err(SendError::ProfileForked) => self.state.forked.set(true),
            Err(error) => self.state.notice.set(Some(format!("Not sent: {error}."))),
        }
        false
    }

    /// A message core refused (say while our earlier messages are still arriving, which
    /// any member can cause for a few seconds) goes back into the composer, in the mode
    /// it was written in, and is kept as the room's draft: nothing typed is lost, and
    /// sending again is one key. (The composer asked to forget the draft before posting.)
    /// An edit goes back to editing that message, whose current text the box shows.
    fn keep_unsent(&mut self, draft: Draft, text: String) {
        let editing = matches!(draft, Draft::Edit(_));
        self.state.draft.set(draft);
        if editing {
            return;
        }
        self.state.saved_draft.set(Some(text.clone()));
        let room = self.room;
        self.with_store_quietly(move |store| async move { store.save_draft(room, &text).await });
    }

    /// While the page is visible, everything shown counts as read. True if that told
    /// core something new (its output must be drained).
    fn mark_read(&mut self, now: Instant) -> bool {
        // A background room is not seen, however visible the page.
        if !self.settings.on_screen || !page::is_visible() {
            return false;
        }
        let last = self
            .state
            .messages
            .with_untracked(|m| m.last().map(|m| m.key));
        match last {
            Some(last) if self.read_up_to.is_none_or(|read| read < last) => {
                self.read_up_to = Some(last);
                self.client.mark_read(now, last);
                true
            }
            _ => false,
        }
    }

    /// While this room is seen (on screen, the page visible), everything it holds is seen:
    /// that becomes its read marks, from which its unread count starts when it next runs in
    /// the background (after the user opens another room).
    fn note_seen(&mut self) {
        if !self.settings.on_screen || !page::is_visible() || self.store.is_none() {
            return;
        }
        let seen = read_marks_of(&self.client);
        if self.seen.as_ref() != Some(&seen) {
            self.seen = Some(seen.clone());
            self.unsaved_seen = Some(seen);
        }
    }

    /// A new message from someone else while this room is not seen (the room on screen
    /// while the page is hidden; a background room always): count it as unread (title, app
    /// badge, rooms list) and notify, if the user turned notifications on and did not mute
    /// the room, or if it mentions us. Clicking the notification of a background room
    /// opens that room.
    fn note_unread(&self, view: &MessageView) {
        let on_screen = self.settings.on_screen;
        if view.mine || view.deleted || (on_screen && page::is_visible()) {
            return;
        }
        if !self.state.note_unread(view.id) {
            return;
        }
        if self.state.muted.get_untracked() && !view.mentions_me {
            return;
        }
        let text = match &view.file {
            Some(file) => format!("File: {}", file.name),
            None => view.text.clone(),
        };
        let author = self.state.name_of(&view.author);
        let body = pwa::preview(&text);
        match self.saved_room.as_ref().filter(|_| !on_screen) {
            Some(room) => {
                let title = pwa::message_title(&author, &room.title);
                // The room's address, never its secret: notifications and their links
                // outlive the page (the system's notification centre, the worker).
                let address = self.client.room_address(&room.id());
                let link = page::room_link(address);
                pwa::notify(&title, &body, Some((&address.to_string(), &link)));
            }
            None => pwa::notify(&author, &body, None),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        // The idle deadline matters only while it can still change our presence.
        let idle = (self.client.presence() == Presence::Online).then_some(self.idle_at);
        self.client
            .poll_timeout()
            .into_iter()
            .chain(self.reconnect_at)
            .chain(idle)
            .chain(self.transfers.deadline())
            .chain(self.calls.deadline())
            .chain(self.mailbox.deadline())
            .min()
    }

    fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Command(Command::SendText(text)) => {
                let content = Content::Text {
                    text,
                    reply_to: None,
                    mentions: Vec::new(),
                };
                self.post(now, content);
            }
            Input::Command(Command::Post {
                draft,
                text,
                mentions,
            }) => {
                let content = match draft {
                    Draft::New => Content::Text {
                        text: text.clone(),
                        reply_to: None,
                        mentions,
                    },
                    Draft::Reply(target) => Content::Text {
                        text: text.clone(),
                        reply_to: Some(target),
                        mentions,
                    },
                    Draft::Edit(target) => Content::Edit {
                        target,
                        text: text.clone(),
                    },
                };
                if !self.post(now, content) {
                    self.keep_unsent(draft, text);
                }
                self.client.set_typing(now, false);
            }
            Input::Command(Command::React { target, emoji, on }) => {
                self.post(now, Content::React { target, emoji, on });
            }
            Input::Command(Command::Delete(target)) => {
                self.post(now, Content::Delete { target });
            }
            Input::Command(Command::Typing(active)) => self.client.set_typing(now, active),
            Input::Command(Command::SetMuted(muted)) => {
                self.state.muted.set(muted);
                self.push_mirror_muted(muted);
                let room = self.room;
                self.with_store_quietly(
                    move |store| async move { store.save_muted(room, muted).await },
                );
            }
            Input::Command(Command::SaveDraft(text)) => {
                let room = self.room;
                self.with_store_quietly(
                    move |store| async move { store.save_draft(room, &text).await },
                );
            }
            Input::Command(Command::SetPassphrase(passphrase)) => {
                self.with_store("change the passphrase", move |store, state| async move {
                    store.set_passphrase(passphrase.as_deref()).await?;
                    state.has_passphrase.set(store.has_passphrase());
                    Ok(if store.has_passphrase() {
                        "Passphrase set: it will be asked for when Confab opens.".to_owned()
                    } else {
                        "Passphrase removed.".to_owned()
                    })
                });
            }
            Input::Command(Command::Export(passphrase)) => {
                self.with_store("export the profile", move |store, _| async move {
                    let bytes = store.export(&passphrase).await?;
                    page::download("confab-profile.confab", &bytes)
                        .map_err(StoreError::Unavailable)?;
                    Ok("Profile exported (encrypted with that passphrase).".to_owned())
                });
            }
            Input::Command(Command::Import { bytes, passphrase }) => {
                self.with_store("import the profile", move |store, _| async move {
                    store.import(&bytes, &passphrase).await?;
                    // The old profile's rooms are gone: so are their pushes.
                    crate::platform::push::forget_all().await;
                    // Start over as the imported profile, in its last room.
                    page::open_home();
                    Ok("Profile imported; reloading…".to_owned())
                });
            }
            Input::Command(Command::SetName(name)) => {
                self.client.set_display_name(now, clock::wall(), &name);
                let name = self.client.display_name().to_owned();
                self.state.me.update(|me| {
                    if let Some(me) = me {
                        me.name = name.clone();
                    }
                });
                self.with_store("save your name", move |store, _| async move {
                    let Some(mut profile) = store.load_profile().await? else {
                        return Ok(String::new());
                    };
                    profile.display_name = name;
                    store.save_profile(&profile).await?;
                    Ok("Name saved.".to_owned())
                });
            }
            Input::Command(Command::AttachFiles(files)) => self.attach_files(files),
            Input::Command(Command::AcceptFile(file)) => self.accept_file(file),
            Input::Command(Command::DeclineFile(file)) => self.decline_file(now, file),
            Input::Command(Command::PauseFile(file)) => self.pause_file(now, file),
            Input::Command(Command::ResumeFile(file)) => self.resume_file(now, file),
            Input::Command(Command::CancelFile(file)) => self.cancel_file(now, file),
            Input::Command(Command::SaveFile(file)) => self.save_file(file),
            Input::Command(Command::StartCall { video }) => self.start_call(video),
            Input::Command(Command::AcceptCall) => self.accept_call(now),
            Input::Command(Command::DeclineCall) => self.decline_call(now),
            Input::Command(Command::HangUp) => self.hang_up(now),
            Input::Command(Command::ToggleMute) => self.toggle_mute(now),
            Input::Command(Command::ToggleCamera) => self.toggle_camera(now),
            Input::Command(Command::TurnOnPush) => self.push_subscribe(),
            Input::PushSubscription { peer, subscription } => {
                self.push_subscribed(peer, subscription);
            }
            Input::Command(Command::ShareScreen(on)) => self.share_screen(now, on),
            Input::CallDescription(description) => self.call_description(now, description),
            Input::CallMedia {
                stream,
                note,
                devices,
            } => self.call_media(now, stream, note, devices),
            Input::ScreenCaptured(result) => self.screen_captured(now, result),
            Input::CallMediaOf { peer, stream } => self.call_track(peer, stream),
            Input::Command(Command::ChooseDevice { camera, id }) => self.choose_device(camera, id),
            Input::DeviceCaptured { camera, result } => self.device_captured(camera, result),
            Input::FilePrepared { blob, meta } => self.file_prepared(now, blob, meta),
            Input::FileKept { file, result } => self.file_kept(file, result),
            Input::FileRecord {
                file,
                decision,
                stored,
            } => self.file_record(now, file, decision, stored),
            Input::Rehashed {
                file,
                stored,
                digest,
            } => self.rehashed(now, file, stored, *digest),
            Input::RehashFrom { file, stored } => self.rehash_from(file, stored),
            Input::SpaceChecked { file, enough, free } => {
                self.space_checked(now, file, enough, free)
            }
            Input::ChunksRead {
                peer,
                file,
                first,
                data,
            } => self.chunks_read(now, peer, file, first, data),
            Input::Persisted { ids, result } => self.persisted(now, ids, result),
            Input::ChunksSaved {
                file,
                up_to,
                result,
            } => self.chunks_saved(now, file, up_to, result),
            Input::Command(Command::Visible(visible)) => {
                // Becoming visible also marks what arrived meanwhile as read (in `drain`).
                if visible {
                    self.idle_at = now + IDLE_AFTER;
                    self.state.clear_unread();
                }
                self.update_presence(now);
            }
            Input::Command(Command::Activity) => {
                let was_idle = self.idle_at <= now;
                self.idle_at = now + IDLE_AFTER;
                if was_idle {
                    self.update_presence(now);
                }
            }
            Input::Command(Command::Leave) => self.leave(now),
            Input::Command(Command::Bench { rounds }) => self.start_bench(now, rounds),
            #[cfg(feature = "bench-hooks")]
            Input::Command(Command::BenchFill { messages }) => {
                for msg_idx in 0..messages {
                    let text = format!("bench message {msg_idx:05}: a typical sentence of chat.");
                    let _ = self.client.send_text(now, clock::wall(), &text);
                }
            }
            Input::Command(Command::BenchCrypto { size, iterations }) => {
                bench_crypto(size, iterations)
            }
            Input::Socket(event) => self.handle_socket(now, event),
            Input::Rtc {
                peer,
                generation,
                event,
            } => self.handle_rtc(now, peer, generation, event),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        if self.idle_at <= now {
            self.update_presence(now);
        }
        if self.reconnect_at.is_some_and(|at| at <= now) {
            self.reconnect_at = None;
            self.connect_socket();
        }
        if self.transfers.deadline().is_some_and(|at| at <= now) {
            self.pump_uploads(now);
        }
        if self.mailbox.deadline().is_some_and(|at| at <= now) {
            self.mailbox_timeout(now);
        }
        self.call_levels(now);
    }

    // ---- signalling server ------------------------------------------------------------

    fn connect_socket(&mut self) {
        let inbox = self.inbox.clone();
        let sink = Rc::new(move |event| {
            let _ = inbox.unbounded_send(Input::Socket(event));
        });
        match self.network.connect(&page::socket_url(), sink) {
            Ok(socket) => self.socket = Some(socket),
            Err(error) => {
                log(&error);
                self.schedule_reconnect(clock::now());
            }
        }
    }

    /// The page goes away (closed, left, or frozen in the back/forward cache): say goodbye,
    /// then close the server connection, so the server tells the room at once. A frozen page that kept its connection stayed listed in the room without ever
    /// answering, and whoever came meanwhile showed "Connecting to 1 more…" for it.
    fn leave(&mut self, now: Instant) {
        self.client.leave(now);
        self.drain(now);
        // Dropping the socket closes it (a page restored from the cache reloads). Direct
        // links stay open for the goodbyes just sent on them; the browser closes them with
        // the page.
        self.socket = None;
        self.reconnect_at = None;
        self.mailbox.disconnected();
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        let delay =
            Duration::from_secs(1u64 << self.reconnect_attempts.min(4)).min(MAX_RECONNECT_DELAY);
        self.reconnect_attempts += 1;
        self.reconnect_at = Some(now + delay);
        self.state.server.set(ServerStatus::Reconnecting);
    }

    fn send_signal(&self, message: &ClientMessage) {
        if let (Some(socket), Ok(text)) = (&self.socket, serde_json::to_string(message)) {
            socket.send_text(&text);
        }
    }

    fn handle_socket(&mut self, now: Instant, event: SocketEvent) {
        match event {
            SocketEvent::Open => {}
            SocketEvent::Text(text) => match serde_json::from_str::<ServerFrame>(&text) {
                Ok(ServerFrame::Server(message)) => self.handle_server_message(now, message),
                Ok(ServerFrame::Mailbox(reply)) => self.handle_mailbox_reply(now, reply),
                Err(error) => log(&format!("unreadable message from the server: {error}")),
            },
            SocketEvent::Binary(bytes) => match Envelope::decode(&bytes) {
                Ok(Envelope {
                    direction: RelayDirection::From(peer),
                    payload,
                }) => self.client.handle_relayed(now, peer, payload),
                Ok(_) => log("relay envelope with the wrong direction"),
                Err(error) => log(&format!("malformed relay envelope: {error}")),
            },
            SocketEvent::Closed { code, reason } => {
                log(&format!("server connection closed ({code} {reason})"));
                self.socket = None;
                self.mailbox.disconnected();
                // Relayed links die with the socket; direct ones carry on.
                self.client.disconnected(now);
                self.schedule_reconnect(now);
            }
        }
    }

    fn handle_server_message(&mut self, now: Instant, message: ServerMessage) {
        match message {
            ServerMessage::Welcome {
                peer,
                ice_servers,
                relay_bytes_per_sec,
                relay_burst_bytes,
                mailbox_puts_per_minute,
                push_key,
            } => {
                self.reconnect_attempts = 0;
                self.client.connected(now, peer);
                self.push_welcome(push_key);
                self.mailbox_welcome(now, peer, mailbox_puts_per_minute);
                self.set_relay_cap(relay_bytes_per_sec, relay_burst_bytes);
                self.ice_servers = ice_servers
                    .into_iter()
                    .map(|s| IceServerConfig {
                        urls: s.urls,
                        username: s.username,
                        credential: s.credential,
                    })
                    .collect();
                self.send_signal(&ClientMessage::Join { room: self.room });
            }
            ServerMessage::Joined { room: _, peers } => {
                self.state.server.set(ServerStatus::Online);
                for peer in peers {
                    self.client.connect_peer(now, peer);
                }
                self.mailbox_joined(now);
            }
            ServerMessage::PeerJoined { room: _, peer } => self.state.member_connecting(peer),
            // Was there before us (learned late, from another node): we are the newcomer.
            ServerMessage::PeerPresent { room: _, peer } => self.client.connect_peer(now, peer),
            ServerMessage::PeerLeft { room: _, peer } => {
                if !self.client.handle_peer_left(now, peer) {
                    // A link that never became anyone (or none at all: they joined and
                    // left before offering); a row that already says "left" (their
                    // goodbye came first) stays.
                    self.state.member_forget_connecting(peer);
                }
            }
            // Only a signal sealed to us by a member opens, and only an unverified link
            // heeds it (core reports the rest as `PeerRejected`).
            ServerMessage::Signal { from, data } => self.client.handle_signal(now, from, &data),
            // Push stays off for this room until the next welcome asks again.
            ServerMessage::PushRefused {
                room,
                code,
                message,
            } => log(&format!(
                "the server refused push notifications for room {room}: {code:?}: {message}"
            )),
            ServerMessage::Error { code, message } => {
                if !self.mailbox_error(now, code) {
                    log(&format!("server refused a request: {code:?}: {message}"))
                }
            }
        }
    }

    // ---- direct connections (opened and closed when core says so) ---------------------

    fn open_direct(&mut self, now: Instant, peer: PeerId, generation: Generation, offerer: bool) {
        let inbox = self.inbox.clone();
        let sink = Rc::new(move |event| {
            let _ = inbox.unbounded_send(Input::Rtc {
                peer,
                generation,
                event,
            });
        });
        match self.network.open_link(&self.ice_servers, offerer, sink) {
            Ok(rtc) => {
                if let Some(old) = self.rtcs.insert(peer, Direct { generation, rtc }) {
                    old.rtc.close();
                }
            }
            Err(error) => {
                log(&format!("cannot create a peer connection: {error}"));
                self.client.handle_direct_closed(now, peer, generation);
            }
        }
    }

    fn close_direct(&mut self, peer: PeerId, generation: Generation) {
        if self
            .rtcs
            .get(&peer)
            .is_some_and(|direct| direct.generation == generation)
            && let Some(direct) = self.rtcs.remove(&peer)
        {
            direct.rtc.close();
        }
    }

    /// `peer`'s direct connection, while its link runs on it.
    fn direct(&self, peer: PeerId) -> Option<&dyn DirectLink> {
        if self.client.path(peer) != Some(Path::Direct) {
            return None;
        }
        self.rtcs.get(&peer).map(|direct| direct.rtc.as_ref())
    }

    fn handle_rtc(&mut self, now: Instant, peer: PeerId, generation: Generation, event: RtcEvent) {
        let current = self
            .rtcs
            .get(&peer)
            .is_some_and(|direct| direct.generation == generation);
        if !current {
            return;
        }
        match event {
            RtcEvent::Signal(RtcSignal::Candidate { .. })
                if self.settings.dangerously_withhold_ice_candidates => {}
            RtcEvent::Signal(signal) => self
                .client
                .handle_local_signal(now, peer, generation, &signal),
            RtcEvent::Open => self.client.handle_direct_open(now, peer, generation),
            RtcEvent::Message(bytes) => self.client.handle_frame(now, peer, &bytes),
            RtcEvent::FileMessage { file, bytes } => {
                self.client.handle_file_frame(now, peer, file, &bytes)
            }
            RtcEvent::FileDrained(_) => self.pump_uploads(now),
            RtcEvent::Track(stream) => self.call_track(peer, stream),
            RtcEvent::Closed => {
                self.rtcs.remove(&peer);
                self.client.handle_direct_closed(now, peer, generation);
            }
        }
    }

    // ---- core output ------------------------------------------------------------------

    fn drain(&mut self, now: Instant) {
        loop {
            match self.client.poll_output() {
                Output::Transmit(transmit) => self.transmit(transmit),
                Output::Event(event) => self.apply_event(now, event),
                Output::Timeout(_) => {
                    if !self.mark_read(now) {
                        self.note_seen();
                        self.save_events();
                        self.save_chunks();
                        if self.settings.on_screen {
                            // For benchmarks: how much history we hold and what we sent.
                            let len = self.client.history().len() as f64;
                            page::publish("historyLen", &len.into());
                            page::publish("bytesSent", &(self.bytes_sent as f64).into());
                        }
                        return;
                    }
                }
            }
        }
    }

    fn transmit(&mut self, transmit: confab_core::Transmit) {
        let confab_core::Transmit {
            peer,
            bytes,
            channel,
            via,
        } = transmit;
        let bytes = bytes.as_slice();
        self.bytes_sent += bytes.len() as u64;
        let sent = match via {
            Via::Direct => self.rtcs.get(&peer).is_some_and(|direct| match channel {
                confab_core::Channel::Main => direct.rtc.send(bytes),
                confab_core::Channel::File(file) => direct.rtc.send_file(file, bytes),
            }),
            Via::Relay => {
                let envelope = Envelope {
                    direction: RelayDirection::To(peer),
                    payload: bytes,
                }
                .encode();
                self.socket
                    .as_ref()
                    .is_some_and(|socket| socket.send_binary(&envelope))
            }
        };
        if !sent {
            log(&format!(
                "frame to {peer} dropped: its {via:?} path is closed"
            ));
        }
    }

    fn apply_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::PeerVerified { peer, info } => {
                let fingerprint = info.identity.fingerprint().to_string();
                let path = match self.client.path(peer) {
                    Some(Path::Direct) => ViewPath::Direct,
                    Some(Path::Relay) => ViewPath::Relay,
                    _ => ViewPath::Pending,
                };
                let key = info.identity.member_key();
                self.state
                    .member_verified(peer, key, info.display_name.clone(), fingerprint, path);
                self.meet(&info.identity, &info.display_name);
                self.announce_dtls(now, peer);
                if !self.announced_ready && self.settings.on_screen {
                    self.announced_ready = true;
                    page::publish("readyAt", &now_ms().into());
                }
            }
            Event::PeerConnecting { peer } => self.state.member_connecting(peer),
            Event::OpenDirect {
                peer,
                generation,
                offerer,
            } => self.open_direct(now, peer, generation, offerer),
            Event::CloseDirect { peer, generation } => self.close_direct(peer, generation),
            Event::RemoteSignal {
                peer,
                generation,
                signal,
            } => {
                if let Some(direct) = self
                    .rtcs
                    .get(&peer)
                    .filter(|direct| direct.generation == generation)
                {
                    direct.rtc.handle_signal(signal);
                }
            }
            Event::Signal { message } => self.send_signal(&message),
            Event::PeerRejected { peer, reason } => {
                log(&format!("dropped a frame from {peer}: {reason}"))
            }
            Event::PeerFailed { peer, reason } => {
                log(&format!("link to {peer} failed: {reason}"));
                self.forget_call_peer(peer);
                match reason {
                    // Nobody answered: not a person the user needs to hear about.
                    FailReason::Timeout | FailReason::Closed => self.state.member_forget(peer),
                    _ => self
                        .state
                        .member_status(peer, MemberStatus::Failed(reason.to_string())),
                }
            }
            // The same person on another link, which stays.
            Event::PeerReplaced { peer } => {
                self.forget_call_peer(peer);
                self.state.member_forget(peer);
            }
            Event::PeerLeft { peer } => {
                self.forget_call_peer(peer);
                self.state.member_status(peer, MemberStatus::Left);
                // "Last seen" is when they left.
                let key = self
                    .state
                    .members
                    .with_untracked(|m| m.iter().find(|m| m.peer == peer).and_then(|m| m.key));
                let known = key.and_then(|key| self.contacts.get(&key)).cloned();
                if let Some(contact) = known {
                    self.remember(&contact.identity, &contact.name);
                }
            }
            Event::Message(message) => {
                let me = self.client.identity().member_key();
                if let Some(file) = &message.file {
                    self.note_file_message(message.id, message.author == me, file.size);
                }
                let view = message_view(&me, message);
                self.note_unread(&view);
                self.state.upsert_message(view);
            }
            Event::Rebuilt => {
                let me = self.client.identity().member_key();
                // A proof that our own chain forked (this profile signs in another
                // browser too): say so before the next post is refused.
                if self.client.history().is_banned(&me) {
                    self.state.forked.set(true);
                }
                let messages = self.client.messages();
                for message in &messages {
                    if let Some(file) = &message.file {
                        self.note_file_message(message.id, message.author == me, file.size);
                    }
                }
                self.state.set_messages(
                    messages
                        .into_iter()
                        .map(|message| message_view(&me, message))
                        .collect(),
                );
            }
            Event::Persist { id, bytes, .. } => self.unsaved.push((id, bytes)),
            Event::NotSent { events } => self.not_sent(events),
            Event::Name { member, name } => {
                self.state.member_named(member, name.clone());
                let linked = self
                    .client
                    .verified_peers()
                    .find(|(_, info)| info.identity.member_key() == member)
                    .map(|(_, info)| info.identity);
                if let Some(identity) = linked {
                    self.meet(&identity, &name);
                }
            }
            Event::Delivered { member, up_to } => {
                self.state.update_progress(member, Some(up_to), None)
            }
            Event::Read { member, up_to } => self.state.update_progress(member, None, Some(up_to)),
            Event::Typing { member, active } => self.state.set_typing(member, active),
            Event::Presence { member, presence } => self.state.member_presence(member, presence),
            Event::Pong { peer, nonce } => self.continue_bench(now, peer, nonce),
            Event::ChunkWanted { peer, file, index } => self.chunk_wanted(now, peer, file, index),
            Event::ChunkReceived { file, index, data } => self.chunk_received(file, index, data),
            Event::Transfer(update) => self.transfer_update(now, update),
            Event::Call { peer, member, data } => self.call_message(now, peer, member, &data),
            Event::MailboxDeposit { seq, entry } => self.deposit(now, seq, entry),
            Event::PersistOutbox { record } => self.mailbox.note_outbox(record),
            Event::PersistReceipts { record } => self.unsaved_receipts = Some(record),
            _ => {}
        }
    }

    // ---- benchmark hook ---------------------------------------------------------------

    fn start_bench(&mut self, now: Instant, rounds: u32) {
        let Some(peer) = self.client.verified_peers().map(|(peer, _)| peer).next() else {
            page::publish("benchError", &"no verified peer".into());
            return;
        };
        self.bench = Some(BenchRun {
            peer,
            remaining: rounds,
            nonce: 1 << 63,
            started_ms: now_ms(),
            samples: Vec::new(),
        });
        self.client.send_ping(now, peer, 1 << 63);
    }

    fn continue_bench(&mut self, now: Instant, peer: PeerId, nonce: u64) {
        let Some(run) = self.bench.as_mut() else {
            return;
        };
        if run.peer != peer || run.nonce != nonce {
            return;
        }
        let end = now_ms();
        run.samples.push(end - run.started_ms);
        run.remaining = run.remaining.saturating_sub(1);
        if run.remaining == 0 {
            let samples: js_sys::Array = run
                .samples
                .iter()
                .map(|s| wasm_bindgen::JsValue::from_f64(*s))
                .collect();
            page::publish("benchResult", &samples.into());
            self.bench = None;
            return;
        }
        run.nonce += 1;
        run.started_ms = now_ms();
        let nonce = run.nonce;
        self.client.send_ping(now, peer, nonce);
    }
}

/// Seals and opens frames in a loop; publishes nanoseconds per seal+open as `cryptoResult`.
fn bench_crypto(size: usize, iterations: u32) {
    let (mut sender, mut receiver) = confab_core::session::Session::pair_for_testing_only(7);
    let plaintext = vec![0x5a; size.min(confab_core::session::MAX_PLAINTEXT_LEN)];
    let started = now_ms();
    let mut opened = 0usize;
    for _ in 0..iterations {
        let Ok(frame) = sender.seal(&plaintext) else {
            break;
        };
        opened += receiver.open(&frame).map_or(0, |p| p.len());
    }
    let elapsed_ms = now_ms() - started;
    let per_frame_ns = elapsed_ms * 1e6 / f64::from(iterations.max(1));
    page::publish(
        "cryptoResult",
        &wasm_bindgen::JsValue::from_f64(if opened > 0 { per_frame_ns } else { -1.0 }),
    );
}

/// A contact as the UI shows it; its link opens our one-to-one room by its address.
fn contact_view(client: &Client, contact: &Contact) -> ContactView {
    let chat = client.direct_room_with(&contact.identity).room_id();
    ContactView {
        chat_link: page::room_link(client.room_address(&chat)),
        key: contact.identity.member_key(),
        name: contact.name.clone(),
        fingerprint: contact.identity.fingerprint().to_string(),
        last_seen: clock::format_time(contact.last_seen),
    }
}

/// Everything `client`'s history holds, as read marks: all of it counts as seen.
pub(crate) fn read_marks_of(client: &Client) -> ReadMarks {
    ReadMarks::new(
        client
            .history()
            .marks()
            .into_iter()
            .map(|mark| (mark.author, mark.seq)),
    )
}

/// Core's message as the UI shows it.
pub(crate) fn message_view(
    me: &confab_core::MemberKey,
    message: confab_core::MessageView,
) -> MessageView {
    MessageView {
        id: message.id,
        key: message.key,
        author: message.author,
        mine: message.author == *me,
        time: clock::format_time(message.sent_at),
        datetime: clock::iso_time(message.sent_at),
        text: message.text,
        edited: message.edited,
        deleted: message.deleted,
        reply_to: message.reply_to,
        mentions_me: message.mentions.contains(me),
        reactions: message
            .reactions
            .into_iter()
            .map(|reaction| (reaction.emoji, reaction.by))
            .collect(),
        file: message.file.map(|file| crate::state::FileInfo {
            image: file.is_previewable_image(),
            name: file.name,
            mime: file.mime,
            size: file.size,
        }),
    }
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn log(text: &str) {
    web_sys::console::warn_1(&text.into());
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "driver_tests.rs"]
mod tests;
