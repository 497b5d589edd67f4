//! The composer: a multi-line textbox named "Message" that grows with its text, and a
//! "Send" button. Enter sends, Shift+Enter starts a new line, and Enter while an input
//! method is composing never sends. Shows what a reply answers or that an edit is under
//! way, with a way to cancel; tells the room while we type; keeps what is typed and not
//! sent as the room's draft (saved a moment after typing stops or at once when the page
//! is hidden or goes, restored when the room opens, forgotten when sent). "Emoji" opens the emoji picker, whose pick goes in at
//! the caret.

use std::time::Duration;

use confab_core::wire::MAX_TEXT_LEN;
use leptos::html::{Button, Input, Textarea};
use leptos::prelude::*;

use super::emoji::EmojiPicker;
use super::mention::{self, MentionList, MentionPicker};
use crate::commands::{Command, Commands};
use crate::state::{AppState, Draft};
use crate::view_api::TextField;
use crate::{use_commands, use_device};

/// How long typing must pause before the draft is saved.
const DRAFT_SAVE_DELAY: Duration = Duration::from_millis(300);

/// Writes, replies to and edits messages.
#[component]
pub fn Composer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let device = use_device();
    let input = NodeRef::<Textarea>::new();
    let drafts = DraftSaver::new(commands.clone());
    // Removed, not let in yet, or opened with a link the room left: nothing can be said
    // here (nobody would read it).
    let shut_out = move || {
        state
            .governance()
            .with(|g| {
                if g.removed_me() {
                    Some(REMOVED_PLACEHOLDER)
                } else if g.waiting {
                    Some(WAITING_PLACEHOLDER)
                } else {
                    None
                }
            })
            .or_else(|| {
                state
                    .link_superseded()
                    .get()
                    .then_some(super::superseded::PLACEHOLDER)
            })
    };
    let removed = move || shut_out().is_some();
    // What the box holds is longer than a message may be.
    let over = RwSignal::new(false);
    // A page that goes (reload, tab closed, app switched away on a phone) keeps what was
    // typed in the last moments too: the save waiting for a pause happens at once.
    let hidden = {
        let drafts = drafts.clone();
        let on_hide = drafts.clone();
        [
            window_event_listener_untyped("pagehide", move |_| on_hide.flush()),
            window_event_listener_untyped("visibilitychange", move |_| {
                if device.is_hidden() {
                    drafts.flush();
                }
            }),
        ]
    };
    on_cleanup(move || hidden.into_iter().for_each(|listener| listener.remove()));
    // Starting an edit puts the old text in the field, and a draft restored from the store
    // fills an empty one (DOM effects, not state).
    Effect::new(move |_| {
        let draft = state.draft().get();
        let Some(field) = input.get().map(TextField::from) else {
            return;
        };
        if let Draft::Edit(id) = draft {
            let text = state
                .messages()
                .with_untracked(|m| m.iter().find(|m| m.id == id).map(|m| m.text.clone()));
            let text = text.unwrap_or_default();
            over.set(too_long(&text));
            field.set_text(&text);
        }
        if draft != Draft::New {
            field.focus();
        }
    });
    Effect::new(move |_| {
        let saved = state.saved_draft().get();
        let Some(field) = input.get().map(TextField::from) else {
            return;
        };
        if let Some(text) = saved
            && field.text().is_empty()
        {
            over.set(too_long(&text));
            field.set_text(&text);
        }
    });
    let send = {
        let (commands, drafts) = (commands.clone(), drafts.clone());
        move || {
            let Some(field) = input.get().map(TextField::from) else {
                return;
            };
            let text = field.text();
            if text.trim().is_empty() {
                return;
            }
            // Core refuses more than MAX_TEXT_LEN bytes (of the trimmed text): say so here,
            // and keep what was typed.
            if too_long(&text) {
                over.set(true);
                field.focus();
                return;
            }
            let draft = state.draft().get_untracked();
            // Forgotten first: if the post is refused, the driver keeps it as the draft.
            drafts.save_now(String::new());
            let mentions = crate::mentions::mentioned(&text, &mention::members(&state));
            commands.send(Command::Post {
                draft,
                text,
                mentions,
            });
            state.compose_new();
            field.set_text("");
            field.focus();
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
            let Some(field) = input.get_untracked().map(TextField::from) else {
                return;
            };
            field.fit();
            let text = field.text();
            over.set(too_long(&text));
            typing.send(Command::Typing(!text.trim().is_empty()));
            // An edit is not a draft: the message it changes is kept already.
            if !matches!(state.draft().get_untracked(), Draft::Edit(_)) {
                drafts.save_later(text);
            }
        }
    };
    let on_input = {
        let changed = changed.clone();
        move |_| {
            changed();
            if let Some(field) = input.get_untracked().map(TextField::from) {
                mentions.follow(&field);
            }
        }
    };
    let on_keydown = {
        let changed = changed.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            let Some(field) = input.get_untracked().map(TextField::from) else {
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
            let Some(field) = input.get_untracked().map(TextField::from) else {
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
        let Some(field) = input.get_untracked().map(TextField::from) else {
            return;
        };
        field.insert_at_caret(&glyph);
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
                .map(|list| device.files_of(list))
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
            .map(|list| device.files_of(list))
            .unwrap_or_default();
        if !files.is_empty() {
            ev.prevent_default();
            commands.send(Command::AttachFiles(files));
        }
    };
    let preparing = move || {
        state.preparing().with(|files| {
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
        state.compose_new();
        over.set(false);
        if let Some(field) = input.get().map(TextField::from) {
            field.set_text("");
        }
        drafts.save_now(String::new());
    };
    let banner = move || {
        let what = match state.draft().get() {
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
        <Show when=move || over.get()>
            <p class="too-long" id="message-too-long" role="alert">{too_long_notice()}</p>
        </Show>
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
                disabled=removed
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
                placeholder=move || shut_out().unwrap_or("Write a message…")
                disabled=removed
                autocomplete="off"
                rows="1"
                // In UTF-16 units, which never outnumber UTF-8 bytes: a bound on pastes
                // that never cuts a message that fits; the byte limit is checked above.
                maxlength=MAX_TEXT_LEN.to_string()
                aria-invalid=move || over.get().then_some("true")
                aria-describedby=move || over.get().then_some("message-too-long")
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
                disabled=removed
                aria-expanded=move || picking.get().to_string()
                title="Emoji"
                node_ref=emoji_button
                on:click=move |_| picking.update(|open| *open = !*open)
            >
                "😀"
            </button>
            <button type="submit" class="button primary" disabled=removed>"Send"</button>
        </form>
    }
}

/// What a removed member's page says.
pub(crate) const REMOVED: &str = "You were removed from this room";

/// What the page of a newcomer not let in yet says.
pub(crate) const WAITING: &str = "Waiting for an admin to let you in";

/// The disabled composer's placeholders, short enough for one line of a phone's message
/// box beside its three buttons (the page above says it in full: [`REMOVED`], [`WAITING`]).
pub(crate) const REMOVED_PLACEHOLDER: &str = "You were removed";
/// See [`REMOVED_PLACEHOLDER`].
pub(crate) const WAITING_PLACEHOLDER: &str = "Not let in yet";

/// Why a message is not sent when it is over [`MAX_TEXT_LEN`] bytes.
fn too_long_notice() -> String {
    format!(
        "Too long to send: a message holds at most {MAX_TEXT_LEN} bytes, and a character \
         takes 1 to 4 (emoji and many scripts take 3 or 4). Shorten it."
    )
}

/// Whether `text` is longer than core lets a message be (counted as core counts it: UTF-8
/// bytes of the trimmed text).
fn too_long(text: &str) -> bool {
    text.trim().len() > MAX_TEXT_LEN
}

/// Whether this key press sends: Enter without Shift, and not while an input method is
/// composing (Enter then confirms the composition; 229 is what some browsers report for
/// a key the input method took).
fn sends(ev: &leptos::ev::KeyboardEvent) -> bool {
    ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() && ev.key_code() != 229
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
        .messages()
        .with_untracked(|m| m.iter().find(|m| m.id == id).map(|m| m.author));
    author.map_or_else(|| "a message".to_owned(), |key| state.name_of(&key))
}
