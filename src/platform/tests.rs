//! Browser tests of the web adapters (wasm-bindgen-test in headless Chromium, run by
//! `cargo xtask test` inside a loopback-only network namespace).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use confab_core::{
    Client, ClientEvent, Config, Identity, Output, PeerId, Role, RoomSecret, UnixMillis,
};
use wasm_bindgen_test::*;

use super::rtc::{RtcEvent, RtcLink, RtcSignal};
use super::socket::{Socket, SocketEvent};
use super::{clock, entropy};

wasm_bindgen_test_configure!(run_in_browser);

/// Polls `done` every 20 ms for up to `secs` seconds.
async fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..secs * 50 {
        if done() {
            return;
        }
        clock::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[wasm_bindgen_test]
fn entropy_gives_distinct_nonzero_seeds() {
    let (a, b) = (entropy::seed(), entropy::seed());
    assert_ne!(a, b);
    assert_ne!(a, [0; 32]);
}

#[wasm_bindgen_test]
async fn sleep_waits_and_time_moves_forward() {
    let before = clock::now();
    clock::sleep(Duration::from_millis(60)).await;
    let waited = clock::now() - before;
    assert!(waited >= Duration::from_millis(55), "{waited:?}");
    assert!(clock::wall().0 > 1_600_000_000_000);
    let time = clock::format_time(UnixMillis(0));
    assert_eq!(time.len(), 5, "{time}");
    assert!(clock::iso_time(UnixMillis(0)).starts_with("1970-01-01T"));
}

#[wasm_bindgen_test]
async fn socket_reports_a_refused_connection_as_closed() {
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink_events = events.clone();
    let socket = Socket::connect("ws://127.0.0.1:9/ws", move |e| {
        sink_events.borrow_mut().push(e)
    })
    .unwrap();
    wait_until(10, "the close event", || !events.borrow().is_empty()).await;
    assert!(
        matches!(events.borrow()[0], SocketEvent::Closed { code: 1006, .. }),
        "{:?}",
        events.borrow()
    );
    assert!(!socket.is_open());
    assert!(!socket.send_text("x"));
}

type Inbox = Rc<RefCell<Vec<RtcEvent>>>;

fn link(offerer: bool) -> (RtcLink, Inbox) {
    let inbox: Inbox = Rc::new(RefCell::new(Vec::new()));
    let sink = inbox.clone();
    (
        RtcLink::new(&[], offerer, false, move |e| sink.borrow_mut().push(e)).unwrap(),
        inbox,
    )
}

/// Moves signals between the two links, returns events that are not signals.
async fn ferry(from: &Inbox, to: &RtcLink, rest: &mut Vec<RtcEvent>) {
    let events: Vec<RtcEvent> = from.borrow_mut().drain(..).collect();
    for event in events {
        match event {
            RtcEvent::Signal(signal) => {
                let json = serde_json::to_string(&signal).unwrap();
                let parsed: RtcSignal = serde_json::from_str(&json).unwrap();
                to.handle_signal(parsed).await.unwrap();
            }
            other => rest.push(other),
        }
    }
}

#[wasm_bindgen_test]
async fn two_links_connect_and_carry_a_noise_session() {
    let (alice_link, alice_inbox) = link(true);
    let (bob_link, bob_inbox) = link(false);
    let (mut at_alice, mut at_bob) = (Vec::new(), Vec::new());
    for _ in 0..500 {
        ferry(&alice_inbox, &bob_link, &mut at_alice).await;
        ferry(&bob_inbox, &alice_link, &mut at_bob).await;
        if alice_link.is_open() && bob_link.is_open() {
            break;
        }
        clock::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        alice_link.is_open() && bob_link.is_open(),
        "data channel did not open"
    );

    // Run two real clients over the channel, as the driver does.
    let room = RoomSecret::from_bytes(entropy::seed());
    let mut alice = Client::new(
        Identity::from_seed(entropy::seed()),
        room.clone(),
        Config::default(),
        entropy::seed(),
    );
    let mut bob = Client::new(
        Identity::from_seed(entropy::seed()),
        room,
        Config::default(),
        entropy::seed(),
    );
    // Neither keeps anything: their events go out at once.
    alice.run_without_store();
    bob.run_without_store();
    let (id_alice, id_bob) = (PeerId::new(1), PeerId::new(2));
    bob.add_peer(clock::now(), id_alice, Role::Responder);
    alice.add_peer(clock::now(), id_bob, Role::Initiator);
    let mut bob_events = Vec::new();
    let mut sent = false;
    for _ in 0..500 {
        while let Output::Transmit(t) = alice.poll_output() {
            assert!(alice_link.send(&t.bytes));
        }
        while let Output::Transmit(t) = bob.poll_output() {
            assert!(bob_link.send(&t.bytes));
        }
        clock::sleep(Duration::from_millis(10)).await;
        ferry(&alice_inbox, &bob_link, &mut at_alice).await;
        ferry(&bob_inbox, &alice_link, &mut at_bob).await;
        for event in at_bob.drain(..) {
            if let RtcEvent::Message(bytes) = event {
                bob.handle_frame(clock::now(), id_alice, &bytes);
            }
        }
        for event in at_alice.drain(..) {
            if let RtcEvent::Message(bytes) = event {
                alice.handle_frame(clock::now(), id_bob, &bytes);
            }
        }
        loop {
            match bob.poll_output() {
                Output::Transmit(t) => assert!(bob_link.send(&t.bytes)),
                Output::Event(e) => bob_events.push(e),
                Output::Timeout(_) => break,
            }
        }
        if !sent && alice.verified_peers().count() == 1 {
            alice
                .send_text(clock::now(), clock::wall(), "over a real data channel")
                .unwrap();
            sent = true;
        }
        if bob_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Message(m) if m.text == "over a real data channel"))
        {
            break;
        }
    }
    assert!(
        bob_events
            .iter()
            .any(|e| matches!(e, ClientEvent::PeerVerified { .. })),
        "{bob_events:?}"
    );
    assert!(
        bob_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Message(m) if m.text == "over a real data channel"))
    );

    // Closing one side is seen by the other.
    alice_link.close();
    assert!(!alice_link.send(b"after close"));
    wait_until(10, "bob to see the channel close", || {
        bob_inbox
            .borrow()
            .iter()
            .any(|e| matches!(e, RtcEvent::Closed))
    })
    .await;
}

/// An import replaces the profile: the worker must not keep the old rooms' tags and marks
/// (the device's choice of previews stays), and forgetting works where no service worker
/// is registered (as here).
#[wasm_bindgen_test]
async fn forgetting_pushes_deletes_the_workers_tags_and_marks_but_not_previews() {
    let kept = || async {
        let caches = js_sys::Reflect::get(&js_sys::global(), &"caches".into()).unwrap();
        let open: js_sys::Function = js_sys::Reflect::get(&caches, &"open".into())
            .unwrap()
            .into();
        let promise: js_sys::Promise = open.call1(&caches, &"confab-push".into()).unwrap().into();
        let cache = wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
        let keys: js_sys::Function = js_sys::Reflect::get(&cache, &"keys".into()).unwrap().into();
        let promise: js_sys::Promise = keys.call0(&cache).unwrap().into();
        let requests: js_sys::Array = wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .unwrap()
            .into();
        let mut urls: Vec<String> = requests
            .iter()
            .map(|request| {
                let url = js_sys::Reflect::get(&request, &"url".into()).unwrap();
                let url = url.as_string().unwrap();
                url.rsplit_once('/')
                    .map(|(_, last)| last.to_owned())
                    .unwrap()
            })
            .collect();
        urls.sort();
        urls
    };
    super::push::mirror_muted("0123456789abcdef", true).await;
    super::push::set_previews_shown(false).await;
    assert_eq!(kept().await, ["0123456789abcdef", "previews-off"]);
    super::push::forget_all().await;
    assert_eq!(
        kept().await,
        ["previews-off"],
        "the worker's marks are still there"
    );
    assert!(
        !super::push::previews_shown().await,
        "the previews choice was lost"
    );
    super::push::set_previews_shown(true).await;
}

/// Invite and room links share one shape, `<origin>/#<fragment>`, and each fragment reads
/// back as what it names: the secret, or the room's address.
#[wasm_bindgen_test]
fn links_open_what_they_name() {
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    let secret = RoomSecret::from_bytes([3; 32]);
    let invite = super::page::invite_link(&confab_core::room::Invite {
        link: secret.clone(),
        genesis: None,
    });
    let fragment = invite
        .strip_prefix(&format!("{origin}/#"))
        .expect("origin, then /#");
    assert_eq!(
        RoomSecret::from_fragment(fragment).map(|read| read.to_fragment()),
        Ok(secret.to_fragment())
    );
    // A governed room's link also names its genesis.
    let genesis = confab_core::RoomId::from_bytes([5; 32]);
    let governed = super::page::invite_link(&confab_core::room::Invite {
        link: secret.clone(),
        genesis: Some(genesis),
    });
    let fragment = governed
        .strip_prefix(&format!("{origin}/#"))
        .expect("origin, then /#");
    let read = confab_core::room::Invite::from_fragment(fragment).unwrap();
    assert_eq!(
        (read.link.to_fragment(), read.genesis),
        (secret.to_fragment(), Some(genesis))
    );
    let address = Identity::from_seed([4; 32]).room_address(&secret.room_id());
    let link = super::page::room_link(address);
    let fragment = link
        .strip_prefix(&format!("{origin}/#"))
        .expect("origin, then /#");
    assert_eq!(super::page::room_address_in(fragment), Some(address));
}

fn dom_exception(message: &str, name: &str) -> wasm_bindgen::JsValue {
    web_sys::DomException::new_with_message_and_name(message, name)
        .unwrap()
        .into()
}

#[wasm_bindgen_test]
fn browser_errors_are_read_once_into_what_callers_match() {
    use super::error::BrowserError;
    use super::media::CaptureError;
    use wasm_bindgen::JsValue;

    let full = BrowserError::from(dom_exception("full", "QuotaExceededError"));
    assert!(full.is_quota_exceeded());
    assert_eq!(full.to_string(), "QuotaExceededError: full");
    assert_eq!(full.in_parens(), " (QuotaExceededError: full)");
    let thrown = BrowserError::from(JsValue::from(js_sys::Error::new("boom")));
    assert_eq!(
        (thrown.name(), thrown.in_parens()),
        (None, " (boom)".to_owned())
    );
    assert!(!thrown.is_quota_exceeded());
    assert_eq!(
        BrowserError::from(JsValue::from_str("said")).to_string(),
        "said"
    );
    let silent = BrowserError::from(JsValue::UNDEFINED);
    assert_eq!(silent.in_parens(), "");
    assert_eq!(silent.to_string(), "no reason given");

    // Capture: the caller gets a variant, the user the sentence the call view shows.
    let denied = CaptureError::from(dom_exception("Permission denied", "NotAllowedError"));
    assert_eq!(denied, CaptureError::Denied);
    assert_eq!(denied.to_string(), "permission was denied");
    let missing = CaptureError::from(dom_exception("none", "OverconstrainedError"));
    assert_eq!(missing.to_string(), "no such device was found");
    let busy = CaptureError::from(dom_exception("busy", "NotReadableError"));
    assert_eq!(busy.to_string(), "the device is in use or unavailable");
    let other = CaptureError::from(dom_exception("stopped", "AbortError"));
    assert_eq!(other.to_string(), "AbortError: stopped");
}
