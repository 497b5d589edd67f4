//! Component tests of "Block"/"Unblock": on a contact's row in the Members list and in
//! Contacts, never on ours or on someone who is no contact.

use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::ContactsPanel;
use super::members::MemberList;
use crate::commands::{Command, Commands};
use crate::components::tests::{button, buttons, fresh_parent, member};
use crate::state::{AppState, ContactView, Me, Path};
use confab_core::PeerId;

wasm_bindgen_test_configure!(run_in_browser);

/// The list item of list `list` whose text starts with `name`.
fn row(parent: &web_sys::HtmlElement, list: &str, name: &str) -> web_sys::HtmlElement {
    let items = parent
        .query_selector_all(&format!("ul[aria-label={list}] > li"))
        .unwrap();
    (0..items.length())
        .filter_map(|i| items.item(i))
        .find(|li| li.text_content().unwrap_or_default().starts_with(name))
        .unwrap_or_else(|| panic!("a row for {name} in {list}"))
        .unchecked_into()
}

/// The names of the links in `parent`.
fn links(parent: &web_sys::HtmlElement) -> Vec<String> {
    let all = parent.query_selector_all("a").unwrap();
    (0..all.length())
        .filter_map(|i| all.item(i))
        .filter_map(|a| a.text_content())
        .collect()
}

fn contact(n: u8, name: &str, blocked: bool) -> ContactView {
    ContactView {
        key: member(n),
        name: name.into(),
        fingerprint: format!("{n}{n}{n}"),
        last_seen: "12:00".into(),
        chat_link: format!("#{n}"),
        blocked,
    }
}

/// We (Alice) met Bob, who is a contact; Carol is online but not verified as a contact
/// yet. Bob's rows offer "Block", Carol's and ours nothing; blocking sends the command,
/// and once the driver says Bob is blocked both rows offer "Unblock" and Contacts says so.
#[wasm_bindgen_test]
async fn block_and_unblock_are_offered_on_a_contact_s_rows_only() {
    let parent = fresh_parent();
    let state = AppState::new();
    let commands = Commands::new();
    let sender = commands.clone();
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        state.show_me(Me {
            name: "Alice".into(),
            fingerprint: "111".into(),
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
        // Ourselves as met on another device: never blocked from here.
        state.upsert_contact(contact(1, "Alice", false));
        state.upsert_contact(contact(2, "Bob", false));
        provide_context(state);
        provide_context(sender);
        view! { <MemberList /> <ContactsPanel /> }
    });
    handle.forget();
    leptos::task::tick().await;

    assert_eq!(buttons(&row(&parent, "Members", "Bob")), ["Block"]);
    assert!(buttons(&row(&parent, "Members", "Carol")).is_empty());
    assert_eq!(buttons(&row(&parent, "Contacts", "Bob")), ["Block"]);
    assert!(buttons(&row(&parent, "Contacts", "Alice")).is_empty());
    assert_eq!(links(&row(&parent, "Contacts", "Bob")), ["Message Bob"]);

    button(&row(&parent, "Members", "Bob"), "Block").click();
    leptos::task::tick().await;
    let sent = commands.sent_for_testing_only();
    assert!(
        matches!(sent.as_slice(), [Command::SetBlocked { member: m, blocked: true }] if *m == member(2)),
        "{sent:?}"
    );

    state.upsert_contact(contact(2, "Bob", true));
    leptos::task::tick().await;
    assert_eq!(buttons(&row(&parent, "Members", "Bob")), ["Unblock"]);
    let bob = row(&parent, "Contacts", "Bob");
    assert_eq!(buttons(&bob), ["Unblock"]);
    // No one-to-one room with someone blocked connects: none is offered (it was).
    assert!(links(&bob).is_empty(), "{:?}", links(&bob));
    assert!(
        bob.text_content().unwrap().contains("blocked, online"),
        "{:?}",
        bob.text_content()
    );
    button(&bob, "Unblock").click();
    leptos::task::tick().await;
    let sent = commands.sent_for_testing_only();
    assert!(
        matches!(sent.as_slice(), [Command::SetBlocked { member: m, blocked: false }] if *m == member(2)),
        "{sent:?}"
    );
}
