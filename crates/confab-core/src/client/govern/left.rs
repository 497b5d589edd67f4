//! The epochs a member left, and what is left in their mailboxes so that the sides of a
//! partition find each other again (issue 17).
//!
//! Members serve the room only over links keyed for the epoch they are in (`serves`), so
//! two sides that rekeyed apart (side A from epoch 5 to 6a and 7a, side B to 6b) sit in
//! different server rooms once the network heals and never link. What they share is the
//! mailboxes of the epochs they left. The rule:
//!
//! - **A member keeps the mailbox keys of its last [`LEFT_MAILBOXES`] left epochs** (8:
//!   a partition of up to 8 rekeys on a side keeps the epoch both sides left), and the app
//!   reads them ([`Client::left_rooms`]) as it reads the room's own.
//! - **A rekeyer deposits into every left epoch's mailbox it keeps a self-contained
//!   bundle** ([`Client::deposit_bundles`]): every governance action it holds, each with
//!   its author's chain before it (history takes an event only in its chain's sequence),
//!   up to [`BUNDLE_PER_AUTHOR`] events an author. Whatever a member of that epoch missed,
//!   the rekey chain, the promotions and removals it depends on and the `Join`s of
//!   newcomers it was sealed to then arrive together, even for a newcomer handed that
//!   epoch's secret just before everyone left it, holding nothing older. Each event is
//!   deposited into a mailbox once (per session) while the members it is sealed to stay
//!   the same or fewer; once we count a member the deposits so far were not sealed to, it
//!   goes again, sealed to them too.
//! - **Packed** (`crate::wire::bundle`). A bundle goes into as few entries as hold it
//!   (each up to 64 KiB and taken in on its own, so an entry a server drops costs only its
//!   events), at most [`BUNDLE_ENTRIES`] per mailbox per deposit. What goes is chosen
//!   chain by chain, the depositor's first, then the shortest (a member who makes its chain
//!   long is the one cut); the order it goes in is Lamport time (`left/pack.rs`), so a
//!   reader that moves and deposits halfway through has taken in every removal written
//!   before what it holds, and seals none of it to a member removed (sim seed 466).
//! - **Sealed to the room as the depositor counts it** (`left/sealed.rs`). An old epoch's
//!   mailbox can be opened by everyone who held that epoch, members removed since
//!   included. So each deposit draws a fresh key, sealed (a lockbox, as a rekey seals its
//!   epoch) to every member the depositor counts in the room now: joined, not removed,
//!   may read. Whoever is still in the room opens it whatever epoch it is stuck in (a
//!   straggler, the other side of a partition, a newcomer a rekey left out), not a member
//!   removed: it finds entries it cannot open, naming nobody. (Sealing to the next epoch's
//!   secret instead would shut out the members left out of that epoch.) A member removed on
//!   the other side of a partition, whose removal the depositor has not heard of, still
//!   opens it: it learns what that side's epochs, all sealed to it, held.
//! - **Served redacted.** Messages, files and edits go without their content
//!   (`VerifiedEvent::redacted`: same id, still verifies, so chains stay whole), as the
//!   members reading it may not have held the epochs they were said in; the governance
//!   actions go whole, and so do names, reactions and deletes. Members fetch the full forms
//!   from whoever they link to later (sync asks for what it holds only redacted).
//! - **A rekey that lost keeps its epoch informed.** Whoever started an epoch whose rekey
//!   then lost to a rival also deposits, on each move, into that epoch's mailbox: the
//!   winner's rekeyer never held it, and members who were handed it (a newcomer on the
//!   losing side) would otherwise wait there for good.
//!
//! From the bundles, the resolution (one chain of epochs, the first-ordered rekey from an
//! epoch wins) decides the chain, `move_through_epochs` takes each member to its latest
//! epoch sealed to it, where the server links the sides and sync merges their histories;
//! whoever is then left out or still holds a secret of someone removed is sealed out by the
//! next rekey (`needs_rekey`). What is said in an epoch still crosses only links keyed for
//! it: the bundles carry no content. A removed member learns of its removal from the member
//! who ends its link (`dismiss`), or, away then, from its epoch's mailbox: every removal
//! goes there whole (the one action of ours that does while a removed member may read it,
//! `client/mailbox.rs`), with its author's few events before it redacted
//! ([`Client::deposit_removal_news`]); nothing later.

mod pack;
mod sealed;

use std::collections::{BTreeMap, BTreeSet};

use crate::governance::{Action, Govern, MAX_LATE_HANDOVERS, Outcome};
use crate::history::{Content, VerifiedEvent};
use crate::identity::PublicIdentity;
use crate::ids::{MemberKey, RoomId};
use crate::mailbox::MailboxKeys;
use crate::room::{Commitment, EpochSecret, RoomSecret};
use crate::wire::bundle;

use super::super::Client;
use pack::{Chain, Packed, pack};
pub(in crate::client) use sealed::BundleKeys;
use sealed::Sealer;

/// How many left epochs' mailboxes a member keeps (to read the news of the other side of
/// a partition, and to deposit its own).
pub(in crate::client) const LEFT_MAILBOXES: usize = 8;

/// Most events of one author a bundle deposits into one mailbox: its chain since the
/// epoch began, up to its last governance action. A longer chain is cut at its start
/// (a member who misses the cut part takes the rest in once it links).
pub(in crate::client) const BUNDLE_PER_AUTHOR: u64 = 256;

/// Most entries one bundle deposit puts into one mailbox: what a long bundle is cut to (the
/// rest goes with the next one). Each holds up to 64 KiB (a few hundred redacted events), so a
/// rekey costs at most `LEFT_MAILBOXES * BUNDLE_ENTRIES` puts (64: within the server's
/// default 120 a minute a connection) and 4 MiB.
pub(in crate::client) const BUNDLE_ENTRIES: usize = 8;

/// The event lists of a bundle's entries.
type Parts = Vec<Vec<Vec<u8>>>;

/// Each author's sequence number held at some point.
type Marks = BTreeMap<MemberKey, u64>;

/// One epoch we left.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(in crate::client) struct LeftEpoch {
    /// Its mailbox's keys.
    keys: MailboxKeys,
    /// What we deposited into its mailbox, by author.
    deposited: Marks,
    /// The members those deposits were sealed to.
    sealed_to: BTreeSet<MemberKey>,
    /// The commitment of its rekey if that was ours (we look after it if it lost).
    ours: Option<Commitment>,
    /// Its link's notice mailbox, for the newcomers let in with it whose secret never came.
    link: LeftLink,
}

/// The notice mailbox of the link of an epoch we left, and what we deposited there for the
/// newcomers handed that epoch who never received its secret (see
/// [`Client::deposit_link_bundles`]).
#[cfg_attr(any(test, fuzzing), derive(Clone))]
struct LeftLink {
    /// The link (what a notice that it was superseded names, by its room id).
    secret: RoomSecret,
    /// The link's notice mailbox (`RoomSecret::notice`).
    notice: MailboxKeys,
    /// The commitment of the epoch whose link it is (what its hand-overs name).
    commitment: Commitment,
    /// What we deposited there, by author.
    deposited: Marks,
    /// The newcomers those deposits were sealed to.
    sealed_to: BTreeSet<MemberKey>,
}

impl LeftEpoch {
    fn new(secret: &EpochSecret, ours: Option<Commitment>) -> LeftEpoch {
        LeftEpoch {
            keys: secret.mailbox_keys(),
            deposited: Marks::new(),
            sealed_to: BTreeSet::new(),
            ours,
            link: LeftLink {
                secret: secret.link(),
                notice: secret.link().notice().mailbox_keys(),
                commitment: secret.commitment(),
                deposited: Marks::new(),
                sealed_to: BTreeSet::new(),
            },
        }
    }
}

/// The epochs we left, most recent first, and when we entered the one we are in.
#[derive(Default)]
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(in crate::client) struct LeftEpochs {
    /// The commitment of the rekey that started the epoch we are in, if it was ours.
    ours: Option<Commitment>,
    /// The epochs we left, most recent first.
    left: Vec<LeftEpoch>,
    /// Whether those of the applied chain were recovered from history (after a restore).
    recovered: bool,
    /// An epoch we left that no lockbox of ours holds, as the app kept it
    /// ([`Client::with_left_epoch`]): recovered with those that one does.
    kept: Option<(u64, EpochSecret)>,
    /// The bundle deposits we opened, or could not (`sealed.rs`).
    pub(in crate::client) bundle_keys: BundleKeys,
    /// Mailboxes of older epochs than those kept, where our rekey told a newcomer handed one
    /// of them late that it was sealed in (see [`Client::deposit_for_late_newcomers`]):
    /// deposited into, never read. The last [`LATE_MAILBOXES`].
    late: Vec<MailboxKeys>,
    /// The first epoch we left (or, after a reload, the first we held, as the app kept it),
    /// with its number: its secret may be in no lockbox of ours (we founded it, or a member
    /// handed it to us). For newcomers handed it late, and to go back to epoch 0 if every
    /// rekey from it lost ([`LeftEpochs::epoch_zero`]).
    first: Option<(u64, EpochSecret)>,
    /// The newcomers told (or, keeping no mailbox of the epoch they were handed, not) that
    /// the member who handed them an epoch had been removed
    /// ([`Client::deposit_shut_out_news`]), by that member.
    told: BTreeMap<MemberKey, BTreeSet<MemberKey>>,
}

/// How many older epochs' mailboxes we keep to deposit into for newcomers handed them late.
const LATE_MAILBOXES: usize = 4;

impl LeftEpochs {
    /// The mailbox keys of the epochs we left, most recent first.
    pub(in crate::client) fn keys(&self) -> impl Iterator<Item = &MailboxKeys> {
        self.left.iter().map(|epoch| &epoch.keys)
    }

    /// We enter an epoch (started by our rekey of commitment `ours`, if it was ours);
    /// `left`, the secret of the one we leave, if we move.
    fn enter(&mut self, left: Option<&EpochSecret>, ours: Option<Commitment>) {
        let was_ours = std::mem::replace(&mut self.ours, ours);
        if let Some(secret) = left {
            self.left.insert(0, LeftEpoch::new(secret, was_ours));
            self.left.truncate(LEFT_MAILBOXES);
        }
    }

    /// Keeps `keys`, an older epoch's mailbox than those kept, to deposit into (the last
    /// [`LATE_MAILBOXES`]); its room id.
    fn keep_late(&mut self, keys: MailboxKeys) -> RoomId {
        let room = keys.room();
        if !self.late.iter().any(|kept| kept.room() == room) {
            self.late.insert(0, keys);
            self.late.truncate(LATE_MAILBOXES);
        }
        room
    }

    /// The link of the epoch of `commitment`, if we left it (or held it first).
    pub(in crate::client) fn link_of(&self, commitment: Commitment) -> Option<RoomSecret> {
        let left = (self.left.iter().map(|epoch| &epoch.link))
            .find(|link| link.commitment == commitment)
            .map(|link| link.secret.clone());
        left.or_else(|| {
            (self.first.as_ref())
                .filter(|(_, secret)| secret.commitment() == commitment)
                .map(|(_, secret)| secret.link())
        })
    }

    /// Epoch 0's secret, if we held it (see `move_through_epochs`).
    pub(in crate::client) fn epoch_zero(&self) -> Option<EpochSecret> {
        (self.first.as_ref())
            .filter(|(n, _)| *n == 0)
            .map(|(_, secret)| secret.clone())
    }

    /// The mailboxes we only deposit into: the notice mailboxes of the links of the epochs
    /// we left, and older epochs' for newcomers handed them late.
    pub(in crate::client) fn deposit_only(&self) -> impl Iterator<Item = &MailboxKeys> {
        (self.left.iter().map(|epoch| &epoch.link.notice)).chain(&self.late)
    }
}

impl Client {
    /// Notes that we enter an epoch (whose rekey of commitment `ours` was ours, if so),
    /// leaving the epoch of secret `left` (if we move).
    pub(super) fn note_entered(
        &mut self,
        left: Option<(u64, &EpochSecret)>,
        ours: Option<Commitment>,
    ) {
        if self.left_mailboxes.first.is_none() {
            self.left_mailboxes.first = left.map(|(n, secret)| (n, secret.clone()));
        }
        self.left_mailboxes
            .enter(left.map(|(_, secret)| secret), ours);
    }

    /// Gives back epoch `epoch`, which we left and whose secret no lockbox of ours in history
    /// holds: the first we held in the room (we founded it, or a member handed it to us),
    /// as the app kept it with the room (`SavedRoom::first_epoch`). Its mailbox is read and
    /// deposited into like those recovered from lockboxes ([`Client::recover_left_epochs`]);
    /// nothing if it is not older than the epoch we hold. Call after [`Client::with_epoch`].
    pub fn with_left_epoch(mut self, epoch: u64, secret: EpochSecret) -> Client {
        self.left_mailboxes.first = Some((epoch, secret.clone()));
        self.left_mailboxes.kept = Some((epoch, secret));
        self
    }

    /// The epochs we left are not stored with the room, but history holds our lockboxes of
    /// those on the applied chain: once we hold an epoch, if we have left none yet (after a
    /// restore), the last [`LEFT_MAILBOXES`] before it that were sealed to us are taken
    /// back (what history held when we entered them is unknown: bundles take each author's
    /// last [`BUNDLE_PER_AUTHOR`] events). The first epoch we held has no lockbox of ours
    /// (epoch 0 has none at all; a later one was handed to us): the app keeps it
    /// ([`Client::with_left_epoch`]), and it takes its place among them.
    pub(super) fn recover_left_epochs(&mut self) {
        if self.left_mailboxes.recovered || !self.left_mailboxes.left.is_empty() {
            return;
        }
        let Some((ours, held)) = self.epoch.as_ref().map(|(n, s)| (*n, s.commitment())) else {
            return;
        };
        self.left_mailboxes.recovered = true;
        let actions = self.governance_actions();
        let ours = self.number_of(&actions, &held).unwrap_or(ours);
        let me = self.public.member_key();
        let mut left: Vec<(u64, EpochSecret)> = Vec::new();
        for n in (1..ours).rev() {
            if left.len() >= LEFT_MAILBOXES {
                break;
            }
            if let Some(secret) = self.open_epoch(&actions, n) {
                left.push((n, secret));
            }
        }
        if let Some((n, secret)) = self.left_mailboxes.kept.take()
            && n < ours
            && !left.iter().any(|(m, _)| *m == n)
        {
            let at = left.iter().position(|(m, _)| *m < n).unwrap_or(left.len());
            left.insert(at, (n, secret));
            left.truncate(LEFT_MAILBOXES);
        }
        self.left_mailboxes.left = left
            .into_iter()
            .map(|(n, secret)| {
                let ours = self
                    .applied_rekey(&actions, n)
                    .filter(|(rekey, _)| rekey.order.author == me)
                    .map(|_| secret.commitment());
                LeftEpoch::new(&secret, ours)
            })
            .collect();
    }

    /// Deposits the bundle (see the module doc) into the mailboxes of the epochs we left:
    /// all of them after our own rekey (`all`), else those whose rekey was ours and lost.
    /// One key for the whole deposit, sealed to every member we count in the room now.
    pub(super) fn deposit_bundles(&mut self, all: bool) {
        let actions = self.governance_actions();
        self.deposit_link_bundles(&actions);
        let lost: Vec<bool> = self
            .left_mailboxes
            .left
            .iter()
            .map(|epoch| {
                epoch
                    .ours
                    .is_some_and(|ours| self.number_of(&actions, &ours).is_none())
            })
            .collect();
        if !lost.iter().any(|lost| all || *lost) {
            return;
        }
        let Some((sealer, holders)) = self.bundle_sealer() else {
            return;
        };
        if all {
            self.deposit_for_late_newcomers(&actions, &sealer);
        }
        for (idx, lost) in lost.into_iter().enumerate() {
            if !(all || lost) {
                continue;
            }
            // Someone we did not seal to before: what went in before goes again, for them.
            if let Some(epoch) = self.left_mailboxes.left.get_mut(idx)
                && !holders.is_subset(&epoch.sealed_to)
            {
                epoch.deposited.clear();
                epoch.sealed_to.clone_from(&holders);
            }
            self.deposit_bundle(idx, &actions, &sealer);
        }
    }

    /// Our rekey (the epoch we are in) is the first sealed to a newcomer a member handed an
    /// older epoch late (`crate::governance`: a late hand-over leaves its newcomer out, for
    /// the next rekey to seal in). That newcomer waits in the epoch it was handed, reading
    /// its mailbox; if we no longer keep that mailbox among the epochs we left (the room
    /// moved on more than [`LEFT_MAILBOXES`] epochs since), nobody else tells it of our
    /// rekey. So we deposit the bundle there too, its secret from our lockbox of that epoch
    /// (or the first we held, which none holds), once:
    /// from the epoch our rekey takes it to, the ordinary left mailboxes reach it.
    fn deposit_for_late_newcomers(&mut self, actions: &[Action], sealer: &Sealer) {
        let Some((current, held)) = self.epoch.as_ref().map(|(n, s)| (*n, s.commitment())) else {
            return;
        };
        let Some((_, ours)) = self.applied_rekey(actions, current) else {
            return;
        };
        if Commitment(ours.commitment) != held {
            return;
        }
        // Sealed into no applied epoch before ours.
        let first_in_ours = |member: &MemberKey| {
            ours.lockboxes.contains_key(member)
                && !actions.iter().any(|action| match &action.what {
                    Govern::Rekey(rekey) => {
                        rekey.epoch < current
                            && rekey.lockboxes.contains_key(member)
                            && self.governance.outcome(&action.id) == Some(Outcome::Applied)
                    }
                    _ => false,
                })
        };
        let handed: BTreeSet<[u8; 32]> = actions
            .iter()
            .filter(|action| self.governance.outcome(&action.id) == Some(Outcome::Applied))
            .filter_map(|action| match &action.what {
                Govern::Handover {
                    member, commitment, ..
                } if first_in_ours(member) => Some(*commitment),
                _ => None,
            })
            .collect();
        for commitment in handed {
            let kept = (self.left_mailboxes.left.iter())
                .any(|epoch| epoch.link.commitment.0 == commitment);
            if kept {
                continue;
            }
            let secret = ((1..current).filter_map(|n| self.open_epoch(actions, n)))
                .chain(self.left_mailboxes.first.clone().map(|(_, secret)| secret))
                .find(|secret| secret.commitment().0 == commitment);
            let Some(secret) = secret else {
                continue;
            };
            let room = self.left_mailboxes.keep_late(secret.mailbox_keys());
            self.deposit_chains(room, &Marks::new(), actions, sealer);
        }
    }

    /// A fresh key for one deposit, sealed to every member we count in the room now
    /// (joined, not removed, may read, entitled: as a rekey seals its epoch; a `Join` alone,
    /// which a removed member can leave in an old mailbox for a key of its own, gets
    /// nothing). `None` outside a governed room, or beyond what one entry's lockboxes hold.
    /// Also returns who it is sealed to.
    fn bundle_sealer(&mut self) -> Option<(Sealer, BTreeSet<MemberKey>)> {
        let genesis = self.governance.genesis()?;
        let holders: Vec<PublicIdentity> = self
            .governance
            .members()
            .filter(|(member, _)| {
                self.governance.may_read(member) && self.governance.entitled(member)
            })
            .filter_map(|(member, dh)| PublicIdentity::from_keys(member.as_bytes(), dh))
            .collect();
        let sealer = Sealer::new(genesis, &holders, &mut self.mailbox_rng)?;
        sealer.remember(&mut self.left_mailboxes.bundle_keys);
        let keys = holders.iter().map(PublicIdentity::member_key).collect();
        Some((sealer, keys))
    }

    /// Takes in the events of the bundle entry `bytes` (an opened mailbox entry) if it was
    /// sealed to us (see `sealed.rs`); `None` otherwise (or an old, clear bundle).
    pub(in crate::client) fn open_bundle(&mut self, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        let genesis = self.governance.genesis()?;
        self.left_mailboxes
            .bundle_keys
            .open(&self.identity, genesis, bytes)
    }

    /// Deposits the bundle into the mailbox of the `idx`-th epoch we left (`actions`:
    /// every governance action held), packed into as few entries as hold it (at most
    /// [`BUNDLE_ENTRIES`]), each sealed by `sealer`.
    fn deposit_bundle(&mut self, idx: usize, actions: &[Action], sealer: &Sealer) {
        let Some(epoch) = self.left_mailboxes.left.get(idx) else {
            return;
        };
        let room = epoch.keys.room();
        let done = epoch.deposited.clone();
        let packed = self.deposit_chains(room, &done, actions, sealer);
        if let Some(epoch) = self.left_mailboxes.left.get_mut(idx) {
            merge(&mut epoch.deposited, packed);
        }
    }

    /// Deposits into the notice mailbox of the link of each epoch we left the bundle, sealed
    /// only to the newcomers let in with that link (handed its epoch) whom a later rekey
    /// sealed in, whom we count in the room now, and of whom we hold nothing but their
    /// `Join`. Such a newcomer's secret never came (the link ended between the hand-over and
    /// the secret, or the epoch was a rival's that lost): holding no epoch, it reads only
    /// that mailbox (`Client::notice_room`), and it follows the lockbox sealed to it there.
    /// Whoever else holds the old link (a leaked one the owner reset) usually finds nothing
    /// new there (nobody is stranded), else entries it cannot open, sealed to the stranded
    /// few, naming nobody: not how many are in the room. Each member that held the epoch
    /// deposits (any of them may be the one still online), each event once per newcomers.
    fn deposit_link_bundles(&mut self, actions: &[Action]) {
        let Some(genesis) = self.governance.genesis() else {
            return;
        };
        // Those let in with each epoch's link, by its commitment, and who were sealed in.
        let mut handed: BTreeMap<[u8; 32], BTreeSet<MemberKey>> = BTreeMap::new();
        let mut sealed_in: BTreeSet<MemberKey> = BTreeSet::new();
        for action in actions {
            if self.governance.outcome(&action.id) != Some(Outcome::Applied) {
                continue;
            }
            match &action.what {
                Govern::Handover {
                    member, commitment, ..
                } => {
                    handed.entry(*commitment).or_default().insert(*member);
                }
                Govern::Rekey(rekey) => sealed_in.extend(rekey.lockboxes.keys().copied()),
                _ => {}
            }
        }
        let stranded = |member: &MemberKey| {
            sealed_in.contains(member)
                // Who got the secret announced its name (`handle_epoch_key`): only those
                // whose chain we hold is their `Join` alone may wait for it.
                && self.history.mark(member) <= 1
                && self.governance.may_read(member)
                && self.governance.entitled(member)
        };
        let plans: Vec<(usize, Vec<PublicIdentity>)> = (self.left_mailboxes.left.iter())
            .enumerate()
            .filter_map(|(idx, epoch)| {
                let newcomers = handed.get(&epoch.link.commitment.0)?;
                let holders: Vec<PublicIdentity> = (self.governance.members())
                    .filter(|(member, _)| newcomers.contains(member) && stranded(member))
                    .filter_map(|(member, dh)| PublicIdentity::from_keys(member.as_bytes(), dh))
                    .collect();
                (!holders.is_empty()).then_some((idx, holders))
            })
            .collect();
        for (idx, holders) in plans {
            let keys: BTreeSet<MemberKey> =
                holders.iter().map(PublicIdentity::member_key).collect();
            let Some(link) = self
                .left_mailboxes
                .left
                .get_mut(idx)
                .map(|epoch| &mut epoch.link)
            else {
                continue;
            };
            if keys != link.sealed_to {
                link.deposited.clear();
                link.sealed_to = keys;
            }
            let (room, done) = (link.notice.room(), link.deposited.clone());
            let Some(sealer) = Sealer::new(genesis, &holders, &mut self.mailbox_rng) else {
                continue;
            };
            let packed = self.deposit_chains(room, &done, actions, &sealer);
            if packed.is_empty() {
                continue;
            }
            sealer.remember(&mut self.left_mailboxes.bundle_keys);
            if let Some(epoch) = self.left_mailboxes.left.get_mut(idx) {
                merge(&mut epoch.link.deposited, packed);
            }
        }
    }

    /// A newcomer handed an epoch by a member removed before (the hand-over is past its
    /// cut), whose `Join` we hold and whom nothing else entitles, is shut out: no rekey is
    /// sealed to it. But it counts its hander in good standing (the removal was written in
    /// an epoch it never held, sim seed 202), so it thinks itself left out and waits for
    /// one, in the epoch it was handed. We leave in that epoch's mailbox, if we keep it, the
    /// news of its hander's removal (the removal with its author's few events before it,
    /// redacted), sealed to it alone: it then knows it was let in by nobody with the right
    /// to, reads its link's notice mailbox and learns that the link is no longer valid
    /// (`superseded`). Once per newcomer, at most [`MAX_LATE_HANDOVERS`] per removed hander
    /// (who can sign any number of hand-overs past its cut). Cheap when there is nobody to
    /// tell: only the events of removed members past their cut are looked at.
    pub(in crate::client) fn deposit_shut_out_news(&mut self) {
        let Some(genesis) = self.governance.genesis() else {
            return;
        };
        let told = &self.left_mailboxes.told;
        let due: Vec<(MemberKey, MemberKey, Commitment)> = self
            .handovers_past_cut()
            .filter(|(hander, member, _)| {
                told.get(hander)
                    .is_none_or(|told| told.len() < MAX_LATE_HANDOVERS && !told.contains(member))
            })
            .filter(|(_, member, _)| {
                self.governance.joined(member)
                    && self.governance.removed(member).is_none()
                    && !self.governance.entitled(member)
                    && self.governance.may_read(member)
            })
            .collect();
        if due.is_empty() {
            return;
        }
        let actions = self.governance_actions();
        for (hander, newcomer, commitment) in due {
            let kept = (self.left_mailboxes.left.iter())
                .find(|epoch| epoch.link.commitment == commitment)
                .map(|epoch| epoch.keys.room());
            // The first epoch we held, if no longer among those kept: deposit-only, as for
            // a newcomer handed it late.
            let first = || {
                let (_, secret) = (self.left_mailboxes.first.as_ref())
                    .filter(|(_, secret)| secret.commitment() == commitment)?;
                let keys = secret.mailbox_keys();
                Some(self.left_mailboxes.keep_late(keys))
            };
            let room = kept.or_else(first);
            let removal = actions.iter().find(|action| {
                matches!(&action.what, Govern::Remove { member, .. } if *member == hander)
                    && self.governance.outcome(&action.id) == Some(Outcome::Applied)
            });
            let identity = (self.governance.members())
                .find(|(member, _)| **member == newcomer)
                .and_then(|(member, dh)| PublicIdentity::from_keys(member.as_bytes(), dh));
            // Once, whether or not we can: the epoch's mailbox we keep no longer comes back,
            // and this runs on every governance action taken in.
            self.left_mailboxes
                .told
                .entry(hander)
                .or_default()
                .insert(newcomer);
            let (Some(room), Some(removal), Some(identity)) = (room, removal, identity) else {
                continue;
            };
            let Some(sealer) = Sealer::new(genesis, &[identity], &mut self.mailbox_rng) else {
                continue;
            };
            // Its author's few events before it, as the removal news goes (`REMOVAL_NEWS`).
            let (author, seq) = (removal.order.author, removal.order.seq);
            let done = Marks::from([(author, seq.saturating_sub(super::REMOVAL_NEWS))]);
            self.deposit_chains(room, &done, std::slice::from_ref(removal), &sealer);
        }
    }

    /// The hand-overs whose author had been removed before them (past its cut: they count
    /// for nothing), as (author, newcomer, the handed epoch's commitment). Only the events of
    /// removed members past their cut are looked at.
    pub(in crate::client) fn handovers_past_cut(
        &self,
    ) -> impl Iterator<Item = (MemberKey, MemberKey, Commitment)> + '_ {
        (self.governance.removals().iter()).flat_map(|(hander, cut)| {
            (self.history.range(hander, *cut, u64::MAX)).filter_map(|event| {
                match &event.event().content {
                    Content::Govern(Govern::Handover {
                        member, commitment, ..
                    }) => Some((*hander, *member, Commitment(*commitment))),
                    _ => None,
                }
            })
        })
    }

    /// Deposits into the mailbox `room` each author's chain up to its last governance
    /// action, after what went there before (`done`), packed and sealed by `sealer`.
    /// Returns what it packed, per author.
    fn deposit_chains(
        &mut self,
        room: crate::ids::RoomId,
        done: &Marks,
        actions: &[Action],
        sealer: &Sealer,
    ) -> Marks {
        let me = self.public.member_key();
        // Each author's last governance action: from the start, not only since we entered
        // that epoch, as a member of it may hold nothing older (a newcomer handed its
        // secret just before the others left it takes no rekey without the promotions
        // that empower its author).
        let mut last: Marks = Marks::new();
        for action in actions {
            let (author, seq) = (action.order.author, action.order.seq);
            let up_to = last.entry(author).or_insert(0);
            *up_to = (*up_to).max(seq);
        }
        // Ours only as far as the store holds them (write-ahead).
        if let Some(up_to) = last.get_mut(&me) {
            *up_to = (*up_to).min(self.own_sent_up_to());
        }
        let mut chains: Vec<Chain> = last
            .iter()
            .map(|(author, up_to)| {
                let done = done.get(author).copied().unwrap_or(0);
                let after = done.max(up_to.saturating_sub(BUNDLE_PER_AUTHOR));
                let events = self
                    .history
                    .range(author, after, *up_to)
                    .map(|event| Packed {
                        seq: event.event().seq,
                        lamport: event.event().lamport,
                        bytes: Self::for_old_mailboxes(event).bytes().to_vec(),
                    })
                    .collect();
                (*author, events)
            })
            .collect();
        // Ours first (the chain of our rekeys), then the shortest chains: whoever makes a
        // long one is the one cut by the bound.
        chains.sort_by_key(|(author, events)| (*author != me, events.len()));
        let (parts, packed) = pack(chains, sealer.room_for_events());
        for part in parts {
            let Some(list) = bundle::encode_events(part.iter().map(Vec::as_slice)) else {
                continue;
            };
            let Some(payload) = sealer.seal(&list, &mut self.mailbox_rng) else {
                continue;
            };
            // Not an outbox deposit (nothing of ours the room's mailbox now holds).
            self.deposit_into(room, 0, &payload);
        }
        packed
    }

    /// Deposits into the room's mailbox our few events before our removal `seq`, after what
    /// gave us the right to remove (those `news_of` gives, as a member ending the removed
    /// member's link hands them: `dismiss`),
    /// redacted, so that a member removed while offline takes the removal in, which goes
    /// whole. Written in the epoch it held, they tell it nothing later.
    pub(in crate::client) fn deposit_removal_news(&mut self, seq: u64) {
        let Some(room) = self.mailbox.as_ref().map(MailboxKeys::room) else {
            return;
        };
        let me = self.public.member_key();
        let ours = self.history.range(
            &me,
            seq.saturating_sub(super::REMOVAL_NEWS),
            seq.saturating_sub(1),
        );
        let news: Vec<Vec<u8>> = (self.authority_news(&me).into_iter())
            .chain(ours)
            .map(|event| Self::for_old_mailboxes(event).bytes().to_vec())
            .collect();
        for bytes in news {
            // Not an outbox deposit: what goes whole, if at all, is the deposit rule's.
            self.deposit_into(room, 0, &bytes);
        }
    }

    /// `event` as deposited into a left epoch's mailbox: governance whole, messages, files
    /// and edits without their content.
    fn for_old_mailboxes(event: &VerifiedEvent) -> VerifiedEvent {
        event.redacted().unwrap_or_else(|| event.clone())
    }
}

/// Takes in `packed` (what a deposit packed, per author) into the marks `done`.
fn merge(done: &mut Marks, packed: Marks) {
    for (author, up_to) in packed {
        let done = done.entry(author).or_insert(0);
        *done = (*done).max(up_to);
    }
}
