//! Confab's browser app: a thin Leptos shell over `confab-core`.
//!
//! `platform/` wraps browser APIs, `driver` runs core and owns the links, `state` holds
//! what the UI shows, `components/` renders it. Components never call core directly.

pub mod components;
pub mod driver;
pub mod platform;
pub mod state;

use confab_core::{Client, Config, Identity, RoomSecret};
use leptos::prelude::*;

use crate::driver::{Commands, Settings};
use crate::platform::{entropy, page};
use crate::state::{AppState, Me};

/// Creates identity and room (from the link's fragment, or a new one), starts the driver,
/// and renders the app.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    let fragment = page::fragment();
    let (room, problem) = match RoomSecret::from_fragment(&fragment) {
        Ok(room) => (room, None),
        Err(_) if fragment.is_empty() => (RoomSecret::from_bytes(entropy::seed()), None),
        Err(error) => (
            RoomSecret::from_bytes(entropy::seed()),
            Some(format!("{error} A new room was started instead.")),
        ),
    };
    page::set_fragment(&room.to_fragment());
    state
        .invite_link
        .set(format!("{}/#{}", page::origin(), room.to_fragment()));
    state.notice.set(problem);

    let identity_seed = entropy::seed();
    let display_name = format!(
        "Guest {:04}",
        u16::from_le_bytes([identity_seed[30], identity_seed[31]]) % 10_000
    );
    let identity = Identity::from_seed(identity_seed);
    let config = Config {
        display_name,
        ..Config::default()
    };
    let client = Client::new(identity, room, config, entropy::seed());
    state.me.set(Some(Me {
        name: client.display_name().to_owned(),
        fingerprint: client.identity().fingerprint().to_string(),
        key: client.identity().member_key(),
    }));

    let settings = Settings {
        force_relay: page::query_param("relay").is_some_and(|v| v == "force"),
        dangerously_withhold_ice_candidates: page::query_param("ice")
            .is_some_and(|v| v == "withhold"),
    };
    let commands = driver::start(
        client,
        state,
        settings,
        Box::new(platform::net::BrowserNetwork),
    );
    driver::listen_to_page(&commands);
    provide_context(state);
    provide_context(commands);

    view! { <components::Shell /> }
}

/// Mounts the app on `<body>`.
pub fn mount() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// The command handle from context.
pub(crate) fn use_commands() -> Commands {
    expect_context::<Commands>()
}
