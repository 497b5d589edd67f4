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
//! - **Crash safety.** Should the page die after a delete was stored but before the
//!   rewrite was, the store holds the message whole beside its delete; core erases it
//!   again on restore and reports the same `Rewrite`, which lands here like any other.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use confab_core::history::VerifiedEvent;
use confab_core::{EventId, RoomId};

use super::Driver;
use crate::platform::store::{BrowserStore, EventRecord, StoreError};

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
    /// with no record (their write failed) are skipped.
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
        store.rewrite_events(&found).await
    }
}

impl Driver {
    /// Core changed the stored form of event `id` ([`confab_core::ClientEvent::Rewrite`]).
    pub(super) fn rewrite(&mut self, id: EventId, bytes: Vec<u8>) {
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
