//! Delete means delete in the store (a browser test of the driver on real IndexedDB, on
//! the fakes of `driver_tests.rs`): a deleted message's text leaves the stored records.

use std::rc::Rc;

use confab_core::governance::{self, Govern};
use confab_core::history::VerifiedEvent;
use confab_core::vault::KdfParams;
use confab_core::wire::file::FileMeta;
use confab_core::{Client, Config, Content, Identity, Output, RoomSecret, UnixMillis};
use leptos::prelude::*;
use wasm_bindgen_test::*;

use crate::commands::{Command, Commands};
use crate::driver::tests::{FakeNetwork, Wire, until};
use crate::driver::{Kept, Settings, restore_history, start};
use crate::platform::store::BrowserStore;
use crate::platform::{clock, entropy};
use crate::state::{AppState, Draft};

wasm_bindgen_test_configure!(run_in_browser);

async fn new_store(test: &str) -> Rc<BrowserStore> {
    let database = format!("confab-test-{test}-{:02x?}", &entropy::seed()[..6]);
    Rc::new(
        BrowserStore::open_database(&database, None, KdfParams::OWASP)
            .await
            .unwrap(),
    )
}

/// Starts a driver for `client` that keeps its events in `store`; no server answers.
fn start_kept(client: Client, store: &Rc<BrowserStore>) -> (AppState, Commands) {
    let (state, commands) = (AppState::new(), Commands::new());
    let settings = Settings {
        force_relay: true,
        dangerously_withhold_ice_candidates: false,
        on_screen: true,
    };
    let kept = Kept {
        store: Some(store.clone()),
        ..Kept::default()
    };
    let network = Box::new(FakeNetwork(Rc::new(Wire::default())));
    start(client, state, settings, network, kept, &commands);
    (state, commands)
}

/// Whether any of the room's stored records holds `text`.
async fn stored(store: &BrowserStore, client_room: confab_core::RoomId, text: &str) -> bool {
    store
        .load_events(client_room)
        .await
        .unwrap()
        .iter()
        .any(|event| event.windows(text.len()).any(|w| w == text.as_bytes()))
}

async fn until_stored(store: &BrowserStore, room: confab_core::RoomId, text: &str, wanted: bool) {
    for _ in 0..250 {
        if stored(store, room, text).await == wanted {
            return;
        }
        clock::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {text:?} stored: {wanted}");
}

/// Posts `text` through the driver, waits until it is stored, deletes it and waits until
/// no stored record holds it (the delete itself is stored).
async fn post_then_delete(
    store: &BrowserStore,
    room: confab_core::RoomId,
    (state, commands): (AppState, &Commands),
    text: &str,
) {
    commands.send(Command::Post {
        draft: Draft::New,
        text: text.to_owned(),
        mentions: Vec::new(),
    });
    until_stored(store, room, text, true).await;
    let id = state
        .messages()
        .with_untracked(|messages| messages.iter().find(|m| m.text == text).map(|m| m.id))
        .unwrap();
    let n_stored = store.load_events(room).await.unwrap().len();
    commands.send(Command::Delete(id));
    until_stored(store, room, text, false).await;
    until("the delete stored", || {
        state
            .messages()
            .with_untracked(|messages| messages.iter().any(|m| m.id == id && m.deleted))
    })
    .await;
    // The record was overwritten, not removed: the delete is the one more.
    let after = store.load_events(room).await.unwrap().len();
    assert!(after >= n_stored, "{after} records, {n_stored} before");
}

/// A message deleted after it was stored leaves the store: its record is overwritten
/// with the redacted form. The second one was stored after the driver first looked its
/// records up (it learned where from the append).
#[wasm_bindgen_test]
async fn a_deleted_message_leaves_the_store() {
    let store = new_store("erase").await;
    let room = RoomSecret::from_bytes(entropy::seed());
    let client = Client::new(
        Identity::from_seed(entropy::seed()),
        room.clone(),
        Config::default(),
        entropy::seed(),
    );
    let (state, commands) = start_kept(client, &store);
    post_then_delete(
        &store,
        room.room_id(),
        (state, &commands),
        "first secret pie",
    )
    .await;
    commands.send(Command::Post {
        draft: Draft::New,
        text: "kept".to_owned(),
        mentions: Vec::new(),
    });
    post_then_delete(
        &store,
        room.room_id(),
        (state, &commands),
        "second secret cake",
    )
    .await;
    assert!(stored(&store, room.room_id(), "kept").await);
}

/// Should the page die after a delete was stored but before the message's record was
/// overwritten, the store holds both whole: the next start erases it (core erases it
/// on restore and the driver overwrites the record).
#[wasm_bindgen_test]
async fn a_restore_erases_a_deleted_message_the_store_still_held() {
    let store = new_store("erase-restore").await;
    let room = RoomSecret::from_bytes(entropy::seed());
    // Bob posts and deletes; the store got both events as they were persisted.
    let mut bob = Client::new(
        Identity::from_seed(entropy::seed()),
        room.clone(),
        Config::default(),
        entropy::seed(),
    );
    bob.run_without_store();
    let id = bob
        .send_text(clock::now(), clock::wall(), "left whole by a crash")
        .unwrap();
    bob.send_text(clock::now(), clock::wall(), "kept").unwrap();
    bob.post(clock::now(), clock::wall(), Content::Delete { target: id })
        .unwrap();
    let mut persisted = Vec::new();
    loop {
        match bob.poll_output() {
            Output::Event(confab_core::ClientEvent::Persist { bytes, .. }) => persisted.push(bytes),
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    assert_eq!(persisted.len(), 3);
    store
        .append_events(room.room_id(), &persisted)
        .await
        .unwrap();
    assert!(stored(&store, room.room_id(), "left whole by a crash").await);

    let mut client = Client::new(
        Identity::from_seed(entropy::seed()),
        room.clone(),
        Config::default(),
        entropy::seed(),
    );
    restore_history(&mut client, Some(&store)).await.unwrap();
    start_kept(client, &store);
    until_stored(&store, room.room_id(), "left whole by a crash", false).await;
    assert!(stored(&store, room.room_id(), "kept").await);
    // Overwritten where it was, with the redacted form of the same event.
    let first = store.load_events(room.room_id()).await.unwrap().remove(0);
    let erased = VerifiedEvent::restore(&room.room_id(), &first, Some(id)).unwrap();
    assert!(erased.is_redacted());
}

/// Disappearing messages through the driver: in a governed room whose timer is an hour,
/// a message sent two hours ago (by its author's clock) is erased when the driver starts,
/// in view and in the store; one sent now stays. The room's setting shows, and changing
/// it from the settings posts the change (the setting then shows the new timer).
#[wasm_bindgen_test]
async fn the_driver_erases_messages_past_the_rooms_timer_at_start() {
    let store = new_store("expire").await;
    let (now, wall) = (clock::now(), clock::wall());
    let hours_ago = |hours: u64| UnixMillis(wall.0 - hours * 3_600_000);
    let mut owner = Client::found(
        Identity::from_seed(entropy::seed()),
        Config::default(),
        entropy::seed(),
        now,
        hours_ago(3),
    )
    .unwrap();
    let settings = governance::Settings {
        disappear_after_secs: Some(3_600),
        ..owner.governance().settings()
    };
    owner
        .govern(now, hours_ago(3), Govern::Configure(settings))
        .unwrap();
    let old = "said two hours ago, gone";
    owner.send_text(now, hours_ago(2), old).unwrap();
    owner.send_text(now, wall, "said now").unwrap();
    // A governed room's events are stored under its genesis (they outlive epochs).
    let room = crate::driver::home_of(&owner);
    let (state, commands) = start_kept(owner, &store);
    // The settings change is a line before them ("… set disappearing messages to 1 hour").
    until("the old message erased", || {
        state.messages().with_untracked(|messages| {
            messages.len() == 3
                && messages[0].notice.is_some()
                && messages[1].deleted
                && messages[1].text.is_empty()
                && messages[2].text == "said now"
        })
    })
    .await;
    until_stored(&store, room, old, false).await;
    assert!(stored(&store, room, "said now").await);
    // (governed, may change it, the timer)
    assert_eq!(
        state.governance().with_untracked(|g| (
            g.governed,
            g.may_configure(),
            g.disappear_after_secs
        )),
        (true, true, Some(3_600))
    );
    commands.send(Command::SetDisappearing(Some(604_800)));
    until("the new timer shown", || {
        state.governance().get_untracked().disappear_after_secs == Some(604_800)
    })
    .await;
}

/// A file message deleted takes what this device kept of the file with it (its record and
/// chunks), here on the restore that erases it; another file's stay.
#[wasm_bindgen_test]
async fn a_deleted_file_leaves_the_store_with_its_message() {
    let store = new_store("erase-file").await;
    let room = RoomSecret::from_bytes(entropy::seed());
    let mut bob = Client::new(
        Identity::from_seed(entropy::seed()),
        room.clone(),
        Config::default(),
        entropy::seed(),
    );
    bob.run_without_store();
    let (now, wall) = (clock::now(), clock::wall());
    let meta = |name: &str| FileMeta {
        name: name.to_owned(),
        mime: "text/plain".to_owned(),
        size: 5,
        hash: [7; 32],
    };
    let deleted = bob.post_file(now, wall, meta("plans.txt")).unwrap();
    let kept = bob.post_file(now, wall, meta("kept.txt")).unwrap();
    bob.post(now, wall, Content::Delete { target: deleted })
        .unwrap();
    let mut persisted = Vec::new();
    loop {
        match bob.poll_output() {
            Output::Event(confab_core::ClientEvent::Persist { bytes, .. }) => persisted.push(bytes),
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    store
        .append_events(room.room_id(), &persisted)
        .await
        .unwrap();
    // What downloading each left on this device.
    for file in [deleted, kept] {
        store
            .put_chunks(*file.as_bytes(), 0, &[b"bytes"], Some(b"a file record"))
            .await
            .unwrap();
    }

    let mut client = Client::new(
        Identity::from_seed(entropy::seed()),
        room.clone(),
        Config::default(),
        entropy::seed(),
    );
    restore_history(&mut client, Some(&store)).await.unwrap();
    start_kept(client, &store);
    for _ in 0..250 {
        if store.file_records().await.unwrap().len() == 1 {
            break;
        }
        clock::sleep(std::time::Duration::from_millis(20)).await;
    }
    let records: Vec<[u8; 32]> = store
        .file_records()
        .await
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(records, [*kept.as_bytes()]);
    assert_eq!(store.chunk(*deleted.as_bytes(), 0).await.unwrap(), None);
    assert!(store.chunk(*kept.as_bytes(), 0).await.unwrap().is_some());
}
