//! How a bundle's chains go into its entries (see the parent module): which events go is
//! decided by priority (the depositor's chain first, then the shortest chains, so a member
//! who makes its chain long is the one cut), the order they go in by Lamport time.
//!
//! The order is what keeps a bundle from carrying a removal's news past it. Its reader takes
//! the events in one by one and acts on each: a rekey sealed to it moves it, and then it
//! deposits bundles of its own, sealed to the members it counts in the room at that
//! moment. Were the chains laid one after another, it could hold an event written after a
//! removal (in an epoch the removed member never held) before the removal itself, and seal
//! it to the removed member (sim seed 466). In Lamport order, whatever the reader has taken
//! in when it acts holds every action written before any event it holds: a removal comes
//! before anything written by someone who had seen it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{BUNDLE_ENTRIES, Marks, Parts};
use crate::ids::MemberKey;
use crate::wire::bundle;

/// One event of a chain, as it goes into a bundle.
pub(in crate::client) struct Packed {
    /// Its author's sequence number.
    pub seq: u64,
    /// Its Lamport time.
    pub lamport: u64,
    /// Its bytes, as served.
    pub bytes: Vec<u8>,
}

/// Each author's events for a bundle, in chain order.
pub(in crate::client) type Chain = (MemberKey, Vec<Packed>);

/// Packs `chains` (each author's events in chain order, the chains in order of priority)
/// into a bundle's entries, each as full as `room` bytes of an entry allow (the events,
/// their lengths and count), at most [`BUNDLE_ENTRIES`] of them. Which events go: in the
/// chains' order, as many as fill all but one entry (an entry to spare for the reordering),
/// stopping at the first that does not fit. In what order: by Lamport time (then author),
/// each chain's own order kept whatever Lamport times its author wrote. Also returns how
/// far each author's chain went in.
pub(in crate::client) fn pack(chains: Vec<Chain>, room: usize) -> (Parts, Marks) {
    let room = room.saturating_sub(2);
    let by_priority = chains.iter().flat_map(|(_, events)| events.iter());
    let chosen = lay_out(by_priority, room, BUNDLE_ENTRIES - 1)
        .iter()
        .sum::<usize>();
    // Each chain cut to what was chosen of it.
    let mut left = chosen;
    let chains: Vec<(MemberKey, std::vec::IntoIter<Packed>)> = chains
        .into_iter()
        .map(|(author, mut events)| {
            events.truncate(left);
            left -= events.len();
            (author, events.into_iter())
        })
        .filter(|(_, events)| events.len() > 0)
        .collect();
    let merged = merge(chains);
    let sizes = lay_out(merged.iter().map(|(_, event)| event), room, BUNDLE_ENTRIES);
    let mut merged = merged.into_iter();
    let mut parts: Parts = Vec::with_capacity(sizes.len());
    let mut packed = Marks::new();
    for size in sizes {
        let part = (merged.by_ref().take(size))
            .map(|(author, event)| {
                packed.insert(author, event.seq);
                event.bytes
            })
            .collect();
        parts.push(part);
    }
    (parts, packed)
}

/// The chains' events in one sequence, by (Lamport time, author): at each step the head of
/// a chain with the least, so each chain keeps its order.
fn merge(chains: Vec<(MemberKey, std::vec::IntoIter<Packed>)>) -> Vec<(MemberKey, Packed)> {
    let mut chains: Vec<(MemberKey, std::iter::Peekable<std::vec::IntoIter<Packed>>)> = chains
        .into_iter()
        .map(|(author, events)| (author, events.peekable()))
        .collect();
    let mut heads: BinaryHeap<Reverse<(u64, MemberKey, usize)>> = BinaryHeap::new();
    for (idx, (author, events)) in chains.iter_mut().enumerate() {
        if let Some(event) = events.peek() {
            heads.push(Reverse((event.lamport, *author, idx)));
        }
    }
    let mut merged = Vec::new();
    while let Some(Reverse((_, author, idx))) = heads.pop() {
        let Some((_, events)) = chains.get_mut(idx) else {
            continue;
        };
        let Some(event) = events.next() else {
            continue;
        };
        merged.push((author, event));
        if let Some(next) = events.peek() {
            heads.push(Reverse((next.lamport, author, idx)));
        }
    }
    merged
}

/// How many of `events`, in order, go into each entry: each as full as `room` allows, at
/// most `entries` of them, stopping at the first event that does not fit.
fn lay_out<'a>(
    events: impl Iterator<Item = &'a Packed>,
    room: usize,
    entries: usize,
) -> Vec<usize> {
    let mut sizes: Vec<usize> = Vec::new();
    let (mut count, mut used) = (0, 0);
    for event in events {
        let cost = event.bytes.len() + bundle::BUNDLE_OVERHEAD_PER_EVENT;
        if used + cost > room && count > 0 {
            sizes.push(count);
            (count, used) = (0, 0);
        }
        if sizes.len() >= entries || cost > room || count >= usize::from(u16::MAX) {
            break;
        }
        count += 1;
        used += cost;
    }
    if count > 0 && sizes.len() < entries {
        sizes.push(count);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(author: u8, events: impl IntoIterator<Item = (u64, u64, usize)>) -> Chain {
        let events = events
            .into_iter()
            .map(|(seq, lamport, len)| Packed {
                seq,
                lamport,
                bytes: vec![author; len],
            })
            .collect();
        (MemberKey::from_bytes([author; 32]), events)
    }

    /// Room for the events of an entry sealed to 128 members.
    fn room() -> usize {
        crate::mailbox::MAX_PAYLOAD_LEN
            - (bundle::BUNDLE_HEADER_LEN - 2)
            - crate::wire::govern::MAX_LOCKBOXES * crate::wire::govern::LOCKBOX_LEN
    }

    /// Chains far beyond the bound: every entry fits; there are at most
    /// [`BUNDLE_ENTRIES`]; the first chain (the depositor's) goes in whole and the long one
    /// is cut, its mark saying how far it went.
    #[test]
    fn a_bundle_packs_into_bounded_entries_that_each_fit() {
        let chains = vec![
            chain(1, (1..=10).map(|seq| (seq, seq * 1_000, 17_000))),
            chain(2, (1..=2_000).map(|seq| (seq, seq, 1_000))),
        ];
        let (ours, long) = (chains[0].0, chains[1].0);
        let (parts, packed) = pack(chains, room());
        assert!(parts.len() <= BUNDLE_ENTRIES, "{} entries", parts.len());
        for part in &parts {
            let len = bundle::encode_events(part.iter().map(Vec::as_slice))
                .unwrap()
                .len();
            assert!(len <= room(), "{len} bytes");
        }
        let carried: usize = parts.iter().map(Vec::len).sum();
        assert_eq!(packed.get(&ours), Some(&10));
        let cut = packed.get(&long).copied().unwrap();
        assert!(cut > 0 && cut < 2_000, "{cut}");
        assert_eq!(carried as u64, 10 + cut);
    }

    /// The depositor's chain goes first in priority, but its events come after those of the
    /// others written before them (a removal the depositor saw before it rekeyed): in
    /// Lamport order, each chain in its own order even where its author wrote Lamport times
    /// that go back.
    #[test]
    fn a_bundle_lays_its_events_out_in_lamport_order() {
        let chains = vec![
            chain(1, [(4, 20, 10), (5, 30, 10)]),
            chain(2, [(7, 10, 10), (8, 25, 10), (9, 5, 10)]),
        ];
        let (parts, packed) = pack(chains, room());
        assert_eq!(parts.len(), 1);
        let authors: Vec<u8> = parts[0].iter().map(|bytes| bytes[0]).collect();
        assert_eq!(authors, [2, 1, 2, 2, 1]);
        assert_eq!(packed.get(&MemberKey::from_bytes([1; 32])), Some(&5));
        assert_eq!(packed.get(&MemberKey::from_bytes([2; 32])), Some(&9));
    }
}
