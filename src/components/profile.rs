//! "You": the display name (editable: the room learns it from a signed profile event), the
//! key fingerprint to compare with contacts, and the contact link.

use leptos::html::Input;
use leptos::prelude::*;

use crate::commands::Command;
use crate::state::AppState;
use crate::{use_commands, use_device};

/// Edits our display name and shows our fingerprint.
#[component]
pub fn ProfilePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let device = use_device();
    let input = NodeRef::<Input>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(field) = input.get() else { return };
        let name = field.value().trim().to_owned();
        if !name.is_empty() {
            commands.send(Command::SetName(name));
        }
    };
    let name = move || state.me().get().map(|me| me.name).unwrap_or_default();
    let copy = move |_| {
        let copied = device.copy_to_clipboard(state.contact_link().get_untracked());
        leptos::task::spawn_local(async move {
            let outcome = match copied.await {
                Ok(()) => "Contact link copied.".to_owned(),
                Err(_) => "Copy failed: select the link and copy it.".to_owned(),
            };
            state.notify(outcome);
        });
    };
    let fingerprint = move || {
        state
            .me()
            .get()
            .map(|me| me.fingerprint)
            .unwrap_or_default()
    };
    view! {
        <section class="panel profile">
            <h2>"You"</h2>
            <form class="name-row" on:submit=on_submit>
                <input
                    type="text"
                    aria-label="Display name"
                    maxlength="64"
                    autocomplete="nickname"
                    prop:value=name
                    node_ref=input
                />
                <button type="submit" class="button">"Save name"</button>
            </form>
            <p class="hint">
                "Safety number: "
                <span class="fingerprint">{fingerprint}</span>
            </p>
            <p class="hint">"Your contact link: whoever opens it meets you and can message you later."</p>
            <div class="invite-row">
                <input class="invite-link" type="text" readonly aria-label="Contact link" prop:value=move || state.contact_link().get() />
                <button type="button" class="button" on:click=copy aria-label="Copy contact link">"Copy"</button>
            </div>
        </section>
    }
}
