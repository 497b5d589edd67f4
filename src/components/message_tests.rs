//! Component tests of a message row: a message whose content is not here shows as
//! "Message unavailable", a deleted one as before, and neither offers actions.

use leptos::prelude::*;
use wasm_bindgen_test::*;

use crate::components::Conversation;
use crate::components::tests::{fresh_parent, member, message, test_commands};
use crate::state::AppState;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_message_without_its_content_shows_as_unavailable_without_actions() {
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        let whole = message(1, member(2), "here");
        let mut deleted = message(2, member(2), "");
        deleted.deleted = true;
        let mut unavailable = message(3, member(2), "");
        unavailable.unavailable = true;
        state.set_messages(vec![whole, deleted, unavailable]);
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let rows = parent
        .query_selector_all("ul[aria-label=Messages] > li")
        .unwrap();
    let row = |n: u32| rows.item(n).unwrap();
    let text = |n: u32| {
        use wasm_bindgen::JsCast as _;
        row(n)
            .unchecked_into::<web_sys::Element>()
            .query_selector(".text")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap()
    };
    let buttons = |n: u32| {
        use wasm_bindgen::JsCast as _;
        row(n)
            .unchecked_into::<web_sys::Element>()
            .query_selector_all("button")
            .unwrap()
            .length()
    };
    assert_eq!(rows.length(), 3);
    assert_eq!(
        [text(0), text(1), text(2)],
        ["here", "This message was deleted.", "Message unavailable"]
    );
    assert!(buttons(0) > 0, "a whole message offers Reply and reactions");
    assert_eq!((buttons(1), buttons(2)), (0, 0));
    drop(handle);
}

/// A member removed from the room is offered nothing on messages, their own included
/// (no Edit or Delete: they can send nothing); before, their own still offered both.
#[wasm_bindgen_test]
async fn a_removed_member_is_offered_no_actions_on_messages() {
    let parent = fresh_parent();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        let mut own = message(1, member(1), "mine, before");
        own.mine = true;
        state.set_messages(vec![own, message(2, member(2), "theirs")]);
        provide_context(state);
        provide_context(test_commands());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let buttons = || {
        let all = parent
            .query_selector_all("ul[aria-label=Messages] button")
            .unwrap();
        (0..all.length())
            .map(|i| all.item(i).unwrap().text_content().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(buttons().contains(&"Edit".to_owned()), "{:?}", buttons());
    state.governance_changed(crate::state::GovernanceView {
        governed: true,
        my_rank: None,
        ..Default::default()
    });
    leptos::task::tick().await;
    assert!(buttons().is_empty(), "{:?}", buttons());
    drop(handle);
}
