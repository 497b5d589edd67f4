//! Components: props and context in, commands out. No protocol logic, no browser APIs.

mod call;
mod composer;
mod confirm;
mod contacts;
mod conversation;
mod device;
mod disappearing;
mod emoji;
mod file;
mod invite;
mod join_requests;
mod members;
mod mention;
mod menu;
mod message;
mod mute;
mod notice;
mod notices;
mod profile;
mod pwa;
mod rooms;
mod security;
mod superseded;
mod unlock;
mod update;

use leptos::prelude::*;

use crate::state::{AppState, Phase, ServerStatus};
pub use composer::Composer;
pub use contacts::ContactsPanel;
pub use conversation::Conversation;
pub use device::{ForkedNotice, IMPORT_MEANS};
pub use disappearing::RoomSettings;
pub use invite::InvitePanel;
pub use members::MemberList;
pub use profile::ProfilePanel;
pub use pwa::{InstallButton, InstallOffer, NotificationsPanel, UnreadTitle};
pub use rooms::{NEW_WITH_APPROVAL, RoomsPanel};
pub use security::SecurityPanel;
pub use unlock::{OtherTabScreen, UnlockScreen};
pub use update::{AppBuild, BuildFingerprint, UpdateBanner};

/// The whole page: the passphrase prompt or the other-tab notice before the profile is
/// open, then header, side panels (invite, members, rooms, contacts, you, this device),
/// conversation, composer. On phones the conversation fills the screen and the panels
/// are behind "Menu" (menu.rs).
#[component]
pub fn Shell() -> impl IntoView {
    let state = expect_context::<AppState>();
    let phase = move || {
        match state.phase().get() {
        Phase::Opening => view! { <main class="gate"><p class="hint" role="status">"Opening your profile…"</p></main> }.into_any(),
        Phase::Locked(_) => view! { <UnlockScreen /> }.into_any(),
        Phase::OtherTab => view! { <OtherTabScreen /> }.into_any(),
        Phase::Ready => view! { <ChatLayout /> }.into_any(),
    }
    };
    view! { <UpdateBanner /> {phase} }
}

/// The chat itself.
#[component]
fn ChatLayout() -> impl IntoView {
    let state = expect_context::<AppState>();
    let drop_commands = crate::use_commands();
    let drop_device = crate::use_device();
    let me = move || state.me().get();
    let menu = menu::Menu::closed();
    let server = move || match state.server().get() {
        ServerStatus::Connecting => "Connecting to the server…",
        ServerStatus::Online => "Connected",
        ServerStatus::Reconnecting => "Server unreachable, retrying (direct chats continue)",
    };
    view! {
        <header class="topbar">
            <h1 class="brand">"Confab"</h1>
            <p class="me">
                <span class="me-name">{move || me().map(|m| m.name)}</span>
                <span class="fingerprint" title="Your key fingerprint: compare it with your contacts">
                    {move || me().map(|m| format!("Key {}", m.fingerprint))}
                </span>
            </p>
            <p class="server-status" role="status">{server}</p>
            <InstallButton />
            <menu::MenuButton menu />
        </header>
        <UnreadTitle />
        <main class="layout" class:menu-open=move || menu.is_open()>
            <menu::Panels menu>
                <InvitePanel />
                <MemberList />
                <RoomSettings />
                <RoomsPanel />
                <ContactsPanel />
                <ProfilePanel />
                <NotificationsPanel />
                <SecurityPanel />
            </menu::Panels>
            <section
                class="chat"
                aria-label="Conversation"
                on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default()
                on:drop=move |ev: leptos::ev::DragEvent| {
                    ev.prevent_default();
                    let files = ev.data_transfer().and_then(|t| t.files()).map(|list| drop_device.files_of(list)).unwrap_or_default();
                    if !files.is_empty() {
                        drop_commands.send(crate::commands::Command::AttachFiles(files));
                    }
                }
            >
                <call::CallBar />
                <Conversation />
                <ForkedNotice />
                <superseded::SupersededNotice />
                <Show when=move || state.governance().with(|g| g.removed_me())>
                    <p class="notice" role="alert">{composer::REMOVED} ". What was said before stays here; nothing said from now on reaches you."</p>
                </Show>
                <Show when=move || state.governance().with(|g| g.waiting)>
                    <p class="notice" role="status">{composer::WAITING} ". This room lets in only whom its owner or an admin approves."</p>
                </Show>
                <LeaveUnheard />
                <join_requests::JoinRequests />
                <notices::Notices />
                <Composer />
            </section>
        </main>
    }
}

/// What the page says when our leave has gone unheard for a while.
pub const LEAVE_UNHEARD: &str = "Nobody has heard that you left: no member or server can be reached. It is sent as soon as one can be. Or forget the room on this device now, and the others will not hear that you left.";

/// Our leave went unheard (`GovernanceView::leave_unheard`): say so, and offer to forget
/// the room at once rather than wait (the driver forgets it once someone hears anyway).
#[component]
fn LeaveUnheard() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = crate::use_commands();
    view! {
        <Show when=move || state.governance().with(|g| g.leave_unheard)>
            <div class="notice" role="alert">
                <p>{LEAVE_UNHEARD}</p>
                <button
                    type="button"
                    class="button"
                    on:click={
                        let commands = commands.clone();
                        move |_| commands.send(crate::commands::Command::ForgetRoom)
                    }
                >
                    "Forget the room now"
                </button>
            </div>
        </Show>
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod composer_tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod contacts_tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod members_tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod notices_tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
