//! The room registry: which connections are live, which rooms each is in, and delivery of
//! messages to a connection's bounded outbound queue.
//!
//! All state sits behind one short-lived mutex; nothing awaits while holding it. Delivery
//! never waits, and what one member forwards never gets another disconnected: a relay
//! envelope or signal that does not fit the recipient's queue (or the server's budget) is
//! dropped and its sender told ([`HubError::RecipientBusy`]). A recipient is kicked (its
//! connection task closes it) only when it is stuck (its queue made no progress for the
//! stall time), or when a server notice does not fit its queue; when all queues together
//! hold the server's budget, a notice kicks the connection holding the most, a forwarded
//! message only a stuck one.
//!
//! In a cluster (`--nats-url`) the hub also knows the members other nodes announced for
//! the rooms that have members here, and tells the cluster task ([`Outgoing`], through a
//! bounded queue, in the order things happened under the lock) about local joins, leaves
//! and rooms. Membership is decided here, the newcomer rule too ([`Arrival`]); the
//! cluster only carries it between nodes, so the hub never depends on the cluster.
//!
//! It also tells a room's members of every deposit into its mailbox (`mailbox-new`):
//! deposits made here, and in a cluster those another node made, as this node applies
//! them from the replicated log.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::socket::Message;
use confab_core::signal::{ErrorCode, MailboxReply, MailboxSeq, ServerMessage};
use confab_core::{PeerId, RoomId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::inbox::{Class, Ended, Inbox, QueueBudget, Refused};
use crate::push::Push;

/// The shared registry.
pub(crate) struct Hub {
    inner: Mutex<Inner>,
    max_rooms: usize,
    room_capacity: usize,
    /// The bounds of every connection's queue.
    budget: Arc<QueueBudget>,
    /// To the cluster task, if there is one.
    cluster: Option<mpsc::Sender<Outgoing>>,
    /// Web Push, told of every stored deposit.
    push: Option<Arc<Push>>,
}

/// One node process: random at every start.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct NodeId(pub(crate) u64);

/// A member of a room and when it joined: a hybrid logical clock in milliseconds (the
/// node's wall clock, raised above every member the node knew in the room), so a member
/// is later than everyone its node knew of when it joined. Of two members, the one with
/// the later `(since, peer)` is the newcomer, who connects to the other; both nodes
/// compare the same two values, so they agree whatever their clocks say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Arrival {
    pub(crate) peer: PeerId,
    pub(crate) since: u64,
}

impl Arrival {
    /// Whether `self` was in the room before `other` (so `other` connects to it).
    pub(crate) fn is_before(&self, other: &Arrival) -> bool {
        (self.since, self.peer) < (other.since, other.peer)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({:016x})", self.0)
    }
}

impl NodeId {
    /// A fresh random id.
    pub(crate) fn random() -> NodeId {
        NodeId(rand::random())
    }
}

/// What the hub and the connections ask the cluster task to tell other nodes: the hub
/// emits its own changes, the cluster publishes them.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A room got its first local member: listen to it.
    RoomOpened(RoomId),
    /// A room lost its last local member: stop listening.
    RoomClosed(RoomId),
    /// A local peer joined a room.
    Joined { room: RoomId, presence: Arrival },
    /// A local peer left a room.
    Left { room: RoomId, peer: PeerId },
    /// A signal from `from` for `to`, a member of `room` on `node`.
    Signal {
        node: NodeId,
        room: RoomId,
        from: PeerId,
        to: PeerId,
        data: String,
    },
    /// A relay envelope (already "from") for `to` on `node`.
    Relay {
        node: NodeId,
        room: RoomId,
        to: PeerId,
        envelope: Vec<u8>,
    },
}

impl Outgoing {
    /// What the note holds that a client sent: a signal's data, a relay envelope.
    pub(crate) fn cost(&self) -> usize {
        match self {
            Outgoing::Signal { data, .. } => data.len(),
            Outgoing::Relay { envelope, .. } => envelope.len(),
            _ => 0,
        }
    }
}

/// Where a message for a peer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// A connection on this node.
    Local,
    /// A member of `room` connected to `node`.
    Remote { node: NodeId, room: RoomId },
}

/// One registered connection's ends: its id, the queue others write to, and the signal
/// that it must go. Dropping it unregisters the connection (leaving all its rooms).
pub(crate) struct Registration {
    hub: Arc<Hub>,
    peer: PeerId,
    inbox: Arc<Inbox>,
}

/// Why the hub refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HubError {
    /// The connection is already in as many rooms as allowed.
    #[error("this connection is already in {max} rooms")]
    TooManyRooms {
        /// The limit.
        max: usize,
    },
    /// The room has as many members as allowed.
    #[error("the room is full ({capacity} peers)")]
    RoomFull {
        /// The limit.
        capacity: usize,
    },
    /// The named peer is not live, is the sender, or shares no room with the sender.
    #[error("no peer by that id shares a room with you")]
    UnknownPeer,
    /// The recipient's queue (or all queues together) is full: the message was dropped.
    #[error("the recipient is not reading fast enough; this message was dropped")]
    RecipientBusy,
}

#[derive(Default)]
struct Inner {
    /// Local members in join order. Never empty: empty rooms are removed.
    rooms: HashMap<RoomId, Vec<PeerId>>,
    /// When each local member joined each of its rooms (see [`Arrival`]).
    since: HashMap<(RoomId, PeerId), u64>,
    peers: HashMap<PeerId, Member>,
    /// Members on other nodes, only for rooms in `rooms`.
    remote: HashMap<RoomId, Vec<Remote>>,
    /// The server is stopping: every connection, and any that registers now, must go.
    is_stopping: bool,
}

/// A member of a room on another node.
#[derive(Clone, Copy, Debug)]
struct Remote {
    presence: Arrival,
    node: NodeId,
}

struct Member {
    inbox: Arc<Inbox>,
    /// Kicked already: do not log it again.
    is_kicked: bool,
    /// Rooms in join order; at most `max_rooms`.
    rooms: Vec<RoomId>,
}

impl Hub {
    /// An empty hub.
    pub(crate) fn new(
        max_rooms: usize,
        room_capacity: usize,
        budget: Arc<QueueBudget>,
        cluster: Option<mpsc::Sender<Outgoing>>,
        push: Option<Arc<Push>>,
    ) -> Hub {
        Hub {
            inner: Mutex::new(Inner::default()),
            max_rooms,
            room_capacity,
            budget,
            cluster,
            push,
        }
    }

    /// The bounds of the connections' queues (and what they hold now).
    pub(crate) fn budget(&self) -> &QueueBudget {
        &self.budget
    }

    /// Tells every connection, and each that registers from now on, that the server is
    /// stopping.
    pub(crate) fn shut_down(&self) {
        let mut inner = self.lock();
        inner.is_stopping = true;
        for member in inner.peers.values() {
            member.inbox.end(Ended::Stopping);
        }
    }

    /// Registers a new connection under a fresh random id: never 0, unique among live
    /// connections.
    pub(crate) fn register(self: &Arc<Hub>) -> Registration {
        let inbox = Arc::new(Inbox::new(Arc::clone(&self.budget)));
        let mut inner = self.lock();
        let peer = loop {
            let candidate = rand::random::<u64>();
            let candidate_id = PeerId::new(candidate);
            if candidate != 0
                && !inner.peers.contains_key(&candidate_id)
                && !inner.is_remote(candidate_id)
            {
                break PeerId::new(candidate);
            }
        };
        if inner.is_stopping {
            inbox.end(Ended::Stopping);
        }
        let member = Member {
            inbox: Arc::clone(&inbox),
            is_kicked: false,
            rooms: Vec::new(),
        };
        inner.peers.insert(peer, member);
        Registration {
            hub: Arc::clone(self),
            peer,
            inbox,
        }
    }

    /// Puts `peer` in `room` and tells the members already there. Returns those members,
    /// in join order. Joining a room again is not an error: it returns the others again.
    pub(crate) fn join(&self, peer: PeerId, room: RoomId) -> Result<Vec<PeerId>, HubError> {
        let mut inner = self.lock();
        let Inner {
            rooms,
            since,
            peers,
            remote,
            ..
        } = &mut *inner;
        let Some(member) = peers.get_mut(&peer) else {
            return Err(HubError::UnknownPeer);
        };
        let members = rooms.get(&room).map(Vec::as_slice).unwrap_or_default();
        let remote_members = remote.get(&room).map(Vec::as_slice).unwrap_or_default();
        let others = |members: &[PeerId]| -> Vec<PeerId> {
            members
                .iter()
                .copied()
                .filter(|&other| other != peer)
                .chain(remote_members.iter().map(|other| other.presence.peer))
                .collect()
        };
        if member.rooms.contains(&room) {
            return Ok(others(members));
        }
        if member.rooms.len() >= self.max_rooms {
            return Err(HubError::TooManyRooms {
                max: self.max_rooms,
            });
        }
        if members.len() + remote_members.len() >= self.room_capacity {
            return Err(HubError::RoomFull {
                capacity: self.room_capacity,
            });
        }
        let before = others(members);
        // Later than everyone we know in the room, so they are all "before" us on every
        // node, whatever the nodes' clocks say.
        let latest = members
            .iter()
            .filter_map(|other| since.get(&(room, *other)).copied())
            .chain(remote_members.iter().map(|other| other.presence.since))
            .max();
        let joined_at = latest.map_or(0, |latest| latest + 1).max(now_ms());
        since.insert((room, peer), joined_at);
        // Most connections are in one room: no room for four up front.
        member.rooms.reserve_exact(1);
        member.rooms.push(room);
        let is_new_room = !rooms.contains_key(&room);
        let members = rooms.entry(room).or_default();
        let local_before = members.clone();
        members.push(peer);
        info!(?peer, ?room, n_peers = before.len() + 1, "joined");
        if is_new_room {
            self.tell_cluster(Outgoing::RoomOpened(room));
        }
        self.tell_cluster(Outgoing::Joined {
            room,
            presence: Arrival {
                peer,
                since: joined_at,
            },
        });
        if let Some(note) = encode(&ServerMessage::PeerJoined { room, peer }) {
            for other in &local_before {
                let _ = deliver(peers, *other, note.clone(), Class::Notice);
            }
        }
        Ok(before)
    }

    /// Takes `peer` out of `room` and tells the others. Returns whether it was there.
    pub(crate) fn leave(&self, peer: PeerId, room: RoomId) -> bool {
        let mut inner = self.lock();
        let was_member = match inner.peers.get_mut(&peer) {
            Some(member) => {
                let n_before = member.rooms.len();
                member.rooms.retain(|&joined| joined != room);
                member.rooms.len() != n_before
            }
            None => false,
        };
        if was_member {
            inner.remove_from_room(peer, room, self);
        }
        was_member
    }

    /// Where a message from `from` to `to` goes: `to` must be another peer sharing a room
    /// with `from`, here or (in a cluster) on another node.
    pub(crate) fn route(&self, from: PeerId, to: PeerId) -> Result<Route, HubError> {
        let inner = self.lock();
        if from == to {
            return Err(HubError::UnknownPeer);
        }
        if inner.share_a_room(from, to) {
            return Ok(Route::Local);
        }
        let Some(sender) = inner.peers.get(&from) else {
            return Err(HubError::UnknownPeer);
        };
        sender
            .rooms
            .iter()
            .find_map(|room| {
                let remote = inner.remote.get(room)?;
                let other = remote.iter().find(|other| other.presence.peer == to)?;
                Some(Route::Remote {
                    node: other.node,
                    room: *room,
                })
            })
            .ok_or(HubError::UnknownPeer)
    }

    /// Delivers `message` from another node to local member `to` of `room`; false if `to`
    /// is not one.
    pub(crate) fn deliver_from_remote(&self, room: RoomId, to: PeerId, message: Message) -> bool {
        let mut inner = self.lock();
        let is_member = inner
            .rooms
            .get(&room)
            .is_some_and(|members| members.contains(&to));
        if is_member {
            // The sender is on another node: a drop is logged, not told.
            let _ = deliver(&mut inner.peers, to, message, Class::Forwarded);
        }
        is_member
    }

    /// Another node says a member joined `room` there.
    pub(crate) fn remote_joined(&self, room: RoomId, node: NodeId, presence: Arrival) {
        let mut inner = self.lock();
        inner.add_remote(room, node, presence);
    }

    /// Another node says `peer` left `room` there.
    pub(crate) fn remote_left(&self, room: RoomId, node: NodeId, peer: PeerId) {
        let mut inner = self.lock();
        inner.remove_remote(room, |other| {
            other.presence.peer == peer && other.node == node
        });
    }

    /// Another node's whole list of members of `room`: replaces what we knew of it.
    pub(crate) fn remote_present(&self, room: RoomId, node: NodeId, present: &[Arrival]) {
        let mut inner = self.lock();
        if !inner.rooms.contains_key(&room) {
            return;
        }
        inner.remove_remote(room, |other| {
            other.node == node && !present.iter().any(|p| p.peer == other.presence.peer)
        });
        for &presence in present {
            inner.add_remote(room, node, presence);
        }
    }

    /// Forgets every member of `node` (it stopped or went silent).
    pub(crate) fn remote_node_gone(&self, node: NodeId) {
        let mut inner = self.lock();
        let rooms: Vec<RoomId> = inner.remote.keys().copied().collect();
        for room in rooms {
            inner.remove_remote(room, |other| other.node == node);
        }
    }

    /// Forgets every member of every other node (the cluster link is gone).
    pub(crate) fn forget_remote(&self) {
        let mut inner = self.lock();
        let rooms: Vec<RoomId> = inner.remote.keys().copied().collect();
        for room in rooms {
            inner.remove_remote(room, |_| true);
        }
    }

    /// Every room with local members, and those members (to announce them again).
    pub(crate) fn local_rooms(&self) -> Vec<(RoomId, Vec<Arrival>)> {
        let inner = self.lock();
        inner
            .rooms
            .keys()
            .map(|room| (*room, inner.local_members(*room)))
            .collect()
    }

    /// The local members of `room`.
    pub(crate) fn local_members(&self, room: RoomId) -> Vec<Arrival> {
        self.lock().local_members(room)
    }

    /// A deposit into `room`'s mailbox was stored under `seq`: tells every local member of
    /// the room but `depositor` (`mailbox-new`), so that a member with no link to whoever
    /// deposited fetches it now rather than at its next join, and has the room's push
    /// subscriptions here pushed (but `depositor`'s). The notice carries only what the
    /// server knows anyway.
    pub(crate) fn mailbox_deposited(
        &self,
        room: RoomId,
        seq: MailboxSeq,
        depositor: Option<PeerId>,
    ) {
        if let Some(push) = &self.push {
            push.notify(room, depositor);
        }
        let Some(note) = encode(&MailboxReply::MailboxNew { room, seq }) else {
            return;
        };
        let mut inner = self.lock();
        let Inner { rooms, peers, .. } = &mut *inner;
        let Some(members) = rooms.get(&room) else {
            return;
        };
        for &member in members {
            if Some(member) != depositor {
                let _ = deliver(peers, member, note.clone(), Class::Notice);
            }
        }
    }

    /// Queues a note for the cluster task. A full queue drops it (logged): the next
    /// re-announcement repairs presence.
    fn tell_cluster(&self, note: Outgoing) {
        if let Some(cluster) = &self.cluster
            && let Err(mpsc::error::TrySendError::Full(_)) = cluster.try_send(note)
        {
            warn!("the cluster queue is full; a note to other nodes was dropped");
        }
    }

    /// Delivers `message` to `to` if it is another live connection sharing a room with
    /// `from`. The caller builds the message; the hub never looks inside it. A message
    /// that does not fit is dropped: [`HubError::RecipientBusy`].
    pub(crate) fn forward(
        &self,
        from: PeerId,
        to: PeerId,
        message: Message,
    ) -> Result<(), HubError> {
        let mut inner = self.lock();
        if from == to || !inner.share_a_room(from, to) {
            return Err(HubError::UnknownPeer);
        }
        deliver(&mut inner.peers, to, message, Class::Forwarded)
    }

    /// (rooms, memberships, members on other nodes of those rooms) now.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let inner = self.lock();
        let n_members: usize = inner.rooms.values().map(Vec::len).sum();
        let n_remote: usize = inner.remote.values().map(Vec::len).sum();
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        (
            as_u64(inner.rooms.len()),
            as_u64(n_members),
            as_u64(n_remote),
        )
    }

    fn unregister(&self, peer: PeerId) {
        let mut inner = self.lock();
        if let Some(member) = inner.peers.remove(&peer) {
            for room in member.rooms {
                inner.remove_from_room(peer, room, self);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; if something ever did, the maps are
        // still consistent enough to keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl HubError {
    /// The wire code for this refusal.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            HubError::TooManyRooms { .. } => ErrorCode::TooManyRooms,
            HubError::RoomFull { .. } => ErrorCode::RoomFull,
            HubError::UnknownPeer => ErrorCode::UnknownPeer,
            HubError::RecipientBusy => ErrorCode::RelayCap,
        }
    }
}

impl Registration {
    /// This connection's id.
    pub(crate) fn peer(&self) -> PeerId {
        self.peer
    }

    /// The hub, for requests on this connection's behalf.
    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The queue of messages other connections sent us, and the kick signal.
    pub(crate) fn inbox(&self) -> &Inbox {
        &self.inbox
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.peer);
    }
}

impl Inner {
    fn share_a_room(&self, a: PeerId, b: PeerId) -> bool {
        match (self.peers.get(&a), self.peers.get(&b)) {
            (Some(a), Some(b)) => a.rooms.iter().any(|room| b.rooms.contains(room)),
            _ => false,
        }
    }

    fn is_remote(&self, peer: PeerId) -> bool {
        self.remote
            .values()
            .any(|members| members.iter().any(|other| other.presence.peer == peer))
    }

    /// Removes `peer` from the room's member list (not from its own room list), tells the
    /// others here and in the cluster, and drops the room once it has no local member.
    fn remove_from_room(&mut self, peer: PeerId, room: RoomId, hub: &Hub) {
        let Inner {
            rooms,
            since,
            peers,
            remote,
            ..
        } = self;
        let Some(members) = rooms.get_mut(&room) else {
            return;
        };
        members.retain(|&member| member != peer);
        since.remove(&(room, peer));
        info!(?peer, ?room, n_peers = members.len(), "left");
        hub.tell_cluster(Outgoing::Left { room, peer });
        if members.is_empty() {
            rooms.remove(&room);
            remote.remove(&room);
            hub.tell_cluster(Outgoing::RoomClosed(room));
            return;
        }
        if let Some(note) = encode(&ServerMessage::PeerLeft { room, peer }) {
            for other in members.iter() {
                let _ = deliver(peers, *other, note.clone(), Class::Notice);
            }
        }
    }

    /// The local members of `room`, with when they joined.
    fn local_members(&self, room: RoomId) -> Vec<Arrival> {
        let members = self.rooms.get(&room).map(Vec::as_slice).unwrap_or_default();
        members
            .iter()
            .map(|&peer| Arrival {
                peer,
                since: self.since.get(&(room, peer)).copied().unwrap_or(0),
            })
            .collect()
    }

    /// Records a remote member of a room that has local members and tells each local one,
    /// as a newcomer (`peer-joined`: it will connect to them) or as an earlier member
    /// (`peer-present`: they connect to it), by [`Arrival`] order, which the remote
    /// member's node applies the same way.
    fn add_remote(&mut self, room: RoomId, node: NodeId, presence: Arrival) {
        let peer = presence.peer;
        let Some(members) = self.rooms.get(&room) else {
            return;
        };
        if self.peers.contains_key(&peer) {
            // 2^-64 per pair of peers; the newer claim loses.
            warn!(
                ?peer,
                "another node announced a peer id in use here; ignored"
            );
            return;
        }
        let remote = self.remote.entry(room).or_default();
        if remote.iter().any(|other| other.presence.peer == peer) {
            return;
        }
        remote.push(Remote { presence, node });
        debug!(?peer, ?room, ?node, "remote member joined");
        let members = members.clone();
        let joined = encode(&ServerMessage::PeerJoined { room, peer });
        let present = encode(&ServerMessage::PeerPresent { room, peer });
        for other in members {
            let since = self.since.get(&(room, other)).copied().unwrap_or(0);
            let ours = Arrival { peer: other, since };
            let note = if presence.is_before(&ours) {
                &present
            } else {
                &joined
            };
            if let Some(note) = note {
                let _ = deliver(&mut self.peers, other, note.clone(), Class::Notice);
            }
        }
    }

    /// Removes the remote members of `room` that `gone` selects, and tells the local ones.
    fn remove_remote(&mut self, room: RoomId, gone: impl Fn(&Remote) -> bool) {
        let Some(remote) = self.remote.get_mut(&room) else {
            return;
        };
        let mut left = Vec::new();
        remote.retain(|entry| {
            let is_gone = gone(entry);
            if is_gone {
                left.push(entry.presence.peer);
            }
            !is_gone
        });
        if remote.is_empty() {
            self.remote.remove(&room);
        }
        let members = self.rooms.get(&room).cloned().unwrap_or_default();
        for peer in left {
            debug!(?peer, ?room, "remote member left");
            if let Some(note) = encode(&ServerMessage::PeerLeft { room, peer }) {
                for &other in &members {
                    let _ = deliver(&mut self.peers, other, note.clone(), Class::Notice);
                }
            }
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch (0 for a clock before it).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Serialises a server message (a [`ServerMessage`] or a [`MailboxReply`]) as a text frame.
pub(crate) fn encode(message: &impl serde::Serialize) -> Option<Message> {
    match serde_json::to_string(message) {
        Ok(json) => Some(Message::text(json)),
        Err(err) => {
            // Unreachable for these types (string keys, no custom serialisers).
            error!(%err, "could not encode a server message");
            None
        }
    }
}

/// Queues `message` for `to` without waiting. A message of `class` `Forwarded` that does
/// not fit is dropped (`RecipientBusy`), and `to` kicked only if it is stuck; a notice
/// that does not fit kicks `to`. When all queues together are at the budget, the
/// connection holding the most is kicked (for a forwarded message only if it is stuck),
/// its queue dropped, and the message queued if it now fits (else dropped).
fn deliver(
    peers: &mut HashMap<PeerId, Member>,
    to: PeerId,
    message: Message,
    class: Class,
) -> Result<(), HubError> {
    let Some(member) = peers.get(&to) else {
        return Ok(());
    };
    let refused = match member.inbox.try_push(message.clone(), class) {
        Ok(()) => return Ok(()),
        Err(Refused::OverBudget) => {
            let largest = peers
                .iter()
                .filter(|(_, member)| !member.is_kicked)
                .max_by_key(|(peer, member)| (member.inbox.queued_bytes(), **peer))
                .filter(|(_, member)| class == Class::Notice || member.inbox.is_stuck())
                .map(|(peer, _)| *peer);
            if let Some(largest) = largest {
                kick(peers, largest, "the server's queues are at their budget");
            }
            match peers
                .get(&to)
                .map(|member| member.inbox.try_push(message, class))
            {
                Some(Err(refused)) => refused,
                _ => return Ok(()),
            }
        }
        Err(Refused::Full) => Refused::Full,
    };
    let is_stuck = peers.get(&to).is_some_and(|member| member.inbox.is_stuck());
    if refused == Refused::Full && (class == Class::Notice || is_stuck) {
        kick(peers, to, "outbound queue full and not read");
        return Ok(());
    }
    debug!(peer = ?to, ?refused, "a message for a busy recipient was dropped");
    match class {
        Class::Forwarded => Err(HubError::RecipientBusy),
        Class::Notice => Ok(()),
    }
}

/// Tells `peer` to go as too slow (once) and drops its queue.
fn kick(peers: &mut HashMap<PeerId, Member>, peer: PeerId, why: &str) {
    if let Some(member) = peers.get_mut(&peer)
        && !member.is_kicked
    {
        warn!(?peer, why, "disconnecting slow peer");
        member.is_kicked = true;
        member.inbox.end(Ended::Kicked);
    }
}

#[cfg(test)]
mod tests;
