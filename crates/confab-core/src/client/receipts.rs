//! Receipts that outlive a session: what each member holds of our events (delivery) and
//! how far they read, as one small record per room ([`ReceiptsRecord`]).
//!
//! Delivered is a member's mark for our chain; read is its read marker. Each is believed
//! only as far as the events exist (a delivery up to what of our chain went out, with that
//! event's id as head; a read marker once we hold the event it names, at that place), so
//! nobody can show "Read" for what was never written or stop our deposits. Our *outbox*
//! is our events nobody acknowledged (see `mailbox.rs`).
//!
//! Receipts move in `sync` ([`ClientEvent::Delivered`], [`ClientEvent::Read`]). The whole record goes
//! out as [`ClientEvent::PersistReceipts`] at the first [`Client::handle_timeout`] at least
//! [`PERSIST_RECEIPTS_AFTER`] after the first move not yet reported, and at once when a
//! link goes or we leave; so a burst of marks and read markers is written once, not per
//! frame. This rides the timers that already run while a link is up (anti-entropy alone
//! fires every [`Config::anti_entropy_interval`]), and receipts only move while one is: a
//! deadline of its own would add wake-ups, and move every simulation's timing, for
//! nothing. At start the app gives the record back to [`Client::restore_receipts`]: the
//! receipts come out again as [`ClientEvent::Delivered`] and [`ClientEvent::Read`], so a member who is
//! not linked yet still shows as holding and having read what they did (entries of
//! banned members are ignored, deliveries clamped to our restored chain). Exports leave
//! the record out: an imported profile shows pending until members link again.
//!
//! [`Config::anti_entropy_interval`]: super::Config::anti_entropy_interval

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Client, ClientEvent};
use crate::Instant;
use crate::bytes::{ReadError, Reader};
use crate::history::OrderKey;
use crate::ids::MemberKey;

/// Version byte of the [`ReceiptsRecord`] encoding.
const RECEIPTS_RECORD_VERSION: u8 = 1;
/// Most members a record keeps (a room has at most 256): beyond it, those whose receipts
/// cover least are left out.
pub const MAX_RECEIPT_MEMBERS: usize = 256;
/// How long receipts gather after one moves before they may be reported for persisting.
pub const PERSIST_RECEIPTS_AFTER: Duration = Duration::from_secs(1);
/// One member's entry without a read marker: key, delivered, flag.
const ENTRY_LEN: usize = 32 + 8 + 1;
/// A read marker: Lamport time, author, sequence number.
const READ_LEN: usize = 8 + 32 + 8;

/// Per member, our events they hold (delivered up to our sequence number) and how far they
/// read (in room order). Persist it from [`ClientEvent::PersistReceipts`] and give it back to
/// [`Client::restore_receipts`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiptsRecord {
    members: BTreeMap<MemberKey, (u64, Option<OrderKey>)>,
}

/// A stored [`ReceiptsRecord`] that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the receipts record is corrupt")]
pub struct ReceiptsRecordError;

/// What one member has of our events, as [`Event::Delivered`] and [`Event::Read`] moved
/// it: what an app shows as a message's "delivered to" and "read by".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberReceipt {
    /// They hold our events up to this sequence number.
    pub delivered: u64,
    /// They read up to here (room order).
    pub read: Option<OrderKey>,
}

impl ReceiptsRecord {
    /// A record of these receipts (delivered, read marker) per member, keeping at most
    /// [`MAX_RECEIPT_MEMBERS`] (those covering most) and none that says nothing.
    pub fn new(
        receipts: impl IntoIterator<Item = (MemberKey, u64, Option<OrderKey>)>,
    ) -> ReceiptsRecord {
        let mut entries: Vec<(MemberKey, u64, Option<OrderKey>)> = receipts
            .into_iter()
            .filter(|(_, delivered, read)| *delivered > 0 || read.is_some())
            .collect();
        if entries.len() > MAX_RECEIPT_MEMBERS {
            // Most useful first: who holds most of our chain, then who read furthest.
            entries.sort_by_key(|entry| std::cmp::Reverse((entry.1, entry.2, entry.0)));
            entries.truncate(MAX_RECEIPT_MEMBERS);
        }
        ReceiptsRecord {
            members: entries
                .into_iter()
                .map(|(member, delivered, read)| (member, (delivered, read)))
                .collect(),
        }
    }

    /// `member`'s receipts: our events they hold up to, and their read marker.
    pub fn get(&self, member: &MemberKey) -> Option<(u64, Option<OrderKey>)> {
        self.members.get(member).copied()
    }

    /// How many members the record holds.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it holds nobody.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The persisted form: `version:u8(=1) n:u16be (member[32] delivered:u64be read:u8
    /// [lamport:u64be author[32] seq:u64be])*`, members ascending, `read` 0 (no marker) or
    /// 1 (the marker follows), n ≤ [`MAX_RECEIPT_MEMBERS`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + (ENTRY_LEN + READ_LEN) * self.members.len());
        out.push(RECEIPTS_RECORD_VERSION);
        // At most MAX_RECEIPT_MEMBERS entries (every constructor bounds it).
        out.extend_from_slice(&(self.members.len() as u16).to_be_bytes());
        for (member, (delivered, read)) in &self.members {
            out.extend_from_slice(member.as_bytes());
            out.extend_from_slice(&delivered.to_be_bytes());
            match read {
                None => out.push(0),
                Some(read) => {
                    out.push(1);
                    out.extend_from_slice(&read.lamport.to_be_bytes());
                    out.extend_from_slice(read.author.as_bytes());
                    out.extend_from_slice(&read.seq.to_be_bytes());
                }
            }
        }
        out
    }

    /// Reads [`ReceiptsRecord::encode`]'s form back; anything else (another version, too
    /// many members, members out of order or repeated, a bad flag, bytes missing or left
    /// over) is refused whole.
    pub fn decode(bytes: &[u8]) -> Result<ReceiptsRecord, ReceiptsRecordError> {
        let mut reader = Reader::new(bytes);
        if reader.array::<1>()? != [RECEIPTS_RECORD_VERSION] {
            return Err(ReceiptsRecordError);
        }
        let n = u16::from_be_bytes(reader.array()?) as usize;
        if n > MAX_RECEIPT_MEMBERS {
            return Err(ReceiptsRecordError);
        }
        let mut members = BTreeMap::new();
        let mut last: Option<MemberKey> = None;
        for _ in 0..n {
            let member = MemberKey::from_bytes(reader.array()?);
            if last.is_some_and(|last| last >= member) {
                return Err(ReceiptsRecordError);
            }
            last = Some(member);
            let delivered = u64::from_be_bytes(reader.array()?);
            let read = match reader.array::<1>()? {
                [0] => None,
                [1] => Some(OrderKey {
                    lamport: u64::from_be_bytes(reader.array()?),
                    author: MemberKey::from_bytes(reader.array()?),
                    seq: u64::from_be_bytes(reader.array()?),
                }),
                _ => return Err(ReceiptsRecordError),
            };
            members.insert(member, (delivered, read));
        }
        reader.finish()?;
        Ok(ReceiptsRecord { members })
    }
}

impl MemberReceipt {
    /// Takes what a [`Event::Delivered`] (`delivered`) or [`Event::Read`] (`read`) says;
    /// receipts only move forward.
    pub fn advance(&mut self, delivered: Option<u64>, read: Option<OrderKey>) {
        if let Some(delivered) = delivered {
            self.delivered = self.delivered.max(delivered);
        }
        if read.is_some() && self.read < read {
            self.read = read;
        }
    }

    /// They hold our message at `message` (its place in room order).
    pub fn holds(&self, message: &OrderKey) -> bool {
        self.delivered >= message.seq
    }

    /// They read our message at `message`. A read marker covers the room order up to a
    /// point, but a member may have read past one of ours it does not hold yet (a
    /// concurrent message ordered before theirs): it counts once they hold ours.
    pub fn has_read(&self, message: &OrderKey) -> bool {
        self.holds(message) && self.read.is_some_and(|read| read >= *message)
    }
}

impl From<ReadError> for ReceiptsRecordError {
    fn from(_: ReadError) -> ReceiptsRecordError {
        ReceiptsRecordError
    }
}

impl Client {
    /// Gives back the [`ReceiptsRecord`] persisted earlier (after [`Client::restore`]):
    /// receipts that move a member forward come out as [`ClientEvent::Delivered`] and
    /// [`ClientEvent::Read`], and [`Client::member_progress`] reports them. Entries of banned
    /// members are ignored, and a delivery beyond our restored chain counts up to its head.
    pub fn restore_receipts(&mut self, record: ReceiptsRecord) {
        let head = self.history.mark(&self.public.member_key());
        for (member, (delivered, read)) in record.members {
            if self.history.is_banned(&member) {
                continue;
            }
            let delivered = delivered.min(head);
            if self.sync.note_delivered(member, delivered) {
                self.events.push_back(ClientEvent::Delivered {
                    member,
                    up_to: delivered,
                });
            }
            if let Some(up_to) = read
                && self.sync.note_read(member, up_to)
            {
                self.events.push_back(ClientEvent::Read { member, up_to });
            }
        }
    }

    /// The receipts as they stand, in their persisted form.
    pub fn receipts_record(&self) -> ReceiptsRecord {
        ReceiptsRecord::new(
            self.sync
                .receipts()
                .filter(|(member, _, _)| !self.history.is_banned(member)),
        )
    }

    /// Receipts moved: report them for persisting at the first timer once
    /// [`PERSIST_RECEIPTS_AFTER`] has passed since the first move not yet reported.
    pub(super) fn receipts_moved(&mut self, now: Instant) {
        if self.sync.receipts_due.is_none() {
            self.sync.receipts_due = Some(now + PERSIST_RECEIPTS_AFTER);
        }
    }

    /// On any timer: report receipts that moved long enough ago.
    pub(super) fn handle_receipts_timeout(&mut self, now: Instant) {
        if self.sync.receipts_due.is_some_and(|due| now >= due) {
            self.flush_receipts();
        }
    }

    /// Reports receipts that moved since the last report, now.
    pub(super) fn flush_receipts(&mut self) {
        if self.sync.receipts_due.take().is_some() {
            let record = self.receipts_record();
            self.events
                .push_back(ClientEvent::PersistReceipts { record });
        }
    }
}

#[cfg(test)]
mod tests;
