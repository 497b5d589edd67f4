//! The people met: contacts, their names, and the room's title from who we met here.

use confab_core::Client;
use confab_core::PublicIdentity;
use confab_core::contacts::Contact;
use confab_core::vault::records::RoomKind;

use super::Driver;
use crate::platform::clock;
use crate::platform::page;
use crate::state::ContactView;

/// A contact as the UI shows it; its link opens our one-to-one room by its address.
pub(super) fn contact_view(client: &Client, contact: &Contact) -> ContactView {
    let chat = client.direct_room_with(&contact.identity).room_id();
    ContactView {
        chat_link: page::room_link(client.room_address(&chat)),
        key: contact.identity.member_key(),
        name: contact.name.clone(),
        fingerprint: contact.identity.fingerprint().to_string(),
        last_seen: clock::format_time(contact.last_seen),
    }
}

impl Driver {
    /// We verified `identity` calling itself `name`: warn if a known contact goes by that
    /// name with another key, then remember them.
    pub(super) fn meet(&mut self, identity: &PublicIdentity, name: &str) {
        let key = identity.member_key();
        if let Some(namesake) = self.contacts.namesake(&key, name) {
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
        let key = identity.member_key();
        let (_, contact) = self.contacts.observe(identity, name, clock::wall());
        self.state
            .upsert_contact(contact_view(&self.client, contact));
        let bytes = contact.encode();
        self.with_store_quietly(move |store| async move {
            store.save_contact(key.as_bytes().to_owned(), &bytes).await
        });
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

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
