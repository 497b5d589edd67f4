//! Persisting, write-ahead: accepted events go to the store in order, one write at a
//! time; our events go out once their write commits (see the driver's module docs).

use std::rc::Rc;

use confab_core::Content;
use confab_core::EventId;
use confab_core::Instant;
use confab_core::client::OutboxRecord;
use confab_core::{Client, Config, Identity};

use super::Driver;
use super::Input;
use crate::platform::clock;
use crate::platform::clock::log;
use crate::platform::entropy;
use crate::platform::page;
use crate::platform::store::EventRecord;
use crate::platform::store::StoreError;
use crate::platform::store::{BrowserStore, SavedRoom};
use crate::state::AppState;
use crate::state::Draft;

/// The client of `room` as saved: a governed room's with its genesis, the epoch we hold and
/// the first we held if we left it (restore its history next).
pub fn client_for(identity: Identity, room: &SavedRoom, config: Config) -> Client {
    let client = Client::new(identity, room.secret.clone(), config, entropy::seed());
    let Some(genesis) = room.genesis else {
        return client;
    };
    let client = client.with_genesis(genesis);
    let client = match &room.epoch {
        Some((epoch, secret)) => client.with_epoch(*epoch, secret.clone()),
        None => client,
    };
    match &room.first_epoch {
        Some((epoch, secret)) => client.with_left_epoch(*epoch, secret.clone()),
        None => client,
    }
}

/// Restores the room's stored events into `client` ([`Client::restore`]) and deletes the
/// records it refused: others' events beyond the clock's horizon, which older versions
/// kept (an honest one comes again by catch-up once the clock passes it). `Err`: the store
/// could not be read, and nothing was restored.
pub async fn restore_history(
    client: &mut Client,
    store: Option<&BrowserStore>,
) -> Result<(), StoreError> {
    let stored = match store {
        Some(store) => store.load_event_records(super::home_of(client)).await?,
        None => Vec::new(),
    };
    let events = stored
        .iter()
        .map(|(record, event)| (record, event.as_slice()));
    let restored = client.restore(clock::now(), clock::wall(), events);
    if let Some(store) = store
        && !restored.refused.is_empty()
    {
        log(&format!(
            "deleting {} stored events beyond the clock's horizon",
            restored.refused.len()
        ));
        let refused: Vec<EventRecord> = restored.refused.into_iter().cloned().collect();
        // Should this fail, the next start refuses them again: nothing depends on it.
        let _ = store.delete_events(&refused).await;
    }
    Ok(())
}

impl Driver {
    /// Runs a store write in the background; only failures are reported.
    pub(super) fn with_store_quietly<F, Fut>(&self, task: F)
    where
        F: FnOnce(Rc<BrowserStore>) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<(), StoreError>> + 'static,
    {
        let (Some(store), state) = (self.store.clone(), self.state) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(error) = task(store).await {
                state.notify(format!("Could not save to this device: {error}."));
            }
        });
    }

    /// Where this room's mailbox was read up to on this device, and which of our events
    /// are in other hands (core then deposits the rest if nobody is linked: nobody is yet);
    /// and the composer's unsent draft.
    pub(super) async fn load_mailbox_state(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        match store.mailbox_cursor(self.room).await {
            Ok(cursor) => self.mailbox.set_cursor(cursor),
            Err(error) => log(&format!(
                "mailbox cursor unreadable, reading from the start: {error}"
            )),
        }
        // Receipts before the first message views are drawn, so what members hold and read
        // shows at once, not "pending" until one links.
        match store.receipts(self.home).await {
            Ok(Some(record)) => self.client.restore_receipts(record),
            Ok(None) => {}
            Err(error) => log(&format!(
                "receipts record unreadable, showing none until members link: {error}"
            )),
        }
        let record = match store.outbox(self.home).await {
            Ok(record) => record.unwrap_or_default(),
            Err(error) => {
                log(&format!(
                    "outbox record unreadable, depositing every unacknowledged event: {error}"
                ));
                OutboxRecord::default()
            }
        };
        self.client.restore_outbox(record);
        match store.draft(self.home).await {
            Ok(draft) => self.state.draft_loaded(draft),
            Err(error) => log(&format!(
                "draft unreadable, the composer starts empty: {error}"
            )),
        }
        match store.muted(self.home).await {
            Ok(muted) => {
                self.state.room_muted(muted);
                self.push_mirror_muted(muted);
            }
            Err(error) => log(&format!("mute unreadable, the room notifies: {error}")),
        }
        self.drain(clock::now());
    }

    /// Hands accepted events to the store, in order, in one write (one at a time: the next
    /// waits for this one's [`Input::Persisted`], which tells core our events in it may go
    /// out: write-ahead), after the rewrites of events saved before (`erase`); then the
    /// mailbox cursor if it moved (after the events, so it never promises events that were
    /// not saved), the outbox record if it grew, the receipts and the read marks if they
    /// moved.
    pub(super) fn save_events(&mut self) {
        if self.writing {
            return;
        }
        // Under the room id of the mailbox it reads (each epoch has its own).
        let cursor = self
            .mailbox
            .take_unsaved_cursor()
            .map(|cursor| (self.mailbox.room(), cursor));
        let outbox = self.mailbox.take_unsaved_outbox();
        let receipts = self.unsaved_receipts.take();
        let seen = self.unsaved_seen.take();
        if self.unsaved.is_empty()
            && self.unsaved_rewrites.is_empty()
            && cursor.is_none()
            && outbox.is_none()
            && receipts.is_none()
            && seen.is_none()
        {
            return;
        }
        let (ids, events): (Vec<EventId>, Vec<Vec<u8>>) =
            std::mem::take(&mut self.unsaved).into_iter().unzip();
        let rewrites = std::mem::take(&mut self.unsaved_rewrites);
        let Some(store) = self.store.clone() else {
            return;
        };
        self.writing = true;
        let (room, inbox) = (self.home, self.inbox.clone());
        let (records, context) = (self.records.clone(), *self.client.history().room());
        wasm_bindgen_futures::spawn_local(async move {
            // Before the append, while no other write runs (the index is built from what
            // is stored, then kept up by appends).
            if let Err(error) = records.rewrite(&store, room, context, rewrites).await {
                log(&format!("erased events not rewritten: {error}"));
            }
            let saved = store.append_events(room, &events).await;
            if let Ok(saved) = &saved {
                records.appended(&ids, saved);
            }
            let saved = saved.map(drop);
            // Core hears of it first: our events in this write may go out now.
            let _ = inbox.unbounded_send(Input::Persisted {
                ids,
                result: saved.clone(),
            });
            if let (Ok(()), Some((mailbox, cursor))) = (&saved, cursor)
                && let Err(error) = store.save_mailbox_cursor(mailbox, cursor).await
            {
                log(&format!("mailbox cursor not saved: {error}"));
            }
            if let Some(outbox) = outbox
                && let Err(error) = store.save_outbox(room, &outbox).await
            {
                log(&format!("outbox record not saved: {error}"));
            }
            if let Some(receipts) = receipts
                && let Err(error) = store.save_receipts(room, &receipts).await
            {
                log(&format!("receipts record not saved: {error}"));
            }
            if let Some(seen) = seen
                && let Err(error) = store.save_read_marks(room, &seen).await
            {
                log(&format!("read marks not saved: {error}"));
            }
        });
    }

    /// A write of events ended ([`Input::Persisted`]). Committed: core sends ours among
    /// them. Failed: core withdraws ours not sent yet (reported as [`ClientEvent::NotSent`]);
    /// others' stay shown but are not kept, and the user is told.
    pub(super) fn persisted(
        &mut self,
        now: Instant,
        ids: Vec<EventId>,
        result: Result<(), StoreError>,
    ) {
        self.writing = false;
        match result {
            Ok(()) => self.client.handle_persisted(now, &ids),
            Err(error) => {
                let (reason, text) = match error {
                    StoreError::QuotaExceeded => (
                        "the browser's storage for Confab is full".to_owned(),
                        "The browser's storage for Confab is full: messages from others are \
                         shown but not kept, and yours are not sent. Free some space (or export \
                         your profile) and reload."
                            .to_owned(),
                    ),
                    other => (
                        format!("it could not be saved on this device ({other})"),
                        format!("New messages could not be saved: {other}."),
                    ),
                };
                log(&format!("events not saved: {reason}"));
                self.state.notify(text);
                self.write_failure = Some(reason);
                self.client.handle_persist_failed(now, &ids);
            }
        }
    }

    /// Core withdrew our events that could not be stored: they are gone from the timeline
    /// (core redraws it) and from the next write; the user gets their text back in the
    /// notice, to send again.
    pub(super) fn not_sent(&mut self, events: Vec<(EventId, Content)>) {
        self.unsaved
            .retain(|(id, _)| !events.iter().any(|(withdrawn, _)| withdrawn == id));
        let texts: Vec<String> = events
            .into_iter()
            .filter_map(|(_, content)| match content {
                Content::Text { text, .. } | Content::Edit { text, .. } => Some(text),
                Content::File(meta) => Some(meta.name),
                // Nothing typed to give back.
                Content::Delete { .. }
                | Content::React { .. }
                | Content::Profile { .. }
                | Content::Govern(_)
                | Content::Redacted { .. } => None,
            })
            .collect();
        let reason = self
            .write_failure
            .clone()
            .unwrap_or_else(|| "it could not be saved on this device".to_owned());
        let text = match texts.as_slice() {
            [] => format!("Not sent: {reason}."),
            [one] => format!("Not sent — {reason}: “{one}”. Free some space, then send it again."),
            many => format!(
                "{} messages not sent — {reason}: “{}”. Free some space, then send them again.",
                many.len(),
                many.join("”, “")
            ),
        };
        self.state.notify(text);
    }

    /// Runs a store operation in the background and reports its outcome as a notice.
    pub(super) fn with_store<F, Fut>(&self, what: &'static str, task: F)
    where
        F: FnOnce(Rc<BrowserStore>, AppState) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<String, StoreError>> + 'static,
    {
        let state = self.state;
        let Some(store) = self.store.clone() else {
            state.notify(format!("Cannot {what}: storage is unavailable."));
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let text = match task(store, state).await {
                Ok(done) => done,
                Err(error) => format!("Could not {what}: {error}."),
            };
            state.notify(text);
        });
    }

    /// A message core refused (say while our earlier messages are still arriving, which
    /// any member can cause for a few seconds) goes back into the composer, in the mode
    /// it was written in, and is kept as the room's draft: nothing typed is lost, and
    /// sending again is one key. (The composer asked to forget the draft before posting.)
    /// An edit goes back to editing that message, whose current text the box shows.
    pub(super) fn keep_unsent(&mut self, draft: Draft, text: String) {
        let editing = matches!(draft, Draft::Edit(_));
        self.state.post_refused(draft, text.clone());
        if editing {
            return;
        }
        let room = self.home;
        self.with_store_quietly(move |store| async move { store.save_draft(room, &text).await });
    }

    pub(super) fn set_passphrase(&self, passphrase: Option<String>) {
        self.with_store("change the passphrase", move |store, state| async move {
            store.set_passphrase(passphrase.as_deref()).await?;
            state.passphrase_changed(store.has_passphrase());
            Ok(if store.has_passphrase() {
                "Passphrase set: it will be asked for when Confab opens.".to_owned()
            } else {
                "Passphrase removed.".to_owned()
            })
        });
    }

    pub(super) fn export(&self, passphrase: String) {
        self.with_store("export the profile", move |store, _| async move {
            let bytes = store.export(&passphrase).await?;
            page::download("confab-profile.confab", &bytes)?;
            Ok("Profile exported (encrypted with that passphrase).".to_owned())
        });
    }

    pub(super) fn import(&self, bytes: Vec<u8>, passphrase: String) {
        self.with_store("import the profile", move |store, _| async move {
            store.import(&bytes, &passphrase).await?;
            // The old profile's rooms are gone: so are their pushes.
            crate::platform::push::forget_all().await;
            // Start over as the imported profile, in its last room.
            page::open_home();
            Ok("Profile imported; reloading…".to_owned())
        });
    }

    pub(super) fn set_name(&mut self, now: Instant, name: String) {
        self.client.set_display_name(now, clock::wall(), &name);
        let name = self.client.display_name().to_owned();
        self.state.renamed(name.clone());
        self.with_store("save your name", move |store, _| async move {
            let Some(mut profile) = store.load_profile().await? else {
                return Ok(String::new());
            };
            profile.display_name = name;
            store.save_profile(&profile).await?;
            Ok("Name saved.".to_owned())
        });
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "persist_tests.rs"]
mod tests;
