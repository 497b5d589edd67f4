//! The offline mailbox, app side: core's [`Courier`] decides which mailbox requests go
//! out on the server connection and when (the fetch after every `joined` and every
//! `mailbox-new`, the mailboxes of the epochs a governed room left read on joining and
//! every ten minutes, deposits paced under the server's allowance, answers matched to
//! deposits; see its documentation); this file feeds it the connection's events and
//! core's deposits, sends what it asks, keeps the cursor and the outbox record for the
//! store, and tells the user when the server refuses.
//!
//! The cursor is saved after the events its page brought (in one task, so a saved cursor
//! never runs ahead of the saved events).

use confab_core::client::{Courier, OutboxRecord, Refused};
use confab_core::mailbox::SealedEntry;
use confab_core::signal::{ErrorCode, MailboxReply, MailboxSeq};
use confab_core::{Instant, PeerId, RoomId};

use super::{Driver, log};

/// The mailbox's state beside the connection: the adapter over core's [`Courier`].
pub(super) struct MailboxAdapter {
    courier: Courier,
    /// Core's latest outbox record, not saved yet.
    unsaved_outbox: Option<OutboxRecord>,
}

impl MailboxAdapter {
    pub(super) fn new(room: RoomId) -> MailboxAdapter {
        MailboxAdapter {
            courier: Courier::new(room),
            unsaved_outbox: None,
        }
    }

    /// The room whose mailbox is read (the store keeps its cursor under this id).
    pub(super) fn room(&self) -> RoomId {
        self.courier.room()
    }

    /// The client moved to `room`: read its mailbox from `cursor` once joined there;
    /// deposits already queued keep the room they name.
    pub(super) fn move_to(&mut self, room: RoomId, cursor: MailboxSeq) {
        self.courier.move_to(room, cursor);
    }

    /// The cursor the store kept for this room.
    pub(super) fn set_cursor(&mut self, cursor: MailboxSeq) {
        self.courier.set_cursor(cursor);
    }

    /// The server connection closed: requests wait for the next one, and so do the
    /// deposits it did not confirm (whether it stored them is unknown).
    pub(super) fn disconnected(&mut self) {
        self.courier.disconnected();
    }

    /// A cursor to save with the next batch of events, if it moved.
    pub(super) fn take_unsaved_cursor(&mut self) -> Option<MailboxSeq> {
        self.courier.take_unsaved_cursor()
    }

    /// Core's [`confab_core::ClientEvent::PersistOutbox`]: saved with the next batch of events.
    pub(super) fn note_outbox(&mut self, record: OutboxRecord) {
        self.unsaved_outbox = Some(record);
    }

    /// The outbox record to save, if it changed.
    pub(super) fn take_unsaved_outbox(&mut self) -> Option<OutboxRecord> {
        self.unsaved_outbox.take()
    }

    /// When the next paced deposit may go.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.courier.poll_timeout()
    }
}

impl Driver {
    /// `welcome`: the peer id that every mailbox proof on this connection names, and the
    /// deposits a minute it allows.
    pub(super) fn mailbox_welcome(&mut self, now: Instant, peer: PeerId, puts_per_minute: u32) {
        self.mailbox
            .courier
            .handle_welcome(now, peer, puts_per_minute);
    }

    /// `joined`: read what was left for us, and send what we queued.
    pub(super) fn mailbox_joined(&mut self, now: Instant) {
        self.mailbox.courier.handle_joined(now, &self.client);
        self.send_mailbox_requests();
    }

    /// Core's [`confab_core::ClientEvent::MailboxDeposit`]: send it when connected and the
    /// server's allowance permits.
    pub(super) fn deposit(&mut self, now: Instant, seq: u64, room: RoomId, entry: SealedEntry) {
        self.mailbox
            .courier
            .deposit(now, &self.client, seq, room, entry);
        self.send_mailbox_requests();
    }

    /// The deadline from [`MailboxAdapter::deadline`] came.
    pub(super) fn mailbox_timeout(&mut self, now: Instant) {
        self.mailbox.courier.handle_timeout(now, &self.client);
        self.send_mailbox_requests();
    }

    pub(super) fn handle_mailbox_reply(&mut self, now: Instant, reply: MailboxReply) {
        let ingest = self
            .mailbox
            .courier
            .handle_reply(now, &mut self.client, reply);
        if let Some(ingest) = ingest
            && ingest.unreadable + ingest.refused > 0
        {
            log(&format!(
                "mailbox: dropped {} entries that did not open and {} whose event was refused",
                ingest.unreadable, ingest.refused
            ));
        }
        self.send_mailbox_requests();
    }

    /// A server `error`: if it concerns the mailbox, the courier takes note and the user
    /// may get a notice; false if it does not concern the mailbox.
    pub(super) fn mailbox_error(&mut self, now: Instant, code: ErrorCode) -> bool {
        let refused = self.mailbox.courier.handle_error(now, &self.client, code);
        self.send_mailbox_requests();
        let text = match (code, refused) {
            (ErrorCode::MailboxFull, _) => {
                "The server's mailbox for this room is full: messages will be delivered \
                 when someone is online."
            }
            (ErrorCode::MailboxDenied, _) => {
                "The server refused this room's mailbox (it is bound to another key): \
                 messages will be delivered when someone is online."
            }
            (ErrorCode::MailboxUnavailable, Refused::Fetch) => {
                "The server's mailbox is unavailable: messages left while you were away \
                 arrive when someone who has them is online."
            }
            (ErrorCode::MailboxUnavailable, _) => {
                "The server's mailbox is unavailable: messages will be delivered when \
                 someone is online."
            }
            (_, Refused::DepositDeferred) => {
                // Sent again once the allowance refills: nothing for the user to do.
                log("the server's mailbox refused a deposit as too many; sending it again soon");
                return true;
            }
            (_, Refused::Deposit | Refused::Fetch) => {
                log(&format!("server refused a mailbox request: {code:?}"));
                return true;
            }
            _ => return false,
        };
        log(&format!("server refused a mailbox request: {code:?}"));
        self.state.notify(text.to_owned());
        true
    }

    /// Sends what the courier asks of the server.
    fn send_mailbox_requests(&mut self) {
        while let Some(request) = self.mailbox.courier.poll_transmit() {
            self.send_signal(&request);
        }
    }
}
