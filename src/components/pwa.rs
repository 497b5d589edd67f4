//! The installable app's controls: "Install Confab" (only while the browser offers it),
//! "Turn on notifications", and the unread count in the title and app badge.

use leptos::prelude::*;

use crate::commands::Command;
use crate::state::AppState;
use crate::view_api::{Device, Permission};
use crate::{use_commands, use_device};

/// Whether the browser offers to install the app now (context; the app sets it from the
/// browser's `beforeinstallprompt` and `appinstalled`). Without it, nothing is offered.
#[derive(Clone, Copy)]
pub struct InstallOffer(pub RwSignal<bool>);

impl InstallOffer {
    /// Nothing offered yet; [`Device::on_install_offer`] keeps it current.
    pub fn listen(device: Device) -> InstallOffer {
        let offered = RwSignal::new(false);
        device.on_install_offer(move |available| offered.set(available));
        InstallOffer(offered)
    }
}

/// "Install Confab", shown only while the browser offers to install the app.
#[component]
pub fn InstallButton() -> impl IntoView {
    let offer = use_context::<InstallOffer>().map(|offer| offer.0);
    let device = use_device();
    let offered = move || offer.is_some_and(|offered| offered.get());
    let install = move |_| {
        leptos::task::spawn_local(async move {
            device.install().await;
            // An offer can be shown once; the browser makes a new one if it wants to.
            if let Some(offered) = offer {
                offered.set(false);
            }
        });
    };
    view! {
        <Show when=offered>
            <button type="button" class="button install" on:click=install>"Install Confab"</button>
        </Show>
    }
}

/// Notifications for new messages while Confab is hidden or closed: a button to ask for
/// them (once allowed, the room subscribes this browser to Web Push), or where they stand
/// (in Safari on iPhone and iPad, how to install the app that can have them: that Safari
/// never offers to install); once asked for or on, whether they show names and text.
#[component]
pub fn NotificationsPanel() -> impl IntoView {
    let device = use_device();
    let permission = RwSignal::new(device.notification_permission());
    let commands = StoredValue::new(use_commands());
    let turn_on = move |_| {
        leptos::task::spawn_local(async move {
            let answer = device.request_notifications().await;
            if answer == Permission::Granted {
                commands.with_value(|commands| commands.send(Command::TurnOnPush));
            }
            permission.set(answer);
        });
    };
    move || {
        match permission.get() {
        // Safari on iPhone and iPad notifies only the app added to the Home Screen.
        Permission::Unsupported if device.can_add_to_home_screen() => view! {
            <section class="panel notifications">
                <h2>"Notifications"</h2>
                <p class="hint">"On iPhone and iPad, Confab can notify you once it is on your Home Screen: tap Share, then “Add to Home Screen”, and open it from there."</p>
            </section>
        }
        .into_any(),
        Permission::Unsupported => ().into_any(),
        Permission::Ask => view! {
            <section class="panel notifications">
                <h2>"Notifications"</h2>
                <p class="hint">"Hear about new messages while Confab is in the background."</p>
                <button type="button" class="button" on:click=turn_on>"Turn on notifications"</button>
                <PreviewsChoice />
            </section>
        }
        .into_any(),
        Permission::Granted => view! {
            <section class="panel notifications">
                <h2>"Notifications"</h2>
                <p class="hint" role="status">"On: new messages notify you while Confab is hidden or closed, and those in your other rooms at any time."</p>
                <PreviewsChoice />
            </section>
        }
        .into_any(),
        Permission::Denied => view! {
            <section class="panel notifications">
                <h2>"Notifications"</h2>
                <p class="hint" role="status">"Blocked: allow them in this site's browser settings."</p>
            </section>
        }
        .into_any(),
    }
    }
}

/// "Show names and text in notifications" (on by default): off, this page's
/// notifications and the service worker's read "New message" with no name or text. Kept
/// where the worker reads it even while a passphrase locks the profile
/// ([`Device::set_previews`]).
#[component]
fn PreviewsChoice() -> impl IntoView {
    let device = use_device();
    let shown = RwSignal::new(device.previews());
    let kept = device.kept_previews();
    leptos::task::spawn_local(async move { shown.set(kept.await) });
    let toggle = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        shown.set(on);
        device.set_previews(on);
    };
    view! {
        <label class="check">
            <input type="checkbox" prop:checked=move || shown.get() on:change=toggle />
            " Show names and text in notifications"
        </label>
    }
}

/// Keeps the page title ("(3) Confab") and the app badge showing the unread count of
/// every room: this one's while hidden, and the background rooms'.
#[component]
pub fn UnreadTitle() -> impl IntoView {
    let state = expect_context::<AppState>();
    let device = use_device();
    Effect::new(move |_| device.show_unread(state.total_unread()));
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "pwa_tests.rs"]
mod tests;
