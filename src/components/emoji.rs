//! The emoji picker: a dialog named "Emoji" with a search box and a grid of emoji buttons,
//! each named by its emoji's name. Used by the composer (inserts at the caret) and by a
//! message's "Add reaction" (reacts). Escape or "Close" closes it; whoever opened it puts
//! focus back.

use leptos::html::Input;
use leptos::prelude::*;

use crate::emoji;

/// The picker, shown while mounted; the search box has focus at first.
#[component]
pub fn EmojiPicker(
    /// Called with the emoji picked (Enter in the search box picks the first shown).
    on_pick: Callback<String>,
    /// Called on Escape or "Close".
    on_close: Callback<()>,
) -> impl IntoView {
    let query = RwSignal::new(String::new());
    let search = NodeRef::<Input>::new();
    Effect::new(move |_| {
        if let Some(search) = search.get() {
            let _ = search.focus();
        }
    });
    let shown = Memo::new(move |_| query.with(|q| emoji::search(q)));
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            ev.stop_propagation();
            on_close.run(());
        }
    };
    let on_search_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" {
            ev.prevent_default();
            if let Some(first) = shown.with_untracked(|shown| shown.first().copied()) {
                on_pick.run(first.glyph.to_owned());
            }
        }
    };
    let grid = move || {
        shown
            .get()
            .into_iter()
            .map(|emoji| {
                view! {
                    <button type="button" class="emoji" aria-label=emoji.name title=emoji.name
                        on:click=move |_| on_pick.run(emoji.glyph.to_owned())>
                        {emoji.glyph}
                    </button>
                }
            })
            .collect_view()
    };
    view! {
        <div class="emoji-picker" role="dialog" aria-label="Emoji" on:keydown=on_keydown>
            <div class="emoji-head">
                <input type="search" aria-label="Search emoji" placeholder="Search emoji…"
                    autocomplete="off" node_ref=search
                    prop:value=move || query.get()
                    on:input=move |ev| query.set(event_target_value(&ev))
                    on:keydown=on_search_key />
                <button type="button" class="link" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
            <div class="emoji-grid">{grid}</div>
            <Show when=move || shown.with(Vec::is_empty)>
                <p class="hint" role="status">"No emoji by that name."</p>
            </Show>
        </div>
    }
}
