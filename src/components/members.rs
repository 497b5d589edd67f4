//! The member list: who is in the room, verified how, and their key fingerprints. In a
//! governed room also everyone else in it who is offline, each member's rank after their
//! name ("Owner", "Admin"), and what we may do about them ("Make admin", "Remove admin",
//! "Remove from room", the last after a confirmation): core decides who may do what
//! (`GovernanceView`'s powers); this view only shows it.

use leptos::prelude::*;

use confab_core::{MemberKey, Presence};

use super::confirm::ConfirmDialog;
use super::contacts::BlockButton;
use crate::commands::Command;
use crate::state::{AppState, Member, MemberStatus, Path, Rank};
use crate::use_commands;

/// Lists members with presence and fingerprint.
#[component]
pub fn MemberList() -> impl IntoView {
    let state = expect_context::<AppState>();
    // Links still handshaking are not people yet: counted, not listed. Nor is a newcomer
    // asking to join a member yet (admins see it under "Join requests").
    let shown = move || {
        let asking = move |m: &Member| {
            m.key
                .is_some_and(|key| state.governance().with(|g| g.is_asking(&key)))
        };
        state.members().with(|members| {
            members
                .iter()
                .filter(|m| m.status != MemberStatus::Connecting && !asking(m))
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
            // The room moved on: "This invite link is no longer valid" says why.
            _ if state.link_superseded().get() => None,
            (true, _) => None,
            (false, false) => Some("Nobody else is here yet. Share the invite link."),
            (false, true) => Some(
                "Nobody else is here right now — messages will be delivered when they come back.",
            ),
        }
    };
    // Whose removal is being confirmed.
    let confirming = RwSignal::new(None::<MemberKey>);
    view! {
        <section class="panel members">
            <h2>"Members"</h2>
            {move || alone().map(|text| view! { <p class="hint" role="status">{text}</p> })}
            <ul aria-label="Members" class="member-list">
                <For
                    each=shown
                    key=|member| (member.peer, member.status.clone(), member.name.clone(), member.presence, member.warning.clone())
                    children=move |member| view! { <MemberRow member confirming /> }
                />
                <For
                    each=move || absent(&state)
                    key=|key| *key
                    children=move |key| view! { <AbsentRow key confirming /> }
                />
            </ul>
            {move || confirming.get().map(|member| view! { <RemoveDialog member confirming /> })}
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

/// A governed room's members who are not on a row of their own (offline), but us.
fn absent(state: &AppState) -> Vec<MemberKey> {
    let me = state.me().with(|me| me.as_ref().map(|me| me.key));
    let listed: Vec<MemberKey> = state
        .members()
        .with(|members| members.iter().filter_map(|m| m.key).collect());
    state.governance().with(|governance| {
        governance
            .members
            .iter()
            .map(|m| m.key)
            .filter(|key| Some(*key) != me && !listed.contains(key))
            .collect()
    })
}

/// A governed room's member who is offline.
#[component]
fn AbsentRow(
    /// Who.
    key: MemberKey,
    /// Whose removal is being confirmed.
    confirming: RwSignal<Option<MemberKey>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <li class="member left">
            <span class="presence" aria-hidden="true"></span>
            <span class="member-name">{move || state.name_of(&key)}<RankLabel key /></span>
            <span class="member-status">"offline"</span>
            <RowActions key confirming />
        </li>
    }
}

/// "Owner" or "Admin" after a governed room member's name (nothing for a member).
#[component]
fn RankLabel(
    /// Whose.
    key: MemberKey,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let label = move || match state.governance().with(|g| g.rank_of(&key)) {
        Some(Rank::Owner) => Some("Owner"),
        Some(Rank::Admin) => Some("Admin"),
        Some(Rank::Member) | None => None,
    };
    move || label().map(|label| view! { " " <span class="member-rank">{label}</span> })
}

/// A row's buttons, sharing one line that wraps: what core lets us do about a governed
/// room's member, then "Block" (the line is hidden while it holds no button).
#[component]
fn RowActions(
    /// About whom.
    key: MemberKey,
    /// Set to `key` to confirm removing them.
    confirming: RwSignal<Option<MemberKey>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <span class="member-actions">
            <Show when=move || state.governance().with(|g| g.governed)>
                <MemberActions key confirming />
            </Show>
            <BlockButton key />
        </span>
    }
}

/// What we may do about a governed room's member, as core allows it.
#[component]
fn MemberActions(
    /// About whom.
    key: MemberKey,
    /// Set to `key` to confirm removing them.
    confirming: RwSignal<Option<MemberKey>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let powers = move || {
        state.governance().with(|g| {
            g.members
                .iter()
                .find(|m| m.key == key)
                .map(|m| m.powers)
                .unwrap_or_default()
        })
    };
    let set_admin =
        Callback::new(move |admin: bool| commands.send(Command::SetAdmin { member: key, admin }));
    view! {
        <Show when=move || powers().promote>
            <button class="button small" on:click=move |_| set_admin.run(true)>"Make admin"</button>
        </Show>
        <Show when=move || powers().demote>
            <button class="button small" on:click=move |_| set_admin.run(false)>"Remove admin"</button>
        </Show>
        <Show when=move || powers().remove>
            <button class="button small" on:click=move |_| confirming.set(Some(key))>"Remove from room"</button>
        </Show>
    }
}

/// Confirms removing `member` from the room.
#[component]
fn RemoveDialog(
    /// Whom.
    member: MemberKey,
    /// Cleared when the dialog closes.
    confirming: RwSignal<Option<MemberKey>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let name = state.name_of(&member);
    let on_confirm = Callback::new(move |()| {
        commands.send(Command::RemoveMember(member));
        confirming.set(None);
    });
    view! {
        <ConfirmDialog
            question=format!("Remove {name} from this room?")
            detail=format!("{name} keeps what was said so far but will not see anything said from now on: the room moves to a new invite link, which everyone else follows.")
            confirm="Remove"
            on_confirm
            on_cancel=Callback::new(move |()| confirming.set(None))
        />
    }
}

/// One member.
#[component]
fn MemberRow(
    /// The member to show.
    member: Member,
    /// Whose removal is being confirmed.
    confirming: RwSignal<Option<MemberKey>>,
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
            <span class="member-name">{name}{member.key.map(|key| view! { <RankLabel key /> })}</span>
            <span class="member-status">{status}</span>
            {member.fingerprint.map(|f| view! { <span class="fingerprint">{format!("Key {f}")}</span> })}
            {member.warning.map(|w| view! { <span class="member-warning" role="alert">{w}</span> })}
            {member.key.map(|key| view! { <RowActions key confirming /> })}
        </li>
    }
}
