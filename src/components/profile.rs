//! "You": the display name (editable: the room learns it from a signed profile event) and
//! the key fingerprint to compare with contacts.

use leptos::html::Input;
use leptos::prelude::*;

use crate::driver::Command;
use crate::state::AppState;
use crate::use_commands;

/// Edits our display name and shows our fingerprint.
#[component]
pub fn ProfilePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let input = NodeRef::<Input>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(field) = input.get() else { return };
        let name = field.value().trim().to_owned();
        if !name.is_empty() {
            commands.send(Command::SetName(name));
        }
    };
    let name = move || state.me.get().map(|me| me.name).unwrap_or_default();
    let fingerprint = move || state.me.get().map(|me| me.fingerprint).unwrap_or_default();
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
        </section>
    }
}
