//! The offline mailbox, client side: depositing our events when no member can receive them,
//! and taking in what others deposited (see [`crate::mailbox`] for the crypto,
//! [`super::courier`] for the requests on a connection, and the server's `mailbox` module
//! for trust on first use, caps and the fair share).
//!
//! - **Deposit rule.** Our *outbox* is our own events that are in nobody else's hands: no
//!   member has acknowledged them (a delivery receipt: a member's mark for our chain) and the
//!   server has not confirmed storing them ([`Client::mailbox_stored`]). Whenever no other
//!   member's link is verified, the outbox is deposited: an event published then, the whole
//!   outbox when the last member link drops, and the whole outbox after
//!   [`Client::restore_outbox`] (start-up). Each event's signed bytes, sealed for the room's
//!   mailbox, come out as [`ClientEvent::MailboxDeposit`], once per session (the app resends
//!   what a connection lost); what we know is in other hands is an [`OutboxRecord`], reported
//!   as [`ClientEvent::PersistOutbox`] whenever it grows, so a reload deposits again only what was
//!   not confirmed. Events a member acknowledged are never deposited: that member forwards
//!   them through catch-up. A removal or a demotion of ours goes in any case, with our few
//!   events before it redacted (a member removed while away learns of it there, and
//!   members who followed a rekey it makes count for nothing). While a removed member may
//!   hold the epoch's secret, a removal is all that goes.
//! - **Intake.** [`Client::handle_mailbox_entries`] opens fetched entries and treats each
//!   event like one from catch-up: its signature, its author's hash chain and the room order
//!   decide what is accepted and where it goes, so the server cannot forge, alter or
//!   reorder anything members show. What does not open or verify is dropped and counted,
//!   never an error: the server (or anyone with the room id) may serve garbage. Entries
//!   may come in any order, repeated or not at all; the history rules absorb it. The
//!   courier fetches after every `joined` and `mailbox-new`, after the room's cursor,
//!   which is saved after the events its page brought.

use std::collections::BTreeSet;

use super::{Client, ClientEvent};
use crate::Instant;
use crate::bytes::{ReadError, Reader};
use crate::governance::Govern;
use crate::history::VerifiedEvent;
use crate::ids::{MemberKey, PeerId, RoomId};
use crate::mailbox::{MailboxKeys, NONCE_LEN};
use crate::signal::{ClientMessage, MailboxItem, MailboxSeq};

/// Version byte of the [`OutboxRecord`] encoding.
const OUTBOX_RECORD_VERSION: u8 = 1;
/// Most confirmed sequence numbers beyond the watermark a record holds (the oldest beyond
/// it are forgotten: at worst deposited once more).
const MAX_STORED_BEYOND: usize = 4_096;

/// What [`Client::handle_mailbox_entries`] did with one page of entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxIngest {
    /// The highest sequence number among the entries (whatever became of them): acknowledge
    /// it and keep it as the cursor for the next fetch. `None` for an empty page.
    pub up_to: Option<MailboxSeq>,
    /// Events newly accepted into history (including held ones they released).
    pub accepted: usize,
    /// Entries that did not open (sealed for another room or under another key, or
    /// altered): dropped.
    pub unreadable: usize,
    /// Entries that opened but whose event was refused (malformed, a bad signature, an
    /// equivocation's loser, a banned author, too far ahead): dropped.
    pub refused: usize,
}

/// Which of our own events are known to be in other hands (held by a member, or stored in
/// the server's mailbox): the part of the deposit rule that outlives a session. Persist it
/// from [`ClientEvent::PersistOutbox`] and give it back to [`Client::restore_outbox`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxRecord {
    /// Every one of our events up to this sequence number is in other hands.
    up_to: u64,
    /// Beyond `up_to`, our events the server confirmed storing.
    stored: BTreeSet<u64>,
}

/// A stored [`OutboxRecord`] that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the outbox record is corrupt")]
pub struct OutboxRecordError;

impl From<ReadError> for OutboxRecordError {
    fn from(_: ReadError) -> OutboxRecordError {
        OutboxRecordError
    }
}

impl OutboxRecord {
    /// Every one of our events up to this sequence number is in other hands.
    pub fn up_to(&self) -> u64 {
        self.up_to
    }

    /// Whether our event `seq` is known to be in other hands.
    pub fn covers(&self, seq: u64) -> bool {
        seq <= self.up_to || self.stored.contains(&seq)
    }

    /// The persisted form: `version:u8(=1) up_to:u64be n:u32be (seq:u64be){n}`, the
    /// sequence numbers ascending.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + 8 * self.stored.len());
        out.push(OUTBOX_RECORD_VERSION);
        out.extend_from_slice(&self.up_to.to_be_bytes());
        // At most MAX_STORED_BEYOND entries.
        out.extend_from_slice(&(self.stored.len() as u32).to_be_bytes());
        for seq in &self.stored {
            out.extend_from_slice(&seq.to_be_bytes());
        }
        out
    }

    /// Reads [`OutboxRecord::encode`]'s form back.
    pub fn decode(bytes: &[u8]) -> Result<OutboxRecord, OutboxRecordError> {
        let mut reader = Reader::new(bytes);
        if reader.u8()? != OUTBOX_RECORD_VERSION {
            return Err(OutboxRecordError);
        }
        let up_to = reader.u64()?;
        let n = reader.u32()? as usize;
        if n > MAX_STORED_BEYOND || reader.remaining() != 8 * n {
            return Err(OutboxRecordError);
        }
        let mut record = OutboxRecord {
            up_to,
            stored: BTreeSet::new(),
        };
        for _ in 0..n {
            let seq = reader.u64()?;
            if seq <= up_to || record.stored.last().is_some_and(|last| *last >= seq) {
                return Err(OutboxRecordError);
            }
            record.stored.insert(seq);
        }
        reader.finish()?;
        Ok(record)
    }

    /// Everything up to `seq` is in other hands; true if that is news.
    fn cover_up_to(&mut self, seq: u64) -> bool {
        if seq <= self.up_to {
            return false;
        }
        self.up_to = seq;
        self.normalize();
        true
    }

    /// `seq` is stored in the mailbox; true if that is news.
    fn cover(&mut self, seq: u64) -> bool {
        if self.covers(seq) {
            return false;
        }
        self.stored.insert(seq);
        self.normalize();
        true
    }

    /// Folds the confirmed numbers that continue `up_to` into it, and bounds the rest.
    fn normalize(&mut self) {
        self.stored = self.stored.split_off(&self.up_to.saturating_add(1));
        while self.stored.remove(&self.up_to.saturating_add(1)) {
            self.up_to += 1;
        }
        while self.stored.len() > MAX_STORED_BEYOND {
            self.stored.pop_first();
        }
    }
}

/// The deposit rule's state.
#[derive(Default)]
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(super) struct Outbox {
    /// What is known to be in other hands (persisted).
    record: OutboxRecord,
    /// Deposited this session and not yet confirmed: not deposited again until a restart.
    deposited: BTreeSet<u64>,
}

impl Client {
    /// The server's `mailbox-put` request for `entry` into `room`'s mailbox (both from
    /// [`ClientEvent::MailboxDeposit`]), proven for the connection the server calls
    /// `server_peer` (its `welcome`). `None` without that mailbox's keys (a governed room
    /// before a member let us in, or an epoch left long ago).
    pub fn mailbox_put(
        &self,
        server_peer: PeerId,
        room: RoomId,
        entry: crate::mailbox::SealedEntry,
    ) -> Option<ClientMessage> {
        let keys = self.deposit_keys(room)?;
        Some(ClientMessage::MailboxPut {
            room: keys.room(),
            proof: keys.prove_put(server_peer, &entry),
            key: keys.deposit_key(),
            entry,
        })
    }

    /// The server's `mailbox-fetch` request: this room's entries after `after`. Without
    /// mailbox keys (or with only those of an epoch nobody with the right to handed us), a
    /// governed room's asks for its link's notice mailbox ([`Client::notice_room`]); another
    /// room's is `None`.
    pub fn mailbox_fetch(&self, server_peer: PeerId, after: MailboxSeq) -> Option<ClientMessage> {
        // Before a member lets us in (or once we know nobody with the right to did), the
        // notice mailbox of our link (`superseded`).
        if let Some(fetch) = self.notice_fetch(server_peer) {
            return Some(fetch);
        }
        let keys = self.mailbox.as_ref()?;
        Some(ClientMessage::MailboxFetch {
            room: keys.room(),
            after,
            proof: keys.prove_access(server_peer),
        })
    }

    /// The rooms of the epochs we left whose mailboxes we still read (most recent first):
    /// after a rekey we followed lost to a rival one, the news of the winner is deposited there,
    /// since nobody else is in the room we moved to. Fetch them like this room's
    /// ([`Client::mailbox_fetch_left`]) and hand their entries to
    /// [`Client::handle_mailbox_entries`].
    pub fn left_rooms(&self) -> impl Iterator<Item = RoomId> + '_ {
        self.left_mailboxes.keys().map(|keys| keys.room())
    }

    /// The server's `mailbox-fetch` request for the mailbox of `room`, an epoch we left
    /// ([`Client::left_rooms`]; `None` for any other).
    pub fn mailbox_fetch_left(
        &self,
        server_peer: PeerId,
        room: RoomId,
        after: MailboxSeq,
    ) -> Option<ClientMessage> {
        let keys = self
            .left_mailboxes
            .keys()
            .find(|keys| keys.room() == room)?;
        Some(ClientMessage::MailboxFetch {
            room: keys.room(),
            after,
            proof: keys.prove_access(server_peer),
        })
    }

    /// The server's `push-subscribe` request: push `subscription` when someone else
    /// deposits into this room's mailbox, proven with the room's deposit key like a fetch
    /// (`None` without mailbox keys).
    pub fn push_subscribe(
        &self,
        server_peer: PeerId,
        subscription: crate::signal::PushSubscription,
    ) -> Option<ClientMessage> {
        let keys = self.mailbox.as_ref()?;
        Some(ClientMessage::PushSubscribe {
            room: keys.room(),
            subscription,
            key: keys.deposit_key(),
            proof: keys.prove_access(server_peer),
        })
    }

    /// The server's `mailbox-ack` request: this connection holds everything up to `up_to`
    /// (`None` without mailbox keys).
    pub fn mailbox_ack(&self, server_peer: PeerId, up_to: MailboxSeq) -> Option<ClientMessage> {
        let keys = self.mailbox.as_ref()?;
        Some(ClientMessage::MailboxAck {
            room: keys.room(),
            up_to,
            proof: keys.prove_access(server_peer),
        })
    }

    /// Takes in one page of this room's mailbox or a left epoch's (from `mailbox-entries`), in any order:
    /// opens each entry and handles its event as one from catch-up (verified, merged into
    /// history by its own fields, reported as [`ClientEvent::Message`] and [`ClientEvent::Persist`];
    /// linked peers then hear of it as usual). Entries that do not open or whose event is
    /// refused are dropped and counted. Duplicates are harmless.
    pub fn handle_mailbox_entries(
        &mut self,
        now: Instant,
        entries: &[MailboxItem],
    ) -> MailboxIngest {
        let now = self.monotonic(now);
        let mut ingest = MailboxIngest::default();
        let mut touched = BTreeSet::new();
        // The mailbox is the epoch's, so it may hold what was said before we joined: where
        // that is hidden, we keep only its redacted form.
        let start = self.backlog_start(&self.public.member_key());
        // The mailbox whose keys opened the last entry: a page is one mailbox's, so they
        // are tried first (each failed try authenticates the whole entry; trying the
        // room's keys first on a left epoch's page was ~5 % of the governance simulation's
        // CPU). Only the keys of one mailbox open an entry, so the order changes nothing.
        let mut last_opened: Option<RoomId> = None;
        for item in entries {
            ingest.up_to = ingest.up_to.max(Some(item.seq));
            // The room's mailbox, or one of an epoch we left (where the news of a rival
            // epoch that won, or of the next one, is deposited).
            let keys = || self.mailbox.iter().chain(self.left_mailboxes.keys());
            let open = |keys: &MailboxKeys| Some((keys.room(), keys.open(&item.entry).ok()?));
            let opened = last_opened
                .and_then(|room| keys().find(|keys| keys.room() == room))
                .and_then(open)
                .or_else(|| {
                    keys()
                        .filter(|keys| Some(keys.room()) != last_opened)
                        .find_map(open)
                });
            if let Some((room, _)) = opened {
                last_opened = Some(room);
            }
            let opened = opened
                .map(|(_, bytes)| bytes)
                .or_else(|| self.notice_bundle(&item.entry));
            let Some(bytes) = opened else {
                match self.take_notice(&item.entry) {
                    Some(true) => {}
                    Some(false) => ingest.refused += 1,
                    None => ingest.unreadable += 1,
                }
                continue;
            };
            // A bundle of events (`govern/left.rs`), sealed to the members its depositor
            // counted (not to us if we were removed), or one event.
            let events = if crate::wire::bundle::is_bundle(&bytes) {
                let Some(events) = self.open_bundle(&bytes) else {
                    ingest.unreadable += 1;
                    continue;
                };
                events
            } else {
                vec![bytes]
            };
            for bytes in events {
                self.take_in_deposited(now, &bytes, start, &mut ingest, &mut touched);
            }
        }
        self.settle_touched(now, touched);
        ingest
    }

    /// Takes in one event a mailbox entry held (see [`Client::handle_mailbox_entries`]).
    fn take_in_deposited(
        &mut self,
        now: Instant,
        bytes: &[u8],
        start: Option<crate::history::OrderKey>,
        ingest: &mut MailboxIngest,
        touched: &mut BTreeSet<MemberKey>,
    ) {
        let Ok(event) = self.history.verify(bytes) else {
            ingest.refused += 1;
            return;
        };
        let event = Self::as_served(&event, start);
        let author = event.event().author;
        if self.admissible(&event).is_err() {
            ingest.refused += 1;
            return;
        }
        match self.history.insert(event, self.horizon(now)) {
            Ok(inserted) => {
                touched.insert(author);
                ingest.accepted += self.apply_inserted(now, author, inserted);
            }
            Err(_) => ingest.refused += 1,
        }
    }

    /// Gives back the [`OutboxRecord`] persisted earlier (after [`Client::restore`]); if no
    /// member is linked, deposits the outbox: our events not known to be in other hands.
    pub fn restore_outbox(&mut self, record: OutboxRecord) {
        // Numbers beyond our restored chain say nothing about events we publish later.
        let head = self.history.mark(&self.public.member_key());
        let outbox = &mut self.outbox.record;
        outbox.cover_up_to(record.up_to.min(head));
        for seq in record.stored.into_iter().filter(|seq| *seq <= head) {
            outbox.cover(seq);
        }
        self.deposit_outbox_if_alone();
    }

    /// What is known of our events in other hands, as last reported.
    pub fn outbox_record(&self) -> &OutboxRecord {
        &self.outbox.record
    }

    /// The server confirmed storing our event `seq` (the [`ClientEvent::MailboxDeposit`] of
    /// that number): it is never deposited again. Reports [`ClientEvent::PersistOutbox`].
    pub fn mailbox_stored(&mut self, seq: u64) {
        self.outbox.deposited.remove(&seq);
        if seq <= self.history.mark(&self.public.member_key()) && self.outbox.record.cover(seq) {
            self.persist_outbox();
        }
    }

    /// `member` sent its marks: if it now holds more of our chain, that part of the outbox
    /// is in its hands.
    pub(super) fn note_acknowledged(&mut self, member: MemberKey) {
        if member == self.public.member_key() {
            return;
        }
        // A member's claim beyond what we sent holds nothing more (receipts are clamped
        // so already; this keeps the watermark within our chain whatever they say).
        let head = self.own_sent_up_to();
        let delivered = self.member_progress(&member).0.min(head);
        if self.outbox.record.cover_up_to(delivered) {
            self.outbox.deposited.retain(|seq| *seq > delivered);
            self.persist_outbox();
        }
    }

    /// Deposit rule at publish: if no other member's link is verified, deposit `event`
    /// (one of ours, just published). A removal or a demotion goes in any case, with the
    /// news before it (`govern/left.rs`): the member removed may be offline, and its mailbox
    /// is where it learns of it; and either can make a rekey its target signed on the other
    /// side of a partition count for nothing, which moves nobody on our side, so no
    /// rekeyer's bundle carries it to the members who followed that rekey: they find it
    /// here, in the mailbox of the epoch they left (sim seed 222: the owner demoted an
    /// admin who meanwhile rekeyed most of the room away, and that side never learned).
    pub(super) fn deposit_if_alone(&mut self, event: &VerifiedEvent) {
        let news = Self::governs(event.bytes(), |what| {
            matches!(what, Govern::Remove { .. } | Govern::Demote { .. })
        });
        if news {
            self.deposit_removal_news(event.event().seq);
        }
        if self.alone() || news {
            self.deposit(event.event().seq, event.bytes().to_vec());
        }
    }

    /// Deposit rule when the last member link dropped, or at start-up: if no other
    /// member's link is verified, deposit every event of the outbox not deposited yet this
    /// session, oldest first.
    pub(super) fn deposit_outbox_if_alone(&mut self) {
        if !self.alone() {
            return;
        }
        let me = self.public.member_key();
        // Write-ahead: only what the store holds (and so may go out).
        let head = self.own_sent_up_to();
        for seq in self.outbox.record.up_to + 1..=head {
            if self.outbox.record.covers(seq) || self.outbox.deposited.contains(&seq) {
                continue;
            }
            let bytes = self
                .history
                .id_at(&me, seq)
                .and_then(|id| self.history.get(&id))
                .map(|event| event.bytes().to_vec());
            if let Some(bytes) = bytes {
                self.deposit(seq, bytes);
            }
        }
    }

    /// No other member's link is verified (a link to another device of ours does not count).
    fn alone(&self) -> bool {
        let me = self.public.member_key();
        !self
            .verified_peers()
            .any(|(_, info)| info.identity.member_key() != me)
    }

    /// Seals our event `seq` for the mailbox and asks the app to deposit it.
    fn deposit(&mut self, seq: u64, bytes: Vec<u8>) {
        let Some(keys) = self.mailbox.as_ref() else {
            return;
        };
        // A removed member may hold this epoch's secret (a rekey is due, or we came back
        // from a rival epoch to one sealed to someone our side had removed): what we did
        // waits in the outbox for the next epoch, deposited there once we move (and reaches
        // members behind sooner in the sealed bundle of that move, `govern/left.rs`). Only
        // a removal goes (a leave is one): what even the removed may learn, and what a
        // member offline now needs to rekey, or a leaving page to forget the room.
        if self.governance.exposed_to_removed() && !Self::is_removal(&bytes) {
            return;
        }
        let room = keys.room();
        if self.deposit_into(room, seq, &bytes) {
            self.outbox.deposited.insert(seq);
        }
    }

    /// Whether `bytes` is a removal (of ours: it verifies), a leave included.
    fn is_removal(bytes: &[u8]) -> bool {
        Self::governs(bytes, |what| matches!(what, Govern::Remove { .. }))
    }

    /// Whether `bytes` (ours: it verifies) is a governance action that `what` holds for.
    fn governs(bytes: &[u8], what: impl Fn(&Govern) -> bool) -> bool {
        crate::wire::event::decode_signed(bytes).is_ok_and(|(event, _, _)| {
            matches!(&event.content, crate::history::Content::Govern(action) if what(action))
        })
    }

    /// Seals our event `seq` for `room`'s mailbox (ours, or one of an epoch we left) and
    /// asks the app to deposit it. Events are far below the largest payload an entry holds;
    /// one that is not is simply not deposited (catch-up still delivers it).
    pub(super) fn deposit_into(&mut self, room: RoomId, seq: u64, bytes: &[u8]) -> bool {
        let mut nonce = [0u8; NONCE_LEN];
        self.mailbox_rng.fill_bytes(&mut nonce);
        let keys = self.deposit_keys(room);
        let Some(Ok(entry)) = keys.map(|keys| keys.seal(nonce, bytes)) else {
            return false;
        };
        self.events
            .push_back(ClientEvent::MailboxDeposit { seq, room, entry });
        true
    }

    /// The keys of a mailbox we may deposit into: ours, an epoch's we left, or one we only
    /// deposit into (a left link's notice mailbox, an older epoch's for a newcomer handed it
    /// late: `govern/left.rs`).
    fn deposit_keys(&self, room: RoomId) -> Option<&crate::mailbox::MailboxKeys> {
        (self.mailbox.iter())
            .chain(self.left_mailboxes.keys())
            .chain(self.left_mailboxes.deposit_only())
            .find(|keys| keys.room() == room)
    }

    fn persist_outbox(&mut self) {
        let record = self.outbox.record.clone();
        self.events.push_back(ClientEvent::PersistOutbox { record });
    }
}

#[cfg(test)]
mod tests;
