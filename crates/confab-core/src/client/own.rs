//! Our own chain: write-ahead, and learning its head before signing.
//!
//! - **Write-ahead.** An event we sign is reported as [`ClientEvent::Persist`] and goes to nobody
//!   (no peer, no relay, no mailbox, not even as a mark in `Have`) until the app reports
//!   that its store committed it ([`Client::handle_persisted`]). Otherwise a page that dies
//!   between sending and storing comes back with a shorter chain, signs another event with
//!   a number members already hold, and is banned for equivocating. A write that fails
//!   ([`Client::handle_persist_failed`]) withdraws our events not sent yet: nobody saw them,
//!   so their numbers can be signed again ([`ClientEvent::NotSent`] tells the user). A client
//!   without a store says so ([`Client::run_without_store`]) and sends at once.
//! - **Learning our head.** With write-ahead our store is authoritative, but it may have
//!   lost data (evicted, unreadable, an older copy of the profile). Before signing we
//!   catch up on our own chain: while a member or the mailbox has shown us a signed event
//!   of ours beyond our mark (proof: it is held until the gap fills), posting is refused
//!   ([`SendError::CatchingUp`]) and catch-up fetches the gap. A member's bare mark for
//!   our chain beyond ours is no proof (a hostile member could claim any), so it holds
//!   posting back at most [`HEAD_WAIT`] while we ask for the events, and once a session:
//!   after a claim that was not borne out in time, bare claims hold nothing back.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Client, ClientEvent, SendError};
use crate::Instant;
use crate::governance::Govern;
use crate::history::Content;
use crate::ids::{EventId, PeerId};
use crate::wire::{Body, Mark};

/// Longest a member's unproven claim that our chain is longer than ours holds our posts
/// back (time for one catch-up round trip, and one retry elsewhere).
pub const HEAD_WAIT: Duration = Duration::from_secs(5);

/// Which of our events may leave this client, and what others claim of our chain.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(super) struct OwnChain {
    /// Whether our events wait for the store (false: no store, they go at once).
    pub(super) write_ahead: bool,
    /// Our events up to this number may go out (restored, stored, or received from others).
    pub(super) sent: u64,
    /// Beyond `sent`, our events the store confirmed (sent once those before them are).
    pub(super) stored: BTreeSet<u64>,
    /// The highest number of ours a member's mark claimed, and until when that holds
    /// posting back.
    claimed: Option<(u64, Instant)>,
    /// A claim already held posting back this session and was not borne out: bare claims
    /// hold nothing back any more (a hostile member could otherwise claim again forever).
    claims_spent: bool,
    /// The highest number of ours we hold signed but not yet in sequence (proof).
    proven: u64,
}

impl Default for OwnChain {
    fn default() -> OwnChain {
        OwnChain {
            write_ahead: true,
            sent: 0,
            stored: BTreeSet::new(),
            claimed: None,
            claims_spent: false,
            proven: 0,
        }
    }
}

impl Client {
    /// This client keeps nothing (storage is unavailable; the user has been told): our
    /// events go out as soon as they are signed, without waiting for
    /// [`Client::handle_persisted`]. Events signed and not sent yet go now.
    pub fn run_without_store(&mut self) {
        self.own.write_ahead = false;
        let head = self.history.mark(&self.public.member_key());
        self.own.stored.extend(self.own.sent + 1..=head);
        if let Some(now) = self.latest_now {
            self.send_stored_own(now);
        }
    }

    /// The store committed these events (ids from [`ClientEvent::Persist`], any of them): ours
    /// among them go out now, in our chain's order.
    pub fn handle_persisted(&mut self, now: Instant, ids: &[EventId]) {
        let now = self.monotonic(now);
        let me = self.public.member_key();
        for id in ids {
            if let Some(event) = self.history.get(id)
                && event.event().author == me
                && event.event().seq > self.own.sent
            {
                self.own.stored.insert(event.event().seq);
            }
        }
        self.send_stored_own(now);
    }

    /// The store could not write these events (ids from [`ClientEvent::Persist`]): ours among
    /// them, and every later one of ours not sent yet, are withdrawn (they never left this
    /// client) and reported as [`ClientEvent::NotSent`]. Others' events stay shown.
    pub fn handle_persist_failed(&mut self, now: Instant, ids: &[EventId]) {
        let _ = self.monotonic(now);
        let me = self.public.member_key();
        let first = ids
            .iter()
            .filter_map(|id| self.history.get(id))
            .filter(|event| event.event().author == me && event.event().seq > self.own.sent)
            .map(|event| event.event().seq)
            .min();
        let Some(first) = first else {
            return;
        };
        let withdrawn = self.history.withdraw_tail(&me, first - 1);
        self.own.stored.retain(|seq| *seq < first);
        if withdrawn.is_empty() {
            return;
        }
        self.rebuild_timeline();
        self.events.push_back(ClientEvent::Rebuilt);
        let events = withdrawn
            .into_iter()
            .map(|event| (event.id(), event.event().content.clone()))
            .collect();
        self.events.push_back(ClientEvent::NotSent { events });
    }

    /// Our events that may go out: up to this number of our chain.
    pub fn own_sent_up_to(&self) -> u64 {
        self.own.sent
    }

    /// Sends our stored events that follow the last one sent, in order: to every verified
    /// peer, and to the mailbox if nobody is linked.
    pub(super) fn send_stored_own(&mut self, now: Instant) {
        let me = self.public.member_key();
        while self.own.stored.remove(&(self.own.sent + 1)) {
            self.own.sent += 1;
            let Some(event) = self
                .history
                .id_at(&me, self.own.sent)
                .and_then(|id| self.history.get(&id))
                .cloned()
            else {
                continue;
            };
            // To each peer after the governance it lacks (see `sync.rs`).
            let body = Body::Events(vec![event.bytes().to_vec()]);
            let heads = self.governance_heads();
            let peers: Vec<PeerId> = self.verified_peers().map(|(peer, _)| peer).collect();
            for peer in peers {
                self.give_governance(now, peer, &heads);
                self.send_body(now, peer, &body);
            }
            self.deposit_if_alone(&event);
            match event.event().content {
                // A rekey of ours that went out moves us (see `follow_epochs`).
                Content::Govern(Govern::Rekey(_)) => self.follow_epochs(),
                // A hand-over of ours went out: the secret follows it (see `offer_epoch`).
                Content::Govern(Govern::Handover { member, .. }) => self.hand_over(now, member),
                _ => {}
            }
        }
    }

    /// Our events came from others (a member or the mailbox): they are out already.
    pub(super) fn note_own_received(&mut self) {
        let head = self.history.mark(&self.public.member_key());
        if head > self.own.sent {
            self.own.sent = head;
            self.own.stored.clear();
        }
    }

    /// A member's mark claims our chain reaches `seq`.
    pub(super) fn note_own_claim(&mut self, now: Instant, seq: u64) {
        if self.own.claims_spent || seq <= self.history.mark(&self.public.member_key()) {
            return;
        }
        match &mut self.own.claimed {
            Some((claimed, _)) => *claimed = (*claimed).max(seq),
            None => self.own.claimed = Some((seq, now + HEAD_WAIT)),
        }
    }

    /// We hold a signed event of ours, number `seq`, ahead of a gap.
    pub(super) fn note_own_held(&mut self, seq: u64) {
        self.own.proven = self.own.proven.max(seq);
    }

    /// Whether our chain may be longer than what we hold: proven (we hold a later event
    /// of ours), or claimed by a member less than [`HEAD_WAIT`] ago.
    pub(super) fn learning_own_head(&mut self, now: Instant) -> bool {
        let mark = self.history.mark(&self.public.member_key());
        if self.own.proven > mark {
            return true;
        }
        match self.own.claimed {
            Some((claimed, until)) if claimed > mark && now < until => true,
            // Caught up (a later claim may wait again), or the claim went unproven for
            // too long (bare claims hold nothing back any more this session).
            Some((claimed, _)) => {
                self.own.claims_spent |= claimed > mark;
                self.own.claimed = None;
                false
            }
            None => false,
        }
    }

    /// Our mark as others may see it: only what has gone out.
    pub(super) fn shared_marks(&self) -> Vec<Mark> {
        let me = self.public.member_key();
        let mut marks = self.history.marks();
        marks.retain_mut(|mark| {
            if mark.author != me || mark.seq <= self.own.sent {
                return true;
            }
            match self.history.id_at(&me, self.own.sent) {
                Some(head) => {
                    mark.seq = self.own.sent;
                    mark.head = head;
                    true
                }
                None => false,
            }
        });
        self.clip_to_served(&mut marks);
        marks
    }

    /// Refuses posting while our own head is being learned.
    pub(super) fn check_own_head(&mut self, now: Instant) -> Result<(), SendError> {
        if self.learning_own_head(now) {
            return Err(SendError::CatchingUp);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
