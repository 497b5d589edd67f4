//! The rooms kept on this device: open one, or start a new one.

use leptos::prelude::*;

use crate::state::AppState;

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
            <a class="button" href="/#new">"New room"</a>
        </section>
    }
}
