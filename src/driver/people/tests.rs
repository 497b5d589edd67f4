//! The room's title as people are met (a browser test of the driver, on the fakes of
//! `driver_tests.rs`): a room's kind decides, never its title.

use std::rc::Rc;
use std::time::Duration;

use confab_core::vault::KdfParams;
use confab_core::{Identity, PeerId, RoomSecret};
use leptos::prelude::*;
use wasm_bindgen_test::*;

use crate::driver::tests::{FakeNetwork, Launch, Wire, peer_met_over_relay, until};
use crate::platform::store::{BrowserStore, RoomKind, SavedRoom};
use crate::platform::{clock, entropy};

wasm_bindgen_test_configure!(run_in_browser);

/// A room's kind decides whether meeting someone renames it, never its title. A one-to-one
/// room saved by an older build (a version 1 record titled `Direct: Bob`, written through
/// the store and read back after a reload) still shows as Bob's and keeps its name when
/// someone is met in it; a group whose title reads the same way is named after who is met
/// in it (an old build took it for a one-to-one room and left it alone).
#[wasm_bindgen_test]
async fn meeting_someone_renames_a_group_never_a_one_to_one_room_whatever_their_titles() {
    let me = Identity::from_seed(entropy::seed());
    for direct in [true, false] {
        let room = RoomSecret::from_bytes(entropy::seed());
        let database = format!("confab-test-kind-{:02x?}", &entropy::seed()[..6]);
        let store = BrowserStore::open_database(&database, None, KdfParams::OWASP)
            .await
            .unwrap();
        if direct {
            // Version 1: `1 last_opened_ms:u64be fragment_len:u32be fragment
            // title_len:u32be title`, assembled by hand.
            let fragment = room.to_fragment();
            let title = "Direct: Bob";
            let mut v1 = vec![1, 0, 0, 0, 0, 0, 0, 0, 5];
            v1.extend_from_slice(&(fragment.len() as u32).to_be_bytes());
            v1.extend_from_slice(fragment.as_bytes());
            v1.extend_from_slice(&(title.len() as u32).to_be_bytes());
            v1.extend_from_slice(title.as_bytes());
            store
                .save_room_bytes_for_testing_only(room.room_id(), &v1)
                .await
                .unwrap();
        } else {
            let group = SavedRoom {
                secret: room.clone(),
                kind: RoomKind::Group,
                title: "Direct: Bob".into(),
                last_opened_ms: 5,
                genesis: None,
                epoch: None,
            };
            store.save_room(&group).await.unwrap();
        }
        drop(store);
        // The page reloads: the room is read back from the store.
        let store = Rc::new(
            BrowserStore::open_database(&database, None, KdfParams::OWASP)
                .await
                .unwrap(),
        );
        let saved = store.rooms().await.unwrap().remove(0);
        let view = crate::tab::room_view(&me, &Default::default(), &saved, true);
        assert_eq!(view.title, "Direct: Bob");
        assert_eq!(
            (saved.kind, saved.title.as_str()),
            match direct {
                true => (RoomKind::Direct { with: None }, "Bob"),
                false => (RoomKind::Group, "Direct: Bob"),
            }
        );

        let wire = Rc::new(Wire::default());
        let launch = Launch {
            room: room.clone(),
            kept: crate::driver::Kept {
                store: Some(store.clone()),
                room: Some(saved),
                ..crate::driver::Kept::default()
            },
            ..Launch::new(true, true)
        };
        let state = launch.state;
        state.show_room(view);
        let ids = (PeerId::new(1), PeerId::new(2));
        let network = Box::new(FakeNetwork(wire.clone()));
        launch.welcomed(&wire, network, ids.0).await;
        until("a join", || !wire.texts.borrow().is_empty()).await;
        let (peer, _) = peer_met_over_relay(&wire, state, room, ids, "Rita").await;
        assert_eq!(peer.verified_peers().count(), 1);

        let shown = || state.rooms().with_untracked(|rooms| rooms[0].title.clone());
        let stored = || async {
            let saved = store.rooms().await.unwrap().remove(0);
            (saved.kind, saved.title)
        };
        if direct {
            // Met, and the row shows it: the title stays, on screen and in the store.
            assert_eq!(shown(), "Direct: Bob");
            clock::sleep(Duration::from_millis(100)).await;
            assert_eq!(
                stored().await,
                (RoomKind::Direct { with: None }, "Bob".to_owned())
            );
        } else {
            until("the group to be named after Rita", || {
                shown() == "Direct: Bob, Rita"
            })
            .await;
            let mut saved = stored().await;
            for _ in 0..50 {
                if saved.1 == "Direct: Bob, Rita" {
                    break;
                }
                clock::sleep(Duration::from_millis(20)).await;
                saved = stored().await;
            }
            assert_eq!(saved, (RoomKind::Group, "Direct: Bob, Rita".to_owned()));
        }
    }
}
