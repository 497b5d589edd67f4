//! The page's notices, each with Dismiss: the lasting ones (a matter each: why the call
//! ended, the room's record not saved; `state/notices.rs`), then the general one. Several
//! show at once, so a later notice never hides an earlier matter.

use leptos::prelude::*;

use crate::state::{AppState, Topic};

/// Every notice the page holds now.
#[component]
pub fn Notices() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <For
            each=move || state.lasting_notices().get()
            key=|(topic, text)| (*topic, text.clone())
            let((topic, text))
        >
            <Notice topic=Some(topic) text />
        </For>
        {move || state.notice().get().map(|text| view! { <Notice topic=None text /> })}
    }
}

/// One notice: what it says, and Dismiss.
#[component]
fn Notice(
    /// What it is about (`None`: the general notice).
    topic: Option<Topic>,
    /// What it says.
    text: String,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div class="notice dismissible">
            <p role="alert">{text}</p>
            <button type="button" class="button small" on:click=move |_| state.dismiss_notice(topic)>
                "Dismiss"
            </button>
        </div>
    }
}
