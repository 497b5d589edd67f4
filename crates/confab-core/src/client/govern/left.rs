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
//!   bundle** ([`Client::deposit_bundles`]): every governance action it holds that was
//!   posted since it entered that epoch, each with its author's chain since then (history
//!   takes an event only in its chain's sequence), up to [`BUNDLE_PER_AUTHOR`] events an
//!   author. Whatever a member of that epoch missed, the rekey chain, the removals it
//!   depends on and the `Join`s of newcomers it was sealed to then arrive together. Each
//!   event is deposited into a mailbox once (per session).
//! - **Served redacted.** Messages, files and edits go without their content
//!   (`VerifiedEvent::redacted`: same id, still verifies, so chains stay whole); the
//!   governance actions go whole, and so do names, reactions and deletes. An old epoch's
//!   mailbox can be read by everyone who held that epoch, members removed since included:
//!   they learn the room's governance (what the superseded notice shows anyway) and no
//!   message. Members fetch the full forms from whoever they link to later (sync asks for
//!   what it holds only redacted).
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
//! it: the bundles carry no content.

use std::collections::BTreeMap;

use crate::governance::Action;
use crate::history::VerifiedEvent;
use crate::ids::MemberKey;
use crate::mailbox::MailboxKeys;
use crate::room::Commitment;

use super::super::Client;

/// How many left epochs' mailboxes a member keeps (to read the news of the other side of
/// a partition, and to deposit its own).
pub(in crate::client) const LEFT_MAILBOXES: usize = 8;

/// Most events of one author a bundle deposits into one mailbox: its chain since the
/// epoch began, up to its last governance action. A longer chain is cut at its start
/// (a member who misses the cut part takes the rest in once it links).
pub(in crate::client) const BUNDLE_PER_AUTHOR: u64 = 256;

/// Each author's sequence number held at some point.
type Marks = BTreeMap<MemberKey, u64>;

/// One epoch we left.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(in crate::client) struct LeftEpoch {
    /// Its mailbox's keys.
    keys: MailboxKeys,
    /// What history held when we entered it: a bundle holds what came after.
    since: Marks,
    /// What we deposited into its mailbox, by author.
    deposited: Marks,
    /// The commitment of its rekey if that was ours (we look after it if it lost).
    ours: Option<Commitment>,
}

/// The epochs we left, most recent first, and when we entered the one we are in.
#[derive(Default)]
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(in crate::client) struct LeftEpochs {
    /// What history held when we entered the epoch we are in.
    since: Marks,
    /// The commitment of the rekey that started the epoch we are in, if it was ours.
    ours: Option<Commitment>,
    /// The epochs we left, most recent first.
    left: Vec<LeftEpoch>,
    /// Whether those of the applied chain were recovered from history (after a restore).
    recovered: bool,
}

impl LeftEpochs {
    /// The mailbox keys of the epochs we left, most recent first.
    pub(in crate::client) fn keys(&self) -> impl Iterator<Item = &MailboxKeys> {
        self.left.iter().map(|epoch| &epoch.keys)
    }

    /// We enter an epoch (started by our rekey of commitment `ours`, if it was ours)
    /// holding `marks`; `left`, the mailbox of the one we leave, if we move.
    fn enter(&mut self, left: Option<MailboxKeys>, marks: Marks, ours: Option<Commitment>) {
        let since = std::mem::replace(&mut self.since, marks);
        let was_ours = std::mem::replace(&mut self.ours, ours);
        if let Some(keys) = left {
            self.left.insert(
                0,
                LeftEpoch {
                    keys,
                    since,
                    deposited: Marks::new(),
                    ours: was_ours,
                },
            );
            self.left.truncate(LEFT_MAILBOXES);
        }
    }
}

impl Client {
    /// Notes that we enter an epoch (whose rekey of commitment `ours` was ours, if so),
    /// leaving the mailbox `left` (if we move).
    pub(super) fn note_entered(&mut self, left: Option<MailboxKeys>, ours: Option<Commitment>) {
        let marks = self
            .history
            .marks()
            .into_iter()
            .map(|mark| (mark.author, mark.seq))
            .collect();
        self.left_mailboxes.enter(left, marks, ours);
    }

    /// The epochs we left are not stored with the room, but history holds our lockboxes of
    /// those on the applied chain: once we hold an epoch, if we have left none yet (after a
    /// restore), the last [`LEFT_MAILBOXES`] before it that were sealed to us are taken
    /// back (what history held when we entered them is unknown: bundles take each author's
    /// last [`BUNDLE_PER_AUTHOR`] events). Epoch 0 has no lockbox: it is lost with the page.
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
        let mut left = Vec::new();
        for n in (1..ours).rev() {
            if left.len() >= LEFT_MAILBOXES {
                break;
            }
            let Some(secret) = self.open_epoch(&actions, n) else {
                continue;
            };
            let mine = self
                .applied_rekey(&actions, n)
                .filter(|(rekey, _)| rekey.order.author == me)
                .map(|_| secret.commitment());
            left.push(LeftEpoch {
                keys: secret.mailbox_keys(),
                since: Marks::new(),
                deposited: Marks::new(),
                ours: mine,
            });
        }
        self.left_mailboxes.left = left;
    }

    /// Deposits the bundle (see the module doc) into the mailboxes of the epochs we left:
    /// all of them after our own rekey (`all`), else those whose rekey was ours and lost.
    pub(super) fn deposit_bundles(&mut self, all: bool) {
        let actions = self.governance_actions();
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
        for (idx, lost) in lost.into_iter().enumerate() {
            if all || lost {
                self.deposit_bundle(idx, &actions);
            }
        }
    }

    /// Deposits the bundle into the mailbox of the `idx`-th epoch we left (`actions`:
    /// every governance action held).
    fn deposit_bundle(&mut self, idx: usize, actions: &[Action]) {
        let Some(epoch) = self.left_mailboxes.left.get(idx) else {
            return;
        };
        let room = epoch.keys.room();
        let me = self.public.member_key();
        // Each author's last governance action since we entered that epoch.
        let mut last: Marks = Marks::new();
        for action in actions {
            let (author, seq) = (action.order.author, action.order.seq);
            if seq > epoch.since.get(&author).copied().unwrap_or(0) {
                let up_to = last.entry(author).or_insert(0);
                *up_to = (*up_to).max(seq);
            }
        }
        // Ours only as far as the store holds them (write-ahead).
        if let Some(up_to) = last.get_mut(&me) {
            *up_to = (*up_to).min(self.own_sent_up_to());
        }
        let mut bundle: Vec<Vec<u8>> = Vec::new();
        for (author, up_to) in &last {
            let since = epoch.since.get(author).copied().unwrap_or(0);
            let done = epoch.deposited.get(author).copied().unwrap_or(0);
            let after = since.max(done).max(up_to.saturating_sub(BUNDLE_PER_AUTHOR));
            bundle.extend(
                self.history
                    .range(author, after, *up_to)
                    .map(|event| Self::for_old_mailboxes(event).bytes().to_vec()),
            );
        }
        for bytes in bundle {
            // Not an outbox deposit (nothing of ours the room's mailbox now holds).
            self.deposit_into(room, 0, &bytes);
        }
        if let Some(epoch) = self.left_mailboxes.left.get_mut(idx) {
            for (author, up_to) in last {
                let done = epoch.deposited.entry(author).or_insert(0);
                *done = (*done).max(up_to);
            }
        }
    }

    /// `event` as deposited into a left epoch's mailbox: governance whole, messages, files
    /// and edits without their content.
    fn for_old_mailboxes(event: &VerifiedEvent) -> VerifiedEvent {
        event.redacted().unwrap_or_else(|| event.clone())
    }
}
