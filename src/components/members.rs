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
        state.members.with(|members| {
            members
                .iter()
                .filter(|m| m.status != MemberStatus::Connecting)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let connecting = move || {
        state.members.with(|members| {
            members
                .iter()
                .filter(|m| m.status == MemberStatus::Connecting)
                .count()
        })
    };
    let empty = move || state.members.with(|members| members.is_empty());
    view! {
        <section class="panel members">
            <h2>"Members"</h2>
            <Show when=empty>
                <p class="hint">"Nobody else is here yet. Share the invite link."</p>
            </Show>
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
