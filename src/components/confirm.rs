//! A confirmation before something that cannot be undone ("Remove Dave from this room?",
//! "Leave this room?"): a dialog named by its question, with the action's button and
//! "Cancel". Focus starts on "Cancel", and Escape cancels.

use leptos::prelude::*;

/// Asks `question`; `confirm` (the button's name, e.g. "Remove") runs `on_confirm`,
/// "Cancel" and Escape run `on_cancel`.
#[component]
pub fn ConfirmDialog(
    /// What is asked (the dialog's name).
    question: String,
    /// What it will do, in a sentence under the question.
    detail: String,
    /// The confirming button's name.
    confirm: &'static str,
    /// The user confirmed.
    on_confirm: Callback<()>,
    /// The user cancelled.
    on_cancel: Callback<()>,
) -> impl IntoView {
    let name = question.clone();
    let cancel_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move || {
        if let Some(button) = cancel_button.get() {
            let _ = button.focus();
        }
    });
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            on_cancel.run(());
        }
    };
    view! {
        <div class="confirm" role="dialog" aria-modal="true" aria-label=name on:keydown=on_keydown>
            <p class="confirm-question">{question}</p>
            <p class="hint">{detail}</p>
            <div class="button-row">
                <button class="button danger" on:click=move |_| on_confirm.run(())>{confirm}</button>
                <button class="button" node_ref=cancel_button on:click=move |_| on_cancel.run(())>"Cancel"</button>
            </div>
        </div>
    }
}
