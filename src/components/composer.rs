//! The composer: a multi-line textbox named "Message" that grows with its text, and a
//! "Send" button. Enter sends, Shift+Enter starts a new line, and Enter while an input
//! method is composing never sends. Shows what a reply answers or that an edit is under
//! way, with a way to cancel; tells the room while we type; keeps what is typed and not
//! sent as the room's draft (saved a moment after typing stops or at once when the page
//! is hidden or goes, restored when the room opens, forgotten when sent). "Emoji" opens the emoji picker, whose pick goes in at
//! the caret.

use std::time::Duration;

use leptos::html::{Button, Input, Textarea};
use leptos::prelude::*;

use super::emoji::EmojiPicker;
use super::mention::{self, MentionList, MentionPicker};
use crate::commands::{Command, Commands};
use crate::platform;
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
    // A page that goes (reload, tab closed, app switched away on a phone) keeps what was
    // typed in the last moments too: the save waiting for a pause happens at once.
    let hidden = {
        let drafts = drafts.clone();
        let on_hide = drafts.clone();
        [
            window_event_listener_untyped("pagehide", move |_| on_hide.flush()),
            window_event_listener_untyped("visibilitychange", move |_| {
                let hidden = document().visibility_state() == web_sys::VisibilityState::Hidden;
                if hidden {
                    drafts.flush();
                }
            }),
        ]
    };
    on_cleanup(move || hidden.into_iter().for_each(|listener| listener.remove()));
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
            let mentions = crate::mentions::mentioned(&text, &mention::members(&state));
            commands.send(Command::Post {
                draft,
                text,
                mentions,
            });
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
    let mentions = MentionPicker::new(state);
    let typing = commands.clone();
    let changed = {
        let drafts = drafts.clone();
        move || {
            let Some(field) = input.get_untracked() else {
                return;
            };
            fit(&field);
            let text = field.value();
            typing.send(Command::Typing(!text.trim().is_empty()));
            // An edit is not a draft: the message it changes is kept already.
            if !matches!(state.draft.get_untracked(), Draft::Edit(_)) {
                drafts.save_later(text);
            }
        }
    };
    let on_input = {
        let changed = changed.clone();
        move |_| {
            changed();
            if let Some(field) = input.get_untracked() {
                mentions.follow(&field);
            }
        }
    };
    let on_keydown = {
        let changed = changed.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            let Some(field) = input.get_untracked() else {
                return;
            };
            if !ev.is_composing() && mentions.key(&ev.key(), &field) {
                ev.prevent_default();
                changed();
            } else if sends(&ev) {
                ev.prevent_default();
                send();
            }
        }
    };
    let choose_mention = {
        let changed = changed.clone();
        Callback::new(move |idx: usize| {
            let Some(field) = input.get_untracked() else {
                return;
            };
            mentions.choose(idx, &field);
            changed();
        })
    };
    // The emoji picker: a pick goes in at the caret (replacing a selection) and the caret
    // after it; closing puts focus back on "Emoji".
    let picking = RwSignal::new(false);
    let emoji_button = NodeRef::<Button>::new();
    let insert = Callback::new(move |glyph: String| {
        picking.set(false);
        let Some(field) = input.get_untracked() else {
            return;
        };
        let caret = insert_at_caret(&field, &glyph);
        let _ = field.focus();
        let _ = field.set_selection_range(caret, caret);
        changed();
    });
    let close_picker = Callback::new(move |()| {
        picking.set(false);
        if let Some(button) = emoji_button.get_untracked() {
            let _ = button.focus();
        }
    });
    let on_blur = {
        let commands = commands.clone();
        move |_| {
            mentions.close();
            commands.send(Command::Typing(false))
        }
    };
    let chooser = NodeRef::<Input>::new();
    let attach = {
        let commands = commands.clone();
        move |_| {
            let Some(chooser) = chooser.get() else { return };
            let files = chooser
                .files()
                .map(platform::files::files_of)
                .unwrap_or_default();
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
            .map(platform::files::files_of)
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
        <Show when=move || picking.get()>
            <EmojiPicker on_pick=insert on_close=close_picker />
        </Show>
        <MentionList picker=mentions on_choose=choose_mention />
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
                aria-activedescendant=move || mentions.active_id()
                node_ref=input
                on:keydown=on_keydown
                on:input=on_input
                on:blur=on_blur
                on:paste=on_paste
                autofocus
            ></textarea>
            <button
                type="button"
                class="button emoji-open"
                aria-label="Emoji"
                aria-haspopup="dialog"
                aria-expanded=move || picking.get().to_string()
                title="Emoji"
                node_ref=emoji_button
                on:click=move |_| picking.update(|open| *open = !*open)
            >
                "😀"
            </button>
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

/// Puts `text` in the field at the caret, replacing what is selected; returns where the
/// caret goes (after it, in UTF-16 code units as the DOM counts).
fn insert_at_caret(field: &web_sys::HtmlTextAreaElement, text: &str) -> u32 {
    let value = field.value();
    let end_of = |units: Option<u32>| units.map_or(value.len(), |units| byte_index(&value, units));
    let start = end_of(field.selection_start().ok().flatten());
    let end = end_of(field.selection_end().ok().flatten()).max(start);
    let joined = format!("{}{text}{}", &value[..start], &value[end..]);
    set_text(field, &joined);
    let caret = value[..start].encode_utf16().count() + text.encode_utf16().count();
    u32::try_from(caret).unwrap_or(u32::MAX)
}

/// The byte index of a UTF-16 offset in `text` (the end if past it; a char boundary).
pub(super) fn byte_index(text: &str, units: u32) -> usize {
    let mut seen = 0u32;
    for (idx, c) in text.char_indices() {
        if seen >= units {
            return idx;
        }
        seen += c.len_utf16() as u32;
    }
    text.len()
}

/// Replaces the field's text and fits its height to it.
pub(super) fn set_text(field: &web_sys::HtmlTextAreaElement, text: &str) {
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
/// cancels a save still waiting, so an older text never lands after a newer one), or
/// now if one is waiting (`flush`, when the page goes).
#[derive(Clone)]
struct DraftSaver {
    commands: Commands,
    pending:
        StoredValue<Option<(leptos::leptos_dom::helpers::TimeoutHandle, String)>, LocalStorage>,
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
        let (commands, pending, later) = (self.commands.clone(), self.pending, text.clone());
        let handle = set_timeout_with_handle(
            move || {
                pending.try_set_value(None);
                commands.send(Command::SaveDraft(later));
            },
            DRAFT_SAVE_DELAY,
        );
        self.pending
            .try_set_value(handle.ok().map(|handle| (handle, text)));
    }

    /// Saves at once the text whose save waits for a pause, if any.
    fn flush(&self) {
        if let Some((handle, text)) = self.pending.try_update_value(Option::take).flatten() {
            handle.clear();
            self.commands.send(Command::SaveDraft(text));
        }
    }

    fn save_now(&self, text: String) {
        self.cancel();
        self.commands.send(Command::SaveDraft(text));
    }

    fn cancel(&self) {
        if let Some((handle, _)) = self.pending.try_update_value(Option::take).flatten() {
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
