//! [`History`]: a room's signed events, merged from whoever sends them into one order that
//! every member agrees on.
//!
//! Each author's events form a hash chain (`seq` 1, 2, ... each naming its predecessor's
//! id), so an author's events are accepted strictly in sequence: an event that arrives
//! ahead of a gap is held (bounded) until the gap fills. That makes "everything up to
//! `seq`" a complete description of what a member holds from an author (its *mark*), which
//! is what catch-up exchanges ([`crate::wire::Body::Have`]). The room order sorts by
//! [`OrderKey`] (Lamport time, author, seq), so two members holding the same events show
//! them in the same order, whatever order they arrived in.
//!
//! Merge laws (tested with proptest): inserting the same set of events in any order, any
//! number of times, gives the same history; nothing valid is lost; an invalid or forged
//! event changes nothing.

mod event;
mod timeline;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, HashMap};

pub use event::{Content, Event, EventError, OrderKey, UnixMillis, VerifiedEvent};
pub use timeline::{MessageView, Reaction, Timeline, TimelineChange};

use crate::identity::Identity;
use crate::ids::{EventId, MemberKey, RoomId};
use crate::wire::Mark;

/// How far ahead of an author's mark an event may be and still be held for later.
pub const MAX_AHEAD: u64 = 4096;
/// How many out-of-sequence events are held per author.
pub const MAX_HELD_PER_AUTHOR: usize = 1024;
/// How many out-of-sequence events are held in all.
pub const MAX_HELD: usize = 16 * 1024;

/// The outcome of [`History::insert`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Already held.
    Duplicate,
    /// Accepted, followed by any held events it made contiguous, in acceptance order.
    Accepted(Vec<EventId>),
    /// The author signed two different events with one sequence number: that pair is
    /// proof they equivocated. Every event of theirs was removed and none will be
    /// accepted again (members who see the proof all do the same, so they agree again).
    Equivocation {
        /// The author.
        author: MemberKey,
        /// Their events that were accepted and are now gone.
        removed: Vec<EventId>,
    },
    /// Held until `author`'s events `have + 1 .. seq` arrive.
    Held {
        /// The author.
        author: MemberKey,
        /// Our mark for them.
        have: u64,
        /// The held event's sequence number.
        seq: u64,
    },
}

/// A room's events; see the module documentation.
#[derive(Clone)]
pub struct History {
    room: RoomId,
    events: HashMap<EventId, VerifiedEvent>,
    logs: HashMap<MemberKey, AuthorLog>,
    order: BTreeMap<OrderKey, EventId>,
    max_lamport: u64,
    /// Held events over all authors.
    n_held: usize,
    /// Authors proven to equivocate, with the proof (two events, one `seq`).
    banned: BTreeMap<MemberKey, [VerifiedEvent; 2]>,
}

#[derive(Clone, Default)]
struct AuthorLog {
    /// Ids of events 1..=mark.
    chain: Vec<EventId>,
    last_lamport: u64,
    held: BTreeMap<u64, VerifiedEvent>,
}

impl History {
    /// An empty history for `room` (events signed for another room never verify).
    pub fn new(room: RoomId) -> History {
        History {
            room,
            events: HashMap::new(),
            logs: HashMap::new(),
            order: BTreeMap::new(),
            max_lamport: 0,
            n_held: 0,
            banned: BTreeMap::new(),
        }
    }

    /// The room this history belongs to.
    pub fn room(&self) -> &RoomId {
        &self.room
    }

    /// Accepted events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// No accepted events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// An accepted event.
    pub fn get(&self, id: &EventId) -> Option<&VerifiedEvent> {
        self.events.get(id)
    }

    /// Whether `id` is accepted.
    pub fn contains(&self, id: &EventId) -> bool {
        self.events.contains_key(id)
    }

    /// Every event of `author` up to this sequence number is held.
    pub fn mark(&self, author: &MemberKey) -> u64 {
        self.logs
            .get(author)
            .map_or(0, |log| log.chain.len() as u64)
    }

    /// Marks of every author with at least one accepted event, in key order.
    pub fn marks(&self) -> Vec<Mark> {
        let mut marks: Vec<Mark> = self
            .logs
            .keys()
            .filter_map(|author| self.mark_of(author))
            .collect();
        marks.sort_unstable_by_key(|mark| mark.author);
        marks
    }

    /// `author`'s mark with its head, if we hold any of their events.
    pub fn mark_of(&self, author: &MemberKey) -> Option<Mark> {
        let log = self.logs.get(author)?;
        let head = *log.chain.last()?;
        Some(Mark {
            author: *author,
            seq: log.chain.len() as u64,
            head,
        })
    }

    /// The id of `author`'s event `seq`, if accepted.
    pub fn id_at(&self, author: &MemberKey, seq: u64) -> Option<EventId> {
        let idx = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.logs.get(author)?.chain.get(idx).copied()
    }

    /// `author`'s accepted events `after + 1 ..= up_to`, in sequence.
    pub fn range(
        &self,
        author: &MemberKey,
        after: u64,
        up_to: u64,
    ) -> impl Iterator<Item = &VerifiedEvent> {
        let chain = self.logs.get(author).map_or(&[][..], |log| &log.chain[..]);
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(chain.len());
        let end = usize::try_from(up_to)
            .unwrap_or(usize::MAX)
            .clamp(start, chain.len());
        chain
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|id| self.events.get(id))
    }

    /// Accepted events in room order.
    pub fn iter(&self) -> impl Iterator<Item = &VerifiedEvent> {
        self.order.values().filter_map(|id| self.events.get(id))
    }

    /// Ids in room order.
    pub fn ids(&self) -> impl Iterator<Item = EventId> + '_ {
        self.order.values().copied()
    }

    /// Whether `author` was proven to equivocate.
    pub fn is_banned(&self, author: &MemberKey) -> bool {
        self.banned.contains_key(author)
    }

    /// The proof that `author` equivocated: two of their events with one `seq`.
    pub fn proof(&self, author: &MemberKey) -> Option<&[VerifiedEvent; 2]> {
        self.banned.get(author)
    }

    /// The largest Lamport time seen.
    pub fn max_lamport(&self) -> u64 {
        self.max_lamport
    }

    /// Signs a new event by `identity` that follows its chain and everything seen, and
    /// accepts it. `identity` must be the one this history's own events are written by.
    pub fn create(
        &mut self,
        identity: &Identity,
        sent_at: UnixMillis,
        content: Content,
    ) -> VerifiedEvent {
        let author = identity.member_key();
        let log = self.logs.entry(author).or_default();
        let event = Event {
            author,
            seq: log.chain.len() as u64 + 1,
            lamport: self.max_lamport.saturating_add(1).min(u64::MAX - 1),
            prev: log.chain.last().copied().unwrap_or(EventId::GENESIS),
            sent_at,
            content,
        };
        let signed = VerifiedEvent::sign(identity, &self.room, event);
        // Our own next event always continues our chain; any error would be a bug in
        // `create` and leaves the history unchanged.
        let _ = self.insert(signed.clone());
        signed
    }

    /// Adds a verified event (see [`VerifiedEvent::verify`]). A refused event leaves the
    /// history exactly as it was.
    pub fn insert(&mut self, event: VerifiedEvent) -> Result<Inserted, EventError> {
        if self.events.contains_key(&event.id()) {
            return Ok(Inserted::Duplicate);
        }
        let author = event.event().author;
        let seq = event.event().seq;
        if self.banned.contains_key(&author) {
            return Err(EventError::Banned);
        }
        let empty = AuthorLog::default();
        let log = self.logs.get(&author).unwrap_or(&empty);
        let mark = log.chain.len() as u64;
        if seq <= mark {
            let accepted = usize::try_from(seq - 1)
                .ok()
                .and_then(|idx| log.chain.get(idx))
                .and_then(|id| self.events.get(id))
                .cloned();
            return match accepted {
                Some(accepted) => Ok(self.ban(author, [accepted, event])),
                None => Err(EventError::Conflict { seq }),
            };
        }
        if seq > mark + 1 {
            if seq > mark + MAX_AHEAD {
                return Err(EventError::TooFarAhead { seq });
            }
            if let Some(held) = log.held.get(&seq) {
                if held.id() == event.id() {
                    return Ok(Inserted::Duplicate);
                }
                let held = held.clone();
                return Ok(self.ban(author, [held, event]));
            }
            if log.held.len() >= MAX_HELD_PER_AUTHOR || self.n_held >= MAX_HELD {
                return Err(EventError::TooFarAhead { seq });
            }
            self.n_held += 1;
            self.logs.entry(author).or_default().held.insert(seq, event);
            return Ok(Inserted::Held {
                author,
                have: mark,
                seq,
            });
        }
        if !continues(log, &event) {
            return Err(EventError::Chain);
        }
        let mut accepted = vec![event.id()];
        self.append(event);
        // Held events that are now next in line.
        while let Some(log) = self.logs.get_mut(&author) {
            let next = log.chain.len() as u64 + 1;
            let Some(held) = log.held.remove(&next) else {
                break;
            };
            self.n_held -= 1;
            if !continues(log, &held) {
                // An invalid successor held for later: drop it and anything after it.
                self.n_held -= log.held.len();
                log.held.clear();
                break;
            }
            accepted.push(held.id());
            self.append(held);
        }
        Ok(Inserted::Accepted(accepted))
    }

    /// Removes every event of `author` and refuses theirs from now on.
    fn ban(&mut self, author: MemberKey, proof: [VerifiedEvent; 2]) -> Inserted {
        let mut removed = Vec::new();
        if let Some(log) = self.logs.remove(&author) {
            self.n_held -= log.held.len();
            for id in log.chain {
                if let Some(event) = self.events.remove(&id) {
                    self.order.remove(&event.event().order_key());
                    removed.push(id);
                }
            }
        }
        self.banned.insert(author, proof);
        Inserted::Equivocation { author, removed }
    }

    fn append(&mut self, event: VerifiedEvent) {
        let id = event.id();
        let fields = event.event();
        let key = fields.order_key();
        self.max_lamport = self.max_lamport.max(fields.lamport);
        let log = self.logs.entry(fields.author).or_default();
        log.chain.push(id);
        log.last_lamport = fields.lamport;
        let mark = log.chain.len() as u64;
        let n_before = log.held.len();
        log.held.retain(|seq, _| *seq > mark);
        self.n_held -= n_before - log.held.len();
        self.order.insert(key, id);
        self.events.insert(id, event);
    }
}

/// Whether `event` is a valid successor of `log`'s last event.
fn continues(log: &AuthorLog, event: &VerifiedEvent) -> bool {
    let fields = event.event();
    let prev = log.chain.last().copied().unwrap_or(EventId::GENESIS);
    fields.seq == log.chain.len() as u64 + 1
        && fields.prev == prev
        && fields.lamport > log.last_lamport
}

impl History {
    /// Removes `author`'s accepted events after `after` (the newest first is fine: the
    /// chain is cut at `after`) and returns them in sequence. Only for our own events that
    /// never left this client (their write to the store failed, so nobody saw them and
    /// their numbers may be signed again); anyone else's chain is only ever extended.
    pub fn withdraw_tail(&mut self, author: &MemberKey, after: u64) -> Vec<VerifiedEvent> {
        let Some(log) = self.logs.get_mut(author) else {
            return Vec::new();
        };
        let keep = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(log.chain.len());
        let cut: Vec<EventId> = log.chain.split_off(keep);
        let mut withdrawn = Vec::with_capacity(cut.len());
        for id in cut {
            if let Some(event) = self.events.remove(&id) {
                self.order.remove(&event.event().order_key());
                withdrawn.push(event);
            }
        }
        let last = log.chain.last().and_then(|id| self.events.get(id));
        log.last_lamport = last.map_or(0, |event| event.event().lamport);
        withdrawn
    }
}
