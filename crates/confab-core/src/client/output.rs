//! What [`Client`](super::Client) gives back: [`Output`] (transmits, [`ClientEvent`]s, the next deadline) and
//! the reasons it gives for refusing input ([`RejectReason`], [`FailReason`]) or a local
//! call ([`SendError`]).

use super::{Generation, OutboxRecord, ReceiptsRecord, RtcSignal, TransferUpdate};
use crate::Instant;
use crate::history::{Content, OrderKey, TimelineMessage};
use crate::identity::PublicIdentity;
use crate::ids::{EventId, MemberKey, PeerId, RoomId};
use crate::mailbox::SealedEntry;
use crate::session::HandshakeError;
use crate::signal::{ClientMessage, SignalRefusal};
use crate::wire::{DecodeError, Presence};

/// What the caller must do next.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned once per poll, never stored in bulk
pub enum Output {
    /// Send these bytes to this peer (over its data channel or the relay).
    Transmit(Transmit),
    /// Something happened that the UI may show.
    Event(ClientEvent),
    /// Nothing more to do until new input or this deadline (`None`: no deadline).
    Timeout(Option<Instant>),
}

/// What [`Client::restore`](super::Client::restore) made of a store's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored<K> {
    /// Events history holds now.
    pub n_events: usize,
    /// Keys of the records refused (others' events beyond the clock's horizon), in the
    /// order given: delete them from the store.
    pub refused: Vec<K>,
}

/// Bytes for one peer.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub struct Transmit {
    /// Recipient.
    pub peer: PeerId,
    /// A complete frame.
    pub bytes: Vec<u8>,
    /// Which data channel should carry it on a direct link (the relay carries all).
    pub channel: Channel,
    /// Which path carries it.
    pub via: Via,
}

/// The path a [`Transmit`] takes: the one its link is on when it is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The link's direct connection (or the transport the caller opened the link on,
    /// for links of [`Client::add_peer`](super::Client::add_peer)).
    Direct,
    /// The server's relay.
    Relay,
}

/// The data channel a frame belongs on. Every channel carries frames of the same Noise
/// session; a file's own channel lets its chunks queue (and be flow-controlled) without
/// holding up messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The ordered main channel: handshakes, events, everything but file chunks.
    Main,
    /// The file's own channel: its chunks.
    File(EventId),
}

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Transmit {
            peer,
            bytes,
            channel,
            via,
        } = self;
        write!(
            f,
            "Transmit {{ peer: {peer:?}, len: {}, channel: {channel:?}, via: {via:?} }}",
            bytes.len()
        )
    }
}

/// A verified peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Their keys (compare [`PublicIdentity::fingerprint`]).
    pub identity: PublicIdentity,
    /// Their display name.
    pub display_name: String,
}

/// What happened.
// Not `non_exhaustive`: the app matches every event, so a new one does not build until
// it is handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The handshake with `peer` completed: the channel is encrypted and authenticated.
    PeerVerified {
        /// Link.
        peer: PeerId,
        /// Who it is.
        info: PeerInfo,
    },
    /// One frame from `peer` was dropped; the session goes on.
    PeerRejected {
        /// Link.
        peer: PeerId,
        /// Why.
        reason: RejectReason,
    },
    /// The link to `peer` cannot be used: the caller should close it.
    PeerFailed {
        /// Link.
        peer: PeerId,
        /// Why.
        reason: FailReason,
    },
    /// A verified peer left, went silent, or its link closed.
    PeerLeft {
        /// Link.
        peer: PeerId,
    },
    /// A link to `peer` is being set up (show it as connecting).
    PeerConnecting {
        /// Link.
        peer: PeerId,
    },
    /// The link to `peer` closed because its member is linked as another peer too, and
    /// that link was kept: forget this one.
    PeerReplaced {
        /// Link.
        peer: PeerId,
    },
    /// Open a direct connection (a WebRTC peer connection with its data channel) to
    /// `peer`; report it with [`Client::handle_direct_open`](super::Client::handle_direct_open),
    /// [`Client::handle_direct_closed`](super::Client::handle_direct_closed) and [`Client::handle_local_signal`](super::Client::handle_local_signal) under this
    /// generation. The offerer makes the offer; the other side is handed it next
    /// ([`ClientEvent::RemoteSignal`]).
    OpenDirect {
        /// Link.
        peer: PeerId,
        /// Names this connection in later calls and events.
        generation: Generation,
        /// We make the offer.
        offerer: bool,
    },
    /// Close that direct connection (without reporting it closed).
    CloseDirect {
        /// Link.
        peer: PeerId,
        /// Which connection.
        generation: Generation,
    },
    /// Hand this signal from the peer to that direct connection.
    RemoteSignal {
        /// Link.
        peer: PeerId,
        /// Which connection.
        generation: Generation,
        /// Offer, answer or candidate.
        signal: RtcSignal,
    },
    /// Send this to the signalling server (a sealed signal for a peer).
    Signal {
        /// The message.
        message: ClientMessage,
    },
    /// A message is new or changed (edited, deleted, reacted to): show it as it is now, at
    /// its place in room order ([`TimelineMessage::key`]). Ours are reported as posted.
    Message(TimelineMessage),
    /// Messages were removed (an author was proven to sign conflicting events, so all of
    /// theirs are gone): redraw everything from [`Client::messages`](super::Client::messages).
    Rebuilt,
    /// Persist this accepted event (ours or anyone's); give it back to
    /// [`Client::restore`](super::Client::restore) on the next start. Once the store's write has committed, report
    /// it with [`Client::handle_persisted`](super::Client::handle_persisted) (or its failure with
    /// [`Client::handle_persist_failed`](super::Client::handle_persist_failed)): an event of ours goes to nobody before that
    /// (write-ahead), unless the client runs [without a store](Client::run_without_store).
    Persist {
        /// Its id.
        id: EventId,
        /// Its place in room order.
        key: OrderKey,
        /// The signed encoding.
        bytes: Vec<u8>,
    },
    /// The stored form of an accepted event changed: overwrite what was persisted for it
    /// (from [`ClientEvent::Persist`]) with these bytes. A deleted message loses its
    /// content this way (every member erases it), and a message some peer served without
    /// its content gets it back once another serves it whole. Nothing is sent on it.
    Rewrite {
        /// Its id.
        id: EventId,
        /// Its place in room order.
        key: OrderKey,
        /// The signed encoding now held.
        bytes: Vec<u8>,
    },
    /// The room's governance changed (ranks, removals, epoch or settings): read
    /// [`Client::governance`](super::Client::governance).
    Governance,
    /// A governed room moved to a new epoch, or we received its secret: the room is now
    /// reached at `room` ([`Client::room_id`](super::Client::room_id)), and its mailbox with
    /// the new keys. The adapter joins `room` at the server (direct links carry on).
    Moved {
        /// The room id to join.
        room: RoomId,
    },
    /// A governed room's link we opened was superseded: the room moved on to a new epoch
    /// (its link was reset, or someone removed) and a valid notice says so (see
    /// [`Client::link_superseded`](super::Client::link_superseded)). The app shows "This
    /// invite link is no longer valid". Reported once.
    LinkSuperseded,
    /// A member's display name (from their profile event).
    Name {
        /// Who.
        member: MemberKey,
        /// Their name now.
        name: String,
    },
    /// `member` holds our events up to `up_to` (delivery receipt).
    Delivered {
        /// Who.
        member: MemberKey,
        /// Our sequence number they hold up to.
        up_to: u64,
    },
    /// `member` has read everything up to `up_to` (read receipt).
    Read {
        /// Who.
        member: MemberKey,
        /// In room order.
        up_to: OrderKey,
    },
    /// `member` started or stopped typing (stops by itself after
    /// [`Config::typing_timeout`]).
    Typing {
        /// Who.
        member: MemberKey,
        /// Typing now.
        active: bool,
    },
    /// `member` is online or away.
    Presence {
        /// Who.
        member: MemberKey,
        /// Now.
        presence: Presence,
    },
    /// A member asked for chunk `index` of our `file`: read it and hand it to
    /// [`Client::send_chunk`](super::Client::send_chunk) (in order, as the data channel has room).
    ChunkWanted {
        /// The receiver's link.
        peer: PeerId,
        /// The file message.
        file: EventId,
        /// The chunk.
        index: u32,
    },
    /// The next chunk of a download arrived, authenticated and in order: store it, then
    /// report it with [`Client::chunks_stored`](super::Client::chunks_stored).
    ChunkReceived {
        /// The file message.
        file: EventId,
        /// The chunk's index.
        index: u32,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// A transfer progressed or changed state.
    Transfer(TransferUpdate),
    /// Call signalling from a verified peer (see [`Client::send_call`](super::Client::send_call)).
    Call {
        /// Its link.
        peer: PeerId,
        /// Who.
        member: MemberKey,
        /// The app's signalling message.
        data: Vec<u8>,
    },
    /// Answer to [`Client::send_ping`](super::Client::send_ping).
    Pong {
        /// Link.
        peer: PeerId,
        /// The ping's nonce.
        nonce: u64,
    },
    /// One of our events is in nobody else's hands while no member is linked: deposit this
    /// sealed copy in the server's mailbox for the room ([`Client::mailbox_put`](super::Client::mailbox_put) makes the
    /// request once the server connection's peer id is known), and report the server's
    /// `mailbox-stored` with [`Client::mailbox_stored`](super::Client::mailbox_stored)`(seq)`.
    MailboxDeposit {
        /// The event's sequence number in our chain (0: not ours, or a bundle of the news
        /// of a new epoch for the members of an epoch we left, `govern/left.rs`).
        seq: u64,
        /// The mailbox it is sealed for: this room's, or, for the news of a new epoch, the
        /// epoch we left (where members still there look).
        room: RoomId,
        /// The event (or the bundle), sealed for that mailbox.
        entry: SealedEntry,
    },
    /// More of our events are known to be in other hands (a member holds them or the
    /// mailbox stored them): persist this record (replacing the last) and give it back to
    /// [`Client::restore_outbox`](super::Client::restore_outbox) on the next start.
    PersistOutbox {
        /// What is known now.
        record: OutboxRecord,
    },
    /// Our events that could not be stored ([`Client::handle_persist_failed`](super::Client::handle_persist_failed)) were
    /// withdrawn before anyone saw them: they are gone from history (a [`ClientEvent::Rebuilt`]
    /// comes with this), and their numbers will be signed again. Tell the user they were
    /// not sent.
    NotSent {
        /// The withdrawn events, in our chain's order, with what they said.
        events: Vec<(EventId, Content)>,
    },
    /// Receipts moved (gathered for [`PERSIST_RECEIPTS_AFTER`]): persist this record
    /// (replacing the last) and give it back to [`Client::restore_receipts`](super::Client::restore_receipts) on the next
    /// start.
    PersistReceipts {
        /// Every member's receipts now.
        record: ReceiptsRecord,
    },
}

/// Why a single frame was dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// Not decodable.
    #[error("malformed frame: {0}")]
    Malformed(DecodeError),
    /// Seen before, or older than one seen.
    #[error("replayed or reordered frame")]
    Replay,
    /// Did not authenticate.
    #[error("frame failed authentication")]
    Decrypt,
    /// Authentic, but its content was malformed or a duplicate message.
    #[error("invalid content: {0}")]
    Content(String),
    /// A frame that makes no sense in the current state.
    #[error("unexpected {0} frame")]
    Unexpected(&'static str),
    /// A signal through the server that did not open (see [`SignalSeal`]): unsealed,
    /// sealed for another pair of peers or another room, altered, or replayed.
    #[error("refused signal: {0}")]
    Signal(SignalRefusal),
}

/// Why a peer link failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailReason {
    /// The handshake did not verify: the peer does not hold this room's secret, or it is
    /// not who it claims to be.
    #[error("handshake failed: {0}")]
    Handshake(HandshakeError),
    /// The peer gave up on the handshake (it could not verify us).
    #[error("the peer could not verify this room's key")]
    Aborted,
    /// The handshake did not finish in time.
    #[error("handshake timed out")]
    Timeout,
    /// The link closed before the handshake finished.
    #[error("connection closed during handshake")]
    Closed,
    /// A verified peer sent authenticated nonsense (a forged event, a malformed body): the
    /// room goes on without it.
    #[error("the peer sent invalid data: {0}")]
    Misbehaved(String),
    /// The verified peer's direct connection is not the one it vouched for (see
    /// [`Client::tampered`](super::Client::tampered)).
    #[error("the connection was tampered with (its encryption keys were swapped)")]
    Tampered,
    /// The member was removed from the room (see [`crate::governance`]).
    #[error("removed from the room")]
    Removed,
}

/// A local `post` that could not be done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Nothing but whitespace.
    #[error("message is empty")]
    Empty,
    /// The message replied to, edited, deleted or reacted to is not in this room's history.
    #[error("that message is not in this room")]
    UnknownTarget,
    /// Only one's own messages can be edited or deleted.
    #[error("only the author can change a message")]
    NotYours,
    /// The message was deleted.
    #[error("that message was deleted")]
    Deleted,
    /// Longer than one message may be.
    #[error("message is {got} bytes; the limit is {max}")]
    TooLong {
        /// Its size.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// Mentions more members than one message may.
    #[error("message mentions {got} members; the limit is {max}")]
    TooManyMentions {
        /// How many.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// Files are announced with [`Client::post_file`](super::Client::post_file).
    #[error("announce files with post_file")]
    UseFilePost,
    /// Governance actions are not posted as messages.
    #[error("governance actions are not messages")]
    UseGovern,
    /// A governed room's newcomer can post once a member lets it in (hands it the room).
    #[error("you can write here once a member lets you in")]
    NotLetIn,
    /// Our own earlier events are still arriving (a member or the mailbox holds more of
    /// our chain than this device): signing now would fork it. Try again shortly.
    #[error("your earlier messages are still arriving from the room; try again in a moment")]
    CatchingUp,
    /// Our own chain in this room was proven forked: this profile signed different
    /// events with one sequence number, which happens when it is used in two browsers.
    /// Members refuse anything more it signs here; what it posted before the fork stays.
    #[error(
        "this profile was also used in another browser, so this room no longer accepts \
         its messages; what it posted before stays"
    )]
    ProfileForked,
    /// No sequence number or Lamport time is left in this room (unreachable in practice).
    #[error("this room's history is exhausted")]
    HistoryExhausted,
}
