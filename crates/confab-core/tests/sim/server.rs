//! The server as the adversary. Three members meet through a simulated signalling server
//! and relay, with simulated direct connections (an offer/answer exchange opens one), the
//! way the app drives core: `connect_peer`, `handle_signal`, `handle_relayed`,
//! `handle_peer_left`, `handle_direct_*`. Once every pair is verified (two direct links,
//! one relayed), the server turns hostile for 30 s: it replays, re-addresses and reorders
//! everything it carries, injects fresh handshake starts and lies that members left.
//! No verified link may be replaced, closed or re-routed, and every message still reaches
//! everyone.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use confab_core::signal::ClientMessage;
use confab_core::{
    Client, ClientEvent, Config, Generation, Identity, Instant, Output, Path, PeerId, Role,
    RoomSecret, RtcSignal, Via,
};

use super::net::seeds;

const N: usize = 3;
const STEP: Duration = Duration::from_millis(20);

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn seed32(rng: &mut u64) -> [u8; 32] {
    let mut out = [0; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix(rng).to_le_bytes());
    }
    out
}

fn id(node: usize) -> PeerId {
    PeerId::new(node as u64 + 1)
}

/// What the server carries.
#[derive(Clone, Debug)]
enum Carried {
    Signal {
        from: PeerId,
        to: usize,
        data: String,
    },
    Relay {
        from: PeerId,
        to: usize,
        bytes: Vec<u8>,
    },
    PeerLeft {
        about: PeerId,
        to: usize,
    },
}

/// One end of a simulated direct connection.
#[derive(Clone, Copy, Debug)]
struct Rtc {
    generation: Generation,
    offerer: bool,
    /// The offer reached the answerer (answerer), or the answer the offerer.
    remote: bool,
    open: bool,
}

struct World {
    clients: Vec<Client>,
    rtcs: Vec<HashMap<PeerId, Rtc>>,
    /// Every event each node saw, with the step it came at.
    events: Vec<Vec<(u64, ClientEvent)>>,
    queue: VecDeque<Carried>,
    carried: Vec<Carried>,
    room: RoomSecret,
    now: Instant,
    step: u64,
    rng: u64,
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = seed;
        let room = RoomSecret::from_bytes(seed32(&mut rng));
        let now = Instant::now();
        let clients = (0..N)
            .map(|node| {
                let config = Config {
                    display_name: format!("m{node}"),
                    // The last member never tries a direct path: its links are relayed.
                    force_relay: node == N - 1,
                    ..Config::default()
                };
                let mut client = Client::new(
                    Identity::from_seed(seed32(&mut rng)),
                    room.clone(),
                    config,
                    seed32(&mut rng),
                );
                client.run_without_store();
                client.connected(now, id(node));
                client
            })
            .collect();
        World {
            clients,
            rtcs: vec![HashMap::new(); N],
            events: vec![Vec::new(); N],
            queue: VecDeque::new(),
            carried: Vec::new(),
            room,
            now,
            step: 0,
            rng,
        }
    }

    fn random(&mut self, bound: u64) -> u64 {
        splitmix(&mut self.rng) % bound
    }

    fn node_of(peer: PeerId) -> Option<usize> {
        (0..N).find(|node| id(*node) == peer)
    }

    /// Drains every node's output until nothing moves.
    fn drain(&mut self) {
        loop {
            let mut moved = false;
            for node in 0..N {
                loop {
                    match self.clients[node].poll_output() {
                        Output::Transmit(t) => {
                            moved = true;
                            self.transmit(node, t);
                        }
                        Output::Event(event) => {
                            moved = true;
                            self.apply(node, event);
                        }
                        Output::Timeout(_) => break,
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn transmit(&mut self, node: usize, t: confab_core::Transmit) {
        let Some(to) = World::node_of(t.peer) else {
            return;
        };
        match t.via {
            Via::Relay => self.queue.push_back(Carried::Relay {
                from: id(node),
                to,
                bytes: t.bytes,
            }),
            Via::Direct => {
                let open =
                    |rtcs: &HashMap<PeerId, Rtc>, peer| rtcs.get(&peer).is_some_and(|r| r.open);
                if open(&self.rtcs[node], t.peer) && open(&self.rtcs[to], id(node)) {
                    let now = self.now;
                    self.clients[to].handle_frame(now, id(node), &t.bytes);
                }
            }
        }
    }

    fn apply(&mut self, node: usize, event: ClientEvent) {
        let now = self.now;
        match &event {
            ClientEvent::Signal {
                message: ClientMessage::Signal { to, data },
            } => {
                if let Some(to) = World::node_of(*to) {
                    self.queue.push_back(Carried::Signal {
                        from: id(node),
                        to,
                        data: data.clone(),
                    });
                }
            }
            ClientEvent::OpenDirect {
                peer,
                generation,
                offerer,
            } => {
                let rtc = Rtc {
                    generation: *generation,
                    offerer: *offerer,
                    remote: false,
                    open: false,
                };
                self.rtcs[node].insert(*peer, rtc);
                if *offerer {
                    let offer = RtcSignal::Offer {
                        sdp: format!("offer {generation}"),
                    };
                    self.clients[node].handle_local_signal(now, *peer, *generation, &offer);
                }
            }
            ClientEvent::RemoteSignal {
                peer,
                generation,
                signal,
            } => {
                let Some(rtc) = self.rtcs[node].get_mut(peer) else {
                    panic!("a signal for a connection never opened");
                };
                assert_eq!(rtc.generation, *generation);
                match signal {
                    RtcSignal::Offer { .. } if !rtc.offerer => {
                        rtc.remote = true;
                        let answer = RtcSignal::Answer {
                            sdp: format!("answer {generation}"),
                        };
                        self.clients[node].handle_local_signal(now, *peer, *generation, &answer);
                    }
                    RtcSignal::Answer { .. } if rtc.offerer => {
                        rtc.remote = true;
                        self.try_open(node, *peer);
                    }
                    _ => {}
                }
            }
            ClientEvent::CloseDirect { peer, generation }
                if self.rtcs[node]
                    .get(peer)
                    .is_some_and(|rtc| rtc.generation == *generation) =>
            {
                {
                    self.rtcs[node].remove(peer);
                    // The other end notices.
                    if let Some(other) = World::node_of(*peer)
                        && let Some(rtc) = self.rtcs[other].remove(&id(node))
                    {
                        self.clients[other].handle_direct_closed(now, id(node), rtc.generation);
                    }
                }
            }
            _ => {}
        }
        self.events[node].push((self.step, event));
    }

    /// Both ends exchanged offer and answer: the connection opens on both.
    fn try_open(&mut self, node: usize, peer: PeerId) {
        let Some(other) = World::node_of(peer) else {
            return;
        };
        let (Some(mine), Some(theirs)) = (
            self.rtcs[node].get(&peer).copied(),
            self.rtcs[other].get(&id(node)).copied(),
        ) else {
            return;
        };
        if mine.remote && theirs.remote && !mine.open {
            let now = self.now;
            self.rtcs[node].get_mut(&peer).unwrap().open = true;
            self.rtcs[other].get_mut(&id(node)).unwrap().open = true;
            self.clients[node].handle_direct_open(now, peer, mine.generation);
            self.clients[other].handle_direct_open(now, id(node), theirs.generation);
        }
    }

    fn deliver(&mut self, carried: Carried) {
        let now = self.now;
        match &carried {
            Carried::Signal { from, to, data } => self.clients[*to].handle_signal(now, *from, data),
            Carried::Relay { from, to, bytes } => {
                self.clients[*to].handle_relayed(now, *from, bytes)
            }
            Carried::PeerLeft { about, to } => {
                self.clients[*to].handle_peer_left(now, *about);
            }
        }
    }

    /// One step: the server delivers what it carries (honestly, or not), time moves on.
    fn tick(&mut self, hostile: bool) {
        if hostile {
            self.attack();
        }
        while let Some(carried) = self.queue.pop_front() {
            self.carried.push(carried.clone());
            self.deliver(carried);
            self.drain();
        }
        self.now += STEP;
        self.step += 1;
        for node in 0..N {
            let now = self.now;
            self.clients[node].handle_timeout(now);
        }
        self.drain();
    }

    fn attack(&mut self) {
        // Reorder what is queued.
        if self.queue.len() > 1 && self.random(2) == 0 {
            let len = self.queue.len() as u64;
            let (a, b) = (self.random(len) as usize, self.random(len) as usize);
            self.queue.swap(a, b);
        }
        for _ in 0..self.random(4) {
            let attack = self.random(5);
            let to = self.random(N as u64) as usize;
            let about = id(self.random(N as u64) as usize);
            match attack {
                // Replay anything carried before, as it was.
                0 if !self.carried.is_empty() => {
                    let pick = self.random(self.carried.len() as u64) as usize;
                    let carried = self.carried[pick].clone();
                    self.queue.push_back(carried);
                }
                // Re-address a relayed frame or a signal: "from" someone else.
                1 if !self.carried.is_empty() => {
                    let pick = self.random(self.carried.len() as u64) as usize;
                    let forged = match self.carried[pick].clone() {
                        Carried::Relay { bytes, .. } => Carried::Relay {
                            from: about,
                            to,
                            bytes,
                        },
                        Carried::Signal { data, .. } => Carried::Signal {
                            from: about,
                            to,
                            data,
                        },
                        left @ Carried::PeerLeft { .. } => left,
                    };
                    self.queue.push_back(forged);
                }
                // A fresh, valid handshake start (another client of the room made it).
                2 => {
                    let mut rng = self.rng;
                    let mut other = Client::new(
                        Identity::from_seed(seed32(&mut rng)),
                        self.room.clone(),
                        Config::default(),
                        seed32(&mut rng),
                    );
                    self.rng = rng;
                    other.add_peer(self.now, id(to), Role::Initiator);
                    if let Output::Transmit(start) = other.poll_output() {
                        self.queue.push_back(Carried::Relay {
                            from: about,
                            to,
                            bytes: start.bytes,
                        });
                    }
                }
                // "They left."
                3 => self.queue.push_back(Carried::PeerLeft { about, to }),
                _ => {}
            }
        }
    }

    fn all_verified(&self) -> bool {
        self.clients
            .iter()
            .all(|client| client.verified_peers().count() == N - 1)
    }
}

#[test]
#[allow(clippy::needless_range_loop)] // nodes index several tables
fn a_hostile_server_cannot_replace_close_or_reroute_a_verified_link() {
    for seed in seeds(20) {
        let mut world = World::new(seed);
        // Members join one after another: each connects to those already there.
        for node in 1..N {
            for earlier in 0..node {
                let now = world.now;
                world.clients[node].connect_peer(now, id(earlier));
            }
            world.drain();
        }
        for _ in 0..1500 {
            if world.all_verified() {
                break;
            }
            world.tick(false);
        }
        assert!(world.all_verified(), "seed {seed}: not all verified");
        let paths: Vec<Vec<Option<Path>>> = (0..N)
            .map(|node| {
                (0..N)
                    .map(|other| world.clients[node].path(id(other)))
                    .collect()
            })
            .collect();
        assert_eq!(paths[0][1], Some(Path::Direct), "seed {seed}");
        assert_eq!(paths[0][2], Some(Path::Relay), "seed {seed}");
        let calm = world.step;

        // 30 s of a hostile server; someone posts every second.
        for round in 0..1500u64 {
            if round % 50 == 0 {
                let node = (round / 50) as usize % N;
                let (now, wall) = (world.now, confab_core::UnixMillis(round));
                world.clients[node]
                    .send_text(now, wall, &format!("message {round}"))
                    .unwrap();
                world.drain();
            }
            world.tick(true);
        }
        for _ in 0..100 {
            world.tick(false);
        }

        for node in 0..N {
            let after: Vec<&ClientEvent> = world.events[node]
                .iter()
                .filter(|(step, _)| *step >= calm)
                .map(|(_, event)| event)
                .collect();
            for event in after {
                let peer = match event {
                    ClientEvent::PeerLeft { peer }
                    | ClientEvent::PeerFailed { peer, .. }
                    | ClientEvent::PeerReplaced { peer }
                    | ClientEvent::PeerVerified { peer, .. }
                    | ClientEvent::CloseDirect { peer, .. }
                    | ClientEvent::OpenDirect { peer, .. } => *peer,
                    _ => continue,
                };
                // Links "from" ids nobody verified (the node's own, made up) come and go.
                assert!(
                    World::node_of(peer).is_none_or(|other| other == node),
                    "seed {seed}: node {node}'s verified link to {peer} changed: {event:?}"
                );
            }
            for other in (0..N).filter(|other| *other != node) {
                assert_eq!(
                    world.clients[node].path(id(other)),
                    paths[node][other],
                    "seed {seed}: node {node}'s path to {other}"
                );
            }
            assert_eq!(world.clients[node].verified_peers().count(), N - 1);
            assert_eq!(
                world.clients[node].history().len(),
                world.clients[0].history().len(),
                "seed {seed}: node {node} missed messages"
            );
        }
        // Profile events plus 30 messages.
        assert!(world.clients[0].history().len() >= 30, "seed {seed}");
    }
}
