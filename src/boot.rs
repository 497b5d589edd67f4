//! Start-up: open the encrypted profile in IndexedDB (asking for the passphrase if one is
//! set, or saying that another tab has it), load or create the identity, pick the room
//! (the link's fragment, else the last room, else a new one), restore its history and
//! start its driver; then, a moment later, the background rooms ([`crate::tab`]).
//!
//! The room secret in an invite link's fragment is read once, when the page loads, and
//! removed from the address bar and its history entry at once; from then on the page
//! names rooms by their *address* (`#room-<16 hex>`, [`Identity::room_address`]), which
//! opens nothing anywhere else. Invites are built from the secret kept in the store.
//! The fragment leaves the address bar as soon as the profile opens or asks for its
//! passphrase (not while another tab has the profile, so closing that tab and reloading
//! still opens the link). An address resolves only against this profile's saved rooms,
//! its contact room and its one-to-one rooms ([`room_at`]); elsewhere it opens nothing and
//! says so. The default name ("Guest" and four digits) comes from the public key, never
//! the seed. Out of our reach: the browser records the invite link opened before the page
//! runs.

use std::rc::Rc;

use confab_core::contacts::{Contact, Contacts, kind_of, room_at};
use confab_core::governance::{Joining, Settings};
use confab_core::room::Invite;
use confab_core::{Client, Config, Identity, PublicIdentity, RoomId, RoomSecret};

use crate::commands::{self, Commands};
use crate::components::NEW_WITH_APPROVAL;
use crate::driver;
use crate::driver::{client_for, note_epoch};
use crate::platform::clock::log;
use crate::platform::store::{BrowserStore, Profile, RoomKind, SavedRoom, StoreError};
use crate::platform::{clock, entropy, page};
use crate::state::AppState;
use crate::tab::{Tab, network, room_view, settings, show_restored};

/// Opens the profile with `passphrase` (`None`: try without), the room `opened` names
/// (the page's fragment when it loaded) or the last one, and runs it on `state`; then
/// starts the background rooms.
pub(crate) async fn boot(
    state: AppState,
    commands: Commands,
    passphrase: Option<String>,
    opened: &str,
) {
    let store = BrowserStore::open(passphrase.as_deref()).await;
    // Another tab has the profile: the link stays in the address bar, so that closing that
    // tab and reloading this one still opens it. Anything else: it goes now.
    if !matches!(store, Err(StoreError::OtherTab)) {
        page::forget_fragment();
    }
    let store = match store {
        Ok(store) => Some(Rc::new(store)),
        Err(StoreError::Locked) => return state.locked(None),
        Err(StoreError::WrongPassphrase) => {
            return state.locked(Some("Wrong passphrase. Nothing was changed.".into()));
        }
        Err(StoreError::OtherTab) => return state.open_in_another_tab(),
        Err(error) => {
            state.notify(format!("History will not be kept on this device: {error}."));
            None
        }
    };
    let profile = load_or_create_profile(store.as_deref(), &state).await;
    let identity = Identity::from_seed(profile.identity_seed);
    let contacts = match &store {
        Some(store) => store.load_contacts().await,
        None => Contacts::new(),
    };
    let book = driver::ContactBook::new(contacts.clone(), store.clone(), Some(state));
    let config = Config {
        display_name: profile.display_name.clone(),
        ..Config::default()
    };
    let saved = match &store {
        Some(store) => store.rooms().await.unwrap_or_default(),
        None => Vec::new(),
    };
    let (saved_room, client) = match choose_room(&saved, &state, &identity, &contacts, opened) {
        Chosen::New(room, settings) => {
            let founded = Client::found_with(
                Identity::from_seed(profile.identity_seed),
                config.clone(),
                entropy::seed(),
                clock::now(),
                clock::wall(),
                settings,
            );
            match founded {
                Ok(client) => {
                    let mut room = room;
                    note_epoch(&mut room, &client);
                    (room, client)
                }
                // Only a profile whose chain forked cannot post the Create: its new room
                // has no owner, as rooms before governance.
                Err(error) => {
                    log(&format!("the new room has no owner: {error}"));
                    let client = client_for(identity, &room, config);
                    (room, client)
                }
            }
        }
        Chosen::Saved(room) => {
            let mut client = client_for(identity, &room, config);
            if let Err(error) = driver::restore_history(&mut client, store.as_deref()).await {
                state.notify(format!("Could not read this room's history: {error}."));
            }
            (room, client)
        }
    };
    let me = Identity::from_seed(profile.identity_seed);
    let saved_room = open_room(store.as_deref(), &state, &me, &contacts, &saved, saved_room).await;
    show_restored(&client, &state);
    state.ready(store.as_ref().is_some_and(|s| s.has_passphrase()));

    let tab = Tab::new(
        profile.clone(),
        store.clone(),
        saved_room.home(),
        state,
        Rc::clone(&book),
    );
    driver::start(
        client,
        state,
        settings(true),
        network(),
        driver::Kept {
            store: store.clone(),
            contacts: Rc::clone(&book),
            room: Some(saved_room),
            on_contact: Some(tab.on_contact()),
        },
        &commands,
    );
    commands::listen_to_page(&commands);
    page::publish("restoredAt", &page::now_ms().into());
    page::publish_after_paint("renderedAt");

    // Our contact room (its invite link is our contact link), the other rooms, and the
    // one-to-one room with each recent contact stay connected in the background (history
    // kept, receipts sent): a contact who opens Confab reaches us without a new link.
    // They start once the room on screen had its turn, so it opens as fast as it can.
    let contact_room = Identity::from_seed(profile.identity_seed).contact_room();
    state.show_contact_link(page::invite_link(&Invite {
        link: contact_room.clone(),
        genesis: None,
    }));
    clock::sleep(BACKGROUND_DELAY).await;
    let saved = match &store {
        Some(store) => store.rooms().await.unwrap_or_default(),
        None => Vec::new(),
    };
    if !saved.iter().any(|r| r.home() == contact_room.room_id()) {
        let room = SavedRoom {
            secret: contact_room,
            kind: RoomKind::Contact,
            title: String::new(),
            last_opened_ms: 0,
            genesis: None,
            epoch: None,
            first_epoch: None,
            untitled: Vec::new(),
        };
        if let Some(store) = &store {
            let _ = store.save_room(&room).await;
        }
        tab.start_background(room);
    }
    for room in saved {
        tab.start_background(room);
    }
    let mut recent: Vec<Contact> = book.contacts().iter().cloned().collect();
    recent.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
    for contact in recent {
        tab.ensure_direct(&contact.identity, &contact.name);
    }
}

/// How long after start-up the background rooms start.
const BACKGROUND_DELAY: std::time::Duration = std::time::Duration::from_millis(1500);

/// The saved identity, or a new one (saved at once so a reload keeps it).
async fn load_or_create_profile(store: Option<&BrowserStore>, state: &AppState) -> Profile {
    if let Some(store) = store {
        match store.load_profile().await {
            Ok(Some(profile)) => return profile,
            Ok(None) => {}
            Err(error) => state.notify(format!("Your saved profile could not be read: {error}.")),
        }
    }
    let identity_seed = entropy::seed();
    let display_name = default_name(&Identity::from_seed(identity_seed).public());
    let profile = Profile {
        identity_seed,
        display_name,
    };
    if let Some(store) = store
        && let Err(error) = store.save_profile(&profile).await
    {
        state.notify(format!("Your profile could not be saved: {error}."));
    }
    profile
}

/// The name a new profile starts with: "Guest" and four digits of its public key, so
/// others can tell guests apart and the name tells nothing about the secret seed.
fn default_name(me: &PublicIdentity) -> String {
    let key = me.member_key();
    let [a, b, ..] = *key.as_bytes();
    format!("Guest {:04}", u16::from_le_bytes([a, b]) % 10_000)
}

/// The room the page opens: saved, or new.
enum Chosen {
    /// A saved room, or one joined by its invite link (not saved yet).
    Saved(SavedRoom),
    /// A new room, to found with these settings (its record until then: an ungoverned
    /// group).
    New(SavedRoom, Settings),
}

/// The room the page opened with: an invite in `fragment` (a governed room's link opens the
/// saved room with that genesis, at the epoch we hold if we have it: `SavedRoom::opened_by`), a room's address
/// (`#room-…`, one of ours: saved, our contact room or a one-to-one room with a contact),
/// `new` for a new one (`new-approval`: one where an admin approves each newcomer); with none, the last one opened, else a new one. A room not saved
/// yet gets its kind: our contact room, our one-to-one room with a contact, else a group.
fn choose_room(
    saved: &[SavedRoom],
    state: &AppState,
    me: &Identity,
    contacts: &Contacts,
    fragment: &str,
) -> Chosen {
    let new_with = |settings: Settings| {
        Chosen::New(
            SavedRoom {
                secret: RoomSecret::from_bytes(entropy::seed()),
                kind: RoomKind::Group,
                title: String::new(),
                last_opened_ms: 0,
                genesis: None,
                epoch: None,
                first_epoch: None,
                untitled: Vec::new(),
            },
            settings,
        )
    };
    let new = || new_with(Settings::default());
    let last_or_new = || saved.first().cloned().map_or_else(new, Chosen::Saved);
    // A saved room at `home`, else a room not saved yet.
    let open = |home: RoomId, invite: Invite| match saved.iter().find(|r| r.home() == home) {
        Some(room) => Chosen::Saved(room.clone().opened_by(invite)),
        None => Chosen::Saved(SavedRoom {
            kind: kind_of(&invite.link, me, contacts),
            secret: invite.link,
            title: String::new(),
            last_opened_ms: 0,
            genesis: invite.genesis,
            epoch: None,
            first_epoch: None,
            untitled: Vec::new(),
        }),
    };
    match Invite::from_fragment(fragment) {
        Ok(invite) => open(invite.genesis.unwrap_or(invite.link.room_id()), invite),
        Err(_) if fragment.is_empty() => last_or_new(),
        Err(_) if fragment == "new" => new(),
        // "New room" with "An admin approves each newcomer" chosen beside it.
        Err(_) if fragment == NEW_WITH_APPROVAL => new_with(Settings {
            joining: Joining::Approval,
            ..Settings::default()
        }),
        Err(error) => match page::room_address_in(fragment) {
            Some(address) => match room_at(saved, me, contacts, address) {
                Some(link) => match saved.iter().find(|r| r.room_id() == link.room_id()) {
                    Some(room) => Chosen::Saved(room.clone()),
                    None => open(
                        link.room_id(),
                        Invite {
                            link,
                            genesis: None,
                        },
                    ),
                },
                None => {
                    state.notify(
                        "That address names a room this browser does not know: \
                             to join a room, open its invite link.",
                    );
                    last_or_new()
                }
            },
            None => {
                state.notify(format!("{error} A new room was started instead."));
                new()
            }
        },
    }
}

/// Opens `room` on screen: saved (keeping its kind and title, with the time, so it is
/// saved before it connects), the address bar showing its address, the invite link its
/// link, and the rooms list listing it first among `saved`.
async fn open_room(
    store: Option<&BrowserStore>,
    state: &AppState,
    me: &Identity,
    contacts: &Contacts,
    saved: &[SavedRoom],
    room: SavedRoom,
) -> SavedRoom {
    let home = room.home();
    page::show_room_address(me.room_address(&home));
    state.show_invite_link(page::invite_link(&Invite {
        link: room.secret.clone(),
        genesis: room.genesis,
    }));
    let current = SavedRoom {
        last_opened_ms: clock::wall().0,
        ..room
    };
    if let Some(store) = store
        && let Err(error) = store.save_room(&current).await
    {
        // Lasting: a later notice must not hide that the room is not kept here.
        state.notify_about(
            crate::state::Topic::RoomRecord,
            format!("This room could not be saved: {error}."),
        );
    }
    let others = saved.iter().filter(|r| r.home() != home);
    let views = std::iter::once(&current)
        .chain(others)
        .map(|room| room_view(me, contacts, room, room.home() == home))
        .collect();
    state.show_rooms(views);
    current
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use confab_core::Identity;
    use wasm_bindgen_test::*;

    use super::default_name;

    wasm_bindgen_test_configure!(run_in_browser);

    /// The old name showed bytes 30 and 31 of the secret seed; the name now comes from the
    /// public key alone, which everyone sees anyway.
    #[wasm_bindgen_test]
    fn the_default_name_comes_from_the_public_key_not_the_seed() {
        let (mut first, mut second) = ([1u8; 32], [2u8; 32]);
        first[30..].copy_from_slice(&[0x34, 0x12]);
        second[30..].copy_from_slice(&[0x34, 0x12]);
        let names = [first, second].map(|seed| {
            let public = Identity::from_seed(seed).public();
            let key = public.member_key();
            let [a, b, ..] = *key.as_bytes();
            let expected = format!("Guest {:04}", u16::from_le_bytes([a, b]) % 10_000);
            let name = default_name(&public);
            assert_eq!(name, expected);
            name
        });
        // Same seed bytes 30 and 31 (the old name, "Guest 4660", for both), other keys.
        assert_ne!(names[0], names[1]);
        assert!(!names.contains(&"Guest 4660".to_owned()), "{names:?}");
    }
}
