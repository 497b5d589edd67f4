//! Component tests of the composer's parts: Markdown in messages, the emoji picker,
//! reactions, mentions and a room's mute.

use leptos::prelude::*;
use wasm_bindgen_test::*;

use super::Conversation;
use super::tests::{
    fresh_parent, member, message, message_box, posts_and_drafts, press_enter, test_commands,
    type_text,
};
use crate::state::AppState;
use wasm_bindgen::JsCast as _;

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts a conversation of messages by Bob with these texts.
fn conversation_of(texts: &[&'static str]) -> (web_sys::HtmlElement, impl Drop) {
    let parent = fresh_parent();
    let texts: Vec<&'static str> = texts.to_vec();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.set_messages(
            texts
                .iter()
                .enumerate()
                .map(|(idx, text)| message(idx as u8 + 1, member(2), text))
                .collect(),
        );
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    (parent, handle)
}

#[wasm_bindgen_test]
async fn markdown_becomes_elements_and_html_in_a_message_stays_text() {
    let (parent, _handle) = conversation_of(&[
        "**bold** *it* `code` [docs](https://docs.rs) [x](javascript:alert(1))",
        "> quoted <img src=x onerror=alert(1)>\n```\n<script>alert(1)</script>\n```",
    ]);
    leptos::task::tick().await;
    let one = |selector: &str| parent.query_selector(selector).unwrap();
    let all = |selector: &str| parent.query_selector_all(selector).unwrap().length();
    assert_eq!(one(".text strong").unwrap().text_content().unwrap(), "bold");
    assert_eq!(one(".text em").unwrap().text_content().unwrap(), "it");
    assert_eq!(one(".text code").unwrap().text_content().unwrap(), "code");
    // One link, its target shown, opened apart from this page.
    assert_eq!(all(".text a"), 1);
    let link = one(".text a").unwrap();
    assert_eq!(link.get_attribute("href").unwrap(), "https://docs.rs");
    assert_eq!(link.text_content().unwrap(), "https://docs.rs");
    assert_eq!(link.get_attribute("target").unwrap(), "_blank");
    assert_eq!(link.get_attribute("rel").unwrap(), "noopener noreferrer");
    let first = one("li:first-child .text").unwrap().text_content().unwrap();
    assert_eq!(
        first,
        "bold it code docs (https://docs.rs) [x](javascript:alert(1))"
    );
    // Quote and code block as elements; their markup as text.
    assert_eq!(
        one(".text blockquote").unwrap().text_content().unwrap(),
        "quoted <img src=x onerror=alert(1)>"
    );
    assert_eq!(
        one(".text pre code").unwrap().text_content().unwrap(),
        "<script>alert(1)</script>"
    );
    assert_eq!(all("img, script, [onerror]"), 0, "{}", parent.inner_html());
}

/// The element `selector` finds under `parent`, as an `HtmlElement`.
fn find(parent: &web_sys::Element, selector: &str) -> Option<web_sys::HtmlElement> {
    parent
        .query_selector(selector)
        .unwrap()
        .map(|element| element.unchecked_into())
}

fn focused() -> Option<web_sys::Element> {
    web_sys::window()?.document()?.active_element()
}

fn press(element: &web_sys::HtmlElement, key: &str) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    element.dispatch_event(&event).unwrap();
}

fn search_for(dialog: &web_sys::HtmlElement, query: &str) {
    let search: web_sys::HtmlInputElement = find(dialog, "input[aria-label='Search emoji']")
        .expect("a search box")
        .unchecked_into();
    search.set_value(query);
    let input = web_sys::Event::new_with_event_init_dict("input", &{
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        init
    })
    .unwrap();
    search.dispatch_event(&input).unwrap();
}

const EMOJI_DIALOG: &str = "[role=dialog][aria-label=Emoji]";

#[wasm_bindgen_test]
async fn the_emoji_picker_inserts_at_the_caret_and_escape_returns_focus() {
    let parent = fresh_parent();
    let commands = test_commands();
    let _handle = leptos::mount::mount_to(parent.clone(), {
        let commands = commands.clone();
        move || {
            provide_context(crate::platform::device::Device::new());
            provide_context(AppState::new());
            provide_context(commands);
            view! { <super::Composer /> }
        }
    });
    leptos::task::tick().await;
    let field = message_box(&parent);
    type_text(&field, "Hi there");
    field.set_selection_range(2, 2).unwrap();
    let open = find(&parent, "button[aria-label=Emoji]").expect("a button named Emoji");
    assert!(find(&parent, EMOJI_DIALOG).is_none());
    open.click();
    leptos::task::tick().await;
    let dialog = find(&parent, EMOJI_DIALOG).expect("a dialog named Emoji");
    assert_eq!(
        focused().and_then(|e| e.get_attribute("aria-label")),
        Some("Search emoji".into())
    );
    // Every emoji is a button named by its name; the search narrows them by name.
    let named = |name: &str| find(&dialog, &format!("button[aria-label='{name}']"));
    assert!(named("red heart").is_some() && named("party popper").is_some());
    search_for(&dialog, "THUMBS");
    leptos::task::tick().await;
    let shown = dialog.query_selector_all(".emoji-grid button").unwrap();
    let names: Vec<String> = (0..shown.length())
        .map(|i| {
            let button: web_sys::Element = shown.item(i).unwrap().unchecked_into();
            button.get_attribute("aria-label").unwrap()
        })
        .collect();
    assert_eq!(names, ["thumbs up", "thumbs down"]);
    named("thumbs up").unwrap().click();
    leptos::task::tick().await;
    assert!(
        find(&parent, EMOJI_DIALOG).is_none(),
        "still open after a pick"
    );
    assert_eq!(field.value(), "Hi👍 there");
    // After the emoji (two UTF-16 units), in the box.
    assert_eq!(field.selection_start().unwrap(), Some(4));
    assert_eq!(focused(), Some(field.clone().unchecked_into()));
    crate::platform::clock::sleep(std::time::Duration::from_millis(600)).await;
    let (posts, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert!(posts.is_empty());
    assert_eq!(drafts, ["Hi👍 there"]);

    // Escape closes it and puts focus back on "Emoji".
    open.click();
    leptos::task::tick().await;
    let dialog = find(&parent, EMOJI_DIALOG).expect("open again");
    let search = find(&dialog, "input[aria-label='Search emoji']").unwrap();
    press(&search, "Escape");
    leptos::task::tick().await;
    assert!(find(&parent, EMOJI_DIALOG).is_none(), "Escape left it open");
    assert_eq!(focused(), Some(open.clone().unchecked_into()));
    assert_eq!(field.value(), "Hi👍 there");
}

/// What reactions the UI asked for, as (emoji, on).
fn reactions_sent(commands: &crate::commands::Commands) -> Vec<(String, bool)> {
    commands
        .sent_for_testing_only()
        .into_iter()
        .filter_map(|command| match command {
            crate::commands::Command::React { emoji, on, .. } => Some((emoji, on)),
            _ => None,
        })
        .collect()
}

#[wasm_bindgen_test]
async fn reactions_come_from_the_picker_and_the_same_emoji_again_takes_ours_back() {
    let parent = fresh_parent();
    let commands = test_commands();
    let me = member(1);
    let _handle = leptos::mount::mount_to(parent.clone(), {
        let commands = commands.clone();
        move || {
            provide_context(crate::platform::device::Device::new());
            let state = AppState::new();
            state.show_me(crate::state::Me {
                name: "Me".into(),
                fingerprint: String::new(),
                key: me,
            });
            let mut theirs = message(1, member(2), "party tonight");
            theirs.reactions = vec![("🎉".into(), vec![me, member(3)])];
            state.set_messages(vec![theirs]);
            provide_context(state);
            provide_context(commands);
            view! { <Conversation /> }
        }
    });
    leptos::task::tick().await;
    let chip = find(&parent, "button.reaction").expect("a reaction chip");
    assert_eq!(chip.get_attribute("aria-label").unwrap(), "🎉 2, react");
    assert_eq!(chip.get_attribute("aria-pressed").unwrap(), "true");
    let add = find(&parent, "button[aria-label='Add reaction']").expect("Add reaction");
    add.click();
    leptos::task::tick().await;
    let dialog = find(&parent, EMOJI_DIALOG).expect("a dialog named Emoji");
    // The six most common come first.
    let first: Vec<String> = (0..6)
        .map(|i| {
            let buttons = dialog.query_selector_all(".emoji-grid button").unwrap();
            buttons.item(i).unwrap().text_content().unwrap()
        })
        .collect();
    assert_eq!(first, crate::emoji::QUICK_REACTIONS);
    find(&dialog, "button[aria-label='red heart']")
        .unwrap()
        .click();
    leptos::task::tick().await;
    assert!(find(&parent, EMOJI_DIALOG).is_none());
    assert_eq!(reactions_sent(&commands), [("❤️".to_owned(), true)]);
    // The one we already gave, picked again: taken back. Enter picks the first match.
    add.click();
    leptos::task::tick().await;
    let dialog = find(&parent, EMOJI_DIALOG).unwrap();
    search_for(&dialog, "popper");
    leptos::task::tick().await;
    press(
        &find(&dialog, "input[aria-label='Search emoji']").unwrap(),
        "Enter",
    );
    leptos::task::tick().await;
    assert_eq!(reactions_sent(&commands), [("🎉".to_owned(), false)]);
    // The chip toggles too.
    chip.click();
    leptos::task::tick().await;
    assert_eq!(reactions_sent(&commands), [("🎉".to_owned(), false)]);
}

/// A draft typed just before the page goes was lost: its save waited 300 ms for a pause
/// in typing. Now `pagehide` saves it at once (and only once).
#[wasm_bindgen_test]
async fn a_draft_typed_just_before_the_page_goes_is_saved_at_once() {
    let parent = fresh_parent();
    let commands = test_commands();
    let handle = leptos::mount::mount_to(parent.clone(), {
        let commands = commands.clone();
        move || {
            provide_context(crate::platform::device::Device::new());
            provide_context(AppState::new());
            provide_context(commands);
            view! { <super::Composer /> }
        }
    });
    leptos::task::tick().await;
    let window = web_sys::window().unwrap();
    let page_hide = || {
        let event = web_sys::Event::new("pagehide").unwrap();
        window.dispatch_event(&event).unwrap();
    };
    // Nothing typed: nothing to save.
    page_hide();
    let (_, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert!(drafts.is_empty(), "{drafts:?}");
    let field = message_box(&parent);
    type_text(&field, "typed in a hurry");
    page_hide();
    let (_, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert_eq!(drafts, ["typed in a hurry"]);
    crate::platform::clock::sleep(std::time::Duration::from_millis(600)).await;
    let (_, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert!(drafts.is_empty(), "saved twice: {drafts:?}");
    // Unmounted, the composer listens no more.
    drop(handle);
    page_hide();
    let (_, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert!(drafts.is_empty(), "{drafts:?}");
}

/// Mounts a composer in a room where Alice (us), Bob and Bobby are known by name.
fn composer_with_members() -> (
    web_sys::HtmlElement,
    crate::commands::Commands,
    AppState,
    impl Drop,
) {
    let parent = fresh_parent();
    let commands = test_commands();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), {
        let commands = commands.clone();
        move || {
            provide_context(crate::platform::device::Device::new());
            state.show_me(crate::state::Me {
                name: "Alice".into(),
                fingerprint: String::new(),
                key: member(1),
            });
            state.member_named(member(1), "Alice".into());
            state.member_named(member(2), "Bob".into());
            state.member_named(member(3), "Bobby".into());
            provide_context(state);
            provide_context(commands);
            view! { <super::Composer /> }
        }
    });
    (parent, commands, state, handle)
}

fn options(parent: &web_sys::HtmlElement) -> Vec<(String, bool)> {
    let Some(list) = find(parent, "[role=listbox][aria-label=Mention]") else {
        return Vec::new();
    };
    let items = list.query_selector_all("[role=option]").unwrap();
    (0..items.length())
        .map(|i| {
            let item: web_sys::Element = items.item(i).unwrap().unchecked_into();
            (
                item.text_content().unwrap(),
                item.get_attribute("aria-selected").as_deref() == Some("true"),
            )
        })
        .collect()
}

fn key_in(field: &web_sys::HtmlTextAreaElement, key: &str) -> bool {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    field.dispatch_event(&event).unwrap()
}

#[wasm_bindgen_test]
async fn typing_at_offers_members_and_the_message_carries_who_it_mentions() {
    let (parent, commands, _state, _handle) = composer_with_members();
    leptos::task::tick().await;
    let field = message_box(&parent);
    type_text(&field, "hi @bo");
    leptos::task::tick().await;
    // Ourselves aside, names that start with it; the first is active.
    assert_eq!(
        options(&parent),
        [("Bob".to_owned(), true), ("Bobby".to_owned(), false)]
    );
    assert_eq!(
        field.get_attribute("aria-activedescendant").as_deref(),
        Some("mention-option-0")
    );
    assert!(!key_in(&field, "ArrowDown"), "ArrowDown moved the caret");
    leptos::task::tick().await;
    assert_eq!(
        options(&parent),
        [("Bob".to_owned(), false), ("Bobby".to_owned(), true)]
    );
    // Enter takes the active name and sends nothing.
    assert!(!key_in(&field, "Enter"));
    leptos::task::tick().await;
    assert_eq!(field.value(), "hi @Bobby ");
    assert!(options(&parent).is_empty(), "still offering");
    assert_eq!(field.get_attribute("aria-activedescendant"), None);
    let (posts, _) = posts_and_drafts(commands.sent_for_testing_only());
    assert!(posts.is_empty(), "sent {posts:?}");
    // Tab takes one too; Escape closes without taking one.
    type_text(&field, "hi @Bobby and @B");
    leptos::task::tick().await;
    assert_eq!(options(&parent).len(), 2);
    assert!(!key_in(&field, "Escape"));
    leptos::task::tick().await;
    assert!(options(&parent).is_empty());
    type_text(&field, "hi @Bobby and @Bo");
    leptos::task::tick().await;
    assert!(!key_in(&field, "Tab"));
    leptos::task::tick().await;
    assert_eq!(field.value(), "hi @Bobby and @Bob ");
    // Sent: the post names both, once each, in key order.
    assert!(!key_in(&field, "Enter"));
    leptos::task::tick().await;
    let mentions: Vec<Vec<confab_core::MemberKey>> = commands
        .sent_for_testing_only()
        .into_iter()
        .filter_map(|command| match command {
            crate::commands::Command::Post { mentions, .. } => Some(mentions),
            _ => None,
        })
        .collect();
    assert_eq!(mentions, [vec![member(2), member(3)]]);
}

#[wasm_bindgen_test]
async fn mute_asks_to_mute_the_room_and_then_offers_unmute() {
    let (parent, commands, state, _handle) = composer_with_members();
    let _bar = leptos::mount::mount_to(parent.clone(), {
        let commands = commands.clone();
        move || {
            provide_context(crate::platform::device::Device::new());
            provide_context(state);
            provide_context(commands);
            view! { <super::mute::MuteButton /> }
        }
    });
    leptos::task::tick().await;
    let muted_asked = || -> Vec<bool> {
        commands
            .sent_for_testing_only()
            .into_iter()
            .filter_map(|command| match command {
                crate::commands::Command::SetMuted(muted) => Some(muted),
                _ => None,
            })
            .collect()
    };
    find(&parent, "button[aria-label=Mute]")
        .expect("a button named Mute")
        .click();
    leptos::task::tick().await;
    assert_eq!(muted_asked(), [true]);
    // The driver mutes the room (and keeps that in the store).
    state.room_muted(true);
    leptos::task::tick().await;
    assert!(find(&parent, "button[aria-label=Mute]").is_none());
    find(&parent, "button[aria-label=Unmute]")
        .expect("a button named Unmute")
        .click();
    leptos::task::tick().await;
    assert_eq!(muted_asked(), [false]);
}

/// The composer holds a message to core's limit in UTF-8 bytes, not in the UTF-16 units
/// `maxlength` counts: CJK text and emoji within `maxlength` but over the byte limit are
/// not sent; the box says why (an alert the box is described by) and keeps the text. A
/// text of exactly the limit in two-byte characters is sent.
#[wasm_bindgen_test]
async fn a_message_over_the_byte_limit_is_kept_with_a_reason() {
    use confab_core::wire::MAX_TEXT_LEN;
    let parent = fresh_parent();
    let commands = test_commands();
    let handle = leptos::mount::mount_to(parent.clone(), {
        let commands = commands.clone();
        move || {
            provide_context(crate::platform::device::Device::new());
            provide_context(AppState::new());
            provide_context(commands);
            view! { <super::Composer /> }
        }
    });
    leptos::task::tick().await;
    let field = message_box(&parent);
    let alert = || {
        parent
            .query_selector("[role=alert]#message-too-long")
            .unwrap()
            .and_then(|alert| alert.text_content())
    };
    // 6,000 CJK characters: 6,000 UTF-16 units, 18,000 bytes. 4,097 emoji: 8,194 units,
    // 16,388 bytes.
    for text in ["漢".repeat(6_000), "😀".repeat(MAX_TEXT_LEN / 4 + 1)] {
        assert!(text.encode_utf16().count() <= MAX_TEXT_LEN);
        assert!(text.len() > MAX_TEXT_LEN);
        type_text(&field, &text);
        leptos::task::tick().await;
        let reason = alert().expect("an alert while the text is too long");
        assert!(reason.contains("Too long to send"), "{reason}");
        assert!(reason.contains(&MAX_TEXT_LEN.to_string()), "{reason}");
        assert_eq!(field.get_attribute("aria-invalid").as_deref(), Some("true"));
        assert_eq!(
            field.get_attribute("aria-describedby").as_deref(),
            Some("message-too-long")
        );
        press_enter(&field, false, false);
        leptos::task::tick().await;
        let (posts, _) = posts_and_drafts(commands.sent_for_testing_only());
        assert!(posts.is_empty(), "sent {} bytes", posts.concat().len());
        assert_eq!(field.value(), text, "the text was not kept");
    }
    // Exactly the limit (two bytes a character) goes, and the alert goes away.
    let fits = "é".repeat(MAX_TEXT_LEN / 2);
    type_text(&field, &fits);
    leptos::task::tick().await;
    assert_eq!(alert(), None);
    assert_eq!(field.get_attribute("aria-invalid"), None);
    press_enter(&field, false, false);
    leptos::task::tick().await;
    let (posts, _) = posts_and_drafts(commands.sent_for_testing_only());
    assert_eq!(posts, [fits]);
    drop(handle);
}
