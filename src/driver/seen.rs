//! What the user has seen: presence, read receipts, read marks and unread notices.

use confab_core::Instant;
use confab_core::Presence;
use confab_core::contacts::room_title;
use leptos::prelude::*;

use super::Driver;
use super::read_marks_of;
use crate::platform::page;
use crate::platform::pwa;
use crate::state::MessageView;

impl Driver {
    /// Online while the page is visible and used; away when hidden or idle.
    pub(super) fn update_presence(&mut self, now: Instant) {
        let presence = if page::is_visible() && now < self.idle_at {
            Presence::Online
        } else {
            Presence::Away
        };
        self.client.set_presence(now, presence);
    }

    /// While the page is visible, everything shown counts as read. True if that told
    /// core something new (its output must be drained).
    pub(super) fn mark_read(&mut self, now: Instant) -> bool {
        // A background room is not seen, however visible the page.
        if !self.settings.on_screen || !page::is_visible() {
            return false;
        }
        let last = self
            .state
            .messages()
            .with_untracked(|m| m.last().map(|m| m.key));
        match last {
            Some(last) if self.read_up_to.is_none_or(|read| read < last) => {
                self.read_up_to = Some(last);
                self.client.mark_read(now, last);
                true
            }
            _ => false,
        }
    }

    /// While this room is seen (on screen, the page visible), everything it holds is seen:
    /// that becomes its read marks, from which its unread count starts when it next runs in
    /// the background (after the user opens another room).
    pub(super) fn note_seen(&mut self) {
        if !self.settings.on_screen || !page::is_visible() || self.store.is_none() {
            return;
        }
        let seen = read_marks_of(&self.client);
        if self.seen.as_ref() != Some(&seen) {
            self.seen = Some(seen.clone());
            self.unsaved_seen = Some(seen);
        }
    }

    /// A new message from someone else while this room is not seen (the room on screen
    /// while the page is hidden; a background room always): count it as unread (title, app
    /// badge, rooms list) and notify, if the user turned notifications on and did not mute
    /// the room, or if it mentions us. Clicking the notification of a background room
    /// opens that room.
    pub(super) fn note_unread(&self, view: &MessageView) {
        let on_screen = self.settings.on_screen;
        if view.mine || view.deleted || (on_screen && page::is_visible()) {
            return;
        }
        if !self.state.note_unread(view.id) {
            return;
        }
        if self.state.muted().get_untracked() && !view.mentions_me {
            return;
        }
        let text = match &view.file {
            Some(file) => format!("File: {}", file.name),
            None => view.text.clone(),
        };
        let author = self.state.name_of(&view.author);
        let body = pwa::preview(&text);
        match self.saved_room.as_ref().filter(|_| !on_screen) {
            Some(room) => {
                let room_title = room_title(room, &self.contacts.contacts());
                let title = pwa::message_title(&author, &room_title);
                // The room's address, never its secret: notifications and their links
                // outlive the page (the system's notification centre, the worker).
                let address = self.client.room_address(&room.home());
                let link = page::room_link(address);
                pwa::notify(&title, &body, Some((&address.to_string(), &link)));
            }
            None => pwa::notify(&author, &body, None),
        }
    }
}
