//! One message: author, time, text (always as text, never markup), reply quote,
//! reactions, receipts for our own, and its actions.

use leptos::prelude::*;

use super::file::FileCard;
use crate::driver::Command;
use crate::state::{AppState, Draft, MessageView};
use crate::use_commands;

/// The one-tap reaction offered on every message.
const QUICK_REACTION: &str = "👍";

/// One row of the conversation.
#[component]
pub fn MessageRow(
    /// The message to show.
    message: MessageView,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let class = match (message.mine, message.deleted) {
        (_, true) => "message deleted",
        (true, false) => "message mine",
        (false, false) => "message theirs",
    };
    let author = state.name_of(&message.author);
    let quote = message.reply_to.map(|target| {
        let quoted = state.messages.with_untracked(|messages| {
            messages
                .iter()
                .find(|m| m.id == target)
                .map(|m| (state.name_of(&m.author), m.text.clone()))
        });
        let (who, text) = quoted.unwrap_or_else(|| ("Someone".into(), "an earlier message".into()));
        view! { <blockquote class="quote">{format!("{who}: {text}")}</blockquote> }
    });
    let text = if message.deleted {
        view! { <p class="text gone">"This message was deleted."</p> }.into_any()
    } else if let Some(file) = message.file.clone() {
        let caption = (!message.text.is_empty())
            .then(|| view! { <p class="text">{message.text.clone()}</p> });
        view! { <FileCard id=message.id file=file mine=message.mine />{caption} }.into_any()
    } else {
        view! { <p class="text">{message.text.clone()}</p> }.into_any()
    };
    let edited = (message.edited && !message.deleted)
        .then(|| view! { <span class="edited">" (edited)"</span> });
    let show_receipt = message.mine && !message.deleted;
    let (for_reactions, for_receipt, for_actions) =
        (message.clone(), message.clone(), message.clone());
    view! {
        <li class=class>
            <p class="meta">
                <span class="author">{author}</span>
                " "
                <time datetime=message.datetime.clone()>{message.time.clone()}</time>
                {edited}
            </p>
            {quote}
            {text}
            <Reactions message=for_reactions />
            {show_receipt.then(|| view! { <ReceiptLine message=for_receipt /> })}
            <Actions message=for_actions />
        </li>
    }
}

/// Reaction chips: each toggles our own reaction with that emoji.
#[component]
fn Reactions(
    /// The message reacted to.
    message: MessageView,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let me = state.me.get_untracked().map(|m| m.key);
    message
        .reactions
        .iter()
        .map(|(emoji, by)| {
            let names: Vec<String> = by.iter().map(|key| state.name_of(key)).collect();
            let mine = me.is_some_and(|me| by.contains(&me));
            let label = format!("{emoji} {} by {}", by.len(), names.join(", "));
            let (target, emoji_owned, commands) = (message.id, emoji.clone(), commands.clone());
            let toggle = move |_| {
                commands.send(Command::React {
                    target,
                    emoji: emoji_owned.clone(),
                    on: !mine,
                })
            };
            view! {
                <button type="button" class="reaction" aria-pressed=mine.to_string() title=label.clone() aria-label=label on:click=toggle>
                    {format!("{emoji} {}", by.len())}
                </button>
            }
        })
        .collect_view()
}

/// "Sent" / "Delivered to N" / "Read by N" (names in the tooltip), or pending while
/// nobody has it yet (it waits in our history and goes out when someone is back).
#[component]
fn ReceiptLine(
    /// One of our messages.
    message: MessageView,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let receipt = Memo::new(move |_| state.receipt(&message));
    let text = move || {
        let receipt = receipt.get();
        if !receipt.read.is_empty() {
            format!("Read by {}", receipt.read.len())
        } else if !receipt.delivered.is_empty() {
            format!("Delivered to {}", receipt.delivered.len())
        } else {
            "Pending: delivered when someone is online".to_owned()
        }
    };
    let title = move || {
        let receipt = receipt.get();
        format!(
            "Delivered to: {}\nRead by: {}",
            list_or_nobody(&receipt.delivered),
            list_or_nobody(&receipt.read)
        )
    };
    view! { <p class="receipt" title=title>{text}</p> }
}

fn list_or_nobody(names: &[String]) -> String {
    if names.is_empty() {
        "nobody yet".to_owned()
    } else {
        names.join(", ")
    }
}

/// Reply, quick reaction, and for our own messages edit and delete.
#[component]
fn Actions(
    /// The message acted on.
    message: MessageView,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    if message.deleted {
        return ().into_any();
    }
    let id = message.id;
    let me = state.me.get_untracked().map(|m| m.key);
    let reacted = me.is_some_and(|me| {
        message
            .reactions
            .iter()
            .any(|(emoji, by)| emoji == QUICK_REACTION && by.contains(&me))
    });
    let react = {
        let commands = commands.clone();
        move |_| {
            commands.send(Command::React {
                target: id,
                emoji: QUICK_REACTION.to_owned(),
                on: !reacted,
            })
        }
    };
    let own = message.mine.then(|| {
        let delete = move |_| commands.send(Command::Delete(id));
        view! {
            <button type="button" class="link" on:click=move |_| state.draft.set(Draft::Edit(id))>"Edit"</button>
            <button type="button" class="link" on:click=delete>"Delete"</button>
        }
    });
    view! {
        <p class="actions">
            <button type="button" class="link" on:click=move |_| state.draft.set(Draft::Reply(id))>"Reply"</button>
            <button type="button" class="link" aria-label=format!("React with {QUICK_REACTION}") on:click=react>{QUICK_REACTION}</button>
            {own}
        </p>
    }
    .into_any()
}
