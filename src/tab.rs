//! The rooms of this tab: the one on screen and, **in the background**, up to
//! [`MAX_ROOMS`] more, each a full driver with its own socket, links and `AppState` that is
//! not shown: every saved room, our *contact room* (`Identity::contact_room`, derived from
//! our signing key; its invite link is our contact link) and the *one-to-one room* with
//! every contact (`Identity::direct_room_with`: HKDF over an X25519 agreement of both
//! static keys, bound to both signing keys, so both sides derive it and nobody else can).
//! Peer ids are per connection, so rooms never share a socket. People verified in any room
//! become contacts and get a one-to-one room at once. The tab owns the contacts, once
//! ([`ContactBook`]): every room's driver records people in it and is told of blocks.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use confab_core::contacts::{Contacts, room_title};
use confab_core::{Client, Config, Identity, PublicIdentity, RoomId};

use crate::commands::{self, Commands};
use crate::driver::{self, ContactBook, Settings};
use crate::platform::store::{BrowserStore, Profile, RoomKind, SavedRoom};
use crate::platform::{self, clock, page};
use crate::state::{self, AppState, Me, RoomView};

/// Most rooms one tab keeps connected (each has its own socket and links).
const MAX_ROOMS: usize = 12;

/// What every room of this tab shares: who we are, the store, and which rooms run.
pub(crate) struct Tab {
    identity_seed: Profile,
    store: Option<Rc<BrowserStore>>,
    /// The rooms running, by home ([`SavedRoom::home`]).
    running: RefCell<HashSet<RoomId>>,
    /// The state on screen: its contacts list also shows people met in background rooms.
    screen: AppState,
    /// Contacts as read at start-up and met since, shared by every room's driver (which
    /// records whom it meets, spots namesakes and hides whom the user blocked) and naming
    /// one-to-one rooms.
    contacts: Rc<ContactBook>,
}

impl Tab {
    /// The tab of profile `identity_seed`, with `on_screen` running on `screen`.
    pub(crate) fn new(
        identity_seed: Profile,
        store: Option<Rc<BrowserStore>>,
        on_screen: RoomId,
        screen: AppState,
        contacts: Rc<ContactBook>,
    ) -> Rc<Tab> {
        Rc::new(Tab {
            identity_seed,
            store,
            running: RefCell::new(HashSet::from([on_screen])),
            screen,
            contacts,
        })
    }

    /// The callback drivers call with each person they verify.
    pub(crate) fn on_contact(self: &Rc<Self>) -> driver::OnContact {
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
        // The driver that met them recorded them in the book.
        let blocked = self.contacts.is_blocked(&identity.member_key());
        self.screen.upsert_contact(state::ContactView {
            key: identity.member_key(),
            name: name.to_owned(),
            fingerprint: identity.fingerprint().to_string(),
            last_seen: clock::format_time(clock::wall()),
            chat_link: page::room_link(me.room_address(&chat.room_id())),
            blocked,
        });
        self.ensure_direct(identity, name);
    }

    /// Keeps our one-to-one room with `identity` running (saved as theirs, with the name
    /// they use now: a record from before rooms had kinds learns who it is with).
    pub(crate) fn ensure_direct(self: &Rc<Self>, identity: &PublicIdentity, name: &str) {
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
            kind: RoomKind::Direct {
                with: Some(identity.member_key()),
            },
            title: name.to_owned(),
            last_opened_ms: 0,
            genesis: None,
            epoch: None,
            first_epoch: None,
            untitled: Vec::new(),
        };
        let tab = Rc::clone(self);
        leptos::task::spawn_local(async move {
            if let Some(store) = &tab.store {
                let known = store.rooms().await.unwrap_or_default();
                let room = match known.into_iter().find(|r| r.home() == room.home()) {
                    Some(saved) => SavedRoom {
                        last_opened_ms: saved.last_opened_ms,
                        ..room
                    },
                    None => room,
                };
                let _ = store.save_room(&room).await;
                tab.start_background(room);
            } else {
                tab.start_background(room);
            }
        });
    }

    /// Runs a driver for `room` whose state is not on screen.
    pub(crate) fn start_background(self: &Rc<Self>, room: SavedRoom) {
        {
            let mut running = self.running.borrow_mut();
            if running.len() >= MAX_ROOMS || running.contains(&room.home()) {
                return;
            }
            running.insert(room.home());
        }
        let tab = Rc::clone(self);
        leptos::task::spawn_local(async move {
            let config = Config {
                display_name: tab.identity_seed.display_name.clone(),
                ..Config::default()
            };
            let identity = Identity::from_seed(tab.identity_seed.identity_seed);
            let mut client = driver::client_for(identity, &room, config);
            // Unreadable, it starts empty and catches up.
            let _ = driver::restore_history(&mut client, tab.store.as_deref()).await;
            // Its restored history is shown (though not on screen). Unread are the messages
            // from others the user had not seen when this room was last on screen (its read
            // marks), and every one that arrives from now on.
            let state = AppState::new();
            show_restored(&client, &state);
            if let Some(store) = &tab.store {
                match store.read_marks(room.home()).await {
                    Ok(Some(seen)) => state.count_unseen(&seen),
                    // Never on screen here yet (a new one-to-one room, or a profile from
                    // before read marks were kept), or its marks do not read: what it holds
                    // now counts as seen.
                    Ok(None) | Err(_) => {
                        let seen = driver::read_marks_of(&client);
                        let _ = store.save_read_marks(room.home(), &seen).await;
                    }
                }
            }
            tab.screen.background_room_started(room.home(), state);
            let identity = Identity::from_seed(tab.identity_seed.identity_seed);
            let view = room_view(&identity, &tab.contacts.contacts(), &room, false);
            tab.screen.show_room(view);
            let commands = Commands::new();
            driver::start(
                client,
                state,
                settings(false),
                network(),
                driver::Kept {
                    store: tab.store.clone(),
                    contacts: Rc::clone(&tab.contacts),
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
pub(crate) fn show_restored(client: &Client, state: &AppState) {
    let me = client.identity().member_key();
    state.show_me(Me {
        name: client.display_name().to_owned(),
        fingerprint: client.identity().fingerprint().to_string(),
        key: me,
    });
    state.set_messages(
        client
            .messages()
            .into_iter()
            .map(|message| driver::message_view(&me, message))
            .collect(),
    );
    // Names of everyone in this history, from their profile events.
    state.learn_names(client.timeline().names());
}

/// How the rooms list shows a saved room: titled by its kind ([`room_title`]), its link
/// naming it by `me`'s address for it.
pub(crate) fn room_view(
    me: &Identity,
    contacts: &Contacts,
    room: &SavedRoom,
    current: bool,
) -> RoomView {
    RoomView {
        id: room.home(),
        title: room_title(room, contacts),
        link: page::room_link(me.room_address(&room.home())),
        last_opened: match room.last_opened_ms {
            0 => String::new(),
            ms => clock::format_time(confab_core::UnixMillis(ms)),
        },
        current,
    }
}

/// The driver's settings, from the page's query (`?relay=force`, `?ice=withhold`).
pub(crate) fn settings(on_screen: bool) -> Settings {
    Settings {
        force_relay: page::query_param("relay").is_some_and(|v| v == "force"),
        dangerously_withhold_ice_candidates: page::query_param("ice")
            .is_some_and(|v| v == "withhold"),
        on_screen,
    }
}

/// The network a driver opens links on (`?ice=relay`: through TURN only).
pub(crate) fn network() -> Box<platform::net::BrowserNetwork> {
    Box::new(platform::net::BrowserNetwork {
        turn_only: page::query_param("ice").is_some_and(|v| v == "relay"),
    })
}
