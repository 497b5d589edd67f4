//! Calls over real sessions: each member's [`Calls`] machine rides its `Client` (call
//! messages inside Noise, on a seeded network), driven the way the app's adapter drives
//! it. A room of four makes one full mesh whatever the timing; a man in the middle of one
//! link's first description and a member that renegotiates with another certificate are
//! both left out, and nothing they described is taken.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use confab_core::client::{CallEvent, Calls, Tamper};
use confab_core::{ClientEvent, MemberKey, PeerId};

use crate::net::{Conditions, Net, seeds};

/// A description declaring certificate `cert`.
fn sdp(cert: usize) -> String {
    format!("v=0\r\na=fingerprint:sha-256 {cert:02X}:{cert:02X}\r\n")
}

/// One member's app, as far as calls go.
struct App {
    calls: Calls,
    /// Events of the member's client already handled.
    cursor: usize,
    /// The certificate of its connections.
    cert: usize,
    /// The certificate its renegotiation descriptions declare (a liar's differs).
    described_cert: usize,
    events: Vec<CallEvent>,
    /// Who is in its call now.
    with: BTreeSet<PeerId>,
}

struct Room {
    net: Net,
    apps: Vec<App>,
    /// (at, of): node `at` accepted, as `of`'s first description, the server's own.
    substituted: HashSet<(usize, usize)>,
    /// Offers made: (from, to).
    offers: Vec<(usize, usize)>,
}

impl Room {
    /// `n` members, all linked and verified.
    fn new(seed: u64, n: usize) -> Room {
        let conditions = Conditions {
            duplicate_per_mille: 20,
            ..Conditions::default()
        };
        let mut net = Net::new(seed, 0, conditions);
        let room = confab_core::RoomSecret::from_bytes([seed as u8; 32]);
        for _ in 0..n {
            net.add_node(&room);
        }
        let apps = (0..n)
            .map(|node| App {
                calls: Calls::new(
                    net.nodes[node].client.identity().member_key(),
                    [node as u8; 32],
                ),
                cursor: 0,
                cert: node,
                described_cert: node,
                events: Vec::new(),
                with: BTreeSet::new(),
            })
            .collect();
        Room {
            net,
            apps,
            substituted: HashSet::new(),
            offers: Vec::new(),
        }
    }

    fn link_all(&mut self) {
        let n = self.apps.len();
        for newcomer in 1..n {
            for existing in 0..newcomer {
                self.net.connect(newcomer, existing);
            }
        }
    }

    fn node_of(&self, peer: PeerId) -> usize {
        self.net
            .nodes
            .iter()
            .position(|node| node.id == peer)
            .unwrap()
    }

    fn key(&self, node: usize) -> MemberKey {
        self.net.nodes[node].client.identity().member_key()
    }

    /// Runs the apps on what their clients reported, then the network one step.
    fn step(&mut self) -> bool {
        for node in 0..self.apps.len() {
            self.run_app(node);
        }
        self.net.step()
    }

    fn run_until(&mut self, max_steps: usize, done: impl Fn(&Room) -> bool) {
        for _ in 0..max_steps {
            if done(self) {
                return;
            }
            self.step();
        }
        assert!(done(self), "condition not reached within {max_steps} steps");
    }

    fn run_app(&mut self, node: usize) {
        loop {
            let events = &self.net.nodes[node].events;
            let Some(event) = events.get(self.apps[node].cursor).cloned() else {
                break;
            };
            self.apps[node].cursor += 1;
            match event {
                ClientEvent::PeerVerified { peer, .. } => {
                    let other = self.node_of(peer);
                    let remote = if self.substituted.contains(&(node, other)) {
                        sdp(0x99)
                    } else {
                        sdp(self.apps[other].cert)
                    };
                    let local = sdp(self.apps[node].cert);
                    self.apps[node]
                        .calls
                        .handle_direct_link(peer, &local, &remote);
                }
                ClientEvent::Call { peer, member, data } => {
                    self.apps[node]
                        .calls
                        .handle_message(peer, member, &data)
                        .unwrap();
                }
                ClientEvent::PeerLeft { peer } | ClientEvent::PeerFailed { peer, .. } => {
                    self.apps[node].calls.remove_peer(peer);
                }
                _ => {}
            }
            self.drain_calls(node);
        }
        self.drain_calls(node);
    }

    fn drain_calls(&mut self, node: usize) {
        loop {
            if let Some((peer, bytes)) = self.apps[node].calls.poll_transmit() {
                self.net
                    .with(node, |client, now| client.send_call(now, peer, &bytes));
                continue;
            }
            let Some(event) = self.apps[node].calls.poll_event() else {
                return;
            };
            let described = sdp(self.apps[node].described_cert);
            let app = &mut self.apps[node];
            match &event {
                CallEvent::Ringing { .. } => {
                    app.calls.accept_call().unwrap();
                    app.calls.handle_media_ready();
                }
                CallEvent::PeerJoined { peer, .. } => {
                    app.with.insert(*peer);
                }
                CallEvent::PeerLeft { peer } => {
                    app.with.remove(peer);
                }
                CallEvent::MakeOffer { peer, call } => {
                    app.calls.handle_local_offer(*peer, *call, described);
                    let to = self.node_of(*peer);
                    self.offers.push((node, to));
                }
                CallEvent::TakeOffer { peer, call, .. } => {
                    app.calls.handle_local_answer(*peer, *call, described);
                }
                CallEvent::Tampered { peer, .. } => {
                    // The driver drops the link.
                    let other = self.node_of(*peer);
                    self.net.disconnect(node, other);
                }
                _ => {}
            }
            self.apps[node].events.push(event);
        }
    }

    fn callable_everywhere(&self, n_callable: usize) -> bool {
        self.apps
            .iter()
            .all(|app| app.calls.callable().len() == n_callable)
    }

    /// Whether node `at` took a description of node `from`'s.
    fn took(&self, at: usize, from: usize) -> bool {
        let from = self.net.nodes[from].id;
        self.apps[at].events.iter().any(|event| {
            matches!(event,
                CallEvent::TakeOffer { peer, .. } | CallEvent::TakeAnswer { peer, .. }
                if *peer == from)
        })
    }
}

#[test]
fn a_call_of_four_is_one_mesh_whatever_the_timing() {
    for seed in seeds(20) {
        let n = 4;
        let mut room = Room::new(seed, n);
        room.link_all();
        room.run_until(200_000, |room| room.callable_everywhere(n - 1));
        let caller = room.net.random(n as u64) as usize;
        room.apps[caller].calls.start_call(seed % 2 == 0).unwrap();
        room.apps[caller].calls.handle_media_ready();
        let answered = |room: &Room| {
            room.apps
                .iter()
                .map(|app| {
                    app.events
                        .iter()
                        .filter(|e| matches!(e, CallEvent::TakeAnswer { .. }))
                        .count()
                })
                .sum::<usize>()
                == n * (n - 1) / 2
        };
        room.run_until(200_000, |room| {
            answered(room) && room.apps.iter().all(|app| app.with.len() == n - 1)
        });
        let mut offers = room.offers.clone();
        offers.sort();
        let mut expected = Vec::new();
        for a in 0..n {
            for b in 0..n {
                if room.key(a) < room.key(b) {
                    expected.push((a, b));
                }
            }
        }
        expected.sort();
        assert_eq!(
            offers, expected,
            "seed {seed}: one offer per pair, from the lower key"
        );
        // Nothing more comes: no second offer, no one leaves.
        let until = room.net.now + Duration::from_secs(5);
        room.run_until(200_000, |room| room.net.now >= until);
        assert_eq!(room.offers.len(), expected.len(), "seed {seed}");
        assert!(
            room.apps.iter().all(|app| app.with.len() == n - 1),
            "seed {seed}"
        );
    }
}

#[test]
fn a_man_in_the_middle_and_a_lying_member_are_left_out() {
    for seed in seeds(20) {
        let n = 4;
        let mut room = Room::new(seed, n);
        // The server swapped node 1's first description as node 0 accepted it.
        room.substituted.insert((0, 1));
        // Node 3 vouches honestly, then renegotiates with another certificate.
        room.apps[3].described_cert = 0x77;
        room.link_all();
        let until = room.net.now + Duration::from_secs(5);
        room.run_until(200_000, |room| room.net.now >= until);
        assert!(
            room.apps[0].events.iter().any(|e| matches!(
                e,
                CallEvent::Tampered { peer, reason: Tamper::Accepted { .. } }
                    if *peer == room.net.nodes[1].id
            )),
            "seed {seed}: node 0 saw the swap"
        );
        assert!(
            !room.apps[0]
                .calls
                .callable()
                .contains(&room.net.nodes[1].id)
        );
        assert_eq!(room.apps[0].calls.callable().len(), 2, "seed {seed}");

        room.apps[0].calls.start_call(true).unwrap();
        room.apps[0].calls.handle_media_ready();
        let until = room.net.now + Duration::from_secs(10);
        room.run_until(400_000, |room| room.net.now >= until);

        let (id0, id2, id3) = (
            room.net.nodes[0].id,
            room.net.nodes[2].id,
            room.net.nodes[3].id,
        );
        for at in 0..n {
            assert!(
                !room.took(at, 3),
                "seed {seed}: node {at} took node 3's description"
            );
        }
        assert!(
            !room.took(0, 1),
            "seed {seed}: node 0 took node 1's description"
        );
        let later = room.apps.iter().any(|app| {
            app.events.iter().any(|e| {
                matches!(
                    e,
                    CallEvent::Tampered { peer, reason: Tamper::Later { .. } } if *peer == id3
                )
            })
        });
        assert!(later, "seed {seed}: node 3's later description was caught");
        assert_eq!(room.apps[0].with, BTreeSet::from([id2]), "seed {seed}");
        assert_eq!(room.apps[2].with, BTreeSet::from([id0]), "seed {seed}");
        assert!(
            room.apps[3]
                .with
                .iter()
                .all(|peer| *peer != id0 && *peer != id2)
        );
    }
}
