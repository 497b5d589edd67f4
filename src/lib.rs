//! Confab's browser app: a thin Leptos shell over `confab-core`.
//!
//! `platform/` wraps browser APIs, `driver` runs core and owns the links, `state` holds
//! what the UI shows, `components/` renders it. Components never call core directly.
//!
//! Start-up (`boot`): open the encrypted profile in IndexedDB (asking for the passphrase
//! if one is set, or saying that another tab has it), load or create the identity, pick
//! the room (the link's fragment, else the last room, else a new one), restore its history
//! and start the driver.
//!
//! The room secret in an invite link's fragment is read once, when the page loads, and
//! removed from the address bar and its history entry at once; from then on the page
//! names rooms by their *address* (`#room-<16 hex>`, [`Identity::room_address`]), which
//! opens nothing anywhere else. Invites are built from the secret kept in the store.
//! The fragment leaves the address bar as soon as the profile opens or asks for its
//! passphrase (not while another tab has the profile, so closing that tab and reloading
//! still opens the link). An address resolves only against this profile's saved rooms,
//! its contact room and its one-to-one rooms; elsewhere it opens nothing and says so. The
//! default name ("Guest" and four digits) comes from the public key, never the seed. Out of
//! our reach: the browser records the invite link opened before the page runs.
//!
//! The room: the link's fragment, `#new` for a new one, else the last room opened, else a
//! new one. A profile exists from the first visit, so a reload keeps identity and history.
//! Then `Tab` keeps the other rooms connected **in the background** (up to `MAX_ROOMS`
//! per tab), each a full driver with its own socket, links and `AppState` that is not
//! shown: every saved room, our *contact room* (`Identity::contact_room`, derived from our
//! signing key; its invite link is our contact link) and the *one-to-one room* with every
//! contact (`Identity::direct_room_with`: HKDF over an X25519 agreement of both static
//! keys, bound to both signing keys, so both sides derive it and nobody else can). Peer
//! ids are per connection, so rooms never share a socket. People verified in any room
//! become contacts and get a one-to-one room at once. Switching rooms reloads the page.

pub mod commands;
pub mod components;
pub mod driver;
pub mod emoji;
pub mod markdown;
pub mod mentions;
pub mod platform;
pub mod state;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use confab_core::contacts::{Contact, Contacts};
use confab_core::{Client, Config, Identity, PublicIdentity, RoomAddress, RoomId, RoomSecret};
use leptos::prelude::*;

use crate::commands::Commands;
use crate::driver::Settings;
use crate::platform::device::Device;
use crate::platform::store::{BrowserStore, Profile, SavedRoom, StoreError};
use crate::platform::{clock, entropy, page};
use crate::state::{AppState, Me, Phase, RoomView};

/// Starts (or, after a passphrase is entered, resumes) the boot sequence.
#[derive(Clone)]
pub struct Boot(Arc<dyn Fn(Option<String>) + Send + Sync>);

impl Boot {
    /// Tries to open the profile with `passphrase`.
    pub fn unlock(&self, passphrase: String) {
        (self.0)(Some(passphrase));
    }
}

/// Renders the app and boots it.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    let commands = Commands::new();
    // Read once: the address bar loses it as soon as the profile is opened (or asks for
    // its passphrase); this copy, in memory only, is what boot uses.
    let opened: Arc<str> = page::fragment().into();
    let boot = {
        let commands = commands.clone();
        Boot(Arc::new(move |passphrase: Option<String>| {
            let (commands, opened) = (commands.clone(), Arc::clone(&opened));
            leptos::task::spawn_local(
                async move { boot(state, commands, passphrase, &opened).await },
            );
        }))
    };
    provide_context(state);
    provide_context(commands);
    let device = Device::new();
    provide_context(device);
    provide_context(boot.clone());
    provide_context(components::InstallOffer::listen(device));
    provide_context(components::AppBuild::listen(device));
    (boot.0)(None);
    view! { <components::Shell /> }
}

async fn boot(state: AppState, commands: Commands, passphrase: Option<String>, opened: &str) {
    state.phase.set(Phase::Opening);
    let store = BrowserStore::open(passphrase.as_deref()).await;
    // Another tab has the profile: the link stays in the address bar, so that closing that
    // tab and reloading this one still opens it. Anything else: it goes now.
    if !matches!(store, Err(StoreError::OtherTab)) {
        page::forget_fragment();
    }
    let store = match store {
        Ok(store) => Some(Rc::new(store)),
        Err(StoreError::Locked) => return state.phase.set(Phase::Locked(None)),
        Err(StoreError::WrongPassphrase) => {
            return state.phase.set(Phase::Locked(Some(
                "Wrong passphrase. Nothing was changed.".into(),
            )));
        }
        Err(StoreError::OtherTab) => return state.phase.set(Phase::OtherTab),
        Err(error) => {
            state.notice.set(Some(format!(
                "History will not be kept on this device: {error}."
            )));
            None
        }
    };
    let profile = load_or_create_profile(store.as_deref(), &state).await;
    let identity = Identity::from_seed(profile.identity_seed);
    let contacts = load_contacts(store.as_deref()).await;
    let saved_room = choose_room(store.as_deref(), &state, &identity, &contacts, opened).await;
    let room = saved_room.secret.clone();
    let config = Config {
        display_name: profile.display_name.clone(),
        ..Config::default()
    };
    let mut client = Client::new(identity, room, config, entropy::seed());
    if let Err(error) = driver::restore_history(&mut client, store.as_deref()).await {
        state.notice.set(Some(format!(
            "Could not read this room's history: {error}."
        )));
    }
    show_restored(&client, &state);
    state
        .has_passphrase
        .set(store.as_ref().is_some_and(|s| s.has_passphrase()));
    state.phase.set(Phase::Ready);

    let tab = Rc::new(Tab {
        identity_seed: profile.clone(),
        store: store.clone(),
        running: RefCell::new(HashSet::from([saved_room.id()])),
        screen: state,
        contacts: contacts.clone(),
    });
    driver::start(
        client,
        state,
        settings(true),
        Box::new(platform::net::BrowserNetwork {
            turn_only: page::query_param("ice").is_some_and(|v| v == "relay"),
        }),
        driver::Kept {
            store: store.clone(),
            contacts,
            room: Some(saved_room),
            on_contact: Some(tab.on_contact()),
        },
        &commands,
    );
    commands::listen_to_page(&commands);
    page::publish("restoredAt", &clock_ms().into());
    page::publish_after_paint("renderedAt");

    // Our contact room (its invite link is our contact link), the other rooms, and the
    // one-to-one room with each recent contact stay connected in the background (history
    // kept, receipts sent): a contact who opens Confab reaches us without a new link.
    // They start once the room on screen had its turn, so it opens as fast as it can.
    let contact_room = Identity::from_seed(profile.identity_seed).contact_room();
    state.contact_link.set(page::invite_link(&contact_room));
    clock::sleep(BACKGROUND_DELAY).await;
    let saved = match &store {
        Some(store) => store.rooms().await.unwrap_or_default(),
        None => Vec::new(),
    };
    if !saved.iter().any(|r| r.id() == contact_room.room_id()) {
        let room = SavedRoom {
            secret: contact_room,
            title: CONTACT_ROOM_TITLE.to_owned(),
            last_opened_ms: 0,
        };
        if let Some(store) = &store {
            let _ = store.save_room(&room).await;
        }
        tab.start_background(room);
    }
    for room in saved {
        tab.start_background(room);
    }
    let mut recent: Vec<Contact> = tab.contacts.iter().cloned().collect();
    recent.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
    for contact in recent {
        tab.ensure_direct(&contact.identity, &contact.name);
    }
}

/// The title of the room behind our contact link.
pub const CONTACT_ROOM_TITLE: &str = "Your contact room";

/// How long after start-up the background rooms start.
const BACKGROUND_DELAY: std::time::Duration = std::time::Duration::from_millis(1500);

/// Most rooms one tab keeps connected (each has its own socket and links).
const MAX_ROOMS: usize = 12;

/// What every room of this tab shares: who we are, the store, and which rooms run.
struct Tab {
    identity_seed: Profile,
    store: Option<Rc<BrowserStore>>,
    running: RefCell<HashSet<RoomId>>,
    /// The state on screen: its contacts list also shows people met in background rooms.
    screen: AppState,
    /// Contacts as read at start-up, read once and copied to each background room's driver
    /// (which uses them to spot namesakes; the list on screen is kept current by `met`).
    contacts: Contacts,
}

impl Tab {
    /// The callback drivers call with each person they verify.
    fn on_contact(self: &Rc<Self>) -> driver::OnContact {
        let tab = Rc::clone(self);
        Rc::new(move |identity, name| tab.met(identity, name))
    }

    /// A driver (maybe of a background room) verified someone: list them on screen as a
    /// contact and keep our one-to-one room with them running.
    fn met(self: &Rc<Self>, identity: &PublicIdentity, name: &str) {
        let me = Identity::from_seed(self.identity_seed.identity_seed);
        if identity.member_key() == me.member_key() {
            return;
        }
        let chat = me.direct_room_with(identity);
        self.screen.upsert_contact(state::ContactView {
            key: identity.member_key(),
            name: name.to_owned(),
            fingerprint: identity.fingerprint().to_string(),
            last_seen: clock::format_time(clock::wall()),
            chat_link: page::room_link(me.room_address(&chat.room_id())),
        });
        self.ensure_direct(identity, name);
    }

    /// Keeps our one-to-one room with `identity` running (saved, titled with their name).
    fn ensure_direct(self: &Rc<Self>, identity: &PublicIdentity, name: &str) {
        let me = Identity::from_seed(self.identity_seed.identity_seed);
        if identity.member_key() == me.member_key() {
            return;
        }
        let secret = me.direct_room_with(identity);
        if self.running.borrow().contains(&secret.room_id()) {
            return;
        }
        let room = SavedRoom {
            secret,
            title: format!("Direct: {name}"),
            last_opened_ms: 0,
        };
        let tab = Rc::clone(self);
        leptos::task::spawn_local(async move {
            if let Some(store) = &tab.store {
                let known = store.rooms().await.unwrap_or_default();
                let room = known
                    .into_iter()
                    .find(|r| r.id() == room.id())
                    .unwrap_or(room);
                let _ = store.save_room(&room).await;
                tab.start_background(room);
            } else {
                tab.start_background(room);
            }
        });
    }

    /// Runs a driver for `room` whose state is not on screen.
    fn start_background(self: &Rc<Self>, room: SavedRoom) {
        {
            let mut running = self.running.borrow_mut();
            if running.len() >= MAX_ROOMS || running.contains(&room.id()) {
                return;
            }
            running.insert(room.id());
        }
        let tab = Rc::clone(self);
        leptos::task::spawn_local(async move {
            let config = Config {
                display_name: tab.identity_seed.display_name.clone(),
                ..Config::default()
            };
            let mut client = Client::new(
                Identity::from_seed(tab.identity_seed.identity_seed),
                room.secret.clone(),
                config,
                entropy::seed(),
            );
            // Unreadable, it starts empty and catches up.
            let _ = driver::restore_history(&mut client, tab.store.as_deref()).await;
            // Its restored history is shown (though not on screen). Unread are the messages
            // from others the user had not seen when this room was last on screen (its read
            // marks), and every one that arrives from now on.
            let state = AppState::new();
            show_restored(&client, &state);
            if let Some(store) = &tab.store {
                match store.read_marks(room.id()).await {
                    Ok(Some(seen)) => state.count_unseen(&seen),
                    // Never on screen here yet (a new one-to-one room, or a profile from
                    // before read marks were kept), or its marks do not read: what it holds
                    // now counts as seen.
                    Ok(None) | Err(_) => {
                        let seen = driver::read_marks_of(&client);
                        let _ = store.save_read_marks(room.id(), &seen).await;
                    }
                }
            }
            tab.screen
                .background_unread
                .update(|rooms| _ = rooms.insert(room.id(), state.unread));
            let identity = Identity::from_seed(tab.identity_seed.identity_seed);
            tab.screen.show_room(room_view(&identity, &room, false));
            let commands = Commands::new();
            driver::start(
                client,
                state,
                settings(false),
                Box::new(platform::net::BrowserNetwork {
                    turn_only: page::query_param("ice").is_some_and(|v| v == "relay"),
                }),
                driver::Kept {
                    store: tab.store.clone(),
                    contacts: tab.contacts.clone(),
                    room: Some(room),
                    on_contact: Some(tab.on_contact()),
                },
                &commands,
            );
            commands::follow_page(&commands);
        });
    }
}

/// Shows who we are, the restored messages and the names in `client`'s history.
fn show_restored(client: &Client, state: &AppState) {
    let me = client.identity().member_key();
    state.me.set(Some(Me {
        name: client.display_name().to_owned(),
        fingerprint: client.identity().fingerprint().to_string(),
        key: me,
    }));
    state.set_messages(
        client
            .messages()
            .into_iter()
            .map(|message| driver::message_view(&me, message))
            .collect(),
    );
    // Names of everyone in this history, from their profile events.
    state.names.update(|names| {
        for (member, name) in client.timeline().names() {
            names.insert(*member, name.to_owned());
        }
    });
}

/// How the rooms list shows a saved room (its link names it by `me`'s address for it).
fn room_view(me: &Identity, room: &SavedRoom, current: bool) -> RoomView {
    RoomView {
        id: room.id(),
        title: room.title.clone(),
        link: page::room_link(me.room_address(&room.id())),
        last_opened: match room.last_opened_ms {
            0 => String::new(),
            ms => clock::format_time(confab_core::UnixMillis(ms)),
        },
        current,
    }
}

fn settings(on_screen: bool) -> Settings {
    Settings {
        force_relay: page::query_param("relay").is_some_and(|v| v == "force"),
        dangerously_withhold_ice_candidates: page::query_param("ice")
            .is_some_and(|v| v == "withhold"),
        on_screen,
    }
}

/// The people met before (unreadable entries are skipped).
pub(crate) async fn load_contacts(store: Option<&BrowserStore>) -> Contacts {
    let mut contacts = Contacts::new();
    if let Some(store) = store
        && let Ok(saved) = store.contacts().await
    {
        for (_, bytes) in saved {
            if let Ok(contact) = Contact::decode(&bytes) {
                contacts.insert(contact);
            }
        }
    }
    contacts
}

/// The saved identity, or a new one (saved at once so a reload keeps it).
async fn load_or_create_profile(store: Option<&BrowserStore>, state: &AppState) -> Profile {
    if let Some(store) = store {
        match store.load_profile().await {
            Ok(Some(profile)) => return profile,
            Ok(None) => {}
            Err(error) => state.notice.set(Some(format!(
                "Your saved profile could not be read: {error}."
            ))),
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
        state
            .notice
            .set(Some(format!("Your profile could not be saved: {error}.")));
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

/// The room the page opened with: an invite's secret in `fragment`, a room's address
/// (`#room-…`, one of ours: saved, our contact room or a one-to-one room with a contact),
/// `new` for a new one; with none, the last one opened, else a new one. It is saved
/// (keeping its title, with the time); the address bar shows its address, the invite link
/// its secret, and the rooms list lists it.
async fn choose_room(
    store: Option<&BrowserStore>,
    state: &AppState,
    me: &Identity,
    contacts: &Contacts,
    fragment: &str,
) -> SavedRoom {
    let saved = match store {
        Some(store) => store.rooms().await.unwrap_or_default(),
        None => Vec::new(),
    };
    let last_or_new = || {
        saved
            .first()
            .map(|room| room.secret.clone())
            .unwrap_or_else(|| RoomSecret::from_bytes(entropy::seed()))
    };
    let room = match RoomSecret::from_fragment(fragment) {
        Ok(room) => room,
        Err(_) if fragment.is_empty() => last_or_new(),
        Err(_) if fragment == "new" => RoomSecret::from_bytes(entropy::seed()),
        Err(error) => match page::room_address_in(fragment) {
            Some(address) => match room_at(&saved, me, contacts, address) {
                Some(room) => room,
                None => {
                    state.notice.set(Some(
                        "That address names a room this browser does not know: \
                             to join a room, open its invite link."
                            .into(),
                    ));
                    last_or_new()
                }
            },
            None => {
                state
                    .notice
                    .set(Some(format!("{error} A new room was started instead.")));
                RoomSecret::from_bytes(entropy::seed())
            }
        },
    };
    let id = room.room_id();
    page::show_room_address(me.room_address(&id));
    state.invite_link.set(page::invite_link(&room));
    let title = saved
        .iter()
        .find(|r| r.id() == id)
        .map(|r| r.title.clone())
        .unwrap_or_default();
    let current = SavedRoom {
        secret: room,
        title,
        last_opened_ms: clock::wall().0,
    };
    if let Some(store) = store
        && let Err(error) = store.save_room(&current).await
    {
        state
            .notice
            .set(Some(format!("This room could not be saved: {error}.")));
    }
    let others = saved.iter().filter(|r| r.id() != id);
    let views = std::iter::once(&current)
        .chain(others)
        .map(|room| room_view(me, room, room.id() == id))
        .collect();
    state.rooms.set(views);
    current
}

/// The room of ours at `address`: a saved one, our contact room or the one-to-one room
/// with a contact (`None`: a room this profile does not know). The page opening a
/// `#room-…` link and the service worker opening a push resolve addresses alike.
pub fn room_at(
    saved: &[SavedRoom],
    me: &Identity,
    contacts: &Contacts,
    address: RoomAddress,
) -> Option<RoomSecret> {
    saved
        .iter()
        .map(|room| room.secret.clone())
        .chain([me.contact_room()])
        .chain(contacts.iter().map(|c| me.direct_room_with(&c.identity)))
        .find(|room| me.room_address(&room.room_id()) == address)
}

fn clock_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Mounts the app on `<body>`.
pub fn mount() {
    console_error_panic_hook::set_once();
    // Keeps the app shell for opening offline (only in a real build; see the function).
    platform::pwa::register_service_worker();
    // Keeps the composer above an on-screen keyboard that covers the page (iOS Safari).
    platform::viewport::follow_keyboard();
    leptos::mount::mount_to_body(App);
}

/// Runs the file worker's side ([`platform::file_worker`]); `main` calls it in a worker.
pub fn run_file_worker() {
    console_error_panic_hook::set_once();
    platform::file_worker::run();
}

/// The command handle from context.
pub(crate) fn use_commands() -> Commands {
    expect_context::<Commands>()
}

/// The browser handle from context (what views may ask of the browser directly).
pub(crate) fn use_device() -> Device {
    expect_context::<Device>()
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
