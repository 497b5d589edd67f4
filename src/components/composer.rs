//! The composer: a textbox named "Message" and a "Send" button; Enter sends.

use leptos::html::Input;
use leptos::prelude::*;

use crate::driver::Command;
use crate::use_commands;

/// Writes and sends messages.
#[component]
pub fn Composer() -> impl IntoView {
    let commands = use_commands();
    let input = NodeRef::<Input>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(field) = input.get() else { return };
        let text = field.value();
        if text.trim().is_empty() {
            return;
        }
        commands.send(Command::SendText(text));
        field.set_value("");
        let _ = field.focus();
    };
    view! {
        <form class="composer" on:submit=on_submit>
            <input
                type="text"
                aria-label="Message"
                placeholder="Write a message…"
                autocomplete="off"
                maxlength="16384"
                node_ref=input
                autofocus
            />
            <button type="submit" class="button primary">"Send"</button>
        </form>
    }
}
