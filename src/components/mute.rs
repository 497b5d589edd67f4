//! "Mute" (and "Unmute"): a room's notifications off, but for messages that mention us.

use leptos::prelude::*;

use crate::commands::Command;
use crate::state::AppState;
use crate::use_commands;

/// Mutes or unmutes this room's notifications; kept per room on this device.
#[component]
pub fn MuteButton() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let muted = move || state.muted().get();
    let toggle = move |_| commands.send(Command::SetMuted(!state.muted().get_untracked()));
    view! {
        <button type="button" class="button small mute"
            aria-label=move || if muted() { "Unmute" } else { "Mute" }
            title=move || if muted() {
                "Muted: only messages that mention you notify. Turn this room's notifications back on"
            } else {
                "Turn this room's notifications off (messages that mention you still notify)"
            }
            on:click=toggle>
            {move || if muted() { "🔕 Unmute" } else { "🔔 Mute" }}
        </button>
    }
}
