//! A line in the conversation saying what someone did to the room ("Alice removed Dave",
//! "Alice made Bob an admin", "Alice reset the invite link", "Dave left", "Alice turned on
//! approval for newcomers"): core's governance actions that took effect, in room order
//! among the messages.

use confab_core::MemberKey;
use confab_core::governance::{Backlog, Joining, Settings};
use confab_core::history::GovernNotice;
use leptos::prelude::*;

use crate::state::{AppState, MessageView};

/// One governance line of the conversation.
#[component]
pub fn NoticeRow(
    /// The line (a message whose `notice` is set), following its row in the list.
    message: Memo<MessageView>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let text = move || {
        message.with(|m| {
            let previous = previous_settings(&state, m.key);
            m.notice
                .map(|notice| notice_text(m.author, notice, previous, |key| state.name_of(key)))
                .unwrap_or_default()
        })
    };
    view! {
        <li class="governance-line">
            <span>{text}</span>
            " "
            <time datetime=move || message.with(|m| m.datetime.clone())>{move || message.with(|m| m.time.clone())}</time>
        </li>
    }
}

/// The settings a change at `key` changed: those of the change before it in room order
/// (the defaults before the first).
fn previous_settings(state: &AppState, key: confab_core::OrderKey) -> Settings {
    let messages = state.messages();
    messages.with(|messages| {
        messages
            .iter()
            .filter(|m| m.key < key)
            .filter_map(|m| match m.notice {
                Some(GovernNotice::Configured { settings }) => Some((m.key, settings)),
                _ => None,
            })
            .max_by_key(|(key, _)| *key)
            .map(|(_, settings)| settings)
            .unwrap_or_default()
    })
}

/// The sentence for `notice`, done by `author` (a settings change told against `previous`);
/// `name_of` names a member ("You" for us).
pub(crate) fn notice_text(
    author: MemberKey,
    notice: GovernNotice,
    previous: Settings,
    name_of: impl Fn(&MemberKey) -> String,
) -> String {
    let who = name_of(&author);
    // Someone done to reads "you" mid-sentence.
    let whom = |member: &MemberKey| match name_of(member) {
        name if name == "You" => "you".to_owned(),
        name => name,
    };
    match notice {
        GovernNotice::Removed { member } => format!("{who} removed {}", whom(&member)),
        GovernNotice::Left => format!("{who} left"),
        GovernNotice::Promoted { member } => format!("{who} made {} an admin", whom(&member)),
        GovernNotice::Demoted { member } => {
            format!(
                "{who} made {} a member again (no longer an admin)",
                whom(&member)
            )
        }
        GovernNotice::LinkReset => format!("{who} reset the invite link"),
        GovernNotice::Configured { settings } => {
            format!("{who} {}", settings_change(previous, settings))
        }
    }
}

/// What a settings change did, after its author's name ("turned on approval for newcomers;
/// set disappearing messages to 1 day").
fn settings_change(previous: Settings, settings: Settings) -> String {
    let mut changes = Vec::new();
    if previous.joining != settings.joining {
        changes.push(match settings.joining {
            Joining::Approval => "turned on approval for newcomers".to_owned(),
            Joining::Open => "let anyone with the link join".to_owned(),
        });
    }
    if previous.backlog != settings.backlog {
        changes.push(match settings.backlog {
            Backlog::SinceJoining => {
                "showed newcomers only messages from when they join".to_owned()
            }
            Backlog::All => "showed newcomers the whole history".to_owned(),
        });
    }
    if previous.disappear_after_secs != settings.disappear_after_secs {
        changes.push(match settings.disappear_after_secs {
            Some(secs) => format!(
                "set disappearing messages to {}",
                super::disappearing::describe(secs)
            ),
            None => "turned off disappearing messages".to_owned(),
        });
    }
    if changes.is_empty() {
        "changed the room's settings".to_owned()
    } else {
        changes.join("; ")
    }
}
