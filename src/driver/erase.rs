//! Delete means delete, in the store (issue 17, item 6): core's `ClientEvent::Rewrite`
//! (a deleted or expired message erased, a message served without its content filled
//! in) overwrites the event's record, so its text leaves IndexedDB and every export made
//! afterwards.
//!
//! - **Unsaved.** A rewrite of an event still waiting in the driver's write queue
//!   replaces its bytes there: the whole form is never written.
//! - **Saved.** Otherwise it waits for the next write, which runs after every earlier
//!   one: an event in a write under way has its record by then. Records are found by
//!   event id in [`RecordIndex`].
//! - **Files.** A file message erased takes the file with it: what this device kept of
//!   it (its record and chunks) is deleted with the rewrite, and a transfer under way
//!   stops (as "Cancel" does).
//! - **Crash safety. Should the page die after a delete was stored but before the
//!   rewrite was, the store holds the message whole beside its delete; core erases it
//!   again on restore and reports the same `Rewrite`, which lands here like any other.
//! - **Disappearing messages.** The driver asks core what the room's timer erases
//!   (`Client::erase_expired`) at start (after the restore), when governance changes,
//!   after a drain that brought new messages while a timer is on, and when the deadline
//!   core returned comes (the driver's `Timer::Expiry`); erased messages are rewritten
//!   like deleted ones.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use confab_core::client::GovernError;
use confab_core::governance::Govern;
use confab_core::history::VerifiedEvent;
use confab_core::{EventId, Instant, RoomId, TimelineMessage};
use leptos::prelude::WithUntracked as _;

use super::Driver;
use crate::platform::clock;
use crate::platform::store::{BrowserStore, EventRecord, StoreError};

/// When the room's disappearing-messages timer next erases something.
#[derive(Default)]
pub(super) struct Expiry {
    /// The next message falls due then (`None`: none is under a timer).
    pub(super) at: Option<Instant>,
    /// Something changed that may make one fall due sooner: ask core after this drain.
    stale: bool,
}

/// Where each of a room's stored events lives, by event id. Built from the store the
/// first time a rewrite is written (restored events are not indexed before: most rooms
/// never need it), then kept up by every append. Only write tasks touch it, and they run
/// one at a time.
#[derive(Clone, Default)]
pub(super) struct RecordIndex(Rc<RefCell<Option<HashMap<EventId, EventRecord>>>>);

impl RecordIndex {
    /// Events `ids` were stored at `records` (in order); nothing to do before the index
    /// is built, which reads them from the store then.
    pub(super) fn appended(&self, ids: &[EventId], records: &[EventRecord]) {
        if let Some(index) = self.0.borrow_mut().as_mut() {
            index.extend(ids.iter().copied().zip(records.iter().cloned()));
        }
    }

    /// Overwrites the records of `rewrites` in one write. `room` is the store's room key
    /// of the events, `context` the id they are signed over (`History::room`). Events
    /// with no record (their write failed) are skipped. An event erased may have offered
    /// a file: whatever is kept under its id in the files store goes too.
    pub(super) async fn rewrite(
        &self,
        store: &BrowserStore,
        room: RoomId,
        context: RoomId,
        rewrites: Vec<(EventId, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        if rewrites.is_empty() {
            return Ok(());
        }
        if self.0.borrow().is_none() {
            let stored = store.load_event_records(room).await?;
            let index = stored
                .into_iter()
                .filter_map(|(record, bytes)| {
                    let event = VerifiedEvent::restore(&context, &bytes, None).ok()?;
                    Some((event.id(), record))
                })
                .collect();
            *self.0.borrow_mut() = Some(index);
        }
        let erased: Vec<EventId> = rewrites
            .iter()
            .filter(|(id, bytes)| {
                VerifiedEvent::restore(&context, bytes, Some(*id)).is_ok_and(|e| e.is_redacted())
            })
            .map(|(id, _)| *id)
            .collect();
        let found: Vec<(EventRecord, Vec<u8>)> = {
            let index = self.0.borrow();
            rewrites
                .into_iter()
                .filter_map(|(id, bytes)| {
                    let record = index.as_ref()?.get(&id)?;
                    Some((record.clone(), bytes))
                })
                .collect()
        };
        store.rewrite_events(&found).await?;
        for file in erased {
            store.forget_file(*file.as_bytes()).await?;
        }
        Ok(())
    }
}

impl Driver {
    /// Erases what the room's disappearing-messages timer says is gone now, and sets
    /// [`Expiry::at`] to when the next falls due.
    pub(super) fn erase_expired(&mut self, now: Instant) {
        self.expiry.stale = false;
        let wall = clock::wall();
        self.expiry.at = self
            .client
            .erase_expired(now, wall)
            .map(|due| now + Duration::from_millis(due.0.saturating_sub(wall.0)));
    }

    /// Whether the last drain left the timer to be looked at again (and marks it seen).
    pub(super) fn expiry_stale(&self) -> bool {
        self.expiry.stale
    }

    /// A message was shown or redrawn: one new under a timer may fall due before
    /// [`Expiry::at`].
    pub(super) fn note_message_for_expiry(&mut self, message: &TimelineMessage) {
        if !message.deleted
            && self
                .client
                .governance()
                .settings()
                .disappear_after_secs
                .is_some()
        {
            self.expiry.stale = true;
        }
    }

    /// The room's governance changed (or the driver starts): its timer may have, so it is
    /// looked at again.
    pub(super) fn recheck_expiry(&mut self) {
        self.expiry.stale = true;
    }

    /// The user changed the room's disappearing-messages timer ("Disappearing messages").
    pub(super) fn set_disappearing(&mut self, now: Instant, after_secs: Option<u32>) {
        let mut settings = self.client.governance().settings();
        if settings.disappear_after_secs == after_secs {
            return;
        }
        settings.disappear_after_secs = after_secs;
        let posted = self
            .client
            .govern(now, clock::wall(), Govern::Configure(settings));
        match posted {
            Ok(_) => self.state.clear_notice(),
            Err(GovernError::Refused(_)) => self.state.notify(
                "Only the room's owner and admins can change disappearing messages.".to_owned(),
            ),
            Err(error) => self
                .state
                .notify(format!("Disappearing messages not changed: {error}.")),
        }
        // The control shows what governance says, whatever happened.
        self.governance_changed();
    }

    /// Core changed the stored form of event `id` ([`confab_core::ClientEvent::Rewrite`]).
    pub(super) fn rewrite(&mut self, now: Instant, id: EventId, bytes: Vec<u8>) {
        let file = self
            .state
            .files()
            .with_untracked(|files| files.contains_key(&id));
        let erased = || {
            VerifiedEvent::restore(self.client.history().room(), &bytes, Some(id))
                .is_ok_and(|event| event.is_redacted())
        };
        if file && erased() {
            // Stops a transfer under way; the store forgets the file with the rewrite.
            self.cancel_file(now, id);
        }
        if self.store.is_none() {
            return;
        }
        let queued = self
            .unsaved
            .iter_mut()
            .chain(self.unsaved_rewrites.iter_mut())
            .find(|(queued, _)| *queued == id);
        match queued {
            Some((_, queued)) => *queued = bytes,
            None => self.unsaved_rewrites.push((id, bytes)),
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
