//! Component tests of a governed room's Members list: ranks after names, offline members,
//! the actions core allows, and the confirmation before removing someone.

use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::MemberList;
use crate::commands::{Command, Commands};
use crate::components::tests::{button, buttons, fresh_parent, member};
use crate::state::{AppState, GovernanceView, Me, Path, Powers, Rank, RankedMember};
use confab_core::{MemberKey, PeerId};

wasm_bindgen_test_configure!(run_in_browser);

/// The list item whose text starts with `name`.
fn row(parent: &web_sys::HtmlElement, name: &str) -> web_sys::HtmlElement {
    let items = parent
        .query_selector_all("ul[aria-label=Members] > li")
        .unwrap();
    (0..items.length())
        .filter_map(|i| items.item(i))
        .find(|li| li.text_content().unwrap_or_default().starts_with(name))
        .unwrap_or_else(|| panic!("a row for {name}"))
        .unchecked_into()
}

fn dialog(parent: &web_sys::HtmlElement) -> Option<web_sys::Element> {
    parent.query_selector("[role=dialog]").unwrap()
}

fn ranked(key: MemberKey, rank: Rank, powers: Powers) -> RankedMember {
    RankedMember { key, rank, powers }
}

/// We own the room: Bob is an admin (online), Carol a member (online), Dave a member who
/// is offline. Powers as core gives an owner.
fn owners_view() -> GovernanceView {
    let over_admin = Powers {
        remove: true,
        promote: false,
        demote: true,
    };
    let over_member = Powers {
        remove: true,
        promote: true,
        demote: false,
    };
    GovernanceView {
        governed: true,
        my_rank: Some(Rank::Owner),
        members: vec![
            ranked(member(1), Rank::Owner, Powers::default()),
            ranked(member(2), Rank::Admin, over_admin),
            ranked(member(3), Rank::Member, over_member),
            ranked(member(4), Rank::Member, over_member),
        ],
        disappear_after_secs: None,
        ..Default::default()
    }
}

fn mount(state: AppState, commands: Commands) -> web_sys::HtmlElement {
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        state.show_me(Me {
            name: "Alice".into(),
            fingerprint: "00000".into(),
            key: member(1),
        });
        for (peer, name) in [(2, "Bob"), (3, "Carol")] {
            state.member_verified(
                PeerId::new(peer),
                member(peer as u8),
                name.into(),
                format!("{peer}{peer}{peer}"),
                Path::Direct,
            );
        }
        state.member_named(member(4), "Dave".into());
        provide_context(state);
        provide_context(commands);
        view! { <MemberList /> }
    });
    handle.forget();
    parent
}

#[wasm_bindgen_test]
async fn a_governed_room_lists_everyone_with_ranks_and_the_actions_core_allows() {
    let state = AppState::new();
    let commands = Commands::new();
    let parent = mount(state, commands.clone());
    leptos::task::tick().await;
    // Ungoverned so far: the two online members, no ranks, no actions.
    assert_eq!(
        parent
            .query_selector_all("ul[aria-label=Members] > li")
            .unwrap()
            .length(),
        2
    );
    assert!(buttons(&parent).is_empty(), "{:?}", buttons(&parent));

    state.governance_changed(owners_view());
    leptos::task::tick().await;
    let bob = row(&parent, "Bob");
    assert!(bob.text_content().unwrap().starts_with("Bob Admin"));
    assert_eq!(buttons(&bob), ["Remove admin", "Remove from room", "Block"]);
    let carol = row(&parent, "Carol");
    assert!(!carol.text_content().unwrap().contains("Admin"));
    assert_eq!(buttons(&carol), ["Make admin", "Remove from room", "Block"]);
    // Dave is offline but in the room: never met, he may be blocked all the same.
    let dave = row(&parent, "Dave");
    assert!(dave.text_content().unwrap().contains("offline"));
    assert_eq!(buttons(&dave), ["Make admin", "Remove from room", "Block"]);
    // We are not listed.
    assert!(!parent.text_content().unwrap().contains("Alice"));

    button(&carol, "Make admin").click();
    leptos::task::tick().await;
    let sent = commands.sent_for_testing_only();
    assert!(
        matches!(sent.as_slice(), [Command::SetAdmin { member: m, admin: true }] if *m == member(3)),
        "{sent:?}"
    );

    // Removing asks first; Cancel asks nothing of the driver.
    button(&dave, "Remove from room").click();
    leptos::task::tick().await;
    let asked = dialog(&parent).expect("a confirmation");
    assert_eq!(
        asked.get_attribute("aria-label").as_deref(),
        Some("Remove Dave from this room?")
    );
    assert_eq!(buttons(&asked), ["Remove", "Cancel"]);
    let focused = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .active_element();
    assert_eq!(
        focused.and_then(|f| f.text_content()).as_deref(),
        Some("Cancel")
    );
    button(&asked, "Cancel").click();
    leptos::task::tick().await;
    assert!(dialog(&parent).is_none());
    assert!(commands.sent_for_testing_only().is_empty());
    button(&row(&parent, "Dave"), "Remove from room").click();
    leptos::task::tick().await;
    button(&dialog(&parent).unwrap(), "Remove").click();
    leptos::task::tick().await;
    assert!(dialog(&parent).is_none());
    let sent = commands.sent_for_testing_only();
    assert!(
        matches!(sent.as_slice(), [Command::RemoveMember(m)] if *m == member(4)),
        "{sent:?}"
    );

    // A plain member sees the ranks and no actions but "Block".
    let mut members_view = owners_view();
    members_view.my_rank = Some(Rank::Member);
    for ranked in &mut members_view.members {
        ranked.powers = Powers::default();
    }
    state.governance_changed(members_view);
    leptos::task::tick().await;
    assert!(
        row(&parent, "Bob")
            .text_content()
            .unwrap()
            .starts_with("Bob Admin")
    );
    assert_eq!(buttons(&parent), ["Block", "Block", "Block"]);
}

/// Governance lines sit among the messages in room order, named as the reader knows them.
#[wasm_bindgen_test]
async fn governance_actions_are_lines_among_the_messages() {
    use confab_core::history::GovernNotice;
    let parent = fresh_parent();
    let state = AppState::new();
    let line = |n: u8, author: MemberKey, notice: GovernNotice| {
        let mut line = crate::components::tests::message(n, author, "");
        line.notice = Some(notice);
        line
    };
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        state.show_me(Me {
            name: "Alice".into(),
            fingerprint: "00000".into(),
            key: member(1),
        });
        for (n, name) in [(2, "Bob"), (3, "Carol"), (4, "Dave")] {
            state.member_named(member(n), name.into());
        }
        state.upsert_message(crate::components::tests::message(1, member(4), "hi"));
        state.upsert_message(line(
            2,
            member(1),
            GovernNotice::Promoted { member: member(2) },
        ));
        state.upsert_message(line(
            3,
            member(2),
            GovernNotice::Removed { member: member(4) },
        ));
        state.upsert_message(line(
            4,
            member(2),
            GovernNotice::Promoted { member: member(1) },
        ));
        state.upsert_message(line(5, member(2), GovernNotice::LinkReset));
        state.upsert_message(line(6, member(3), GovernNotice::Left));
        // Settings changes are told against the change before them.
        let approval = confab_core::governance::Settings {
            joining: confab_core::governance::Joining::Approval,
            ..Default::default()
        };
        state.upsert_message(line(
            7,
            member(2),
            GovernNotice::Configured { settings: approval },
        ));
        state.upsert_message(line(
            8,
            member(2),
            GovernNotice::Configured {
                settings: confab_core::governance::Settings {
                    disappear_after_secs: Some(86_400),
                    ..approval
                },
            },
        ));
        provide_context(state);
        provide_context(crate::components::tests::test_commands());
        view! { <crate::components::Conversation /> }
    });
    leptos::task::tick().await;
    let items = parent
        .query_selector_all("ul[aria-label=Messages] > li")
        .unwrap();
    let texts: Vec<String> = (0..items.length())
        .map(|i| items.item(i).unwrap().text_content().unwrap_or_default())
        .collect();
    assert!(texts[0].contains("hi"), "{texts:?}");
    let lines: Vec<&str> = texts[1..]
        .iter()
        .map(|t| {
            t.trim_end_matches(|c: char| c.is_ascii_digit() || c == ':')
                .trim()
        })
        .collect();
    assert_eq!(
        lines,
        [
            "You made Bob an admin",
            "Bob removed Dave",
            "Bob made you an admin",
            "Bob reset the invite link",
            "Carol left",
            "Bob turned on approval for newcomers",
            "Bob set disappearing messages to 1 day",
        ]
    );
    drop(handle);
}

/// A removed member's composer says why it is disabled; the messages stay.
#[wasm_bindgen_test]
async fn a_removed_member_cannot_write_and_is_told_why() {
    let parent = fresh_parent();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(state);
        provide_context(crate::components::tests::test_commands());
        view! { <crate::components::Composer /> }
    });
    leptos::task::tick().await;
    let field = crate::components::tests::message_box(&parent);
    assert!(!field.disabled());
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: None,
        members: vec![ranked(member(2), Rank::Owner, Powers::default())],
        disappear_after_secs: None,
        ..Default::default()
    });
    leptos::task::tick().await;
    assert!(field.disabled());
    assert_eq!(field.placeholder(), "You were removed");
    let send = button(&parent, "Send");
    assert!(
        send.unchecked_ref::<web_sys::HtmlButtonElement>()
            .disabled()
    );
    // Nor can a file or an emoji go in: nothing of the composer is left to press.
    for name in ["Attach file", "Emoji"] {
        let control: web_sys::HtmlButtonElement = parent
            .query_selector(&format!("button[aria-label='{name}']"))
            .unwrap()
            .unwrap_or_else(|| panic!("a button {name:?}"))
            .unchecked_into();
        assert!(control.disabled(), "{name} is enabled");
    }
    drop(handle);
}

/// At a phone's width (390 px) a row with a long name, its rank and all three actions, and
/// the confirmation, fit without scrolling sideways.
#[wasm_bindgen_test]
async fn rows_and_the_confirmation_fit_a_phone_width() {
    let style = crate::components::tests::with_stylesheet();
    let state = AppState::new();
    let parent = mount(state, Commands::new());
    parent.set_attribute("style", "width: 390px").unwrap();
    state.member_named(
        member(4),
        "Bartholomew Maximilian von Unterbrunnenhausen".into(),
    );
    let mut view = owners_view();
    view.members[3].powers = Powers {
        remove: true,
        promote: true,
        demote: true,
    };
    state.governance_changed(view);
    leptos::task::tick().await;
    button(&row(&parent, "Bartholomew"), "Remove from room").click();
    leptos::task::tick().await;
    assert!(dialog(&parent).is_some());
    let panel: web_sys::HtmlElement = parent
        .query_selector("section.members")
        .unwrap()
        .unwrap()
        .unchecked_into();
    assert!(
        panel.scroll_width() <= panel.client_width(),
        "{} > {}",
        panel.scroll_width(),
        panel.client_width()
    );
    assert!(parent.scroll_width() <= 390, "{}", parent.scroll_width());
    style.remove();
}

/// "Join requests" is a region for the owner and admins, "Dave wants to join" with
/// "Approve" and "Decline", which answer; without requests it is gone.
#[wasm_bindgen_test]
async fn join_requests_are_a_region_with_approve_and_decline() {
    use crate::state::JoinRequest;
    let parent = fresh_parent();
    let state = AppState::new();
    let commands = crate::components::tests::test_commands();
    let handle = {
        let commands = commands.clone();
        leptos::mount::mount_to(parent.clone(), move || {
            provide_context(state);
            provide_context(commands);
            view! { <super::join_requests::JoinRequests /> }
        })
    };
    leptos::task::tick().await;
    let region = || {
        parent
            .query_selector("[role=region][aria-label='Join requests']")
            .unwrap()
    };
    assert!(region().is_none());
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: Some(Rank::Admin),
        join_requests: vec![
            JoinRequest {
                member: member(4),
                name: Some("Dave".into()),
            },
            JoinRequest {
                member: member(5),
                name: None,
            },
        ],
        ..owners_view()
    });
    leptos::task::tick().await;
    let region = region().expect("the region");
    let items = region.query_selector_all("li").unwrap();
    let rows: Vec<String> = (0..items.length())
        .map(|i| items.item(i).unwrap().text_content().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "Dave wants to joinApproveDecline",
            "Someone wants to joinApproveDecline"
        ]
    );
    let dave_row: web_sys::Element = items.item(0).unwrap().unchecked_into();
    button(&dave_row, "Approve").click();
    let someone_row: web_sys::Element = items.item(1).unwrap().unchecked_into();
    button(&someone_row, "Decline").click();
    let sent: Vec<String> = commands
        .sent_for_testing_only()
        .iter()
        .map(|c| format!("{c:?}"))
        .collect();
    assert_eq!(
        sent,
        [
            format!(
                "{:?}",
                Command::AnswerJoin {
                    member: member(4),
                    admit: true
                }
            ),
            format!(
                "{:?}",
                Command::AnswerJoin {
                    member: member(5),
                    admit: false
                }
            ),
        ]
    );
    state.governance_changed(owners_view());
    leptos::task::tick().await;
    assert!(
        parent
            .query_selector("[role=region][aria-label='Join requests']")
            .unwrap()
            .is_none()
    );
    drop(handle);
}

/// A newcomer not let in yet cannot write, and is told it waits for an admin.
#[wasm_bindgen_test]
async fn a_newcomer_waiting_to_be_let_in_cannot_write() {
    let parent = fresh_parent();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(state);
        provide_context(crate::components::tests::test_commands());
        view! { <crate::components::Composer /> }
    });
    leptos::task::tick().await;
    let field = crate::components::tests::message_box(&parent);
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: Some(Rank::Member),
        waiting: true,
        ..Default::default()
    });
    leptos::task::tick().await;
    assert!(field.disabled());
    assert_eq!(field.placeholder(), "Not let in yet");
    state.governance_changed(GovernanceView {
        governed: true,
        my_rank: Some(Rank::Member),
        ..Default::default()
    });
    leptos::task::tick().await;
    assert!(!field.disabled(), "let in");
    drop(handle);
}

/// A row's buttons share one line ("Make admin", "Remove from room" and "Block" stacked one
/// per line: "Block" sat in a box of its own), which wraps where it must: at a phone's width
/// (390 px) every button stays inside the row.
#[wasm_bindgen_test]
async fn a_row_s_buttons_share_one_line_that_wraps() {
    let style = crate::components::tests::with_stylesheet();
    let state = AppState::new();
    let parent = mount(state, Commands::new());
    parent.set_attribute("style", "width: 600px").unwrap();
    state.governance_changed(owners_view());
    leptos::task::tick().await;
    let carol = row(&parent, "Carol");
    let tops = |row: &web_sys::HtmlElement| -> Vec<i32> {
        let all = row.query_selector_all("button").unwrap();
        (0..all.length())
            .map(|i| {
                all.item(i)
                    .unwrap()
                    .unchecked_into::<web_sys::HtmlElement>()
                    .offset_top()
            })
            .collect()
    };
    let carols = tops(&carol);
    assert_eq!(carols.len(), 3);
    assert!(carols.iter().all(|top| *top == carols[0]), "{carols:?}");
    parent.set_attribute("style", "width: 200px").unwrap();
    leptos::task::tick().await;
    // Every button inside the row (offsets from the same positioned ancestor).
    let row_right = carol.offset_left() + carol.offset_width();
    let buttons = carol.query_selector_all("button").unwrap();
    for i in 0..buttons.length() {
        let button: web_sys::HtmlElement = buttons.item(i).unwrap().unchecked_into();
        let right = button.offset_left() + button.offset_width();
        assert!(right <= row_right, "{right} > {row_right}");
    }
    assert!(
        tops(&carol).iter().any(|top| *top != tops(&carol)[0]),
        "wrapped"
    );
    style.remove();
}

/// A newcomer asking to join (a room that needs approval) is no member yet: it shows
/// under "Join requests" only, not online in the Members list (it did).
#[wasm_bindgen_test]
async fn a_newcomer_asking_to_join_is_not_listed_as_a_member() {
    let state = AppState::new();
    let parent = mount(state, Commands::new());
    let mut view = owners_view();
    // Carol (online) asks to join: core lists her as asking, not among the members.
    view.members.retain(|m| m.key != member(3));
    view.asking = vec![member(3)];
    state.governance_changed(view);
    leptos::task::tick().await;
    let text = parent.text_content().unwrap();
    assert!(!text.contains("Carol"), "{text}");
    assert!(text.contains("Bob") && text.contains("Dave"), "{text}");
    // Let in: a member like the others.
    state.governance_changed(owners_view());
    leptos::task::tick().await;
    assert!(
        row(&parent, "Carol")
            .text_content()
            .unwrap()
            .contains("online")
    );
}

/// Our leave went unheard: the page says so and "Forget the room now" asks the driver to
/// forget it without waiting.
#[wasm_bindgen_test]
async fn an_unheard_leave_offers_to_forget_the_room_now() {
    let parent = fresh_parent();
    let state = AppState::new();
    let commands = Commands::new();
    let sender = commands.clone();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(state);
        provide_context(sender);
        view! { <super::LeaveUnheard /> }
    });
    leptos::task::tick().await;
    assert!(parent.query_selector("[role=alert]").unwrap().is_none());
    state.governance_changed(GovernanceView {
        governed: true,
        leave_unheard: true,
        ..Default::default()
    });
    leptos::task::tick().await;
    let alert = parent
        .query_selector("[role=alert]")
        .unwrap()
        .expect("an alert");
    assert!(alert.text_content().unwrap().contains(super::LEAVE_UNHEARD));
    button(&alert, "Forget the room now").click();
    let sent = commands.sent_for_testing_only();
    assert!(matches!(sent.as_slice(), [Command::ForgetRoom]), "{sent:?}");
    drop(handle);
}

/// A shut-out composer's placeholder fits one line of the message box at a phone's width
/// (390 px, 16 px text, 44 px buttons): "Waiting for an admin to let you in" wrapped onto
/// a second line the one-line box cut off (Erin's phone in e2e governed_join).
#[wasm_bindgen_test]
async fn a_shut_out_placeholder_fits_a_phone_s_message_box() {
    let style = crate::components::tests::with_stylesheet();
    // The phone's sizes, whatever this window's: as main.css sets them below 760 px.
    let phone = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .create_element("style")
        .unwrap();
    phone.set_text_content(Some(
        ".composer textarea { font-size: 16px; min-height: 44px; } \
         .composer .button { min-height: 44px; min-width: 44px; }",
    ));
    web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .head()
        .unwrap()
        .append_child(&phone)
        .unwrap();
    let parent = fresh_parent();
    parent.set_attribute("style", "width: 390px").unwrap();
    let state = AppState::new();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(state);
        provide_context(crate::components::tests::test_commands());
        view! { <crate::components::Composer /> }
    });
    let field = crate::components::tests::message_box(&parent);
    for view in [
        GovernanceView {
            governed: true,
            my_rank: Some(Rank::Member),
            waiting: true,
            ..Default::default()
        },
        GovernanceView {
            governed: true,
            my_rank: None,
            ..Default::default()
        },
    ] {
        state.governance_changed(view);
        leptos::task::tick().await;
        // The placeholder's width in the field's font, against the room inside its padding.
        let window = web_sys::window().unwrap();
        let computed = window.get_computed_style(&field).unwrap().unwrap();
        let px = |name: &str| {
            computed
                .get_property_value(name)
                .unwrap()
                .trim_end_matches("px")
                .parse::<f64>()
                .unwrap()
        };
        let probe: web_sys::HtmlElement = window
            .document()
            .unwrap()
            .create_element("span")
            .unwrap()
            .unchecked_into();
        probe.set_text_content(Some(&field.placeholder()));
        probe
            .set_attribute(
                "style",
                &format!(
                    "font: {}; white-space: nowrap; position: absolute",
                    computed.get_property_value("font").unwrap()
                ),
            )
            .unwrap();
        parent.append_child(&probe).unwrap();
        let needed = f64::from(probe.offset_width());
        probe.remove();
        let room = f64::from(field.client_width()) - px("padding-left") - px("padding-right");
        assert!(
            needed <= room,
            "{:?}: {needed} px in {room} px",
            field.placeholder()
        );
    }
    drop(handle);
    phone.remove();
    style.remove();
}
