//! The people met: contacts (held once for the tab: [`ContactBook`]), their names, whom
//! the user blocked, and the room's title from who we met here.

use confab_core::Client;
use confab_core::PublicIdentity;
use confab_core::contacts::Contact;
use confab_core::vault::records::RoomKind;

use super::Driver;
use crate::platform::clock::{self, log};
use crate::platform::page;
use crate::state::ContactView;
use confab_core::MemberKey;
use confab_core::vault::records::SavedRoom;

/// A contact as the UI shows it; its link opens our one-to-one room by its address.
pub(super) fn contact_view(client: &Client, contact: &Contact) -> ContactView {
    let chat = client.direct_room_with(&contact.identity).room_id();
    ContactView {
        chat_link: page::room_link(client.room_address(&chat)),
        key: contact.identity.member_key(),
        name: contact.name.clone(),
        fingerprint: contact.identity.fingerprint().to_string(),
        last_seen: clock::format_time(contact.last_seen),
        blocked: contact.blocked,
    }
}

mod book;
pub use book::ContactBook;

impl Driver {
    /// We verified `identity` calling itself `name`: warn if a known contact goes by that
    /// name with another key, then remember them.
    pub(super) fn meet(&mut self, identity: &PublicIdentity, name: &str) {
        let key = identity.member_key();
        let namesake = self.contacts.contacts().namesake(&key, name).cloned();
        if let Some(namesake) = namesake {
            self.state.member_warning(
                key,
                format!(
                    "Not the {} you know: this safety number is different ({} before). \
                     It may be someone else, or them on a new device: ask them before trusting it.",
                    namesake.name,
                    namesake.identity.fingerprint()
                ),
            );
        }
        self.title_room(name);
        self.remember(identity, name);
        if let Some(on_contact) = &self.on_contact {
            on_contact(identity, name);
        }
    }

    /// Records (or refreshes "last seen" of) a contact, on screen and on this device.
    pub(super) fn remember(&mut self, identity: &PublicIdentity, name: &str) {
        let contact = self.contacts.observe(identity, name);
        self.state
            .upsert_contact(contact_view(&self.client, &contact));
    }

    /// The user blocks (`blocked`) or unblocks `member`: the tab's book keeps it and tells
    /// every room's driver, this one too ([`Driver::blocked_changed`]). Nothing is sent.
    /// Someone never verified (offline since we came) is no contact yet: a governed room's
    /// member is known by the keys its `Join` carries, which make their record.
    pub(super) fn set_blocked(&mut self, member: MemberKey, blocked: bool) {
        if self.contacts.set_blocked(&member, blocked) || !blocked {
            return;
        }
        let known = self.contacts.contacts().get(&member).is_some();
        let unmet = self
            .client
            .governance()
            .members()
            .find(|(key, _)| **key == member && !known)
            .and_then(|(key, dh)| PublicIdentity::from_keys(key.as_bytes(), dh));
        let Some(identity) = unmet else {
            return log("only a contact or a member of this room can be blocked");
        };
        let name = leptos::prelude::untrack(|| self.state.name_of(&member));
        self.remember(&identity, &name);
        self.contacts.set_blocked(&member, true);
    }

    /// Whom the user blocked changed (here or in another room): nothing of theirs shows,
    /// the contacts list says who is blocked, and a one-to-one room with someone blocked
    /// does not connect (one with someone unblocked connects again).
    pub(super) fn blocked_changed(&mut self, now: confab_core::Instant) {
        self.client.set_blocked(self.contacts.blocked());
        let views: Vec<_> = self
            .contacts
            .contacts()
            .iter()
            .map(|contact| contact_view(&self.client, contact))
            .collect();
        for view in views {
            self.state.upsert_contact(view);
        }
        match (
            self.refuses_room(),
            self.socket.is_some() || self.reconnect_at.is_some(),
        ) {
            (true, true) => self.leave(now),
            (false, false) => self.connect_socket(),
            _ => {}
        }
    }

    /// This is a one-to-one room with someone the user blocked: it does not connect.
    pub(super) fn refuses_room(&self) -> bool {
        blocked_direct(self.saved_room.as_ref(), &self.contacts)
    }

    /// Names a saved group after the first few people met in it (other kinds of room are
    /// named by their kind).
    pub(super) fn title_room(&mut self, name: &str) {
        let Some(room) = self.saved_room.as_mut() else {
            return;
        };
        if room.kind != RoomKind::Group {
            return;
        }
        let mut names: Vec<&str> = room
            .title
            .split(", ")
            .filter(|n| !n.is_empty() && *n != name)
            .collect();
        if names.len() >= 3 {
            return;
        }
        names.push(name);
        room.title = names.join(", ");
        let saved = room.clone();
        let id = saved.home();
        let title = saved.title.clone();
        self.state.room_titled(id, title);
        self.with_store_quietly(move |store| async move { store.save_room(&saved).await });
    }
}

/// Whether `room` is a one-to-one room with someone `book` says is blocked.
fn blocked_direct(room: Option<&SavedRoom>, book: &ContactBook) -> bool {
    match room.map(|room| &room.kind) {
        Some(RoomKind::Direct { with: Some(with) }) => book.is_blocked(with),
        _ => false,
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
