//! The member list: who is in the room, verified how, and their key fingerprints.

use leptos::prelude::*;

use crate::state::{AppState, Member, MemberStatus, Path};

/// Lists members with presence and fingerprint.
#[component]
pub fn MemberList() -> impl IntoView {
    let state = expect_context::<AppState>();
    let empty = move || state.members.with(|members| members.is_empty());
    view! {
        <section class="panel members">
            <h2>"Members"</h2>
            <Show when=empty>
                <p class="hint">"Nobody else is here yet. Share the invite link."</p>
            </Show>
            <ul aria-label="Members" class="member-list">
                <For
                    each=move || state.members.get()
                    key=|member| (member.peer, member.status.clone(), member.name.clone())
                    children=|member| view! { <MemberRow member /> }
                />
            </ul>
        </section>
    }
}

/// One member.
#[component]
fn MemberRow(
    /// The member to show.
    member: Member,
) -> impl IntoView {
    let (status, class) = match &member.status {
        MemberStatus::Connecting => ("connecting…".to_owned(), "connecting"),
        MemberStatus::Online(Path::Relay) => ("online, encrypted (via relay)".to_owned(), "online"),
        MemberStatus::Online(_) => ("online, encrypted (direct)".to_owned(), "online"),
        MemberStatus::Left => ("left".to_owned(), "left"),
        MemberStatus::Failed(reason) => (format!("not verified: {reason}"), "failed"),
    };
    let name = member.name.clone().unwrap_or_else(|| "Someone".to_owned());
    view! {
        <li class=format!("member {class}")>
            <span class="presence" aria-hidden="true"></span>
            <span class="member-name">{name}</span>
            <span class="member-status">{status}</span>
            {member.fingerprint.map(|f| view! { <span class="fingerprint">{format!("Key {f}")}</span> })}
        </li>
    }
}
