//! The rooms kept on this device: open one, or start a new one (who may join it chosen
//! first: anyone with the link, or whom an admin approves).

use leptos::prelude::*;

use crate::state::AppState;

/// The fragment of "New room" with "An admin approves each newcomer" chosen beside it.
pub const NEW_WITH_APPROVAL: &str = "new-approval";

/// Lists saved rooms (most recent first) as links, and offers a new room.
#[component]
pub fn RoomsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <section class="panel rooms">
            <h2>"Rooms"</h2>
            <ul aria-label="Rooms" class="room-list">
                <For
                    each=move || state.rooms().get()
                    key=|room| (room.id, room.title.clone(), room.current)
                    children=move |room| {
                        let title = if room.title.is_empty() {
                            format!("Room {}", &room.id.to_string()[..6])
                        } else {
                            room.title.clone()
                        };
                        let current = room.current.then_some("page");
                        let id = room.id;
                        let unread = move || state.unread_in(id);
                        // The count is part of the link's name ("Bob, 3 unread").
                        let label = {
                            let title = title.clone();
                            move || match unread() {
                                0 => title.clone(),
                                n => format!("{title}, {n} unread"),
                            }
                        };
                        view! {
                            <li class="room" class:current=room.current class:unread=move || unread() != 0>
                                <a href=room.link aria-current=current aria-label=label>
                                    {title}
                                    <Show when=move || unread() != 0>
                                        <span class="unread-count" aria-hidden="true">{unread}</span>
                                    </Show>
                                </a>
                                <span class="member-status">
                                    {if room.last_opened.is_empty() { "not opened yet".to_owned() } else { format!("opened {}", room.last_opened) }}
                                </span>
                            </li>
                        }
                    }
                />
            </ul>
            <NewRoom />
        </section>
    }
}

/// "New room", and beside it who may join the room it starts: anyone with the link, or
/// whom an admin approves (chosen before founding, so no newcomer ever joins unasked; the
/// room's settings can change it later).
#[component]
fn NewRoom() -> impl IntoView {
    let approval = RwSignal::new(false);
    let href = move || {
        if approval.get() {
            format!("/#{NEW_WITH_APPROVAL}")
        } else {
            "/#new".to_owned()
        }
    };
    view! {
        <div class="new-room">
            <a class="button" href=href>"New room"</a>
            <label class="setting">
                "Who can join a new room"
                <select
                    aria-label="Who can join a new room"
                    on:change=move |ev| approval.set(event_target_value(&ev) == "approval")
                >
                    <option value="open" selected>"Anyone with the link"</option>
                    <option value="approval">"An admin approves each newcomer"</option>
                </select>
            </label>
        </div>
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use leptos::prelude::*;
    use wasm_bindgen::JsCast as _;
    use wasm_bindgen_test::*;

    use super::RoomsPanel;
    use crate::components::tests::fresh_parent;
    use crate::state::AppState;

    wasm_bindgen_test_configure!(run_in_browser);

    /// "New room" can found a room that needs approval: the choice beside it goes into
    /// the link (a new room could only be open to anyone with the link, then changed).
    #[wasm_bindgen_test]
    async fn a_new_room_may_need_approval_from_the_start() {
        let parent = fresh_parent();
        let state = AppState::new();
        let handle = leptos::mount::mount_to(parent.clone(), move || {
            provide_context(state);
            view! { <RoomsPanel /> }
        });
        leptos::task::tick().await;
        let link = || {
            let link = parent.query_selector("a.button").unwrap().unwrap();
            assert_eq!(link.text_content().as_deref(), Some("New room"));
            link.get_attribute("href").unwrap()
        };
        assert_eq!(link(), "/#new");
        let select: web_sys::HtmlSelectElement = parent
            .query_selector("select[aria-label='Who can join a new room']")
            .unwrap()
            .unwrap()
            .unchecked_into();
        select.set_value("approval");
        select
            .dispatch_event(&web_sys::Event::new("change").unwrap())
            .unwrap();
        leptos::task::tick().await;
        assert_eq!(link(), "/#new-approval");
        drop(handle);
    }
}
