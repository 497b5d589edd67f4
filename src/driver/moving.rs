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
use crate::platform::store::SavedRoom;
use crate::platform::{clock, page};

/// Takes into `room` where `client` is now: its current link and, in a governed room, its
/// genesis and the epoch it holds (a founded room's first, one a member handed us, one we
/// moved to). True if that changed: save the record.
pub(crate) fn note_epoch(room: &mut SavedRoom, client: &Client) -> bool {
    let invite = client.invite();
    let epoch = client.epoch().map(|(n, secret)| (n, secret.clone()));
    let number = |epoch: &Option<(u64, _)>| epoch.as_ref().map(|(n, _)| *n);
    let changed = room.room_id() != invite.link.room_id()
        || room.genesis != invite.genesis
        || number(&room.epoch) != number(&epoch);
    if changed {
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
    /// ([`Input::MoveSaved`]).
    pub(super) fn follow_epoch(&mut self) {
        let room = self.client.room_id();
        let changed = self
            .saved_room
            .as_mut()
            .is_some_and(|saved| note_epoch(saved, &self.client));
        let moving = room != self.room && self.moving != Some(room);
        if changed {
            // A newcomer handed the secret is let in: it waits no more.
            self.show_governance();
        }
        if !changed && !moving {
            return;
        }
        if moving {
            self.moving = Some(room);
        }
        let record = self.saved_room.clone().filter(|_| changed);
        let (store, inbox) = (self.store.clone(), self.inbox.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let (Some(store), Some(record)) = (store, record)
                && let Err(error) = store.save_room(&record).await
            {
                // History holds the rekey: the next start follows it again.
                log(&format!("the room's new epoch was not saved: {error}"));
            }
            if moving {
                let _ = inbox.unbounded_send(Input::MoveSaved { room });
            }
        });
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
