//! Browser tests of a governed room's move when its record cannot be saved (a full disk,
//! for real: `platform::store::quota`).

use std::rc::Rc;

use confab_core::governance::Settings;
use confab_core::vault::KdfParams;
use confab_core::{Client, Config, Identity, Output, UnixMillis};
use leptos::prelude::*;
use wasm_bindgen_test::*;

use crate::commands::Commands;
use crate::driver::tests::{FakeNetwork, Wire};
use crate::driver::{Kept, Settings as DriverSettings, start};
use crate::platform::store::quota::Cramped;
use crate::platform::store::{BrowserStore, RoomKind, SavedRoom};
use crate::platform::{clock, entropy};
use crate::state::{AppState, Topic};

wasm_bindgen_test_configure!(run_in_browser);

/// Polls `done` for up to 10 s.
async fn until_async<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if done().await {
            return;
        }
        clock::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The owner of a governed room resets its link (a new epoch) while the disk is full: the
/// record holding the new epoch cannot be saved. The page says so, and once there is room
/// again the record is saved with the new epoch, without anything else happening (it said
/// nothing and never tried again: a tab closed later came back in the room it had left;
/// checked on the old code).
#[wasm_bindgen_test]
async fn a_new_epoch_that_cannot_be_saved_is_said_so_and_saved_once_there_is_room() {
    let tag: String = entropy::seed()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("confab-test-full-move-{tag}");
    let cramped = Cramped::new(&name, 512 * 1024).await;
    let store = Rc::new(
        BrowserStore::open_database(&name, None, KdfParams::OWASP)
            .await
            .unwrap(),
    );
    let config = Config {
        display_name: "Olive".into(),
        ..Config::default()
    };
    let mut owner = Client::found_with(
        Identity::from_seed(entropy::seed()),
        config,
        entropy::seed(),
        clock::now(),
        UnixMillis(1),
        Settings::default(),
    )
    .unwrap();
    owner.run_without_store();
    // Its name in history already: the driver posts nothing at start (a write of events
    // failing would say so in the one notice).
    owner.set_display_name(clock::now(), clock::wall(), "Olive");
    let invite = owner.invite();
    let saved = SavedRoom {
        secret: invite.link.clone(),
        kind: RoomKind::Group,
        title: String::new(),
        last_opened_ms: 0,
        genesis: invite.genesis,
        epoch: owner.epoch().map(|(n, secret)| (n, secret.clone())),
        first_epoch: None,
        untitled: Vec::new(),
    };
    store.save_room(&saved).await.unwrap();
    owner.rekey(clock::now(), UnixMillis(2)).unwrap();
    while !matches!(owner.poll_output(), Output::Timeout(_)) {}
    assert_eq!(owner.epoch().map(|(n, _)| n), Some(1));

    cramped.fill().await;
    let (state, commands) = (AppState::new(), Commands::new());
    let settings = DriverSettings {
        force_relay: true,
        dangerously_withhold_ice_candidates: false,
        on_screen: true,
    };
    let kept = Kept {
        store: Some(store.clone()),
        room: Some(saved),
        ..Kept::default()
    };
    let network = Box::new(FakeNetwork(Rc::new(Wire::default())));
    start(owner, state, settings, network, kept, &commands);
    // What the page says about the record, whatever else it says since.
    let said = |part: &'static str| {
        move || {
            state.lasting_notices().with_untracked(|notices| {
                notices
                    .iter()
                    .any(|(topic, text)| *topic == Topic::RoomRecord && text.contains(part))
            })
        }
    };
    let epoch_saved = || {
        let store = store.clone();
        async move {
            let rooms = store.rooms().await.unwrap_or_default();
            rooms
                .first()
                .and_then(|room| room.epoch.as_ref().map(|(n, _)| *n))
        }
    };
    crate::driver::tests::until(
        "the page to say the new link was not saved",
        said("could not be saved on this device: the browser's storage for Confab is full"),
    )
    .await;
    assert_eq!(epoch_saved().await, Some(0));
    // Something else goes wrong meanwhile: its notice shows beside this one, which it
    // replaced before (the user never read that the link was not saved).
    state.notify("Not sent: the sender is offline.");
    assert!(said("could not be saved on this device")());

    cramped.free().await;
    until_async("the new epoch saved", || async {
        epoch_saved().await == Some(1)
    })
    .await;
    crate::driver::tests::until(
        "the page to say it is saved now",
        said("is saved on this device now"),
    )
    .await;
    drop(commands);
    drop(store);
    drop(cramped);
}
