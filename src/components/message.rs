//! One message: author, time, text (its Markdown drawn from `crate::markdown`'s tree as
//! elements and text nodes, never as HTML), reply quote, reactions, receipts for our own,
//! and its actions.

use confab_core::{EventId, MemberKey};
use leptos::prelude::*;

use super::emoji::EmojiPicker;
use super::file::FileCard;
use crate::commands::Command;
use crate::markdown::{self, Block, Inline};

use crate::state::{AppState, MessageView};
use crate::use_commands;

/// The one-tap reaction offered on every message.
const QUICK_REACTION: &str = crate::emoji::QUICK_REACTIONS[0];

/// One row of the conversation. The row lives as long as the message is shown and
/// follows it (`message` changes with edits, deletes and reactions): only the parts that
/// changed are redrawn, so a button the user is on keeps focus while, say, a reaction lands.
#[component]
pub fn MessageRow(
    /// The message to show, as it changes.
    #[prop(into)]
    message: Signal<MessageView>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let first = message.get_untracked();
    let (id, author, mine, mentions_me) = (first.id, first.author, first.mine, first.mentions_me);
    let deleted = Memo::new(move |_| message.with(|m| m.deleted));
    // Nothing to act on or to receipt: the content is not here (yet).
    let gone = Memo::new(move |_| message.with(|m| m.deleted || m.unavailable));
    let class = move || match (mine, deleted.get(), mentions_me) {
        (_, true, _) => "message deleted",
        (true, false, _) => "message mine",
        (false, false, true) => "message theirs mentions-me",
        (false, false, false) => "message theirs",
    };
    let quote = first.reply_to.map(|target| {
        let quoted = state.messages().with_untracked(|messages| {
            messages
                .iter()
                .find(|m| m.id == target)
                .map(|m| (state.name_of(&m.author), m.text.clone()))
        });
        let (who, text) = quoted.unwrap_or_else(|| ("Someone".into(), "an earlier message".into()));
        view! { <blockquote class="quote">{format!("{who}: {text}")}</blockquote> }
    });
    let body = Memo::new(move |_| message.with(|m| (m.deleted, m.unavailable, m.text.clone())));
    let file = first.file.clone();
    let text = move || {
        let (deleted, unavailable, text) = body.get();
        if deleted {
            view! { <p class="text gone">"This message was deleted."</p> }.into_any()
        } else if unavailable {
            view! { <p class="text gone">"Message unavailable"</p> }.into_any()
        } else if let Some(file) = file.clone() {
            let caption = (!text.is_empty()).then(|| text_view(&text));
            view! { <FileCard id=id file=file mine=mine />{caption} }.into_any()
        } else {
            text_view(&text)
        }
    };
    let edited = move || {
        message
            .with(|m| m.edited && !m.deleted)
            .then(|| view! { <span class="edited">" (edited)"</span> })
    };
    let reactions = Memo::new(move |_| message.with(|m| m.reactions.clone()));
    let for_receipt = first.clone();
    let receipt = move || {
        (mine && !gone.get()).then(|| view! { <ReceiptLine message=for_receipt.clone() /> })
    };
    // Removed from the room (or not let in yet): nothing can be sent, so nothing is offered.
    let shut_out = Memo::new(move |_| state.governance().with(|g| !g.may_post()));
    let actions =
        move || (!gone.get() && !shut_out.get()).then(|| view! { <Actions id mine reactions /> });
    view! {
        <li class=class>
            <p class="meta">
                <span class="author">{move || state.name_of(&author)}</span>
                " "
                <time datetime=first.datetime.clone()>{first.time.clone()}</time>
                {edited}
            </p>
            {quote}
            {text}
            <Reactions id reactions />
            {receipt}
            {actions}
        </li>
    }
}

/// A message's text with its Markdown: one paragraph is a `p.text` (as plain messages
/// always were), anything else a `div.text` of blocks.
fn text_view(text: &str) -> AnyView {
    let mut blocks = markdown::parse(text);
    if let [Block::Paragraph(pieces)] = blocks.as_mut_slice() {
        let pieces = std::mem::take(pieces);
        return view! { <p class="text">{inline_views(pieces)}</p> }.into_any();
    }
    let blocks: Vec<AnyView> = blocks
        .into_iter()
        .map(|block| match block {
            Block::Paragraph(pieces) => view! { <p>{inline_views(pieces)}</p> }.into_any(),
            Block::Quote(pieces) => {
                view! { <blockquote>{inline_views(pieces)}</blockquote> }.into_any()
            }
            Block::Code(code) => view! { <pre><code>{code}</code></pre> }.into_any(),
        })
        .collect();
    view! { <div class="text">{blocks}</div> }.into_any()
}

/// Inline pieces as text nodes and elements (at most two spans deep, see `markdown`).
fn inline_views(pieces: Vec<Inline>) -> Vec<AnyView> {
    pieces
        .into_iter()
        .map(|piece| match piece {
            Inline::Text(text) => text.into_any(),
            Inline::Strong(inner) => view! { <strong>{inline_views(inner)}</strong> }.into_any(),
            Inline::Emphasis(inner) => view! { <em>{inline_views(inner)}</em> }.into_any(),
            Inline::Code(code) => view! { <code>{code}</code> }.into_any(),
            Inline::Link { text, url } => {
                // The target is always what the link says; `markdown` let through only
                // http, https and mailto (checked again here, cheaply).
                if !markdown::may_link(&url) {
                    return url.into_any();
                }
                let href = url.clone();
                let link = view! {
                    <a href=href target="_blank" rel="noopener noreferrer">{url}</a>
                };
                match text {
                    Some(text) => view! { {text}" ("{link}")" }.into_any(),
                    None => link.into_any(),
                }
            }
        })
        .collect()
}

/// Reaction chips: each toggles our own reaction with that emoji. A chip stays the same
/// element while its count changes (keyed by its emoji), so focus stays on it.
#[component]
fn Reactions(
    /// The message reacted to.
    id: EventId,
    /// Its reactions: emoji and who reacted with it.
    reactions: Memo<Vec<(String, Vec<MemberKey>)>>,
) -> impl IntoView {
    let emojis =
        move || reactions.with(|r| r.iter().map(|(emoji, _)| emoji.clone()).collect::<Vec<_>>());
    view! {
        <For each=emojis key=|emoji| emoji.clone() let:emoji>
            <ReactionChip id emoji reactions />
        </For>
    }
}

/// One emoji's chip: its count, who (in the tooltip), and whether we are among them.
#[component]
fn ReactionChip(
    id: EventId,
    emoji: String,
    reactions: Memo<Vec<(String, Vec<MemberKey>)>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let me = state.me().get_untracked().map(|m| m.key);
    let by = {
        let emoji = emoji.clone();
        Memo::new(move |_| {
            reactions.with(|r| {
                r.iter()
                    .find(|(e, _)| *e == emoji)
                    .map(|(_, by)| by.clone())
                    .unwrap_or_default()
            })
        })
    };
    let mine = move || me.is_some_and(|me| by.with(|by| by.contains(&me)));
    let count = move || by.with(Vec::len);
    let label = {
        let emoji = emoji.clone();
        move || format!("{emoji} {}, react", count())
    };
    let title = {
        let emoji = emoji.clone();
        move || {
            let names: Vec<String> =
                by.with(|by| by.iter().map(|key| state.name_of(key)).collect());
            format!("{emoji} {} by {}", names.len(), names.join(", "))
        }
    };
    let shown = {
        let emoji = emoji.clone();
        move || format!("{emoji} {}", count())
    };
    let toggle = move |_| {
        let on = !by.with_untracked(|by| me.is_some_and(|me| by.contains(&me)));
        commands.send(Command::React {
            target: id,
            emoji: emoji.clone(),
            on,
        })
    };
    view! {
        <button type="button" class="reaction" aria-pressed=move || mine().to_string() title=title aria-label=label on:click=toggle>
            {shown}
        </button>
    }
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

/// Reply, a quick 👍, "Add reaction" (the emoji picker: the six most common first, then
/// search), and for our own messages edit and delete. Reacting with an emoji we already
/// reacted with takes it back.
#[component]
fn Actions(
    /// The message acted on (not deleted).
    id: EventId,
    /// It is ours: it can be edited and deleted.
    mine: bool,
    /// Its reactions, read when one is toggled.
    reactions: Memo<Vec<(String, Vec<MemberKey>)>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let me = state.me().get_untracked().map(|m| m.key);
    let reacted = move |glyph: &str| {
        me.is_some_and(|me| {
            reactions.with_untracked(|reactions| {
                reactions
                    .iter()
                    .any(|(emoji, by)| emoji == glyph && by.contains(&me))
            })
        })
    };
    let toggle = {
        let commands = commands.clone();
        move |glyph: String| {
            let on = !reacted(&glyph);
            commands.send(Command::React {
                target: id,
                emoji: glyph,
                on,
            })
        }
    };
    let react = {
        let toggle = toggle.clone();
        move |_| toggle(QUICK_REACTION.to_owned())
    };
    let picking = RwSignal::new(false);
    let add_button = NodeRef::<leptos::html::Button>::new();
    let pick = Callback::new(move |glyph: String| {
        picking.set(false);
        toggle(glyph);
    });
    let close = Callback::new(move |()| {
        picking.set(false);
        if let Some(button) = add_button.get_untracked() {
            let _ = button.focus();
        }
    });
    let own = mine.then(|| {
        let delete = move |_| commands.send(Command::Delete(id));
        view! {
            <button type="button" class="link" on:click=move |_| state.edit(id)>"Edit"</button>
            <button type="button" class="link" on:click=delete>"Delete"</button>
        }
    });
    view! {
        <p class="actions">
            <button type="button" class="link" on:click=move |_| state.reply_to(id)>"Reply"</button>
            <button type="button" class="link" aria-label=format!("React with {QUICK_REACTION}") on:click=react>{QUICK_REACTION}</button>
            <button type="button" class="link" aria-label="Add reaction" title="Add reaction"
                aria-haspopup="dialog" aria-expanded=move || picking.get().to_string()
                node_ref=add_button on:click=move |_| picking.update(|open| *open = !*open)>
                "+😀"
            </button>
            {own}
        </p>
        <Show when=move || picking.get()>
            <EmojiPicker on_pick=pick on_close=close />
        </Show>
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "message_tests.rs"]
mod tests;
