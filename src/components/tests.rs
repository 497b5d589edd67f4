//! Component tests: mount into a fresh element and inspect the DOM.

use confab_core::{EventId, MemberKey, OrderKey, PeerId, Presence};
use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::conversation::typing_text;
use super::{Composer, Conversation, MemberList};
use crate::state::{AppState, Me, MemberReceipt, MemberStatus, MessageView, Path};

wasm_bindgen_test_configure!(run_in_browser);

/// A new element in the page's body to mount into (other component tests use it too).
pub(super) fn fresh_parent() -> web_sys::HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let parent = document
        .create_element("div")
        .unwrap()
        .unchecked_into::<web_sys::HtmlElement>();
    document.body().unwrap().append_child(&parent).unwrap();
    parent
}

#[wasm_bindgen_test]
async fn messages_render_markup_as_text_in_a_named_list() {
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.member_named(member(9), "Mallory".into());
        state.upsert_message(message(
            1,
            member(9),
            "<img src=x onerror=alert(1)><b>bold?</b>",
        ));
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let list = parent
        .query_selector("ul[aria-label=Messages]")
        .unwrap()
        .expect("a list named Messages");
    assert_eq!(list.query_selector_all("li").unwrap().length(), 1);
    assert!(
        list.query_selector("img").unwrap().is_none(),
        "markup was rendered"
    );
    assert!(
        list.query_selector("b").unwrap().is_none(),
        "markup was rendered"
    );
    let text = list.text_content().unwrap_or_default();
    assert!(
        text.contains("<img src=x onerror=alert(1)><b>bold?</b>"),
        "{text}"
    );
    assert!(text.contains("Mallory") && text.contains("12:00"), "{text}");
    drop(handle);
}

#[wasm_bindgen_test]
async fn member_list_shows_presence_and_fingerprint() {
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.member_connecting(PeerId::new(1));
        state.member_verified(
            PeerId::new(2),
            member(2),
            "Bob".into(),
            "11111 22222 33333 44444 55555 66666".into(),
            Path::Relay,
        );
        state.member_connecting(PeerId::new(3));
        state.member_status(
            PeerId::new(3),
            MemberStatus::Failed("handshake failed".into()),
        );
        state.member_verified(
            PeerId::new(4),
            member(4),
            "Carol".into(),
            "77777 22222 33333 44444 55555 66666".into(),
            Path::Direct,
        );
        state.member_presence(member(4), Presence::Away);
        provide_context(state);
        view! { <MemberList /> }
    });
    leptos::task::tick().await;
    let items = parent
        .query_selector_all("ul[aria-label=Members] > li")
        .unwrap();
    // The link still connecting is counted, not listed.
    assert_eq!(items.length(), 3);
    assert!(
        parent
            .text_content()
            .unwrap()
            .contains("Connecting to 1 more")
    );
    let texts: Vec<String> = (0..items.length())
        .map(|i| items.item(i).unwrap().text_content().unwrap_or_default())
        .collect();
    assert!(
        texts[0].contains("Bob")
            && texts[0].contains("via relay")
            && texts[0].contains("11111 22222"),
        "{texts:?}"
    );
    assert!(
        texts[1].contains("not verified: handshake failed"),
        "{texts:?}"
    );
    assert!(
        texts[2].contains("Carol") && texts[2].contains("away"),
        "{texts:?}"
    );
    drop(handle);
}

#[wasm_bindgen_test]
async fn member_list_says_when_nobody_else_is_here() {
    let parent = fresh_parent();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(state);
        view! { <MemberList /> }
    });
    let text = || parent.text_content().unwrap_or_default();
    leptos::task::tick().await;
    assert!(text().contains("Nobody else is here yet."), "{}", text());

    // Someone is on the way: only that is said.
    state.member_connecting(PeerId::new(1));
    leptos::task::tick().await;
    assert!(text().contains("Connecting to 1 more…"), "{}", text());
    assert!(!text().contains("Nobody else"), "{}", text());

    // Here, then gone: alone again, with someone to come back.
    state.member_verified(
        PeerId::new(1),
        member(1),
        "Alice".into(),
        "11111 22222 33333 44444 55555 66666".into(),
        Path::Direct,
    );
    leptos::task::tick().await;
    assert!(!text().contains("Nobody else"), "{}", text());
    state.member_status(PeerId::new(1), MemberStatus::Left);
    leptos::task::tick().await;
    assert!(
        text().contains(
            "Nobody else is here right now — messages will be delivered when they come back."
        ),
        "{}",
        text()
    );
    assert!(!text().contains("Connecting"), "{}", text());
    drop(handle);

    // Coming back to a room with someone's messages and nobody online says the same.
    let parent = fresh_parent();
    let state = AppState::new();
    state.set_messages(vec![message(1, member(2), "see you later")]);
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(state);
        view! { <MemberList /> }
    });
    leptos::task::tick().await;
    let shown = parent.text_content().unwrap_or_default();
    assert!(shown.contains("Nobody else is here right now"), "{shown}");
    drop(handle);
}

#[wasm_bindgen_test]
async fn messages_show_in_room_order_with_receipts_reactions_edits_and_typing() {
    let parent = fresh_parent();
    let me = member(1);
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        state.show_me(Me {
            name: "Me".into(),
            fingerprint: String::new(),
            key: me,
        });
        state.member_named(member(2), "Bob".into());
        state.member_named(member(3), "Carol".into());
        let mut later = message(2, me, "second");
        later.key.lamport = 5;
        state.upsert_message(later);
        let mut first = message(1, member(2), "first");
        first.reactions = vec![("👍".into(), vec![member(3), me])];
        first.edited = true;
        state.upsert_message(first);
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let rows = || {
        parent
            .query_selector_all("ul[aria-label=Messages] > li")
            .unwrap()
    };
    let text = |idx: u32| rows().item(idx).unwrap().text_content().unwrap_or_default();
    assert_eq!(rows().length(), 2);
    assert!(
        text(0).contains("first") && text(0).contains("(edited)"),
        "{}",
        text(0)
    );
    assert!(
        text(1).contains("second") && text(1).contains("Pending"),
        "{}",
        text(1)
    );
    let reaction = parent
        .query_selector("button.reaction")
        .unwrap()
        .expect("a reaction chip");
    assert_eq!(reaction.get_attribute("aria-label").unwrap(), "👍 2, react");
    assert_eq!(
        reaction.get_attribute("title").unwrap(),
        "👍 2 by Carol, You"
    );
    assert_eq!(reaction.get_attribute("aria-pressed").unwrap(), "true");

    // Bob holds our message, then reads it.
    state.update_progress(member(2), Some(1), None);
    leptos::task::tick().await;
    assert!(text(1).contains("Delivered to 1"), "{}", text(1));
    let key = state.messages().with_untracked(|m| m[1].key);
    state.update_progress(member(2), None, Some(key));
    leptos::task::tick().await;
    assert!(text(1).contains("Read by 1"), "{}", text(1));
    let receipt = parent.query_selector("p.receipt").unwrap().unwrap();
    assert!(
        receipt
            .get_attribute("title")
            .unwrap()
            .contains("Read by: Bob")
    );
    // Carol read past our message without holding it (she read a concurrent message
    // ordered after it): no receipt from her.
    state.update_progress(member(3), None, Some(key));
    leptos::task::tick().await;
    assert!(text(1).contains("Read by 1"), "{}", text(1));
    assert_eq!(
        state
            .progress()
            .with_untracked(|p| p.get(&member(2)).copied()),
        Some(MemberReceipt {
            delivered: 1,
            read: Some(key)
        })
    );

    state.set_typing(member(2), true);
    leptos::task::tick().await;
    let typing = parent
        .query_selector("[role=status].typing")
        .unwrap()
        .unwrap();
    assert_eq!(typing.text_content().unwrap(), "Bob is typing…");
    state.set_typing(member(2), false);
    leptos::task::tick().await;
    assert_eq!(typing.text_content().unwrap(), "");
    drop(handle);
}

/// Reacting must not take the user's place: the row, and the button they are on, stay the
/// same elements while reactions, receipts or an edit change the message. (Rows were keyed
/// by a revision, so every change drew the row anew and focus fell back to the page.)
#[wasm_bindgen_test]
async fn focus_stays_on_a_message_button_while_the_message_changes() {
    let parent = fresh_parent();
    let me = member(1);
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        state.show_me(Me {
            name: "Me".into(),
            fingerprint: String::new(),
            key: me,
        });
        state.member_named(member(2), "Bob".into());
        state.upsert_message(message(1, member(2), "hello"));
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let document = web_sys::window().unwrap().document().unwrap();
    let focused = || document.active_element().unwrap();
    let button = |selector: &str| -> web_sys::HtmlElement {
        parent
            .query_selector(selector)
            .unwrap()
            .unwrap_or_else(|| panic!("no {selector}"))
            .unchecked_into()
    };
    let row = parent
        .query_selector("ul[aria-label=Messages] > li")
        .unwrap()
        .unwrap();
    let quick = button("button[aria-label='React with 👍']");
    quick.focus().unwrap();
    assert_eq!(focused(), AsRef::<web_sys::Element>::as_ref(&quick).clone());

    // Our 👍 comes back from the driver; then Bob edits the message.
    let mut changed = message(1, member(2), "hello");
    changed.reactions = vec![("👍".into(), vec![me])];
    state.upsert_message(changed.clone());
    leptos::task::tick().await;
    changed.text = "hello again".into();
    changed.edited = true;
    state.upsert_message(changed.clone());
    leptos::task::tick().await;
    let same_row = parent
        .query_selector("ul[aria-label=Messages] > li")
        .unwrap()
        .unwrap();
    assert_eq!(same_row, row, "the row was drawn anew");
    assert!(quick.is_connected(), "the 👍 button was drawn anew");
    assert_eq!(
        focused(),
        AsRef::<web_sys::Element>::as_ref(&quick).clone(),
        "focus left the 👍 button"
    );
    let shown = same_row.text_content().unwrap();
    assert!(
        shown.contains("(edited)") && shown.contains("hello again"),
        "{shown}"
    );

    // On the chip: Bob reacts too, and the chip counts 2 while keeping focus.
    let chip = button("button.reaction");
    assert_eq!(chip.get_attribute("aria-label").unwrap(), "👍 1, react");
    chip.focus().unwrap();
    changed.reactions = vec![
        ("👍".into(), vec![member(2), me]),
        ("🎉".into(), vec![member(2)]),
    ];
    state.upsert_message(changed);
    leptos::task::tick().await;
    assert!(chip.is_connected(), "the chip was drawn anew");
    assert_eq!(chip.get_attribute("aria-label").unwrap(), "👍 2, react");
    assert_eq!(chip.get_attribute("title").unwrap(), "👍 2 by Bob, You");
    assert_eq!(
        focused(),
        AsRef::<web_sys::Element>::as_ref(&chip).clone(),
        "focus left the chip"
    );
    assert_eq!(
        parent
            .query_selector_all("button.reaction")
            .unwrap()
            .length(),
        2
    );
    drop(handle);
}

/// The newest message stays in view when the list gets shorter for any reason, not only a
/// window resize: here its container shrinks (as when the composer grows a line or a
/// keyboard covers the page) and no window event fires.
#[wasm_bindgen_test]
async fn the_newest_message_stays_in_view_when_the_list_gets_shorter() {
    let parent = fresh_parent();
    parent
        .style()
        .set_css_text("display: flex; flex-direction: column; height: 400px");
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.set_messages((1..=40).map(|n| message(n, member(2), "a line")).collect());
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    let list: web_sys::HtmlElement = parent
        .query_selector("ul[aria-label=Messages]")
        .unwrap()
        .unwrap()
        .unchecked_into();
    list.style()
        .set_css_text("flex: 1 1 auto; min-height: 0; overflow-y: auto; margin: 0");
    let at_end = || list.scroll_top() + list.client_height() >= list.scroll_height() - 8;
    for _ in 0..50 {
        if at_end() && list.client_height() > 300 {
            break;
        }
        crate::platform::clock::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(at_end(), "the list does not start at its newest message");
    parent
        .style()
        .set_css_text("display: flex; flex-direction: column; height: 150px");
    for _ in 0..50 {
        if list.client_height() < 160 && at_end() {
            break;
        }
        crate::platform::clock::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(list.client_height() < 160, "the list did not get shorter");
    assert!(
        at_end(),
        "the newest message left the view: scrolled to {} of {} ({} high)",
        list.scroll_top(),
        list.scroll_height(),
        list.client_height()
    );

    // Scrolled up, the list stays where the user left it when it shrinks.
    let settle = || crate::platform::clock::sleep(std::time::Duration::from_millis(100));
    list.set_scroll_top(0);
    settle().await;
    parent
        .style()
        .set_css_text("display: flex; flex-direction: column; height: 120px");
    settle().await;
    assert_eq!(
        list.scroll_top(),
        0,
        "the list moved while the user read above"
    );

    // Back at the end, and in the same moment the list shrinks (a phone turning right
    // after a scroll): that frame's scroll event comes after the new layout and before the
    // resize is observed, and must not make the list forget it was at its end.
    list.set_scroll_top(list.scroll_height());
    parent
        .style()
        .set_css_text("display: flex; flex-direction: column; height: 60px");
    settle().await;
    assert!(
        at_end(),
        "the newest message left the view after a scroll and a resize in one frame: {} of {} ({} high)",
        list.scroll_top(),
        list.scroll_height(),
        list.client_height()
    );
    drop(handle);
}

#[wasm_bindgen_test]
fn typing_sentences() {
    assert_eq!(typing_text(&[]), "");
    assert_eq!(
        typing_text(&["A".into(), "B".into()]),
        "A and B are typing…"
    );
    assert_eq!(
        typing_text(&["A".into(), "B".into(), "C".into()]),
        "A and 2 others are typing…"
    );
}

/// The names of the buttons in `parent`.
pub(super) fn buttons(parent: &web_sys::Element) -> Vec<String> {
    let all = parent.query_selector_all("button").unwrap();
    (0..all.length())
        .filter_map(|i| all.item(i))
        .filter_map(|b| b.text_content())
        .collect()
}

/// The button in `parent` named `name` (panics if there is none).
pub(super) fn button(parent: &web_sys::Element, name: &str) -> web_sys::HtmlElement {
    let all = parent.query_selector_all("button").unwrap();
    (0..all.length())
        .filter_map(|i| all.item(i))
        .find(|b| b.text_content().as_deref() == Some(name))
        .unwrap_or_else(|| panic!("a button {name:?}"))
        .unchecked_into()
}

pub(super) fn member(n: u8) -> MemberKey {
    MemberKey::from_bytes([n; 32])
}

pub(super) fn message(n: u8, author: MemberKey, text: &str) -> MessageView {
    MessageView {
        // Ids come from core's content hash; any distinct value works for rendering.
        id: EventId::from_bytes_for_testing_only([n; 32]),
        key: OrderKey {
            lamport: u64::from(n),
            author,
            seq: 1,
        },
        author,
        mine: author == member(1),
        time: "12:00".into(),
        datetime: "2026-01-01T12:00:00.000Z".into(),
        text: text.into(),
        edited: false,
        deleted: false,
        unavailable: false,
        notice: None,
        reply_to: None,
        mentions_me: false,
        reactions: Vec::new(),
        file: None,
    }
}

/// A command handle whose commands go nowhere (components only send).
pub(super) fn test_commands() -> crate::commands::Commands {
    crate::commands::Commands::detached_for_testing_only()
}

#[wasm_bindgen_test]
async fn long_rooms_draw_the_latest_messages_and_earlier_ones_on_request() {
    let parent = fresh_parent();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        let messages = (0..250u32)
            .map(|n| {
                let mut m = message(1, member(2), &format!("m{n}"));
                m.id = EventId::from_bytes_for_testing_only({
                    let mut id = [0; 32];
                    id[..4].copy_from_slice(&n.to_be_bytes());
                    id
                });
                m.key.lamport = u64::from(n) + 1;
                m
            })
            .collect();
        state.set_messages(messages);
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let rows = || {
        parent
            .query_selector_all("ul[aria-label=Messages] > li")
            .unwrap()
            .length()
    };
    assert_eq!(rows(), 200);
    let button = parent
        .query_selector("p.earlier button")
        .unwrap()
        .expect("a button for earlier messages")
        .unchecked_into::<web_sys::HtmlElement>();
    assert_eq!(
        button.text_content().unwrap(),
        "Show earlier messages (50 more)"
    );
    let last = parent
        .query_selector("ul[aria-label=Messages] > li:last-child .text")
        .unwrap()
        .unwrap();
    assert_eq!(last.text_content().unwrap(), "m249");
    button.click();
    leptos::task::tick().await;
    assert_eq!(rows(), 250);
    assert!(parent.query_selector("p.earlier").unwrap().is_none());
    drop(handle);
}

#[wasm_bindgen_test]
async fn a_file_offer_shows_its_name_as_text_with_accept_and_decline() {
    let parent = fresh_parent();
    let name = "<img src=x onerror=alert(1)>.png";
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.member_named(member(9), "Mallory".into());
        let mut offer = message(1, member(9), "");
        offer.file = Some(crate::state::FileInfo {
            name: name.into(),
            mime: "image/png".into(),
            size: 1_500_000,
            image: true,
        });
        state.upsert_message(offer);
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let card = parent
        .query_selector("[role=group]")
        .unwrap()
        .expect("a file card");
    assert_eq!(
        card.get_attribute("aria-label").as_deref(),
        Some(format!("File {name}").as_str())
    );
    assert!(
        card.query_selector("img").unwrap().is_none(),
        "markup was rendered"
    );
    let text = card.text_content().unwrap_or_default();
    assert!(text.contains(name) && text.contains("1.5 MB"), "{text}");
    let buttons: Vec<String> = (0..card.query_selector_all("button").unwrap().length())
        .filter_map(|i| card.query_selector_all("button").unwrap().item(i))
        .filter_map(|b| b.text_content())
        .collect();
    assert_eq!(buttons, ["Accept", "Decline"]);
    drop(handle);
}

#[wasm_bindgen_test]
async fn a_download_shows_progress_speed_and_time_left_then_save() {
    let parent = fresh_parent();
    let state = AppState::new();
    let id = EventId::from_bytes_for_testing_only([1; 32]);
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        let mut offer = message(1, member(9), "");
        offer.file = Some(crate::state::FileInfo {
            name: "report.pdf".into(),
            mime: "application/pdf".into(),
            size: 10_000_000,
            image: false,
        });
        state.upsert_message(offer);
        state.download_moved(
            id,
            10_000_000,
            crate::state::FileStatus::Receiving,
            2_500_000,
            1_000_000.0,
        );
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let bar = parent
        .query_selector("progress[aria-label='Receiving report.pdf']")
        .unwrap()
        .expect("a progress bar");
    assert_eq!(bar.get_attribute("value").as_deref(), Some("25"));
    let text = parent.text_content().unwrap_or_default();
    assert!(
        text.contains("2.5 MB of 10 MB") && text.contains("1.0 MB/s") && text.contains("8 s left"),
        "{text}"
    );
    state.file_status(id, 10_000_000, crate::state::FileStatus::Received);
    leptos::task::tick().await;
    let text = parent.text_content().unwrap_or_default();
    assert!(text.contains("Save report.pdf"), "{text}");
    drop(handle);
}

#[wasm_bindgen_test]
async fn a_forked_profile_gets_a_lasting_alert_and_import_says_what_it_means() {
    let parent = fresh_parent();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(state);
        provide_context(test_commands());
        view! { <super::ForkedNotice /> <super::SecurityPanel /> }
    });
    leptos::task::tick().await;
    assert!(parent.query_selector("[role=alert]").unwrap().is_none());
    // Import says, before anyone imports, that the old browser must not be used any more.
    let means = parent
        .query_selector("#import-means")
        .unwrap()
        .expect("the import hint");
    let text = means.text_content().unwrap_or_default();
    assert!(
        text.contains("makes this browser your device")
            && text.contains("Stop using the profile in the browser it came from"),
        "{text}"
    );
    let import = parent
        .query_selector("button[aria-describedby=import-means]")
        .unwrap()
        .expect("Import profile, described by the hint");
    assert_eq!(import.text_content().unwrap_or_default(), "Import profile");

    state.profile_forked();
    leptos::task::tick().await;
    let alert = parent
        .query_selector("[role=alert][aria-label='Posting stopped']")
        .unwrap()
        .expect("the forked alert");
    let text = alert.text_content().unwrap_or_default();
    assert!(
        text.contains("You cannot post from this browser any more")
            && text.contains("used in another browser too")
            && text.contains("Everything posted before stays"),
        "{text}"
    );
    drop(handle);
}

/// The composer's textbox named "Message".
pub(super) fn message_box(parent: &web_sys::HtmlElement) -> web_sys::HtmlTextAreaElement {
    parent
        .query_selector("textarea[aria-label=Message]")
        .unwrap()
        .expect("a multi-line textbox named Message")
        .unchecked_into()
}

/// Types `text` into `field` as the browser reports it (the value, then `input`).
pub(super) fn type_text(field: &web_sys::HtmlTextAreaElement, text: &str) {
    field.set_value(text);
    let input = web_sys::Event::new_with_event_init_dict("input", &{
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        init
    })
    .unwrap();
    field.dispatch_event(&input).unwrap();
}

/// Presses Enter in `field` (with Shift, or while an input method composes); `true` if
/// the page left the key's default action (a new line) to the browser.
pub(super) fn press_enter(
    field: &web_sys::HtmlTextAreaElement,
    shift: bool,
    composing: bool,
) -> bool {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Enter");
    init.set_shift_key(shift);
    init.set_is_composing(composing);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    field.dispatch_event(&event).unwrap()
}

/// The texts posted among `sent`, and the drafts saved, in order.
pub(super) fn posts_and_drafts(sent: Vec<crate::commands::Command>) -> (Vec<String>, Vec<String>) {
    use crate::commands::Command;
    let (mut posts, mut drafts) = (Vec::new(), Vec::new());
    for command in sent {
        match command {
            Command::Post { text, .. } => posts.push(text),
            Command::SaveDraft(text) => drafts.push(text),
            _ => {}
        }
    }
    (posts, drafts)
}

#[wasm_bindgen_test]
async fn enter_sends_shift_enter_is_a_new_line_and_composing_never_sends() {
    let parent = fresh_parent();
    let commands = test_commands();
    let handle = leptos::mount::mount_to(parent.clone(), {
        let commands = commands.clone();
        move || {
            provide_context(crate::platform::device::Device::new());
            provide_context(AppState::new());
            provide_context(commands);
            view! { <Composer /> }
        }
    });
    leptos::task::tick().await;
    let field = message_box(&parent);
    type_text(&field, "first line\nsecond line");
    // Shift+Enter: the browser inserts the new line; nothing is sent.
    assert!(
        press_enter(&field, true, false),
        "Shift+Enter was prevented"
    );
    // Enter that confirms an input method's composition: nothing is sent either.
    assert!(
        press_enter(&field, false, true),
        "Enter while composing was prevented"
    );
    leptos::task::tick().await;
    let (posts, _) = posts_and_drafts(commands.sent_for_testing_only());
    assert!(posts.is_empty(), "sent {posts:?}");
    assert_eq!(field.value(), "first line\nsecond line");
    // Enter sends the whole text, lines and all, empties the box and forgets the draft.
    assert!(
        !press_enter(&field, false, false),
        "Enter also made a new line"
    );
    leptos::task::tick().await;
    let (posts, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert_eq!(posts, ["first line\nsecond line"]);
    assert_eq!(drafts, [""]);
    assert_eq!(field.value(), "");
    // An empty (or blank) box sends nothing.
    type_text(&field, " \n ");
    press_enter(&field, false, false);
    leptos::task::tick().await;
    let (posts, _) = posts_and_drafts(commands.sent_for_testing_only());
    assert!(posts.is_empty(), "sent {posts:?}");
    drop(handle);
}

#[wasm_bindgen_test]
async fn a_draft_is_saved_after_a_pause_and_back_after_a_reload() {
    use crate::platform::store::{MemoryBackend, Store};
    let room = confab_core::RoomId::from_bytes([5; 32]);
    let backend = MemoryBackend::default();
    let reopen = || async {
        Store::open_backend(
            backend.clone(),
            None,
            confab_core::vault::KdfParams {
                m_cost_kib: 64,
                t_cost: 1,
                p_cost: 1,
            },
        )
        .await
        .unwrap()
    };
    // What the driver does with the composer's SaveDraft commands.
    let apply = |drafts: Vec<String>| async {
        let store = reopen().await;
        for text in drafts {
            store.save_draft(room, &text).await.unwrap();
        }
    };
    let mount = |saved: Option<String>| {
        let parent = fresh_parent();
        let commands = test_commands();
        let state = AppState::new();
        state.draft_loaded(saved);
        let handle = leptos::mount::mount_to(parent.clone(), {
            let commands = commands.clone();
            move || {
                provide_context(crate::platform::device::Device::new());
                provide_context(state);
                provide_context(commands);
                view! { <Composer /> }
            }
        });
        (parent, commands, handle)
    };

    let (parent, commands, handle) = mount(None);
    leptos::task::tick().await;
    let field = message_box(&parent);
    type_text(&field, "half a");
    type_text(&field, "half a thought\nand more");
    // Not on every key: only once typing pauses, and only the latest text.
    let (_, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert!(drafts.is_empty(), "saved at once: {drafts:?}");
    crate::platform::clock::sleep(std::time::Duration::from_millis(600)).await;
    let (_, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert_eq!(drafts, ["half a thought\nand more"]);
    apply(drafts).await;
    drop(handle);

    // Reloaded: the store gives it back and the new composer shows it.
    let saved = reopen().await.draft(room).await.unwrap();
    assert_eq!(saved.as_deref(), Some("half a thought\nand more"));
    let (parent, commands, handle) = mount(saved);
    leptos::task::tick().await;
    let field = message_box(&parent);
    assert_eq!(field.value(), "half a thought\nand more");
    // Sent: the draft is forgotten, and a reload finds the box empty.
    press_enter(&field, false, false);
    leptos::task::tick().await;
    let (posts, drafts) = posts_and_drafts(commands.sent_for_testing_only());
    assert_eq!(posts, ["half a thought\nand more"]);
    apply(drafts).await;
    assert_eq!(reopen().await.draft(room).await.unwrap(), None);
    drop(handle);
}

/// The app's stylesheet, added to the page (remove it when done).
pub(super) fn with_stylesheet() -> web_sys::Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let style = document.create_element("style").unwrap();
    style.set_text_content(Some(include_str!("../../style/main.css")));
    document.head().unwrap().append_child(&style).unwrap();
    style
}

#[wasm_bindgen_test]
async fn a_message_with_new_lines_shows_its_lines_as_text() {
    let style = with_stylesheet();
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.set_messages(vec![
            message(1, member(2), "one line"),
            message(2, member(2), "first\n<b>second</b>\nthird"),
        ]);
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let texts = parent.query_selector_all(".message .text").unwrap();
    assert_eq!(texts.length(), 2);
    let text = |i| {
        texts
            .item(i)
            .unwrap()
            .unchecked_into::<web_sys::HtmlElement>()
    };
    let (one, three) = (text(0), text(1));
    // As text: the same characters, no element made of them.
    assert_eq!(three.text_content().unwrap(), "first\n<b>second</b>\nthird");
    assert_eq!(three.child_element_count(), 0, "{}", three.inner_html());
    // Drawn on three lines.
    let (h1, h3) = (one.offset_height(), three.offset_height());
    assert!(
        h1 > 0 && h3 >= 3 * h1 - 2,
        "one line {h1} px, three lines {h3} px"
    );
    drop(handle);
    style.remove();
}

#[wasm_bindgen_test]
async fn message_actions_are_large_enough_and_contrast_at_least_4_5_to_1() {
    let style = with_stylesheet();
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.show_me(Me {
            key: member(1),
            name: "Me".into(),
            fingerprint: String::new(),
        });
        // Someone else's (Reply, 👍) and ours (also Edit, Delete), on their own backgrounds.
        state.set_messages(vec![
            message(1, member(2), "theirs"),
            message(2, member(1), "mine"),
        ]);
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let window = web_sys::window().unwrap();
    let computed = |element: &web_sys::Element, property: &str| {
        window
            .get_computed_style(element)
            .unwrap()
            .unwrap()
            .get_property_value(property)
            .unwrap()
    };
    let buttons = parent
        .query_selector_all(".message .actions button")
        .unwrap();
    assert_eq!(
        buttons.length(),
        8,
        "Reply, 👍, Add reaction, and Edit, Delete on ours"
    );
    for i in 0..buttons.length() {
        let button: web_sys::Element = buttons.item(i).unwrap().unchecked_into();
        let row = button.closest("li").unwrap().unwrap();
        // What is drawn: the text colour faded by every opacity between it and the row.
        let mut opacity = 1.0;
        let mut element = Some(button.clone());
        while let Some(e) = element.filter(|e| *e != row) {
            opacity *= computed(&e, "opacity").parse::<f64>().unwrap();
            element = e.parent_element();
        }
        let (fg, bg) = (
            rgb(&computed(&button, "color")),
            rgb(&computed(&row, "background-color")),
        );
        let drawn: [f64; 3] = std::array::from_fn(|c| opacity * fg[c] + (1.0 - opacity) * bg[c]);
        let ratio = contrast(drawn, bg);
        let name = button.text_content().unwrap_or_default();
        assert!(
            ratio >= 4.5,
            "{name}: {ratio:.2}:1 ({fg:?} at {opacity} on {bg:?})"
        );
        let size = computed(&button, "font-size");
        let px: f64 = size.trim_end_matches("px").parse().unwrap();
        assert!(px >= 12.0, "{name}: {size}");
    }
    drop(handle);
    style.remove();
}

/// `rgb(r, g, b)` (or `rgba`) as three channels 0-255.
fn rgb(css: &str) -> [f64; 3] {
    let inside = css
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a colour: {css}"));
    let channels: Vec<f64> = inside
        .split(',')
        .map(|c| c.trim().parse().unwrap())
        .collect();
    [channels[0], channels[1], channels[2]]
}

/// WCAG 2 contrast ratio of two sRGB colours.
fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let luminance = |c: [f64; 3]| {
        let [r, g, b] = c.map(|v| {
            let v = v / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        });
        0.2126 * r + 0.7152 * g + 0.0722 * b
    };
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}
