//! The contacts list: everyone met in a room, with the safety number to compare and when
//! they were last seen.

use leptos::prelude::*;

use crate::state::AppState;

/// Lists the people we have met.
#[component]
pub fn ContactsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let empty = move || state.contacts().with(Vec::is_empty);
    // Online: verified in this room right now.
    let online = move |key| {
        state.members().with(|members| {
            members.iter().any(|m| {
                m.key == Some(key) && matches!(m.status, crate::state::MemberStatus::Online(_))
            })
        })
    };
    view! {
        <section class="panel contacts">
            <h2>"Contacts"</h2>
            <Show when=empty>
                <p class="hint">"People you meet in rooms are kept here."</p>
            </Show>
            <ul aria-label="Contacts" class="contact-list">
                <For
                    each=move || state.contacts().get()
                    key=|contact| (contact.key, contact.name.clone(), contact.last_seen.clone())
                    children=move |contact| {
                        let key = contact.key;
                        let last_seen = contact.last_seen.clone();
                        let status = move || if online(key) { "online".to_owned() } else { format!("offline, last seen {last_seen}") };
                        view! {
                            <li class="contact">
                                <span class="member-name">{contact.name.clone()}</span>
                                <a href=contact.chat_link class="link">{format!("Message {}", contact.name)}</a>
                                <span class="member-status">{status}</span>
                                <span class="fingerprint">{format!("Key {}", contact.fingerprint)}</span>
                            </li>
                        }
                    }
                />
            </ul>
        </section>
    }
}
