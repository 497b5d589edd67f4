//! Component tests of the installable app's controls and the invite QR code.

use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::{InstallButton, InstallOffer, NotificationsPanel, UnreadTitle};
use crate::components::tests::{button, buttons, fresh_parent};
use crate::components::{InvitePanel, RoomsPanel};
use crate::platform::pwa::{preview, unread_title};
use crate::state::AppState;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn unread_title_and_preview_formats() {
    assert_eq!(unread_title(0), "Confab");
    assert_eq!(unread_title(1), "(1) Confab");
    assert_eq!(unread_title(3), "(3) Confab");
    assert_eq!(unread_title(99), "(99) Confab");
    assert_eq!(unread_title(100), "(99+) Confab");
    assert_eq!(preview("  hello\n\n  there  "), "hello there");
    let long = "word ".repeat(40);
    let short = preview(&long);
    assert_eq!(short.chars().count(), 80, "{short}");
    assert!(short.ends_with("word…"), "{short}");
    assert_eq!(preview(&"é".repeat(80)), "é".repeat(80));
}

#[wasm_bindgen_test]
async fn unread_count_shows_in_the_title_until_cleared() {
    let parent = fresh_parent();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(state);
        view! { <UnreadTitle /> }
    });
    let document = web_sys::window().unwrap().document().unwrap();
    leptos::task::tick().await;
    assert_eq!(document.title(), "Confab");

    let id = |n: u8| confab_core::EventId::from_bytes_for_testing_only([n; 32]);
    assert!(state.note_unread(id(1)));
    assert!(state.note_unread(id(2)));
    assert!(state.note_unread(id(3)));
    leptos::task::tick().await;
    assert_eq!(document.title(), "(3) Confab");

    state.clear_unread();
    leptos::task::tick().await;
    assert_eq!(document.title(), "Confab");
    drop(handle);
}

#[wasm_bindgen_test]
fn a_message_already_shown_is_not_unread_again() {
    let state = AppState::new();
    let author = confab_core::MemberKey::from_bytes([2; 32]);
    let id = confab_core::EventId::from_bytes_for_testing_only([7; 32]);
    state.upsert_message(crate::state::MessageView {
        id,
        key: confab_core::OrderKey {
            lamport: 7,
            author,
            seq: 1,
        },
        author,
        mine: false,
        time: "12:00".into(),
        datetime: "2026-01-01T12:00:00.000Z".into(),
        text: "hi".into(),
        edited: false,
        deleted: false,
        unavailable: false,
        notice: None,
        reply_to: None,
        mentions_me: false,
        reactions: Vec::new(),
        file: None,
    });
    assert!(!state.note_unread(id), "an edit or reaction counted as new");
    assert_eq!(state.unread().get_untracked(), 0);
}

/// A message of `author`'s (their `seq`th event) as the driver shows it.
fn message(author: u8, seq: u64, mine: bool, deleted: bool) -> crate::state::MessageView {
    let key = confab_core::MemberKey::from_bytes([author; 32]);
    let mut id = [0; 32];
    id[..2].copy_from_slice(&[author, seq as u8]);
    crate::state::MessageView {
        id: confab_core::EventId::from_bytes_for_testing_only(id),
        key: confab_core::OrderKey {
            lamport: seq,
            author: key,
            seq,
        },
        author: key,
        mine,
        time: "12:00".into(),
        datetime: "2026-01-01T12:00:00.000Z".into(),
        text: format!("message {seq} of {author}"),
        edited: false,
        deleted,
        unavailable: false,
        notice: None,
        reply_to: None,
        mentions_me: false,
        reactions: Vec::new(),
        file: None,
    }
}

#[wasm_bindgen_test]
fn a_background_room_counts_what_its_read_marks_do_not_cover() {
    use crate::platform::store::ReadMarks;
    let state = AppState::new();
    let (me, bob, carol) = (1, 2, 3);
    // Bob's 1 to 4 (his 3rd deleted), Carol's 1 and 2, ours 1 and 2.
    for view in [
        message(bob, 1, false, false),
        message(me, 1, true, false),
        message(bob, 2, false, false),
        message(carol, 1, false, false),
        message(bob, 3, false, true),
        message(me, 2, true, false),
        message(bob, 4, false, false),
        message(carol, 2, false, false),
    ] {
        state.upsert_message(view);
    }
    let key = |n: u8| confab_core::MemberKey::from_bytes([n; 32]);
    // Seen: Bob's up to 2 and nothing of Carol's (she was not here yet). Unread: Bob's 4
    // (his 3 is deleted) and Carol's two; never our own.
    state.count_unseen(&ReadMarks::new([(key(bob), 2), (key(me), 1)]));
    assert_eq!(state.unread().get_untracked(), 3);
    // Everything seen.
    state.count_unseen(&ReadMarks::new([(key(bob), 4), (key(carol), 2)]));
    assert_eq!(state.unread().get_untracked(), 0);
    // Nothing seen (a room first kept while empty).
    state.count_unseen(&ReadMarks::default());
    assert_eq!(state.unread().get_untracked(), 5);
}

#[wasm_bindgen_test]
async fn install_button_only_while_the_browser_offers_it() {
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        provide_context(InstallOffer::listen(crate::platform::device::Device::new()));
        view! { <InstallButton /> }
    });
    leptos::task::tick().await;
    assert!(buttons(&parent).is_empty(), "{:?}", buttons(&parent));

    // The browser's offer (`beforeinstallprompt`) shows it; `appinstalled` hides it.
    let window = web_sys::window().unwrap();
    let offer = web_sys::Event::new("beforeinstallprompt").unwrap();
    window.dispatch_event(&offer).unwrap();
    leptos::task::tick().await;
    assert_eq!(buttons(&parent), ["Install Confab"]);
    window
        .dispatch_event(&web_sys::Event::new("appinstalled").unwrap())
        .unwrap();
    leptos::task::tick().await;
    assert!(buttons(&parent).is_empty(), "{:?}", buttons(&parent));
    drop(handle);

    // Without the context (a test page, an old browser) there is never a button.
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        view! { <InstallButton /> }
    });
    leptos::task::tick().await;
    assert!(buttons(&parent).is_empty());
    drop(handle);
}

/// Safari on iPhone and iPad, in a tab: no `Notification` (only the app on the Home
/// Screen has it) and `navigator.standalone` false, and never an install offer. The
/// notifications panel says how to add the app; where `navigator.standalone` does not
/// exist (any other browser without notifications) it shows nothing.
#[wasm_bindgen_test]
async fn safari_on_a_phone_is_told_how_to_add_the_app_to_the_home_screen() {
    let window = web_sys::window().unwrap();
    let navigator = window.navigator();
    let notification = js_sys::Reflect::get(&window, &"Notification".into()).unwrap();
    js_sys::Reflect::set(
        &window,
        &"Notification".into(),
        &wasm_bindgen::JsValue::UNDEFINED,
    )
    .unwrap();
    let panel_text = |parent: &web_sys::HtmlElement| parent.text_content().unwrap_or_default();

    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        provide_context(crate::components::tests::test_commands());
        view! { <NotificationsPanel /> }
    });
    leptos::task::tick().await;
    assert_eq!(panel_text(&parent), "", "without navigator.standalone");
    drop(handle);

    let standalone = js_sys::Object::new();
    js_sys::Reflect::set(&standalone, &"value".into(), &false.into()).unwrap();
    js_sys::Reflect::set(&standalone, &"configurable".into(), &true.into()).unwrap();
    js_sys::Object::define_property(&navigator, &"standalone".into(), &standalone);
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        provide_context(crate::components::tests::test_commands());
        view! { <NotificationsPanel /> }
    });
    leptos::task::tick().await;
    let shown = panel_text(&parent);
    drop(handle);
    js_sys::Reflect::delete_property(&navigator, &"standalone".into()).unwrap();
    js_sys::Reflect::set(&window, &"Notification".into(), &notification).unwrap();
    assert!(
        shown.contains("Share, then “Add to Home Screen”"),
        "{shown:?}"
    );
}

#[wasm_bindgen_test]
async fn background_rooms_show_their_unread_count_in_the_list_and_the_title() {
    let parent = fresh_parent();
    let state = AppState::new();
    let room = |n: u8| confab_core::RoomSecret::from_bytes([n; 32]).room_id();
    let view = |n: u8, title: &str, current: bool| crate::state::RoomView {
        id: room(n),
        title: title.into(),
        link: format!("http://127.0.0.1/#{n}"),
        last_opened: String::new(),
        current,
    };
    state.show_rooms(vec![view(1, "Group", true)]);
    // Bob's room starts in the background after start-up: it joins the list.
    let bob = AppState::new();
    state.background_room_started(room(2), bob);
    state.show_room(view(2, "Direct: Bob", false));
    state.show_room(view(1, "Group", false));
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(state);
        view! { <RoomsPanel /> <UnreadTitle /> }
    });
    let document = web_sys::window().unwrap().document().unwrap();
    let names = || {
        let links = parent.query_selector_all("ul[aria-label=Rooms] a").unwrap();
        (0..links.length())
            .filter_map(|i| links.item(i))
            .map(|link| {
                let link: web_sys::Element = link.unchecked_into();
                link.get_attribute("aria-label").unwrap_or_default()
            })
            .collect::<Vec<_>>()
    };
    leptos::task::tick().await;
    assert_eq!(names(), ["Group", "Direct: Bob"]);
    assert_eq!(document.title(), "Confab");

    // Bob's room's driver counts three of his messages: the list and the title show them,
    // even while the page is in front.
    for n in 1..=3 {
        bob.note_unread(message(2, n, false, false).id);
    }
    leptos::task::tick().await;
    assert_eq!(names(), ["Group", "Direct: Bob, 3 unread"]);
    assert_eq!(document.title(), "(3) Confab");
    // The room on screen's own count (page hidden) adds to it.
    state.note_unread(message(3, 1, false, false).id);
    leptos::task::tick().await;
    assert_eq!(document.title(), "(4) Confab");
    state.clear_unread();
    bob.clear_unread();
    leptos::task::tick().await;
    assert_eq!(names(), ["Group", "Direct: Bob"]);
    assert_eq!(document.title(), "Confab");
    drop(handle);
}

/// "Reset invite link" shows only to a governed room's owner and admins, and asks the
/// driver to reset the link.
#[wasm_bindgen_test]
async fn only_owners_and_admins_can_reset_the_invite_link() {
    use crate::state::Rank;

    let parent = fresh_parent();
    let state = AppState::new();
    let commands = crate::components::tests::test_commands();
    let handle = leptos::mount::mount_to(parent.clone(), {
        let commands = commands.clone();
        move || {
            provide_context(crate::platform::device::Device::new());
            state.show_invite_link(LINK.to_owned());
            provide_context(state);
            provide_context(commands);
            view! { <InvitePanel /> }
        }
    });
    let reset = "Reset invite link".to_owned();
    for (rank, shown) in [
        (None, false),
        (Some(Rank::Member), false),
        (Some(Rank::Admin), true),
        (Some(Rank::Owner), true),
    ] {
        state.governance_changed(crate::state::GovernanceView {
            governed: rank.is_some(),
            my_rank: rank,
            members: Vec::new(),
            disappear_after_secs: None,
            ..Default::default()
        });
        leptos::task::tick().await;
        assert_eq!(buttons(&parent).contains(&reset), shown, "{rank:?}");
    }
    assert!(commands.sent_for_testing_only().is_empty());
    button(&parent, "Reset invite link").click();
    leptos::task::tick().await;
    let sent = commands.sent_for_testing_only();
    assert!(
        matches!(sent.as_slice(), [crate::commands::Command::ResetLink]),
        "{sent:?}"
    );
    drop(handle);
}

/// The URL a real room's invite link has: origin, `/#`, 43 characters of secret.
const LINK: &str = "http://127.0.0.1:8080/#q7Zt0mW9xYp3LkR2vB8nC5dF1gH4jK6sA0eU2iO9-_w";

#[wasm_bindgen_test]
async fn invite_qr_code_reads_back_as_the_whole_link() {
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        let state = AppState::new();
        state.show_invite_link(LINK.to_owned());
        provide_context(state);
        provide_context(crate::components::tests::test_commands());
        view! { <InvitePanel /> }
    });
    leptos::task::tick().await;
    let names = buttons(&parent);
    assert!(names.contains(&"Show QR code".to_owned()), "{names:?}");
    // "Share invite" only where the browser can share.
    assert_eq!(
        names.contains(&"Share invite".to_owned()),
        crate::platform::pwa::can_share(),
        "{names:?}"
    );
    let toggle = button(&parent, "Show QR code");
    assert_eq!(
        toggle.get_attribute("aria-pressed").as_deref(),
        Some("false")
    );
    assert!(parent.query_selector("svg").unwrap().is_none());

    toggle.click();
    leptos::task::tick().await;
    assert_eq!(
        toggle.get_attribute("aria-pressed").as_deref(),
        Some("true")
    );
    let svg = parent
        .query_selector("svg[role=img]")
        .unwrap()
        .expect("the QR code");
    assert_eq!(
        svg.get_attribute("aria-label").as_deref(),
        Some("QR code of the invite link")
    );
    // Decode what was drawn: the SVG path's rectangles, rasterised, read by rqrr.
    let side: usize = svg
        .get_attribute("viewBox")
        .unwrap()
        .split(' ')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let d = svg
        .query_selector("path")
        .unwrap()
        .unwrap()
        .get_attribute("d")
        .unwrap();
    let dark = rasterise(side, &d);
    assert_eq!(decode(side, &dark), LINK);

    // The same modules as the encoder's own matrix, offset by the quiet zone.
    let (width, modules) = crate::components::invite::qr_matrix(LINK).unwrap();
    assert_eq!(side, width + 8);
    for y in 0..width {
        for x in 0..width {
            assert_eq!(
                dark[(y + 4) * side + x + 4],
                modules[y * width + x],
                "({x}, {y})"
            );
        }
    }

    toggle.click();
    leptos::task::tick().await;
    assert!(parent.query_selector("svg").unwrap().is_none());
    drop(handle);
}

/// Dark modules of a `side` × `side` code drawn as `M{x} {y}h{n}v1h-{n}z` runs.
fn rasterise(side: usize, d: &str) -> Vec<bool> {
    let mut dark = vec![false; side * side];
    for run in d.split('M').filter(|run| !run.is_empty()) {
        let (x, rest) = run.split_once(' ').unwrap();
        let (y, rest) = rest.split_once('h').unwrap();
        let (len, _) = rest.split_once('v').unwrap();
        let (x, y, len): (usize, usize, usize) =
            (x.parse().unwrap(), y.parse().unwrap(), len.parse().unwrap());
        for cell in &mut dark[y * side + x..y * side + x + len] {
            *cell = true;
        }
    }
    dark
}

/// What a QR reader makes of the modules, drawn 4 pixels each.
fn decode(side: usize, dark: &[bool]) -> String {
    const SCALE: usize = 4;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(side * SCALE, side * SCALE, |x, y| {
            if dark[(y / SCALE) * side + x / SCALE] {
                0
            } else {
                255
            }
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "QR codes found");
    grids[0].decode().expect("a readable QR code").1
}

/// "Show names and text in notifications" is on by default; turned off, the page's
/// notifications read "New message" and the service worker is told (`/previews-off` in
/// the cache it reads, even while a passphrase locks the profile); a panel mounted later
/// shows the choice kept.
#[wasm_bindgen_test]
async fn previews_can_be_turned_off_for_the_page_and_the_worker() {
    let window = web_sys::window().unwrap();
    let notification = js_sys::Reflect::get(&window, &"Notification".into()).unwrap();
    let asking = js_sys::Object::new();
    js_sys::Reflect::set(&asking, &"permission".into(), &"default".into()).unwrap();
    js_sys::Reflect::set(&window, &"Notification".into(), &asking).unwrap();
    // As the worker reads it: `caches.match("/previews-off", {cacheName: "confab-push"})`.
    let marked = || async {
        let caches = js_sys::Reflect::get(&js_sys::global(), &"caches".into()).unwrap();
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &"cacheName".into(), &"confab-push".into()).unwrap();
        let lookup = js_sys::Reflect::get(&caches, &"match".into())
            .unwrap()
            .unchecked_into::<js_sys::Function>()
            .call2(&caches, &"/previews-off".into(), &options)
            .unwrap();
        let kept = wasm_bindgen_futures::JsFuture::from(lookup.unchecked_into::<js_sys::Promise>())
            .await
            .unwrap();
        !kept.is_undefined()
    };
    let mount = || {
        let parent = fresh_parent();
        let handle = leptos::mount::mount_to(parent.clone(), || {
            provide_context(crate::platform::device::Device::new());
            provide_context(crate::components::tests::test_commands());
            view! { <NotificationsPanel /> }
        });
        (parent, handle)
    };
    let choice = |parent: &web_sys::HtmlElement| -> web_sys::HtmlInputElement {
        let labels = parent.query_selector_all("label").unwrap();
        let label = (0..labels.length())
            .filter_map(|i| labels.item(i))
            .find(|label| {
                label.text_content().unwrap_or_default().trim()
                    == "Show names and text in notifications"
            })
            .expect("a checkbox named \"Show names and text in notifications\"");
        label
            .unchecked_ref::<web_sys::Element>()
            .query_selector("input[type=checkbox]")
            .unwrap()
            .unwrap()
            .unchecked_into()
    };
    let settle = || gloo_timers::future::TimeoutFuture::new(100);

    let (parent, handle) = mount();
    settle().await;
    let checkbox = choice(&parent);
    assert!(checkbox.checked(), "on by default");
    assert!(crate::platform::pwa::previews());
    checkbox.click();
    settle().await;
    assert!(!checkbox.checked());
    assert!(
        !crate::platform::pwa::previews(),
        "the page's notifications"
    );
    assert!(marked().await, "the worker's mark");
    drop(handle);

    let (parent, handle) = mount();
    settle().await;
    let checkbox = choice(&parent);
    assert!(!checkbox.checked(), "kept");
    checkbox.click();
    settle().await;
    assert!(crate::platform::pwa::previews());
    assert!(!marked().await);
    drop(handle);
    js_sys::Reflect::set(&window, &"Notification".into(), &notification).unwrap();
}
