//! What the server says, as the driver shows it.

use std::rc::Rc;
use std::time::Duration;

use confab_core::PeerId;
use confab_core::signal::ServerMessage;
use leptos::prelude::*;
use wasm_bindgen_test::*;

use crate::driver::tests::{FakeNetwork, Launch, Wire};
use crate::platform::clock;

wasm_bindgen_test_configure!(run_in_browser);

/// "Connecting to 1 more…" came with the server's `peer-joined`, before the newcomer said
/// anything, and nothing took it back when they never did (a page that never offers: the
/// row stayed until it left the server; checked on the old code). A newcomer's row now
/// comes with its first offer or handshake (core's `PeerConnecting`, which core's
/// handshake timer ends), as it does when we are the newcomer.
#[wasm_bindgen_test]
async fn a_newcomer_who_never_offers_leaves_no_connecting_row() {
    let wire = Rc::new(Wire::default());
    let launch = Launch::new(true, true);
    let state = launch.state;
    let network = Box::new(FakeNetwork(wire.clone()));
    let room = launch.welcomed(&wire, network, PeerId::new(1)).await;
    let room = room.room_id();
    wire.deliver_json(&ServerMessage::Joined {
        room,
        peers: vec![],
    });
    wire.deliver_json(&ServerMessage::PeerJoined {
        room,
        peer: PeerId::new(3),
    });
    clock::sleep(Duration::from_millis(500)).await;
    let rows = state.members().get_untracked();
    assert!(rows.is_empty(), "{rows:?}");
    // It left the server: still nothing (and nothing to take back).
    wire.deliver_json(&ServerMessage::PeerLeft {
        room,
        peer: PeerId::new(3),
    });
    clock::sleep(Duration::from_millis(100)).await;
    assert!(state.members().get_untracked().is_empty());
}
