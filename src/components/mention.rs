//! @mention autocomplete for the message box: typing `@` offers the room's members in a
//! listbox named "Mention" under the box; ArrowDown/ArrowUp move, Enter or Tab (or a
//! click) puts `@Name ` in the text, Escape closes. The box keeps focus throughout and
//! points at the active option (`aria-activedescendant`).

use confab_core::MemberKey;
use leptos::prelude::*;

use crate::mentions;
use crate::state::AppState;
use crate::view_api::TextField;

/// The id of option `idx` (for `aria-activedescendant`).
pub fn option_id(idx: usize) -> String {
    format!("mention-option-{idx}")
}

/// What the autocomplete shows: where the `@` is, the members offered, the active one.
#[derive(Clone, Copy)]
pub struct MentionPicker {
    /// The `@` being completed: its byte index in the text and the text after it.
    query: RwSignal<Option<(usize, String)>>,
    /// The members offered for it.
    offered: Memo<Vec<(MemberKey, String)>>,
    /// The highlighted option.
    active: RwSignal<usize>,
}

impl MentionPicker {
    /// Nothing offered until an `@` is typed.
    pub fn new(state: AppState) -> MentionPicker {
        let query = RwSignal::new(None::<(usize, String)>);
        let offered = Memo::new(move |_| {
            query.with(|query| match query {
                Some((_, query)) => mentions::offered(&members(&state), query),
                None => Vec::new(),
            })
        });
        MentionPicker {
            query,
            offered,
            active: RwSignal::new(0),
        }
    }

    /// Whether the listbox is shown.
    pub fn is_open(&self) -> bool {
        !self.offered.with(Vec::is_empty)
    }

    /// The active option's id, while open.
    pub fn active_id(&self) -> Option<String> {
        self.is_open().then(|| option_id(self.active.get()))
    }

    /// Looks again at the text before the caret (after each input).
    pub fn follow(&self, field: &TextField) {
        let text = field.text();
        let caret = field.caret();
        let found = mentions::query_at(&text, caret).map(|(at, query)| (at, query.to_owned()));
        if found != self.query.get_untracked() {
            self.query.set(found);
            self.active.set(0);
        }
    }

    /// Closes the listbox.
    pub fn close(&self) {
        self.query.set(None);
    }

    /// Handles a key in the box while the listbox is open; true if it was used (the
    /// caller then neither sends nor lets the browser act on it).
    pub fn key(&self, key: &str, field: &TextField) -> bool {
        let n_offered = self.offered.with_untracked(Vec::len);
        if n_offered == 0 {
            return false;
        }
        match key {
            "ArrowDown" => self.active.update(|idx| *idx = (*idx + 1) % n_offered),
            "ArrowUp" => self
                .active
                .update(|idx| *idx = (*idx + n_offered - 1) % n_offered),
            "Enter" | "Tab" => self.choose(self.active.get_untracked(), field),
            "Escape" => self.close(),
            _ => return false,
        }
        true
    }

    /// Puts `@Name ` in place of the `@` and what follows it up to the caret.
    pub fn choose(&self, idx: usize, field: &TextField) {
        let Some((at, query)) = self.query.get_untracked() else {
            return;
        };
        let Some((_, name)) = self
            .offered
            .with_untracked(|offered| offered.get(idx).cloned())
        else {
            return;
        };
        let text = field.text();
        let end = (at + 1 + query.len()).min(text.len());
        let (Some(before), Some(after)) = (text.get(..at), text.get(end..)) else {
            return;
        };
        let inserted = format!("@{name} ");
        field.set_text(&format!("{before}{inserted}{after}"));
        field.set_caret(before.len() + inserted.len());
        self.close();
    }
}

/// The room's members by name, ourselves aside.
pub fn members(state: &AppState) -> Vec<(MemberKey, String)> {
    let me = state.me().with_untracked(|me| me.as_ref().map(|me| me.key));
    state.names().with(|names| {
        names
            .iter()
            .filter(|(key, _)| Some(**key) != me)
            .map(|(key, name)| (*key, name.clone()))
            .collect()
    })
}

/// The listbox of members offered.
#[component]
pub fn MentionList(
    /// Its state.
    picker: MentionPicker,
    /// Called with an option's index when it is clicked.
    on_choose: Callback<usize>,
) -> impl IntoView {
    let options = move || {
        let active = picker.active.get();
        picker
            .offered
            .get()
            .into_iter()
            .enumerate()
            .map(|(idx, (_, name))| {
                view! {
                    <li role="option" id=option_id(idx) aria-selected=(idx == active).to_string()
                        // Keep focus in the box: choose on mousedown, before it would blur.
                        on:mousedown=move |ev| {
                            ev.prevent_default();
                            on_choose.run(idx);
                        }>
                        {name}
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <Show when=move || picker.is_open()>
            <ul class="mention-list" role="listbox" id="mention-list" aria-label="Mention">{options}</ul>
        </Show>
    }
}
