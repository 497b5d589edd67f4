//! `Net`: clients wired together by a seeded, virtual-time network with latency,
//! duplication and optional reordering. `step` delivers the earliest of {packet due,
//! client deadline}; `run_until` fails instead of hanging.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::HashMap;
use std::time::Duration;

use confab_core::{Client, Config, Event, Identity, Instant, Output, PeerId, Role, RoomSecret};

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
    pub events: Vec<Event>,
    /// What the client asked to persist (`Event::Persist`), as the app's store would keep it.
    pub persisted: Vec<Vec<u8>>,
    /// Offline nodes receive nothing and their timers do not run.
    pub online: bool,
    identity_seed: [u8; 32],
    room: RoomSecret,
    deadline: Option<Instant>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Packet {
    at: Instant,
    order: u64,
    from: PeerId,
    to: PeerId,
    bytes: Vec<u8>,
}

pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub conditions: Conditions,
    /// Frames delivered so far (including duplicates).
    pub delivered: u64,
    in_flight: BinaryHeap<Reverse<Packet>>,
    link_tail: HashMap<(PeerId, PeerId), Instant>,
    rng: u64,
    order: u64,
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
            in_flight: BinaryHeap::new(),
            link_tail: HashMap::new(),
            rng,
            order: 0,
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
            online: true,
            identity_seed,
            room: room.clone(),
            deadline: None,
        });
        idx
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
    /// it persisted (as the app does from IndexedDB). Not connected to anyone yet.
    pub fn come_back(&mut self, node: usize) {
        let seed = self.nodes[node].identity_seed;
        let room = self.nodes[node].room.clone();
        let mut client = self.new_client(node, seed, &room);
        let persisted = std::mem::take(&mut self.nodes[node].persisted);
        client.restore(persisted.iter().map(Vec::as_slice));
        let before: Vec<_> = self.nodes[node].client.history().ids().collect();
        let after: Vec<_> = client.history().ids().collect();
        assert_eq!(after, before, "restore gave another history");
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

    /// Drains a client's output into the network and its event log.
    pub fn drain(&mut self, node: usize) {
        loop {
            match self.nodes[node].client.poll_output() {
                Output::Transmit(transmit) => {
                    let from = self.nodes[node].id;
                    self.send(from, transmit.peer, transmit.bytes);
                }
                Output::Event(event) => {
                    if let Event::Persist { bytes, .. } = &event {
                        self.nodes[node].persisted.push(bytes.clone());
                    }
                    self.nodes[node].events.push(event)
                }
                Output::Timeout(deadline) => {
                    self.nodes[node].deadline = deadline;
                    return;
                }
            }
        }
    }

    fn send(&mut self, from: PeerId, to: PeerId, bytes: Vec<u8>) {
        if (self.random(1000) as u32) < self.conditions.loss_per_mille {
            return;
        }
        let copies = if (self.random(1000) as u32) < self.conditions.duplicate_per_mille {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let span =
                (self.conditions.max_latency - self.conditions.min_latency).as_micros() as u64;
            let mut at = self.now
                + self.conditions.min_latency
                + Duration::from_micros(self.random(span + 1));
            if !self.conditions.reorder {
                let tail = self.link_tail.entry((from, to)).or_insert(at);
                at = at.max(*tail);
                *tail = at;
            }
            self.order += 1;
            self.in_flight.push(Reverse(Packet {
                at,
                order: self.order,
                from,
                to,
                bytes: bytes.clone(),
            }));
        }
    }

    fn index_of(&self, id: PeerId) -> Option<usize> {
        self.nodes.iter().position(|node| node.id == id)
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
                    let now = self.now;
                    self.nodes[to]
                        .client
                        .handle_frame(now, packet.from, &packet.bytes);
                    self.delivered += 1;
                    self.drain(to);
                }
                true
            }
            (_, Some((deadline, idx))) => {
                self.now = self.now.max(deadline);
                let now = self.now;
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
