//! Screens before the chat: the passphrase prompt, and the notice that another tab has
//! the profile.

use leptos::html::Input;
use leptos::prelude::*;

use crate::Boot;
use crate::state::{AppState, Phase};

/// Asks for the passphrase that protects the stored profile.
#[component]
pub fn UnlockScreen() -> impl IntoView {
    let state = expect_context::<AppState>();
    let boot = expect_context::<Boot>();
    let input = NodeRef::<Input>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(field) = input.get() {
            boot.unlock(field.value());
        }
    };
    let problem = move || match state.phase().get() {
        Phase::Locked(Some(problem)) => {
            Some(view! { <p class="notice" role="alert">{problem}</p> })
        }
        _ => None,
    };
    view! {
        <main class="gate">
            <form class="panel gate-panel" on:submit=on_submit>
                <h1>"Unlock Confab"</h1>
                <p class="hint">"Your keys and history on this device are encrypted with your passphrase."</p>
                <input type="password" aria-label="Passphrase" autocomplete="current-password" node_ref=input autofocus />
                <button type="submit" class="button primary">"Unlock"</button>
                {problem}
            </form>
        </main>
    }
}

/// Only one tab may write the profile.
#[component]
pub fn OtherTabScreen() -> impl IntoView {
    view! {
        <main class="gate">
            <section class="panel gate-panel" role="alert">
                <h1>"Confab is open in another tab"</h1>
                <p class="hint">"Only one tab can use your profile at a time, so that nothing is written twice. Switch to that tab, or close it and reload this one."</p>
            </section>
        </main>
    }
}
