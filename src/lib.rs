//! Confab's browser app: a thin Leptos shell over `confab-core`.
//!
//! `platform/` wraps browser APIs, `driver` runs core and owns the links, `state` holds
//! what the UI shows, `components/` renders it. Components never call core directly.
//! `boot` opens the profile and the room on screen; `tab` keeps the other rooms connected
//! in the background. A profile exists from the first visit, so a reload keeps identity
//! and history. Switching rooms reloads the page.

mod boot;
pub mod commands;
pub mod components;
pub mod driver;
pub mod emoji;
pub mod markdown;
pub mod mentions;
pub mod platform;
pub mod state;
mod tab;
pub mod view_api;

use std::sync::Arc;

use leptos::prelude::*;

use crate::commands::Commands;
use crate::platform::page;
use crate::state::AppState;
use crate::view_api::Device;

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
            // Said at once: the unlock screen gives way before the profile opens.
            state.opening();
            let (commands, opened) = (commands.clone(), Arc::clone(&opened));
            leptos::task::spawn_local(async move {
                boot::boot(state, commands, passphrase, &opened).await
            });
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
