//! [`Client`]: the façade the app drives. It owns the identity, the room secret, each
//! peer link (its path, handshake or session and timers: `link`), the room's [`History`]
//! and [`Timeline`], the catch-up exchange (`sync`), typing, presence and receipts; it
//! turns inputs into transmits and events. Typing (repeated every third of, and shown for,
//! [`Config::typing_timeout`]) and presence are not history and go to verified peers
//! only.
//!
//! Call order: after any mutating call (`add_peer`, `remove_peer`, `handle_frame`, `post`,
//! `send_ping`, `set_typing`, `mark_read`, `leave`, `handle_timeout`, ...), drain
//! [`Client::poll_output`] until it returns [`Output::Timeout`]. Rejected peer input never
//! returns `Err`: it leaves the state as it was and surfaces as [`ClientEvent::PeerRejected`] (one
//! frame dropped) or [`ClientEvent::PeerFailed`] (the link must close: its peer misbehaved).

mod block;
mod call;
mod courier;
mod erase;
mod files;
mod govern;
mod link;
mod mailbox;
mod output;
mod own;
mod post;
mod receipts;
mod rekey;
#[cfg(any(test, fuzzing))]
mod snapshot;
mod superseded;
mod sync;
#[cfg(test)]
mod tests;
mod typing;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::Instant;
use crate::governance::Governance;
use crate::history::{
    Content, EventError, History, Horizon, OrderKey, Timeline, TimelineChange, TimelineMessage,
    UnixMillis, VerifiedEvent,
};
use crate::identity::{Identity, PublicIdentity};
use crate::ids::{MemberKey, PeerId, RoomId};
use crate::mailbox::MailboxKeys;
use crate::rng::SeededRng;
use crate::room::{EpochSecret, RoomSecret};
pub use crate::session::Role;
use crate::session::{Handshake, HandshakeError, OpenError, Session};
use crate::signal::{ClientMessage, SignalSeal, SignalTooLong};
use crate::wire::{AbortReason, Body, Frame, MAX_NAME_LEN, Presence, truncate_utf8};
pub use call::{CallEnd, CallEvent, Calls, MAX_CALL, Tamper};
pub use courier::{Courier, DEFAULT_PUTS_PER_MINUTE, MAX_QUEUED_DEPOSITS, Refused};
pub use files::{Direction, TransferState, TransferUpdate};
pub use govern::{GovernError, JoinRequest, MAX_JOIN_REQUESTS, Powers};
use link::{Close, Link, LinkTimers};
pub use link::{
    DEFAULT_DIRECT_PATH_TIMEOUT, DEFAULT_LIVENESS_PROBE, Generation, LinkTimer, Path, RtcSignal,
};
pub use mailbox::{MailboxIngest, OutboxRecord, OutboxRecordError};
pub use output::{
    Channel, ClientEvent, FailReason, Output, PeerInfo, RejectReason, Restored, SendError,
    Transmit, Via,
};
pub use own::HEAD_WAIT;
use own::OwnChain;
pub use receipts::{
    MAX_RECEIPT_MEMBERS, MemberReceipt, PERSIST_RECEIPTS_AFTER, ReceiptsRecord, ReceiptsRecordError,
};
pub use rekey::REKEY_STAGGER;
pub use superseded::{NoticeError, verify_notice};

/// The ChaCha20 stream of the client's seed that deposit nonces come from.
const MAILBOX_RNG_STREAM: u64 = 1;

/// Tunables. `Default` gives the values the app uses.
#[derive(Clone, Debug)]
pub struct Config {
    /// Shown to peers in our identity card (cut to 64 bytes).
    pub display_name: String,
    /// A handshake not finished by then fails.
    pub handshake_timeout: Duration,
    /// Send a ping when we have sent nothing for this long.
    pub keepalive_interval: Duration,
    /// A verified peer silent for this long is gone.
    pub idle_timeout: Duration,
    /// How long to gather newly accepted events before telling peers (the delivery
    /// receipt to their authors and the gossip that lets others catch up).
    pub have_delay: Duration,
    /// Besides authors, how many peers hear of newly accepted events.
    pub gossip_fanout: usize,
    /// A request for missing events not answered by then goes to another peer.
    pub want_timeout: Duration,
    /// How often one random peer gets our full list of marks (repairs anything lost).
    pub anti_entropy_interval: Duration,
    /// "Typing" shown for a peer expires after this unless repeated.
    pub typing_timeout: Duration,
    /// A download that receives nothing for this long asks again from its next chunk.
    pub transfer_stall: Duration,
    /// A direct path not open by then gives way to the relay.
    pub direct_path_timeout: Duration,
    /// A verified peer the server says left must answer a probe within this.
    pub liveness_probe: Duration,
    /// Never try a direct path: every link runs through the server's relay.
    pub force_relay: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            display_name: String::from("Anonymous"),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(20),
            have_delay: Duration::from_millis(100),
            gossip_fanout: 3,
            want_timeout: Duration::from_secs(3),
            anti_entropy_interval: Duration::from_secs(10),
            typing_timeout: Duration::from_secs(6),
            transfer_stall: Duration::from_secs(5),
            direct_path_timeout: DEFAULT_DIRECT_PATH_TIMEOUT,
            liveness_probe: DEFAULT_LIVENESS_PROBE,
            force_relay: false,
        }
    }
}

/// The room's timers (see `Client::timers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The earliest of every link's [`LinkTimer`]s.
    Links,
    /// A member shown typing stops being shown.
    Typing,
    /// Catch-up: gossip of new events, requests to retry, anti-entropy.
    Sync,
    /// Transfers: stalled downloads ask again.
    Files,
}

/// A link's secure channel (see [`Link`]).
#[allow(clippy::large_enum_variant)] // one per peer; boxing the session gains nothing
enum PeerState {
    Handshaking { handshake: Box<Handshake> },
    Established { session: Session, info: PeerInfo },
}

/// The façade: see the module documentation for the call order.
pub struct Client {
    identity: Identity,
    public: PublicIdentity,
    /// Our encoded identity card, signed once and sent in every handshake.
    own_card: Vec<u8>,
    room: RoomSecret,
    config: Config,
    rng: SeededRng,
    /// Each link: its path, secure channel and timers (see `link`).
    links: BTreeMap<PeerId, Link>,
    /// The last direct connection generation handed out.
    generation: u64,
    /// Our peer id on the current server connection.
    server_peer: Option<PeerId>,
    history: History,
    /// Who may do what (see `govern`); an ungoverned room's refuses every action.
    governance: Governance,
    /// Members the user blocked: nothing of theirs is on the timeline (see `block`).
    blocked: BTreeSet<MemberKey>,
    timeline: Timeline,
    sync: sync::Sync,
    /// When we last said we are typing (None: we are not).
    typing_sent: Option<Instant>,
    /// Members shown as typing, until when.
    typing: BTreeMap<MemberKey, Instant>,
    presence: Presence,
    read_up_to: Option<OrderKey>,
    files: files::Files,
    /// This room's mailbox keys (sealing deposits, proving access to the server); `None` in
    /// a governed room until a member lets us in.
    mailbox: Option<MailboxKeys>,
    /// A governed room's current epoch and its secret, once we hold it.
    epoch: Option<(u64, EpochSecret)>,
    /// The last epochs we left: their mailboxes, where we read and leave the news of the
    /// epochs after them (`govern/left.rs`).
    left_mailboxes: govern::LeftEpochs,
    /// Since when the room needs a new epoch, as `Client::rekey_due` first saw it.
    rekey_needed_since: Option<Instant>,
    /// A superseded link's notices (see `superseded`).
    notices: superseded::Notices,
    /// Deposit nonces: a stream of its own, so deposits change no other random choice.
    mailbox_rng: SeededRng,
    /// Seals our WebRTC signals and opens those sent to us (nonces from a stream of its own).
    signal_seal: SignalSeal,
    /// Our events in nobody else's hands, and what was deposited of them.
    outbox: mailbox::Outbox,
    /// Write-ahead: which of our events may leave this client.
    own: OwnChain,
    latest_now: Option<Instant>,
    /// The wall clock the caller last gave (with `post` and the like), and when: peers'
    /// events are bounded by it (see [`Horizon`]).
    wall: Option<(Instant, UnixMillis)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ClientEvent>,
}

impl Client {
    /// A client for one room. `seed` feeds every random choice core makes (Noise ephemerals,
    /// ping nonces, gossip targets); the adapter draws it from a CSPRNG. Give it the
    /// room's stored events with [`Client::restore`] before connecting peers.
    pub fn new(identity: Identity, room: RoomSecret, mut config: Config, seed: [u8; 32]) -> Client {
        config.display_name = truncate_utf8(config.display_name.trim(), MAX_NAME_LEN).to_owned();
        Client {
            public: identity.public(),
            own_card: identity.encoded_card(&config.display_name),
            identity,
            history: History::new(room.room_id()),
            governance: Governance::resolve(None, []),
            blocked: BTreeSet::new(),
            timeline: Timeline::new(),
            sync: sync::Sync::default(),
            typing_sent: None,
            typing: BTreeMap::new(),
            presence: Presence::Online,
            read_up_to: None,
            files: files::Files::default(),
            mailbox: Some(room.mailbox_keys()),
            epoch: None,
            left_mailboxes: Default::default(),
            rekey_needed_since: None,
            notices: superseded::Notices::default(),
            signal_seal: SignalSeal::new(&room, seed),
            room,
            config,
            rng: SeededRng::from_seed(seed),
            mailbox_rng: SeededRng::from_seed_stream(seed, MAILBOX_RNG_STREAM),
            outbox: mailbox::Outbox::default(),
            own: OwnChain::default(),
            links: BTreeMap::new(),
            generation: 0,
            server_peer: None,
            latest_now: None,
            wall: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Our public identity.
    pub fn identity(&self) -> &PublicIdentity {
        &self.public
    }

    /// Our display name as peers see it.
    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    /// The secret of our one-to-one room with `other` (see [`Identity::direct_room_with`]).
    pub fn direct_room_with(&self, other: &PublicIdentity) -> RoomSecret {
        self.identity.direct_room_with(other)
    }

    /// How our app addresses `room` in place of its secret (see
    /// [`Identity::room_address`]).
    pub fn room_address(&self, room: &RoomId) -> crate::RoomAddress {
        self.identity.room_address(room)
    }

    /// The public room id to join at the signalling server.
    pub fn room_id(&self) -> RoomId {
        self.room.room_id()
    }

    /// Seals a WebRTC signal (the adapter's text: an offer, answer, ICE candidate or the
    /// switch to the relay) from `me`, our peer id on this server connection, to `to`:
    /// the frame to send. Only `to`, holding this room's secret, can open it; the server
    /// forwards ciphertext. `Err` only for a signal longer than a frame can carry.
    pub fn seal_signal(
        &mut self,
        me: PeerId,
        to: PeerId,
        signal: &str,
    ) -> Result<ClientMessage, SignalTooLong> {
        let data = self.signal_seal.seal(me, to, signal)?;
        Ok(ClientMessage::Signal { to, data })
    }

    /// A signal's `data` that the server says `from` sent to `me` (our peer id on this
    /// connection): the signal it carries, if it opens. Anything else (unsealed, sealed
    /// for another pair or room, altered, replayed) is dropped as
    /// [`ClientEvent::PeerRejected`] with [`RejectReason::Signal`], and changes nothing.
    /// (The app's links use [`Client::handle_signal`], which also acts on the signal.)
    pub fn open_signal(&mut self, me: PeerId, from: PeerId, data: &str) -> Option<String> {
        match self.signal_seal.open(from, me, data) {
            Ok(signal) => Some(signal),
            Err(refusal) => {
                self.reject(from, RejectReason::Signal(refusal));
                None
            }
        }
    }

    /// The room's accepted events.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The room's messages as shown.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Every message in room order, as shown (for the first render after [`Client::restore`]).
    pub fn messages(&self) -> Vec<TimelineMessage> {
        self.history
            .ids()
            .filter_map(|id| self.timeline.message(&id).cloned())
            .collect()
    }

    /// Loads events this client persisted earlier (from [`ClientEvent::Persist`]), each under
    /// the caller's key for its record, in any order, without sending anything; the
    /// caller's wall clock reads `wall` at `now`. Signatures were checked before they were
    /// persisted, so only the content hash is checked; corrupt entries are skipped, and
    /// proofs of equivocation take effect again.
    ///
    /// Others' events are bounded by the [`Horizon`] at `wall`, as when they arrive: a
    /// store written before that rule may hold an event that would stop every later one
    /// (a Lamport time at `u64::MAX - 1`). What is refused so is not restored, and its key
    /// is in [`Restored::refused`]: delete those records (catch-up brings an honest one
    /// again once the clock passes it). Our own events are always restored: we wrote them
    /// under the rule, and dropping one would let us sign its number again.
    pub fn restore<'a, K>(
        &mut self,
        now: Instant,
        wall: UnixMillis,
        stored: impl IntoIterator<Item = (K, &'a [u8])>,
    ) -> Restored<K> {
        let now = self.monotonic(now);
        self.note_wall(now, wall);
        let room = *self.history.room();
        let me = self.public.member_key();
        let horizon = self.horizon(now);
        let mut refused = Vec::new();
        for (key, bytes) in stored {
            let Ok(event) = VerifiedEvent::restore(&room, bytes, None) else {
                continue;
            };
            let bound = if event.event().author == me {
                Horizon::UNBOUNDED
            } else {
                horizon
            };
            if let Err(EventError::NotYet { .. }) = self.history.insert(event, bound) {
                refused.push(key);
            }
        }
        // What the store holds of our chain was written before anything of it was sent.
        self.own.sent = self.history.mark(&me);
        self.rebuild_timeline();
        // A rekey with our lockbox may be stored while the epoch the caller restored is
        // older (the tab closed before it saved the new one): we move as we did live.
        self.follow_epochs();
        // A store may hold a message whole and its delete (written before the rewrite).
        self.note_rewritten();
        Restored {
            n_events: self.history.len(),
            refused,
        }
    }

    /// Folds the whole history into a fresh timeline (after a restore or a ban), governance
    /// first: what a removed member wrote after their cut stays off it.
    fn rebuild_timeline(&mut self) {
        self.refresh_governance();
        let mut timeline = Timeline::new();
        for event in self.history.iter().filter(|event| self.counts(event)) {
            timeline.apply(event);
        }
        self.timeline = timeline;
        self.show_expired_as_gone();
    }

    /// Changes our display name: new handshakes carry it, and a profile event tells the
    /// room (also after a restore whose latest profile event names us differently).
    pub fn set_display_name(&mut self, now: Instant, sent_at: UnixMillis, name: &str) {
        let now = self.monotonic(now);
        self.note_wall(now, sent_at);
        let name = truncate_utf8(name.trim(), MAX_NAME_LEN).to_owned();
        if !name.is_empty() && name != self.config.display_name {
            self.own_card = self.identity.encoded_card(&name);
            self.config.display_name = name;
        }
        self.announce_name(now, sent_at);
    }

    /// Posts our display name as a profile event if history does not say it yet, so
    /// members who meet us later, or read history after we left, know the name. Not while
    /// our chain's head is still arriving, nor while a newcomer to a governed room holds
    /// nothing of it yet (it announces itself once handed the secret): the card alone
    /// carries the name until then.
    pub(super) fn announce_name(&mut self, now: Instant, sent_at: UnixMillis) {
        if self.timeline.name(&self.public.member_key()) != Some(&self.config.display_name)
            && !self.learning_own_head(now)
        {
            let content = Content::Profile {
                name: self.config.display_name.clone(),
            };
            // A forked profile cannot publish it; the card still carries the name.
            let _ = self.publish(now, sent_at, content);
        }
    }

    /// Our presence as peers see it.
    pub fn presence(&self) -> Presence {
        self.presence
    }

    /// We are looking at the room, or not (tab hidden, idle).
    pub fn set_presence(&mut self, now: Instant, presence: Presence) {
        let now = self.monotonic(now);
        if presence != self.presence {
            self.presence = presence;
            self.broadcast(now, &Body::Presence(presence));
        }
    }

    /// We have read everything up to `up_to` (in room order); peers learn it if it is later
    /// than what they knew.
    pub fn mark_read(&mut self, now: Instant, up_to: OrderKey) {
        let now = self.monotonic(now);
        if self.read_up_to.is_some_and(|read| read >= up_to) {
            return;
        }
        self.read_up_to = Some(up_to);
        self.broadcast(now, &Body::Read { up_to });
    }

    /// Verified peers.
    pub fn verified_peers(&self) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.links
            .iter()
            .filter_map(|(peer, link)| match &link.channel {
                Some(PeerState::Established { info, .. }) => Some((*peer, info)),
                Some(PeerState::Handshaking { .. }) | None => None,
            })
    }

    /// A transport to `peer` that the caller manages itself is open: start a handshake on
    /// it (the app's links use [`Client::connect_peer`] and the calls after it). An
    /// existing link to the same peer is closed first (the old transport is gone).
    pub fn add_peer(&mut self, now: Instant, peer: PeerId, role: Role) {
        let now = self.monotonic(now);
        if self.links.contains_key(&peer) {
            self.close(now, peer, Close::Left);
        }
        self.start_handshake(now, peer, role);
    }

    /// Starts (or restarts) the handshake of the link to `peer`, which is not verified.
    fn start_handshake(&mut self, now: Instant, peer: PeerId, role: Role) {
        let seed = self.rng.child_seed();
        let mut handshake = Box::new(Handshake::new(
            &self.identity,
            &self.own_card,
            &self.room.noise_psk(),
            role,
            seed,
        ));
        if let Some(bytes) = handshake.start() {
            self.queue(peer, bytes, Channel::Main);
        }
        let link = self.links.entry(peer).or_default();
        link.start_handshake(handshake, self.room.room_id());
        link.timers = LinkTimers::default();
        link.timers
            .set(LinkTimer::Handshake, now + self.config.handshake_timeout);
    }

    /// Queues `bytes` for `peer` on the path its link is on now.
    fn queue(&mut self, peer: PeerId, bytes: Vec<u8>, channel: Channel) {
        let via = match self.route(peer) {
            Some(route) if route.path == Path::Relay => Via::Relay,
            _ => Via::Direct,
        };
        self.transmits.push_back(Transmit {
            peer,
            bytes,
            channel,
            via,
        });
    }

    /// The transport of [`Client::add_peer`] to `peer` closed.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerId) {
        let now = self.monotonic(now);
        self.close(now, peer, Close::Left);
    }

    /// Bytes arrived from `peer`.
    pub fn handle_frame(&mut self, now: Instant, peer: PeerId, bytes: &[u8]) {
        let now = self.monotonic(now);
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => return self.reject(peer, RejectReason::Malformed(error)),
        };
        let Some(state) = self.channel_mut(peer) else {
            return self.reject(peer, RejectReason::Unexpected("unknown peer"));
        };
        match (state, frame) {
            (PeerState::Handshaking { handshake, .. }, Frame::Handshake { step, message }) => {
                match handshake.handle_message(step, message) {
                    Ok(reply) => {
                        if let Some(bytes) = reply {
                            self.queue(peer, bytes, Channel::Main);
                        }
                        self.finish_handshake_if_done(now, peer);
                    }
                    Err(HandshakeError::Duplicate(_)) => self.reject(peer, RejectReason::Replay),
                    Err(error) => self.fail(now, peer, FailReason::Handshake(error), true),
                }
            }
            (PeerState::Handshaking { .. }, Frame::Abort { .. }) => {
                self.fail(now, peer, FailReason::Aborted, false)
            }
            (PeerState::Handshaking { .. }, Frame::Transport { .. }) => {
                self.reject(peer, RejectReason::Unexpected("transport before handshake"));
            }
            (
                PeerState::Established { session, .. },
                Frame::Transport {
                    counter,
                    ciphertext,
                },
            ) => match session.open_transport(counter, ciphertext) {
                Ok(plaintext) => {
                    self.note_received(now, peer);
                    self.handle_body(now, peer, &plaintext);
                }
                Err(OpenError::Replay { .. }) => self.reject(peer, RejectReason::Replay),
                Err(OpenError::Decrypt) => self.handle_unreadable_frame(peer),
                Err(OpenError::Malformed(error)) => {
                    self.reject(peer, RejectReason::Malformed(error))
                }
            },
            (PeerState::Established { .. }, Frame::Handshake { .. }) => {
                self.reject(peer, RejectReason::Unexpected("handshake in session"));
            }
            (PeerState::Established { .. }, Frame::Abort { .. }) => {
                // Unauthenticated: it may not end a verified session.
                self.reject(peer, RejectReason::Unexpected("abort in session"));
            }
        }
    }

    /// Sends any body to a verified peer, bypassing every check: lets tests play a member
    /// who sends forged or malformed content inside an authentic session.
    #[doc(hidden)]
    pub fn dangerously_send_body_for_testing_only(
        &mut self,
        now: Instant,
        peer: PeerId,
        body: &Body,
    ) -> bool {
        let now = self.monotonic(now);
        self.send_body(now, peer, body)
    }

    /// Sends call signalling (an SDP offer, say) to a verified peer inside its session,
    /// so only that member can read it and it surely comes from us. False if the peer is
    /// not verified or `data` does not fit one frame.
    pub fn send_call(&mut self, now: Instant, peer: PeerId, data: &[u8]) -> bool {
        let now = self.monotonic(now);
        if data.len() >= crate::session::MAX_PLAINTEXT_LEN {
            return false;
        }
        self.send_body(now, peer, &Body::Call(data.to_vec()))
    }

    /// Sends a ping to one verified peer; its pong surfaces as [`ClientEvent::Pong`]. Returns
    /// `false` if the peer is not verified.
    pub fn send_ping(&mut self, now: Instant, peer: PeerId, nonce: u64) -> bool {
        let now = self.monotonic(now);
        self.send_body(now, peer, &Body::Ping { nonce })
    }

    /// The peer may be gone (say, the server saw its connection close while our direct
    /// link still looks open): ping it now, and report [`ClientEvent::PeerLeft`] unless any
    /// authentic frame arrives from it within `within`. No-op for unverified peers.
    pub fn check_liveness(&mut self, now: Instant, peer: PeerId, within: Duration) {
        let now = self.monotonic(now);
        if self.is_verified(peer) {
            let deadline = now + within;
            let Some(timers) = self.link_timers(peer) else {
                return;
            };
            let probe = timers
                .get(LinkTimer::Probe)
                .map_or(deadline, |d| d.min(deadline));
            timers.set(LinkTimer::Probe, probe);
            let nonce = self.rng.next_u64();
            self.send_body(now, peer, &Body::Ping { nonce });
        }
    }

    /// Says goodbye to every peer and forgets them.
    pub fn leave(&mut self, now: Instant) {
        let now = self.monotonic(now);
        self.broadcast(now, &Body::Bye);
        // Those with a channel first, then those still setting up a direct path.
        let (mut peers, pending): (Vec<PeerId>, Vec<PeerId>) = self
            .links
            .keys()
            .partition(|peer| self.channel(**peer).is_some());
        peers.extend(pending);
        for peer in peers {
            self.close(now, peer, Close::Leaving);
        }
        for member in self.typing.keys().copied().collect::<Vec<_>>() {
            self.stop_typing(member);
        }
        // The page may be going away: report receipts not reported yet now.
        self.flush_receipts();
    }

    /// Fires every expired timer. Early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.monotonic(now);
        for (timer, at) in self.timers() {
            if at.is_none_or(|at| at > now) {
                continue;
            }
            match timer {
                Timer::Links => self.handle_link_timeouts(now),
                Timer::Typing => {
                    let stopped: Vec<MemberKey> = self
                        .typing
                        .iter()
                        .filter(|(_, until)| now >= **until)
                        .map(|(member, _)| *member)
                        .collect();
                    for member in stopped {
                        self.stop_typing(member);
                    }
                }
                Timer::Sync => self.handle_sync_timeout(now),
                Timer::Files => self.handle_files_timeout(now),
            }
        }
        // Receipts to persist have no deadline of their own: they ride any timer (see
        // `receipts`).
        self.handle_receipts_timeout(now);
    }

    /// Every timer of the room with its deadline: each link's table ([`LinkTimer`]), a
    /// typing member's expiry, catch-up and transfers. The one source of
    /// [`Client::poll_timeout`], and what [`Client::handle_timeout`] fires by kind.
    fn timers(&self) -> [(Timer, Option<Instant>); 4] {
        [
            (Timer::Links, self.links_timeout()),
            (Timer::Typing, self.typing.values().min().copied()),
            (Timer::Sync, self.sync.poll_timeout()),
            (Timer::Files, self.files_timeout()),
        ]
    }

    /// The next thing to do; see the module documentation.
    pub fn poll_output(&mut self) -> Output {
        if let Some(transmit) = self.transmits.pop_front() {
            return Output::Transmit(transmit);
        }
        if let Some(event) = self.events.pop_front() {
            return Output::Event(event);
        }
        Output::Timeout(self.poll_timeout())
    }

    /// The earliest deadline of any timer of the room (see `Client::timers`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers().into_iter().filter_map(|(_, at)| at).min()
    }

    fn finish_handshake_if_done(&mut self, now: Instant, peer: PeerId) {
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        let Some(PeerState::Handshaking { handshake, .. }) = &link.channel else {
            return;
        };
        if !handshake.is_finished() {
            return;
        }
        let Some(PeerState::Handshaking { handshake, .. }) = link.channel.take() else {
            return;
        };
        match handshake.into_session() {
            Some((session, identity, display_name)) => {
                let info = PeerInfo {
                    identity,
                    display_name,
                };
                let link = self.links.entry(peer).or_default();
                link.channel = Some(PeerState::Established {
                    session,
                    info: info.clone(),
                });
                link.timers = LinkTimers::default();
                link.timers
                    .set(LinkTimer::Keepalive, now + self.config.keepalive_interval);
                link.timers
                    .set(LinkTimer::Idle, now + self.config.idle_timeout);
                if self.keep_one_link(now, peer) {
                    return;
                }
                let member = info.identity.member_key();
                if self.governance.rank(&member).is_none() {
                    return self.dismiss(now, peer, member);
                }
                self.events
                    .push_back(ClientEvent::PeerVerified { peer, info });
                self.greet(now, peer);
                self.offer_epoch(now, peer, member);
                // A newcomer's Join is its request to be let in: posted on meeting a member.
                let sent_at = self.wall.map_or(UnixMillis(0), |(_, wall)| wall);
                self.join_if_new(now, sent_at);
                self.resume_downloads_from(now, member);
            }
            None => self.close(
                now,
                peer,
                Close::Failed(FailReason::Handshake(HandshakeError::Verify)),
            ),
        }
    }

    fn handle_body(&mut self, now: Instant, peer: PeerId, plaintext: &[u8]) {
        let body = match Body::decode(plaintext) {
            Ok(body) => body,
            // Authenticated, so it came from the peer itself: it is broken or hostile.
            Err(error) => return self.misbehaved(now, peer, error.to_string()),
        };
        let Some(member) = self.member_of(peer) else {
            return;
        };
        if !self.serves(peer) && !Self::heard_from_strangers(&body) {
            // A newcomer not let in yet: only its own events (its Join) and its marks.
            return self.reject(peer, RejectReason::Unexpected("not let in yet"));
        }
        match body {
            Body::Ping { nonce } => {
                self.send_body(now, peer, &Body::Pong { nonce });
            }
            Body::Pong { nonce } => self.events.push_back(ClientEvent::Pong { peer, nonce }),
            Body::Bye => self.close(now, peer, Close::Left),
            Body::Events(events) => self.handle_events(now, peer, &events),
            Body::Run {
                author,
                first_seq,
                prev,
                entries,
            } => self.handle_run(now, peer, author, first_seq, prev, &entries),
            Body::Have { full, marks } => {
                self.handle_have(now, peer, member, full, &marks);
                self.note_acknowledged(member);
            }
            Body::Want {
                author,
                after,
                up_to,
            } => self.handle_want(now, peer, author, after, up_to),
            Body::Typing { active } => {
                if active && !self.blocked.contains(&member) {
                    let until = now + self.config.typing_timeout;
                    if self.typing.insert(member, until).is_none() {
                        self.events
                            .push_back(ClientEvent::Typing { member, active });
                    }
                } else {
                    self.stop_typing(member);
                }
            }
            Body::Read { up_to } => self.handle_read(now, member, up_to),
            Body::Presence(presence) => self
                .events
                .push_back(ClientEvent::Presence { member, presence }),
            Body::Call(data) => self
                .events
                .push_back(ClientEvent::Call { peer, member, data }),
            Body::Epoch { epoch, secret } => {
                self.handle_epoch_key(now, peer, member, epoch, &secret)
            }
            body @ (Body::FileWant { .. }
            | Body::FileChunk { .. }
            | Body::FileAck { .. }
            | Body::FileStop { .. }) => self.handle_file_body(now, peer, member, body),
        }
    }

    /// The member behind a verified link.
    fn member_of(&self, peer: PeerId) -> Option<MemberKey> {
        match self.channel(peer) {
            Some(PeerState::Established { info, .. }) => Some(info.identity.member_key()),
            _ => None,
        }
    }

    /// A verified link is gone (`close` has removed it from `peers`).
    fn forget_peer(&mut self, now: Instant, peer: PeerId, member: MemberKey) {
        self.sync.forget_peer(peer);
        let orphaned = self.files.forget_peer(peer);
        self.orphan_downloads(now, orphaned);
        if !self
            .verified_peers()
            .any(|(_, info)| info.identity.member_key() == member)
        {
            self.stop_typing(member);
        }
        self.request_missing_all(now);
        self.deposit_outbox_if_alone();
        self.flush_receipts();
    }

    /// A verified peer sent authenticated nonsense: drop it, tell the caller to close the
    /// link, and carry on with everyone else.
    fn misbehaved(&mut self, now: Instant, peer: PeerId, why: String) {
        self.close(now, peer, Close::Failed(FailReason::Misbehaved(why)));
    }

    /// The caller's wall clock reads `wall` at `now`.
    fn note_wall(&mut self, now: Instant, wall: UnixMillis) {
        self.wall = Some((now, wall));
    }

    /// How far ahead peers' events may run at `now`: the wall clock last given, moved on
    /// by the monotonic clock since. Before any is given, the clock is taken to read 0,
    /// which bounds events more tightly, never less (honest Lamport times are small).
    pub(crate) fn horizon(&self, now: Instant) -> Horizon {
        let wall = self.wall.map_or(0, |(at, wall)| {
            let since = now.saturating_duration_since(at).as_millis();
            wall.0
                .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
        });
        Horizon::at(UnixMillis(wall))
    }

    /// Reports a newly accepted event to the caller: what to redraw and what to persist.
    fn note_accepted(&mut self, event: &VerifiedEvent) {
        self.events.push_back(ClientEvent::Persist {
            id: event.id(),
            key: event.event().order_key(),
            bytes: event.bytes().to_vec(),
        });
        if let Content::Text { .. } = event.event().content {
            self.stop_typing(event.event().author);
        }
        self.note_governance(event);
        if !self.counts(event) {
            return;
        }
        match self.timeline.apply(event) {
            Some(TimelineChange::Message(view)) => {
                self.events.push_back(ClientEvent::Message(view))
            }
            Some(TimelineChange::Name { member, name }) => {
                self.events.push_back(ClientEvent::Name { member, name })
            }
            None => {}
        }
    }

    /// Turns a history refusal into the right reaction: forged or malformed events end the
    /// link; a conflict or an event too far ahead only drops the event.
    fn refuse_event(&mut self, now: Instant, peer: PeerId, error: EventError) -> bool {
        match error {
            // Only a peer that is broken or hostile forwards these: we forward only events
            // whose signature checked out.
            EventError::Malformed(_) | EventError::Signature => {
                self.misbehaved(now, peer, error.to_string());
                false
            }
            // The author equivocated, or we are far behind: not the forwarder's fault.
            EventError::Conflict { .. }
            | EventError::Chain
            | EventError::Banned
            | EventError::TooFarAhead { .. }
            | EventError::NotYet { .. }
            | EventError::HeldFull { .. }
            | EventError::Corrupt => {
                self.reject(peer, RejectReason::Content(error.to_string()));
                true
            }
        }
    }

    fn broadcast(&mut self, now: Instant, body: &Body) {
        let peers: Vec<PeerId> = self.verified_peers().map(|(peer, _)| peer).collect();
        for peer in peers {
            self.send_body(now, peer, body);
        }
    }

    fn send_body(&mut self, now: Instant, peer: PeerId, body: &Body) -> bool {
        self.send_body_on(now, peer, body, Channel::Main)
    }

    /// Seals `body` for a verified peer and queues it for `channel`. What the room says
    /// (events, marks, typing, files, calls) goes only to peers we serve.
    fn send_body_on(&mut self, now: Instant, peer: PeerId, body: &Body, channel: Channel) -> bool {
        if !Self::open_to_strangers(body) && !self.serves(peer) {
            return false;
        }
        self.seal_to(now, peer, body, channel)
    }

    /// Seals `body` for a verified peer and queues it for `channel`, whoever it is.
    fn seal_to(&mut self, now: Instant, peer: PeerId, body: &Body, channel: Channel) -> bool {
        let Some(PeerState::Established { session, .. }) = self.channel_mut(peer) else {
            return false;
        };
        match session.seal(&body.encode()) {
            Ok(bytes) => {
                self.note_sent(now, peer);
                self.queue(peer, bytes, channel);
                true
            }
            // Bodies are bounded far below the frame limit; exhaustion after 2^64 frames
            // ends the session rather than reusing a nonce.
            Err(_) => {
                self.close(now, peer, Close::Left);
                false
            }
        }
    }

    fn reject(&mut self, peer: PeerId, reason: RejectReason) {
        self.events
            .push_back(ClientEvent::PeerRejected { peer, reason });
    }

    fn fail(&mut self, now: Instant, peer: PeerId, reason: FailReason, tell_peer: bool) {
        if tell_peer {
            let bytes = Frame::Abort {
                reason: AbortReason::HandshakeFailed,
            }
            .encode();
            self.queue(peer, bytes, Channel::Main);
        }
        self.close(now, peer, Close::Failed(reason));
    }

    /// Time never runs backwards inside core: a stale `now` is treated as the latest seen.
    fn monotonic(&mut self, now: Instant) -> Instant {
        let now = match self.latest_now {
            Some(latest) if latest > now => latest,
            _ => now,
        };
        self.latest_now = Some(now);
        now
    }
}
