//! Moving through a governed room's epochs (following each rekey sealed to us, back to the
//! applied chain when a rival won, ending the links of the room we left) and handing the
//! current epoch's secret to a newcomer (see the parent module and `crate::governance`).

use crate::Instant;
use crate::governance::{Action, Govern, Outcome, Rekey};
use crate::history::{Content, UnixMillis};
use crate::ids::{MemberKey, PeerId};
use crate::lockbox;
use crate::room::{Commitment, EpochSecret};
use crate::signal::SignalSeal;
use crate::wire::{Body, EpochKey};

use super::super::link::Close;
use super::super::{Client, ClientEvent};
use super::GovernError;

impl Client {
    /// Moves through every epoch history holds a lockbox of ours for (see
    /// `move_through_epochs`); if that moved us, ends every link keyed for another room
    /// (`leave_older_links`).
    pub(in crate::client) fn follow_epochs(&mut self) {
        self.recover_left_epochs();
        let left = self.room.room_id();
        // The epoch we leave, if we move: its news is gathered only then (moving changes
        // neither history nor governance, and this runs on every action taken in).
        let leaving = self.epoch.as_ref().map(|(n, s)| (*n, s.commitment()));
        let crossed_our_rekey = self.move_through_epochs();
        if self.room.room_id() != left {
            let news = self.news_for_the_room_we_leave(leaving);
            // Members still in the epochs we left find the chain in their mailboxes.
            self.deposit_bundles(crossed_our_rekey);
            self.leave_older_links(&news);
            // What waited for an epoch no removed member holds (see `deposit`).
            self.deposit_outbox_if_alone();
        }
        self.deposit_shut_out_news();
    }

    /// The rekey a member still in the epoch we leave (`leaving`: its number and commitment)
    /// needs to follow us, with its author's few events before it: the next epoch's on our
    /// chain (even if we are left out of it and jump further), or, when a rival rekey we
    /// followed lost, the winner's of the epoch we leave. Either was written in an epoch that member was in, so it tells them
    /// nothing said after they were left behind.
    pub(in crate::client) fn news_for_the_room_we_leave(
        &self,
        leaving: Option<(u64, Commitment)>,
    ) -> Vec<Vec<u8>> {
        let Some((ours, held)) = leaving else {
            return Vec::new();
        };
        let actions = self.rekey_actions();
        let ours = self.number_of(&actions, &held).unwrap_or(ours);
        let rival_won = ours > 0
            && self
                .applied_rekey(&actions, ours)
                .is_none_or(|(_, rekey)| Commitment(rekey.commitment) != held);
        let next = if rival_won {
            ours
        } else {
            ours.saturating_add(1)
        };
        self.applied_rekey(&actions, next)
            .map(|(rekey, _)| self.news_of(rekey))
            .unwrap_or_default()
    }

    /// After a move, every link keyed for another room (an older epoch's, or a rival's we
    /// left) is handed `news` (so a member there can follow us) and a goodbye, and ends;
    /// so does every link not keyed yet (its direct connection still being set up): it
    /// was made through the room we left, and would otherwise linger as a peer connecting
    /// until it timed out, then key itself for the new room with a peer never introduced
    /// there. The app's server links us again within the room we are in now. Together with
    /// `serves`, this is the rule that keeps an epoch's content from anyone it was not
    /// sealed to: a member serves the room only over links keyed for its current room,
    /// whose peer held that room's secret to key it; so what is posted in epoch `e` is
    /// only ever held by members who were in epoch `e` or later, and a member removed
    /// before `e` (no lockbox for it) never links to one of them in a room of `e`. Events
    /// carry no epoch: which links may carry them is the rule, not the event.
    pub(in crate::client) fn leave_older_links(&mut self, news: &[Vec<u8>]) {
        let Some(now) = self.latest_now else {
            return;
        };
        let room = self.room.room_id();
        let older: Vec<PeerId> = self
            .links
            .iter()
            .filter(|(_, link)| link.keyed_for != Some(room))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in older {
            let reads = self
                .member_of(peer)
                .is_some_and(|member| self.governance.may_read(&member));
            if reads {
                for event in news {
                    self.seal_to(
                        now,
                        peer,
                        &Body::Events(vec![event.clone()]),
                        super::super::Channel::Main,
                    );
                }
            }
            self.seal_to(now, peer, &Body::Bye, super::super::Channel::Main);
            self.close(now, peer, Close::Left);
        }
    }

    /// Moves through every epoch history holds a lockbox of ours for, one after another
    /// (live, and after a restore: a tab closed before the app saved the epoch it moved to).
    /// Whether it moved us through a rekey of ours. A member removed stays where it is:
    /// a rekeyer who had not heard of the removal may have sealed it the next epoch.
    pub(in crate::client) fn move_through_epochs(&mut self) -> bool {
        let me = self.public.member_key();
        if self.governance.removed(&me).is_some() {
            return false;
        }
        let actions = self.rekey_actions();
        if self.epoch.is_none() {
            // Never handed a secret (the members we met had moved on, or we waited for
            // approval), but a rekey sealed one to us: the latest such epoch.
            let latest = (1..=self.governance.epoch())
                .rev()
                .find_map(|n| self.open_epoch(&actions, n).map(|secret| (n, secret)));
            let Some((n, secret)) = latest else {
                return false;
            };
            self.enter_epoch(n, secret);
        }
        let Some((mut ours, held)) = self.epoch.as_ref().map(|(n, s)| (*n, s.commitment())) else {
            return false;
        };
        // The number of the epoch we hold is the rekey's whose commitment its secret
        // matches, whatever a member that handed it to us said.
        if let Some(number) = self.number_of(&actions, &held)
            && number != ours
            && let Some((_, secret)) = self.epoch.take()
        {
            self.epoch = Some((number, secret));
            ours = number;
        }
        // The rekey we followed lost to a rival for its epoch (two admins started it at
        // once, or its author's removal won): back to the applied chain, at its latest epoch
        // sealed to us, older or newer than the one we followed (a rekey that left us out
        // may have replaced it). (Lockboxes open with our own key, whatever epoch we are in.)
        // If every rekey from epoch 0 lost (its author was demoted apart), back to epoch 0,
        // which no lockbox holds, if we held it.
        let rival_won = ours > 0
            && self
                .applied_rekey(&actions, ours)
                .is_none_or(|(_, rekey)| Commitment(rekey.commitment) != held);
        if rival_won {
            let zero = (self.governance.epoch() == 0)
                .then(|| self.left_mailboxes.epoch_zero())
                .flatten()
                .map(|secret| (0, secret));
            let back = (1..=self.governance.epoch())
                .rev()
                .find_map(|n| self.open_epoch(&actions, n).map(|secret| (n, secret)))
                .or(zero);
            let Some((n, secret)) = back else {
                return false;
            };
            self.enter_epoch(n, secret);
            ours = n;
        }
        let mut crossed_ours = false;
        while ours < self.governance.epoch() {
            let next = ours.saturating_add(1);
            let Some((rekeyer, _)) = self.applied_rekey(&actions, next) else {
                break;
            };
            let rekeyer = (rekeyer.order.author, rekeyer.order.seq);
            // Our own rekey moves us once it has gone out (write-ahead: stored first), to
            // the members still in the room we leave too (see `leave_older_links`).
            if rekeyer.0 == me && rekeyer.1 > self.own_sent_up_to() {
                break;
            }
            let Some(secret) = self.open_epoch(&actions, next) else {
                // Left out of it (its rekeyer had not seen our `Join`, or counted us
                // removed by a removal that lost): a later epoch sealed to us takes us there.
                let later = (next.saturating_add(1)..=self.governance.epoch())
                    .rev()
                    .find_map(|n| self.open_epoch(&actions, n).map(|secret| (n, secret)));
                let Some((n, secret)) = later else { break };
                self.enter_epoch(n, secret);
                ours = n;
                continue;
            };
            let had_mailbox = self.mailbox.is_some();
            let left_link = self.room.clone();
            self.enter_epoch(next, secret);
            if had_mailbox && rekeyer.0 == me {
                // Members still in the epoch we left find it in its mailbox (the bundles,
                // `left`), and strangers with the left link find that it was superseded.
                crossed_ours = true;
                self.deposit_notice(&left_link, rekeyer.1);
            }
            ours = next;
        }
        crossed_ours
    }

    /// The rekey that started epoch `epoch`, of `actions`, as the governance applied it.
    pub(in crate::client) fn applied_rekey<'a>(
        &self,
        actions: &'a [Action],
        epoch: u64,
    ) -> Option<(&'a Action, &'a Rekey)> {
        actions.iter().find_map(|action| match &action.what {
            Govern::Rekey(rekey)
                if rekey.epoch == epoch
                    && self.governance.outcome(&action.id) == Some(Outcome::Applied) =>
            {
                Some((action, rekey))
            }
            _ => None,
        })
    }

    /// The number of the applied epoch whose rekey commits to `held` (none for epoch 0,
    /// which has no rekey).
    pub(in crate::client) fn number_of(
        &self,
        actions: &[Action],
        held: &Commitment,
    ) -> Option<u64> {
        actions.iter().find_map(|action| match &action.what {
            Govern::Rekey(rekey)
                if Commitment(rekey.commitment) == *held
                    && self.governance.outcome(&action.id) == Some(Outcome::Applied) =>
            {
                Some(rekey.epoch)
            }
            _ => None,
        })
    }

    /// Epoch `epoch`'s secret, from our lockbox in the rekey that started it, if it has one.
    pub(in crate::client) fn open_epoch(
        &self,
        actions: &[Action],
        epoch: u64,
    ) -> Option<EpochSecret> {
        let genesis = self.governance.genesis()?;
        let (_, rekey) = self.applied_rekey(actions, epoch)?;
        let sealed = rekey.lockboxes.get(&self.public.member_key())?;
        let commitment = Commitment(rekey.commitment);
        lockbox::open(&self.identity, genesis, epoch, sealed, commitment).ok()
    }

    /// Takes `secret` as epoch `epoch`'s: the room's link, signal seal and mailbox follow it.
    pub(in crate::client) fn enter_epoch(&mut self, epoch: u64, secret: EpochSecret) {
        let link = secret.link();
        let moved = link.room_id() != self.room.room_id();
        let mut seed = [0; 32];
        self.rng.fill_bytes(&mut seed);
        self.signal_seal = SignalSeal::new(&link, seed);
        let had_mailbox = self.mailbox.replace(secret.mailbox_keys()).is_some();
        let left = (self.epoch.take()).filter(|_| moved && had_mailbox);
        if moved {
            // Whether the epoch we enter is ours (we look after its mailbox if it loses).
            let me = self.public.member_key();
            let actions = self.rekey_actions();
            let ours = self
                .applied_rekey(&actions, epoch)
                .filter(|(rekey, _)| rekey.order.author == me)
                .map(|_| secret.commitment());
            self.note_entered(left.as_ref().map(|(n, secret)| (*n, secret)), ours);
        }
        self.room = link;
        self.epoch = Some((epoch, secret));
        if moved {
            self.events.push_back(ClientEvent::Moved {
                room: self.room.room_id(),
            });
        }
    }

    /// Hands `member` the current epoch's secret if they may read the room: not removed,
    /// admitted where joining needs approval, and not left out of the rekey that started it.
    pub(in crate::client) fn offer_epoch(&mut self, now: Instant, peer: PeerId, member: MemberKey) {
        let Some((epoch, commitment)) = self.epoch.as_ref().map(|(n, s)| (*n, s.commitment()))
        else {
            return;
        };
        if self.governance.genesis().is_none() || !self.governance.may_read(&member) {
            return;
        }
        // Only the current epoch's: an older one lets nobody in who should be (its link was
        // reset), and who was left out (below) is known for the current one only.
        if epoch != self.governance.epoch() {
            return;
        }
        // Only to a peer that reached us in this epoch's room, with its link: one linked
        // before we moved was sealed a lockbox if it should have the secret.
        let room = self.room.room_id();
        if self.links.get(&peer).and_then(|link| link.keyed_for) != Some(room) {
            return;
        }
        // A rekey sealed this epoch's secret to everyone it was meant for; a member it left
        // out may have been removed in a way we have not heard of (the next epoch is sealed
        // to them if not).
        if self.governance.left_out(&member) {
            return;
        }
        // A newcomer is handed the secret once our hand-over has gone out (stored first, as
        // every event of ours): the room then seals it the next epoch, and a page closed in
        // between hands over nothing unrecorded. `send_stored_own` offers it again then.
        if self.handover_pending(&member) {
            return;
        }
        if !self.governance.handed(&member) {
            let what = Govern::Handover {
                member,
                epoch,
                commitment: commitment.0,
            };
            let sent_at = self.wall.map_or(UnixMillis(0), |(_, wall)| wall);
            let _ = self.govern(now, sent_at, what);
            return;
        }
        let Some((epoch, secret)) = &self.epoch else {
            return;
        };
        let body = Body::Epoch {
            epoch: *epoch,
            secret: EpochKey(*secret.as_bytes()),
        };
        self.send_body(now, peer, &body);
    }

    /// Whether a hand-over of ours to `member` of the current epoch has not gone out yet.
    fn handover_pending(&self, member: &MemberKey) -> bool {
        let me = self.public.member_key();
        let sent = self.own_sent_up_to();
        self.history
            .range(&me, sent.saturating_add(1), self.history.mark(&me))
            .any(|event| {
                matches!(event.event().content,
                    Content::Govern(Govern::Handover { member: m, epoch, .. })
                        if m == *member && epoch == self.governance.epoch())
            })
    }

    /// Our hand-over to `member` went out: hands them the secret on every link with them.
    pub(in crate::client) fn hand_over(&mut self, now: Instant, member: MemberKey) {
        let peers: Vec<PeerId> = self
            .verified_peers()
            .filter(|(_, info)| info.identity.member_key() == member)
            .map(|(peer, _)| peer)
            .collect();
        for peer in peers {
            self.offer_epoch(now, peer, member);
        }
    }

    /// Posts our hand-over of the epoch we hold ([`Govern::Handover`]) to at most `at_most`
    /// other members not handed it yet, as letting each in over a link would: for tests
    /// that fill a room from the mailbox, whose `Join`s alone entitle nobody to the next
    /// epoch. How many it handed it to; stops at the first refused.
    #[doc(hidden)]
    pub fn hand_over_all_for_testing_only(
        &mut self,
        now: Instant,
        sent_at: UnixMillis,
        at_most: usize,
    ) -> Result<usize, GovernError> {
        let Some((epoch, secret)) = &self.epoch else {
            return Ok(0);
        };
        let (epoch, commitment) = (*epoch, secret.commitment().0);
        let me = self.public.member_key();
        let members: Vec<MemberKey> = self
            .governance
            .members()
            .map(|(member, _)| *member)
            .filter(|member| *member != me && !self.governance.handed(member))
            .take(at_most)
            .collect();
        for member in &members {
            let handover = Govern::Handover {
                member: *member,
                epoch,
                commitment,
            };
            self.govern(now, sent_at, handover)?;
        }
        Ok(members.len())
    }

    /// A member handed us the room's epoch secret: taken if it is the secret of the room we
    /// reached (its link derives from it) and of no epoch older than ours.
    pub(in crate::client) fn handle_epoch_key(
        &mut self,
        now: Instant,
        peer: PeerId,
        _member: MemberKey,
        epoch: u64,
        key: &EpochKey,
    ) {
        if self.governance.genesis().is_none() {
            return self.reject(
                peer,
                super::super::RejectReason::Content("no epochs here".into()),
            );
        }
        if self.epoch.is_some() {
            // We hold the secret of the room we are in already (a room's id derives from
            // its secret): there is no other to take.
            return;
        }
        let secret = EpochSecret::from_bytes(key.0);
        if secret.link().room_id() != self.room.room_id() {
            return self.reject(
                peer,
                super::super::RejectReason::Content(format!(
                    "another room's secret (epoch {epoch})"
                )),
            );
        }
        // The number it is handed under is only a hint: history says which epoch's secret
        // it is (its rekey's commitment), as soon as it holds that rekey (`follow_epochs`).
        let actions = self.rekey_actions();
        let epoch = self
            .number_of(&actions, &secret.commitment())
            .unwrap_or(epoch);
        self.enter_epoch(epoch, secret);
        let sent_at = self.wall.map_or(UnixMillis(0), |(_, wall)| wall);
        self.join_if_new(now, sent_at);
        // Our name could not be posted before we held the room (see `publish`).
        self.announce_name(now, sent_at);
    }
}
