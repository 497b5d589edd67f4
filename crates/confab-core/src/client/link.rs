//! One peer link's whole life, above its secure channel: the path its frames take (a
//! direct WebRTC connection the adapter opens when told, or the server's relay), who
//! starts the handshake, the fall back to the relay, liveness, the rule for a member who
//! shows up on two links, and one `close` for every way a link ends.
//!
//! **Paths.** The newcomer (told by the server who is in the room:
//! [`Client::connect_peer`]) asks the adapter for a direct connection
//! ([`ClientEvent::OpenDirect`], offerer) and initiates the handshake once it is open. If it is
//! not open within [`Config::direct_path_timeout`](super::Config::direct_path_timeout), closes before, or the client forces
//! the relay, the initiator moves to the relay, tells the peer (`UseRelay`) and restarts
//! the handshake there; a handshake start arriving over the relay makes an unverified
//! responder answer there. A direct link outlives the server connection; relayed and
//! pending ones end with it ([`Client::disconnected`]).
//!
//! **What the server can do.** Everything in this module that arrives through the
//! server — relayed handshake messages, sealed WebRTC signals (offers, answers,
//! candidates, `UseRelay`), `peer-left` — may set up or abandon a link that is not
//! verified yet, and nothing more: once the handshake has verified the peer, such input
//! is refused ([`ClientEvent::PeerRejected`]), so it can neither replace, close nor re-route the
//! session. A `peer-left` for a verified peer only starts a liveness probe that any
//! authentic frame answers. A verified link ends only by its own failure (its connection
//! closed, it went silent, its peer misbehaved) or by a goodbye inside the session.
//!
//! **Timers as data.** Each link has a [`LinkTimers`] table ([`LinkTimer`]: the direct
//! path's deadline, the handshake's, keepalive, idle and the liveness probe);
//! [`Client::poll_timeout`] reads the earliest of every table, and
//! [`Client::handle_timeout`] handles each expired `(peer, timer)` by its kind.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Client, ClientEvent, FailReason, PeerState, RejectReason};
use crate::Instant;
use crate::ids::{PeerId, RoomId};
use crate::session::{Handshake, Role};
use crate::signal::ClientMessage;
use crate::wire::{Body, Frame};

#[cfg(test)]
mod tests;

/// How a link's frames travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// A direct connection is being set up; nothing flows yet.
    Pending,
    /// Over the direct WebRTC connection.
    Direct,
    /// Through the server's relay (ciphertext it cannot read).
    Relay,
}

/// Which direct connection of a peer an adapter event is about: a link that moved on
/// (to the relay, or to a newer offer) ignores events of its older connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Generation(u64);

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The WebRTC signalling two links exchange, as JSON sealed inside
/// [`ClientMessage::Signal`] (see [`crate::signal::SignalSeal`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RtcSignal {
    /// An SDP offer.
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// An SDP answer.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// One trickled ICE candidate.
    Candidate {
        /// candidate-attribute.
        candidate: String,
        /// Media id.
        sdp_mid: Option<String>,
        /// Media line index.
        sdp_m_line_index: Option<u16>,
    },
    /// "Don't try WebRTC with me: use the relay."
    UseRelay,
}

/// A link's timers, in the order they are handled when several expire at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkTimer {
    /// The direct path must be open by then, or the initiator moves to the relay.
    DirectPath,
    /// The handshake must be finished by then.
    Handshake,
    /// The peer must answer the liveness probe by then.
    Probe,
    /// Nothing authentic arrived for too long: the link is gone.
    Idle,
    /// Nothing sent for a while: send a ping.
    Keepalive,
}

impl LinkTimer {
    const ALL: [LinkTimer; 5] = [
        LinkTimer::DirectPath,
        LinkTimer::Handshake,
        LinkTimer::Probe,
        LinkTimer::Idle,
        LinkTimer::Keepalive,
    ];
}

/// One deadline per [`LinkTimer`] (quinn's `TimerTable`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LinkTimers {
    direct_path: Option<Instant>,
    handshake: Option<Instant>,
    probe: Option<Instant>,
    idle: Option<Instant>,
    keepalive: Option<Instant>,
}

impl LinkTimers {
    fn slot(&mut self, timer: LinkTimer) -> &mut Option<Instant> {
        match timer {
            LinkTimer::DirectPath => &mut self.direct_path,
            LinkTimer::Handshake => &mut self.handshake,
            LinkTimer::Probe => &mut self.probe,
            LinkTimer::Idle => &mut self.idle,
            LinkTimer::Keepalive => &mut self.keepalive,
        }
    }

    pub(crate) fn set(&mut self, timer: LinkTimer, at: Instant) {
        *self.slot(timer) = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: LinkTimer) {
        *self.slot(timer) = None;
    }

    pub(crate) fn get(&self, timer: LinkTimer) -> Option<Instant> {
        match timer {
            LinkTimer::DirectPath => self.direct_path,
            LinkTimer::Handshake => self.handshake,
            LinkTimer::Probe => self.probe,
            LinkTimer::Idle => self.idle,
            LinkTimer::Keepalive => self.keepalive,
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        LinkTimer::ALL
            .into_iter()
            .filter_map(|timer| self.get(timer))
            .min()
    }

    /// Timers due at `now`, in handling order.
    pub(crate) fn expired(&self, now: Instant) -> impl Iterator<Item = LinkTimer> + '_ {
        LinkTimer::ALL
            .into_iter()
            .filter(move |timer| self.get(*timer).is_some_and(|at| at <= now))
    }
}

/// Everything the client holds about one link, in one entry of `Client::links`: its
/// path, its secure channel and its timers. An entry lives while it has a route or a
/// channel.
#[derive(Default)]
pub(crate) struct Link {
    /// The path (links a caller opened itself with [`Client::add_peer`] have none).
    pub(crate) route: Option<Route>,
    /// The handshake, then the session (none while a direct path is set up).
    pub(crate) channel: Option<PeerState>,
    pub(crate) timers: LinkTimers,
    /// The room whose secret keyed its handshake (a governed room's changes each epoch).
    pub(crate) keyed_for: Option<RoomId>,
}

impl Link {
    /// Its channel starts over with `handshake`, keyed with `room`'s secret.
    pub(crate) fn start_handshake(&mut self, handshake: Box<Handshake>, room: RoomId) {
        self.channel = Some(PeerState::Handshaking { handshake });
        self.keyed_for = Some(room);
    }

    /// A link on `route`, with no channel or timers yet.
    fn on(route: Route) -> Link {
        Link {
            route: Some(route),
            ..Link::default()
        }
    }
}

/// The path layer of one link the client manages.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    /// The current direct connection's generation.
    pub(crate) generation: Generation,
    pub(crate) path: Path,
    pub(crate) role: Role,
    /// The adapter holds a direct connection of `generation` (opened, not closed).
    pub(crate) direct: bool,
}

/// Why a link ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// Its connection closed, the peer said goodbye, or it went silent (idle, or the
    /// liveness probe unanswered).
    Left,
    /// It failed (reported as [`ClientEvent::PeerFailed`]).
    Failed(FailReason),
    /// The same member is linked as another peer, which is kept.
    Replaced,
    /// We are leaving: the adapter closes its connections with the page.
    Leaving,
}

impl Client {
    /// The server says `peer` is in the room and we are the newcomer (listed in `joined`,
    /// or learned late through `peer-present`): open a link and initiate. No-op if a
    /// link to `peer` exists.
    pub fn connect_peer(&mut self, now: Instant, peer: PeerId) {
        let now = self.monotonic(now);
        if self.links.contains_key(&peer) {
            return;
        }
        self.events.push_back(ClientEvent::PeerConnecting { peer });
        let generation = self.next_generation();
        if self.config.force_relay {
            self.links.insert(
                peer,
                Link::on(Route {
                    generation,
                    path: Path::Relay,
                    role: Role::Initiator,
                    direct: false,
                }),
            );
            return self.start_handshake(now, peer, Role::Initiator);
        }
        let mut link = Link::on(Route {
            generation,
            path: Path::Pending,
            role: Role::Initiator,
            direct: true,
        });
        link.timers
            .set(LinkTimer::DirectPath, now + self.config.direct_path_timeout);
        self.links.insert(peer, link);
        self.events.push_back(ClientEvent::OpenDirect {
            peer,
            generation,
            offerer: true,
        });
    }

    /// The server says `peer` left the room. An unverified link to it ends; a verified
    /// one is only probed (see [`Client::check_liveness`]): the server may be lying, or
    /// only the peer's server connection blipped. Returns whether a verified link
    /// remains (under probe).
    pub fn handle_peer_left(&mut self, now: Instant, peer: PeerId) -> bool {
        let now = self.monotonic(now);
        if self.is_verified(peer) {
            self.check_liveness(now, peer, self.config.liveness_probe);
            return true;
        }
        if self.links.contains_key(&peer) {
            self.close(now, peer, Close::Left);
        }
        false
    }

    /// Our server connection is up, and the server calls us `me` on it: signals are
    /// sealed from `me` and must be sealed to it.
    pub fn connected(&mut self, now: Instant, me: PeerId) {
        self.monotonic(now);
        self.server_peer = Some(me);
    }

    /// Our server connection is gone: links through the relay, and direct ones still being
    /// set up, end with it; direct links carry on.
    pub fn disconnected(&mut self, now: Instant) {
        let now = self.monotonic(now);
        self.server_peer = None;
        let gone: Vec<PeerId> = self
            .links
            .iter()
            .filter(|(_, link)| {
                link.route
                    .as_ref()
                    .is_some_and(|route| route.path != Path::Direct)
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in gone {
            self.close(now, peer, Close::Left);
        }
    }

    /// Links opened from now on go through the relay only (`true`), or try a direct path
    /// first ([`Config::force_relay`](super::Config::force_relay)).
    pub fn set_force_relay(&mut self, on: bool) {
        self.config.force_relay = on;
    }

    /// Our peer id on the current server connection, if any.
    pub fn server_peer(&self) -> Option<PeerId> {
        self.server_peer
    }

    /// The path of our link to `peer`, if the client manages one.
    pub fn path(&self, peer: PeerId) -> Option<Path> {
        self.route(peer).map(|route| route.path)
    }

    /// A frame the server relayed "from" `peer`. A handshake start makes an unverified
    /// link answer over the relay (the initiator started over there); for a verified
    /// link it is refused, like any handshake message inside a session.
    pub fn handle_relayed(&mut self, now: Instant, peer: PeerId, bytes: &[u8]) {
        let now = self.monotonic(now);
        let starts_handshake = matches!(Frame::decode(bytes), Ok(Frame::Handshake { step: 0, .. }));
        if starts_handshake {
            if self.is_verified(peer) {
                return self.reject(peer, RejectReason::Unexpected("handshake in session"));
            }
            let on_relay = self
                .route(peer)
                .is_some_and(|route| route.path == Path::Relay && route.role == Role::Responder);
            if !on_relay {
                if self.route(peer).is_none() {
                    self.events.push_back(ClientEvent::PeerConnecting { peer });
                }
                let generation = self.next_generation();
                self.replace_route(
                    peer,
                    Route {
                        generation,
                        path: Path::Relay,
                        role: Role::Responder,
                        direct: false,
                    },
                );
            }
            self.start_handshake(now, peer, Role::Responder);
        }
        self.handle_frame(now, peer, bytes);
    }

    /// A signal's `data` that the server says `from` sent us. Only a signal sealed to our
    /// current peer id by a member of this room opens (anything else is
    /// [`RejectReason::Signal`]); and only a link not verified yet heeds it (a verified
    /// one refuses it as [`RejectReason::Unexpected`]).
    pub fn handle_signal(&mut self, now: Instant, from: PeerId, data: &str) {
        let now = self.monotonic(now);
        let Some(me) = self.server_peer else {
            return self.reject(from, RejectReason::Unexpected("signal before welcome"));
        };
        let text = match self.signal_seal.open(from, me, data) {
            Ok(text) => text,
            Err(refusal) => return self.reject(from, RejectReason::Signal(refusal)),
        };
        let Ok(signal) = serde_json::from_str::<RtcSignal>(&text) else {
            return self.reject(from, RejectReason::Unexpected("unreadable signal"));
        };
        if self.is_verified(from) {
            // Authentic, and maybe replayed or held back by the server: the verified
            // session is not the server's to change.
            return self.reject(from, RejectReason::Unexpected("signal in session"));
        }
        match signal {
            RtcSignal::UseRelay => {
                if self.route(from).is_some() {
                    self.use_relay(now, from, false);
                } else {
                    self.reject(
                        from,
                        RejectReason::Unexpected("relay request without a link"),
                    );
                }
            }
            RtcSignal::Offer { .. } if self.config.force_relay => {
                self.send_signal(from, &RtcSignal::UseRelay);
            }
            offer @ RtcSignal::Offer { .. } => {
                if self.route(from).is_none() {
                    self.events
                        .push_back(ClientEvent::PeerConnecting { peer: from });
                }
                let generation = self.next_generation();
                self.replace_route(
                    from,
                    Route {
                        generation,
                        path: Path::Pending,
                        role: Role::Responder,
                        direct: true,
                    },
                );
                self.events.push_back(ClientEvent::OpenDirect {
                    peer: from,
                    generation,
                    offerer: false,
                });
                self.events.push_back(ClientEvent::RemoteSignal {
                    peer: from,
                    generation,
                    signal: offer,
                });
            }
            signal @ (RtcSignal::Answer { .. } | RtcSignal::Candidate { .. }) => {
                match self.route(from).filter(|route| route.direct) {
                    Some(route) => self.events.push_back(ClientEvent::RemoteSignal {
                        peer: from,
                        generation: route.generation,
                        signal,
                    }),
                    None => self.reject(
                        from,
                        RejectReason::Unexpected("signal without a connection"),
                    ),
                }
            }
        }
    }

    /// The direct connection `generation` to `peer` is open: the handshake starts on it.
    pub fn handle_direct_open(&mut self, now: Instant, peer: PeerId, generation: Generation) {
        let now = self.monotonic(now);
        let Some(link) = self.current_direct(peer, generation) else {
            return;
        };
        let Some(route) = link
            .route
            .as_mut()
            .filter(|route| route.path == Path::Pending)
        else {
            return;
        };
        route.path = Path::Direct;
        let role = route.role;
        link.timers.stop(LinkTimer::DirectPath);
        self.start_handshake(now, peer, role);
    }

    /// The direct connection `generation` to `peer` closed (or could not be made). A
    /// link that ran on it ends; one still setting it up moves to the relay (the
    /// initiator) or waits for the initiator there (the responder).
    pub fn handle_direct_closed(&mut self, now: Instant, peer: PeerId, generation: Generation) {
        let now = self.monotonic(now);
        let Some(route) = self
            .current_direct(peer, generation)
            .and_then(|link| link.route.as_mut())
        else {
            return;
        };
        route.direct = false;
        match (route.path, route.role) {
            (Path::Direct, _) => self.close(now, peer, Close::Left),
            (_, Role::Initiator) => self.use_relay(now, peer, true),
            (_, Role::Responder) => {}
        }
    }

    /// Our direct connection `generation` to `peer` produced a signal (our offer or
    /// answer, an ICE candidate): it goes to the peer sealed, through the server.
    pub fn handle_local_signal(
        &mut self,
        now: Instant,
        peer: PeerId,
        generation: Generation,
        signal: &RtcSignal,
    ) {
        self.monotonic(now);
        if self.current_direct(peer, generation).is_some() {
            self.send_signal(peer, signal);
        }
    }

    /// The link to `peer`, if `generation` is its current direct connection.
    fn current_direct(&mut self, peer: PeerId, generation: Generation) -> Option<&mut Link> {
        self.links.get_mut(&peer).filter(|link| {
            link.route
                .as_ref()
                .is_some_and(|route| route.direct && route.generation == generation)
        })
    }

    /// The path of the link to `peer`, if the client manages it.
    pub(super) fn route(&self, peer: PeerId) -> Option<&Route> {
        self.links.get(&peer)?.route.as_ref()
    }

    /// The secure channel of the link to `peer`, once its handshake started.
    pub(super) fn channel(&self, peer: PeerId) -> Option<&PeerState> {
        self.links.get(&peer)?.channel.as_ref()
    }

    pub(super) fn channel_mut(&mut self, peer: PeerId) -> Option<&mut PeerState> {
        self.links.get_mut(&peer)?.channel.as_mut()
    }

    /// The timers of the link to `peer`, if there is one.
    pub(super) fn link_timers(&mut self, peer: PeerId) -> Option<&mut LinkTimers> {
        Some(&mut self.links.get_mut(&peer)?.timers)
    }

    fn next_generation(&mut self) -> Generation {
        self.generation += 1;
        Generation(self.generation)
    }

    /// Puts a link on `route` in place of the link to `peer` (closing that one's direct
    /// connection), forgetting the old handshake and timers; never called for a verified
    /// link.
    fn replace_route(&mut self, peer: PeerId, route: Route) {
        debug_assert!(!self.is_verified(peer));
        if let Some(old) = self
            .links
            .insert(peer, Link::on(route))
            .and_then(|old| old.route)
            && old.direct
        {
            self.events.push_back(ClientEvent::CloseDirect {
                peer,
                generation: old.generation,
            });
        }
    }

    /// Moves the unverified link to `peer` to the relay; the initiator restarts the
    /// handshake there.
    fn use_relay(&mut self, now: Instant, peer: PeerId, tell_peer: bool) {
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        let Some(route) = &mut link.route else {
            return;
        };
        let role = route.role;
        route.path = Path::Relay;
        if std::mem::take(&mut route.direct) {
            let generation = route.generation;
            self.events
                .push_back(ClientEvent::CloseDirect { peer, generation });
        }
        link.timers.stop(LinkTimer::DirectPath);
        if tell_peer {
            self.send_signal(peer, &RtcSignal::UseRelay);
        }
        if role == Role::Initiator {
            self.start_handshake(now, peer, Role::Initiator);
        }
    }

    /// Seals `signal` for `to` and hands it to the caller for the server.
    fn send_signal(&mut self, to: PeerId, signal: &RtcSignal) {
        let Some(me) = self.server_peer else {
            return;
        };
        let Ok(text) = serde_json::to_string(signal) else {
            return;
        };
        // An SDP is a few kilobytes; a frame carries far more.
        if let Ok(data) = self.signal_seal.seal(me, to, &text) {
            self.events.push_back(ClientEvent::Signal {
                message: ClientMessage::Signal { to, data },
            });
        }
    }

    /// The verified peer's direct connection is not the one it vouched for inside the
    /// session (its DTLS certificate differs: a man in the middle swapped the keys of the
    /// first, server-carried, description): its link fails as [`FailReason::Tampered`].
    pub fn tampered(&mut self, now: Instant, peer: PeerId) {
        let now = self.monotonic(now);
        if self.links.contains_key(&peer) {
            self.close(now, peer, Close::Failed(FailReason::Tampered));
        }
    }

    pub(super) fn is_verified(&self, peer: PeerId) -> bool {
        matches!(self.channel(peer), Some(PeerState::Established { .. }))
    }

    /// Ends the link to `peer`, whatever ended it: its direct connection is closed (unless
    /// we are leaving), catch-up, transfers and typing forget it, and the caller hears
    /// once, as [`ClientEvent::PeerLeft`], [`ClientEvent::PeerFailed`] or [`ClientEvent::PeerReplaced`].
    pub(crate) fn close(&mut self, now: Instant, peer: PeerId, why: Close) {
        let (route, state) = match self.links.remove(&peer) {
            Some(link) => (link.route, link.channel),
            None => (None, None),
        };
        if let Some(route) = &route
            && route.direct
            && why != Close::Leaving
        {
            self.events.push_back(ClientEvent::CloseDirect {
                peer,
                generation: route.generation,
            });
        }
        let member = match &state {
            Some(PeerState::Established { info, .. }) => Some(info.identity.member_key()),
            _ => None,
        };
        if let Some(member) = member {
            self.forget_peer(now, peer, member);
        }
        let event = match why {
            Close::Replaced => ClientEvent::PeerReplaced { peer },
            Close::Failed(reason) => ClientEvent::PeerFailed { peer, reason },
            Close::Left | Close::Leaving if member.is_some() => ClientEvent::PeerLeft { peer },
            Close::Left | Close::Leaving => {
                if state.is_none() && route.is_none() {
                    return;
                }
                ClientEvent::PeerFailed {
                    peer,
                    reason: FailReason::Closed,
                }
            }
        };
        self.events.push_back(event);
    }

    /// A handshake with `peer` just verified it as `member`: if that member is verified on
    /// another link too, one of them goes. A direct link outlives the server (they
    /// reconnected to it and we met again there): it is kept. A relayed link belongs to
    /// their old server connection, which a new one means is gone (their node died, or the
    /// server has not noticed a dropped socket yet): the new link is kept, or frames would
    /// go on to an id nobody holds. Returns whether `peer` was the one to go.
    pub(super) fn keep_one_link(&mut self, now: Instant, peer: PeerId) -> bool {
        let Some(PeerState::Established { info, .. }) = self.channel(peer) else {
            return false;
        };
        let identity = info.identity;
        let earlier = self
            .links
            .iter()
            .find_map(|(other, link)| match &link.channel {
                Some(PeerState::Established { info, .. })
                    if *other != peer && info.identity == identity =>
                {
                    Some(*other)
                }
                _ => None,
            });
        let Some(earlier) = earlier else {
            return false;
        };
        let earlier_direct = self
            .route(earlier)
            .is_some_and(|route| route.path == Path::Direct);
        let stale = if earlier_direct { peer } else { earlier };
        self.close(now, stale, Close::Replaced);
        stale == peer
    }

    /// Sets the timers of a session just verified, or that sent or received.
    pub(super) fn note_sent(&mut self, now: Instant, peer: PeerId) {
        let keepalive = self.config.keepalive_interval;
        if let Some(timers) = self.link_timers(peer) {
            timers.set(LinkTimer::Keepalive, now + keepalive);
        }
    }

    /// An authentic frame from `peer` arrived: it is alive.
    pub(super) fn note_received(&mut self, now: Instant, peer: PeerId) {
        let idle = self.config.idle_timeout;
        if let Some(timers) = self.link_timers(peer) {
            timers.set(LinkTimer::Idle, now + idle);
            timers.stop(LinkTimer::Probe);
        }
    }

    /// Handles every link timer due at `now`.
    pub(super) fn handle_link_timeouts(&mut self, now: Instant) {
        let due: Vec<(PeerId, LinkTimer)> = self
            .links
            .iter()
            .flat_map(|(peer, link)| link.timers.expired(now).map(move |timer| (*peer, timer)))
            .collect();
        for (peer, timer) in due {
            // An earlier timer of this round may have ended the link.
            let still_due = self
                .links
                .get(&peer)
                .and_then(|link| link.timers.get(timer))
                .is_some_and(|at| at <= now);
            if !still_due {
                continue;
            }
            match timer {
                LinkTimer::DirectPath => self.use_relay(now, peer, true),
                LinkTimer::Handshake => self.close(now, peer, Close::Failed(FailReason::Timeout)),
                LinkTimer::Probe | LinkTimer::Idle => self.close(now, peer, Close::Left),
                LinkTimer::Keepalive => {
                    let nonce = self.rng.next_u64();
                    // Sending re-arms the keepalive.
                    if !self.send_body(now, peer, &Body::Ping { nonce })
                        && let Some(timers) = self.link_timers(peer)
                    {
                        timers.stop(LinkTimer::Keepalive);
                    }
                }
            }
        }
    }

    /// The earliest deadline of any link.
    pub(super) fn links_timeout(&self) -> Option<Instant> {
        self.links
            .values()
            .filter_map(|link| link.timers.next())
            .min()
    }
}

/// How long a peer the server says left has to answer a probe.
pub const DEFAULT_LIVENESS_PROBE: Duration = Duration::from_secs(3);
/// How long a direct path may take to open before the relay is used.
pub const DEFAULT_DIRECT_PATH_TIMEOUT: Duration = Duration::from_secs(6);
