//! The app's build: the "Update available" banner (a new build is kept by the service
//! worker and runs only once the user chooses "Update") and the running build's
//! fingerprint, which the Security panel shows.

use leptos::prelude::*;

use crate::use_device;
use crate::view_api::{BuildStatus, Device};

/// The build status as the service worker tells it (context; the app sets it up with
/// [`AppBuild::listen`]). Without it, no banner and no fingerprint.
#[derive(Clone, Copy)]
pub struct AppBuild(pub RwSignal<BuildStatus>);

impl AppBuild {
    /// Unknown at first; [`Device::watch_build`] keeps it current.
    pub fn listen(device: Device) -> AppBuild {
        let status = RwSignal::new(BuildStatus::default());
        device.watch_build(move |new| status.set(new));
        AppBuild(status)
    }
}

/// "Update available" with an "Update" button, while a newer build waits.
#[component]
pub fn UpdateBanner() -> impl IntoView {
    let build = use_context::<AppBuild>().map(|build| build.0);
    let device = use_device();
    let ready = move || build.is_some_and(|status| status.with(|s| s.update_ready));
    let updating = RwSignal::new(false);
    let update = move |_| {
        updating.set(true);
        device.apply_update();
    };
    view! {
        <Show when=ready>
            <section class="update-banner" aria-label="Update available">
                <p><strong>"Update available"</strong>" A new version of Confab is ready. This page keeps running the current one until you update."</p>
                <button type="button" class="button" on:click=update disabled=move || updating.get()>
                    {move || if updating.get() { "Updating…" } else { "Update" }}
                </button>
            </section>
        </Show>
    }
}

/// The running build's fingerprint in groups of four hex digits, for the Security panel.
#[component]
pub fn BuildFingerprint() -> impl IntoView {
    let build = use_context::<AppBuild>().map(|build| build.0);
    let running = move || build.and_then(|status| status.with(|s| s.running.clone()));
    view! {
        <p class="hint build-hint">"App build (compare it with the fingerprint published for the release):"</p>
        <output class="build-fingerprint" aria-label="App fingerprint">
            {move || running().map_or_else(|| "not known yet (a development build, or not installed)".to_owned(), |fingerprint| grouped(&fingerprint))}
        </output>
    }
}

/// `"a1b2c3d4e5"` -> `"a1b2 c3d4 e5"`.
pub fn grouped(fingerprint: &str) -> String {
    let chars: Vec<char> = fingerprint.chars().collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "update_tests.rs"]
mod tests;
