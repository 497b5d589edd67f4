//! The notice a room opened with a superseded invite link shows: the room moved to a new
//! link (it was reset, or someone was removed) and this one leads nowhere.

use leptos::prelude::*;

use crate::commands::Command;
use crate::state::AppState;
use crate::use_commands;

/// What the page says when the link it was opened with was superseded.
pub const SUPERSEDED: &str = "This invite link is no longer valid";

/// The disabled composer's placeholder (short: it fits a phone's message box).
pub const PLACEHOLDER: &str = "Link no longer valid";

/// Why, and what to do.
pub const SUPERSEDED_DETAIL: &str = "The room has a new link now. Ask a member for it.";

/// What the Invite panel says in place of the link that leads nowhere.
pub const NO_LINK: &str =
    "This room has a new invite link, which you do not have: ask a member for it.";

/// In place of "Nobody else is here yet", once core said our link was superseded
/// ([`AppState::link_superseded`]); the composer is disabled with it. Nothing of the room
/// was ever ours to read, so "Remove from my rooms" forgets it without asking.
#[component]
pub fn SupersededNotice() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    view! {
        <Show when=move || state.link_superseded().get()>
            // Named by its words as written (the heading's are shown in capitals).
            <section class="panel superseded" role="alert" aria-label=SUPERSEDED>
                <h2>{SUPERSEDED}</h2>
                <p class="hint">{SUPERSEDED_DETAIL}</p>
                <button
                    type="button"
                    class="button"
                    on:click={
                        let commands = commands.clone();
                        move |_| commands.send(Command::ForgetRoom)
                    }
                >
                    "Remove from my rooms"
                </button>
            </section>
        </Show>
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use leptos::prelude::*;
    use wasm_bindgen_test::*;

    use super::{PLACEHOLDER, SUPERSEDED, SupersededNotice};
    use crate::components::tests::{button, fresh_parent, message_box};
    use crate::state::AppState;

    wasm_bindgen_test_configure!(run_in_browser);

    /// Once core says the link was superseded, the page says so in an alert named by it,
    /// in place of "Nobody else is here yet", and the composer takes nothing.
    #[wasm_bindgen_test]
    async fn a_superseded_link_is_told_in_place_of_an_empty_room() {
        let parent = fresh_parent();
        let state = AppState::new();
        let handle = leptos::mount::mount_to(parent.clone(), move || {
            provide_context(crate::platform::device::Device::new());
            provide_context(state);
            provide_context(crate::components::tests::test_commands());
            view! {
                <SupersededNotice />
                <crate::components::MemberList />
                <crate::components::Composer />
            }
        });
        let text = || parent.text_content().unwrap_or_default();
        leptos::task::tick().await;
        assert!(text().contains("Nobody else is here yet."), "{}", text());
        assert!(parent.query_selector("[role=alert]").unwrap().is_none());
        assert!(!message_box(&parent).disabled());

        state.link_was_superseded();
        leptos::task::tick().await;
        let alert = parent
            .query_selector("[role=alert]")
            .unwrap()
            .expect("an alert");
        assert_eq!(
            alert.get_attribute("aria-label").as_deref(),
            Some(SUPERSEDED)
        );
        assert!(text().contains(SUPERSEDED), "{}", text());
        assert!(!text().contains("Nobody else is here yet"), "{}", text());
        let field = message_box(&parent);
        assert!(field.disabled());
        assert_eq!(field.placeholder(), PLACEHOLDER);
        let send: web_sys::HtmlButtonElement =
            wasm_bindgen::JsCast::unchecked_into(button(&parent, "Send"));
        assert!(send.disabled());
        drop(handle);
    }

    /// A superseded link's room can be removed from the list (it stayed there), and its
    /// Invite panel no longer offers the dead link (it showed it, with Copy and a QR code).
    #[wasm_bindgen_test]
    async fn a_superseded_room_offers_no_dead_link_and_can_be_removed() {
        use crate::commands::Command;
        let parent = fresh_parent();
        let state = AppState::new();
        let commands = crate::components::tests::test_commands();
        let handle = {
            let commands = commands.clone();
            leptos::mount::mount_to(parent.clone(), move || {
                provide_context(crate::platform::device::Device::new());
                provide_context(state);
                provide_context(commands);
                view! {
                    <SupersededNotice />
                    <crate::components::InvitePanel />
                }
            })
        };
        state.show_invite_link("https://confab.example/#dead".into());
        leptos::task::tick().await;
        // Shown: laid out on the page (a hidden element has no box).
        let shown = |selector: &str| {
            parent.query_selector(selector).unwrap().is_some_and(|e| {
                wasm_bindgen::JsCast::unchecked_into::<web_sys::HtmlElement>(e).offset_height() > 0
            })
        };
        assert!(shown("input[aria-label='Invite link']"));
        assert!(shown("button"));
        state.link_was_superseded();
        leptos::task::tick().await;
        assert!(
            !shown("input[aria-label='Invite link']"),
            "the dead link is offered"
        );
        let text = parent.inner_text();
        assert!(text.contains(super::NO_LINK), "{text}");
        for name in ["Copy", "Show QR code"] {
            assert_eq!(
                button(&parent, name).offset_height(),
                0,
                "{name} is offered"
            );
        }
        button(&parent, "Remove from my rooms").click();
        let sent = commands.sent_for_testing_only();
        assert!(matches!(sent.as_slice(), [Command::ForgetRoom]), "{sent:?}");
        drop(handle);
    }
}
