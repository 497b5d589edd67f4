//! The invite link with a Copy button.

use leptos::prelude::*;

use crate::platform::page;
use crate::state::AppState;

/// Shows the invite link (secret in its `#fragment`) and copies it.
#[component]
pub fn InvitePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let copied = RwSignal::new(None::<String>);
    let copy = move |_| {
        let link = state.invite_link.get_untracked();
        leptos::task::spawn_local(async move {
            let outcome = match page::copy_to_clipboard(&link).await {
                Ok(()) => "Copied".to_owned(),
                Err(_) => "Copy failed: select the link and copy it".to_owned(),
            };
            copied.set(Some(outcome));
        });
    };
    view! {
        <section class="panel invite">
            <h2 id="invite-heading">"Invite"</h2>
            <p class="hint">"Anyone with this link can join. The secret after # never reaches the server."</p>
            <div class="invite-row">
                <input
                    class="invite-link"
                    type="text"
                    readonly
                    aria-label="Invite link"
                    prop:value=move || state.invite_link.get()
                    on:focus=|ev| {
                        use wasm_bindgen::JsCast as _;
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            input.select();
                        }
                    }
                />
                <button type="button" class="button" on:click=copy>"Copy"</button>
            </div>
            <p class="copied" aria-live="polite">{move || copied.get()}</p>
        </section>
    }
}
