//! A line in the conversation saying what someone did to the room ("Alice removed Dave",
//! "Alice made Bob an admin", "Alice reset the invite link", "Dave left"): core's
//! governance actions that took effect, in room order among the messages.

use confab_core::MemberKey;
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
            m.notice
                .map(|notice| notice_text(m.author, notice, |key| state.name_of(key)))
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

/// The sentence for `notice`, done by `author`; `name_of` names a member ("You" for us).
pub(crate) fn notice_text(
    author: MemberKey,
    notice: GovernNotice,
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
    }
}
