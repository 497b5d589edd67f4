//! The one order of a room's governance actions ([`Governance::resolve`]): a graph of
//! "must come before" edges (each author's chain, each binding cut) ordered by room order,
//! cycles of cuts broken by seniority; and taking in one more action that comes last in it
//! without ordering again ([`Governance::append`]).

use std::collections::{BTreeMap, BTreeSet};

use super::{ActionRef, Govern, Governance, Joining, Outcome, Refusal, Settings, genesis_of};
use crate::history::OrderKey;
use crate::ids::{EventId, MemberKey, RoomId};

/// An action's place: its author and sequence number (one action per place).
pub(super) type Place = (MemberKey, u64);

/// The actions as a graph of "must come before" edges: each author's chain, and each cut
/// (an edge a cut made is listed in `cuts` under its action). Actions are numbered by place (their index in `nodes`), which makes every lookup of
/// the ordering an index, not a map search (it runs on every governance action a member
/// takes in).
pub(super) struct Graph<'a> {
    /// One action per place, in place order.
    pub(super) nodes: Vec<Node<'a>>,
    /// An edge made by a cut remembers the action that made it.
    edges: Vec<Edge>,
    /// Per action, while it is still to order: how many of its incoming live edges are
    /// unordered (`None`: ordered).
    waiting: Vec<Option<usize>>,
    /// How many actions are still to order.
    n_waiting: usize,
    /// The waiting actions nothing unordered must precede, in room order.
    ready: BTreeSet<(OrderKey, usize)>,
    /// Each action's outgoing edges (indices into `edges`).
    out: Vec<Vec<usize>>,
    /// The edges each action's cut made (indices into `edges`).
    cuts: Vec<Vec<usize>>,
    /// A cycle of cuts was broken.
    broken: bool,
}

/// What [`Governance::append`] needs to know of the order the actions held were put in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Tail {
    /// The latest room-order key of all actions held.
    last: Option<OrderKey>,
    /// Each author's latest sequence number among their actions.
    heads: BTreeMap<MemberKey, u64>,
    /// The cuts that bind (of actions by empowered authors, on someone else): the largest
    /// sequence number one of them says it saw of each member.
    cut_up_to: BTreeMap<MemberKey, u64>,
    /// A cycle of cuts was broken (seniority decided): nothing is appended after that.
    broken: bool,
}

impl Governance {
    /// Takes in `action` without ordering every action again, if it comes last in the one
    /// order: it is later in room order than every action held, its author's latest, no
    /// cut held puts it before anything, its own cut puts nothing after it, and it changes
    /// no rule of the ordering (a `Create` or `Promote` changes whose cuts bind, a
    /// `Configure` may change how epoch 0 began); and no cycle of cuts was ever broken
    /// (where one was, the order found so far could pick a later action while waiting).
    /// Then it is judged and applied after the rest, exactly as [`Governance::resolve`]
    /// would. Returns whether it did; if not, nothing changed and the caller resolves the
    /// whole set. A member takes in most actions as they are made, so this is the common
    /// case (issue 19: every action taken in resolved the room's governance again).
    pub fn append(&mut self, action: ActionRef<'_>) -> bool {
        let author = action.order.author;
        let tail = &self.tail;
        let last = !tail.broken
            && !self.outcomes.contains_key(&action.id)
            && tail.last.is_none_or(|last| action.order > last)
            && tail
                .heads
                .get(&author)
                .is_none_or(|head| action.order.seq > *head)
            && tail
                .cut_up_to
                .get(&author)
                .is_none_or(|seen| action.order.seq > *seen)
            && !matches!(
                action.what,
                Govern::Create { .. } | Govern::Promote { .. } | Govern::Configure(_)
            );
        let cut = self.binding_cut(&action);
        let precedes = cut
            .is_some_and(|(member, seen)| tail.heads.get(&member).is_some_and(|head| *head > seen));
        if !last || precedes {
            return false;
        }
        self.judge_next(action);
        self.tail.took(action, cut);
        true
    }

    /// `action`'s cut, if it binds: on someone else, by an empowered author.
    fn binding_cut(&self, action: &ActionRef<'_>) -> Option<(MemberKey, u64)> {
        let author = action.order.author;
        (action.what.cut())
            .filter(|(member, _)| *member != author && self.empowered.contains(&author))
    }
}

impl Tail {
    /// Notes `action` (with its binding `cut`) as held.
    fn took(&mut self, action: ActionRef<'_>, cut: Option<(MemberKey, u64)>) {
        self.last = self.last.max(Some(action.order));
        self.heads.insert(action.order.author, action.order.seq);
        if let Some((member, seen)) = cut {
            let up_to = self.cut_up_to.entry(member).or_insert(seen);
            *up_to = (*up_to).max(seen);
        }
    }
}

impl Governance {
    /// Takes in `action` where it precedes nothing held in the one order, without ordering
    /// every action again: as for [`Governance::append`] but for its room order, which may
    /// come before actions held (an action that took a while to reach us: most of those
    /// `append` cannot take, which resolved the whole set again). Such an action adds no
    /// edge out of it to the graph and changes none between the others, so the order found
    /// before stands, with `action` put before the first action that comes after it in room
    /// order once everything that must precede it is ordered (where the ordering would pick
    /// it); then every action is judged and applied again in that order, as
    /// [`Governance::resolve`] would. `held` gives every other action held, `lookup` one of
    /// them by id. Returns `None` if it cannot tell (nothing changed: the caller resolves
    /// the whole set), else whether an action held before changed outcome.
    pub fn insert<'a>(
        &mut self,
        action: ActionRef<'a>,
        held: impl IntoIterator<Item = ActionRef<'a>>,
        lookup: impl Fn(&EventId) -> Option<ActionRef<'a>>,
    ) -> Option<bool> {
        let (author, seq) = place(action);
        let tail = &self.tail;
        let head = tail.heads.get(&author).copied();
        let cut = self.binding_cut(&action);
        // Nothing after it: its author's latest, no cut held puts it before the cutter, its
        // own cut puts nothing after it; and it changes no rule of the ordering.
        let sink = !tail.broken
            && !self.outcomes.contains_key(&action.id)
            && head.is_none_or(|head| seq > head)
            && tail.cut_up_to.get(&author).is_none_or(|seen| seq > *seen)
            && cut.is_none_or(|(member, seen)| {
                tail.heads.get(&member).is_none_or(|head| *head <= seen)
            })
            && !matches!(
                action.what,
                Govern::Create { .. } | Govern::Promote { .. } | Govern::Configure(_)
            );
        if !sink {
            return None;
        }
        // What must precede it (by place): its author's latest action held, the cut
        // member's last action at or before its cut, and every binding cut of its author
        // that saw no action of theirs held (it is their first action after the cut).
        let mut before: Vec<Place> = Vec::new();
        before.extend(head.map(|head| (author, head)));
        let mut cut_before: Option<u64> = None;
        for other in held {
            if other.id == action.id
                || self.outcomes.get(&other.id) == Some(&Outcome::Refused(Refusal::Duplicate))
            {
                continue;
            }
            if let Some((member, seen)) = cut
                && other.order.author == member
                && other.order.seq <= seen
            {
                cut_before = cut_before.max(Some(other.order.seq));
            }
            if let Some((member, seen)) = self.binding_cut(&other)
                && member == author
                && head.is_none_or(|head| seen >= head)
            {
                before.push(place(other));
            }
        }
        if let (Some((member, _)), Some(seq)) = (cut, cut_before) {
            before.push((member, seq));
        }
        let ordered = self
            .order
            .iter()
            .map(lookup)
            .collect::<Option<Vec<ActionRef<'a>>>>()?;
        let mut governance = Governance::empty(self.genesis);
        governance.empowered = std::mem::take(&mut self.empowered);
        governance.founded_with_approval = self.founded_with_approval;
        governance.outcomes = std::mem::take(&mut self.outcomes);
        governance.tail = std::mem::take(&mut self.tail);
        governance.order.reserve(ordered.len() + 1);
        let mut changed = false;
        let mut placed = false;
        for next in ordered {
            if !placed && before.is_empty() && action.order < next.order {
                governance.judge_next(action);
                placed = true;
            }
            before.retain(|at| *at != place(next));
            changed |= governance.judge_next(next);
        }
        if !placed {
            governance.judge_next(action);
        }
        governance.tail.took(action, cut);
        *self = governance;
        Some(changed)
    }

    /// Orders `action` next: judges it, applies it if it takes effect, and records its
    /// outcome; returns whether that outcome differs from the one it had.
    fn judge_next(&mut self, action: ActionRef<'_>) -> bool {
        self.order.push(action.id);
        let outcome = match self.judge(self.genesis, &action) {
            Ok(()) => {
                self.apply(&action);
                Outcome::Applied
            }
            Err(refusal) => Outcome::Refused(refusal),
        };
        self.outcomes
            .insert(action.id, outcome)
            .is_some_and(|was| was != outcome)
    }
}

pub(super) struct Node<'a> {
    pub(super) action: ActionRef<'a>,
    /// Its cut's edges were dropped when a cycle was broken: it is refused.
    contested: bool,
}

struct Edge {
    from: usize,
    to: usize,
    live: bool,
}

fn place(action: ActionRef<'_>) -> Place {
    (action.order.author, action.order.seq)
}

// Every index here is one the graph made itself (a position in `nodes`, `edges`, `out` or
// `cuts`, all sized when it is built), never a number an action carries.
#[allow(clippy::indexing_slicing)]
impl<'a> Graph<'a> {
    pub(super) fn new(
        actions: impl IntoIterator<Item = ActionRef<'a>>,
        outcomes: &mut BTreeMap<EventId, Outcome>,
    ) -> Self {
        // One action per id, and per place: the smaller id wins a collision. An id names
        // one signed event, hence one place: copies of an action sort next to each other,
        // and equal ones in either order (the sort need not be stable).
        let mut sorted: Vec<ActionRef<'a>> = actions.into_iter().collect();
        sorted.sort_unstable_by(|a, b| place(*a).cmp(&place(*b)).then_with(|| a.id.cmp(&b.id)));
        let mut nodes: Vec<Node<'a>> = Vec::with_capacity(sorted.len());
        let mut previous: Option<EventId> = None;
        for action in sorted {
            if previous.replace(action.id) == Some(action.id) {
                continue;
            }
            if nodes
                .last()
                .is_some_and(|last| place(last.action) == place(action))
            {
                outcomes.insert(action.id, Outcome::Refused(Refusal::Duplicate));
                continue;
            }
            nodes.push(Node {
                action,
                contested: false,
            });
        }
        let n = nodes.len();
        Graph {
            nodes,
            edges: Vec::new(),
            waiting: vec![Some(0); n],
            n_waiting: n,
            ready: BTreeSet::new(),
            out: vec![Vec::new(); n],
            cuts: vec![Vec::new(); n],
            broken: false,
        }
    }

    /// What [`Governance::append`] needs of the order (once every action is taken).
    pub(super) fn tail(&self, empowered: &BTreeSet<MemberKey>) -> Tail {
        let mut tail = Tail {
            broken: self.broken,
            ..Tail::default()
        };
        for node in &self.nodes {
            let (order, author) = (node.action.order, node.action.order.author);
            tail.last = tail.last.max(Some(order));
            tail.heads.insert(author, order.seq);
            if let Some((member, seen)) = node.action.what.cut()
                && member != author
                && empowered.contains(&author)
            {
                let up_to = tail.cut_up_to.entry(member).or_insert(seen);
                *up_to = (*up_to).max(seen);
            }
        }
        tail
    }

    /// The index of the action at `at`.
    fn index(&self, at: Place) -> Option<usize> {
        self.nodes
            .binary_search_by(|node| place(node.action).cmp(&at))
            .ok()
    }

    /// Adds the chain edges, and the cut edges of actions by `empowered` authors.
    pub(super) fn link(&mut self, empowered: &BTreeSet<MemberKey>) {
        let mut edges = Vec::new();
        for to in 1..self.nodes.len() {
            let from = to - 1;
            if place(self.nodes[from].action).0 == place(self.nodes[to].action).0 {
                edges.push((from, to, None));
            }
        }
        for (at, node) in self.nodes.iter().enumerate() {
            let Some((member, seen)) = node.action.what.cut() else {
                continue;
            };
            let author = node.action.order.author;
            if !empowered.contains(&author) || member == author {
                continue;
            }
            // The member's last action at or before the cut comes before this one, and
            // their first after it comes after.
            let after = self
                .nodes
                .partition_point(|node| place(node.action) <= (member, seen));
            if let Some(before) = after.checked_sub(1)
                && place(self.nodes[before].action).0 == member
            {
                edges.push((before, at, Some(at)));
            }
            if after < self.nodes.len() && place(self.nodes[after].action).0 == member {
                edges.push((at, after, Some(at)));
            }
        }
        for (from, to, cut_of) in edges {
            let idx = self.edges.len();
            self.out[from].push(idx);
            if let Some(at) = cut_of {
                self.cuts[at].push(idx);
            }
            self.edges.push(Edge {
                from,
                to,
                live: true,
            });
            if let Some(count) = &mut self.waiting[to] {
                *count += 1;
            }
        }
        self.ready = (0..self.nodes.len())
            .filter(|at| self.waiting[*at] == Some(0))
            .map(|at| (self.nodes[at].action.order, at))
            .collect();
    }

    /// Drops edge `idx`: what it led to waits for one edge fewer, and is ready at none.
    fn release(&mut self, idx: usize) {
        let Some(edge) = self.edges.get_mut(idx).filter(|edge| edge.live) else {
            return;
        };
        edge.live = false;
        let to = edge.to;
        if let Some(Some(count)) = self.waiting.get_mut(to) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.ready.insert((self.nodes[to].action.order, to));
            }
        }
    }

    /// Whether the genesis's author's action right after its `Create` (in their chain, but
    /// for their Join) makes joining need approval.
    pub(super) fn founded_with_approval(&self, genesis: Option<RoomId>) -> bool {
        let create = self.nodes.iter().find(|node| {
            matches!(node.action.what, Govern::Create { nonce } if genesis == Some(genesis_of(&node.action.order.author, nonce)))
        });
        let Some((owner, seq)) = create.map(|node| place(node.action)) else {
            return false;
        };
        // The owner's own Join may come between (their client posts it on the Create).
        let mut next = seq.saturating_add(1);
        while let Some(at) = self.index((owner, next)) {
            match self.nodes[at].action.what {
                Govern::Join { .. } => next = next.saturating_add(1),
                Govern::Configure(Settings { joining, .. }) => {
                    return *joining == Joining::Approval;
                }
                _ => return false,
            }
        }
        false
    }

    /// The next action to judge: of those nothing unordered must precede, the first in room
    /// order. When every remaining action waits for another (a cycle of cuts), the cuts of
    /// the least senior author's action in the cycle are dropped and it is marked contested.
    pub(super) fn next(&mut self, seniority: impl Fn(&MemberKey) -> (u8, usize)) -> Option<usize> {
        loop {
            if self.n_waiting == 0 {
                return None;
            }
            if let Some((_, at)) = self.ready.first() {
                return Some(*at);
            }
            // Every waiting action is on or behind a cycle; only cut edges close cycles
            // (chains alone are ordered by seq). Drop the cuts of the least senior action
            // whose own cut lies on a cycle, the latest in room order on a tie.
            let waiting = (0..self.nodes.len()).filter(|at| self.waiting[*at].is_some());
            let victim = waiting
                .clone()
                .filter(|at| self.cut_on_cycle(*at))
                .max_by_key(|at| {
                    let order = self.nodes[*at].action.order;
                    (seniority(&order.author), order)
                });
            self.broken = true;
            let Some(victim) = victim else {
                // Unreachable (a cycle needs a cut edge); order the rest by room order anyway.
                return waiting.min_by_key(|at| self.nodes[*at].action.order);
            };
            self.nodes[victim].contested = true;
            for idx in self.cuts[victim].clone() {
                self.release(idx);
            }
        }
    }

    /// Whether one of the live edges `at`'s cut made closes a cycle.
    fn cut_on_cycle(&self, at: usize) -> bool {
        self.cuts[at]
            .iter()
            .map(|idx| &self.edges[*idx])
            .filter(|e| e.live)
            .any(|e| self.reaches(e.to, e.from))
    }

    /// Whether live edges lead from `from` to `to`.
    fn reaches(&self, from: usize, to: usize) -> bool {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![from];
        while let Some(at) = stack.pop() {
            if at == to {
                return true;
            }
            if std::mem::replace(&mut seen[at], true) {
                continue;
            }
            stack.extend(
                self.out[at]
                    .iter()
                    .map(|idx| &self.edges[*idx])
                    .filter(|e| e.live)
                    .map(|e| e.to),
            );
        }
        false
    }

    /// Marks `at` ordered and releases what waited for it; returns its action and whether
    /// it was contested.
    pub(super) fn take(&mut self, at: usize) -> (ActionRef<'a>, bool) {
        if self.waiting[at].take().is_some() {
            self.n_waiting -= 1;
        }
        let node = &self.nodes[at];
        let (action, contested) = (node.action, node.contested);
        self.ready.remove(&(action.order, at));
        for out_idx in 0..self.out[at].len() {
            self.release(self.out[at][out_idx]);
        }
        (action, contested)
    }
}
