//! [`Governance`]: who may do what in a room (its owner, admins and members, who was removed,
//! the room's epochs and settings), computed by every member from the same signed actions.
//!
//! # Model
//!
//! Governance actions are history events ([`crate::history`], `Content::Govern`, laid out in
//! `wire/govern.rs`): signed by their author, in the
//! author's hash chain, caught up and stored like messages. So every member eventually holds
//! the same set of actions, and [`Governance::resolve`] is a pure function of that set: the
//! same set gives every member the same ranks, removals, epoch and settings, whatever order
//! the actions arrived in (proptest `the_outcome_depends_only_on_the_set`).
//!
//! - **Authority traces back to the creator.** The invite link carries the room's lasting id,
//!   its *genesis*: the hash of the creator's key and a nonce ([`genesis_of`]), which every
//!   event of the room is signed over. The `Create` whose author and nonce hash to it is the
//!   only one that counts (nobody else can make one), and its author is the **owner**. Only the owner makes and unmakes **admins**; the owner and
//!   admins remove members (an admin may remove an admin, nobody the owner), start epochs,
//!   change settings and admit newcomers.
//! - **Leaving** is removing oneself, which anyone may do, the owner too: the room then has
//!   no owner (its admins go on removing, rekeying and admitting; nobody can make admins
//!   any more). As after any removal, [`Governance::needs_rekey`] holds until an admin
//!   starts a new epoch.
//! - **An action about a member says how much of that member it had seen.** `Promote`,
//!   `Demote`, `Remove` and `Admit` carry `seen`: the sequence number of the member's last event
//!   the author held. That is a causal cut: the member's events up to `seen` come before the
//!   action, those after it come after, whether or not the member had seen the action. A
//!   removed member's events after the cut are refused, messages included
//!   ([`Governance::accepts`]), and a demoted admin's later actions are judged as a member's.
//!   Chains cannot be rewritten (a second version of an event is a fork and bans its author
//!   from there on), so a member cannot backdate past a cut: this is the rule "actions
//!   concurrent with one's removal do not count" of @localfirst/auth, read from the hash
//!   chains history already has instead of a separate graph of parents.
//! - **One order.** The actions are put in one order that keeps each author's chain and every
//!   cut, and otherwise sorts by [`OrderKey`] (Lamport time, author, seq); then they are
//!   applied in that order, each checked against the ranks of that moment. Lamport times can
//!   be chosen by their author, but only the order of actions that no cut relates can be
//!   moved that way, and those do not decide each other's validity.
//! - **Concurrent conflicts resolve by seniority.** Two actions that each had not seen the
//!   other and each cut the other's author (two admins removing each other while partitioned;
//!   an admin demoting while being removed) cannot both come first. Of such a cycle, the
//!   action of the least senior author is refused: the owner is the most senior, then admins
//!   by when they became admin (earlier is more senior), then members. Every member breaks
//!   the cycle the same way because seniority is read from the order decided so far.
//! - **Epochs.** A `Rekey` starts epoch `n + 1` (a fresh secret sealed to its `holders`, which
//!   is not this module's business: see the room keys) and is valid only as the successor of
//!   the current epoch, so epochs form one chain; of two concurrent rekeys from one epoch the
//!   one ordered first wins and the other is refused as stale. A removal does not rekey by
//!   itself: [`Governance::needs_rekey`] says that a removed member still holds the current
//!   epoch's secret (a page closed between the two actions, or a rekey that lost the race
//!   did not know of a concurrent removal), and any admin's client then rekeys again. So an
//!   honest admin online always leads the room to an epoch no removed member holds.
//! - **Who a rekey is sealed to.** A member was given an epoch *by right* if a lockbox of it
//!   was sealed to them, or a member in good standing handed it to them (`Handover`, which
//!   the member who lets a newcomer in posts before it sends the secret, and which counts
//!   only up to its author's cut like any action), or they were admitted or promoted during
//!   it. The next rekey is sealed to them ([`Governance::entitled`]); one given it by right
//!   that the rekey did not seal to (its rekeyer had not seen the hand-over, or counted them
//!   removed by a removal that lost), or handed an epoch the room had already left (its
//!   hander had not moved yet), is *left out* ([`Governance::left_out`]): nobody hands them
//!   the current secret, and `needs_rekey` asks for the next, sealed to them. A `Join`
//!   entitles nobody: anyone who knows the genesis can sign one, with any Lamport time, and
//!   a removed member still reads old epochs' mailboxes, where members look for news; what
//!   that member hands over after its cut is refused. So a removed member can neither let
//!   anyone in nor make a key of its own sealed into the room, however early its clock.
//!   The one window left is a member in good standing that has not moved yet: what it hands
//!   over still counts (it could as well share the new link), but each late hand-over asks
//!   for a rekey, so only [`MAX_LATE_HANDOVERS`] of an author's count.
//! - **Removal is final for a key.** Nothing un-removes a member (an `Admit` or `Promote` of
//!   one is refused as a bad target), so nothing they write after their cut ever counts. A
//!   removed person comes back only as a new member: a fresh profile (a new key) opening
//!   the current link.
//! - **Settings** are last-writer-wins in the one order.
//! - **Members** announce themselves with `Join`, naming the X25519 key their lockboxes are
//!   sealed to (signed, so nobody can substitute another); where joining needs approval, it is
//!   the request an admin's `Admit` answers (Decline is a `Remove`). A `Join` needs no
//!   authority, so it counts wherever it is ordered: a newcomer posts it holding nothing of
//!   the room (and it gives no claim to any epoch: see above). [`Governance::needs_rekey`] knows who may hold the current secret: its
//!   lockboxes' holders, whoever was admitted or promoted during the epoch, and anyone removed
//!   during it if joining was open at some point of it (a room founded with approval, its
//!   `Configure` right after the `Create`, never was), so declining a newcomer needs no rekey.
//!
//! How this compares: MLS (RFC 9420) rekeys every epoch through a ratchet tree and relies on
//! a delivery service to order commits; Confab has no trusted orderer, so it orders actions
//! itself as above, rekeys by sealing one fresh secret to each remaining member (linear in
//! the room's size, fine at the sizes a browser room holds), and gets forward secrecy and
//! post-compromise security at epoch granularity only when an epoch changes. @localfirst/auth
//! (Quiet) keeps a signed graph of membership actions with parents and resolves concurrent
//! removals by seniority; this module takes the same rules, with cuts instead of parents.
//! Signal groups and Keybase teams rely on a server to order changes.
//!
//! Why not an MLS library (measured 2026-12-06, suite 0x0003 on the crates Confab already
//! ships, `wasm-opt -Oz`, gzip -9, against a 701 KB page): linking mls-rs 0.57 adds about
//! 151 KB (+22 %; 100 KB with a custom single-suite provider), openmls 0.9 about 370 KB
//! (+53 %: its provider keeps every ciphersuite, and it reads clock and randomness itself,
//! so it is not sans-IO). MLS would still need this module's ordering, which a decentralized
//! room must decide itself. This module, the lockboxes (`snow`'s Noise `N`, already linked)
//! and the wire format add only their own code.
//!
//! A room without a `Create` (every room made before roles, direct rooms) is ungoverned:
//! everyone with the link is a member and no action applies.

mod order;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::history::OrderKey;
use sha2::{Digest as _, Sha256};

use crate::ids::{EventId, MemberKey, RoomId};
pub use crate::wire::govern::{Backlog, Govern, Joining, Rekey, Settings};
use order::{Graph, Tail};

const GENESIS_CONTEXT: &[u8] = b"confab/v2/genesis";

/// A governed room's lasting id: what its owner's `Create` (`author`, `nonce`) hashes to. The
/// invite link carries it, and the room's events are signed over it.
pub fn genesis_of(owner: &MemberKey, nonce: &[u8; 32]) -> RoomId {
    let mut hash = Sha256::new();
    hash.update(GENESIS_CONTEXT);
    hash.update(owner.as_bytes());
    hash.update(nonce);
    RoomId::from_bytes(hash.finalize().into())
}

/// A member's standing in a governed room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    /// Created the room: every power, and nobody can remove them.
    Owner,
    /// Made admin by the owner: removes members, rekeys, changes settings, admits.
    Admin,
    /// Anyone else in the room.
    Member,
}

/// One governance action, as the history event that carries it names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// The event's id.
    pub id: EventId,
    /// Its place in room order; its author and sequence number.
    pub order: OrderKey,
    /// What it does.
    pub what: Govern,
}

/// An action as [`Governance::resolve_refs`] reads it: borrowed from the event that carries
/// it, so resolving what history holds copies nothing (a rekey carries a lockbox a member).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionRef<'a> {
    /// The event's id.
    pub id: EventId,
    /// Its place in room order; its author and sequence number.
    pub order: OrderKey,
    /// What it does.
    pub what: &'a Govern,
}

impl Action {
    /// This action, borrowed.
    pub fn borrowed(&self) -> ActionRef<'_> {
        ActionRef {
            id: self.id,
            order: self.order,
            what: &self.what,
        }
    }
}

/// What became of an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect.
    Applied,
    /// It did not, and why.
    Refused(Refusal),
}

/// Why an action did not take effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The room is ungoverned, or this `Create` does not hash to the room's genesis.
    NotGenesis,
    /// Its author was removed before it.
    AuthorRemoved,
    /// Its author's rank does not allow it.
    NoAuthority,
    /// It is about someone it cannot concern: the owner, a removed member, or its author
    /// (but for leaving: removing oneself).
    BadTarget,
    /// A rekey that does not continue the current epoch.
    StaleEpoch,
    /// It and another action each came before the other, and its author is the less senior.
    Contested,
    /// Another action has the same author and sequence number (history refuses such forks
    /// before they get here; kept only so the outcome stays defined).
    Duplicate,
    /// A hand-over of an epoch the room has left, past its author's [`MAX_LATE_HANDOVERS`].
    TooManyLateHandovers,
}

/// How many members one author may ever hand an epoch the room has left (see
/// [`Governance::left_out`]). Each makes its newcomer *left out*, which asks for a new
/// epoch sealed to them: unbounded, a member in good standing could hand old epochs to
/// keys it made up, one after each rekey, and so make the room rekey again and again, each
/// time sealed to more of them. An honest member hands over an old epoch only in the
/// moments between coming back with it and following the room to its latest epoch.
pub const MAX_LATE_HANDOVERS: usize = 16;

/// Who may hold the current epoch's secret besides its lockboxes' holders: members hand it
/// to whoever may read the room (anyone while joining is open, else the admitted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Exposure {
    /// Joining was open at some point of the epoch: anyone not removed before it began may
    /// hold the secret.
    open: bool,
    /// Handed the epoch's secret by a member ([`Govern::Handover`]), admitted or promoted
    /// during the epoch (and the owner, in epoch 0).
    readers: BTreeSet<MemberKey>,
    /// Removed during the epoch.
    removed: BTreeSet<MemberKey>,
}

/// The room's governance as its actions decide it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Governance {
    genesis: Option<RoomId>,
    owner: Option<MemberKey>,
    /// Admins, with when they became admin (their position in the order): the seniority.
    admins: BTreeMap<MemberKey, usize>,
    /// Removed members and the last of their events that counts.
    removed: BTreeMap<MemberKey, u64>,
    admitted: BTreeSet<MemberKey>,
    /// Who announced themselves (`Join`), with the key their lockboxes are sealed to.
    joined: BTreeMap<MemberKey, [u8; 32]>,
    /// Where each member's (first counted) `Join` stands in room order.
    join_places: BTreeMap<MemberKey, OrderKey>,
    epoch: u64,
    /// Who holds the current epoch's secret (`None`: epoch 0, everyone with the link).
    holders: Option<BTreeSet<MemberKey>>,
    /// The current epoch's commitment (`None`: epoch 0, which no rekey started).
    commitment: Option<[u8; 32]>,
    /// Who else may have been handed the current epoch's secret: everyone (`open`) if the
    /// room let anyone in at some point of the epoch, and those admitted or promoted in it.
    exposure: Exposure,
    /// The owner's action right after the `Create` asks for approval: epoch 0 was never open.
    founded_with_approval: bool,
    /// Members who had announced themselves and could read the room when the current epoch
    /// started, but got no lockbox: its rekeyer had not seen their `Join`, or counted them
    /// removed by a removal that lost.
    left_out: BTreeSet<MemberKey>,
    /// How many members each author left out by handing them an epoch the room had left
    /// ([`MAX_LATE_HANDOVERS`]).
    late_handovers: BTreeMap<MemberKey, usize>,
    settings: Settings,
    /// Whose cuts bind: the genesis's author and anyone some action promotes.
    empowered: BTreeSet<MemberKey>,
    outcomes: BTreeMap<EventId, Outcome>,
    /// The actions in the order they were judged.
    order: Vec<EventId>,
    /// What [`Governance::append`] needs to know of that order.
    tail: Tail,
}

impl Governance {
    /// The governance of the room `genesis` (`None`: an ungoverned room),
    /// given every governance action it holds, in any order.
    pub fn resolve(genesis: Option<RoomId>, actions: impl IntoIterator<Item = Action>) -> Self {
        let actions: Vec<Action> = actions.into_iter().collect();
        Self::resolve_refs(genesis, actions.iter().map(Action::borrowed))
    }

    /// The governance of the room `genesis` before any action.
    fn empty(genesis: Option<RoomId>) -> Self {
        Governance {
            genesis,
            owner: None,
            admins: BTreeMap::new(),
            removed: BTreeMap::new(),
            admitted: BTreeSet::new(),
            joined: BTreeMap::new(),
            join_places: BTreeMap::new(),
            epoch: 0,
            holders: None,
            commitment: None,
            exposure: Exposure::default(),
            founded_with_approval: false,
            left_out: BTreeSet::new(),
            late_handovers: BTreeMap::new(),
            settings: Settings::default(),
            empowered: BTreeSet::new(),
            outcomes: BTreeMap::new(),
            order: Vec::new(),
            tail: Tail::default(),
        }
    }

    /// As [`Governance::resolve`], from borrowed actions.
    pub fn resolve_refs<'a>(
        genesis: Option<RoomId>,
        actions: impl IntoIterator<Item = ActionRef<'a>>,
    ) -> Self {
        let mut governance = Governance::empty(genesis);
        let mut graph = Graph::new(actions, &mut governance.outcomes);
        // Cuts bind only actions that could carry authority: those of the genesis's author
        // and of anyone some action promotes. Anyone else's cuts could only be refused, and
        // would otherwise let them reorder other people's actions.
        let empowered: BTreeSet<MemberKey> = graph
            .nodes
            .iter()
            .filter_map(|node| match node.action.what {
                Govern::Create { nonce }
                    if genesis == Some(genesis_of(&node.action.order.author, nonce)) =>
                {
                    Some(node.action.order.author)
                }
                Govern::Promote { member, .. } => Some(*member),
                _ => None,
            })
            .collect();
        graph.link(&empowered);
        governance.empowered = empowered;
        governance.founded_with_approval = graph.founded_with_approval(genesis);
        while let Some(at) = graph.next(|author| governance.seniority(author)) {
            let (action, contested) = graph.take(at);
            governance.order.push(action.id);
            let outcome = if contested {
                Outcome::Refused(Refusal::Contested)
            } else {
                match governance.judge(genesis, &action) {
                    Ok(()) => {
                        governance.apply(&action);
                        Outcome::Applied
                    }
                    Err(refusal) => Outcome::Refused(refusal),
                }
            };
            governance.outcomes.insert(action.id, outcome);
        }
        governance.tail = graph.tail(&governance.empowered);
        governance
    }

    /// The room's genesis (`None`: an ungoverned room).
    pub fn genesis(&self) -> Option<RoomId> {
        self.genesis
    }

    /// Every removed member, with the last of their events that counts.
    pub fn removals(&self) -> &BTreeMap<MemberKey, u64> {
        &self.removed
    }

    /// The owner (`None` in an ungoverned room; still named after they left, with no rank).
    pub fn owner(&self) -> Option<MemberKey> {
        self.owner
    }

    /// `member`'s rank, `None` once removed.
    pub fn rank(&self, member: &MemberKey) -> Option<Rank> {
        if self.removed.contains_key(member) {
            None
        } else if self.owner == Some(*member) {
            Some(Rank::Owner)
        } else if self.admins.contains_key(member) {
            Some(Rank::Admin)
        } else {
            Some(Rank::Member)
        }
    }

    /// The admins, most senior first.
    pub fn admins(&self) -> Vec<MemberKey> {
        let mut admins: Vec<_> = self.admins.iter().map(|(k, since)| (*since, *k)).collect();
        admins.sort();
        admins.into_iter().map(|(_, key)| key).collect()
    }

    /// The last event of `member`'s that counts, if they were removed.
    pub fn removed(&self, member: &MemberKey) -> Option<u64> {
        self.removed.get(member).copied()
    }

    /// Whether a removal of `member` may yet be undone by what they wrote after its cut: their
    /// actions' cuts bind (they created the room or some action promotes them), so one of
    /// them may have removed or demoted their remover concurrently, and seniority decides
    /// which of the two counts. Members take such events in (they count only if the removal
    /// loses), or the two sides of a partition would never learn of each other's removal.
    pub fn may_contest(&self, member: &MemberKey) -> bool {
        self.empowered.contains(member)
    }

    /// Whether `author`'s event `seq` counts: not after their removal.
    pub fn accepts(&self, author: &MemberKey, seq: u64) -> bool {
        self.removed.get(author).is_none_or(|cut| seq <= *cut)
    }

    /// Whether `member` was admitted (only asked where joining needs approval; the owner and
    /// admins count as admitted).
    pub fn admitted(&self, member: &MemberKey) -> bool {
        matches!(self.rank(member), Some(Rank::Owner | Rank::Admin))
            || (self.admitted.contains(member) && !self.removed.contains_key(member))
    }

    /// Those an admin admitted (see [`Governance::admitted`] for who counts as admitted).
    pub fn admissions(&self) -> &BTreeSet<MemberKey> {
        &self.admitted
    }

    /// The members who announced themselves and were not removed, with the X25519 key to
    /// seal their lockboxes to.
    pub fn members(&self) -> impl Iterator<Item = (&MemberKey, &[u8; 32])> {
        self.joined
            .iter()
            .filter(|(member, _)| !self.removed.contains_key(*member))
    }

    /// Where `member`'s `Join` stands in room order (what "since joining" counts from).
    pub fn joined_at(&self, member: &MemberKey) -> Option<OrderKey> {
        self.join_places.get(member).copied()
    }

    /// Whether `member` announced themselves with `Join`.
    pub fn joined(&self, member: &MemberKey) -> bool {
        self.joined.contains_key(member)
    }

    /// The current epoch (0 until the first rekey).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Who holds the current epoch's secret (`None` in epoch 0: everyone with the link).
    pub fn holders(&self) -> Option<&BTreeSet<MemberKey>> {
        self.holders.as_ref()
    }

    /// A removed member may still hold the current epoch's secret, or a member still in the
    /// room was left out of it ([`Governance::left_out`]): an owner or admin should start a
    /// new epoch for everyone in the room. They may if they hold a lockbox of it, were
    /// admitted or promoted during it (and so handed it), or were removed during an epoch
    /// in which joining was open at some point (anyone could be handed it). A newcomer
    /// declined in a room that needs approval never held it: no rekey.
    pub fn needs_rekey(&self) -> bool {
        self.left_out
            .iter()
            .any(|member| self.rank(member).is_some() && self.joined(member))
            || self.exposed_to_removed()
    }

    /// Whether `member` was given the current epoch's secret by right: sealed a lockbox of
    /// it, or handed it by a member in good standing ([`Govern::Handover`]), admitted or
    /// promoted during it (the owner made epoch 0). Members hand the secret on to a
    /// newcomer only after their hand-over (see `Client::offer_epoch`).
    pub fn handed(&self, member: &MemberKey) -> bool {
        self.holders
            .as_ref()
            .is_some_and(|holders| holders.contains(member))
            || self.exposure.readers.contains(member)
    }

    /// Whether the next epoch is to be sealed to `member` (if it may still read the room):
    /// it was given the current one by right ([`Governance::handed`]), or left out of it.
    /// A `Join` alone entitles nobody: anyone who knows the genesis can sign one, and a
    /// removed member can leave one in an old epoch's mailbox with any Lamport time.
    pub fn entitled(&self, member: &MemberKey) -> bool {
        self.handed(member) || self.left_out.contains(member)
    }

    /// A removed member may hold the current epoch's secret (see
    /// [`Governance::needs_rekey`]): its mailbox is no place for what is said now.
    pub fn exposed_to_removed(&self) -> bool {
        self.removed.keys().any(|member| {
            self.holders
                .as_ref()
                .is_some_and(|holders| holders.contains(member))
                || self.exposure.readers.contains(member)
                || (self.exposure.open && self.exposure.removed.contains(member))
        })
    }

    /// The join requests still open: where joining needs approval, those who announced
    /// themselves and were neither admitted nor removed.
    pub fn join_requests(&self) -> impl Iterator<Item = &MemberKey> {
        let approval = self.settings.joining == Joining::Approval;
        self.joined
            .keys()
            .filter(move |member| approval && !self.admitted(member))
            .filter(|member| !self.removed.contains_key(*member))
    }

    /// Whether `member` may read the room (and be handed its secret and history): not
    /// removed, and admitted where joining needs approval.
    pub fn may_read(&self, member: &MemberKey) -> bool {
        self.rank(member).is_some()
            && (self.settings.joining == Joining::Open || self.admitted(member))
    }

    /// Whether `member` was entitled to the epoch before the current one (see
    /// [`Governance::entitled`]) and may still read the room, yet got no lockbox for the
    /// current one (its rekeyer had not seen them handed the epoch before, or counted them
    /// removed by a removal that lost), or a member handed them an older or a rival epoch's
    /// secret after the current one started (it had not moved yet). Nobody hands them the
    /// current secret (they may be removed in a way we have not heard of yet); while they
    /// are still in the room, the next epoch is sealed to them ([`Governance::needs_rekey`],
    /// once their `Join` names the key to seal to).
    pub fn left_out(&self, member: &MemberKey) -> bool {
        self.left_out.contains(member)
    }

    /// The settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// What became of the action `id` (`None`: not given).
    pub fn outcome(&self, id: &EventId) -> Option<Outcome> {
        self.outcomes.get(id).copied()
    }

    /// The actions in the order they were judged.
    pub fn order(&self) -> &[EventId] {
        &self.order
    }

    /// How many distinct actions were given (judged, or refused as duplicates).
    pub fn n_given(&self) -> usize {
        self.outcomes.len()
    }

    /// Whether `action` may take effect now.
    fn judge(&self, genesis: Option<RoomId>, action: &ActionRef<'_>) -> Result<(), Refusal> {
        let author = action.order.author;
        if genesis.is_none() {
            return Err(Refusal::NotGenesis);
        }
        if let Govern::Create { nonce } = action.what {
            return if genesis == Some(genesis_of(&author, nonce)) && self.owner.is_none() {
                Ok(())
            } else {
                Err(Refusal::NotGenesis)
            };
        }
        // Saying one is here needs no authority, so it counts wherever it is ordered: a
        // newcomer posts it (its join request) holding nothing of the room, so its Lamport
        // time may put it before the `Create`.
        if let Govern::Join { .. } = action.what {
            return if self.accepts(&author, action.order.seq) {
                Ok(())
            } else {
                Err(Refusal::AuthorRemoved)
            };
        }
        if self.owner.is_none() {
            // Nothing counts before the genesis: no authority exists yet.
            return Err(Refusal::NoAuthority);
        }
        if !self.accepts(&author, action.order.seq) {
            return Err(Refusal::AuthorRemoved);
        }
        let rank = self.rank(&author).ok_or(Refusal::AuthorRemoved)?;
        let powerful = matches!(rank, Rank::Owner | Rank::Admin);
        match &action.what {
            Govern::Create { .. } => Err(Refusal::NotGenesis),
            Govern::Promote { member, .. } | Govern::Demote { member, .. } => {
                if rank != Rank::Owner {
                    return Err(Refusal::NoAuthority);
                }
                match self.rank(member) {
                    Some(Rank::Owner) | None => Err(Refusal::BadTarget),
                    Some(_) => Ok(()),
                }
            }
            // Leaving: anyone may remove themselves, the owner too.
            Govern::Remove { member, .. } if *member == author => Ok(()),
            Govern::Remove { member, .. } => {
                if !powerful {
                    return Err(Refusal::NoAuthority);
                }
                match self.rank(member) {
                    Some(Rank::Owner) | None => Err(Refusal::BadTarget),
                    Some(_) => Ok(()),
                }
            }
            Govern::Admit { member, .. } => {
                if !powerful {
                    return Err(Refusal::NoAuthority);
                }
                if self.removed.contains_key(member) {
                    return Err(Refusal::BadTarget);
                }
                Ok(())
            }
            Govern::Rekey(Rekey { epoch, .. }) => {
                if !powerful {
                    return Err(Refusal::NoAuthority);
                }
                if *epoch != self.epoch + 1 {
                    return Err(Refusal::StaleEpoch);
                }
                Ok(())
            }
            Govern::Configure(_) => {
                if powerful {
                    Ok(())
                } else {
                    Err(Refusal::NoAuthority)
                }
            }
            // Anyone in the room may say they are here.
            Govern::Join { .. } => Ok(()),
            // Any member who may read the room lets in whom it may read: the secret of an
            // epoch it held. One that is not the current epoch's leaves its newcomer out
            // (`leaves_out`), whatever its number: an honest member hands over only the
            // epoch its governance holds current (`Client::offer_epoch`), so a number past
            // the current one is that of a rekey that came before and counts for nothing
            // (its author's removal won), and its newcomer, let in in good faith, is owed
            // the next epoch as much as one handed an epoch the room left.
            Govern::Handover {
                member,
                epoch,
                commitment,
            } => {
                if !self.may_read(&author) {
                    return Err(Refusal::NoAuthority);
                }
                if *member == author || !self.may_read(member) {
                    return Err(Refusal::BadTarget);
                }
                let late = self.leaves_out(member, *epoch, commitment);
                let count = self.late_handovers.get(&author).copied().unwrap_or(0);
                if late && count >= MAX_LATE_HANDOVERS {
                    return Err(Refusal::TooManyLateHandovers);
                }
                Ok(())
            }
        }
    }

    fn apply(&mut self, action: &ActionRef<'_>) {
        let open = self.settings.joining == Joining::Open;
        match &action.what {
            Govern::Create { .. } => {
                self.owner = Some(action.order.author);
                self.exposure.readers.insert(action.order.author);
                // Epoch 0 starts with the settings of the owner's next action if it is a
                // `Configure` (`Client::found_with`): nobody could be let in between.
                self.exposure.open = !self.founded_with_approval;
            }
            Govern::Promote { member, .. } => {
                let since = self.order.len();
                self.admins.entry(*member).or_insert(since);
                self.exposure.readers.insert(*member);
            }
            Govern::Demote { member, .. } => {
                self.admins.remove(member);
            }
            Govern::Remove { member, seen } => {
                self.admins.remove(member);
                self.admitted.remove(member);
                // Leaving counts up to the leave itself (it is their last word).
                let last = if *member == action.order.author {
                    action.order.seq
                } else {
                    *seen
                };
                self.removed.insert(*member, last);
                self.exposure.removed.insert(*member);
            }
            Govern::Admit { member, .. } => {
                self.admitted.insert(*member);
                self.exposure.readers.insert(*member);
            }
            Govern::Rekey(rekey) => {
                let entitled: BTreeSet<MemberKey> = self
                    .holders
                    .iter()
                    .flatten()
                    .chain(&self.exposure.readers)
                    .chain(&self.left_out)
                    .copied()
                    .collect();
                self.left_out = entitled
                    .into_iter()
                    .filter(|member| !rekey.lockboxes.contains_key(member) && self.may_read(member))
                    .collect();
                self.epoch = rekey.epoch;
                self.commitment = Some(rekey.commitment);
                self.holders = Some(rekey.lockboxes.keys().copied().collect());
                self.exposure = Exposure {
                    open,
                    ..Exposure::default()
                };
            }
            Govern::Configure(settings) => {
                self.settings = *settings;
                self.exposure.open |= settings.joining == Joining::Open;
            }
            Govern::Handover {
                member,
                epoch,
                commitment,
            } => {
                if self.leaves_out(member, *epoch, commitment) {
                    // Handed a secret the room has left (its hander had not moved yet): the
                    // next epoch is sealed to them.
                    self.left_out.insert(*member);
                    *self.late_handovers.entry(action.order.author).or_insert(0) += 1;
                } else if self.is_current(*epoch, commitment) {
                    self.exposure.readers.insert(*member);
                }
            }
            Govern::Join { dh_key } => {
                self.joined.insert(action.order.author, *dh_key);
                self.join_places
                    .entry(action.order.author)
                    .or_insert(action.order);
            }
        }
    }

    /// Whether `epoch` with `commitment` is the current epoch.
    fn is_current(&self, epoch: u64, commitment: &[u8; 32]) -> bool {
        epoch == self.epoch && self.commitment.is_none_or(|ours| ours == *commitment)
    }

    /// Whether a hand-over of `epoch` (with `commitment`) to `member` makes them left out: an
    /// epoch the room has left, or a rival's, to someone given nothing since by right.
    fn leaves_out(&self, member: &MemberKey, epoch: u64, commitment: &[u8; 32]) -> bool {
        !self.is_current(epoch, commitment) && !self.entitled(member)
    }

    /// How senior `author` is now: smaller is more senior.
    fn seniority(&self, author: &MemberKey) -> (u8, usize) {
        match self.rank(author) {
            Some(Rank::Owner) => (0, 0),
            Some(Rank::Admin) => (1, self.admins.get(author).copied().unwrap_or(usize::MAX)),
            Some(Rank::Member) => (2, 0),
            None => (3, 0),
        }
    }
}
