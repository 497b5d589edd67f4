//! Component tests of the room settings: "Disappearing messages" shows only in a governed
//! room, says the room's timer, asks the driver to change it, and is disabled for members
//! who may not change it.

use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::RoomSettings;
use crate::commands::Command;
use crate::components::tests::{fresh_parent, test_commands};
use crate::state::{AppState, GovernanceView, Rank};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn disappearing_messages_show_the_timer_and_ask_to_change_it() {
    let parent = fresh_parent();
    let (state, commands) = (AppState::new(), test_commands());
    let handle = {
        let commands = commands.clone();
        leptos::mount::mount_to(parent.clone(), move || {
            provide_context(state);
            provide_context(commands);
            view! { <RoomSettings /> }
        })
    };
    leptos::task::tick().await;
    let select = || {
        parent
            .query_selector("select[aria-label='Disappearing messages']")
            .unwrap()
            .map(|e| e.unchecked_into::<web_sys::HtmlSelectElement>())
    };
    assert!(
        select().is_none(),
        "a room without governance has no settings"
    );

    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: Some(Rank::Admin),
        members: Vec::new(),
        disappear_after_secs: Some(3_600),
        ..Default::default()
    });
    leptos::task::tick().await;
    let field = select().expect("the setting in a governed room");
    let names: Vec<String> = (0..field.length())
        .map(|n| field.item(n).unwrap().text_content().unwrap())
        .collect();
    assert_eq!(names, ["Off", "1 hour", "1 day", "1 week"]);
    assert_eq!(field.value(), "3600");
    assert!(!field.disabled());
    field.set_value("86400");
    field
        .dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
    field.set_value("off");
    field
        .dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
    let sent: Vec<String> = commands
        .sent_for_testing_only()
        .iter()
        .map(|c| format!("{c:?}"))
        .collect();
    assert_eq!(
        sent,
        [
            format!("{:?}", Command::SetDisappearing(Some(86_400))),
            format!("{:?}", Command::SetDisappearing(None)),
        ]
    );

    // A member who may not change it sees it disabled; a time set elsewhere is named.
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: Some(Rank::Member),
        members: Vec::new(),
        disappear_after_secs: Some(7_200),
        ..Default::default()
    });
    leptos::task::tick().await;
    let field = select().unwrap();
    assert!(field.disabled());
    assert_eq!(field.value(), "7200");
    assert_eq!(
        field
            .selected_options()
            .item(0)
            .unwrap()
            .text_content()
            .unwrap(),
        "2 hours"
    );
    drop(handle);
}

/// "Who can join" and "New members see" say the room's settings, ask the driver to change
/// them, and are disabled for members who may not.
#[wasm_bindgen_test]
async fn who_can_join_and_what_newcomers_see_show_and_ask_to_change() {
    use crate::state::{Backlog, Joining};
    let parent = fresh_parent();
    let (state, commands) = (AppState::new(), test_commands());
    let handle = {
        let commands = commands.clone();
        leptos::mount::mount_to(parent.clone(), move || {
            provide_context(state);
            provide_context(commands);
            view! { <RoomSettings /> }
        })
    };
    let select = |name: &str| {
        parent
            .query_selector(&format!("select[aria-label='{name}']"))
            .unwrap()
            .map(|e| e.unchecked_into::<web_sys::HtmlSelectElement>())
            .unwrap_or_else(|| panic!("a select {name:?}"))
    };
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: Some(Rank::Owner),
        joining: Joining::Approval,
        ..Default::default()
    });
    leptos::task::tick().await;
    let (joining, backlog) = (select("Who can join"), select("New members see"));
    let names = |field: &web_sys::HtmlSelectElement| -> Vec<String> {
        (0..field.length())
            .map(|n| field.item(n).unwrap().text_content().unwrap())
            .collect()
    };
    assert_eq!(
        names(&joining),
        ["Anyone with the link", "An admin approves each newcomer"]
    );
    assert_eq!(
        names(&backlog),
        ["The whole history", "Only messages from when they joined"]
    );
    assert_eq!(joining.value(), "approval");
    assert_eq!(backlog.value(), "all");
    assert!(!joining.disabled() && !backlog.disabled());
    joining.set_value("open");
    joining
        .dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
    backlog.set_value("since");
    backlog
        .dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
    let sent: Vec<String> = commands
        .sent_for_testing_only()
        .iter()
        .map(|c| format!("{c:?}"))
        .collect();
    assert_eq!(
        sent,
        [
            format!("{:?}", Command::SetApproval(false)),
            format!("{:?}", Command::SetSinceJoining(true)),
        ]
    );
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: Some(Rank::Member),
        backlog: Backlog::SinceJoining,
        ..Default::default()
    });
    leptos::task::tick().await;
    let (joining, backlog) = (select("Who can join"), select("New members see"));
    assert!(joining.disabled() && backlog.disabled());
    assert_eq!(
        (joining.value(), backlog.value()),
        ("open".into(), "since".into())
    );
    drop(handle);
}

/// "Leave room" asks first ("Leave" or "Cancel"), and only "Leave" asks the driver to
/// leave; nobody who may not leave is offered it.
#[wasm_bindgen_test]
async fn leave_room_asks_first() {
    use crate::components::tests::{button, buttons};
    let parent = fresh_parent();
    let (state, commands) = (AppState::new(), test_commands());
    let handle = {
        let commands = commands.clone();
        leptos::mount::mount_to(parent.clone(), move || {
            provide_context(state);
            provide_context(commands);
            view! { <RoomSettings /> }
        })
    };
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: None,
        ..Default::default()
    });
    leptos::task::tick().await;
    assert!(!buttons(&parent).contains(&"Leave room".to_owned()));
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: Some(Rank::Member),
        may_leave: true,
        ..Default::default()
    });
    leptos::task::tick().await;
    let dialog = || parent.query_selector("[role=dialog]").unwrap();
    button(&parent, "Leave room").click();
    leptos::task::tick().await;
    let asked = dialog().expect("a confirmation");
    assert_eq!(
        asked.get_attribute("aria-label").unwrap(),
        "Leave this room?"
    );
    button(&parent, "Cancel").click();
    leptos::task::tick().await;
    assert!(dialog().is_none());
    assert!(commands.sent_for_testing_only().is_empty());
    button(&parent, "Leave room").click();
    leptos::task::tick().await;
    button(&parent, "Leave").click();
    leptos::task::tick().await;
    assert!(dialog().is_none());
    let sent: Vec<String> = commands
        .sent_for_testing_only()
        .iter()
        .map(|c| format!("{c:?}"))
        .collect();
    assert_eq!(sent, [format!("{:?}", Command::LeaveRoom)]);
    drop(handle);
}
