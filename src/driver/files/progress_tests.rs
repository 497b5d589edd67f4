//! A download's card as the driver makes it from core's transfer state.

use confab_core::transfer::{Recovery, StopReason, TransferError};
use confab_core::{EventId, MemberKey, OrderKey, TransferState};
use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::{cancelled_here, download_status, followed, offer_status};
use crate::components::Conversation;
use crate::state::{AppState, FileInfo, FileStatus, MessageView};

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts a conversation holding one file offered by someone else, its download in
/// core's `state` with `done` of 10 MB stored; the card's buttons and text.
async fn card(state_in_core: TransferState, done: u64) -> (Vec<String>, String) {
    card_showing(download_status(&state_in_core), done).await
}

/// Mounts a conversation holding one file offered by someone else, its card in `status`
/// with `done` of 10 MB stored; the card's buttons and text.
async fn card_showing(status: FileStatus, done: u64) -> (Vec<String>, String) {
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
        state.download_moved(id, 10_000_000, status, done, 0.0);
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

/// Cancel on a download that can never go on (we were removed) made its card offer Accept
/// again, which could only fail (checked on the old code: it was `Offered`); now the card
/// says it is not downloaded and why, and offers nothing. So does an offer whose sender
/// is out of the room.
#[wasm_bindgen_test]
async fn a_cancelled_download_that_cannot_go_on_offers_nothing() {
    let (buttons, text) = card_showing(offer_status(Some(&TransferError::Removed)), 0).await;
    assert!(buttons.is_empty(), "{buttons:?}");
    assert!(
        text.contains("Not downloaded: you are no longer in this room."),
        "{text}"
    );
    let (buttons, text) = card_showing(offer_status(Some(&TransferError::MemberGone)), 0).await;
    assert!(buttons.is_empty(), "{buttons:?}");
    assert!(
        text.contains("Not downloaded: the sender is no longer in this room."),
        "{text}"
    );
    let (buttons, _) = card_showing(offer_status(None), 0).await;
    assert_eq!(buttons, ["Accept", "Decline"]);
}

/// Cards follow governance both ways: an offer ends once we (or its sender) are out; a
/// removal undone by a rival's (seniority) brings back the offer, the user's Decline, and
/// Resume for a download that ended for it (it stayed ended until a reload); a download
/// that ended for another reason stays ended.
#[wasm_bindgen_test]
fn cards_follow_governance_both_ways() {
    let removed = TransferError::Removed;
    let ended = |error: TransferError| FileStatus::Failed {
        reason: error.to_string(),
        recovery: error.recovery(),
    };
    assert_eq!(
        followed(&FileStatus::Offered, Some(&removed), false),
        Some(offer_status(Some(&removed)))
    );
    assert_eq!(
        followed(&FileStatus::Declined, Some(&removed), true),
        Some(offer_status(Some(&removed)))
    );
    assert_eq!(
        followed(&ended(TransferError::Removed), Some(&removed), false),
        None
    );

    let back = |status: &FileStatus, declined| followed(status, None, declined);
    assert_eq!(
        back(&offer_status(Some(&removed)), false),
        Some(FileStatus::Offered)
    );
    assert_eq!(
        back(&offer_status(Some(&removed)), true),
        Some(FileStatus::Declined)
    );
    let resumable = back(&ended(TransferError::MemberGone), false);
    assert!(
        matches!(
            resumable,
            Some(FileStatus::Failed {
                recovery: Recovery::Resume,
                ..
            })
        ),
        "{resumable:?}"
    );
    assert_eq!(back(&ended(TransferError::UnknownFile), false), None);
    assert_eq!(back(&FileStatus::Offered, false), None);
    assert_eq!(back(&FileStatus::Receiving, false), None);
}

/// Core reports the stop of our own Cancel (`Stopped(Cancelled)`) after the driver reset
/// the card: shown, it turned every cancelled card into "Stopped: the sender stopped
/// offering it" with Resume (seen in tests/governed_moves.rs). It is ours when the card
/// is reset already; a sender's stop reaches a download under way.
#[wasm_bindgen_test]
fn the_stop_of_our_own_cancel_is_not_shown() {
    let state = AppState::new();
    let file = EventId::from_bytes_for_testing_only([5; 32]);
    let cancelled = TransferState::Stopped(StopReason::Cancelled);
    for (status, ours) in [
        (FileStatus::Offered, true),
        (offer_status(Some(&TransferError::Removed)), true),
        (FileStatus::Receiving, false),
        (FileStatus::Waiting, false),
    ] {
        state.file_status(file, 10, status.clone());
        assert_eq!(cancelled_here(&state, file, &cancelled), ours, "{status:?}");
    }
    state.file_status(file, 10, FileStatus::Offered);
    assert!(!cancelled_here(&state, file, &TransferState::Active));
}
