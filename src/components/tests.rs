//! Component tests: mount into a fresh element and inspect the DOM.

use confab_core::{MessageId, PeerId};
use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::{Conversation, MemberList};
use crate::state::{AppState, MemberStatus, MessageView, Path};

wasm_bindgen_test_configure!(run_in_browser);

fn fresh_parent() -> web_sys::HtmlElement {
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
        let state = AppState::new();
        state.push_message(MessageView {
            id: message_id(1),
            author: "Mallory".into(),
            mine: false,
            time: "12:00".into(),
            datetime: "2026-01-01T12:00:00.000Z".into(),
            text: "<img src=x onerror=alert(1)><b>bold?</b>".into(),
        });
        provide_context(state);
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
        let state = AppState::new();
        state.member_connecting(PeerId::new(1));
        state.member_verified(
            PeerId::new(2),
            "Bob".into(),
            "11111 22222 33333 44444 55555 66666".into(),
            Path::Relay,
        );
        state.member_connecting(PeerId::new(3));
        state.member_status(
            PeerId::new(3),
            MemberStatus::Failed("handshake failed".into()),
        );
        provide_context(state);
        view! { <MemberList /> }
    });
    leptos::task::tick().await;
    let items = parent
        .query_selector_all("ul[aria-label=Members] > li")
        .unwrap();
    assert_eq!(items.length(), 3);
    let texts: Vec<String> = (0..items.length())
        .map(|i| items.item(i).unwrap().text_content().unwrap_or_default())
        .collect();
    assert!(texts[0].contains("connecting"), "{texts:?}");
    assert!(
        texts[1].contains("Bob")
            && texts[1].contains("via relay")
            && texts[1].contains("11111 22222"),
        "{texts:?}"
    );
    assert!(
        texts[2].contains("not verified: handshake failed"),
        "{texts:?}"
    );
    drop(handle);
}

fn message_id(n: u8) -> MessageId {
    // Ids come from core's content hash; any distinct value works for rendering.
    MessageId::from_bytes_for_testing_only([n; 16])
}
