//! The composer: a textbox named "Message" and a "Send" button; Enter sends. Shows what a
//! reply answers or that an edit is under way, with a way to cancel; tells the room while
//! we type.

use leptos::html::Input;
use leptos::prelude::*;

use crate::driver::Command;
use crate::state::{AppState, Draft};
use crate::use_commands;

/// Writes, replies to and edits messages.
#[component]
pub fn Composer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let input = NodeRef::<Input>::new();
    // Starting an edit puts the old text in the field (a DOM effect, not state).
    Effect::new(move |_| {
        let draft = state.draft.get();
        let Some(field) = input.get() else { return };
        if let Draft::Edit(id) = draft {
            let text = state
                .messages
                .with_untracked(|m| m.iter().find(|m| m.id == id).map(|m| m.text.clone()));
            field.set_value(&text.unwrap_or_default());
        }
        if draft != Draft::New {
            let _ = field.focus();
        }
    });
    let submit_commands = commands.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(field) = input.get() else { return };
        let text = field.value();
        if text.trim().is_empty() {
            return;
        }
        let draft = state.draft.get_untracked();
        submit_commands.send(Command::Post { draft, text });
        state.draft.set(Draft::New);
        field.set_value("");
        let _ = field.focus();
    };
    let typing = commands.clone();
    let on_input = move |_| {
        let active = input.get().is_some_and(|f| !f.value().trim().is_empty());
        typing.send(Command::Typing(active));
    };
    let on_blur = {
        let commands = commands.clone();
        move |_| commands.send(Command::Typing(false))
    };
    let chooser = NodeRef::<Input>::new();
    let attach = {
        let commands = commands.clone();
        move |_| {
            let Some(chooser) = chooser.get() else { return };
            let files = chooser.files().map(files_of).unwrap_or_default();
            chooser.set_value("");
            if !files.is_empty() {
                commands.send(Command::AttachFiles(files));
            }
        }
    };
    let on_paste = move |ev: leptos::ev::ClipboardEvent| {
        let files = ev
            .clipboard_data()
            .and_then(|data| data.files())
            .map(files_of)
            .unwrap_or_default();
        if !files.is_empty() {
            ev.prevent_default();
            commands.send(Command::AttachFiles(files));
        }
    };
    let preparing = move || {
        state.preparing.with(|files| {
            files
                .iter()
                .map(|(name, fraction)| {
                    let pct = (fraction * 100.0) as u32;
                    view! { <p class="preparing" role="status">{format!("Preparing {name}… {pct}%")}</p> }
                })
                .collect_view()
        })
    };
    let cancel = move |_| {
        state.draft.set(Draft::New);
        if let Some(field) = input.get() {
            field.set_value("");
        }
    };
    let banner = move || {
        let what = match state.draft.get() {
            Draft::New => return None,
            Draft::Reply(id) => format!("Replying to {}", author_of(&state, id)),
            Draft::Edit(_) => "Editing your message".to_owned(),
        };
        Some(view! {
            <p class="draft-banner">
                <span>{what}</span>
                <button type="button" class="link" on:click=cancel>"Cancel"</button>
            </p>
        })
    };
    view! {
        {banner}
        {preparing}
        <form class="composer" on:submit=on_submit>
            <input type="file" multiple class="visually-hidden" tabindex="-1" aria-hidden="true" node_ref=chooser on:change=attach />
            <button
                type="button"
                class="button attach"
                aria-label="Attach file"
                title="Attach file (or drop files here, or paste)"
                on:click=move |_| {
                    if let Some(chooser) = chooser.get() {
                        chooser.click();
                    }
                }
            >
                "📎"
            </button>
            <input
                type="text"
                aria-label="Message"
                placeholder="Write a message…"
                autocomplete="off"
                maxlength="16384"
                node_ref=input
                on:input=on_input
                on:blur=on_blur
                on:paste=on_paste
                autofocus
            />
            <button type="submit" class="button primary">"Send"</button>
        </form>
    }
}

fn author_of(state: &AppState, id: confab_core::EventId) -> String {
    let author = state
        .messages
        .with_untracked(|m| m.iter().find(|m| m.id == id).map(|m| m.author));
    author.map_or_else(|| "a message".to_owned(), |key| state.name_of(&key))
}

/// The files of a file list (from the chooser, a drop or a paste).
pub(super) fn files_of(list: web_sys::FileList) -> Vec<web_sys::File> {
    (0..list.length()).filter_map(|i| list.item(i)).collect()
}
