//! The Mesh harness of governance tests: clients linked pairwise as the server would link
//! them (see [`Mesh`]).

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::*;
use crate::governance::Settings;
use crate::identity::Identity;
use crate::ids::MemberKey;
use crate::{Output, PeerId};

/// Clients linked pairwise, as a room of several members (the Duo generalised). It models
/// the server: a pair that can reach each other is linked while both are in the same room
/// id (an epoch's), and linked again once both have moved to the same new one; a link a
/// client ended stays ended until then. Links made in one room are not cut when a client
/// moves (a direct link outlives the server room): ending them is the clients' rule.
pub(in crate::client) struct Mesh {
    pub(in crate::client) now: Instant,
    pub(in crate::client) clients: Vec<Client>,
    pub(in crate::client) events: Vec<Vec<ClientEvent>>,
    /// Which pairs are linked (smaller index first).
    pub(in crate::client) linked: std::collections::BTreeSet<(usize, usize)>,
    /// Which pairs can reach each other (smaller index first): the server links them
    /// whenever they are in the same room id.
    pub(in crate::client) reach: std::collections::BTreeSet<(usize, usize)>,
    /// The room id each pair was last linked in: the server introduces two members when
    /// one of them arrives in a room the other is in, not again while both stay.
    pub(in crate::client) introduced: std::collections::BTreeMap<(usize, usize), RoomId>,
    /// Routes (from, to) whose frames wait in `held`, in order, until [`Mesh::release`]: a
    /// slow direction of a link.
    pub(in crate::client) slow: std::collections::BTreeSet<(usize, usize)>,
    pub(in crate::client) held: Vec<(usize, usize, Vec<u8>)>,
    /// Bytes of the frames each client was handed.
    pub(in crate::client) received: Vec<usize>,
}

pub(in crate::client) fn peer(idx: usize) -> PeerId {
    PeerId::new(idx as u64 + 1)
}

impl Mesh {
    /// The owner (client 0) founds a room; the others open its invite.
    pub(in crate::client) fn found(n: usize) -> Mesh {
        let mut mesh = Mesh::found_with(Settings::default());
        for _ in 1..n {
            let all: Vec<usize> = (0..mesh.clients.len()).collect();
            mesh.arrive(&all);
        }
        mesh
    }

    /// The owner (client 0) founds a room with `settings`, alone.
    pub(in crate::client) fn found_with(settings: Settings) -> Mesh {
        let now = Instant::now();
        let mut owner = Client::found_with(
            Identity::from_seed([1; 32]),
            Mesh::config(0),
            [100; 32],
            now,
            UnixMillis(1),
            settings,
        )
        .unwrap();
        owner.run_without_store();
        Mesh {
            now,
            events: vec![Vec::new()],
            clients: vec![owner],
            linked: Default::default(),
            reach: Default::default(),
            introduced: Default::default(),
            slow: Default::default(),
            held: Vec::new(),
            received: vec![0],
        }
    }

    pub(in crate::client) fn config(idx: usize) -> Config {
        Config {
            display_name: format!("c{idx}"),
            ..Config::default()
        }
    }

    /// Someone opens the owner's invite and links to the clients `to`: its index.
    pub(in crate::client) fn arrive(&mut self, to: &[usize]) -> usize {
        self.arrive_by(0, to)
    }

    /// Someone opens the invite of client `by` and links to the clients `to`: its index.
    pub(in crate::client) fn arrive_by(&mut self, by: usize, to: &[usize]) -> usize {
        let invite = self.clients[by].invite();
        let idx = self.open(&invite);
        for &other in to {
            self.link(other, idx);
        }
        idx
    }

    /// A fresh client opens `invite` (the current link or an older one), linked to nobody:
    /// its index.
    pub(in crate::client) fn open(&mut self, invite: &crate::room::Invite) -> usize {
        self.open_at(invite, UnixMillis(5))
    }

    /// [`Mesh::open`] with the newcomer's wall clock reading `wall`.
    pub(in crate::client) fn open_at(
        &mut self,
        invite: &crate::room::Invite,
        wall: UnixMillis,
    ) -> usize {
        let idx = self.clients.len();
        let mut client = Client::new(
            Identity::from_seed([idx as u8 + 1; 32]),
            invite.link.clone(),
            Mesh::config(idx),
            [100 + idx as u8; 32],
        )
        .with_genesis(invite.genesis.unwrap());
        client.run_without_store();
        let now = self.now;
        client.restore(now, wall, std::iter::empty::<((), &[u8])>());
        self.add(client)
    }

    /// Takes in a client made elsewhere, linked to nobody: its index.
    pub(in crate::client) fn add(&mut self, client: Client) -> usize {
        self.clients.push(client);
        self.events.push(Vec::new());
        self.received.push(0);
        self.clients.len() - 1
    }

    /// What the app does for `members`, `rounds` times: read the mailbox of the room and of
    /// each epoch left, start the epoch `should_rekey` asks for, and let time pass.
    pub(in crate::client) fn settle(&mut self, members: &[usize], rounds: usize) {
        for _ in 0..rounds {
            for &idx in members {
                let now = self.now;
                let mut rooms = vec![self.clients[idx].room_id()];
                rooms.extend(self.clients[idx].left_rooms());
                for room in rooms {
                    let entries = self.mailbox(room);
                    self.clients[idx].handle_mailbox_entries(now, &entries);
                }
                self.pump();
                let now = self.now;
                if self.clients[idx].should_rekey(now) {
                    self.rekey(idx);
                }
            }
            self.wait(crate::Duration::from_secs(7));
        }
    }

    /// `i` and `j` can reach each other: linked now if they are in the same room id, else
    /// once they are.
    pub(in crate::client) fn link(&mut self, i: usize, j: usize) {
        self.reach.insert((i.min(j), i.max(j)));
        self.pump();
    }

    pub(in crate::client) fn unlink(&mut self, i: usize, j: usize) {
        let now = self.now;
        let pair = (i.min(j), i.max(j));
        self.reach.remove(&pair);
        self.introduced.remove(&pair);
        self.held
            .retain(|(from, to, _)| (*from.min(to), *from.max(to)) != pair);
        if self.linked.remove(&pair) {
            self.clients[i].remove_peer(now, peer(j));
            self.clients[j].remove_peer(now, peer(i));
        }
        self.pump();
    }

    pub(in crate::client) fn unlink_all(&mut self, i: usize) {
        for j in 0..self.clients.len() {
            self.unlink(i, j);
        }
    }

    /// The server's part: a link either client ended is gone (its transport closes); a
    /// pair that can reach each other and is in one room id it was not introduced in yet
    /// is linked (the smaller index initiates). Whether it linked any pair.
    pub(in crate::client) fn relink(&mut self) -> bool {
        let now = self.now;
        let ended: Vec<(usize, usize)> = self
            .linked
            .iter()
            .copied()
            .filter(|(i, j)| {
                !self.clients[*i].links.contains_key(&peer(*j))
                    || !self.clients[*j].links.contains_key(&peer(*i))
            })
            .collect();
        for (i, j) in ended {
            self.linked.remove(&(i, j));
            self.clients[i].remove_peer(now, peer(j));
            self.clients[j].remove_peer(now, peer(i));
        }
        let due: Vec<(usize, usize)> = self
            .reach
            .iter()
            .copied()
            .filter(|(i, j)| {
                let room = self.clients[*i].room_id();
                room == self.clients[*j].room_id() && self.introduced.get(&(*i, *j)) != Some(&room)
            })
            .collect();
        for &(i, j) in &due {
            self.clients[j].add_peer(now, peer(i), crate::Role::Responder);
            self.clients[i].add_peer(now, peer(j), crate::Role::Initiator);
            self.linked.insert((i, j));
            let room = self.clients[i].room_id();
            self.introduced.insert((i, j), room);
        }
        !due.is_empty()
    }

    /// What everyone deposited into `room`'s mailbox so far, as the server would hand it out.
    pub(in crate::client) fn mailbox(&self, room: RoomId) -> Vec<crate::signal::MailboxItem> {
        let entries = self
            .events
            .iter()
            .flatten()
            .filter_map(|event| match event {
                ClientEvent::MailboxDeposit { room: r, entry, .. } if *r == room => {
                    Some(entry.clone())
                }
                _ => None,
            });
        entries
            .enumerate()
            .map(|(i, entry)| crate::signal::MailboxItem {
                seq: crate::signal::MailboxSeq::new(i as u64 + 1),
                entry,
            })
            .collect()
    }

    pub(in crate::client) fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for idx in 0..self.clients.len() {
                loop {
                    match self.clients[idx].poll_output() {
                        Output::Transmit(t) => {
                            moved = true;
                            let to = t.peer.to_u64() as usize - 1;
                            let linked = self.linked.contains(&(idx.min(to), idx.max(to)));
                            if linked && self.slow.contains(&(idx, to)) {
                                self.held.push((idx, to, t.bytes));
                            } else if linked {
                                let now = self.now;
                                self.received[to] += t.bytes.len();
                                self.clients[to].handle_frame(now, peer(idx), &t.bytes);
                            }
                        }
                        Output::Event(e) => self.events[idx].push(e),
                        Output::Timeout(_) => break,
                    }
                }
            }
            // Quiet: frames already queued were delivered; now the server's part.
            if !moved && !self.relink() {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Frames from `from` to `to` wait until [`Mesh::release`].
    pub(in crate::client) fn slow_down(&mut self, from: usize, to: usize) {
        self.slow.insert((from, to));
    }

    /// Delivers, in order, what waited on the route from `from` to `to` (while it is still
    /// linked); it waits again from now on if `keep_slow`.
    pub(in crate::client) fn release(&mut self, from: usize, to: usize, keep_slow: bool) {
        if !keep_slow {
            self.slow.remove(&(from, to));
        }
        let (due, rest) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(f, t, _)| (*f, *t) == (from, to));
        self.held = rest;
        for (_, _, bytes) in due {
            if self.linked.contains(&(from.min(to), from.max(to))) {
                let now = self.now;
                self.received[to] += bytes.len();
                self.clients[to].handle_frame(now, peer(from), &bytes);
            }
        }
        self.pump();
    }

    /// Lets `by` pass and runs every client's timers (periodic sync among them).
    pub(in crate::client) fn wait(&mut self, by: crate::Duration) {
        let until = self.now + by;
        while self.now < until {
            self.now += crate::Duration::from_secs(1);
            let now = self.now;
            for client in &mut self.clients {
                client.handle_timeout(now);
            }
            self.pump();
        }
    }

    pub(in crate::client) fn key(&self, idx: usize) -> MemberKey {
        self.clients[idx].identity().member_key()
    }

    pub(in crate::client) fn texts(&self, idx: usize) -> Vec<String> {
        self.clients[idx]
            .messages()
            .into_iter()
            .filter(|m| m.notice.is_none())
            .map(|m| m.text)
            .collect()
    }

    pub(in crate::client) fn post(&mut self, idx: usize, text: &str) {
        let now = self.now;
        self.clients[idx]
            .send_text(now, UnixMillis(5), text)
            .unwrap();
        self.pump();
    }

    pub(in crate::client) fn govern(
        &mut self,
        idx: usize,
        what: Govern,
    ) -> Result<EventId, GovernError> {
        let now = self.now;
        let result = self.clients[idx].govern(now, UnixMillis(5), what);
        self.pump();
        result
    }

    pub(in crate::client) fn rekey(&mut self, idx: usize) -> EventId {
        let now = self.now;
        let id = self.clients[idx].rekey(now, UnixMillis(5)).unwrap();
        self.pump();
        id
    }

    /// Client `idx`'s tab reloads: a client made again from what it stored (its events and
    /// epoch), linked to nobody until [`Mesh::link`].
    pub(in crate::client) fn reload(&mut self, idx: usize) {
        self.unlink_all(idx);
        let old = &self.clients[idx];
        let (epoch, secret) = old.epoch().map(|(n, s)| (n, s.clone())).unwrap();
        let stored: Vec<Vec<u8>> = self.events[idx]
            .iter()
            .filter_map(|event| match event {
                ClientEvent::Persist { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect();
        let mut client = Client::new(
            Identity::from_seed([idx as u8 + 1; 32]),
            old.room.clone(),
            Mesh::config(idx),
            [150 + idx as u8; 32],
        )
        .with_genesis(old.governance().genesis().unwrap())
        .with_epoch(epoch, secret);
        let now = self.now;
        client.restore(
            now,
            UnixMillis(7),
            stored.iter().map(|b| ((), b.as_slice())),
        );
        client.run_without_store();
        self.clients[idx] = client;
        self.pump();
    }

    pub(in crate::client) fn epoch(&self, idx: usize) -> Option<u64> {
        self.clients[idx].epoch().map(|(n, _)| n)
    }
}
