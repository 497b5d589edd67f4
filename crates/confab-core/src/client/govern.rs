//! The room's governance as this client holds it (see [`crate::governance`]): the actions
//! history accepted, resolved again after each one; posting an action only after checking it
//! would count; and keeping what a removed member wrote after their cut off the timeline.
//!
//! A governed room's events are signed over its genesis (the room's lasting id, carried by
//! the invite link) rather than its current room id, so history outlives epochs.
//!
//! Where newcomers see only what is said from when they joined (`Backlog::SinceJoining`),
//! a newcomer's `Join` is stamped with its wall clock (so it follows everything said before
//! it), and members serve it what comes before only redacted: messages, files and edits keep
//! their ids and signatures (chains stay whole) but not their content; governance, names,
//! reactions and deletes go whole. Admitting does not start a new epoch: the epoch's mailbox
//! may still hold events from before the Join (deposited by a member who was alone), which
//! an honest newcomer keeps only redacted, but a modified client could read. A rekey per
//! newcomer would cost a lockbox per member each time, and in an open room needs an admin
//! online; a room that wants the hard line resets its link before letting someone in.

use crate::Instant;
use crate::governance::{
    Action, ActionRef, Backlog, Govern, Governance, Joining, Outcome, Refusal, Rekey, Settings,
    genesis_of,
};
use crate::history::{Content, History, OrderKey, UnixMillis, VerifiedEvent};
use crate::identity::{Identity, PublicIdentity};
use crate::ids::{EventId, MemberKey, PeerId, RoomId};
use crate::lockbox;
use crate::room::{EpochSecret, Invite};
use crate::wire::Body;
use crate::wire::govern::MAX_LOCKBOXES;

use super::link::Close;
use super::{Client, ClientEvent, Config, SendError};

mod epochs;
mod left;
pub(super) use left::LeftEpochs;

#[cfg(test)]
pub(super) mod tests;

/// The founding draw's stream of the seed (see `rng.rs`): the room's nonce and first secret
/// change no other random choice.
const FOUNDING_RNG_STREAM: u64 = 3;

/// How many of the remover's events a removed member is handed with the removal.
const REMOVAL_NEWS: u64 = 8;

/// Most join requests a member keeps open at once (where joining needs approval): anyone
/// with the link can ask, under as many identities as they like, so a request beyond this
/// is refused until an admin answers some (it can be sent again later). Each costs one
/// event in history.
pub const MAX_JOIN_REQUESTS: usize = 32;

/// What resolving the governance again changed (see `Client::refresh_governance`).
pub(super) struct Refreshed {
    /// Who may read the room: removals, admissions, the joining setting.
    readers_changed: bool,
    /// What became of an action held before: it takes effect now, or no longer does.
    outcomes_changed: bool,
}

/// Someone who asked to join a room that needs approval ("Dave wants to join").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    /// Who: Approve is [`Govern::Admit`], Decline [`Govern::Remove`] (neither needs a new
    /// epoch: they never held its secret).
    pub member: MemberKey,
    /// The name on their identity card, if they are linked now.
    pub name: Option<String>,
}

/// Why a governance action was not posted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GovernError {
    /// The room has no owner: it was made before governance, or is a one-to-one room.
    #[error("this room has no owner or admins")]
    Ungoverned,
    /// It would not count (our rank does not allow it, or its target cannot be concerned).
    #[error("not allowed: {0:?}")]
    Refused(Refusal),
    /// More members than one rekey can seal to ([`MAX_LOCKBOXES`]).
    #[error("a new link can be made for at most {MAX_LOCKBOXES} members; this room has {members}")]
    TooManyMembers {
        /// Members who would need the new secret.
        members: usize,
    },
    /// It could not be signed.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// What we may do about one member now, as core judges it (the app offers only these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Powers {
    /// "Remove from room" (someone else: leaving is removing ourselves, which any member
    /// may do).
    pub remove: bool,
    /// "Make admin" (the owner, about a member).
    pub promote: bool,
    /// "Remove admin" (the owner, about an admin).
    pub demote: bool,
}

impl Client {
    /// Makes this a governed room's client: its events are signed over `genesis` and judged
    /// by the governance its `Create` starts. Call right after [`Client::new`], before
    /// [`Client::restore`].
    pub fn with_genesis(mut self, genesis: RoomId) -> Client {
        self.history = History::new(genesis);
        // The mailbox is the epoch secret's: a member hands it over once we are let in.
        self.mailbox = None;
        self.governance = Governance::resolve(Some(genesis), []);
        self
    }

    /// Founds a governed room with the default settings (see [`Client::found_with`]).
    pub fn found(
        identity: Identity,
        config: Config,
        seed: [u8; 32],
        now: Instant,
        sent_at: UnixMillis,
    ) -> Result<Client, GovernError> {
        Client::found_with(identity, config, seed, now, sent_at, Settings::default())
    }

    /// Founds a governed room: we own it. Draws its nonce and first epoch secret from our
    /// randomness (`seed`, as for [`Client::new`]) and posts its `Create`, its settings
    /// unless they are the default (right after the `Create`, so a room that needs approval
    /// never was open), and our `Join`.
    pub fn found_with(
        identity: Identity,
        config: Config,
        seed: [u8; 32],
        now: Instant,
        sent_at: UnixMillis,
        settings: Settings,
    ) -> Result<Client, GovernError> {
        let mut rng = crate::rng::SeededRng::from_seed_stream(seed, FOUNDING_RNG_STREAM);
        let (mut nonce, mut secret) = ([0; 32], [0; 32]);
        rng.fill_bytes(&mut nonce);
        rng.fill_bytes(&mut secret);
        let secret = EpochSecret::from_bytes(secret);
        let genesis = genesis_of(&identity.member_key(), &nonce);
        let mut client = Client::new(identity, secret.link(), config, seed)
            .with_genesis(genesis)
            .with_epoch(0, secret);
        client.govern(now, sent_at, Govern::Create { nonce })?;
        if settings != Settings::default() {
            client.govern(now, sent_at, Govern::Configure(settings))?;
        }
        client.join_if_new(now, sent_at);
        Ok(client)
    }

    /// Gives a governed room's client the epoch secret it holds (stored, or just founded).
    /// Call after [`Client::with_genesis`].
    pub fn with_epoch(mut self, epoch: u64, secret: EpochSecret) -> Client {
        self.enter_epoch(epoch, secret);
        self
    }

    /// The link that invites others: the current epoch's link secret, and the genesis in a
    /// governed room.
    pub fn invite(&self) -> Invite {
        Invite {
            link: self.room.clone(),
            genesis: self.governance.genesis(),
        }
    }

    /// The epoch we are in and its secret (what the app stores to come back), once we hold it.
    pub fn epoch(&self) -> Option<(u64, &EpochSecret)> {
        self.epoch.as_ref().map(|(n, secret)| (*n, secret))
    }

    /// Starts a new epoch for every member but the removed (an owner's or admin's "Reset
    /// invite link", and the second half of removing someone: whoever removes someone
    /// rekeys at once, so the app's "Remove from room" is `govern(Remove)` then this; after
    /// a leave, or a removal whose rekey never came, [`Governance::needs_rekey`] asks an
    /// owner or admin to, and [`Client::should_rekey`] says which): a fresh secret, sealed to
    /// each member's announced key. We move to it once it has gone out (stored first, as
    /// every event of ours), as every member does once history holds it, ending the old
    /// room's links (see `leave_older_links`); the old link then leads nowhere.
    pub fn rekey(&mut self, now: Instant, sent_at: UnixMillis) -> Result<EventId, GovernError> {
        let Some(genesis) = self.governance.genesis() else {
            return Err(GovernError::Ungoverned);
        };
        let epoch = self.governance.epoch().saturating_add(1);
        let mut bytes = [0; 32];
        self.rng.fill_bytes(&mut bytes);
        let secret = EpochSecret::from_bytes(bytes);
        // Every member who may read the room (joined, not removed, admitted where that is
        // needed) and was given the current epoch by right or left out of it
        // (`Governance::entitled`: a `Join` alone is no proof anyone let its author in).
        // Never silently fewer: a rekey that cannot seal to all of them is refused.
        let members: Vec<(MemberKey, [u8; 32])> = self
            .governance
            .members()
            .filter(|(member, _)| {
                self.governance.may_read(member) && self.governance.entitled(member)
            })
            .map(|(member, dh)| (*member, *dh))
            .collect();
        if members.len() > MAX_LOCKBOXES {
            return Err(GovernError::TooManyMembers {
                members: members.len(),
            });
        }
        let mut lockboxes = std::collections::BTreeMap::new();
        for (member, dh) in members {
            let Some(holder) = PublicIdentity::from_keys(member.as_bytes(), &dh) else {
                continue;
            };
            let mut seed = [0; 32];
            self.rng.fill_bytes(&mut seed);
            lockboxes.insert(
                member,
                lockbox::seal(&secret, genesis, epoch, &holder, seed),
            );
        }
        let rekey = Rekey {
            epoch,
            commitment: secret.commitment().0,
            lockboxes,
        };
        self.govern(now, sent_at, Govern::Rekey(rekey))
    }

    /// The room's governance as the actions held so far decide it.
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// Posts a governance action, if it would count now. For an action about a member, its
    /// `seen` is filled in from what we hold of them (what a cut must say).
    pub fn govern(
        &mut self,
        now: Instant,
        sent_at: UnixMillis,
        mut what: Govern,
    ) -> Result<EventId, GovernError> {
        let now = self.monotonic(now);
        self.judge_own(&mut what)?;
        self.check_own_head(now)?;
        if let Govern::Configure(Settings {
            joining: Joining::Approval,
            ..
        }) = what
            && self.governance.settings().joining == Joining::Open
        {
            self.admit_everyone_in(now, sent_at)?;
        }
        Ok(self.publish(now, sent_at, Content::Govern(what))?)
    }

    /// Whether [`Client::govern`] would post `what` now (nothing is posted): what the app
    /// asks before it offers an action, so the rule stays here.
    pub fn allows(&self, mut what: Govern) -> Result<(), GovernError> {
        self.judge_own(&mut what)
    }

    /// What we may do about `member` now (each as [`Client::allows`] would say).
    pub fn powers_over(&self, member: MemberKey) -> Powers {
        use crate::governance::Rank;
        let allowed = |what: Govern| self.allows(what).is_ok();
        let me = self.public.member_key();
        let rank = self.governance.rank(&member);
        // Promoting an admin or demoting a member would count, and change nothing.
        Powers {
            remove: member != me && allowed(Govern::Remove { member, seen: 0 }),
            promote: rank == Some(Rank::Member) && allowed(Govern::Promote { member, seen: 0 }),
            demote: rank == Some(Rank::Admin) && allowed(Govern::Demote { member, seen: 0 }),
        }
    }

    /// Fills in `what`'s `seen` from what we hold and judges it where it would stand: our
    /// next event, after everything we hold.
    fn judge_own(&self, what: &mut Govern) -> Result<(), GovernError> {
        let Some(genesis) = self.governance.genesis() else {
            return Err(GovernError::Ungoverned);
        };
        if let Govern::Promote { member, seen }
        | Govern::Demote { member, seen }
        | Govern::Remove { member, seen }
        | Govern::Admit { member, seen } = what
        {
            *seen = self.history.mark(member);
        }
        let me = self.public.member_key();
        let candidate = Action {
            id: EventId::from_bytes([0; 32]),
            order: OrderKey {
                lamport: self.history.max_lamport().saturating_add(1),
                author: me,
                seq: self.history.mark(&me).saturating_add(1),
            },
            what: what.clone(),
        };
        let mut appended = self.governance.clone();
        let outcome = if self.governance.n_given() == self.history.n_governance()
            && appended.append(candidate.borrowed())
        {
            appended.outcome(&candidate.id)
        } else {
            let actions = self.governance_refs().chain([candidate.borrowed()]);
            Governance::resolve_refs(Some(genesis), actions).outcome(&candidate.id)
        };
        if let Some(Outcome::Refused(refusal)) = outcome {
            return Err(GovernError::Refused(refusal));
        }
        Ok(())
    }

    /// Before a room starts needing approval: admits everyone who joined while it did not
    /// (they read it already), so their later events keep counting.
    fn admit_everyone_in(&mut self, now: Instant, sent_at: UnixMillis) -> Result<(), GovernError> {
        let members: Vec<MemberKey> = self
            .governance
            .members()
            .map(|(member, _)| *member)
            .filter(|member| !self.governance.admitted(member))
            .collect();
        for member in members {
            let seen = self.history.mark(&member);
            self.publish(
                now,
                sent_at,
                Content::Govern(Govern::Admit { member, seen }),
            )?;
        }
        Ok(())
    }

    /// The open join requests, oldest member key first (see [`JoinRequest`]); the app shows
    /// them to owners and admins, who answer with [`Client::govern`].
    pub fn join_requests(&self) -> Vec<JoinRequest> {
        self.governance
            .join_requests()
            .map(|member| JoinRequest {
                member: *member,
                name: self
                    .verified_peers()
                    .find(|(_, info)| info.identity.member_key() == *member)
                    .map(|(_, info)| info.display_name.clone()),
            })
            .collect()
    }

    /// Whether a peer may read the room: anyone verified and not removed, but only the
    /// admitted where joining needs approval (see `govern`), and only over a link keyed for
    /// the room we are in now (see `leave_older_links`: what is said in an epoch never
    /// crosses a link keyed for an older one).
    pub(super) fn serves(&self, peer: PeerId) -> bool {
        let room = self.room.room_id();
        self.links
            .get(&peer)
            .is_some_and(|link| link.keyed_for == Some(room))
            && self
                .member_of(peer)
                .is_some_and(|member| self.governance.may_read(&member))
    }

    /// Bodies that say nothing of the room: they pass between a member and a newcomer who
    /// is not let in yet. Events and marks pass *from* the newcomer (its Join), never to it.
    pub(super) fn open_to_strangers(body: &Body) -> bool {
        match body {
            Body::Ping { .. }
            | Body::Pong { .. }
            | Body::Bye
            | Body::Want { .. }
            | Body::Epoch { .. } => true,
            Body::Events(_)
            | Body::Run { .. }
            | Body::Have { .. }
            | Body::Typing { .. }
            | Body::Read { .. }
            | Body::Presence(_)
            | Body::Call(_)
            | Body::FileWant { .. }
            | Body::FileChunk { .. }
            | Body::FileAck { .. }
            | Body::FileStop { .. } => false,
        }
    }

    /// Bodies taken from a newcomer not let in yet: those above, and its own events (its
    /// Join; see `admissible`) and marks, so members pull its request.
    pub(super) fn heard_from_strangers(body: &Body) -> bool {
        match body {
            Body::Events(_) | Body::Run { .. } | Body::Have { .. } => true,
            Body::Want { .. } => false,
            body => Self::open_to_strangers(body),
        }
    }

    /// Whether history may take `event` in: where joining needs approval, only the admitted
    /// write, and a newcomer only its Join (its first event), while fewer than
    /// [`MAX_JOIN_REQUESTS`] are open. So a flood of strangers with the link grows nothing
    /// without bound, and nobody shows what they did not let in. A removed member's events
    /// up to their cut count (`counts`), so every member takes them in, however late they
    /// arrive (after the removal, from a member who held them); so are those after it of a
    /// removed admin or owner, whose removal they may undo ([`Governance::may_contest`]):
    /// they count only if it loses.
    pub(super) fn admissible(&self, event: &VerifiedEvent) -> Result<(), &'static str> {
        let event = event.event();
        if self.governance.genesis().is_none() || self.governance.may_read(&event.author) {
            return Ok(());
        }
        if let Some(cut) = self.governance.removed(&event.author)
            && (event.seq <= cut || self.governance.may_contest(&event.author))
        {
            return Ok(());
        }
        if !matches!(event.content, Content::Govern(Govern::Join { .. })) || event.seq != 1 {
            return Err("not let in yet");
        }
        if self.governance.join_requests().count() >= MAX_JOIN_REQUESTS {
            return Err("too many join requests");
        }
        Ok(())
    }

    /// Every governance action history holds.
    fn governance_actions(&self) -> Vec<Action> {
        self.governance_refs()
            .map(|action| Action {
                id: action.id,
                order: action.order,
                what: action.what.clone(),
            })
            .collect()
    }

    /// The rekeys among [`Client::governance_actions`], in the same order: all that the
    /// epoch lookups (`applied_rekey`, `number_of`, `open_epoch`) read, which run on every
    /// action taken in; cloning only these instead of every action (a room's Joins, with
    /// their maps) was ~4 % of the governance simulation's CPU.
    pub(super) fn rekey_actions(&self) -> Vec<Action> {
        self.governance_refs()
            .filter(|action| matches!(action.what, Govern::Rekey(_)))
            .map(|action| Action {
                id: action.id,
                order: action.order,
                what: action.what.clone(),
            })
            .collect()
    }

    /// Every governance action history holds, borrowed.
    fn governance_refs(&self) -> impl Iterator<Item = ActionRef<'_>> {
        governance_refs(&self.history)
    }

    /// After history accepted `event`: if it is a governance action, resolves again; a
    /// changed removal redraws the timeline without what the removed wrote after their cut
    /// and ends their links; a new epoch moves us to it if it holds a lockbox for us.
    pub(super) fn note_governance(&mut self, event: &VerifiedEvent) {
        let Content::Govern(what) = &event.event().content else {
            return;
        };
        let action = ActionRef {
            id: event.id(),
            order: event.event().order_key(),
            what,
        };
        let Some(Refreshed {
            readers_changed,
            outcomes_changed,
        }) = self.take_governance(action)
        else {
            return;
        };
        if readers_changed || outcomes_changed {
            self.rebuild_timeline();
            self.events.push_back(ClientEvent::Rebuilt);
        }
        let now = self.latest_now;
        if let Some(now) = now {
            self.drop_removed(now);
            self.end_transfers_of_removed(now);
            if readers_changed {
                // Newly let in: greet them, and fetch what they wrote that we refused.
                self.greet_newly_served(now);
                self.request_missing_all(now);
            }
            self.follow_epochs();
            let sent_at = self.wall.map_or(UnixMillis(0), |(_, wall)| wall);
            self.join_if_new(now, sent_at);
            let peers: Vec<(PeerId, MemberKey)> = self
                .verified_peers()
                .map(|(peer, info)| (peer, info.identity.member_key()))
                .collect();
            for (peer, member) in peers {
                self.offer_epoch(now, peer, member);
            }
        }
    }

    /// Ends the links of members who were removed.
    fn drop_removed(&mut self, now: Instant) {
        let removed: Vec<(PeerId, MemberKey)> = self
            .verified_peers()
            .map(|(peer, info)| (peer, info.identity.member_key()))
            .filter(|(_, member)| self.governance.rank(member).is_none())
            .collect();
        for (peer, member) in removed {
            self.dismiss(now, peer, member);
        }
    }

    /// Ends the link of a removed member, after handing them the news: the removal and the
    /// remover's few events before it (so their history takes it in sequence), one event a
    /// frame. They learn they were removed; their past history stays theirs.
    pub(super) fn dismiss(&mut self, now: Instant, peer: PeerId, member: MemberKey) {
        let removal = self.governance_actions().into_iter().find(|action| {
            matches!(action.what, Govern::Remove { member: m, .. } if m == member)
                && self.governance.outcome(&action.id) == Some(Outcome::Applied)
        });
        if let Some(removal) = removal {
            for event in self.news_of(&removal) {
                self.seal_to(now, peer, &Body::Events(vec![event]), super::Channel::Main);
            }
        }
        self.close(now, peer, Close::Failed(super::FailReason::Removed));
    }

    /// `action` and the few events of its author before it (what a member needs to take it
    /// in sequence), after what gave its author the right to it ([`Client::authority_news`]),
    /// oldest first.
    fn news_of(&self, action: &Action) -> Vec<Vec<u8>> {
        let (author, seq) = (action.order.author, action.order.seq);
        (self.authority_news(&author).into_iter())
            .chain(
                self.history
                    .range(&author, seq.saturating_sub(REMOVAL_NEWS), seq),
            )
            .map(|event| event.bytes().to_vec())
            .collect()
    }

    /// What makes `author`'s actions count for a member who may have missed it: the
    /// owner's last applied promotion of `author`, with the owner's few events before it
    /// (nothing for the owner, or for a member never promoted), oldest first. A removal by
    /// an admin made while its target was away means nothing to that member without it: it
    /// judged the removal void and itself in good standing (sim seed 56). Written before
    /// the removal, while the member was in the room, it tells it nothing later.
    pub(super) fn authority_news(&self, author: &MemberKey) -> Vec<&VerifiedEvent> {
        let Some(owner) = self.governance.owner() else {
            return Vec::new();
        };
        if *author == owner {
            return Vec::new();
        }
        let promotion = self
            .governance_refs()
            .filter(|action| {
                action.order.author == owner
                    && matches!(action.what, Govern::Promote { member, .. } if member == author)
                    && self.governance.outcome(&action.id) == Some(Outcome::Applied)
            })
            .map(|action| action.order.seq)
            .max();
        let Some(seq) = promotion else {
            return Vec::new();
        };
        self.history
            .range(&owner, seq.saturating_sub(REMOVAL_NEWS), seq)
            .collect()
    }

    /// Where the room shows newcomers only what is said from when they joined: the place of
    /// `reader`'s Join, before which their messages, files and edits are served only
    /// redacted (`None`: nothing is hidden from them; before their Join is held, everything
    /// is). Governance, names, reactions and deletes are served whole.
    pub(super) fn backlog_start(&self, reader: &MemberKey) -> Option<OrderKey> {
        if self.governance.settings().backlog != Backlog::SinceJoining {
            return None;
        }
        Some(self.governance.joined_at(reader).unwrap_or(OrderKey {
            lamport: u64::MAX,
            author: *reader,
            seq: u64::MAX,
        }))
    }

    /// `event` as served to a reader whose backlog starts at `start` (see `backlog_start`).
    pub(super) fn as_served(event: &VerifiedEvent, start: Option<OrderKey>) -> VerifiedEvent {
        match start {
            Some(start) if event.event().order_key() < start => {
                event.redacted().unwrap_or_else(|| event.clone())
            }
            _ => event.clone(),
        }
    }

    /// Announces us (`Join`, with our X25519 key) in a governed room, if we have not yet:
    /// on founding, on meeting a member, or once handed the secret. A newcomer posts it
    /// before it holds anything of the room: where joining needs approval it is the request
    /// (see [`Client::join_requests`]), and members hand the secret only once it is
    /// admitted.
    pub(super) fn join_if_new(&mut self, now: Instant, sent_at: UnixMillis) {
        let me = self.public.member_key();
        if self.governance.genesis().is_none()
            || (self.epoch.is_none() && self.verified_peers().next().is_none())
            || self.governance.joined(&me)
            || self.governance.rank(&me).is_none()
        {
            return;
        }
        let join = Govern::Join {
            dh_key: self.public.dh_key_bytes(),
        };
        // Stamped with our wall clock (as a Lamport time, within every member's horizon
        // when clocks agree): it follows everything said before we came, which is what
        // "since joining" hides from us.
        let wall = sent_at.0.saturating_mul(1 << crate::history::LAMPORT_SHIFT);
        self.history.witness_lamport(wall);
        // A forked profile cannot post; it stays unannounced.
        let _ = self.govern(now, sent_at, join);
    }

    /// The governance once `action`, just taken into history, counts too: appended where
    /// it comes last in the one order (`Governance::append`: most actions, taken in as
    /// they are made), else resolved again from history. As `refresh_governance`.
    fn take_governance(&mut self, action: ActionRef<'_>) -> Option<Refreshed> {
        self.governance.genesis()?;
        let readers = |g: &Governance| {
            (
                g.removals().clone(),
                g.settings().joining,
                g.admissions().clone(),
            )
        };
        let before = readers(&self.governance);
        // Appended only to the governance of everything else history holds (it is, but
        // for a history changed without resolving again, which this would not follow).
        if self.governance.n_given() + 1 == self.history.n_governance() {
            let outcomes_changed = if self.governance.append(action) {
                Some(false)
            } else {
                // Or put where it comes, if nothing held comes after it because of it.
                let history = &self.history;
                self.governance
                    .insert(action, governance_refs(history), |id| {
                        history.get(id).and_then(action_ref)
                    })
            };
            if let Some(outcomes_changed) = outcomes_changed {
                self.events.push_back(ClientEvent::Governance);
                return Some(Refreshed {
                    readers_changed: readers(&self.governance) != before,
                    outcomes_changed,
                });
            }
        }
        self.refresh_governance()
    }

    /// Resolves the governance again from history. `None`: unchanged; otherwise reported to
    /// the caller, with what changed for the timeline and the peers we serve.
    pub(super) fn refresh_governance(&mut self) -> Option<Refreshed> {
        let genesis = self.governance.genesis()?;
        let governance = Governance::resolve_refs(Some(genesis), self.governance_refs());
        if governance == self.governance {
            return None;
        }
        // An action held before that now takes effect, or no longer does (a cut arrived):
        // its line on the timeline comes or goes.
        let outcomes_changed = self
            .governance
            .order()
            .iter()
            .any(|id| self.governance.outcome(id) != governance.outcome(id));
        let readers = |g: &Governance| {
            (
                g.removals().clone(),
                g.settings().joining,
                g.admissions().clone(),
            )
        };
        let readers_changed = readers(&governance) != readers(&self.governance);
        self.governance = governance;
        self.events.push_back(ClientEvent::Governance);
        Some(Refreshed {
            readers_changed,
            outcomes_changed,
        })
    }

    /// Whether `event` belongs on the timeline: not written by a removed member after
    /// their cut, nor (but for their Join) by someone not let in where that is needed;
    /// if it is a governance action, one that took effect; anything else not by a member
    /// the user blocked (what they did to the room still shows).
    pub(super) fn counts(&self, event: &VerifiedEvent) -> bool {
        if matches!(event.event().content, Content::Govern(_))
            && self.governance.outcome(&event.id()) != Some(Outcome::Applied)
        {
            return false;
        }
        let event = event.event();
        if self.blocked.contains(&event.author) && !matches!(event.content, Content::Govern(_)) {
            return false;
        }
        // What was said before we joined, where that is hidden, is no row of ours.
        if matches!(event.content, Content::Redacted { .. })
            && self
                .backlog_start(&self.public.member_key())
                .is_some_and(|start| event.order_key() < start)
        {
            return false;
        }
        let removed = self.governance.removed(&event.author);
        match removed {
            Some(cut) => event.seq <= cut,
            None => {
                matches!(event.content, Content::Govern(_))
                    || self.governance.may_read(&event.author)
            }
        }
    }
}

/// Every governance action `history` holds, borrowed.
fn governance_refs(history: &History) -> impl Iterator<Item = ActionRef<'_>> {
    history.governance().filter_map(action_ref)
}

/// The governance action `event` carries, borrowed.
fn action_ref(event: &VerifiedEvent) -> Option<ActionRef<'_>> {
    match &event.event().content {
        Content::Govern(what) => Some(ActionRef {
            id: event.id(),
            order: event.event().order_key(),
            what,
        }),
        _ => None,
    }
}
