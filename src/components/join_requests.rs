//! "Join requests": in a governed room that needs approval, who asks to join ("Dave wants
//! to join"), each with "Approve" and "Decline", shown to its owner and admins above the
//! composer (core lists the requests and says who may answer; see `GovernanceView`).

use leptos::prelude::*;

use crate::commands::Command;
use crate::state::{AppState, JoinRequest};
use crate::use_commands;

/// The open requests; nothing when there are none or we may not answer them.
#[component]
pub fn JoinRequests() -> impl IntoView {
    let state = expect_context::<AppState>();
    let requests = move || state.governance().with(|g| g.join_requests.clone());
    view! {
        <Show when=move || !requests().is_empty()>
            <section class="join-requests" role="region" aria-label="Join requests">
                <ul>
                    <For
                        each=requests
                        key=|request| (request.member, request.name.clone())
                        children=move |request| view! { <RequestRow request /> }
                    />
                </ul>
            </section>
        </Show>
    }
}

/// One request, with its answers.
#[component]
fn RequestRow(
    /// Who asks.
    request: JoinRequest,
) -> impl IntoView {
    let commands = use_commands();
    let member = request.member;
    let name = request.name.unwrap_or_else(|| "Someone".to_owned());
    let answer =
        Callback::new(move |admit: bool| commands.send(Command::AnswerJoin { member, admit }));
    view! {
        <li class="join-request">
            <span>{format!("{name} wants to join")}</span>
            <span class="button-row">
                <button class="button small primary" on:click=move |_| answer.run(true)>"Approve"</button>
                <button class="button small" on:click=move |_| answer.run(false)>"Decline"</button>
            </span>
        </li>
    }
}
