//! The contacts list: everyone met in a room, with the safety number to compare and when
//! they were last seen.

use leptos::prelude::*;

use crate::state::AppState;

/// Lists the people we have met.
#[component]
pub fn ContactsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let empty = move || state.contacts.with(Vec::is_empty);
    view! {
        <section class="panel contacts">
            <h2>"Contacts"</h2>
            <Show when=empty>
                <p class="hint">"People you meet in rooms are kept here."</p>
            </Show>
            <ul aria-label="Contacts" class="contact-list">
                <For
                    each=move || state.contacts.get()
                    key=|contact| (contact.key, contact.name.clone(), contact.last_seen.clone())
                    children=|contact| view! {
                        <li class="contact">
                            <span class="member-name">{contact.name}</span>
                            <span class="member-status">{format!("last seen {}", contact.last_seen)}</span>
                            <span class="fingerprint">{format!("Key {}", contact.fingerprint)}</span>
                        </li>
                    }
                />
            </ul>
        </section>
    }
}
