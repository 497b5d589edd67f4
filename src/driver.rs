//! The driver: one task that owns the [`confab_core::Client`], the signalling socket and
//! the peer links. It awaits {UI command, socket event, link event, deadline}, feeds one
//! input to core, drains core's output into links and UI state, and repeats.
//! JS callbacks only push `Input`s onto its channel.
//!
//! - **Persisting (write-ahead).** Every `ClientEvent::Persist` is appended to the store after a
//!   drain, in order, one write at a time (the outbox, receipts and read-marks records,
//!   if they moved, after the events). When the write commits the driver reports it
//!   (`Input::Persisted` → `Client::handle_persisted`), and only then do our events in it
//!   go out. A failed write (a full quota) goes to `Client::handle_persist_failed`: our
//!   events in it and after it are withdrawn before anyone saw them (`ClientEvent::NotSent`:
//!   they leave the timeline, are dropped from the next write, and the notice quotes their
//!   text, "Not sent — the browser's storage for Confab is full: “…”. Free some space, then
//!   send it again."); others' events stay shown but not kept, and the notice says so.
//!   Without a usable store the driver tells core at start (`Client::run_without_store`:
//!   our events go out at once; `boot` already told the user nothing is kept).
//!   `ClientEvent::Rewrite` (a deleted message erased) overwrites the event's record in
//!   the next write, or its bytes in the queue if not written yet (`erase`).
//! - **Links.** Core decides every link (`confab_core::client::link`): whom to connect
//!   to, when a direct path gives way to the relay, which link of a member seen twice
//!   stays, and that nothing through the server changes a verified link. The driver opens
//!   and closes RTCPeerConnections when core says so (`ClientEvent::OpenDirect`,
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
//! - **Contacts.** Verified peers are recorded as contacts in the tab's one
//!   [`ContactBook`], which tells every driver when the user blocks or unblocks someone
//!   (`Client::set_blocked`; a one-to-one room with someone blocked does not connect);
//!   a known contact's name on
//!   another key puts a warning (role `alert`) on that member's row. The member list says
//!   "Nobody else is here right now — messages will be delivered when they come back."
//!   when nobody is online or connecting in a room someone else was in.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use confab_core::client::ReceiptsRecord;
use confab_core::{
    Client, Content, EventId, Instant, OrderKey, Output, PeerId, Presence, PublicIdentity, RoomId,
    SendError,
};
use futures::StreamExt as _;
use futures::channel::mpsc::{UnboundedSender, unbounded};

use crate::commands::{Command, Commands};
use crate::platform::clock::{log, now_ms};
use crate::platform::net::{Network, Signalling};
use crate::platform::rtc::IceServerConfig;
use crate::platform::store::{BrowserStore, ReadMarks, SavedRoom};
use crate::platform::{clock, page};
use crate::state::{AppState, Draft};

mod bench;
mod calls;
mod erase;
mod events;
mod files;
mod govern;
mod input;
mod links;
mod mailbox;
mod moving;
mod people;
mod persist;
mod push;
mod seen;
mod server;

use bench::{BenchRun, bench_crypto};
pub(crate) use events::message_view;
use input::Input;
use links::Direct;
pub(crate) use moving::note_epoch;
pub use people::ContactBook;
use people::contact_view;
pub use persist::{client_for, restore_history};

/// Without input for this long, a visible page counts as away.
const IDLE_AFTER: Duration = Duration::from_secs(5 * 60);
/// Longest wait between reconnection attempts to the server.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(10);

/// Told about each person a driver verifies (their keys and the name they use).
pub type OnContact = Rc<dyn Fn(&PublicIdentity, &str)>;

/// What this device keeps for the driver: the store (None: nothing is kept), the contacts
/// loaded from it, and the room as saved.
#[derive(Default)]
pub struct Kept {
    /// The encrypted profile store.
    pub store: Option<Rc<BrowserStore>>,
    /// The tab's contacts (people met before, and whom the user blocked).
    pub contacts: Rc<ContactBook>,
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

/// The driver's timers (core's are one of them: `Client::poll_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Core's next deadline (links, catch-up, typing, transfers).
    Core,
    /// Connect to the server again.
    Reconnect,
    /// Without input since, a visible page counts as away.
    Idle,
    /// Uploads waiting for the relay's byte budget.
    Uploads,
    /// Measure the call's speaking levels.
    CallLevels,
    /// The mailbox courier's next request.
    Mailbox,
    /// The room's disappearing-messages timer erases the next message.
    Expiry,
    /// A governed room's: a new epoch ours to start, or our leave unheard (`govern::Pending`).
    Govern,
    /// The room's record, which could not be saved, is tried again.
    RoomRecord,
}

struct Driver {
    client: Client,
    /// The room's lasting id ([`SavedRoom::home`]): its records in the store, its address.
    home: RoomId,
    /// Where the room is on the server: the room id joined on each connection. A move to a
    /// new epoch changes it once the record holding the new epoch is saved.
    room: RoomId,
    /// The room id the client moved to, while its record is being saved.
    moving: Option<RoomId>,
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
    /// Saved events whose stored form core changed, with their new bytes, not written yet.
    unsaved_rewrites: Vec<(EventId, Vec<u8>)>,
    /// Where saved events live, for those rewrites.
    records: erase::RecordIndex,
    /// When the disappearing-messages timer next erases.
    expiry: erase::Expiry,
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
    /// The tab's contacts (people met before, and whom the user blocked).
    contacts: Rc<ContactBook>,
    /// This room as saved (its title lists who we met here).
    saved_room: Option<SavedRoom>,
    /// Told about each person verified here.
    on_contact: Option<OnContact>,
    /// File transfers' bookkeeping.
    transfers: files::Transfers,
    /// Our call.
    calls: calls::Calls,
    /// The server's offline mailbox for this room.
    mailbox: mailbox::MailboxAdapter,
    /// A governed room's leave under way, and when to start the epoch it needs.
    govern: govern::Pending,
    /// The writes of the room's record.
    room_record: moving::RoomRecord,
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
    let home = home_of(&client);
    let mut client = client;
    let calls = calls::Calls::new(client.identity().member_key());
    client.set_force_relay(settings.force_relay);
    if store.is_none() {
        // Nothing is kept (the user was told at start): our events go out at once.
        client.run_without_store();
    }
    client.set_blocked(contacts.blocked());
    contacts.follow(inbox.clone());
    let mut driver = Driver {
        home,
        room: room_id,
        moving: None,
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
        unsaved_rewrites: Vec::new(),
        records: erase::RecordIndex::default(),
        expiry: erase::Expiry::default(),
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
        mailbox: mailbox::MailboxAdapter::new(room_id),
        govern: govern::Pending::default(),
        room_record: moving::RoomRecord::default(),
    };
    for contact in driver.contacts.contacts().iter() {
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
        // What the restored history's timer erased while the page was closed.
        driver.governance_changed();
        driver.erase_expired(now);
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

    /// Posts `content`; false if core refused it (the user is told why).
    fn post(&mut self, now: Instant, content: Content) -> bool {
        match self.client.post(now, clock::wall(), content) {
            Ok(_) => {
                self.state.clear_notice();
                // Something the user wrote is now saved on this device: ask to keep it.
                crate::platform::files::ask_to_keep_storage();
                return true;
            }
            // A lasting alert says what happened; a notice would be replaced.
            Err(SendError::ProfileForked) => self.state.profile_forked(),
            Err(error) => self.state.notify(format!("Not sent: {error}.")),
        }
        false
    }

    /// Every timer the driver runs, with its deadline.
    fn timers(&self) -> [(Timer, Option<Instant>); 9] {
        // The idle deadline matters only while it can still change our presence.
        let idle = (self.client.presence() == Presence::Online).then_some(self.idle_at);
        [
            (Timer::Core, self.client.poll_timeout()),
            (Timer::Reconnect, self.reconnect_at),
            (Timer::Idle, idle),
            (Timer::Uploads, self.transfers.deadline()),
            (Timer::CallLevels, self.calls.deadline()),
            (Timer::Mailbox, self.mailbox.deadline()),
            (Timer::Expiry, self.expiry.at),
            (Timer::Govern, self.govern.deadline()),
            (Timer::RoomRecord, self.room_record.deadline()),
        ]
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers().into_iter().filter_map(|(_, at)| at).min()
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
            Input::Command(Command::SetBlocked { member, blocked }) => {
                self.set_blocked(member, blocked);
            }
            Input::BlockedChanged => self.blocked_changed(now),
            Input::Command(
                command @ (Command::SetDisappearing(_)
                | Command::RemoveMember(_)
                | Command::SetAdmin { .. }
                | Command::SetApproval(_)
                | Command::SetSinceJoining(_)
                | Command::AnswerJoin { .. }
                | Command::LeaveRoom
                | Command::ForgetRoom),
            ) => self.govern_command(now, command),
            Input::Command(Command::Typing(active)) => self.client.set_typing(now, active),
            Input::Command(Command::SetMuted(muted)) => {
                self.state.room_muted(muted);
                self.push_mirror_muted(muted);
                let room = self.home;
                self.with_store_quietly(
                    move |store| async move { store.save_muted(room, muted).await },
                );
            }
            Input::Command(Command::SaveDraft(text)) => {
                let room = self.home;
                self.with_store_quietly(
                    move |store| async move { store.save_draft(room, &text).await },
                );
            }
            Input::Command(Command::SetPassphrase(passphrase)) => self.set_passphrase(passphrase),
            Input::Command(Command::Export(passphrase)) => self.export(passphrase),
            Input::Command(Command::Import { bytes, passphrase }) => self.import(bytes, passphrase),
            Input::Command(Command::SetName(name)) => self.set_name(now, name),
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
            Input::FilePrepared { file, meta } => self.file_prepared(now, file, meta),
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
            Input::MoveSaved { room } => self.move_saved(room),
            Input::RoomSaved { up_to, result } => self.room_saved(now, up_to, result),
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
            Input::Command(Command::ResetLink) => self.reset_link(now),
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

    /// Fires each timer due at `now`, by kind.
    fn handle_timeout(&mut self, now: Instant) {
        for (timer, at) in self.timers() {
            if at.is_none_or(|at| at > now) {
                continue;
            }
            match timer {
                Timer::Core => self.client.handle_timeout(now),
                Timer::Reconnect => {
                    self.reconnect_at = None;
                    self.connect_socket();
                }
                Timer::Idle => self.update_presence(now),
                Timer::Uploads => self.pump_uploads(now),
                Timer::CallLevels => self.call_levels(now),
                Timer::Mailbox => self.mailbox_timeout(now),
                Timer::Expiry => self.erase_expired(now),
                Timer::Govern => self.govern_timeout(now),
                // The drain after it writes the record.
                Timer::RoomRecord => {}
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
                    // Erasing draws rows anew (as deleted): the loop drains them.
                    if self.expiry_stale() {
                        self.erase_expired(now);
                        continue;
                    }
                    if !self.governed_after_drain(now) && !self.mark_read(now) {
                        self.follow_epoch(now);
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
}

/// The lasting id of `client`'s room ([`SavedRoom::home`]): a governed room's genesis,
/// else its room id.
pub(crate) fn home_of(client: &Client) -> RoomId {
    client
        .governance()
        .genesis()
        .unwrap_or_else(|| client.room_id())
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

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "driver_tests.rs"]
mod tests;
