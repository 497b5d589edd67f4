//! The offline mailbox, client side: depositing our events when no member can receive them,
//! and taking in what others deposited (see [`crate::mailbox`] for the crypto and ARCHITECTURE.md
//! "Mailbox" for the whole design).
//!
//! - **Deposit rule.** When we publish an event (message, reply, edit, delete, reaction,
//!   name, file announcement) and no other member's link is verified at that moment, the
//!   event's signed bytes, sealed for the room's mailbox, come out as
//!   [`Event::MailboxDeposit`]. Events that reached a member live are not deposited: that
//!   member forwards them to the others through catch-up. The app sends the deposit when it
//!   is connected to the server ([`Client::mailbox_put`] makes the request).
//! - **Intake.** [`Client::handle_mailbox_entries`] opens fetched entries and treats each
//!   event like one from catch-up: its signature, its author's hash chain and the room order
//!   decide what is accepted and where it goes, so the server cannot forge, alter or
//!   reorder anything members show. What does not open or verify is dropped and counted,
//!   never an error: the server (or anyone with the room id) may serve garbage.

use std::collections::BTreeSet;

use super::{Client, Event};
use crate::Instant;
use crate::history::VerifiedEvent;
use crate::ids::PeerId;
use crate::mailbox::NONCE_LEN;
use crate::signal::{ClientMessage, MailboxItem, MailboxSeq};

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

impl Client {
    /// The server's `mailbox-put` request for `entry` (from [`Event::MailboxDeposit`]),
    /// proven for the connection the server calls `server_peer` (its `welcome`).
    pub fn mailbox_put(
        &self,
        server_peer: PeerId,
        entry: crate::mailbox::SealedEntry,
    ) -> ClientMessage {
        ClientMessage::MailboxPut {
            room: self.mailbox.room(),
            proof: self.mailbox.prove_put(server_peer, &entry),
            key: self.mailbox.deposit_key(),
            entry,
        }
    }

    /// The server's `mailbox-fetch` request: this room's entries after `after`.
    pub fn mailbox_fetch(&self, server_peer: PeerId, after: MailboxSeq) -> ClientMessage {
        ClientMessage::MailboxFetch {
            room: self.mailbox.room(),
            after,
            proof: self.mailbox.prove_access(server_peer),
        }
    }

    /// The server's `mailbox-ack` request: this connection holds everything up to `up_to`.
    pub fn mailbox_ack(&self, server_peer: PeerId, up_to: MailboxSeq) -> ClientMessage {
        ClientMessage::MailboxAck {
            room: self.mailbox.room(),
            up_to,
            proof: self.mailbox.prove_access(server_peer),
        }
    }

    /// Takes in one page of this room's mailbox (from `mailbox-entries`), in any order:
    /// opens each entry and handles its event as one from catch-up (verified, merged into
    /// history by its own fields, reported as [`Event::Message`] and [`Event::Persist`];
    /// linked peers then hear of it as usual). Entries that do not open or whose event is
    /// refused are dropped and counted. Duplicates are harmless.
    pub fn handle_mailbox_entries(
        &mut self,
        now: Instant,
        entries: &[MailboxItem],
    ) -> MailboxIngest {
        let now = self.monotonic(now);
        let room = self.room.room_id();
        let mut ingest = MailboxIngest::default();
        let mut touched = BTreeSet::new();
        for item in entries {
            ingest.up_to = ingest.up_to.max(Some(item.seq));
            let Ok(bytes) = self.mailbox.open(&item.entry) else {
                ingest.unreadable += 1;
                continue;
            };
            let event = match VerifiedEvent::verify(&room, &bytes) {
                Ok(event) => event,
                Err(_) => {
                    ingest.refused += 1;
                    continue;
                }
            };
            let author = event.event().author;
            match self.history.insert(event) {
                Ok(inserted) => {
                    touched.insert(author);
                    ingest.accepted += self.apply_inserted(now, author, inserted);
                }
                Err(_) => ingest.refused += 1,
            }
        }
        self.settle_touched(now, touched);
        ingest
    }

    /// Deposit rule: if no other member's link is verified, queue a sealed copy of `event`
    /// (one of ours, just published) for the server's mailbox.
    pub(super) fn deposit_if_alone(&mut self, event: &VerifiedEvent) {
        let me = self.public.member_key();
        if self
            .verified_peers()
            .any(|(_, info)| info.identity.member_key() != me)
        {
            return;
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.mailbox_rng.fill_bytes(&mut nonce);
        // Events are far below the largest payload an entry holds; one that is not is
        // simply not deposited (catch-up still delivers it).
        if let Ok(entry) = self.mailbox.seal(nonce, event.bytes()) {
            self.events.push_back(Event::MailboxDeposit { entry });
        }
    }
}

#[cfg(test)]
mod tests;
