//! The message list and the typing line.

use leptos::html::Ul;
use leptos::prelude::*;

use crate::components::message::MessageRow;
use crate::components::notice::NoticeRow;
use confab_core::{EventId, OrderKey};

use crate::state::{AppState, MessageView};
use crate::use_device;
use crate::view_api::SizeWatch;

/// Messages drawn at first, and added per "Show earlier messages".
const PAGE: usize = 200;

/// The conversation in room order, newest at the bottom; follows new messages. Long rooms
/// draw only the latest messages until earlier ones are asked for.
#[component]
pub fn Conversation() -> impl IntoView {
    let state = expect_context::<AppState>();
    let list = NodeRef::<Ul>::new();
    let limit = RwSignal::new(PAGE);
    let hidden = move || {
        state
            .messages()
            .with(|m| m.len().saturating_sub(limit.get()))
    };
    // Rows are keyed by message id and each follows its message (see `MessageRow`): a
    // change redraws only what changed in that row, never the row, so focus stays put.
    let shown = move || {
        let limit = limit.get();
        state.messages().with(|m| {
            m[m.len().saturating_sub(limit)..]
                .iter()
                .map(|m| (m.id, m.key))
                .collect::<Vec<_>>()
        })
    };
    // The list is sorted by room order, which never changes for a message.
    let follow = move |(id, key): (EventId, OrderKey)| {
        Memo::new(move |previous: Option<&MessageView>| {
            state.messages().with(|m| {
                m.binary_search_by(|m| m.key.cmp(&key))
                    .ok()
                    .and_then(|idx| m.get(idx))
                    .filter(|m| m.id == id)
                    .or(previous)
                    .cloned()
                    .expect("a shown message is in the list")
            })
        })
    };
    // Whether the newest message is in view as the user left the list, and the list's
    // height when its size was last observed.
    let at_end = StoredValue::new(true);
    let observed_height = StoredValue::new(0);
    // Scrolling is a DOM effect, not state: keep the newest message in view.
    Effect::new(move |_| {
        let count = state.messages().with(Vec::len);
        if let (Some(list), true) = (list.get(), count > 0) {
            list.set_scroll_top(list.scroll_height());
            at_end.set_value(true);
        }
    });
    // When the list gets shorter (a phone turning, the on-screen keyboard opening, the
    // composer growing a line), the newest message stays in view if it was. A frame runs
    // scroll events before size observations, so a scroll event can come after a resize
    // was laid out but before it is observed: it would judge by the new height, so it is
    // not judged; the size watch then judges by the height observed before.
    let on_scroll = move |_| {
        if let Some(list) = list.get_untracked()
            && list.client_height() == observed_height.get_value()
        {
            at_end.set_value(list.scroll_top() + list.client_height() >= list.scroll_height() - 8);
        }
    };
    let device = use_device();
    let size_watch = StoredValue::new_local(None::<SizeWatch>);
    Effect::new(move |_| {
        let Some(element) = list.get() else {
            return;
        };
        let watched = element.clone();
        let watch = device.on_size_change(&element, move || {
            let was_at_end = at_end.get_value()
                || watched.scroll_top() + observed_height.get_value()
                    >= watched.scroll_height() - 8;
            if was_at_end {
                watched.set_scroll_top(watched.scroll_height());
            }
            at_end.set_value(was_at_end);
            observed_height.set_value(watched.client_height());
        });
        size_watch.set_value(watch);
    });
    on_cleanup(move || size_watch.set_value(None));
    view! {
        <Show when=move || state.messages().with(Vec::is_empty)>
            <p class="empty hint">"No messages yet. Messages are end-to-end encrypted."</p>
        </Show>
        <Show when=move || hidden() != 0>
            <p class="earlier">
                <button type="button" class="link" on:click=move |_| limit.update(|l| *l += PAGE)>
                    {move || format!("Show earlier messages ({} more)", hidden())}
                </button>
            </p>
        </Show>
        <ul class="messages" aria-label="Messages" aria-live="polite" aria-relevant="additions" node_ref=list on:scroll=on_scroll>
            <For
                each=shown
                key=|(id, _)| *id
                children=move |shown| {
                    let message = follow(shown);
                    // A row is a governance line or a message for good (its id says which).
                    if message.with_untracked(|m| m.notice.is_some()) {
                        view! { <NoticeRow message /> }.into_any()
                    } else {
                        view! { <MessageRow message /> }.into_any()
                    }
                }
            />
        </ul>
        <TypingLine />
    }
}

/// "Alice is typing…", announced politely; empty when nobody is.
#[component]
fn TypingLine() -> impl IntoView {
    let state = expect_context::<AppState>();
    let text = move || {
        let names: Vec<String> = state
            .typing()
            .with(|typing| typing.iter().map(|key| state.name_of(key)).collect());
        typing_text(&names)
    };
    view! { <p class="typing" role="status" aria-label="Typing" aria-live="polite">{text}</p> }
}

/// The sentence for who is typing.
pub(crate) fn typing_text(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [one, two] => format!("{one} and {two} are typing…"),
        [one, rest @ ..] => format!("{one} and {} others are typing…", rest.len()),
    }
}
