//! The world of the governance simulation: governed clients on the seeded [`Net`], a
//! server that introduces members in the same room id (an epoch's) and keeps each epoch's
//! mailbox, and the app's part (rekey when core says so). The harness records, outside
//! the clients, which epoch each event it had posted was written in and every epoch
//! secret each member ever held, for the checks in `checks.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use confab_core::governance::Govern;
use confab_core::governance::Rank;
use confab_core::history::Content;
use confab_core::signal::{MailboxItem, MailboxSeq};
use confab_core::{
    Client, ClientEvent, Config, EventId, Identity, Instant, MemberKey, RoomId, UnixMillis,
};

use crate::net::{Conditions, Net};

/// An epoch's commitment: tells rival epochs of one number apart.
pub type Commitment = [u8; 32];

/// The wall clock of the simulation's start (2026-12-06): walls are virtual, from the
/// seed's clock, so a seed replays alone as in a batch.
const WALL_START: u64 = 1_796_515_200_000;

/// How long the server waits before introducing a pair again that has not verified.
const RETRY: Duration = Duration::from_secs(6);

/// A member: one identity (removal is final per key; re-adding someone is a new one).
pub struct Member {
    pub key: MemberKey,
    /// The epochs whose secret we handed this member a way to: the one of its invite link,
    /// and every epoch a rekey sealed to it.
    pub allowed: BTreeSet<Commitment>,
    /// Every epoch secret it ever held.
    pub held: BTreeSet<Commitment>,
    /// Its history when an admin or the owner removed it (the first time).
    pub at_removal: Option<BTreeSet<EventId>>,
}

/// An epoch some rekey started (or the founding one).
pub struct Epoch {
    pub number: u64,
}

pub struct World {
    pub net: Net,
    pub members: Vec<Member>,
    pub epochs: BTreeMap<Commitment, Epoch>,
    /// The epoch each event the harness had posted was written in (its author's then).
    pub posted_in: BTreeMap<EventId, Commitment>,
    /// Which side of a partition each node is on (links only within one side).
    pub side: Vec<u8>,
    /// The server's mailboxes, by room id.
    pub mailboxes: BTreeMap<RoomId, Vec<MailboxItem>>,
    /// Who started each epoch, by number (for reports).
    pub rekeyers: Vec<(u64, usize, EventId)>,
    /// How much of each mailbox each node read.
    cursors: BTreeMap<(usize, RoomId), usize>,
    /// How many of each node's events the server looked at for deposits.
    scanned: Vec<usize>,
    /// When the server last introduced a pair, and in which room.
    introduced: BTreeMap<(usize, usize), (RoomId, Instant)>,
    start: Instant,
    pub stats: Stats,
}

#[derive(Default, Debug)]
pub struct Stats {
    pub posts: u64,
    pub removals: u64,
    pub promotions: u64,
    pub demotions: u64,
    pub resets: u64,
    pub rekeys_due: u64,
    pub joins: u64,
    pub partitions: u64,
}

fn config(idx: usize) -> Config {
    Config {
        display_name: format!("m{idx}"),
        ..Config::default()
    }
}

impl World {
    /// The owner (node 0) founds a governed room; nobody else is there yet.
    pub fn found(seed: u64, conditions: Conditions) -> World {
        let mut net = Net::new(seed, 0, conditions);
        net.track_drains = true;
        let start = net.now;
        let identity_seed = net.seed_bytes();
        let client_seed = net.seed_bytes();
        let owner = Client::found(
            Identity::from_seed(identity_seed),
            config(0),
            client_seed,
            start,
            UnixMillis(WALL_START),
        )
        .unwrap();
        let mut world = World {
            net,
            members: Vec::new(),
            epochs: BTreeMap::new(),
            posted_in: BTreeMap::new(),
            side: Vec::new(),
            mailboxes: BTreeMap::new(),
            rekeyers: Vec::new(),
            cursors: BTreeMap::new(),
            scanned: Vec::new(),
            introduced: BTreeMap::new(),
            start,
            stats: Stats::default(),
        };
        let first = owner.epoch().unwrap().1.commitment().0;
        world.epochs.insert(first, Epoch { number: 0 });
        world.add(owner, identity_seed, first);
        world
    }

    fn add(&mut self, client: Client, identity_seed: [u8; 32], invited: Commitment) -> usize {
        let key = client.identity().member_key();
        self.members.push(Member {
            key,
            allowed: BTreeSet::from([invited]),
            held: BTreeSet::new(),
            at_removal: None,
        });
        self.side.push(0);
        self.scanned.push(0);
        let node = self.net.add_client(client, identity_seed);
        self.observe();
        node
    }

    /// The virtual wall clock.
    pub fn wall(&self) -> UnixMillis {
        UnixMillis(WALL_START + (self.net.now - self.start).as_millis() as u64)
    }

    pub fn client(&self, node: usize) -> &Client {
        &self.net.nodes[node].client
    }

    pub fn online(&self, node: usize) -> bool {
        self.net.nodes[node].online
    }

    /// The epoch `node` is in, by its commitment.
    pub fn epoch_of(&self, node: usize) -> Option<Commitment> {
        self.client(node)
            .epoch()
            .map(|(_, secret)| secret.commitment().0)
    }

    /// Someone opens the invite link `inviter` shares now (a fresh identity): its node.
    pub fn arrive(&mut self, inviter: usize) -> Option<usize> {
        let invited = self.epoch_of(inviter)?;
        let invite = self.client(inviter).invite();
        let idx = self.net.nodes.len();
        let identity_seed = self.net.seed_bytes();
        let client_seed = self.net.seed_bytes();
        let mut client = Client::new(
            Identity::from_seed(identity_seed),
            invite.link,
            config(idx),
            client_seed,
        )
        .with_genesis(invite.genesis?);
        let (now, wall) = (self.net.now, self.wall());
        client.restore(now, wall, std::iter::empty::<((), &[u8])>());
        self.stats.joins += 1;
        Some(self.add(client, identity_seed, invited))
    }

    /// Records the epoch of every node drained since the last look.
    pub fn observe(&mut self) {
        let mut drained = self.net.take_drained();
        drained.sort_unstable();
        drained.dedup();
        for node in drained {
            if let Some(epoch) = self.epoch_of(node) {
                self.members[node].held.insert(epoch);
            }
        }
    }

    /// Runs the network for `duration` (virtual).
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.net.now + duration;
        let mut steps = 0;
        while steps < 2_000_000 && self.net.next_due().is_some_and(|at| at <= until) {
            self.net.step();
            self.observe();
            steps += 1;
        }
        self.net.now = self.net.now.max(until);
    }

    /// Lets `node` act, then records where its epoch stands.
    pub fn with<R>(
        &mut self,
        node: usize,
        act: impl FnOnce(&mut Client, Instant, UnixMillis) -> R,
    ) -> R {
        let wall = self.wall();
        let result = self.net.with(node, |client, now| act(client, now, wall));
        self.observe();
        result
    }

    /// `node` posts a text.
    pub fn post(&mut self, node: usize) {
        let Some(epoch) = self.epoch_of(node) else {
            return;
        };
        let text = format!("p{} by {node}", self.stats.posts);
        if let Ok(id) = self.with(node, |c, now, wall| c.send_text(now, wall, &text)) {
            self.posted_in.insert(id, epoch);
            self.stats.posts += 1;
        }
    }

    /// `node` posts a governance action, if its client allows it now.
    pub fn govern(&mut self, node: usize, what: Govern) -> Option<EventId> {
        let epoch = self.epoch_of(node)?;
        self.client(node).allows(what.clone()).ok()?;
        let id = self
            .with(node, |c, now, wall| c.govern(now, wall, what))
            .ok()?;
        self.posted_in.insert(id, epoch);
        Some(id)
    }

    /// `node` starts a new epoch: records who it was sealed to.
    pub fn rekey(&mut self, node: usize) -> Option<EventId> {
        let epoch = self.epoch_of(node)?;
        let id = self.with(node, |c, now, wall| c.rekey(now, wall)).ok()?;
        self.posted_in.insert(id, epoch);
        let content = self
            .client(node)
            .history()
            .get(&id)?
            .event()
            .content
            .clone();
        if let Content::Govern(Govern::Rekey(rekey)) = &content {
            self.rekeyers.push((rekey.epoch, node, id));
            self.epochs.insert(
                rekey.commitment,
                Epoch {
                    number: rekey.epoch,
                },
            );
            for member in &mut self.members {
                if rekey.lockboxes.contains_key(&member.key) {
                    member.allowed.insert(rekey.commitment);
                }
            }
        }
        Some(id)
    }

    /// `by` removes `node` and rekeys at once, as the app's "Remove from room" does.
    pub fn remove(&mut self, by: usize, node: usize) -> bool {
        let member = self.members[node].key;
        let history: BTreeSet<EventId> = self.client(node).history().ids().collect();
        if self
            .govern(by, Govern::Remove { member, seen: 0 })
            .is_none()
        {
            return false;
        }
        self.members[node].at_removal.get_or_insert(history);
        self.stats.removals += 1;
        self.rekey(by);
        true
    }

    /// The rank `node` has in its own view.
    pub fn own_rank(&self, node: usize) -> Option<Rank> {
        let client = self.client(node);
        let key = self.members[node].key;
        if client.governance().removed(&key).is_some() {
            return None;
        }
        client.governance().rank(&key)
    }

    /// The app's part after each drain: rekey when core says we should.
    pub fn rekey_where_due(&mut self) {
        for node in 0..self.net.nodes.len() {
            let now = self.net.now;
            if self.online(node) && self.net.nodes[node].client.should_rekey(now) {
                self.stats.rekeys_due += 1;
                self.rekey(node);
            }
        }
    }

    /// The server: takes every deposit, confirms it to its writer, and keeps it in its
    /// room's mailbox.
    pub fn collect_deposits(&mut self) {
        for node in 0..self.net.nodes.len() {
            let from = self.scanned[node];
            self.scanned[node] = self.net.nodes[node].events.len();
            let mut stored = Vec::new();
            for event in &self.net.nodes[node].events[from..] {
                if let ClientEvent::MailboxDeposit { seq, room, entry } = event {
                    let mailbox = self.mailboxes.entry(*room).or_default();
                    let seq_there = MailboxSeq::new(mailbox.len() as u64 + 1);
                    mailbox.push(MailboxItem {
                        seq: seq_there,
                        entry: entry.clone(),
                    });
                    stored.push(*seq);
                }
            }
            if !stored.is_empty() {
                self.with(node, |client, _, _| {
                    for seq in stored {
                        client.mailbox_stored(seq);
                    }
                });
            }
        }
    }

    /// `node` reads what is new in the mailboxes it has keys for: its epoch's, those of
    /// epochs it left, and, holding no epoch, its link's notice mailbox.
    pub fn fetch_mailboxes(&mut self, node: usize) {
        let client = self.client(node);
        let mut rooms: Vec<RoomId> = Vec::new();
        if client.epoch().is_some() {
            rooms.push(client.room_id());
        }
        rooms.extend(client.left_rooms());
        rooms.extend(client.notice_room());
        for room in rooms {
            let Some(mailbox) = self.mailboxes.get(&room) else {
                continue;
            };
            let cursor = self.cursors.entry((node, room)).or_insert(0);
            if *cursor >= mailbox.len() {
                continue;
            }
            let entries = mailbox[*cursor..].to_vec();
            *cursor = mailbox.len();
            self.with(node, |client, now, _| {
                client.handle_mailbox_entries(now, &entries);
            });
        }
    }

    /// The server's introductions: online pairs on one side of any partition, in the same
    /// room id, near each other in that room (each links to the next two after it, by
    /// index, among those there: a ring with chords, so every room is connected without
    /// a full mesh), and not verified to each other yet; a pair is introduced again after
    /// `RETRY` if its handshake did not verify.
    pub fn introduce(&mut self) {
        let now = self.net.now;
        let mut rooms: BTreeMap<(u8, RoomId), Vec<usize>> = BTreeMap::new();
        for node in 0..self.net.nodes.len() {
            if self.online(node) {
                rooms
                    .entry((self.side[node], self.client(node).room_id()))
                    .or_default()
                    .push(node);
            }
        }
        for ((_, room), there) in rooms {
            let n = there.len();
            if n < 2 {
                continue;
            }
            for (at, &a) in there.iter().enumerate() {
                for step in 1..=2.min(n - 1) {
                    let b = there[(at + step) % n];
                    let pair = (a.min(b), a.max(b));
                    let id_b = self.net.nodes[b].id;
                    let linked = self
                        .client(a)
                        .verified_peers()
                        .any(|(peer, _)| peer == id_b);
                    let recent = self
                        .introduced
                        .get(&pair)
                        .is_some_and(|(r, at)| *r == room && now < *at + RETRY);
                    if !linked && !recent {
                        self.net.disconnect(pair.0, pair.1);
                        self.net.connect(pair.0, pair.1);
                        self.introduced.insert(pair, (room, now));
                        self.observe();
                    }
                }
            }
        }
    }

    /// Cuts the network in two: every node goes to side 0 or 1 at random, and links across
    /// are cut.
    pub fn partition(&mut self) {
        self.stats.partitions += 1;
        for node in 0..self.side.len() {
            self.side[node] = self.net.random(2) as u8;
        }
        let pairs: Vec<(usize, usize)> = self.introduced.keys().copied().collect();
        for (a, b) in pairs {
            if self.side[a] != self.side[b] {
                self.net.disconnect(a, b);
                self.introduced.remove(&(a, b));
            }
        }
        self.observe();
    }

    pub fn heal(&mut self) {
        self.side.iter_mut().for_each(|side| *side = 0);
    }

    pub fn go_offline(&mut self, node: usize) {
        let tell = self.net.random(2) == 0;
        self.net.go_offline(node, tell);
        self.introduced.retain(|(a, b), _| *a != node && *b != node);
        self.observe();
    }

    pub fn come_back(&mut self, node: usize) {
        self.net.resume(node);
        self.observe();
    }

    /// The nodes online in their own view still in the room.
    pub fn active(&self) -> Vec<usize> {
        (0..self.net.nodes.len())
            .filter(|node| {
                self.online(*node)
                    && self.client(*node).epoch().is_some()
                    && self
                        .client(*node)
                        .governance()
                        .removed(&self.members[*node].key)
                        .is_none()
            })
            .collect()
    }

    /// Of `among`, those in the newest epoch any of them is in: who shares the current
    /// link (a member behind shares a link that leads to an epoch the room left).
    pub fn current(&self, among: &[usize]) -> Vec<usize> {
        let number = |node: usize| self.client(node).epoch().map(|(n, _)| n);
        let newest = among.iter().filter_map(|node| number(*node)).max();
        among
            .iter()
            .copied()
            .filter(|node| number(*node) == newest)
            .collect()
    }

    pub fn pick(&mut self, among: &[usize]) -> Option<usize> {
        if among.is_empty() {
            return None;
        }
        Some(among[self.net.random(among.len() as u64) as usize])
    }
}
