//! The contacts list: everyone met in a room, with the safety number to compare, when
//! they were last seen, and "Block"/"Unblock" (also on their row in the Members list).

use leptos::prelude::*;

use confab_core::MemberKey;

use crate::commands::Command;
use crate::state::AppState;
use crate::use_commands;

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
                        let status = move || {
                            let seen = if online(key) { "online".to_owned() } else { format!("offline, last seen {last_seen}") };
                            if blocked(&state, key) == Some(true) { format!("blocked, {seen}") } else { seen }
                        };
                        view! {
                            <li class="contact">
                                <span class="member-name">{contact.name.clone()}</span>
                                // No one-to-one room with someone blocked connects.
                                <Show when=move || blocked(&state, key) != Some(true)>
                                    <a href=contact.chat_link.clone() class="link">{format!("Message {}", contact.name)}</a>
                                </Show>
                                <span class="member-status">{status}</span>
                                <span class="fingerprint">{format!("Key {}", contact.fingerprint)}</span>
                                <span class="member-actions"><BlockButton key /></span>
                            </li>
                        }
                    }
                />
            </ul>
        </section>
    }
}

/// "Block" (or "Unblock") someone we met: their messages are hidden in every room, no
/// one-to-one room with them connects, and nothing tells them. Nothing for someone who is
/// neither a contact (verified) nor a member of this governed room.
#[component]
pub fn BlockButton(
    /// Whom.
    key: MemberKey,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    // Only a change of this answer redraws the button (not every "last seen").
    let me = move || state.me().with(|me| me.as_ref().map(|me| me.key));
    // A governed room's member never verified here is no contact yet, and may be blocked
    // all the same (the driver makes their record from the room's governance).
    let blocked = Memo::new(move |_| {
        let member = move || state.governance().with(|g| g.rank_of(&key).is_some());
        blocked(&state, key)
            .or_else(|| member().then_some(false))
            .filter(|_| me() != Some(key))
    });
    move || {
        blocked.get().map(|blocked| {
            let commands = use_commands();
            let send = move |_| {
                commands.send(Command::SetBlocked {
                    member: key,
                    blocked: !blocked,
                })
            };
            let label = if blocked { "Unblock" } else { "Block" };
            view! { <button class="button small" on:click=send>{label}</button> }
        })
    }
}

/// Whether the user blocked contact `key` (`None`: no contact).
fn blocked(state: &AppState, key: MemberKey) -> Option<bool> {
    state
        .contacts()
        .with(|contacts| contacts.iter().find(|c| c.key == key).map(|c| c.blocked))
}
