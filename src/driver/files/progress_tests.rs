//! A download's card as the driver makes it from core's transfer state.

use confab_core::transfer::TransferError;
use confab_core::{EventId, MemberKey, OrderKey, TransferState};
use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::download_status;
use crate::components::Conversation;
use crate::state::{AppState, FileInfo, MessageView};

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts a conversation holding one file offered by someone else, its download in
/// core's `state` with `done` of 10 MB stored; the card's buttons and text.
async fn card(state_in_core: TransferState, done: u64) -> (Vec<String>, String) {
    let document = web_sys::window().unwrap().document().unwrap();
    let parent = document
        .create_element("div")
        .unwrap()
        .unchecked_into::<web_sys::HtmlElement>();
    document.body().unwrap().append_child(&parent).unwrap();
    let id = EventId::from_bytes_for_testing_only([7; 32]);
    let author = MemberKey::from_bytes([9; 32]);
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.upsert_message(MessageView {
            id,
            key: OrderKey {
                lamport: 1,
                author,
                seq: 1,
            },
            author,
            mine: false,
            time: "12:00".into(),
            datetime: "2026-01-01T12:00:00.000Z".into(),
            text: String::new(),
            edited: false,
            deleted: false,
            unavailable: false,
            notice: None,
            reply_to: None,
            mentions_me: false,
            reactions: Vec::new(),
            file: Some(FileInfo {
                name: "moving.bin".into(),
                mime: "application/octet-stream".into(),
                size: 10_000_000,
                image: false,
            }),
        });
        state.download_moved(id, 10_000_000, download_status(&state_in_core), done, 0.0);
        provide_context(state);
        provide_context(crate::commands::Commands::detached_for_testing_only());
        view! { <Conversation /> }
    });
    leptos::task::tick().await;
    let card = parent
        .query_selector("[role=group][aria-label='File moving.bin']")
        .unwrap()
        .expect("the file's card");
    let all = card.query_selector_all("button").unwrap();
    let buttons = (0..all.length())
        .filter_map(|i| all.item(i))
        .filter_map(|b| b.text_content())
        .collect();
    let text = card.text_content().unwrap_or_default();
    drop(handle);
    parent.remove();
    (buttons, text)
}

/// A download that ended because we (or its sender) are out of the governed room can never
/// go on: its card offers no Resume (it did, and Resume only failed again; checked on the
/// old code), says why, and leaves Cancel. One that can go on still offers Resume, and one
/// whose kept part is wrong Retry.
#[wasm_bindgen_test]
async fn a_download_that_can_never_go_on_offers_no_resume() {
    let (buttons, text) = card(TransferState::Failed(TransferError::Removed), 4_000_000).await;
    assert_eq!(buttons, ["Cancel"]);
    assert!(
        text.contains("Stopped: you are no longer in this room. It cannot go on."),
        "{text}"
    );
    let (buttons, text) = card(TransferState::Failed(TransferError::MemberGone), 4_000_000).await;
    assert_eq!(buttons, ["Cancel"]);
    assert!(
        text.contains("Stopped: the sender is no longer in this room."),
        "{text}"
    );
    let (buttons, text) = card(TransferState::Failed(TransferError::Unavailable), 4_000_000).await;
    assert_eq!(buttons, ["Resume", "Cancel"]);
    assert!(
        text.contains("4.0 MB received and verified is kept"),
        "{text}"
    );
    let (buttons, _) = card(TransferState::Failed(TransferError::HashMismatch), 0).await;
    assert_eq!(buttons, ["Retry", "Cancel"]);
}
