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
//! An event's id is SHA-256 over the room id and its signed fields; its wall clock is shown,
//! never used to order. An author's events are accepted strictly in sequence (`prev` must
//! match, Lamport must grow); one ahead of a gap is held ([`MAX_AHEAD`] at most, and
//! bounded in bytes per author and per room with a fair share between keys: `held.rs`).
//! Nothing dropped is lost: catch-up asks for everything after our mark, so it comes again
//! in sequence. A bad signature or an undecodable event drops the link it came on
//! (`FailReason::Misbehaved`); one beyond the [`Horizon`] is taken later.
//!
//! Merge laws (tested with proptest): inserting the same set of events in any order, any
//! number of times, gives the same history; nothing valid is lost; an invalid or forged
//! event changes nothing.
//!
//! # Redaction (delete means delete)
//!
//! A version-2 event's redacted form (content erased, same id, still verifies) is
//! accepted like the full form: a peer may hold only that. Which form history keeps is
//! decided per id, whatever the arrival order: the redacted form once a valid `Delete`
//! (by the message's author, of a message or file) targets it or the author's edit of it,
//! for good (its content is gone, [`History::erased`]); otherwise the full form as soon as any arrives (a redacted
//! form nobody deleted is *unavailable*, [`History::unavailable`], and the client keeps
//! asking peers for the full one, so a member who drops content it had no right to drop
//! hides nothing for good). Each change of a stored form is listed for the store
//! ([`History::take_rewritten`]). Version-1 events sign their content and keep it. A
//! room's disappearing-messages timer erases the same way ([`expiry`]).
//!
//! # A removed member's events past their cut
//!
//! In a governed room a removal names the last of the removed member's events that counts
//! (its *cut*, `crate::governance`); what they wrote after it counts for nobody. History
//! does not judge that: a member that took such an event before it learned of the removal
//! (it was a member then, on its side of a partition) keeps it. Once the removal is known,
//! the client neither shows it (the timeline holds what counts) nor advertises nor serves
//! it (`client/sync.rs`, `served_up_to`), and takes no more of them (`admissible`), so
//! members agree on what counts and an honest member is never refused for forwarding it.
//! It is not dropped because "settled" has no exact meaning here: a removal loses if its
//! author was concurrently demoted or removed by someone more senior, and that action may
//! arrive any time later from a member who was cut off; then the event counts again, is
//! served again, and whoever kept it is how the room gets it back (nothing valid is lost;
//! the author may never come back). Rekeys do not settle it either: governance (epochs
//! included) is recomputed from the set of actions whenever one arrives.
//!
//! What it costs: a removed member can put events into a member's store only until that
//! member learns of the removal, i.e. what any member could write in that time (a removed
//! admin or owner, who may contest, is taken in for longer: `Governance::may_contest`).
//! The store holds what history holds, so a tab that dies anywhere restores the same.
//!
//! # Forks (equivocation)
//!
//! Two validly signed events of one author that cannot both be in one chain prove that the
//! author forked it at the later one's `seq`, *n*: two different events for one `seq`, or
//! an event for `seq` *k* + 1 that does not continue our event *k* (another `prev`, or no
//! later Lamport time). The author's events from *n* on are removed, on every branch, and
//! nothing of theirs at or beyond *n* is accepted again; events 1..*n*−1 stay and are still
//! caught up (a proof at a lower *n* lowers the cut). Everything is decided by the pair, so
//! members who see proofs in any order end with the same set (proptest
//! `forks_merge_to_the_same_history_in_any_order`). Keeping neither branch is the one
//! choice every member can make from the proof alone: both are signed, different members
//! saw different ones, and keeping either would split the room's history for good. A
//! profile whose own key is forked refuses to post (`SendError::ProfileForked`).
//!
//! Why the proof reaches every honest member that took a disputed event:
//! 1. A member that accepted any event at or after *n* advertises a mark ≥ *n*: on every
//!    link verification, to the event's author and the gossip peers after accepting, and
//!    to a random peer every anti-entropy interval.
//! 2. Any member holding the proof answers such a mark, and any event at or after *n*,
//!    with the proof (at once on learning it to every linked peer, then at most once an
//!    anti-entropy interval per link).
//! 3. Two linked members holding different branches find the fork without a proof: equal
//!    marks with different heads make the one fetch the other's event at that `seq` (a
//!    conflict); unequal marks make the shorter pull the longer's events, and the first
//!    that does not continue its chain is a proof by non-continuation (or, if the shorter
//!    held nothing past the split, it takes the other branch and the next comparison finds
//!    the split).
//! 4. A member holding nothing at or after *n* holds exactly what the proof leaves.
//!
//! So every disputed event is held by members who advertise it, and advertising it draws
//! the proof or the other branch from any linked neighbour that has either; the proof
//! follows every branch along the paths the branch took, and anti-entropy keeps retrying
//! over lossy links. As long as honest members stay connected over time, the proof and the
//! cut reach them all; below the cut, equal marks with different heads keep being compared
//! until all agree. The 50-member simulation's adversary forks into two branches after a
//! common prefix and sends each to half of its peers (seeds 1057 and 2899 replay as a
//! regression test).

mod event;
pub mod expiry;
mod held;
mod timeline;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;

pub use event::{Content, Event, EventError, OrderKey, UnixMillis, VerifiedEvent};
pub use held::{MAX_HELD_BYTES, MAX_HELD_BYTES_PER_AUTHOR, MIN_HELD_COST};
pub use timeline::{GovernNotice, Reaction, Timeline, TimelineChange, TimelineMessage};

use crate::identity::Identity;
use crate::ids::{EventId, IdHash, MemberKey, RoomId};
use crate::wire::{self, Mark};

/// How far ahead of an author's mark an event may be and still be held for later.
pub const MAX_AHEAD: u64 = 4096;
/// How far an event's Lamport time may run ahead of the receiver's wall clock, in
/// milliseconds (see [`Horizon`]).
pub const MAX_AHEAD_OF_CLOCK_MS: u64 = 60 * 60 * 1000;
/// Lamport ticks per millisecond of wall-clock time allowed to an attacker: Lamport times
/// are bounded by `wall_ms << 16` (see [`Horizon`]).
pub const LAMPORT_SHIFT: u32 = 16;

/// The largest Lamport time an event from a peer may carry to be taken now: the
/// receiver's wall clock plus [`MAX_AHEAD_OF_CLOCK_MS`], in units of 2^-16 ms. This is
/// the maximum offset of a hybrid logical clock (Kulkarni et al.; CockroachDB's
/// `max-offset`): without it one signed event at Lamport `u64::MAX - 1` would leave no
/// successor for anyone. With it a member can push Lamport times ahead only as fast as
/// real time passes (2^64 ticks take about 8,900 years), while honest events keep
/// `max_lamport + 1` and never read a clock. An event beyond the horizon is refused as
/// "not yet" ([`EventError::NotYet`]): nothing is stored, and once the receiver's clock
/// passes it, it is accepted like any other, so members converge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Horizon(u64);

/// The outcome of [`History::insert`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Already held.
    Duplicate,
    /// Accepted, followed by any held events it made contiguous, in acceptance order.
    Accepted(Vec<EventId>),
    /// The author signed two events that cannot both belong to one chain (two with one
    /// sequence number, or one that does not continue its predecessor): that pair is
    /// proof they forked their chain at `from_seq`. Their events from `from_seq` on were
    /// removed and none at or beyond it will be accepted again; those before it are the
    /// same on every branch and stay. Members who see the proof all do the same, so
    /// they agree again.
    Equivocation {
        /// The author.
        author: MemberKey,
        /// The first sequence number in dispute.
        from_seq: u64,
        /// Events this insert accepted before the proof turned up (below `from_seq`).
        accepted: Vec<EventId>,
        /// Their events that were accepted and are now gone, in sequence.
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

/// Why [`History::create`] could not write an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// Our own chain was proven forked: this key signed two different events with one
    /// sequence number (the profile was used in two places). Anything we signed now
    /// would be refused by every member.
    #[error("this identity's history was forked")]
    Forked,
    /// No sequence number or Lamport time is left (2^64 events, or 8,900 years of a
    /// room's clock).
    #[error("this room's history is exhausted")]
    Exhausted,
}

/// A room's events; see the module documentation.
#[derive(Clone)]
pub struct History {
    room: RoomId,
    events: HashMap<EventId, VerifiedEvent, IdHash>,
    /// The ids of `events` by a keyed hash of their bytes (as first held, or as filled
    /// in or redacted): [`History::verify`] hands back a copy it holds byte for byte
    /// without decoding or hashing it again. An entry whose event left or changed form
    /// finds no match, and the copy is checked as any other.
    by_bytes: HashMap<u64, EventId, IdHash>,
    /// The key of `by_bytes`'s hash.
    bytes_key: IdHash,
    logs: HashMap<MemberKey, AuthorLog>,
    order: BTreeMap<OrderKey, EventId>,
    /// The governance actions (`Content::Govern`) among them, in room order: what the
    /// client resolves the room's governance from on every action it takes in.
    governed: BTreeMap<OrderKey, EventId>,
    max_lamport: u64,
    /// Out-of-sequence events, bounded and shared fairly (see [`held`]).
    held: held::Held,
    /// Authors proven to fork their chain, with the proof: two events that cannot both
    /// belong to one chain, the later of whose sequence numbers is the first in dispute.
    banned: BTreeMap<MemberKey, [VerifiedEvent; 2]>,
    /// Messages a valid `Delete` targets or a disappearing-messages timer erased
    /// ([`History::expire`]): kept redacted whatever form arrives.
    erased: HashSet<EventId, IdHash>,
    /// Held in redacted form though nothing deleted them, by author and sequence number.
    unavailable: BTreeSet<(MemberKey, u64, EventId)>,
    /// Events whose stored form changed, until the store is told.
    rewritten: Vec<EventId>,
    /// Messages under a disappearing-messages timer, by when they fall due.
    expiry: expiry::Index,
}

#[derive(Clone, Default)]
struct AuthorLog {
    /// Ids of events 1..=mark.
    chain: Vec<EventId>,
    last_lamport: u64,
}

impl Horizon {
    /// No bound: for our own events restored from our store (we wrote them under the
    /// rule), and for tests.
    pub const UNBOUNDED: Horizon = Horizon(u64::MAX);

    /// The horizon for a receiver whose wall clock reads `wall`.
    pub fn at(wall: UnixMillis) -> Horizon {
        let ms = wall.0.saturating_add(MAX_AHEAD_OF_CLOCK_MS);
        Horizon(ms.saturating_mul(1 << LAMPORT_SHIFT))
    }

    /// The largest Lamport time accepted.
    pub fn lamport(self) -> u64 {
        self.0
    }
}

impl History {
    /// An empty history for `room` (events signed for another room never verify).
    pub fn new(room: RoomId) -> History {
        History {
            room,
            events: HashMap::default(),
            by_bytes: HashMap::default(),
            bytes_key: IdHash::default(),
            logs: HashMap::new(),
            order: BTreeMap::new(),
            governed: BTreeMap::new(),
            max_lamport: 0,
            held: held::Held::new(),
            banned: BTreeMap::new(),
            erased: HashSet::default(),
            unavailable: BTreeSet::new(),
            rewritten: Vec::new(),
            expiry: expiry::Index::default(),
        }
    }

    /// Whether a valid `Delete` targets `id` or its timer ran out (its content is erased,
    /// or will be as soon as it arrives).
    pub fn erased(&self, id: &EventId) -> bool {
        self.erased.contains(id)
    }

    /// Events held only in redacted form though nothing deleted them (author, sequence
    /// number, id), in key order: their full form is still to be fetched.
    pub fn unavailable(&self) -> impl Iterator<Item = (MemberKey, u64, EventId)> + '_ {
        self.unavailable.iter().copied()
    }

    /// The events whose stored form changed since the last call (redacted once deleted,
    /// or filled in when the full form of an unavailable one arrived), as held now.
    pub fn take_rewritten(&mut self) -> Vec<VerifiedEvent> {
        let ids = std::mem::take(&mut self.rewritten);
        let mut seen = HashSet::new();
        ids.into_iter()
            .filter(|id| seen.insert(*id))
            .filter_map(|id| self.events.get(&id).cloned())
            .collect()
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

    /// Decodes and checks a signed event received for this room, as
    /// [`VerifiedEvent::verify`], but without checking the signature of an event we hold
    /// with the same signed part (it was checked when it came in, or written by us), in
    /// either form: members hear of each event from several peers and the mailbox (whose
    /// bundles carry messages redacted), and the check is the costliest part of taking
    /// one in.
    ///
    /// A copy identical to one held, byte for byte (most of what comes in: an event
    /// arrives ~20 times in the governance simulation, where decoding and hashing these
    /// copies again was ~6 % of the CPU), is that event.
    pub fn verify(&self, bytes: &[u8]) -> Result<VerifiedEvent, EventError> {
        if let Some(held) = self
            .by_bytes
            .get(&self.bytes_key.hash_one(bytes))
            .and_then(|id| self.events.get(id))
            .filter(|held| held.bytes() == bytes)
        {
            return Ok(held.clone());
        }
        VerifiedEvent::verify_unless_held(&self.room, bytes, |id, signed| {
            self.events
                .get(id)
                .is_some_and(|held| held.bytes().starts_with(signed))
        })
    }

    /// Holds `event` (accepted, or in another form), findable by its bytes.
    fn keep(&mut self, event: VerifiedEvent) {
        self.by_bytes
            .insert(self.bytes_key.hash_one(event.bytes()), event.id());
        self.events.insert(event.id(), event);
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

    /// The accepted governance actions (`Content::Govern` events) in room order, as
    /// [`History::iter`] filtered, without visiting the rest.
    pub fn governance(&self) -> impl Iterator<Item = &VerifiedEvent> {
        self.governed.values().filter_map(|id| self.events.get(id))
    }

    /// The room-order keys of the governance actions accepted, in room order: their
    /// authors and sequence numbers without looking each event up.
    pub fn governance_keys(&self) -> impl Iterator<Item = &OrderKey> {
        self.governed.keys()
    }

    /// How many governance actions are accepted.
    pub fn n_governance(&self) -> usize {
        self.governed.len()
    }

    /// Whether `author` was proven to fork their chain.
    pub fn is_banned(&self, author: &MemberKey) -> bool {
        self.banned.contains_key(author)
    }

    /// The first of `author`'s sequence numbers proven forked: nothing of theirs from
    /// there on is accepted.
    pub fn forked_from(&self, author: &MemberKey) -> Option<u64> {
        self.banned.get(author).map(fork_seq)
    }

    /// The proof that `author` forked their chain: two of their events that cannot both
    /// belong to it.
    pub fn proof(&self, author: &MemberKey) -> Option<&[VerifiedEvent; 2]> {
        self.banned.get(author)
    }

    /// The largest Lamport time seen.
    pub fn max_lamport(&self) -> u64 {
        self.max_lamport
    }

    /// Our next event comes after Lamport time `lamport` (a governed room's newcomer stamps
    /// its Join with its wall clock, so it follows everything said before it came).
    pub(crate) fn witness_lamport(&mut self, lamport: u64) {
        self.max_lamport = self.max_lamport.max(lamport.min(u64::MAX - 2));
    }

    /// Bytes out-of-sequence events held count for (see [`MIN_HELD_COST`]).
    pub fn held_bytes(&self) -> usize {
        self.held.cost()
    }

    /// Signs a new event by `identity` that follows its chain and everything seen, and
    /// accepts it. `identity` must be the one this history's own events are written by.
    ///
    /// The event continues our chain by construction (the next `seq`, our head as `prev`,
    /// a Lamport time above everything seen, hence above our own last one), so it is
    /// appended without the checks peers' events go through: what `create` returns is
    /// always in this history.
    pub fn create(
        &mut self,
        identity: &Identity,
        sent_at: UnixMillis,
        content: Content,
    ) -> Result<VerifiedEvent, CreateError> {
        let author = identity.member_key();
        if self.banned.contains_key(&author) {
            return Err(CreateError::Forked);
        }
        let (mark, prev) = self.logs.get(&author).map_or((0, EventId::GENESIS), |log| {
            (
                log.chain.len() as u64,
                log.chain.last().copied().unwrap_or(EventId::GENESIS),
            )
        });
        let seq = mark.checked_add(1).ok_or(CreateError::Exhausted)?;
        // `u64::MAX` never decodes, so the largest usable time is one below it.
        let lamport = self
            .max_lamport
            .checked_add(1)
            .filter(|lamport| *lamport < u64::MAX)
            .ok_or(CreateError::Exhausted)?;
        let event = Event {
            author,
            seq,
            lamport,
            prev,
            sent_at,
            content,
        };
        let signed = VerifiedEvent::sign(identity, &self.room, event);
        self.append(signed.clone());
        Ok(signed)
    }

    /// Adds a verified event (see [`VerifiedEvent::verify`]) from a peer, whose Lamport
    /// time must not pass `horizon` (give [`Horizon::UNBOUNDED`] for our own stored
    /// events). A refused event leaves the history exactly as it was.
    pub fn insert(
        &mut self,
        event: VerifiedEvent,
        horizon: Horizon,
    ) -> Result<Inserted, EventError> {
        if let Some(held) = self.events.get(&event.id()) {
            // The full form of an event held redacted though nobody deleted it fills it in.
            if held.is_redacted() && !event.is_redacted() && !self.erased.contains(&event.id()) {
                let fields = event.event();
                self.unavailable
                    .remove(&(fields.author, fields.seq, event.id()));
                self.rewritten.push(event.id());
                self.keep(event);
            }
            return Ok(Inserted::Duplicate);
        }
        let fields = event.event();
        let (author, seq, lamport) = (fields.author, fields.seq, fields.lamport);
        // Invalid whatever else is known: no chain starts elsewhere.
        if seq == 1 && fields.prev != EventId::GENESIS {
            return Err(EventError::Chain);
        }
        if self
            .forked_from(&author)
            .is_some_and(|from_seq| seq >= from_seq)
        {
            return Err(EventError::Banned);
        }
        let empty = AuthorLog::default();
        let log = self.logs.get(&author).unwrap_or(&empty);
        let mark = log.chain.len() as u64;
        if seq <= mark {
            // A different event where we hold one: a fork.
            return match self.chain_event(log, seq) {
                Some(ours) => Ok(self.ban(author, [ours, event], Vec::new())),
                None => Err(EventError::Conflict { seq }),
            };
        }
        if seq == mark + 1 {
            if !continues(log, &event) {
                // Signed by the author, yet not after their event `mark`: a fork.
                return match self.chain_event(log, mark) {
                    Some(ours) => Ok(self.ban(author, [ours, event], Vec::new())),
                    None => Err(EventError::Chain),
                };
            }
            if lamport > horizon.0 {
                return Err(EventError::NotYet { lamport });
            }
            let accepted = vec![event.id()];
            self.append(event);
            return Ok(self.release_held(author, accepted));
        }
        if seq > mark + MAX_AHEAD {
            return Err(EventError::TooFarAhead { seq });
        }
        if let Some(held) = self.held.get(&author, seq) {
            if held.id() == event.id() {
                if !held.is_redacted() || event.is_redacted() {
                    return Ok(Inserted::Duplicate);
                }
                // The full form replaces a redacted one held (it may not fit: then it
                // comes again in sequence, like anything dropped).
                self.held.take(&author, seq);
                if !self.held.hold(event) {
                    return Err(EventError::HeldFull { seq });
                }
                return Ok(Inserted::Held {
                    author,
                    have: mark,
                    seq,
                });
            }
            let held = held.clone();
            return Ok(self.ban(author, [held, event], Vec::new()));
        }
        if lamport > horizon.0 {
            return Err(EventError::NotYet { lamport });
        }
        if !self.held.hold(event) {
            return Err(EventError::HeldFull { seq });
        }
        Ok(Inserted::Held {
            author,
            have: mark,
            seq,
        })
    }

    /// After `author`'s chain grew: accepts held events that are now next in line, until
    /// a gap, or until one does not continue the chain, which proves a fork there.
    fn release_held(&mut self, author: MemberKey, mut accepted: Vec<EventId>) -> Inserted {
        while let Some(log) = self.logs.get(&author) {
            let next = log.chain.len() as u64 + 1;
            let Some(held) = self.held.take(&author, next) else {
                break;
            };
            if !continues(log, &held) {
                let ours = self
                    .logs
                    .get(&author)
                    .and_then(|log| self.chain_event(log, next - 1));
                if let Some(ours) = ours {
                    return self.ban(author, [ours, held], accepted);
                }
                break;
            }
            accepted.push(held.id());
            self.append(held);
        }
        Inserted::Accepted(accepted)
    }

    /// `log`'s event `seq`, if accepted.
    fn chain_event(&self, log: &AuthorLog, seq: u64) -> Option<VerifiedEvent> {
        let idx = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.events.get(log.chain.get(idx)?).cloned()
    }

    /// `proof` shows that `author` forked their chain at its later sequence number, below
    /// any fork known before: removes their events from there on and refuses any from
    /// there on. Events before it are the same on every branch and stay.
    fn ban(
        &mut self,
        author: MemberKey,
        proof: [VerifiedEvent; 2],
        accepted: Vec<EventId>,
    ) -> Inserted {
        let from_seq = fork_seq(&proof);
        let mut removed = Vec::new();
        self.held.drop_from(&author, from_seq);
        if let Some(log) = self.logs.get_mut(&author) {
            let keep = usize::try_from(from_seq - 1).unwrap_or(usize::MAX);
            if keep < log.chain.len() {
                for id in log.chain.split_off(keep) {
                    if let Some(event) = self.events.remove(&id) {
                        self.by_bytes
                            .remove(&self.bytes_key.hash_one(event.bytes()));
                        self.order.remove(&event.event().order_key());
                        self.governed.remove(&event.event().order_key());
                        let seq = event.event().seq;
                        self.unavailable.remove(&(author, seq, id));
                        removed.push(id);
                    }
                }
            }
            log.last_lamport = log
                .chain
                .last()
                .and_then(|id| self.events.get(id))
                .map_or(0, |event| event.event().lamport);
        }
        self.banned.insert(author, proof);
        Inserted::Equivocation {
            author,
            from_seq,
            accepted,
            removed,
        }
    }

    fn append(&mut self, event: VerifiedEvent) {
        let id = event.id();
        let fields = event.event();
        let key = fields.order_key();
        self.max_lamport = self.max_lamport.max(fields.lamport);
        let log = self.logs.entry(fields.author).or_default();
        log.chain.push(id);
        log.last_lamport = fields.lamport;
        // Only `create` can pass a held event (one of ours from elsewhere): it is stale.
        let mark = log.chain.len() as u64;
        self.held.drop_through(&fields.author, mark);
        self.order.insert(key, id);
        if let Content::Govern(_) = fields.content {
            self.governed.insert(key, id);
        }
        let (author, seq) = (fields.author, fields.seq);
        let delete = match fields.content {
            Content::Delete { target } => Some(target),
            _ => None,
        };
        if event.is_redacted() {
            if self.erased.contains(&id) {
                // Nothing to fetch: a Delete we held (then lost to a fork cut) erased it.
            } else {
                self.unavailable.insert((author, seq, id));
            }
        }
        let event = match event.redacted() {
            Some(redacted) if self.erased.contains(&id) => redacted,
            _ => event,
        };
        let edit_of = event.edit_target();
        if !self.erased.contains(&id) {
            self.expiry.note(&event);
        }
        self.keep(event);
        if let Some(target) = delete {
            self.erase(author, target);
        }
        // An edit its author wrote after deleting the message goes the same way.
        if let Some(target) = edit_of
            && self.erased.contains(&target)
            && self
                .get(&target)
                .is_some_and(|m| m.event().author == author)
        {
            self.erase_one(id);
        }
    }

    /// A `Delete` by `author` of `target` was accepted: if `target` is one of `author`'s
    /// messages or files, its content is erased for good, and so is that of `author`'s
    /// edits of it.
    fn erase(&mut self, author: MemberKey, target: EventId) {
        let Some(held) = self.events.get(&target) else {
            return;
        };
        let fields = held.event();
        let message = matches!(
            fields.content,
            Content::Text { .. }
                | Content::File(_)
                | Content::Redacted {
                    kind: wire::event::KIND_TEXT | wire::event::KIND_FILE,
                    ..
                }
        );
        if fields.author != author || !message {
            return;
        }
        self.erase_one(target);
        // The author's edits of it carry its text too.
        let edits: Vec<EventId> = self
            .logs
            .get(&author)
            .map(|log| {
                log.chain
                    .iter()
                    .filter(|id| {
                        self.events
                            .get(id)
                            .is_some_and(|event| event.edit_target() == Some(target))
                    })
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        for edit in edits {
            self.erase_one(edit);
        }
    }

    /// Erases the content of the accepted event `id` for good (see [`History::erase`]).
    fn erase_one(&mut self, id: EventId) {
        let Some(held) = self.events.get(&id) else {
            return;
        };
        self.erased.insert(id);
        let (author, seq) = (held.event().author, held.event().seq);
        self.unavailable.remove(&(author, seq, id));
        if let Some(redacted) = held.redacted() {
            self.keep(redacted);
            self.rewritten.push(id);
        }
    }
}

/// The first sequence number a proof puts in dispute: the later of its two events'.
fn fork_seq(proof: &[VerifiedEvent; 2]) -> u64 {
    proof[0].event().seq.max(proof[1].event().seq)
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
                self.by_bytes
                    .remove(&self.bytes_key.hash_one(event.bytes()));
                self.order.remove(&event.event().order_key());
                self.governed.remove(&event.event().order_key());
                self.unavailable.remove(&(*author, event.event().seq, id));
                withdrawn.push(event);
            }
        }
        let last = log.chain.last().and_then(|id| self.events.get(id));
        log.last_lamport = last.map_or(0, |event| event.event().lamport);
        withdrawn
    }
}
