//! The member list: who is in the room, verified how, and their key fingerprints.

use leptos::prelude::*;

use confab_core::Presence;

use crate::state::{AppState, Member, MemberStatus, Path};

/// Lists members with presence and fingerprint.
#[component]
pub fn MemberList() -> impl IntoView {
    let state = expect_context::<AppState>();
    // Links still handshaking are not people yet: counted, not listed.
    let shown = move || {
        state.members().with(|members| {
            members
                .iter()
                .filter(|m| m.status != MemberStatus::Connecting)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let connecting = move || {
        state.members().with(|members| {
            members
                .iter()
                .filter(|m| m.status == MemberStatus::Connecting)
                .count()
        })
    };
    let alone = move || {
        let online = state.members().with(|members| {
            members
                .iter()
                .any(|m| matches!(m.status, MemberStatus::Online(_)))
        });
        match (online || connecting() != 0, met_someone(&state)) {
            (true, _) => None,
            (false, false) => Some("Nobody else is here yet. Share the invite link."),
            (false, true) => Some(
                "Nobody else is here right now — messages will be delivered when they come back.",
            ),
        }
    };
    view! {
        <section class="panel members">
            <h2>"Members"</h2>
            {move || alone().map(|text| view! { <p class="hint" role="status">{text}</p> })}
            <ul aria-label="Members" class="member-list">
                <For
                    each=shown
                    key=|member| (member.peer, member.status.clone(), member.name.clone(), member.presence, member.warning.clone())
                    children=|member| view! { <MemberRow member /> }
                />
            </ul>
            <Show when=move || connecting() != 0>
                <p class="hint">{move || format!("Connecting to {} more…", connecting())}</p>
            </Show>
        </section>
    }
}

/// Someone else was in this room: a member row (even one that left) or a message of theirs.
fn met_someone(state: &AppState) -> bool {
    state.members().with(|members| !members.is_empty())
        || state
            .messages()
            .with(|messages| messages.iter().any(|m| !m.mine))
}

/// One member.
#[component]
fn MemberRow(
    /// The member to show.
    member: Member,
) -> impl IntoView {
    let (presence, class) = match (&member.status, member.presence) {
        (MemberStatus::Online(_), Presence::Online) => ("online", "online"),
        (MemberStatus::Online(_), Presence::Away) => ("away", "away"),
        (MemberStatus::Connecting, _) => ("connecting…", "connecting"),
        (MemberStatus::Left, _) => ("offline", "left"),
        (MemberStatus::Failed(_), _) => ("offline", "failed"),
    };
    let status = match &member.status {
        MemberStatus::Online(Path::Relay) => format!("{presence}, encrypted (via relay)"),
        MemberStatus::Online(_) => format!("{presence}, encrypted (direct)"),
        MemberStatus::Left => "left".to_owned(),
        MemberStatus::Failed(reason) => format!("not verified: {reason}"),
        MemberStatus::Connecting => presence.to_owned(),
    };
    let name = member.name.clone().unwrap_or_else(|| "Someone".to_owned());
    view! {
        <li class=format!("member {class}")>
            <span class="presence" aria-hidden="true"></span>
            <span class="member-name">{name}</span>
            <span class="member-status">{status}</span>
            {member.fingerprint.map(|f| view! { <span class="fingerprint">{format!("Key {f}")}</span> })}
            {member.warning.map(|w| view! { <span class="member-warning" role="alert">{w}</span> })}
        </li>
    }
}
