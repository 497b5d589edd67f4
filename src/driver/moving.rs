//! A governed room moving to a new epoch (issue 17): the record holding the new epoch is
//! saved first (a tab closed right after must not lose the secret: write, then act), then
//! the driver joins the new room id at the server and leaves the old one. The courier reads
//! the new room's mailbox at once (the client's mailbox keys are the new epoch's), while
//! deposits already queued keep the room they name. An epoch a member hands a newcomer, or
//! a founded room's first, is saved the same way (nothing moves then). "Reset invite link"
//! starts a move.

use confab_core::client::GovernError;
use confab_core::signal::{ClientMessage, MailboxSeq};
use confab_core::{Client, Instant, RoomId};

use super::{Driver, Input, log};
use crate::platform::store::{SavedRoom, StoreError};
use crate::platform::{clock, page};
use crate::state::Topic;

/// How long after a failed write of the room's record it is tried again.
const RECORD_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// The writes of the room's record (the epoch it holds): changes made, changes saved, and
/// when a failed write is tried again.
#[derive(Default)]
pub(super) struct RoomRecord {
    /// Changes [`note_epoch`] made to the record.
    changes: u64,
    /// Changes a committed write holds.
    saved: u64,
    /// A write under way.
    saving: bool,
    /// The last write failed and the page said so.
    failed: bool,
    /// Not before then, after a failed write.
    retry_at: Option<Instant>,
}

impl RoomRecord {
    /// When a failed write is tried again.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.retry_at
            .filter(|_| self.saved < self.changes && !self.saving)
    }

    /// Whether to write the record now.
    fn due(&self, now: Instant) -> bool {
        self.saved < self.changes && !self.saving && self.retry_at.is_none_or(|at| at <= now)
    }
}

/// Takes into `room` where `client` is now: its current link and, in a governed room, its
/// genesis and the epoch it holds (a founded room's first, one a member handed us, one we
/// moved to). True if that changed: save the record.
///
/// The first epoch the record held (founded, or handed us) is kept once we move on from
/// it: no lockbox of ours holds its secret, so after a reload its mailbox (what was said
/// there while we were away, the news of a partition's other side) could not be read
/// otherwise (core's `Client::with_left_epoch`). Later ones core recovers from history.
pub(crate) fn note_epoch(room: &mut SavedRoom, client: &Client) -> bool {
    let invite = client.invite();
    let epoch = client.epoch().map(|(n, secret)| (n, secret.clone()));
    let number = |epoch: &Option<(u64, _)>| epoch.as_ref().map(|(n, _)| *n);
    let changed = room.room_id() != invite.link.room_id()
        || room.genesis != invite.genesis
        || number(&room.epoch) != number(&epoch);
    if changed {
        if room.first_epoch.is_none() && room.genesis == invite.genesis && epoch.is_some() {
            room.first_epoch = room.epoch.take();
        }
        room.secret = invite.link;
        room.genesis = invite.genesis;
        room.epoch = epoch;
    }
    changed
}

impl Driver {
    /// "Reset invite link": a new epoch for every member; we move once history holds it.
    pub(super) fn reset_link(&mut self, now: Instant) {
        let text = match self.client.rekey(now, clock::wall()) {
            Ok(_) => return self.state.notify("The invite link was reset: the old one no longer opens this room.".to_owned()),
            Err(GovernError::Ungoverned) => {
                "This room has no owner or admins, so its link cannot be reset: start a new room instead.".to_owned()
            }
            Err(GovernError::Refused(_)) => {
                "Only the room's owner and admins can reset its invite link.".to_owned()
            }
            Err(GovernError::TooManyMembers { members }) => format!(
                "The invite link was not reset: a new link can be made for at most {} members, and this room has {members}.",
                confab_core::wire::govern::MAX_LOCKBOXES
            ),
            Err(error) => format!("The invite link was not reset: {error}."),
        };
        self.state.notify(text);
    }

    /// Core's `ClientEvent::Moved`: the courier follows the client's mailbox at once; the
    /// record is saved after the drain ([`Driver::follow_epoch`]), and the server waits
    /// for that.
    pub(super) fn moved(&mut self, room: RoomId) {
        self.mailbox.move_to(room, MailboxSeq::default());
        self.end_call_for_move();
    }

    /// After each drain: if the client holds another epoch than the record says, saves
    /// the record; if it moved, joins the new room at the server once that is saved
    /// ([`Input::MoveSaved`]). A record that could not be saved (a full disk) is tried
    /// again once [`RoomRecord::deadline`] is past, one write at a time.
    pub(super) fn follow_epoch(&mut self, now: Instant) {
        let room = self.client.room_id();
        let changed = self
            .saved_room
            .as_mut()
            .is_some_and(|saved| note_epoch(saved, &self.client));
        let moving = room != self.room && self.moving != Some(room);
        if changed {
            self.room_record.changes += 1;
            // A newcomer handed the secret is let in: it waits no more.
            self.show_governance();
        }
        let save = self.room_record.due(now) && self.store.is_some();
        if !save && !moving {
            return;
        }
        if moving {
            self.moving = Some(room);
        }
        let record = self.saved_room.clone().filter(|_| save);
        let up_to = self.room_record.changes;
        self.room_record.saving |= record.is_some();
        let (store, inbox) = (self.store.clone(), self.inbox.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let (Some(store), Some(record)) = (store, record) {
                let result = store.save_room(&record).await;
                let _ = inbox.unbounded_send(Input::RoomSaved { up_to, result });
            }
            if moving {
                let _ = inbox.unbounded_send(Input::MoveSaved { room });
            }
        });
    }

    /// A write of the room's record ended ([`Input::RoomSaved`]): failed, the page says so
    /// once (the new epoch's secret is not kept: a tab closed now comes back in the room
    /// left, and follows the room again only from what members or the mailbox still hold)
    /// and it is tried again later; saved, the page says that too if it had said it failed.
    pub(super) fn room_saved(&mut self, now: Instant, up_to: u64, result: Result<(), StoreError>) {
        let record = &mut self.room_record;
        record.saving = false;
        match result {
            Ok(()) => {
                record.saved = record.saved.max(up_to);
                record.retry_at = None;
                if std::mem::take(&mut record.failed) && record.saved == record.changes {
                    self.state.notify_about(
                        Topic::RoomRecord,
                        "The room's new invite link is saved on this device now.",
                    );
                }
            }
            Err(error) => {
                log(&format!("the room's new epoch was not saved: {error}"));
                record.retry_at = Some(now + RECORD_RETRY);
                if !std::mem::replace(&mut record.failed, true) {
                    let reason = match error {
                        StoreError::QuotaExceeded => {
                            "the browser's storage for Confab is full".to_owned()
                        }
                        other => format!("{other}"),
                    };
                    // Lasting: no later notice may hide it while it is not saved.
                    self.state.notify_about(Topic::RoomRecord, format!(
                        "The room moved to a new invite link, but it could not be saved on this device: {reason}. Free some space: it is saved as soon as there is room."
                    ));
                }
            }
        }
    }

    /// The record of the epoch at `room` is saved: join that room at the server and leave
    /// the old one (in that order, so relayed links keep a room in common), and show its
    /// invite link.
    pub(super) fn move_saved(&mut self, room: RoomId) {
        if room != self.client.room_id() {
            // It moved on again meanwhile: that move's turn comes.
            return;
        }
        self.moving = None;
        let left = std::mem::replace(&mut self.room, room);
        if self.socket.is_some() && self.client.server_peer().is_some() {
            self.send_signal(&ClientMessage::Join { room });
            self.send_signal(&ClientMessage::Leave { room: left });
        }
        if self.settings.on_screen {
            self.state
                .show_invite_link(page::invite_link(&self.client.invite()));
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "moving_tests.rs"]
mod tests;

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "moving_first_epoch_tests.rs"]
mod first_epoch_tests;
