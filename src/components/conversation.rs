//! The message list.

use leptos::html::Ul;
use leptos::prelude::*;

use crate::state::{AppState, MessageView};

/// The conversation, newest at the bottom; follows new messages.
#[component]
pub fn Conversation() -> impl IntoView {
    let state = expect_context::<AppState>();
    let list = NodeRef::<Ul>::new();
    // Scrolling is a DOM effect, not state: keep the newest message in view.
    Effect::new(move |_| {
        let count = state.messages.with(Vec::len);
        if let (Some(list), true) = (list.get(), count > 0) {
            list.set_scroll_top(list.scroll_height());
        }
    });
    view! {
        <Show when=move || state.messages.with(Vec::is_empty)>
            <p class="empty hint">"No messages yet. Messages are end-to-end encrypted."</p>
        </Show>
        <ul class="messages" aria-label="Messages" aria-live="polite" aria-relevant="additions" node_ref=list>
            <For
                each=move || state.messages.get()
                key=|message| message.id
                children=|message| view! { <MessageRow message /> }
            />
        </ul>
    }
}

/// One message; the text is inserted as a text node, never parsed as markup.
#[component]
fn MessageRow(
    /// The message to show.
    message: MessageView,
) -> impl IntoView {
    let class = if message.mine {
        "message mine"
    } else {
        "message theirs"
    };
    view! {
        <li class=class>
            <p class="meta">
                <span class="author">{message.author}</span>
                " "
                <time datetime=message.datetime>{message.time}</time>
            </p>
            <p class="text">{message.text}</p>
        </li>
    }
}
