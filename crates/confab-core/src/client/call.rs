//! Calls ([`Calls`]): ringing, who is in our call, who offers media to whom, and the DTLS
//! fingerprint rule that keeps the server out of the media. The app captures media and
//! runs the `RTCPeerConnection`s when a [`CallEvent`] says so; every call message travels
//! inside the peer's Noise session ([`Client::send_call`](super::Client::send_call)),
//! never through the server. Calls ride each direct link's `RTCPeerConnection`
//! (renegotiation; a mesh of up to [`MAX_CALL`]); the relay carries no media.
//!
//! - **Why the media is end-to-end encrypted.** The first session description of a link
//!   crossed the server, which could have replaced its DTLS fingerprints and sat in the
//!   middle. So once a link is verified and direct, each side vouches for its own
//!   fingerprints inside Noise ([`CallMessage::Dtls`]), and the other compares them with
//!   those of the description its DTLS handshake accepted
//!   ([`Calls::handle_direct_link`]). Media is bundled on that same transport
//!   (`max-bundle`), so SRTP keys come from a DTLS handshake with the certificate the
//!   verified identity vouched for. **Every** later description of the peer's (each
//!   renegotiation offer and answer, and any other the app is about to apply, see
//!   [`Calls::vouches_for`]) must declare exactly the vouched fingerprints. A mismatch is
//!   a man in the middle: [`CallEvent::Tampered`], and the app closes the link.
//! - **Who is called.** Only peers whose fingerprints matched ([`Calls::callable`]); a
//!   new call rings at most [`MAX_CALL`] − 1 of them (a full mesh: each sends its media
//!   to every other). Call messages from other peers about media are ignored.
//! - **Who offers.** When someone new joins our call, the member with the lower key of
//!   each pair offers its media ([`CallEvent::MakeOffer`]); the other answers with
//!   [`CallMessage::Join`], once. A Join from a peer already in the call (two accepted at
//!   once, and their Joins crossed) changes nothing, so a call of n members makes one
//!   offer per pair.
//! - **When it ends.** We hang up, or the last member with us leaves (or their link goes
//!   and no other link is left), or the only peer we rang declines ([`CallEnd`]). A busy
//!   member declines any other call.
//! - **When the room moves.** A governed room's move to a new epoch ends every call in
//!   it, for everyone, with [`CallEnd::RoomMoved`]; a member who was removed, or left,
//!   ends theirs with [`CallEnd::Removed`]. A call's media rides the `RTCPeerConnection`s
//!   of direct links, and the move ends every link keyed for the old epoch's room (what
//!   is said in an epoch never crosses an older one's link, and a removed member's links
//!   must end); the DTLS fingerprints were vouched for inside those links' Noise
//!   sessions. Carrying the call over would mean ringing and negotiating again on the
//!   new room's links, pair by pair, with whoever reaches the new room: a new call in all
//!   but name, and one that can half-succeed. So the call ends with one clear reason
//!   and is placed again in the new room (a reset is rare; a call rings in seconds).
//!
//! Call order: after each verb, drain [`Calls::poll_transmit`] (hand the bytes to
//! `Client::send_call`) and [`Calls::poll_event`]. No timers.

use std::collections::{BTreeMap, VecDeque};

use crate::ids::{CallId, MemberKey, PeerId};
use crate::rng::SeededRng;
use crate::wire::call::{CallDecodeError, CallMessage, fingerprints};

/// Most people in one call, us included.
pub const MAX_CALL: usize = 4;

/// What the app must do or show. Drain with [`Calls::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// Whether anyone can be called now (some peer's fingerprints matched).
    CanCall(bool),
    /// `peer` rings us: show it; [`Calls::accept_call`] or [`Calls::decline_call`].
    Ringing {
        /// Its link.
        peer: PeerId,
        /// Who.
        member: MemberKey,
        /// A video call.
        video: bool,
    },
    /// The ringing call stopped (accepted, declined, or the caller gave up or left).
    RingingStopped,
    /// `peer` is in our call now: show it.
    PeerJoined {
        /// Its link.
        peer: PeerId,
        /// Who.
        member: MemberKey,
    },
    /// `peer` is no longer in our call: stop sending it media, drop its streams.
    PeerLeft {
        /// Its link.
        peer: PeerId,
    },
    /// Send our media to `peer`: put it on the link, create an offer and hand it to
    /// [`Calls::handle_local_offer`].
    MakeOffer {
        /// Its link.
        peer: PeerId,
        /// The call.
        call: CallId,
    },
    /// Apply `peer`'s offer (its fingerprints checked), put our media on the link and hand
    /// the answer to [`Calls::handle_local_answer`].
    TakeOffer {
        /// Its link.
        peer: PeerId,
        /// The call.
        call: CallId,
        /// The offer.
        sdp: String,
    },
    /// Apply `peer`'s answer to our offer (its fingerprints checked).
    TakeAnswer {
        /// Its link.
        peer: PeerId,
        /// The answer.
        sdp: String,
    },
    /// `peer`'s microphone, camera and screen.
    PeerState {
        /// Its link.
        peer: PeerId,
        /// Microphone off.
        muted: bool,
        /// Camera off.
        camera_off: bool,
        /// Sharing the screen.
        sharing: bool,
    },
    /// Our call is over: stop capturing, close the call.
    Ended(CallEnd),
    /// `peer`'s session descriptions are not the ones it vouched for inside Noise: someone
    /// sits in the middle of the link. Close the link.
    Tampered {
        /// Its link.
        peer: PeerId,
        /// What differed.
        reason: Tamper,
    },
}

/// Why our call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEnd {
    /// We hung up.
    HungUp,
    /// The last member with us left or their link went, or the only one we rang declined.
    Alone,
    /// The governed room moved to a new epoch ([`Calls::room_moved`]): its old links,
    /// which carried the call, end; the call can be placed again in the new room.
    RoomMoved,
    /// We are no longer in the governed room ([`Calls::removed_from_room`]).
    Removed,
}

/// A description whose DTLS fingerprints differ from those the peer vouched for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// The description the link's DTLS handshake accepted.
    Accepted {
        /// What the peer vouched for inside Noise.
        vouched: Vec<String>,
        /// What the accepted description declares.
        declared: Vec<String>,
    },
    /// A later description (a renegotiation offer or answer).
    Later {
        /// What the peer vouched for inside Noise.
        vouched: Vec<String>,
        /// What the description declares.
        declared: Vec<String>,
    },
}

/// The call machine of one room: see the module documentation.
pub struct Calls {
    /// Our member key (the lower key of a pair offers).
    me: MemberKey,
    /// Draws call ids.
    rng: SeededRng,
    /// Our call.
    current: Option<Current>,
    /// The call ringing us.
    ringing: Option<Ringing>,
    /// The DTLS fingerprints of each verified direct link, both sides of the check.
    links: BTreeMap<PeerId, Dtls>,
    transmits: VecDeque<(PeerId, Vec<u8>)>,
    events: VecDeque<CallEvent>,
}

struct Current {
    call: CallId,
    video: bool,
    /// Whom we accepted the call from (`None`: we started it).
    accepted_from: Option<PeerId>,
    /// Who is in it with us, in the order they came.
    peers: Vec<(PeerId, MemberKey)>,
}

struct Ringing {
    call: CallId,
    from: PeerId,
    video: bool,
}

/// One link's side of the fingerprint check.
#[derive(Default)]
struct Dtls {
    /// Declared by the description the link's DTLS handshake accepted.
    accepted: Option<Vec<String>>,
    /// Vouched for by the peer inside Noise.
    vouched: Option<Vec<String>>,
}

impl Dtls {
    /// The fingerprints both sides agree on, once both are known and agree.
    fn matched(&self) -> Option<&[String]> {
        match (&self.accepted, &self.vouched) {
            (Some(accepted), Some(vouched)) if !vouched.is_empty() && accepted == vouched => {
                Some(vouched)
            }
            _ => None,
        }
    }
}

impl Calls {
    /// No call; `me` is our member key, `seed` draws call ids.
    pub fn new(me: MemberKey, seed: [u8; 32]) -> Calls {
        Calls {
            me,
            rng: SeededRng::from_seed(seed),
            current: None,
            ringing: None,
            links: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Our call and whether it has video.
    pub fn current(&self) -> Option<(CallId, bool)> {
        self.current.as_ref().map(|c| (c.call, c.video))
    }

    /// Peers we may call: their direct link's fingerprints matched, in peer order.
    pub fn callable(&self) -> Vec<PeerId> {
        self.links
            .iter()
            .filter(|(_, dtls)| dtls.matched().is_some())
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// Whether `sdp`, a description `peer` sent, declares exactly the fingerprints it
    /// vouched for and that matched its link's. Any description of a verified link that
    /// did not come inside the session (a restart through the server, say) must pass this
    /// before it is applied.
    pub fn vouches_for(&self, peer: PeerId, sdp: &str) -> bool {
        self.links
            .get(&peer)
            .and_then(Dtls::matched)
            .is_some_and(|vouched| *vouched == fingerprints(sdp))
    }

    /// `peer`'s link is verified and direct: its DTLS handshake accepted
    /// `remote_description`, ours is `local_description`. Vouches for our fingerprints
    /// inside Noise, and checks the peer's when they come (or now, if they came first).
    pub fn handle_direct_link(
        &mut self,
        peer: PeerId,
        local_description: &str,
        remote_description: &str,
    ) {
        let ours = fingerprints(local_description);
        self.send(peer, &CallMessage::Dtls { fingerprints: ours });
        let dtls = self.links.entry(peer).or_default();
        dtls.accepted = Some(fingerprints(remote_description));
        self.check_dtls(peer);
    }

    /// `peer`'s link is gone: it is out of the call and no longer vouched for; if it was
    /// the last one in the call with us and no link we could ring is left, the call ends
    /// ([`CallEnd::Alone`]): nothing would bring anyone back (a new link is not in the
    /// call).
    pub fn remove_peer(&mut self, peer: PeerId) {
        let was_in_call = self
            .current
            .as_ref()
            .is_some_and(|current| current.peers.iter().any(|(p, _)| *p == peer));
        if let Some(dtls) = self.links.remove(&peer)
            && dtls.matched().is_some()
        {
            self.events
                .push_back(CallEvent::CanCall(!self.callable().is_empty()));
        }
        if self.ringing.as_ref().is_some_and(|r| r.from == peer) {
            self.ringing = None;
            self.events.push_back(CallEvent::RingingStopped);
        }
        self.remove_from_call(peer);
        let alone = self
            .current
            .as_ref()
            .is_some_and(|current| current.peers.is_empty());
        // Someone we rang may still come over a link that is left.
        if was_in_call && alone && self.callable().is_empty() {
            self.end(CallEnd::Alone);
        }
    }

    /// A call message from verified `peer` (`member`), out of its session.
    pub fn handle_message(
        &mut self,
        peer: PeerId,
        member: MemberKey,
        data: &[u8],
    ) -> Result<(), CallDecodeError> {
        match CallMessage::decode(data)? {
            CallMessage::Dtls { fingerprints } => {
                self.links.entry(peer).or_default().vouched = Some(fingerprints);
                self.check_dtls(peer);
            }
            CallMessage::Invite { call, video } => self.handle_invite(peer, member, call, video),
            CallMessage::Join { call } => {
                if self.in_call(call) && self.is_callable(peer) {
                    // Joins cross when two accept at once, and the higher key answers a
                    // Join with its own: only a peer new to the call gets an offer.
                    let known = self.add_to_call(peer, member);
                    if known {
                        return Ok(());
                    }
                    if self.me < member {
                        self.events.push_back(CallEvent::MakeOffer { peer, call });
                    } else {
                        // They offer (lower key): tell them we are in it too.
                        self.send(peer, &CallMessage::Join { call });
                    }
                }
            }
            CallMessage::Decline { call } | CallMessage::Leave { call } => {
                self.handle_leave(peer, call);
            }
            CallMessage::Offer { call, sdp } => {
                if self.in_call(call) && self.description_checked(peer, &sdp) {
                    self.add_to_call(peer, member);
                    self.events
                        .push_back(CallEvent::TakeOffer { peer, call, sdp });
                }
            }
            CallMessage::Answer { call, sdp } => {
                if self.in_call(call) && self.description_checked(peer, &sdp) {
                    self.events.push_back(CallEvent::TakeAnswer { peer, sdp });
                }
            }
            CallMessage::State {
                call,
                muted,
                camera_off,
                sharing,
            } => {
                let with_us = self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.call == call && c.peers.iter().any(|(p, _)| *p == peer));
                if with_us {
                    self.events.push_back(CallEvent::PeerState {
                        peer,
                        muted,
                        camera_off,
                        sharing,
                    });
                }
            }
        }
        Ok(())
    }

    // ---- our commands ------------------------------------------------------------------

    /// Starts a call (nobody rings until [`Calls::handle_media_ready`]); `None` if we are
    /// in one already.
    pub fn start_call(&mut self, video: bool) -> Option<CallId> {
        if self.current.is_some() {
            return None;
        }
        let call = CallId::new(self.rng.next_u64());
        self.current = Some(Current {
            call,
            video,
            accepted_from: None,
            peers: Vec::new(),
        });
        Some(call)
    }

    /// Accepts the ringing call (we join once [`Calls::handle_media_ready`]); `Some(video)`
    /// if one was ringing.
    pub fn accept_call(&mut self) -> Option<bool> {
        let ringing = self.ringing.take()?;
        self.events.push_back(CallEvent::RingingStopped);
        self.current = Some(Current {
            call: ringing.call,
            video: ringing.video,
            accepted_from: Some(ringing.from),
            peers: Vec::new(),
        });
        Some(ringing.video)
    }

    /// Refuses the ringing call.
    pub fn decline_call(&mut self) {
        if let Some(ringing) = self.ringing.take() {
            let call = ringing.call;
            self.send(ringing.from, &CallMessage::Decline { call });
        }
        self.events.push_back(CallEvent::RingingStopped);
    }

    /// Our devices are open (or could not be): ring the callable peers, at most
    /// [`MAX_CALL`] − 1, if we started the call; tell them all we are in it if we accepted
    /// (those in the call pair with us, those only ringing ignore it).
    pub fn handle_media_ready(&mut self) {
        let Some(current) = &self.current else { return };
        let (call, video) = (current.call, current.video);
        let started = current.accepted_from.is_none();
        let targets = self.callable();
        if started {
            for peer in targets.into_iter().take(MAX_CALL - 1) {
                self.send(peer, &CallMessage::Invite { call, video });
            }
        } else {
            for peer in targets {
                self.send(peer, &CallMessage::Join { call });
            }
        }
    }

    /// Leaves our call.
    pub fn hang_up(&mut self) {
        self.end(CallEnd::HungUp);
    }

    /// The room moved to a new epoch: a call ringing us stops, ours ends
    /// ([`CallEnd::RoomMoved`]). Call it before the old links' `remove_peer`s.
    pub fn room_moved(&mut self) {
        self.leave_room(CallEnd::RoomMoved);
    }

    /// We are no longer in the room (removed, or we left): a call ringing us stops, ours
    /// ends ([`CallEnd::Removed`]).
    pub fn removed_from_room(&mut self) {
        self.leave_room(CallEnd::Removed);
    }

    /// Tells the others in our call our microphone, camera and screen.
    pub fn set_state(&mut self, muted: bool, camera_off: bool, sharing: bool) {
        let Some(current) = &self.current else { return };
        let call = current.call;
        let peers: Vec<PeerId> = current.peers.iter().map(|(peer, _)| *peer).collect();
        for peer in peers {
            let state = CallMessage::State {
                call,
                muted,
                camera_off,
                sharing,
            };
            self.send(peer, &state);
        }
    }

    /// Our offer for `peer` (after [`CallEvent::MakeOffer`]).
    pub fn handle_local_offer(&mut self, peer: PeerId, call: CallId, sdp: String) {
        self.send(peer, &CallMessage::Offer { call, sdp });
    }

    /// Our answer to `peer`'s offer (after [`CallEvent::TakeOffer`]).
    pub fn handle_local_answer(&mut self, peer: PeerId, call: CallId, sdp: String) {
        self.send(peer, &CallMessage::Answer { call, sdp });
    }

    /// The next call message to send: hand it to `Client::send_call`.
    pub fn poll_transmit(&mut self) -> Option<(PeerId, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next thing for the app to do or show.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    // ---- internals ---------------------------------------------------------------------

    fn send(&mut self, peer: PeerId, message: &CallMessage) {
        self.transmits.push_back((peer, message.encode()));
    }

    fn in_call(&self, call: CallId) -> bool {
        self.current.as_ref().is_some_and(|c| c.call == call)
    }

    fn is_callable(&self, peer: PeerId) -> bool {
        self.links.get(&peer).is_some_and(|d| d.matched().is_some())
    }

    /// Compares both sides of `peer`'s check once both are known.
    fn check_dtls(&mut self, peer: PeerId) {
        let Some(dtls) = self.links.get(&peer) else {
            return;
        };
        let (Some(accepted), Some(vouched)) = (&dtls.accepted, &dtls.vouched) else {
            return;
        };
        if dtls.matched().is_some() {
            self.events.push_back(CallEvent::CanCall(true));
            return;
        }
        let reason = Tamper::Accepted {
            vouched: vouched.clone(),
            declared: accepted.clone(),
        };
        self.tampered(peer, reason);
    }

    /// Whether a description `peer` sent inside Noise may be applied: from a callable peer
    /// (else ignored) and with the vouched fingerprints (else the link is tampered with).
    fn description_checked(&mut self, peer: PeerId, sdp: &str) -> bool {
        let Some(vouched) = self.links.get(&peer).and_then(Dtls::matched) else {
            return false;
        };
        let declared = fingerprints(sdp);
        if declared == vouched {
            return true;
        }
        let reason = Tamper::Later {
            vouched: vouched.to_vec(),
            declared,
        };
        self.tampered(peer, reason);
        false
    }

    fn tampered(&mut self, peer: PeerId, reason: Tamper) {
        let was_callable = self.is_callable(peer);
        self.links.remove(&peer);
        if was_callable {
            self.events
                .push_back(CallEvent::CanCall(!self.callable().is_empty()));
        }
        self.remove_from_call(peer);
        self.events.push_back(CallEvent::Tampered { peer, reason });
    }

    fn handle_invite(&mut self, peer: PeerId, member: MemberKey, call: CallId, video: bool) {
        if self.current.is_some() || self.ringing.is_some() {
            if !self.in_call(call) {
                self.send(peer, &CallMessage::Decline { call });
            }
            return;
        }
        self.ringing = Some(Ringing {
            call,
            from: peer,
            video,
        });
        self.events.push_back(CallEvent::Ringing {
            peer,
            member,
            video,
        });
    }

    fn handle_leave(&mut self, peer: PeerId, call: CallId) {
        if self
            .ringing
            .as_ref()
            .is_some_and(|r| r.call == call && r.from == peer)
        {
            self.ringing = None;
            self.events.push_back(CallEvent::RingingStopped);
        }
        let Some(current) = &self.current else { return };
        if current.call != call {
            return;
        }
        let was_with = current.peers.len();
        self.remove_from_call(peer);
        let with = self.current.as_ref().map_or(0, |c| c.peers.len());
        // The last one with us left, or the only one we rang said no: the call is over
        // (someone rung in a room may still come, though).
        if with == 0 && (was_with > 0 || self.callable().len() <= 1) {
            self.end(CallEnd::Alone);
        }
    }

    /// Adds `peer` to our call; whether it was in it already.
    fn add_to_call(&mut self, peer: PeerId, member: MemberKey) -> bool {
        let Some(current) = &mut self.current else {
            return false;
        };
        if current.peers.iter().any(|(p, _)| *p == peer) {
            return true;
        }
        current.peers.push((peer, member));
        self.events
            .push_back(CallEvent::PeerJoined { peer, member });
        false
    }

    fn remove_from_call(&mut self, peer: PeerId) {
        let Some(current) = &mut self.current else {
            return;
        };
        let before = current.peers.len();
        current.peers.retain(|(p, _)| *p != peer);
        if current.peers.len() != before {
            self.events.push_back(CallEvent::PeerLeft { peer });
        }
    }

    fn leave_room(&mut self, reason: CallEnd) {
        if self.ringing.take().is_some() {
            self.events.push_back(CallEvent::RingingStopped);
        }
        self.end(reason);
    }

    fn end(&mut self, reason: CallEnd) {
        let Some(current) = self.current.take() else {
            return;
        };
        let call = current.call;
        for peer in self.callable() {
            self.send(peer, &CallMessage::Leave { call });
        }
        for (peer, _) in current.peers {
            self.events.push_back(CallEvent::PeerLeft { peer });
        }
        self.events.push_back(CallEvent::Ended(reason));
    }
}

#[cfg(test)]
mod tests;
