//! Browser tests of persisting on a full disk (a real one: the store's IndexedDB in a
//! storage bucket with a small quota, `platform::store::quota`), on the fakes of
//! `driver_tests.rs`.

use std::rc::Rc;

use confab_core::PeerId;
use confab_core::vault::KdfParams;
use leptos::prelude::*;
use wasm_bindgen_test::*;

use crate::commands::Command;
use crate::driver::tests::{FakeNetwork, Launch, Wire, until};
use crate::platform::entropy;
use crate::platform::store::BrowserStore;
use crate::platform::store::quota::Cramped;
use crate::state::{AppState, Draft};

wasm_bindgen_test_configure!(run_in_browser);

/// A fresh database name (also a valid storage bucket name).
fn unique(test: &str) -> String {
    let tag: String = entropy::seed()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("confab-test-{test}-{tag}")
}

/// Whether the page's notice says all of `parts`.
fn notice_says(state: AppState, parts: &[&str]) -> bool {
    state
        .notice()
        .get_untracked()
        .is_some_and(|notice| parts.iter().all(|part| notice.contains(part)))
}

/// Posts `text` from the composer.
fn post(commands: &crate::commands::Commands, text: &str) {
    commands.send(Command::Post {
        draft: Draft::New,
        text: text.to_owned(),
        mentions: Vec::new(),
    });
}

/// The disk fills up while Alice is in a room: the message she sends cannot be kept, so
/// it is not sent, and the page says why and gives her its text back; nothing of it is
/// left half-kept. Once there is room again the same text, sent again, is kept and shown.
#[wasm_bindgen_test]
async fn a_message_that_cannot_be_saved_is_said_so_and_sent_once_there_is_room() {
    let name = unique("full-post");
    let cramped = Cramped::new(&name, 512 * 1024).await;
    let store = Rc::new(
        BrowserStore::open_database(&name, None, KdfParams::OWASP)
            .await
            .unwrap(),
    );
    let wire = Rc::new(Wire::default());
    let launch = Launch {
        kept: crate::driver::Kept {
            store: Some(store.clone()),
            ..crate::driver::Kept::default()
        },
        ..Launch::new(true, true)
    };
    let (state, commands) = (launch.state, launch.commands.clone());
    let network = Box::new(FakeNetwork(wire.clone()));
    let room = launch.welcomed(&wire, network, PeerId::new(1)).await;
    let home = room.room_id();
    post(&commands, "first");
    let kept = |text: &'static str| {
        let store = store.clone();
        async move {
            let events = store.load_events(home).await.unwrap();
            events
                .iter()
                .filter(|event| event.windows(text.len()).any(|w| w == text.as_bytes()))
                .count()
        }
    };
    let shown = |text: &str| {
        state
            .messages()
            .with_untracked(|messages| messages.iter().any(|m| m.text == text))
    };
    until("the first message", || shown("first")).await;
    for _ in 0..50 {
        if kept("first").await == 1 {
            break;
        }
        crate::platform::clock::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(kept("first").await, 1);

    cramped.fill().await;
    post(&commands, "while full");
    until("the page to say it was not sent", || {
        notice_says(state, &["Not sent", "full", "“while full”"])
    })
    .await;
    assert!(!shown("while full"));
    assert_eq!(kept("while full").await, 0);

    cramped.free().await;
    post(&commands, "while full");
    until("the message sent again", || shown("while full")).await;
    for _ in 0..50 {
        if kept("while full").await == 1 {
            break;
        }
        crate::platform::clock::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(kept("while full").await, 1);
    assert_eq!(kept("first").await, 1);
    drop(store);
    drop(cramped);
}
