//! [`Held`]: a room's out-of-sequence events, waiting for the gap before them to fill,
//! bounded in bytes per author ([`MAX_HELD_BYTES_PER_AUTHOR`]) and per room
//! ([`MAX_HELD_BYTES`]).
//!
//! Each held event counts as its signed encoding, at least [`MIN_HELD_COST`] bytes (what
//! holding it costs besides), so the byte bounds also bound how many are held.
//!
//! **Fair share.** Keys are cheap (anyone holding the room secret makes new ones), so the
//! room's bound is shared the way the mailbox server shares its store: when it is full, an
//! event to hold evicts the events of the author holding the most, furthest ahead (highest
//! `seq`) first, and is refused only if its own author holds the most, or would once it is
//! held. A flood from many keys thus pushes out only its own events, or those of an author
//! holding more than each flooding key does. Nothing evicted is lost: a held event is ahead
//! of a gap, and catch-up asks a holder for everything after our mark, so it comes again in
//! sequence once the gap fills.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::VerifiedEvent;
use crate::ids::MemberKey;

/// How many bytes of out-of-sequence events are held per author (63 of the largest).
pub const MAX_HELD_BYTES_PER_AUTHOR: usize = 1 << 20;
/// How many bytes of out-of-sequence events are held in all, per room (shared fairly
/// between authors, see this module's docs).
pub const MAX_HELD_BYTES: usize = 8 << 20;
/// The least a held event counts for against the byte bounds: at most 2,048 events are
/// held per author and 16,384 per room.
pub const MIN_HELD_COST: usize = 512;

/// See the module documentation.
#[derive(Clone)]
pub(super) struct Held {
    by_author: HashMap<MemberKey, AuthorHeld>,
    /// `(cost, author)` of every author holding events: the largest holder is the last.
    by_cost: BTreeSet<(usize, MemberKey)>,
    /// Cost of every held event.
    cost: usize,
    max_per_author: usize,
    max: usize,
}

#[derive(Clone, Default)]
struct AuthorHeld {
    events: BTreeMap<u64, VerifiedEvent>,
    cost: usize,
}

impl Held {
    /// Nothing held, with the bounds above.
    pub(super) fn new() -> Held {
        Held::with_bounds(MAX_HELD_BYTES_PER_AUTHOR, MAX_HELD_BYTES)
    }

    fn with_bounds(max_per_author: usize, max: usize) -> Held {
        Held {
            by_author: HashMap::new(),
            by_cost: BTreeSet::new(),
            cost: 0,
            max_per_author,
            max,
        }
    }

    /// `author`'s held event `seq`.
    pub(super) fn get(&self, author: &MemberKey, seq: u64) -> Option<&VerifiedEvent> {
        self.by_author.get(author)?.events.get(&seq)
    }

    /// What every held event counts for, in bytes.
    pub(super) fn cost(&self) -> usize {
        self.cost
    }

    /// Holds `event` (of no held sequence number of its author), evicting others' events
    /// as the room's fair share allows. False, changing nothing, if there is no room for it.
    pub(super) fn hold(&mut self, event: VerifiedEvent) -> bool {
        let author = event.event().author;
        let cost = cost_of(&event);
        let theirs = self.by_author.get(&author).map_or(0, |held| held.cost) + cost;
        if theirs > self.max_per_author {
            return false;
        }
        let mut evicted = Vec::new();
        while self.cost + cost > self.max {
            // `author` holds `theirs - cost` now, so a larger holder is someone else.
            match self.by_cost.last().copied() {
                Some((largest, victim)) if largest > theirs => {
                    evicted.extend(self.change(victim, AuthorHeld::pop_last));
                }
                _ => {
                    for event in evicted {
                        self.put(event);
                    }
                    return false;
                }
            }
        }
        self.put(event);
        true
    }

    /// Removes and returns `author`'s held event `seq`.
    pub(super) fn take(&mut self, author: &MemberKey, seq: u64) -> Option<VerifiedEvent> {
        self.by_author.get(author)?.events.get(&seq)?;
        self.change(*author, |held| held.remove(seq))
    }

    /// Drops `author`'s held events numbered `from_seq` and beyond.
    pub(super) fn drop_from(&mut self, author: &MemberKey, from_seq: u64) {
        if self.by_author.contains_key(author) {
            self.change(*author, |held| {
                let dropped = held.events.split_off(&from_seq);
                held.cost -= dropped.values().map(cost_of).sum::<usize>();
            });
        }
    }

    /// Drops `author`'s held events numbered up to `up_to`.
    pub(super) fn drop_through(&mut self, author: &MemberKey, up_to: u64) {
        if self.by_author.contains_key(author) {
            self.change(*author, |held| {
                let kept = held.events.split_off(&up_to.saturating_add(1));
                let dropped = std::mem::replace(&mut held.events, kept);
                held.cost -= dropped.values().map(cost_of).sum::<usize>();
            });
        }
    }

    fn put(&mut self, event: VerifiedEvent) {
        self.change(event.event().author, |held| {
            held.cost += cost_of(&event);
            held.events.insert(event.event().seq, event);
        });
    }

    /// Runs `f` on `author`'s held events, keeping the index and total in step.
    fn change<R>(&mut self, author: MemberKey, f: impl FnOnce(&mut AuthorHeld) -> R) -> R {
        let held = self.by_author.entry(author).or_default();
        let before = held.cost;
        self.by_cost.remove(&(before, author));
        let result = f(held);
        let after = held.cost;
        self.cost = self.cost - before + after;
        if held.events.is_empty() {
            self.by_author.remove(&author);
        } else {
            self.by_cost.insert((after, author));
        }
        result
    }
}

impl AuthorHeld {
    fn pop_last(&mut self) -> Option<VerifiedEvent> {
        let (_, event) = self.events.pop_last()?;
        self.cost -= cost_of(&event);
        Some(event)
    }

    fn remove(&mut self, seq: u64) -> Option<VerifiedEvent> {
        let event = self.events.remove(&seq)?;
        self.cost -= cost_of(&event);
        Some(event)
    }
}

/// What holding `event` counts for.
fn cost_of(event: &VerifiedEvent) -> usize {
    event.bytes().len().max(MIN_HELD_COST)
}

#[cfg(test)]
impl Held {
    /// Held events per author, in key order, after checking that the index and totals
    /// agree with them.
    pub(super) fn checked(&self) -> BTreeMap<MemberKey, Vec<u64>> {
        let mut total = 0;
        for (author, held) in &self.by_author {
            let cost: usize = held.events.values().map(cost_of).sum();
            assert_eq!(cost, held.cost);
            assert!(cost <= self.max_per_author && !held.events.is_empty());
            assert!(self.by_cost.contains(&(cost, *author)));
            total += cost;
        }
        assert_eq!(
            (total, self.by_cost.len()),
            (self.cost, self.by_author.len())
        );
        assert!(self.cost <= self.max);
        self.by_author
            .iter()
            .map(|(author, held)| (*author, held.events.keys().copied().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Content, History, UnixMillis};
    use crate::identity::Identity;
    use crate::ids::RoomId;

    const ROOM: RoomId = RoomId::from_bytes([3; 32]);

    /// `n` short events (each counting [`MIN_HELD_COST`]) of author `id`, from seq 1.
    fn chain(id: u8, n: usize) -> Vec<VerifiedEvent> {
        let identity = Identity::from_seed([id; 32]);
        let mut history = History::new(ROOM);
        (0..n)
            .map(|_| {
                let content = Content::Profile { name: "a".into() };
                history.create(&identity, UnixMillis(0), content).unwrap()
            })
            .collect()
    }

    fn author(id: u8) -> MemberKey {
        Identity::from_seed([id; 32]).member_key()
    }

    /// Room for 8 events, 4 per author.
    fn small() -> Held {
        Held::with_bounds(4 * MIN_HELD_COST, 8 * MIN_HELD_COST)
    }

    #[test]
    fn a_full_room_evicts_the_largest_holder_furthest_ahead_first() {
        let mut held = small();
        for event in chain(1, 5).into_iter().skip(1) {
            assert!(held.hold(event));
        }
        let flood = chain(2, 5);
        for event in &flood[1..] {
            assert!(held.hold(event.clone()));
        }
        // Full: 2..=5 of each. A third author's event pushes out author 2's furthest
        // (the tie between 1 and 2 goes to the larger key, deterministically).
        let victim = author(1).max(author(2));
        let other = author(1).min(author(2));
        assert!(held.hold(chain(3, 2).remove(1)));
        let holding = held.checked();
        assert_eq!(holding[&victim], vec![2, 3, 4]);
        assert_eq!(holding[&other], vec![2, 3, 4, 5]);
        assert_eq!(holding[&author(3)], vec![2]);
        // Now `other` holds the most: its furthest goes next.
        assert!(held.hold(chain(4, 2).remove(1)));
        assert_eq!(held.checked()[&other], vec![2, 3, 4]);
        // Author 2 would hold the most with its event 5 again: refused, nothing changes.
        let before = held.checked();
        assert!(!held.hold(flood[4].clone()));
        assert_eq!(held.checked(), before);
    }

    #[test]
    fn a_refused_event_leaves_what_it_would_have_evicted() {
        // One large event needs two small ones evicted; after the first, its author would
        // hold the most, so nothing is evicted in the end.
        let mut held = Held::with_bounds(4 * MIN_HELD_COST, 6 * MIN_HELD_COST);
        for event in chain(1, 4).into_iter().skip(1) {
            assert!(held.hold(event));
        }
        for event in chain(2, 4).into_iter().skip(1) {
            assert!(held.hold(event));
        }
        let large = {
            let identity = Identity::from_seed([5; 32]);
            let mut history = History::new(ROOM);
            let text = "x".repeat(2 * MIN_HELD_COST);
            let content = |text: &str| Content::Text {
                text: text.to_owned(),
                reply_to: None,
                mentions: Vec::new(),
            };
            history
                .create(&identity, UnixMillis(0), content("1"))
                .unwrap();
            history
                .create(&identity, UnixMillis(0), content(&text))
                .unwrap()
        };
        assert!(cost_of(&large) > 2 * MIN_HELD_COST);
        let before = held.checked();
        assert!(!held.hold(large));
        assert_eq!(held.checked(), before);
    }
}
