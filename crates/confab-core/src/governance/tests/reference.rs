//! The ordering as it was before it numbered actions by place (maps keyed by place, every
//! action cloned): kept to check that the faster one decides everything the same.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::super::*;
use crate::history::OrderKey;
use crate::ids::{EventId, MemberKey, RoomId};

/// [`Governance::resolve`] as it was.
pub(super) fn resolve(
    genesis: Option<RoomId>,
    actions: impl IntoIterator<Item = Action>,
) -> Governance {
    let mut governance = Governance::resolve(genesis, []);
    let mut graph = Graph::new(actions, &mut governance.outcomes);
    // Cuts bind only actions that could carry authority: those of the genesis's author
    // and of anyone some action promotes. Anyone else's cuts could only be refused, and
    // would otherwise let them reorder other people's actions.
    let empowered: BTreeSet<MemberKey> = graph
        .nodes
        .values()
        .filter_map(|node| match node.action.what {
            Govern::Create { nonce }
                if genesis == Some(genesis_of(&node.action.order.author, &nonce)) =>
            {
                Some(node.action.order.author)
            }
            Govern::Promote { member, .. } => Some(member),
            _ => None,
        })
        .collect();
    graph.link(&empowered);
    governance.empowered = empowered;
    governance.founded_with_approval = graph.founded_with_approval(genesis);
    while let Some(at) = graph.next(|author| governance.seniority(author)) {
        let Some((action, contested)) = graph.take(at) else {
            continue;
        };
        governance.order.push(action.id);
        let outcome = if contested {
            Outcome::Refused(Refusal::Contested)
        } else {
            match governance.judge(genesis, &action.borrowed()) {
                Ok(()) => {
                    governance.apply(&action.borrowed());
                    Outcome::Applied
                }
                Err(refusal) => Outcome::Refused(refusal),
            }
        };
        governance.outcomes.insert(action.id, outcome);
    }
    governance
}

/// An action's place: its author and sequence number (one action per place).
type Place = (MemberKey, u64);

/// The actions as a graph of "must come before" edges: each author's chain, and each cut.
struct Graph {
    nodes: BTreeMap<Place, Node>,
    /// An edge made by a cut remembers the action that made it.
    edges: Vec<Edge>,
    /// Actions still to order, with how many of their incoming live edges are unordered.
    waiting: BTreeMap<Place, usize>,
    /// The waiting actions nothing unordered must precede, in room order.
    ready: BTreeSet<(OrderKey, Place)>,
    /// Each action's outgoing edges (indices into `edges`).
    out: BTreeMap<Place, Vec<usize>>,
}

struct Node {
    action: Action,
    /// Its cut's edges were dropped when a cycle was broken: it is refused.
    contested: bool,
}

struct Edge {
    from: Place,
    to: Place,
    /// The action whose cut made this edge (`None`: a chain edge).
    cut_of: Option<Place>,
    live: bool,
}

fn place(action: &Action) -> Place {
    (action.order.author, action.order.seq)
}

impl Graph {
    fn new(
        actions: impl IntoIterator<Item = Action>,
        outcomes: &mut BTreeMap<EventId, Outcome>,
    ) -> Self {
        // One action per id, and per place: the smaller id wins a collision.
        let mut by_id = BTreeMap::new();
        for action in actions {
            by_id.entry(action.id).or_insert(action);
        }
        let mut nodes = BTreeMap::new();
        for (id, action) in by_id {
            match nodes.entry(place(&action)) {
                Entry::Occupied(_) => {
                    outcomes.insert(id, Outcome::Refused(Refusal::Duplicate));
                }
                Entry::Vacant(slot) => {
                    slot.insert(Node {
                        action,
                        contested: false,
                    });
                }
            }
        }
        Graph {
            nodes,
            edges: Vec::new(),
            waiting: BTreeMap::new(),
            ready: BTreeSet::new(),
            out: BTreeMap::new(),
        }
    }

    /// Adds the chain edges, and the cut edges of actions by `empowered` authors.
    fn link(&mut self, empowered: &BTreeSet<MemberKey>) {
        let mut edges = Vec::new();
        let places: Vec<Place> = self.nodes.keys().copied().collect();
        for (from, to) in places.iter().zip(places.iter().skip(1)) {
            if from.0 == to.0 {
                edges.push((*from, *to, None));
            }
        }
        for (at, node) in &self.nodes {
            let Some((member, seen)) = node.action.what.cut() else {
                continue;
            };
            if !empowered.contains(&at.0) || member == at.0 {
                continue;
            }
            // The member's last action at or before the cut comes before this one, and
            // their first after it comes after.
            if let Some((before, _)) = self.nodes.range((member, 0)..=(member, seen)).next_back() {
                edges.push((*before, *at, Some(*at)));
            }
            let later = (
                Bound::Excluded((member, seen)),
                Bound::Included((member, u64::MAX)),
            );
            if let Some((after, _)) = self.nodes.range(later).next() {
                edges.push((*at, *after, Some(*at)));
            }
        }
        self.waiting = places.into_iter().map(|p| (p, 0)).collect();
        for (from, to, cut_of) in edges {
            self.out.entry(from).or_default().push(self.edges.len());
            self.edges.push(Edge {
                from,
                to,
                cut_of,
                live: true,
            });
            *self.waiting.entry(to).or_default() += 1;
        }
        self.ready = self
            .waiting
            .iter()
            .filter(|(_, count)| **count == 0)
            .filter_map(|(at, _)| Some((self.order_of(at)?, *at)))
            .collect();
    }

    /// Drops edge `idx`: what it led to waits for one edge fewer, and is ready at none.
    fn release(&mut self, idx: usize) {
        let Some(edge) = self.edges.get_mut(idx).filter(|edge| edge.live) else {
            return;
        };
        edge.live = false;
        let to = edge.to;
        if let Some(count) = self.waiting.get_mut(&to) {
            *count = count.saturating_sub(1);
            if *count == 0
                && let Some(order) = self.order_of(&to)
            {
                self.ready.insert((order, to));
            }
        }
    }

    /// Whether the genesis's author's action right after its `Create` (in their chain, but
    /// for their Join) makes joining need approval.
    fn founded_with_approval(&self, genesis: Option<RoomId>) -> bool {
        let create = self.nodes.iter().find(|(at, node)| {
            matches!(node.action.what, Govern::Create { nonce } if genesis == Some(genesis_of(&at.0, &nonce)))
        });
        let Some(((owner, seq), _)) = create else {
            return false;
        };
        // The owner's own Join may come between (their client posts it on the Create).
        let mut next = seq.saturating_add(1);
        while let Some(node) = self.nodes.get(&(*owner, next)) {
            match node.action.what {
                Govern::Join { .. } => next = next.saturating_add(1),
                Govern::Configure(Settings { joining, .. }) => return joining == Joining::Approval,
                _ => return false,
            }
        }
        false
    }

    fn order_of(&self, at: &Place) -> Option<OrderKey> {
        self.nodes.get(at).map(|node| node.action.order)
    }

    /// The next action to judge: of those nothing unordered must precede, the first in room
    /// order. When every remaining action waits for another (a cycle of cuts), the cuts of
    /// the least senior author's action in the cycle are dropped and it is marked contested.
    fn next(&mut self, seniority: impl Fn(&MemberKey) -> (u8, usize)) -> Option<Place> {
        loop {
            if self.waiting.is_empty() {
                return None;
            }
            if let Some((_, at)) = self.ready.first() {
                return Some(*at);
            }
            // Every waiting action is on or behind a cycle; only cut edges close cycles
            // (chains alone are ordered by seq). Drop the cuts of the least senior action
            // whose own cut lies on a cycle, the latest in room order on a tie.
            let victim = self
                .waiting
                .keys()
                .copied()
                .filter(|at| self.cut_on_cycle(at))
                .max_by_key(|at| (seniority(&at.0), self.order_of(at)));
            let Some(victim) = victim else {
                // Unreachable (a cycle needs a cut edge); order the rest by room order anyway.
                return self
                    .waiting
                    .keys()
                    .copied()
                    .min_by_key(|at| self.order_of(at));
            };
            if let Some(node) = self.nodes.get_mut(&victim) {
                node.contested = true;
            }
            let cuts: Vec<usize> = (0..self.edges.len())
                .filter(|idx| {
                    self.edges
                        .get(*idx)
                        .is_some_and(|e| e.live && e.cut_of == Some(victim))
                })
                .collect();
            for idx in cuts {
                self.release(idx);
            }
        }
    }

    /// Whether one of the live edges `at`'s cut made closes a cycle.
    fn cut_on_cycle(&self, at: &Place) -> bool {
        self.edges
            .iter()
            .filter(|e| e.live && e.cut_of == Some(*at))
            .any(|e| self.reaches(e.to, e.from))
    }

    /// Whether live edges lead from `from` to `to`.
    fn reaches(&self, from: Place, to: Place) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(at) = stack.pop() {
            if at == to {
                return true;
            }
            if !seen.insert(at) {
                continue;
            }
            let out = self.out.get(&at).map_or(&[][..], Vec::as_slice);
            stack.extend(
                out.iter()
                    .filter_map(|idx| self.edges.get(*idx))
                    .filter(|e| e.live)
                    .map(|e| e.to),
            );
        }
        false
    }

    /// Marks `at` ordered and releases what waited for it; returns its action and whether
    /// it was contested.
    fn take(&mut self, at: Place) -> Option<(Action, bool)> {
        self.waiting.remove(&at);
        if let Some(order) = self.order_of(&at) {
            self.ready.remove(&(order, at));
        }
        for idx in self.out.get(&at).cloned().unwrap_or_default() {
            self.release(idx);
        }
        let node = self.nodes.get(&at)?;
        Some((node.action.clone(), node.contested))
    }
}
