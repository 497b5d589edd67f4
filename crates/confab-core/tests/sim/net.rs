//! `Net`: clients wired together by a seeded, virtual-time network with latency,
//! duplication and optional reordering. `step` delivers the earliest of {packet due,
//! client deadline}; `run_until` fails instead of hanging.
//!
//! Like a browser's direct link, each link carries one FIFO queue per data channel (the
//! main one and one per file, [`Channel`]), so frames on different channels may overtake
//! each other; file-channel frames arrive through [`Client::handle_file_frame`]. With
//! `relay` set everything shares one FIFO and arrives through [`Client::handle_frame`], as
//! over the WebSocket relay, where the receiver cannot tell channels apart.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use confab_core::wire::Frame;
use confab_core::{
    Channel, Client, ClientEvent, Config, Identity, Instant, Output, PeerId, Role, RoomSecret,
    UnixMillis,
};

/// Network behaviour.
#[derive(Clone, Copy, Debug)]
pub struct Conditions {
    pub min_latency: Duration,
    pub max_latency: Duration,
    /// Per mille of packets delivered twice.
    pub duplicate_per_mille: u32,
    /// When false, each link is FIFO (like an ordered data channel).
    pub reorder: bool,
    /// Per mille of packets lost.
    pub loss_per_mille: u32,
}

impl Default for Conditions {
    fn default() -> Conditions {
        Conditions {
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(40),
            duplicate_per_mille: 0,
            reorder: false,
            loss_per_mille: 0,
        }
    }
}

pub struct Node {
    pub id: PeerId,
    pub client: Client,
    pub events: Vec<ClientEvent>,
    /// What the client asked to persist (`ClientEvent::Persist`), as the app's store would keep it.
    pub persisted: Vec<Vec<u8>>,
    /// The store's writes never happen (the page is about to die before they commit):
    /// `ClientEvent::Persist` is neither kept nor acknowledged.
    pub drop_persists: bool,
    /// Some write was dropped: the next `come_back` restores less than the client held.
    lost_writes: bool,
    /// Offline nodes receive nothing and their timers do not run.
    pub online: bool,
    identity_seed: [u8; 32],
    room: RoomSecret,
    deadline: Option<Instant>,
}

#[derive(PartialEq, Eq)]
struct Packet {
    at: Instant,
    order: u64,
    from: PeerId,
    to: PeerId,
    channel: Channel,
    bytes: Vec<u8>,
}

// Due time first, then sending order (unique), as before channels existed.
impl Ord for Packet {
    fn cmp(&self, other: &Packet) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

impl PartialOrd for Packet {
    fn partial_cmp(&self, other: &Packet) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One FIFO queue: a direction of a link and a data channel.
type Queue = (PeerId, PeerId, Channel);

pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub conditions: Conditions,
    /// Frames delivered so far (including duplicates).
    pub delivered: u64,
    /// Everything travels over the relay: one FIFO per direction, no file channels.
    pub relay: bool,
    /// Each queue sends this many bytes per second (frames wait for the ones before
    /// them); `None`: no limit.
    pub bytes_per_sec: Option<u64>,
    /// Directions (from, to) whose frames are all lost, as in a partition.
    pub blocked: HashSet<(PeerId, PeerId)>,
    /// Directions (from, to) whose file-channel frames get one byte flipped (so they fail
    /// authentication), after letting the given number through untouched; over the relay,
    /// the frames that a direct link would have carried on a file channel.
    pub corrupt_file_frames: HashMap<(PeerId, PeerId), u64>,
    /// File-channel frames corrupted so far.
    pub corrupted: u64,
    /// Transport frames delivered after a later one of the same session had been (by
    /// another channel, or duplicated).
    pub overtaken: u64,
    /// The newest transport counter delivered per direction, this session.
    newest_counter: HashMap<(PeerId, PeerId), u64>,
    in_flight: BinaryHeap<Reverse<Packet>>,
    link_tail: HashMap<Queue, Instant>,
    /// When each queue has finished sending what it was given (`bytes_per_sec` only).
    queue_busy: HashMap<Queue, Instant>,
    rng: u64,
    order: u64,
    /// Nodes drained since the caller last took them ([`Net::take_drained`]), when
    /// `track_drains` is set (the governance simulation watches epochs move).
    pub track_drains: bool,
    drained: Vec<usize>,
    /// A running digest of every frame delivered (from, to, bytes) and every timer run:
    /// a seed replays identically only if this does.
    pub digest: u64,
}

/// SplitMix64: tiny, seedable, good enough for scheduling decisions.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Net {
    /// `n` clients in one room (plus `strangers` with another room secret), none connected yet.
    pub fn new(seed: u64, n: usize, conditions: Conditions) -> Net {
        let mut rng = seed;
        let room = RoomSecret::from_bytes(seed_bytes(&mut rng));
        let mut net = Net {
            now: Instant::now(),
            nodes: Vec::new(),
            conditions,
            delivered: 0,
            relay: false,
            bytes_per_sec: None,
            blocked: HashSet::new(),
            corrupt_file_frames: HashMap::new(),
            corrupted: 0,
            overtaken: 0,
            newest_counter: HashMap::new(),
            in_flight: BinaryHeap::new(),
            link_tail: HashMap::new(),
            queue_busy: HashMap::new(),
            rng,
            order: 0,
            track_drains: false,
            drained: Vec::new(),
            digest: 0,
        };
        for _ in 0..n {
            net.add_node(&room);
        }
        net
    }

    pub fn add_node(&mut self, room: &RoomSecret) -> usize {
        let idx = self.nodes.len();
        let identity_seed = seed_bytes(&mut self.rng);
        let client = self.new_client(idx, identity_seed, room);
        self.nodes.push(Node {
            id: PeerId::new(idx as u64 + 1),
            client,
            events: Vec::new(),
            persisted: Vec::new(),
            drop_persists: false,
            lost_writes: false,
            online: true,
            identity_seed,
            room: room.clone(),
            deadline: None,
        });
        idx
    }

    /// Adds a client made by the caller (a governed room's founder or newcomer), online,
    /// linked to nobody yet. `identity_seed` is the seed of its identity.
    pub fn add_client(&mut self, client: Client, identity_seed: [u8; 32]) -> usize {
        let idx = self.nodes.len();
        let room = client.invite().link;
        self.nodes.push(Node {
            id: PeerId::new(idx as u64 + 1),
            client,
            events: Vec::new(),
            persisted: Vec::new(),
            drop_persists: false,
            lost_writes: false,
            online: true,
            identity_seed,
            room,
            deadline: None,
        });
        self.drain(idx);
        idx
    }

    /// Fresh seed bytes from the network's generator (for identities and clients).
    pub fn seed_bytes(&mut self) -> [u8; 32] {
        seed_bytes(&mut self.rng)
    }

    /// The node's network comes back (its client kept running, as a tab that was offline):
    /// it receives again and its timers run. Not linked to anyone.
    pub fn resume(&mut self, node: usize) {
        self.nodes[node].online = true;
        let now = self.now;
        self.nodes[node].client.handle_timeout(now);
        self.drain(node);
    }

    /// The nodes drained since the last call (with `track_drains`), each once per drain.
    pub fn take_drained(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.drained)
    }

    fn new_client(&mut self, idx: usize, identity_seed: [u8; 32], room: &RoomSecret) -> Client {
        let config = Config {
            display_name: format!("node{idx}"),
            ..Config::default()
        };
        let identity = Identity::from_seed(identity_seed);
        Client::new(identity, room.clone(), config, seed_bytes(&mut self.rng))
    }

    /// The identity behind `node` (tests that play a hostile member sign with it).
    pub fn identity(&self, node: usize) -> Identity {
        Identity::from_seed(self.nodes[node].identity_seed)
    }

    /// The node's tab closes: its client is gone, frames to it are lost. Peers notice by
    /// `remove_peer` (the server said so) when `tell_peers`, else by their idle timeout.
    pub fn go_offline(&mut self, node: usize, tell_peers: bool) {
        let id = self.nodes[node].id;
        self.nodes[node].online = false;
        self.nodes[node].deadline = None;
        self.in_flight
            .retain(|Reverse(p)| p.to != id && p.from != id);
        self.forget_queues(|(from, to, _)| *from == id || *to == id);
        if tell_peers {
            let now = self.now;
            for other in 0..self.nodes.len() {
                if other != node && self.nodes[other].online {
                    self.nodes[other].client.remove_peer(now, id);
                    self.drain(other);
                }
            }
        }
    }

    /// The node's tab opens again: a new client with the same identity, restored from what
    /// it persisted (as the app does from IndexedDB): the history it held, unless writes
    /// were dropped (`drop_persists`). Not connected to anyone yet.
    pub fn come_back(&mut self, node: usize) {
        let seed = self.nodes[node].identity_seed;
        let room = self.nodes[node].room.clone();
        let mut client = self.new_client(node, seed, &room);
        let persisted = std::mem::take(&mut self.nodes[node].persisted);
        // Walls in these simulations read near 0, as when the events were written.
        let now = self.now;
        let restored = client.restore(
            now,
            UnixMillis(0),
            persisted.iter().map(Vec::as_slice).enumerate(),
        );
        assert_eq!(
            restored.refused, [0usize; 0],
            "restore refused honest events"
        );
        let before: Vec<_> = self.nodes[node].client.history().ids().collect();
        let after: Vec<_> = client.history().ids().collect();
        if !std::mem::take(&mut self.nodes[node].lost_writes) {
            assert_eq!(after, before, "restore gave another history");
        }
        self.nodes[node].persisted = persisted;
        self.nodes[node].client = client;
        self.nodes[node].online = true;
        self.drain(node);
    }

    pub fn random(&mut self, bound: u64) -> u64 {
        splitmix(&mut self.rng) % bound.max(1)
    }

    /// Opens a link: `a` initiates, `b` responds (as when `a` creates the data channel).
    pub fn connect(&mut self, a: usize, b: usize) {
        let (id_a, id_b) = (self.nodes[a].id, self.nodes[b].id);
        let now = self.now;
        self.nodes[b].client.add_peer(now, id_a, Role::Responder);
        self.drain(b);
        self.nodes[a].client.add_peer(now, id_b, Role::Initiator);
        self.drain(a);
    }

    /// Closes the link between `a` and `b` on both sides; frames in flight are lost.
    pub fn disconnect(&mut self, a: usize, b: usize) {
        let (id_a, id_b) = (self.nodes[a].id, self.nodes[b].id);
        self.in_flight.retain(|Reverse(p)| {
            !((p.from == id_a && p.to == id_b) || (p.from == id_b && p.to == id_a))
        });
        self.forget_queues(|(from, to, _)| {
            (*from == id_a && *to == id_b) || (*from == id_b && *to == id_a)
        });
        let now = self.now;
        self.nodes[a].client.remove_peer(now, id_b);
        self.drain(a);
        self.nodes[b].client.remove_peer(now, id_a);
        self.drain(b);
    }

    /// Injects raw bytes as if `from` sent them to node `to`.
    pub fn inject(&mut self, from: PeerId, to: usize, bytes: &[u8]) {
        let now = self.now;
        self.nodes[to].client.handle_frame(now, from, bytes);
        self.drain(to);
    }

    /// Lets `node` act, then collects its output.
    pub fn with<R>(&mut self, node: usize, act: impl FnOnce(&mut Client, Instant) -> R) -> R {
        let now = self.now;
        let result = act(&mut self.nodes[node].client, now);
        self.drain(node);
        result
    }

    /// Drains a client's output into the network and its event log. Events to persist are
    /// kept, as the app's store would, and acknowledged once the output is drained (the
    /// store's write committing), which lets our own events go out.
    pub fn drain(&mut self, node: usize) {
        if self.track_drains {
            self.drained.push(node);
        }
        let mut written = Vec::new();
        loop {
            match self.nodes[node].client.poll_output() {
                Output::Transmit(transmit) => {
                    let from = self.nodes[node].id;
                    self.send(from, transmit.peer, transmit.channel, transmit.bytes);
                }
                Output::Event(event) => {
                    if let ClientEvent::Persist { id, bytes, .. } = &event {
                        if self.nodes[node].drop_persists {
                            self.nodes[node].lost_writes = true;
                        } else {
                            self.nodes[node].persisted.push(bytes.clone());
                            written.push(*id);
                        }
                    }
                    self.nodes[node].events.push(event)
                }
                Output::Timeout(deadline) => {
                    if written.is_empty() {
                        self.nodes[node].deadline = deadline;
                        return;
                    }
                    let now = self.now;
                    let ids = std::mem::take(&mut written);
                    self.nodes[node].client.handle_persisted(now, &ids);
                }
            }
        }
    }

    fn send(&mut self, from: PeerId, to: PeerId, channel: Channel, mut bytes: Vec<u8>) {
        if (self.random(1000) as u32) < self.conditions.loss_per_mille {
            return;
        }
        let copies = if (self.random(1000) as u32) < self.conditions.duplicate_per_mille {
            2
        } else {
            1
        };
        if self.blocked.contains(&(from, to)) {
            return;
        }
        // Over the relay too: a relay that tampers can tell chunks by their size.
        if let Channel::File(_) = channel
            && let Some(untouched) = self.corrupt_file_frames.get_mut(&(from, to))
        {
            if *untouched == 0 {
                if let Some(last) = bytes.last_mut() {
                    *last ^= 0x01;
                    self.corrupted += 1;
                }
            } else {
                *untouched -= 1;
            }
        }
        let channel = if self.relay { Channel::Main } else { channel };
        let queue = (from, to, channel);
        // The time the frame leaves: after the frames queued before it on its channel.
        let sent = match self.bytes_per_sec {
            Some(rate) => {
                let busy = self.queue_busy.entry(queue).or_insert(self.now);
                let start = (*busy).max(self.now);
                let micros = bytes.len() as u64 * 1_000_000 / rate.max(1);
                *busy = start + Duration::from_micros(micros);
                *busy
            }
            None => self.now,
        };
        for _ in 0..copies {
            let span =
                (self.conditions.max_latency - self.conditions.min_latency).as_micros() as u64;
            let mut at =
                sent + self.conditions.min_latency + Duration::from_micros(self.random(span + 1));
            if !self.conditions.reorder {
                let tail = self.link_tail.entry(queue).or_insert(at);
                at = at.max(*tail);
                *tail = at;
            }
            self.order += 1;
            self.in_flight.push(Reverse(Packet {
                at,
                order: self.order,
                from,
                to,
                channel,
                bytes: bytes.clone(),
            }));
        }
    }

    /// The data channels of a closed link are gone with the frames they held: a new link
    /// starts with empty queues. (Only with `bytes_per_sec`, where a backlog can be long;
    /// the other simulations keep the timing they were tuned with.)
    fn forget_queues(&mut self, gone: impl Fn(&Queue) -> bool) {
        if self.bytes_per_sec.is_some() {
            self.queue_busy.retain(|queue, _| !gone(queue));
            self.link_tail.retain(|queue, _| !gone(queue));
        }
    }

    fn index_of(&self, id: PeerId) -> Option<usize> {
        self.nodes.iter().position(|node| node.id == id)
    }

    /// When the next packet is due or the next client deadline comes, if any.
    pub fn next_due(&self) -> Option<Instant> {
        let next_packet = self.in_flight.peek().map(|Reverse(p)| p.at);
        let next_deadline = self.nodes.iter().filter_map(|node| node.deadline).min();
        next_packet.into_iter().chain(next_deadline).min()
    }

    /// Advances to the next packet or deadline. Returns false when nothing is pending.
    pub fn step(&mut self) -> bool {
        let next_packet = self.in_flight.peek().map(|Reverse(p)| p.at);
        let next_deadline = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(idx, node)| node.deadline.map(|d| (d, idx)))
            .min();
        match (next_packet, next_deadline) {
            (Some(at), deadline) if deadline.is_none_or(|(d, _)| at <= d) => {
                let Some(Reverse(packet)) = self.in_flight.pop() else {
                    return false;
                };
                self.now = self.now.max(packet.at);
                if let Some(to) = self.index_of(packet.to)
                    && self.nodes[to].online
                {
                    let direction = (packet.from, packet.to);
                    match Frame::decode(&packet.bytes) {
                        Ok(Frame::Transport { counter, .. }) => {
                            let newest = self.newest_counter.entry(direction).or_insert(counter);
                            if counter < *newest {
                                self.overtaken += 1;
                            }
                            *newest = (*newest).max(counter);
                        }
                        Ok(Frame::Handshake { .. }) => {
                            self.newest_counter.remove(&direction);
                        }
                        _ => {}
                    }
                    let now = self.now;
                    let client = &mut self.nodes[to].client;
                    match packet.channel {
                        Channel::File(file) => {
                            client.handle_file_frame(now, packet.from, file, &packet.bytes)
                        }
                        Channel::Main => client.handle_frame(now, packet.from, &packet.bytes),
                    }
                    self.delivered += 1;
                    self.digest = mix(
                        self.digest,
                        &[packet.from.to_u64(), packet.to.to_u64(), fnv(&packet.bytes)],
                    );
                    self.drain(to);
                }
                true
            }
            (_, Some((deadline, idx))) => {
                self.now = self.now.max(deadline);
                let now = self.now;
                self.digest = mix(self.digest, &[u64::MAX, idx as u64]);
                self.nodes[idx].client.handle_timeout(now);
                self.drain(idx);
                true
            }
            (Some(_), None) | (None, None) => false,
        }
    }

    /// Steps until `done` holds; panics with context after `max_steps`.
    pub fn run_until(&mut self, max_steps: usize, mut done: impl FnMut(&Net) -> bool) {
        for _ in 0..max_steps {
            if done(self) {
                return;
            }
            if !self.step() {
                break;
            }
        }
        assert!(done(self), "condition not reached within {max_steps} steps");
    }

    /// Delivers everything in flight (bounded), without waiting for idle timers.
    pub fn settle(&mut self) {
        let mut steps = 0;
        while self.in_flight.peek().is_some() && steps < 1_000_000 {
            self.step();
            steps += 1;
        }
    }

    pub fn verified(&self, node: usize) -> usize {
        self.nodes[node].client.verified_peers().count()
    }
}

/// FNV-1a of `bytes`: stable across processes (unlike `std`'s hasher keys).
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Folds `values` into `digest`.
pub fn mix(digest: u64, values: &[u64]) -> u64 {
    values.iter().fold(digest, |mut state, value| {
        state ^= *value;
        splitmix(&mut state)
    })
}

fn seed_bytes(rng: &mut u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix(rng).to_le_bytes());
    }
    out
}

/// The seeds to run: `CONFAB_SEED=n` for one, else `0..count`.
pub fn seeds(count: u64) -> Vec<u64> {
    match std::env::var("CONFAB_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (0..count).collect(),
    }
}
