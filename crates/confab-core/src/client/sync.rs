//! Catch-up: how members come to hold the same history without re-sending everything.
//!
//! - Our own new events go to every verified peer at once.
//! - On verifying a peer, both sides send their full list of *marks* (per author, the
//!   highest sequence number held without a gap: [`Body::Have`]).
//! - Whoever learns that a peer holds more of some author's events than it does asks that
//!   peer for exactly the missing range ([`Body::Want`], at most [`MAX_WANT`] events per
//!   request, one request per author in flight). Pulling, rather than pushing to everyone,
//!   is what keeps a returning member from receiving the same events from every peer.
//! - After accepting new events, a member tells their authors (a delivery receipt) and
//!   [`Config::gossip_fanout`] random peers that may lack them (an update of its marks).
//!   Those pull if they need to, and tell others in turn: that is how events reach members
//!   who cannot reach their author directly.
//! - Every [`Config::anti_entropy_interval`] one random peer gets our full marks, which
//!   repairs whatever a lost frame or an expired request left behind. That peer answers
//!   with its marks for every author it holds more of (push-pull), so a member missing
//!   events learns of them from whichever peer it picks, not only when a holder happens to
//!   pick it. That peer is also asked for the full form of events we hold only redacted
//!   though nobody deleted them.
//! - Events are served as held: a deleted message only in its redacted form.
//! - Governance goes first: before a peer gets any event from us (an answer or our own new
//!   one), it gets the governance actions we hold and it lacks by its marks, with their
//!   authors' chains up to them ([`Client::give_governance`]). A member who has not heard
//!   of a removal would otherwise take what we send next, said after the removal, and pass
//!   it on to the removed member: the merge window of two sides that meet.
//!
//! [`Config::gossip_fanout`]: super::Config::gossip_fanout
//! [`Config::anti_entropy_interval`]: super::Config::anti_entropy_interval

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Client, ClientEvent, PeerState};
use crate::Instant;
use crate::history::{Inserted, OrderKey, VerifiedEvent};
use crate::ids::EventId;
use crate::ids::{MemberKey, PeerId};
use crate::session::MAX_PLAINTEXT_LEN;
use crate::wire::{self, Body, EVENTS_OVERHEAD_PER_EVENT, HAVE_LEN_PER_MARK, Mark, RUN_HEADER_LEN};

/// Most events asked for in one request.
pub const MAX_WANT: u64 = 512;
/// Most events whose content we ask one peer for at a time (see `ask_for_content`).
const MAX_CONTENT_ASKS: usize = 8;
/// Most marks in one `Have` frame.
const MAX_MARKS_PER_FRAME: usize = (MAX_PLAINTEXT_LEN - 4) / HAVE_LEN_PER_MARK;

/// Catch-up state: what we know peers hold, what we asked for, what to announce. Maps
/// that are iterated are ordered, so a seeded run replays exactly.
#[derive(Default)]
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(crate) struct Sync {
    /// Per linked peer: per author, the mark we know it holds.
    peer_marks: BTreeMap<PeerId, BTreeMap<MemberKey, u64>>,
    /// One request in flight per author.
    wants: BTreeMap<MemberKey, Want>,
    /// Authors with newly accepted events, not yet announced.
    dirty: BTreeSet<MemberKey>,
    /// When to announce `dirty`.
    have_due: Option<Instant>,
    /// When one random peer next gets our full marks.
    anti_entropy_due: Option<Instant>,
    /// Per member: our events they hold (delivery receipts) and how far they read.
    progress: HashMap<MemberKey, Progress>,
    /// From when receipts that moved may be reported for persisting (not a deadline of
    /// its own: see the `receipts` module).
    pub(super) receipts_due: Option<Instant>,
    /// When a proof of equivocation was last shown to a link (frames may be lost, so it
    /// is shown again if the link still holds that author's events later).
    proofs_sent: BTreeMap<(PeerId, MemberKey), Instant>,
    /// Verified peers not greeted because we may not serve them yet (newcomers waiting to
    /// be admitted): greeted once they are.
    ungreeted: BTreeSet<PeerId>,
    /// Peers whose marks we heard (a `Have`): what they lack is known.
    marks_heard: BTreeSet<PeerId>,
}

#[derive(Clone, Copy)]
struct Want {
    peer: PeerId,
    up_to: u64,
    deadline: Instant,
}

#[derive(Clone, Copy, Default)]
struct Progress {
    delivered: u64,
    read: Option<OrderKey>,
    /// A read marker naming an event we do not hold yet: believed once it arrives.
    read_pending: Option<OrderKey>,
}

impl Sync {
    pub(crate) fn forget_peer(&mut self, peer: PeerId) {
        self.peer_marks.remove(&peer);
        self.ungreeted.remove(&peer);
        self.marks_heard.remove(&peer);
        self.proofs_sent.retain(|(p, _), _| *p != peer);
        self.wants.retain(|_, want| want.peer != peer);
        if self.peer_marks.is_empty() {
            self.anti_entropy_due = None;
            self.have_due = None;
        }
    }

    /// Records that a member holds our events up to `up_to`; true if that moved forward.
    pub(crate) fn note_delivered(&mut self, member: MemberKey, up_to: u64) -> bool {
        let progress = self.progress.entry(member).or_default();
        if up_to <= progress.delivered {
            return false;
        }
        progress.delivered = up_to;
        true
    }

    /// Every member's receipts: delivered, read marker.
    pub(crate) fn receipts(&self) -> impl Iterator<Item = (MemberKey, u64, Option<OrderKey>)> + '_ {
        self.progress
            .iter()
            .map(|(member, progress)| (*member, progress.delivered, progress.read))
    }

    /// Records a member's read marker; true if it moved forward.
    pub(crate) fn note_read(&mut self, member: MemberKey, up_to: OrderKey) -> bool {
        let progress = self.progress.entry(member).or_default();
        if progress.read.is_some_and(|read| read >= up_to) {
            return false;
        }
        progress.read = Some(up_to);
        true
    }

    /// The earliest catch-up deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let wants = self.wants.values().map(|want| want.deadline).min();
        [self.have_due, self.anti_entropy_due, wants]
            .into_iter()
            .flatten()
            .min()
    }
}

impl Client {
    /// A peer was just verified: tell it everything we hold, how far we read, and whether
    /// we are away.
    /// A newcomer not let in yet is greeted once it is (its marks are still taken, so we
    /// can fetch its Join).
    pub(super) fn greet(&mut self, now: Instant, peer: PeerId) {
        self.sync.peer_marks.entry(peer).or_default();
        if !self.serves(peer) {
            self.sync.ungreeted.insert(peer);
            return;
        }
        if self.sync.anti_entropy_due.is_none() {
            self.sync.anti_entropy_due = Some(now + self.config.anti_entropy_interval);
        }
        self.send_full_marks(now, peer);
        if let Some(up_to) = self.read_up_to {
            self.send_body(now, peer, &Body::Read { up_to });
        }
        if self.presence != crate::wire::Presence::Online {
            self.send_body(now, peer, &Body::Presence(self.presence));
        }
    }

    /// Greets the peers we were not serving and now do (a newcomer just admitted).
    pub(super) fn greet_newly_served(&mut self, now: Instant) {
        let ready: Vec<PeerId> = self
            .sync
            .ungreeted
            .iter()
            .copied()
            .filter(|peer| self.serves(*peer))
            .collect();
        for peer in ready {
            self.sync.ungreeted.remove(&peer);
            self.greet(now, peer);
        }
    }

    /// A member's read marker. It is believed only as far as events exist: it must name an
    /// event we hold (at the place it claims), else it waits until that event arrives
    /// (the latest such marker per member), so nobody can show "Read" for what was never
    /// written.
    pub(super) fn handle_read(&mut self, now: Instant, member: MemberKey, up_to: OrderKey) {
        if !self.holds_sent(&up_to) {
            let progress = self.sync.progress.entry(member).or_default();
            if progress.read < Some(up_to) && progress.read_pending < Some(up_to) {
                progress.read_pending = Some(up_to);
            }
            return;
        }
        if self.sync.note_read(member, up_to) {
            self.events.push_back(ClientEvent::Read { member, up_to });
            self.receipts_moved(now);
        }
    }

    /// Whether the event `key` names is one we hold and that has gone out.
    fn holds_sent(&self, key: &OrderKey) -> bool {
        if key.author == self.public.member_key() && key.seq > self.own_sent_up_to() {
            return false;
        }
        self.history
            .id_at(&key.author, key.seq)
            .and_then(|id| self.history.get(&id))
            .is_some_and(|event| event.event().order_key() == *key)
    }

    /// Read markers that waited for events we now hold are believed.
    fn settle_pending_reads(&mut self, now: Instant) {
        let mut ready: Vec<(MemberKey, OrderKey)> = self
            .sync
            .progress
            .iter()
            .filter_map(|(member, progress)| progress.read_pending.map(|key| (*member, key)))
            .filter(|(_, key)| self.holds_sent(key))
            .collect();
        ready.sort_unstable();
        for (member, up_to) in ready {
            if let Some(progress) = self.sync.progress.get_mut(&member) {
                progress.read_pending = None;
            }
            self.handle_read(now, member, up_to);
        }
    }

    /// Receipts we hold for a member: our events they hold, how far they read.
    pub fn member_progress(&self, member: &MemberKey) -> (u64, Option<OrderKey>) {
        self.sync
            .progress
            .get(member)
            .map_or((0, None), |progress| (progress.delivered, progress.read))
    }

    fn send_full_marks(&mut self, now: Instant, peer: PeerId) {
        let marks = self.shared_marks();
        if marks.is_empty() {
            // An empty list still tells the peer we hold nothing, so it can send.
            self.send_body(
                now,
                peer,
                &Body::Have {
                    full: true,
                    marks: Vec::new(),
                },
            );
            return;
        }
        // `full` claims that the frame lists every author we hold, which only a single
        // frame can; the chunks of a longer list are plain marks.
        let full = marks.len() <= MAX_MARKS_PER_FRAME;
        for chunk in marks.chunks(MAX_MARKS_PER_FRAME) {
            let body = Body::Have {
                full,
                marks: chunk.to_vec(),
            };
            self.send_body(now, peer, &body);
        }
    }

    pub(super) fn handle_have(
        &mut self,
        now: Instant,
        peer: PeerId,
        member: MemberKey,
        full: bool,
        marks: &[Mark],
    ) {
        let me = self.public.member_key();
        self.sync.marks_heard.insert(peer);
        for mark in marks {
            let author = mark.author;
            if self
                .history
                .forked_from(&author)
                .is_some_and(|from_seq| mark.seq >= from_seq)
            {
                // It still holds events of a fork we have proof of: show it why they
                // are gone. (Below the fork, the author's chain is compared as any.)
                self.send_proof(now, peer, author);
                continue;
            }
            // Same position, another event: the author signed two versions. Fetch theirs;
            // it will conflict with ours, and prove it.
            if let Some(ours) = self.history.id_at(&author, mark.seq)
                && ours != mark.head
            {
                let body = Body::Want {
                    author,
                    after: mark.seq - 1,
                    up_to: mark.seq,
                };
                self.send_body(now, peer, &body);
                continue;
            }
            self.note_peer_holds(peer, author, mark.seq);
            if author == me {
                // A delivery receipt is believed only for events that exist and went out,
                // named by their id (checked above): a claim beyond them says nothing of
                // what the member holds, and must not stop our deposits. It may mean our
                // store lost some of our chain: learn it before signing.
                self.note_own_claim(now, mark.seq);
                if mark.seq <= self.own_sent_up_to() && self.sync.note_delivered(member, mark.seq) {
                    self.events.push_back(ClientEvent::Delivered {
                        member,
                        up_to: mark.seq,
                    });
                    self.receipts_moved(now);
                }
            }
        }
        for mark in marks {
            self.request_missing(now, mark.author);
        }
        if full {
            self.show_what_peer_lacks(now, peer, marks);
        }
    }

    /// Answers a complete list of marks with ours for every author the peer holds less of
    /// (or nothing of), so it can pull them. Anti-entropy is thus push-pull: a member who
    /// lacks events learns of them from whichever peer it sends its marks to, instead of
    /// waiting for a holder to pick it at random. The answer is an update (not `full`), so
    /// it is never answered in turn.
    fn show_what_peer_lacks(&mut self, now: Instant, peer: PeerId, theirs: &[Mark]) {
        let theirs: HashMap<MemberKey, u64> =
            theirs.iter().map(|mark| (mark.author, mark.seq)).collect();
        let ahead: Vec<Mark> = self
            .shared_marks()
            .into_iter()
            .filter(|ours| theirs.get(&ours.author).copied().unwrap_or(0) < ours.seq)
            .collect();
        for chunk in ahead.chunks(MAX_MARKS_PER_FRAME) {
            let body = Body::Have {
                full: false,
                marks: chunk.to_vec(),
            };
            if !self.send_body(now, peer, &body) {
                return;
            }
        }
    }

    pub(super) fn handle_want(
        &mut self,
        now: Instant,
        peer: PeerId,
        author: MemberKey,
        after: u64,
        up_to: u64,
    ) {
        let heads = self.governance_heads();
        let given = self.give_governance(now, peer, &heads);
        // What went with the governance is not sent again.
        let after = match given.iter().find(|(a, _)| *a == author) {
            Some(&(_, head)) => after.max(head),
            None => after,
        };
        let up_to = up_to.min(after.saturating_add(MAX_WANT));
        self.serve_range(now, peer, author, after, up_to);
    }

    /// The last of `author`'s events that may leave this client: ours only once stored
    /// (write-ahead, `own.rs`), a removed member's only up to their cut
    /// ([`Client::served_up_to`]). `None`: every one we hold.
    fn serves_up_to(&self, author: &MemberKey) -> Option<u64> {
        let own = (*author == self.public.member_key()).then(|| self.own_sent_up_to());
        match (own, self.served_up_to(author)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends `peer` `author`'s events after `after` up to `up_to`, as served to it: where
    /// newcomers see only what is said from when they joined, older messages go out
    /// redacted (same ids, still verifying, so chains stay whole). Never past what may
    /// leave this client ([`Client::serves_up_to`]), whatever asked for the range.
    fn serve_range(
        &mut self,
        now: Instant,
        peer: PeerId,
        author: MemberKey,
        after: u64,
        mut up_to: u64,
    ) {
        if let Some(last) = self.serves_up_to(&author) {
            up_to = up_to.min(last);
        }
        let start = self
            .member_of(peer)
            .and_then(|member| self.backlog_start(&member));
        let events: Vec<VerifiedEvent> = self
            .history
            .range(&author, after, up_to)
            .map(|event| Self::as_served(event, start))
            .collect();
        self.send_run(now, peer, author, &events);
    }

    /// Per author of a governance action we hold, the sequence number of the latest (within
    /// what may leave this client, [`Client::serves_up_to`]): what a peer must hold before
    /// anything else we send.
    pub(super) fn governance_heads(&self) -> Vec<(MemberKey, u64)> {
        let mut heads: BTreeMap<MemberKey, u64> = BTreeMap::new();
        for key in self.history.governance_keys() {
            let head = heads.entry(key.author).or_default();
            *head = (*head).max(key.seq);
        }
        // Clipped once an author (the largest of the clipped is the clipped largest):
        // this runs on every `want`, and looking each action up and clipping it was ~2.4 %
        // of the governance simulation's CPU.
        heads
            .into_iter()
            .map(|(author, seq)| {
                let last = self.serves_up_to(&author);
                (author, last.map_or(seq, |last| seq.min(last)))
            })
            .collect()
    }

    /// Gives `peer` the governance it lacks by its marks (see the module doc): each author's
    /// chain up to `heads`, before anything else we send it. Nothing for a peer whose marks
    /// we have not heard yet: it pulls, and what it pulls comes after this. Returns the
    /// (author, head) pairs given.
    pub(super) fn give_governance(
        &mut self,
        now: Instant,
        peer: PeerId,
        heads: &[(MemberKey, u64)],
    ) -> Vec<(MemberKey, u64)> {
        let mut given = Vec::new();
        if !self.sync.marks_heard.contains(&peer) || !self.serves(peer) {
            return given;
        }
        for &(author, head) in heads {
            let theirs = self
                .sync
                .peer_marks
                .get(&peer)
                .and_then(|marks| marks.get(&author))
                .copied()
                .unwrap_or(0);
            if theirs >= head {
                continue;
            }
            self.serve_range(now, peer, author, theirs, head);
            self.note_peer_holds(peer, author, head);
            given.push((author, head));
        }
        given
    }

    /// Sends consecutive events of `author` as compact runs, as few frames as fit.
    fn send_run(
        &mut self,
        now: Instant,
        peer: PeerId,
        author: MemberKey,
        events: &[VerifiedEvent],
    ) {
        let mut start = 0;
        while let Some(first) = events.get(start) {
            let mut entries = Vec::new();
            let mut size = RUN_HEADER_LEN;
            for event in events.get(start..).unwrap_or_default() {
                let Some(entry) = wire::event::compact(event.bytes()) else {
                    break;
                };
                let len = EVENTS_OVERHEAD_PER_EVENT + entry.len();
                if !entries.is_empty() && size + len > MAX_PLAINTEXT_LEN {
                    break;
                }
                size += len;
                entries.push(entry);
            }
            if entries.is_empty() {
                return;
            }
            start += entries.len();
            let body = Body::Run {
                author,
                first_seq: first.event().seq,
                prev: first.event().prev,
                entries,
            };
            if !self.send_body(now, peer, &body) {
                return;
            }
        }
    }

    /// A compact run: restore each event (author, seq, and prev from the entry before),
    /// then handle them like any events. An entry that does not even decode ends the link.
    pub(super) fn handle_run(
        &mut self,
        now: Instant,
        peer: PeerId,
        author: MemberKey,
        first_seq: u64,
        mut prev: EventId,
        entries: &[Vec<u8>],
    ) {
        let room = *self.history.room();
        let mut events = Vec::with_capacity(entries.len());
        for (idx, entry) in entries.iter().enumerate() {
            let Some(seq) = first_seq.checked_add(idx as u64) else {
                return self.misbehaved(now, peer, "run past the last sequence number".into());
            };
            let restored = wire::event::expand(entry, &author, seq, &prev)
                .map_err(crate::history::EventError::Malformed)
                .and_then(|bytes| VerifiedEvent::restore(&room, &bytes, None).map(|e| (bytes, e)));
            match restored {
                Ok((bytes, event)) => {
                    prev = event.id();
                    events.push(bytes);
                }
                Err(error) => return self.misbehaved(now, peer, error.to_string()),
            }
        }
        // Signatures are checked here, as for any event.
        self.handle_events(now, peer, &events);
    }

    pub(super) fn handle_events(&mut self, now: Instant, peer: PeerId, events: &[Vec<u8>]) {
        let mut touched = BTreeSet::new();
        for bytes in events {
            let event = match self.history.verify(bytes) {
                Ok(event) => event,
                Err(error) => {
                    // Forged or malformed: the peer is dropped.
                    self.refuse_event(now, peer, error);
                    return;
                }
            };
            let author = event.event().author;
            let seq = event.event().seq;
            if let Err(why) = self.admissible(&event) {
                self.reject(peer, super::RejectReason::Content(why.into()));
                continue;
            }
            let inserted = match self.history.insert(event.clone(), self.horizon(now)) {
                Ok(inserted) => inserted,
                Err(error) => {
                    self.refuse_forwarded(now, peer, author, seq, error);
                    continue;
                }
            };
            // The peer holds this event, hence its author's whole chain up to it.
            self.note_peer_holds(peer, author, seq);
            touched.insert(author);
            self.apply_inserted(now, author, inserted);
        }
        self.settle_touched(now, touched);
    }

    /// Reports what inserting an event of `author` changed: accepted events (and the held
    /// ones they released) to show and persist and to announce, or a proven equivocation.
    /// Returns how many events were accepted.
    pub(super) fn apply_inserted(
        &mut self,
        now: Instant,
        author: MemberKey,
        inserted: Inserted,
    ) -> usize {
        match inserted {
            Inserted::Accepted(ids) => {
                let accepted = ids.len();
                if author == self.public.member_key() {
                    self.note_own_received();
                }
                for id in ids {
                    if let Some(event) = self.history.get(&id).cloned() {
                        self.note_accepted(&event);
                    }
                }
                self.sync.dirty.insert(author);
                accepted
            }
            Inserted::Equivocation {
                author, accepted, ..
            } => {
                let n_accepted = accepted.len();
                for id in accepted {
                    if let Some(event) = self.history.get(&id).cloned() {
                        self.note_accepted(&event);
                    }
                }
                self.handle_equivocation(now, author);
                n_accepted
            }
            Inserted::Held { author, seq, .. } => {
                if author == self.public.member_key() {
                    self.note_own_held(seq);
                }
                0
            }
            Inserted::Duplicate => 0,
        }
    }

    /// After new events of `touched` authors: settle requests they answered, ask for what
    /// is still missing, and schedule the announcement of what was accepted.
    pub(super) fn settle_touched(&mut self, now: Instant, touched: BTreeSet<MemberKey>) {
        self.note_rewritten();
        for author in touched {
            let mark = self.history.mark(&author);
            if self
                .sync
                .wants
                .get(&author)
                .is_some_and(|want| mark >= want.up_to)
            {
                self.sync.wants.remove(&author);
            }
            self.request_missing(now, author);
        }
        self.settle_pending_reads(now);
        if !self.sync.dirty.is_empty() && self.sync.have_due.is_none() {
            self.sync.have_due = Some(now + self.config.have_delay);
        }
    }

    /// A valid event that history refused: not the forwarder's fault, but maybe a sign that
    /// its author equivocated somewhere we cannot see yet.
    fn refuse_forwarded(
        &mut self,
        now: Instant,
        peer: PeerId,
        author: MemberKey,
        seq: u64,
        error: crate::history::EventError,
    ) {
        use crate::history::EventError;
        match error {
            // The forwarder has not seen the proof yet: show it.
            EventError::Banned => self.send_proof(now, peer, author),
            // Its chain and ours split before this event: fetch the peer's recent events
            // of that author, among which the conflicting one will prove the fork.
            EventError::Chain => {
                let ours = self.history.mark(&author);
                let after = ours.saturating_sub(MAX_WANT - 1);
                let up_to = seq.min(after + MAX_WANT);
                if after < up_to {
                    let body = Body::Want {
                        author,
                        after,
                        up_to,
                    };
                    self.send_body(now, peer, &body);
                }
            }
            // Refused, and nothing to send first.
            EventError::Malformed(_)
            | EventError::Signature
            | EventError::Conflict { .. }
            | EventError::TooFarAhead { .. }
            | EventError::NotYet { .. }
            | EventError::HeldFull { .. }
            | EventError::Corrupt => {}
        }
        self.refuse_event(now, peer, error);
    }

    /// `author` was proven to fork their chain: their events from the fork on are gone.
    /// Redraw, keep the proof (so a restore bans them again) and show it to everyone.
    fn handle_equivocation(&mut self, now: Instant, author: MemberKey) {
        self.rebuild_timeline();
        self.events.push_back(ClientEvent::Rebuilt);
        self.sync.wants.remove(&author);
        self.sync.dirty.remove(&author);
        if let Some(proof) = self.history.proof(&author).cloned() {
            for event in &proof {
                self.events.push_back(ClientEvent::Persist {
                    id: event.id(),
                    key: event.event().order_key(),
                    bytes: event.bytes().to_vec(),
                });
            }
        }
        for peer in self.verified_peer_ids() {
            self.send_proof(now, peer, author);
        }
    }

    /// Sends `peer` the proof that `author` equivocated (at most once per anti-entropy
    /// interval per link).
    fn send_proof(&mut self, now: Instant, peer: PeerId, author: MemberKey) {
        let again = self.config.anti_entropy_interval;
        if self
            .sync
            .proofs_sent
            .get(&(peer, author))
            .is_some_and(|sent| now < *sent + again)
        {
            return;
        }
        self.sync.proofs_sent.insert((peer, author), now);
        if let Some(proof) = self.history.proof(&author) {
            let events = proof.iter().map(|e| e.bytes().to_vec()).collect();
            self.send_body(now, peer, &Body::Events(events));
        }
    }

    fn note_peer_holds(&mut self, peer: PeerId, author: MemberKey, seq: u64) {
        if let Some(marks) = self.sync.peer_marks.get_mut(&peer) {
            let mark = marks.entry(author).or_insert(0);
            *mark = (*mark).max(seq);
        }
    }

    /// If some linked peer holds more of `author`'s events than we do and no request is in
    /// flight, asks one such peer (chosen at random) for the next range.
    fn request_missing(&mut self, now: Instant, author: MemberKey) {
        // Of an author proven to fork, only events before the fork are taken.
        let limit = self
            .history
            .forked_from(&author)
            .map_or(u64::MAX, |from_seq| from_seq - 1);
        if self
            .sync
            .wants
            .get(&author)
            .is_some_and(|want| want.deadline > now)
        {
            return;
        }
        let ours = self.history.mark(&author);
        let candidates: Vec<(PeerId, u64)> = self
            .sync
            .peer_marks
            .iter()
            .filter_map(|(peer, marks)| {
                let theirs = marks.get(&author).copied().unwrap_or(0).min(limit);
                (theirs > ours).then_some((*peer, theirs))
            })
            .collect();
        if candidates.is_empty() {
            self.sync.wants.remove(&author);
            return;
        }
        let previous = self.sync.wants.get(&author).map(|want| want.peer);
        // After a timeout, prefer someone else.
        let fresh: Vec<(PeerId, u64)> = candidates
            .iter()
            .copied()
            .filter(|(peer, _)| Some(*peer) != previous)
            .collect();
        let pool = if fresh.is_empty() {
            &candidates
        } else {
            &fresh
        };
        let pick = self.rng.next_u64() as usize % pool.len();
        let Some(&(peer, theirs)) = pool.get(pick) else {
            return;
        };
        let up_to = theirs.min(ours + MAX_WANT);
        let body = Body::Want {
            author,
            after: ours,
            up_to,
        };
        if self.send_body(now, peer, &body) {
            self.sync.wants.insert(
                author,
                Want {
                    peer,
                    up_to,
                    deadline: now + self.config.want_timeout,
                },
            );
        }
    }

    /// Re-plans every author (after a peer left).
    pub(super) fn request_missing_all(&mut self, now: Instant) {
        let authors: BTreeSet<MemberKey> = self
            .sync
            .peer_marks
            .values()
            .flat_map(|marks| marks.keys().copied())
            .collect();
        for author in authors {
            self.request_missing(now, author);
        }
    }

    /// Fires catch-up timers: announcements, expired requests, anti-entropy.
    pub(super) fn handle_sync_timeout(&mut self, now: Instant) {
        if self.sync.have_due.is_some_and(|due| now >= due) {
            self.sync.have_due = None;
            self.announce_dirty(now);
        }
        let expired: Vec<MemberKey> = self
            .sync
            .wants
            .iter()
            .filter(|(_, want)| now >= want.deadline)
            .map(|(author, _)| *author)
            .collect();
        for author in expired {
            self.request_missing(now, author);
        }
        if self.sync.anti_entropy_due.is_some_and(|due| now >= due) {
            self.sync.anti_entropy_due = Some(now + self.config.anti_entropy_interval);
            let peers = self.served_peer_ids();
            if !peers.is_empty() {
                let pick = self.rng.next_u64() as usize % peers.len();
                if let Some(&peer) = peers.get(pick) {
                    self.send_full_marks(now, peer);
                    self.ask_for_content(now, peer);
                }
            }
        }
    }

    /// Asks `peer` for the full form of events we hold only redacted though nobody deleted
    /// them (a peer dropped their content: see `history`), those it holds, a few at a
    /// time. Whoever holds the content serves it whole, which fills ours in.
    fn ask_for_content(&mut self, now: Instant, peer: PeerId) {
        let held = self.sync.peer_marks.get(&peer);
        // Nobody serves us in full what was said before we joined, where that is hidden.
        let start = self.backlog_start(&self.public.member_key());
        let asks: Vec<Body> = self
            .history
            .unavailable()
            .filter(|(author, seq, _)| {
                held.and_then(|marks| marks.get(author))
                    .is_some_and(|mark| mark >= seq)
            })
            .filter(|(author, seq, _)| {
                let event = self
                    .history
                    .id_at(author, *seq)
                    .and_then(|id| self.history.get(&id));
                start.is_none_or(|start| event.is_some_and(|e| e.event().order_key() >= start))
            })
            .take(MAX_CONTENT_ASKS)
            .map(|(author, seq, _)| Body::Want {
                author,
                after: seq - 1,
                up_to: seq,
            })
            .collect();
        for body in asks {
            if !self.send_body(now, peer, &body) {
                return;
            }
        }
    }

    /// Tells the authors of newly accepted events (receipts) and a few random peers that
    /// may lack them (gossip) what we now hold.
    fn announce_dirty(&mut self, now: Instant) {
        let dirty = std::mem::take(&mut self.sync.dirty);
        let marks: Vec<Mark> = self
            .shared_marks()
            .into_iter()
            .filter(|mark| dirty.contains(&mark.author))
            .collect();
        if marks.is_empty() {
            return;
        }
        let mut authors_linked = Vec::new();
        let mut others = Vec::new();
        for peer in self.served_peer_ids() {
            let Some(member) = self.member_of(peer) else {
                continue;
            };
            if dirty.contains(&member) {
                authors_linked.push(peer);
                continue;
            }
            let known = self.sync.peer_marks.get(&peer);
            let may_lack = marks.iter().any(|mark| {
                known
                    .and_then(|known| known.get(&mark.author))
                    .copied()
                    .unwrap_or(0)
                    < mark.seq
            });
            if may_lack {
                others.push(peer);
            }
        }
        // A partial Fisher-Yates shuffle picks the gossip targets.
        let fanout = self.config.gossip_fanout.min(others.len());
        for idx in 0..fanout {
            let span = others.len() - idx;
            let pick = idx + self.rng.next_u64() as usize % span;
            others.swap(idx, pick);
        }
        others.truncate(fanout);
        let body = Body::Have { full: false, marks };
        for peer in authors_linked.into_iter().chain(others) {
            self.send_body(now, peer, &body);
        }
    }

    /// The last of `author`'s events we advertise and serve, if not every one we hold: a
    /// removed member's up to their cut, unless their removal may yet lose
    /// ([`crate::governance::Governance::may_contest`]). That is what `admissible` lets a
    /// member take in, so what we advertise is what a peer that agrees with us on
    /// governance takes: events we took before we learned of the removal stay in history
    /// (it may still lose to a concurrent action, and then they count again and are
    /// served again) but are neither shown nor offered, so an honest member is not
    /// refused for forwarding them, nor asked for them again every anti-entropy round.
    pub(super) fn served_up_to(&self, author: &MemberKey) -> Option<u64> {
        let cut = self.governance.removed(author)?;
        (!self.governance.may_contest(author)).then_some(cut)
    }

    /// Lowers `marks` to what we serve (see [`Client::served_up_to`]), dropping an author
    /// of whom we serve nothing.
    pub(super) fn clip_to_served(&self, marks: &mut Vec<Mark>) {
        marks.retain_mut(|mark| {
            let Some(last) = self.served_up_to(&mark.author) else {
                return true;
            };
            if mark.seq <= last {
                return true;
            }
            match self.history.id_at(&mark.author, last) {
                Some(head) => {
                    mark.seq = last;
                    mark.head = head;
                    true
                }
                None => false,
            }
        });
    }

    /// What we tell peers we hold: per author, the last event in sequence that we serve
    /// (our own only once sent; a removed member's only up to their cut, see
    /// [`Client::served_up_to`]). Catch-up compares these; members who agree on
    /// governance and history advertise the same marks.
    pub fn served_marks(&self) -> Vec<Mark> {
        self.shared_marks()
    }

    /// Verified peers we may tell what the room says (see `Client::serves`).
    fn served_peer_ids(&self) -> Vec<PeerId> {
        let mut peers = self.verified_peer_ids();
        peers.retain(|peer| self.serves(*peer));
        peers
    }

    fn verified_peer_ids(&self) -> Vec<PeerId> {
        self.links
            .iter()
            .filter(|(_, link)| matches!(link.channel, Some(PeerState::Established { .. })))
            .map(|(peer, _)| *peer)
            .collect()
    }
}

#[cfg(test)]
mod tests;
