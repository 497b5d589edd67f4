//! A room of 50 on a hostile network: members join late, leave (some silently) and come
//! back restored from what they persisted, links are cut and healed, and 10% of frames are
//! lost while others are duplicated or reordered. One member forges events and forks its
//! chain, sending different branches to different members. At the end, with everyone
//! back and every link healed, every honest member holds the same history in the same
//! order: everything anyone wrote, nothing twice, nothing forged, and of the forking
//! member exactly what came before its fork; no honest member is banned.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use confab_core::history::{History, Horizon};
use confab_core::wire::Body;
use confab_core::{Content, EventId, FailReason, Instant, RoomSecret, UnixMillis};

use crate::net::{Conditions, Net, seeds};

const N_HONEST: usize = 50;
/// Each member links to its ring neighbour and a few random others, so the room is
/// connected but most pairs are not: events must travel through others.
const EXTRA_LINKS_PER_NODE: usize = 2;

/// How the adversary forks its chain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ForkStyle {
    /// After a few events of its chain that everyone may take, two branches of one or two
    /// events each, one to half its peers and the other to the rest.
    BranchesToHalves,
    /// A second version of its first event, to one member only (the simulation's first
    /// adversary: seeds 1057 and 2899 once failed with it).
    FirstEventToOne,
}

struct Room {
    net: Net,
    style: ForkStyle,
    adversary: usize,
    /// Desired links (a < b); cut ones are in `cut`.
    links: BTreeSet<(usize, usize)>,
    cut: BTreeSet<(usize, usize)>,
    /// When each link was last (re)opened.
    opened: std::collections::HashMap<(usize, usize), Instant>,
    posted: Vec<EventId>,
    forged_sent: usize,
    /// Which kind of forgery comes next.
    round: usize,
    /// The adversary forked its chain.
    forked: bool,
    /// The adversary's events before its first fork, as it had them then.
    before_fork: Vec<EventId>,
}

impl Room {
    fn new(seed: u64, style: ForkStyle) -> Room {
        let conditions = Conditions {
            min_latency: Duration::from_millis(5),
            max_latency: Duration::from_millis(80),
            duplicate_per_mille: 50,
            reorder: seed % 2 == 1,
            loss_per_mille: 100,
        };
        let mut net = Net::new(seed, 0, conditions);
        let room = RoomSecret::from_bytes([(seed % 251) as u8; 32]);
        for _ in 0..=N_HONEST {
            net.add_node(&room);
        }
        let adversary = N_HONEST;
        let mut links = BTreeSet::new();
        for node in 0..N_HONEST {
            links.insert(ordered(node, (node + 1) % N_HONEST));
            for _ in 0..EXTRA_LINKS_PER_NODE {
                let other = net.random(N_HONEST as u64) as usize;
                if other != node {
                    links.insert(ordered(node, other));
                }
            }
        }
        for _ in 0..4 {
            let victim = net.random(N_HONEST as u64) as usize;
            links.insert(ordered(victim, adversary));
        }
        // A third of the room arrives late.
        for node in 0..N_HONEST {
            if net.random(3) == 0 {
                net.go_offline(node, false);
            }
        }
        Room {
            net,
            style,
            adversary,
            links,
            cut: BTreeSet::new(),
            opened: Default::default(),
            posted: Vec::new(),
            forged_sent: 0,
            round: 0,
            forked: false,
            before_fork: Vec::new(),
        }
    }

    /// Opens desired links whose ends are both online and not verified to each other
    /// (retrying handshakes lost to the network), as the app's signalling would.
    fn maintain_links(&mut self) {
        let now = self.net.now;
        let pairs: Vec<(usize, usize)> = self.links.difference(&self.cut).copied().collect();
        for (a, b) in pairs {
            if !(self.net.nodes[a].online && self.net.nodes[b].online) {
                continue;
            }
            let id_b = self.net.nodes[b].id;
            let linked = self.net.nodes[a]
                .client
                .verified_peers()
                .any(|(peer, _)| peer == id_b);
            let recent = self
                .opened
                .get(&(a, b))
                .is_some_and(|at| now < *at + Duration::from_secs(11));
            if !linked && !recent {
                self.net.disconnect(a, b);
                self.net.connect(a, b);
                self.opened.insert((a, b), now);
            }
        }
    }

    fn post(&mut self) {
        let online: Vec<usize> = (0..N_HONEST)
            .filter(|n| self.net.nodes[*n].online)
            .collect();
        if online.is_empty() {
            return;
        }
        let author = online[self.net.random(online.len() as u64) as usize];
        let text = format!("m{} from {author}", self.posted.len());
        let sent_at = UnixMillis(self.posted.len() as u64);
        let id = self
            .net
            .with(author, |c, now| c.send_text(now, sent_at, &text).unwrap());
        self.posted.push(id);
    }

    /// The adversary, inside its authentic sessions, sends in turn: an event with a broken
    /// signature, one claiming an honest author, or (validly signed) a second version of
    /// its first event to one member only: equivocation.
    fn forge(&mut self) {
        let adversary = self.adversary;
        let peers: Vec<_> = self.net.nodes[adversary]
            .client
            .verified_peers()
            .map(|(peer, _)| peer)
            .collect();
        if std::env::var("CONFAB_SIM_VERBOSE").is_ok() {
            eprintln!(
                "forge: adversary has {} peers, round {}",
                peers.len(),
                self.round
            );
        }
        if peers.is_empty() {
            return;
        }
        let round = self.round;
        self.round += 1;
        let own_key = self.net.nodes[adversary].client.identity().member_key();
        if round.is_multiple_of(3) && self.style == ForkStyle::BranchesToHalves {
            // Branches need two members to go to (or it is no fork anyone could see).
            if peers.len() >= 2 {
                self.fork_into_branches(&peers, round);
            }
            return;
        }
        if round.is_multiple_of(3) {
            // Make sure there is a first event to contradict, then send another first
            // event to one member only.
            if self.net.nodes[adversary].client.history().mark(&own_key) == 0 {
                // Refused once its own client has seen the proof of an earlier fork.
                self.net.with(adversary, |c, now| {
                    let _ = c.send_text(now, UnixMillis(0), "adversary");
                });
            }
            let mut fork = History::new(self.net.nodes[adversary].client.room_id());
            let forked = fork
                .create(
                    &self.net.identity(adversary),
                    UnixMillis(1),
                    Content::Text {
                        text: format!("fork {round}"),
                        reply_to: None,
                        mentions: Vec::new(),
                    },
                )
                .unwrap();
            let victim = peers[peers.len() - 1];
            let body = Body::Events(vec![forked.bytes().to_vec()]);
            self.net.with(adversary, |c, now| {
                c.dangerously_send_body_for_testing_only(now, victim, &body)
            });
            self.forked = true;
            return;
        }
        let honest = self.net.nodes[0].client.identity().member_key();
        let own = self.net.nodes[adversary].persisted.last().cloned();
        let Some(mut tampered) = own else { return };
        let at = tampered.len() - 70;
        tampered[at] ^= 0x20;
        let mut impersonated = tampered.clone();
        impersonated[1..33].copy_from_slice(honest.as_bytes());
        let body = if round % 3 == 1 {
            Body::Events(vec![tampered])
        } else {
            Body::Events(vec![impersonated])
        };
        for peer in peers {
            self.forged_sent += 1;
            self.net.with(adversary, |c, now| {
                c.dangerously_send_body_for_testing_only(now, peer, &body)
            });
        }
    }

    /// Posts up to two events everyone may take (unless the adversary's own client
    /// already learnt it is forked), then signs two branches after them and sends one to
    /// half of its peers and the other to the rest.
    fn fork_into_branches(&mut self, peers: &[confab_core::PeerId], round: usize) {
        let adversary = self.adversary;
        let own_key = self.net.nodes[adversary].client.identity().member_key();
        for n in 0..2 {
            self.net.with(adversary, |c, now| {
                let _ = c.send_text(now, UnixMillis(0), &format!("adversary {round}.{n}"));
            });
        }
        let identity = self.net.identity(adversary);
        let history = self.net.nodes[adversary].client.history();
        let mark = history.mark(&own_key);
        let prefix: Vec<_> = history.range(&own_key, 0, mark).cloned().collect();
        if !self.forked {
            self.before_fork = prefix.iter().map(|e| e.id()).collect();
        }
        let mut base = History::new(*history.room());
        for event in prefix {
            let _ = base.insert(event, Horizon::UNBOUNDED);
        }
        let mut branches = Vec::new();
        for branch in 0..2 {
            let mut writer = base.clone();
            let events: Vec<Vec<u8>> = (0..=(round / 3 + branch) % 2)
                .map(|n| {
                    let content = Content::Text {
                        text: format!("branch {branch} of fork {round}, {n}"),
                        reply_to: None,
                        mentions: Vec::new(),
                    };
                    writer
                        .create(&identity, UnixMillis(1), content)
                        .unwrap()
                        .bytes()
                        .to_vec()
                })
                .collect();
            branches.push(Body::Events(events));
        }
        let half = peers.len().div_ceil(2);
        for (idx, peer) in peers.iter().enumerate() {
            let body = &branches[usize::from(idx >= half)];
            self.net.with(adversary, |c, now| {
                c.dangerously_send_body_for_testing_only(now, *peer, body)
            });
        }
        self.forked = true;
    }

    fn run_for(&mut self, duration: Duration) {
        let until = self.net.now + duration;
        let mut steps = 0;
        while self.net.now < until && steps < 3_000_000 {
            if !self.net.step() {
                break;
            }
            steps += 1;
        }
        self.net.now = self.net.now.max(until);
    }
}

fn ordered(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

fn run(seed: u64, style: ForkStyle) {
    let mut room = Room::new(seed, style);
    let n_rounds = 40;
    for _ in 0..n_rounds {
        room.maintain_links();
        match room.net.random(20) {
            0..=9 => room.post(),
            10 | 11 => {
                // Someone leaves (half the time silently).
                let node = room.net.random(N_HONEST as u64) as usize;
                if room.net.nodes[node].online {
                    let tell = room.net.random(2) == 0;
                    room.net.go_offline(node, tell);
                }
            }
            12..=14 => {
                let node = room.net.random(N_HONEST as u64) as usize;
                if !room.net.nodes[node].online {
                    room.net.come_back(node);
                }
            }
            15 | 16 => {
                // A partition: cut a handful of links for a while.
                let links: Vec<_> = room.links.iter().copied().collect();
                for _ in 0..8 {
                    let (a, b) = links[room.net.random(links.len() as u64) as usize];
                    if room.cut.insert((a, b)) {
                        room.net.disconnect(a, b);
                    }
                }
            }
            17 => room.cut.clear(),
            _ => room.forge(),
        }
        let pause = Duration::from_millis(room.net.random(1500));
        room.run_for(pause);
    }
    // Everyone comes back and the network heals; lossy links still drop frames.
    room.cut.clear();
    for node in 0..N_HONEST {
        if !room.net.nodes[node].online {
            room.net.come_back(node);
        }
    }
    let honest_converged = |room: &Room| {
        let reference = room.net.nodes[0].client.history().ids().collect::<Vec<_>>();
        reference.len() >= room.posted.len()
            && room
                .before_fork
                .iter()
                .all(|id| room.net.nodes[0].client.history().contains(id))
            && (1..N_HONEST).all(|n| {
                room.net.nodes[n]
                    .client
                    .history()
                    .ids()
                    .eq(reference.iter().copied())
            })
    };
    let adversary_key = room.net.nodes[room.adversary]
        .client
        .identity()
        .member_key();
    let mut rounds = 0;
    for _ in 0..40 {
        rounds += 1;
        room.maintain_links();
        room.run_for(Duration::from_secs(3));
        if honest_converged(&room) {
            break;
        }
    }
    if std::env::var("CONFAB_SIM_VERBOSE").is_ok() {
        eprintln!(
            "seed {seed}: converged after {rounds} rounds of 3 s, {} posted, {} frames delivered, forked {} after {}, fork proven from {:?}, {} of the adversary's events kept",
            room.posted.len(),
            room.net.delivered,
            room.forked,
            room.before_fork.len(),
            room.net.nodes[0]
                .client
                .history()
                .forked_from(&adversary_key),
            room.net.nodes[0].client.history().mark(&adversary_key),
        );
    }

    let reference: Vec<EventId> = room.net.nodes[0].client.history().ids().collect();
    let posted: HashSet<EventId> = room.posted.iter().copied().collect();
    if std::env::var("CONFAB_SIM_VERBOSE").is_ok() {
        report_divergence(&room, &reference);
    }
    for node in 0..N_HONEST {
        let history = room.net.nodes[node].client.history();
        let ids: Vec<EventId> = history.ids().collect();
        assert_eq!(
            ids, reference,
            "seed {seed}: node {node} holds another history"
        );
        // Nothing lost: everything posted by honest members is there; nothing else is,
        // except the adversary's own validly signed events.
        let held: HashSet<EventId> = ids.iter().copied().collect();
        assert!(
            posted.is_subset(&held),
            "seed {seed}: node {node} lost {} events",
            posted.difference(&held).count()
        );
        for id in &ids {
            let author = history.get(id).unwrap().event().author;
            assert!(
                posted.contains(id) || author == adversary_key,
                "seed {seed}: node {node} holds an event nobody posted"
            );
        }
        // A proven fork costs its author only what is in dispute.
        for id in &room.before_fork {
            assert!(
                held.contains(id),
                "seed {seed}: node {node} lost the adversary's events before its fork"
            );
        }
        for other in 0..N_HONEST {
            let key = room.net.nodes[other].client.identity().member_key();
            assert!(
                !history.is_banned(&key),
                "seed {seed}: node {node} banned honest node {other}"
            );
        }
        // Nothing shown twice.
        let mut shown: Vec<EventId> = room.net.nodes[node]
            .events
            .iter()
            .filter_map(|e| match e {
                confab_core::ClientEvent::Message(m) => Some(m.id),
                _ => None,
            })
            .collect();
        shown.sort();
        let n_shown = shown.len();
        shown.dedup();
        assert_eq!(
            n_shown,
            shown.len(),
            "seed {seed}: node {node} showed a message twice"
        );
    }
    // Whoever received a forgery dropped the forger. (Each forged frame may be lost, so
    // this is asserted only when enough were sent that losing all is a 1e-5 event.)
    if room.forged_sent >= 5 {
        let dropped = (0..N_HONEST).any(|n| {
            room.net.nodes[n].events.iter().any(|e| {
                matches!(
                    e,
                    confab_core::ClientEvent::PeerFailed {
                        reason: FailReason::Misbehaved(_),
                        ..
                    }
                )
            })
        });
        assert!(dropped, "seed {seed}: forgeries went unnoticed");
    }
}

/// For a failing seed: what each member that differs from member 0 lacks or holds extra,
/// and how it stands with the author.
fn report_divergence(room: &Room, reference: &[EventId]) {
    let reference: HashSet<EventId> = reference.iter().copied().collect();
    let node_of = |author| {
        (0..=N_HONEST).find(|n| room.net.nodes[*n].client.identity().member_key() == author)
    };
    for node in 0..N_HONEST {
        let client = &room.net.nodes[node].client;
        let history = client.history();
        let ids: HashSet<EventId> = history.ids().collect();
        for id in reference.difference(&ids) {
            let event = room.net.nodes[0].client.history().get(id).unwrap().event();
            eprintln!(
                "node {node} lacks {id:?}: author node {:?}, seq {}; its mark {}, banned {}, {} verified peers",
                node_of(event.author),
                event.seq,
                history.mark(&event.author),
                history.is_banned(&event.author),
                client.verified_peers().count()
            );
        }
        for id in ids.difference(&reference) {
            let event = history.get(id).unwrap().event();
            eprintln!(
                "node {node} holds {id:?} extra: author node {:?}, seq {}",
                node_of(event.author),
                event.seq
            );
        }
    }
}

/// The seeds of one quarter: 1,000 seeds in all by default (`CONFAB_SIM_SEEDS=n` for
/// more, `CONFAB_SEED=n` for one), split in four tests so they run in parallel.
fn quarter(k: u64) {
    let count = std::env::var("CONFAB_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    for seed in seeds(count)
        .into_iter()
        .filter(|seed| std::env::var("CONFAB_SEED").is_ok() && k == 0 || seed % 4 == k)
    {
        run(seed, ForkStyle::BranchesToHalves);
    }
}

/// The seeds that failed with the first adversary (after an unproven equivocation one
/// event never reached one member), replayed with it.
#[test]
fn the_seeds_that_once_lost_an_event_after_an_unproven_fork_converge() {
    for seed in [1057, 2899] {
        run(seed, ForkStyle::FirstEventToOne);
    }
}

#[test]
fn fifty_members_through_churn_partitions_and_loss_end_with_one_history_a() {
    quarter(0);
}

#[test]
fn fifty_members_through_churn_partitions_and_loss_end_with_one_history_b() {
    quarter(1);
}

#[test]
fn fifty_members_through_churn_partitions_and_loss_end_with_one_history_c() {
    quarter(2);
}

#[test]
fn fifty_members_through_churn_partitions_and_loss_end_with_one_history_d() {
    quarter(3);
}
