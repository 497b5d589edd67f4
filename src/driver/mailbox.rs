//! The offline mailbox, app side: sends core's deposits to the server and tells core which
//! ones it stored, reads the room's mailbox after every join (from the cursor kept in the
//! store, page by page), hands the entries to core, acknowledges them, and tells the user
//! when the server refuses.
//!
//! Order on a connection: `welcome` gives our peer id (every proof names it) → `joined` →
//! `mailbox-fetch` after the cursor, and any deposits queued while disconnected →
//! `mailbox-entries` → core → the events are saved, then the cursor (in one task, so a
//! saved cursor never runs ahead of the saved events) → `mailbox-ack`.
//!
//! Matching answers to deposits: the server answers each request of a connection in turn,
//! a deposit with `mailbox-stored` (which does not name the entry) or an `error`, so the
//! n-th `mailbox-stored` answers the oldest deposit still unanswered, unless an `error`
//! came while deposits were unanswered (it may answer a deposit or another request). From
//! then on this connection confirms nothing: its unanswered and unconfirmed deposits go
//! again on the next connection (the server keeps a duplicate, which members ignore),
//! and core deposits whatever was never confirmed again after a reload.

use std::collections::VecDeque;

use confab_core::client::OutboxRecord;
use confab_core::mailbox::SealedEntry;
use confab_core::signal::{ErrorCode, MailboxReply, MailboxSeq};
use confab_core::{Instant, PeerId};

use leptos::prelude::Set as _;

use super::{Driver, log};

/// Deposits kept while the server is unreachable (beyond it the oldest are dropped: the
/// events stay in history and reach members through catch-up).
const MAX_QUEUED_DEPOSITS: usize = 512;

/// One of core's deposits: our event's number in our chain, and its sealed copy.
struct Deposit {
    seq: u64,
    entry: SealedEntry,
}

/// The mailbox's state on the current server connection.
#[derive(Default)]
pub(super) struct Mailbox {
    /// Our peer id on this connection (from `welcome`); `None` while disconnected.
    server_peer: Option<PeerId>,
    /// `joined` arrived on this connection: requests may go out.
    joined: bool,
    /// The highest entry taken in (from the store at start, then from each page).
    cursor: MailboxSeq,
    /// A cursor newer than the stored one, to save after the events it brought.
    unsaved_cursor: Option<MailboxSeq>,
    /// Core's latest outbox record, not saved yet.
    unsaved_outbox: Option<OutboxRecord>,
    /// Deposits waiting for a connection.
    queued: VecDeque<Deposit>,
    /// Deposits sent on this connection and not yet answered (`mailbox-stored` or an
    /// error), oldest first.
    puts_in_flight: VecDeque<Deposit>,
    /// An error came while deposits were unanswered: answers on this connection can no
    /// longer be matched to deposits.
    answers_unmatched: bool,
    /// Deposits answered on this connection but not confirmed: sent again on the next.
    unconfirmed: Vec<Deposit>,
    /// A fetch is unanswered.
    fetching: bool,
}

impl Mailbox {
    /// The cursor the store kept for this room.
    pub(super) fn set_cursor(&mut self, cursor: MailboxSeq) {
        self.cursor = self.cursor.max(cursor);
    }

    /// The server connection closed: requests wait for the next one, and so do the
    /// deposits it did not confirm (whether it stored them is unknown).
    pub(super) fn disconnected(&mut self) {
        self.server_peer = None;
        self.joined = false;
        self.fetching = false;
        self.answers_unmatched = false;
        let unanswered = std::mem::take(&mut self.puts_in_flight);
        let again: Vec<Deposit> = self.unconfirmed.drain(..).chain(unanswered).collect();
        for deposit in again.into_iter().rev() {
            self.queued.push_front(deposit);
        }
        self.queued.truncate(MAX_QUEUED_DEPOSITS);
    }

    /// A cursor to save with the next batch of events, if it moved.
    pub(super) fn take_unsaved_cursor(&mut self) -> Option<MailboxSeq> {
        self.unsaved_cursor.take()
    }

    /// Core's [`confab_core::Event::PersistOutbox`]: saved with the next batch of events.
    pub(super) fn note_outbox(&mut self, record: OutboxRecord) {
        self.unsaved_outbox = Some(record);
    }

    /// The outbox record to save, if it changed.
    pub(super) fn take_unsaved_outbox(&mut self) -> Option<OutboxRecord> {
        self.unsaved_outbox.take()
    }
}

impl Driver {
    /// `welcome`: the peer id that every mailbox proof on this connection names.
    pub(super) fn mailbox_welcome(&mut self, peer: PeerId) {
        self.mailbox.disconnected();
        self.mailbox.server_peer = Some(peer);
    }

    /// `joined`: read what was left for us, and send what we queued.
    pub(super) fn mailbox_joined(&mut self) {
        let Some(peer) = self.mailbox.server_peer else {
            return;
        };
        self.mailbox.joined = true;
        self.mailbox.fetching = true;
        let fetch = self.client.mailbox_fetch(peer, self.mailbox.cursor);
        self.send_signal(&fetch);
        while let Some(deposit) = self.mailbox.queued.pop_front() {
            self.send_deposit(peer, deposit);
        }
    }

    /// Core's [`confab_core::Event::MailboxDeposit`]: send it now, or when connected.
    pub(super) fn deposit(&mut self, seq: u64, entry: SealedEntry) {
        let deposit = Deposit { seq, entry };
        match self.mailbox.server_peer {
            Some(peer) if self.mailbox.joined => self.send_deposit(peer, deposit),
            _ => {
                // Dropped ones are not confirmed: core deposits them again after a reload.
                if self.mailbox.queued.len() >= MAX_QUEUED_DEPOSITS {
                    self.mailbox.queued.pop_front();
                }
                self.mailbox.queued.push_back(deposit);
            }
        }
    }

    fn send_deposit(&mut self, peer: PeerId, deposit: Deposit) {
        let put = self.client.mailbox_put(peer, deposit.entry.clone());
        self.mailbox.puts_in_flight.push_back(deposit);
        self.send_signal(&put);
    }

    pub(super) fn handle_mailbox_reply(&mut self, now: Instant, reply: MailboxReply) {
        match reply {
            MailboxReply::MailboxEntries {
                room,
                entries,
                more,
            } => {
                if room != self.room {
                    return;
                }
                let ingest = self.client.handle_mailbox_entries(now, &entries);
                if ingest.unreadable + ingest.refused > 0 {
                    log(&format!(
                        "mailbox: dropped {} entries that did not open and {} whose event was refused",
                        ingest.unreadable, ingest.refused
                    ));
                }
                let Some(peer) = self.mailbox.server_peer else {
                    return;
                };
                let Some(up_to) = ingest.up_to else {
                    self.mailbox.fetching = false;
                    return;
                };
                if up_to > self.mailbox.cursor {
                    self.mailbox.cursor = up_to;
                    self.mailbox.unsaved_cursor = Some(up_to);
                }
                let ack = self.client.mailbox_ack(peer, up_to);
                self.send_signal(&ack);
                if more {
                    let fetch = self.client.mailbox_fetch(peer, up_to);
                    self.send_signal(&fetch);
                } else {
                    self.mailbox.fetching = false;
                }
            }
            MailboxReply::MailboxStored { room: _, seq: _ } => {
                let Some(deposit) = self.mailbox.puts_in_flight.pop_front() else {
                    return;
                };
                if self.mailbox.answers_unmatched {
                    self.mailbox.unconfirmed.push(deposit);
                } else {
                    self.client.mailbox_stored(deposit.seq);
                }
            }
        }
    }

    /// A server `error` that concerns the mailbox becomes a notice; false if it does not.
    pub(super) fn mailbox_error(&mut self, code: ErrorCode) -> bool {
        let depositing = self.note_error_while_depositing();
        let text = match code {
            ErrorCode::MailboxFull => {
                "The server's mailbox for this room is full: messages will be delivered \
                 when someone is online."
            }
            ErrorCode::MailboxDenied => {
                "The server refused this room's mailbox (it is bound to another key): \
                 messages will be delivered when someone is online."
            }
            ErrorCode::MailboxUnavailable if depositing || !self.mailbox.fetching => {
                "The server's mailbox is unavailable: messages will be delivered when \
                 someone is online."
            }
            ErrorCode::MailboxUnavailable => {
                "The server's mailbox is unavailable: messages left while you were away \
                 arrive when someone who has them is online."
            }
            ErrorCode::RateLimited if depositing => {
                "Too many messages for the server's mailbox at once: some will be \
                 delivered only when someone is online."
            }
            _ => return false,
        };
        if !depositing {
            self.mailbox.fetching = false;
        }
        log(&format!("server refused a mailbox request: {code:?}"));
        self.state.notice.set(Some(text.to_owned()));
        true
    }

    /// Any server `error`: if deposits are unanswered it may answer one of them, so this
    /// connection stops matching answers (see the module documentation). True if
    /// deposits were unanswered.
    pub(super) fn note_error_while_depositing(&mut self) -> bool {
        let Some(deposit) = self.mailbox.puts_in_flight.pop_front() else {
            return false;
        };
        self.mailbox.answers_unmatched = true;
        self.mailbox.unconfirmed.push(deposit);
        true
    }
}
