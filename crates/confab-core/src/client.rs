//! [`Client`]: the façade the app drives. It owns the identity, the room secret, one
//! handshake or session per peer link, and the timers; it turns inputs into transmits and
//! events.
//!
//! Call order: after any mutating call (`add_peer`, `remove_peer`, `handle_frame`,
//! `send_text`, `send_ping`, `leave`, `handle_timeout`), drain [`Client::poll_output`]
//! until it returns [`Output::Timeout`]. Rejected peer input never returns `Err`: it leaves
//! the state as it was and surfaces as [`Event::PeerRejected`] or [`Event::PeerFailed`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use crate::Instant;
use crate::chat::{ChatMessage, Direction, UnixMillis};
use crate::identity::{Identity, PublicIdentity};
use crate::ids::{MessageId, PeerId, RoomId};
use crate::rng::SeededRng;
use crate::room::RoomSecret;
pub use crate::session::Role;
use crate::session::{Handshake, HandshakeError, OpenError, Session};
use crate::wire::{
    AbortReason, Body, DecodeError, Frame, MAX_NAME_LEN, MAX_TEXT_LEN, truncate_utf8,
};

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
}

impl Default for Config {
    fn default() -> Config {
        Config {
            display_name: String::from("Anonymous"),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(20),
        }
    }
}

/// What the caller must do next.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned once per poll, never stored in bulk
pub enum Output {
    /// Send these bytes to this peer (over its data channel or the relay).
    Transmit(Transmit),
    /// Something happened that the UI may show.
    Event(Event),
    /// Nothing more to do until new input or this deadline (`None`: no deadline).
    Timeout(Option<Instant>),
}

/// Bytes for one peer.
pub struct Transmit {
    /// Recipient.
    pub peer: PeerId,
    /// A complete frame.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Transmit { peer, bytes } = self;
        write!(f, "Transmit {{ peer: {peer:?}, len: {} }}", bytes.len())
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
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
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
    /// A chat message, ours (as sent) or theirs (as received).
    Message(ChatMessage),
    /// Answer to [`Client::send_ping`].
    Pong {
        /// Link.
        peer: PeerId,
        /// The ping's nonce.
        nonce: u64,
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
}

/// A local `send_text` that could not be done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Nothing but whitespace.
    #[error("message is empty")]
    Empty,
    /// Longer than one message may be.
    #[error("message is {got} bytes; the limit is {max}")]
    TooLong {
        /// Its size.
        got: usize,
        /// The limit.
        max: usize,
    },
}

#[allow(clippy::large_enum_variant)] // one per peer; boxing the session gains nothing
enum PeerState {
    Handshaking {
        handshake: Box<Handshake>,
        deadline: Instant,
    },
    Established {
        session: Session,
        info: PeerInfo,
        last_sent: Instant,
        last_received: Instant,
        /// Set by `check_liveness`: the peer is gone unless it speaks before this.
        probe_deadline: Option<Instant>,
    },
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
    peers: BTreeMap<PeerId, PeerState>,
    /// Highest chat sequence number seen per author (signing key), against duplicates.
    seen_seq: HashMap<[u8; 32], u64>,
    next_seq: u64,
    latest_now: Option<Instant>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Client {
    /// A client for one room. `seed` feeds every random choice core makes (Noise ephemerals,
    /// ping nonces); the adapter draws it from a CSPRNG.
    pub fn new(identity: Identity, room: RoomSecret, mut config: Config, seed: [u8; 32]) -> Client {
        config.display_name = truncate_utf8(config.display_name.trim(), MAX_NAME_LEN).to_owned();
        Client {
            public: identity.public(),
            own_card: identity.encoded_card(&config.display_name),
            identity,
            room,
            config,
            rng: SeededRng::from_seed(seed),
            peers: BTreeMap::new(),
            seen_seq: HashMap::new(),
            next_seq: 1,
            latest_now: None,
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

    /// The public room id to join at the signalling server.
    pub fn room_id(&self) -> RoomId {
        self.room.room_id()
    }

    /// Verified peers.
    pub fn verified_peers(&self) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.peers.iter().filter_map(|(peer, state)| match state {
            PeerState::Established { info, .. } => Some((*peer, info)),
            PeerState::Handshaking { .. } => None,
        })
    }

    /// A link to `peer` is open: start a handshake. An existing handshake or session with
    /// the same peer is replaced (the old link is gone).
    pub fn add_peer(&mut self, now: Instant, peer: PeerId, role: Role) {
        let now = self.monotonic(now);
        if let Some(PeerState::Established { .. }) = self.peers.get(&peer) {
            self.events.push_back(Event::PeerLeft { peer });
        }
        let seed = self.rng.child_seed();
        let mut handshake = Box::new(Handshake::new(
            &self.identity,
            &self.own_card,
            &self.room.noise_psk(),
            role,
            seed,
        ));
        if let Some(bytes) = handshake.start() {
            self.transmits.push_back(Transmit { peer, bytes });
        }
        let deadline = now + self.config.handshake_timeout;
        self.peers.insert(
            peer,
            PeerState::Handshaking {
                handshake,
                deadline,
            },
        );
    }

    /// The link to `peer` closed.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerId) {
        self.monotonic(now);
        match self.peers.remove(&peer) {
            Some(PeerState::Established { .. }) => self.events.push_back(Event::PeerLeft { peer }),
            Some(PeerState::Handshaking { .. }) => {
                self.events.push_back(Event::PeerFailed {
                    peer,
                    reason: FailReason::Closed,
                });
            }
            None => {}
        }
    }

    /// Bytes arrived from `peer`.
    pub fn handle_frame(&mut self, now: Instant, peer: PeerId, bytes: &[u8]) {
        let now = self.monotonic(now);
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => return self.reject(peer, RejectReason::Malformed(error)),
        };
        let Some(state) = self.peers.get_mut(&peer) else {
            return self.reject(peer, RejectReason::Unexpected("unknown peer"));
        };
        match (state, frame) {
            (PeerState::Handshaking { handshake, .. }, Frame::Handshake { step, message }) => {
                match handshake.handle_message(step, message) {
                    Ok(reply) => {
                        if let Some(bytes) = reply {
                            self.transmits.push_back(Transmit { peer, bytes });
                        }
                        self.finish_handshake_if_done(now, peer);
                    }
                    Err(HandshakeError::Duplicate(_)) => self.reject(peer, RejectReason::Replay),
                    Err(error) => self.fail(peer, FailReason::Handshake(error), true),
                }
            }
            (PeerState::Handshaking { .. }, Frame::Abort { .. }) => {
                self.fail(peer, FailReason::Aborted, false)
            }
            (PeerState::Handshaking { .. }, Frame::Transport { .. }) => {
                self.reject(peer, RejectReason::Unexpected("transport before handshake"));
            }
            (
                PeerState::Established {
                    session,
                    last_received,
                    probe_deadline,
                    ..
                },
                Frame::Transport {
                    counter,
                    ciphertext,
                },
            ) => match session.open_transport(counter, ciphertext) {
                Ok(plaintext) => {
                    *last_received = now;
                    *probe_deadline = None;
                    self.handle_body(now, peer, &plaintext);
                }
                Err(OpenError::Replay { .. }) => self.reject(peer, RejectReason::Replay),
                Err(OpenError::Decrypt) => self.reject(peer, RejectReason::Decrypt),
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

    /// Sends a chat message to every verified peer and reports it as [`Event::Message`].
    pub fn send_text(
        &mut self,
        now: Instant,
        sent_at: UnixMillis,
        text: &str,
    ) -> Result<MessageId, SendError> {
        let now = self.monotonic(now);
        let text = text.trim();
        if text.is_empty() {
            return Err(SendError::Empty);
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(SendError::TooLong {
                got: text.len(),
                max: MAX_TEXT_LEN,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = MessageId::of(&self.public, seq, sent_at, text);
        let body = Body::Chat {
            seq,
            sent_at_ms: sent_at.0,
            text: text.to_owned(),
        };
        self.broadcast(now, &body);
        self.events.push_back(Event::Message(ChatMessage {
            id,
            author: self.public,
            author_name: self.config.display_name.clone(),
            seq,
            sent_at,
            text: text.to_owned(),
            direction: Direction::Outgoing,
        }));
        Ok(id)
    }

    /// Sends a ping to one verified peer; its pong surfaces as [`Event::Pong`]. Returns
    /// `false` if the peer is not verified.
    pub fn send_ping(&mut self, now: Instant, peer: PeerId, nonce: u64) -> bool {
        let now = self.monotonic(now);
        self.send_body(now, peer, &Body::Ping { nonce })
    }

    /// The peer may be gone (say, the server saw its connection close while our direct
    /// link still looks open): ping it now, and report [`Event::PeerLeft`] unless any
    /// authentic frame arrives from it within `within`. No-op for unverified peers.
    pub fn check_liveness(&mut self, now: Instant, peer: PeerId, within: Duration) {
        let now = self.monotonic(now);
        if let Some(PeerState::Established { probe_deadline, .. }) = self.peers.get_mut(&peer) {
            let deadline = now + within;
            *probe_deadline = Some(probe_deadline.map_or(deadline, |d| d.min(deadline)));
            let nonce = self.rng.next_u64();
            self.send_body(now, peer, &Body::Ping { nonce });
        }
    }

    /// Says goodbye to every peer and forgets them.
    pub fn leave(&mut self, now: Instant) {
        let now = self.monotonic(now);
        self.broadcast(now, &Body::Bye);
        for peer in std::mem::take(&mut self.peers).into_keys() {
            self.events.push_back(Event::PeerLeft { peer });
        }
    }

    /// Fires every expired timer. Early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.monotonic(now);
        let mut expired_handshakes = Vec::new();
        let mut idle = Vec::new();
        let mut keepalive = Vec::new();
        for (peer, state) in &self.peers {
            match state {
                PeerState::Handshaking { deadline, .. } if now >= *deadline => {
                    expired_handshakes.push(*peer)
                }
                PeerState::Handshaking { .. } => {}
                PeerState::Established {
                    last_sent,
                    last_received,
                    probe_deadline,
                    ..
                } => {
                    let probe_expired = probe_deadline.is_some_and(|deadline| now >= deadline);
                    if probe_expired || now >= *last_received + self.config.idle_timeout {
                        idle.push(*peer);
                    } else if now >= *last_sent + self.config.keepalive_interval {
                        keepalive.push(*peer);
                    }
                }
            }
        }
        for peer in expired_handshakes {
            self.fail(peer, FailReason::Timeout, false);
        }
        for peer in idle {
            self.peers.remove(&peer);
            self.events.push_back(Event::PeerLeft { peer });
        }
        for peer in keepalive {
            let nonce = self.rng.next_u64();
            self.send_body(now, peer, &Body::Ping { nonce });
        }
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

    /// The earliest deadline of any peer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .map(|state| match state {
                PeerState::Handshaking { deadline, .. } => *deadline,
                PeerState::Established {
                    last_sent,
                    last_received,
                    probe_deadline,
                    ..
                } => {
                    let keepalive = *last_sent + self.config.keepalive_interval;
                    let idle = *last_received + self.config.idle_timeout;
                    let due = keepalive.min(idle);
                    probe_deadline.map_or(due, |probe| due.min(probe))
                }
            })
            .min()
    }

    fn finish_handshake_if_done(&mut self, now: Instant, peer: PeerId) {
        let Some(PeerState::Handshaking { handshake, .. }) = self.peers.get(&peer) else {
            return;
        };
        if !handshake.is_finished() {
            return;
        }
        let Some(PeerState::Handshaking { handshake, .. }) = self.peers.remove(&peer) else {
            return;
        };
        match handshake.into_session() {
            Some((session, identity, display_name)) => {
                let info = PeerInfo {
                    identity,
                    display_name,
                };
                self.peers.insert(
                    peer,
                    PeerState::Established {
                        session,
                        info: info.clone(),
                        last_sent: now,
                        last_received: now,
                        probe_deadline: None,
                    },
                );
                self.events.push_back(Event::PeerVerified { peer, info });
            }
            None => self.events.push_back(Event::PeerFailed {
                peer,
                reason: FailReason::Handshake(HandshakeError::Verify),
            }),
        }
    }

    fn handle_body(&mut self, now: Instant, peer: PeerId, plaintext: &[u8]) {
        let body = match Body::decode(plaintext) {
            Ok(body) => body,
            Err(error) => return self.reject(peer, RejectReason::Content(error.to_string())),
        };
        match body {
            Body::Chat {
                seq,
                sent_at_ms,
                text,
            } => {
                let Some(PeerState::Established { info, .. }) = self.peers.get(&peer) else {
                    return;
                };
                let author = info.identity;
                let author_name = info.display_name.clone();
                let seen = self.seen_seq.entry(author.signing_key_bytes()).or_insert(0);
                if seq <= *seen {
                    return self.reject(
                        peer,
                        RejectReason::Content(format!("duplicate message {seq}")),
                    );
                }
                *seen = seq;
                let sent_at = UnixMillis(sent_at_ms);
                let id = MessageId::of(&author, seq, sent_at, &text);
                self.events.push_back(Event::Message(ChatMessage {
                    id,
                    author,
                    author_name,
                    seq,
                    sent_at,
                    text,
                    direction: Direction::Incoming(peer),
                }));
            }
            Body::Ping { nonce } => {
                self.send_body(now, peer, &Body::Pong { nonce });
            }
            Body::Pong { nonce } => self.events.push_back(Event::Pong { peer, nonce }),
            Body::Bye => {
                self.peers.remove(&peer);
                self.events.push_back(Event::PeerLeft { peer });
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
        let Some(PeerState::Established {
            session, last_sent, ..
        }) = self.peers.get_mut(&peer)
        else {
            return false;
        };
        match session.seal(&body.encode()) {
            Ok(bytes) => {
                *last_sent = now;
                self.transmits.push_back(Transmit { peer, bytes });
                true
            }
            // Bodies are bounded far below the frame limit; exhaustion after 2^64 frames
            // ends the session rather than reusing a nonce.
            Err(_) => {
                self.peers.remove(&peer);
                self.events.push_back(Event::PeerLeft { peer });
                false
            }
        }
    }

    fn reject(&mut self, peer: PeerId, reason: RejectReason) {
        self.events.push_back(Event::PeerRejected { peer, reason });
    }

    fn fail(&mut self, peer: PeerId, reason: FailReason, tell_peer: bool) {
        self.peers.remove(&peer);
        if tell_peer {
            let bytes = Frame::Abort {
                reason: AbortReason::HandshakeFailed,
            }
            .encode();
            self.transmits.push_back(Transmit { peer, bytes });
        }
        self.events.push_back(Event::PeerFailed { peer, reason });
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
