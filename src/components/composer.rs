//! The composer: a multi-line textbox named "Message" that grows with its text, and a
//! "Send" button. Enter sends, Shift+Enter starts a new line, and Enter while an input
//! method is composing never sends. Shows what a reply answers or that an edit is under
//! way, with a way to cancel; tells the room while we type; keeps what is typed and not
//! sent as the room's draft (saved a moment after typing stops, restored when the room
//! opens, forgotten when sent).

use std::time::Duration;

use leptos::html::{Input, Textarea};
use leptos::prelude::*;

use crate::driver::{Command, Commands};
use crate::state::{AppState, Draft};
use crate::use_commands;

/// How long typing must pause before the draft is saved.
const DRAFT_SAVE_DELAY: Duration = Duration::from_millis(300);

/// Writes, replies to and edits messages.
#[component]
pub fn Composer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let input = NodeRef::<Textarea>::new();
    let drafts = DraftSaver::new(commands.clone());
    // Starting an edit puts the old text in the field, and a draft restored from the store
    // fills an empty one (DOM effects, not state).
    Effect::new(move |_| {
        let draft = state.draft.get();
        let Some(field) = input.get() else { return };
        if let Draft::Edit(id) = draft {
            let text = state
                .messages
                .with_untracked(|m| m.iter().find(|m| m.id == id).map(|m| m.text.clone()));
            set_text(&field, &text.unwrap_or_default());
        }
        if draft != Draft::New {
            let _ = field.focus();
        }
    });
    Effect::new(move |_| {
        let saved = state.saved_draft.get();
        let Some(field) = input.get() else { return };
        if let Some(text) = saved
            && field.value().is_empty()
        {
            set_text(&field, &text);
        }
    });
    let send = {
        let (commands, drafts) = (commands.clone(), drafts.clone());
        move || {
            let Some(field) = input.get() else { return };
            let text = field.value();
            if text.trim().is_empty() {
                return;
            }
            let draft = state.draft.get_untracked();
            // Forgotten first: if the post is refused, the driver keeps it as the draft.
            drafts.save_now(String::new());
            commands.send(Command::Post { draft, text });
            state.draft.set(Draft::New);
            set_text(&field, "");
            let _ = field.focus();
        }
    };
    let on_submit = {
        let send = send.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            send();
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if sends(&ev) {
            ev.prevent_default();
            send();
        }
    };
    let typing = commands.clone();
    let on_input = {
        let drafts = drafts.clone();
        move |_| {
            let Some(field) = input.get() else { return };
            fit(&field);
            let text = field.value();
            typing.send(Command::Typing(!text.trim().is_empty()));
            // An edit is not a draft: the message it changes is kept already.
            if !matches!(state.draft.get_untracked(), Draft::Edit(_)) {
                drafts.save_later(text);
            }
        }
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
            set_text(&field, "");
        }
        drafts.save_now(String::new());
    };
    let banner = move || {
        let what = match state.draft.get() {
            Draft::New => return None,
            Draft::Reply(id) => format!("Replying to {}", author_of(&state, id)),
            Draft::Edit(_) => "Editing your message".to_owned(),
        };
        let cancel = cancel.clone();
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
            <textarea
                aria-label="Message"
                placeholder="Write a message…"
                autocomplete="off"
                rows="1"
                maxlength="16384"
                node_ref=input
                on:keydown=on_keydown
                on:input=on_input
                on:blur=on_blur
                on:paste=on_paste
                autofocus
            ></textarea>
            <button type="submit" class="button primary">"Send"</button>
        </form>
    }
}

/// Whether this key press sends: Enter without Shift, and not while an input method is
/// composing (Enter then confirms the composition; 229 is what some browsers report for
/// a key the input method took).
fn sends(ev: &web_sys::KeyboardEvent) -> bool {
    ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() && ev.key_code() != 229
}

/// Replaces the field's text and fits its height to it.
fn set_text(field: &web_sys::HtmlTextAreaElement, text: &str) {
    field.set_value(text);
    fit(field);
}

/// Grows (or shrinks) the field to its text; past the stylesheet's `max-height` it
/// scrolls.
fn fit(field: &web_sys::HtmlTextAreaElement) {
    let style = web_sys::HtmlElement::style(field);
    let _ = style.set_property("height", "auto");
    let _ = style.set_property("height", &format!("{}px", field.scroll_height() + 2));
}

/// Saves the draft through the driver: after a pause in typing, or at once (which
/// cancels a save still waiting, so an older text never lands after a newer one).
#[derive(Clone)]
struct DraftSaver {
    commands: Commands,
    pending: StoredValue<Option<leptos::leptos_dom::helpers::TimeoutHandle>, LocalStorage>,
}

impl DraftSaver {
    fn new(commands: Commands) -> DraftSaver {
        DraftSaver {
            commands,
            pending: StoredValue::new_local(None),
        }
    }

    fn save_later(&self, text: String) {
        self.cancel();
        let commands = self.commands.clone();
        let handle = set_timeout_with_handle(
            move || commands.send(Command::SaveDraft(text)),
            DRAFT_SAVE_DELAY,
        );
        self.pending.set_value(handle.ok());
    }

    fn save_now(&self, text: String) {
        self.cancel();
        self.commands.send(Command::SaveDraft(text));
    }

    fn cancel(&self) {
        if let Some(handle) = self.pending.try_update_value(Option::take).flatten() {
            handle.clear();
        }
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
