//! A governed room's settings panel: "Who can join" (anyone with the link, or whom an
//! admin approves), "New members see" (the whole history, or only from when they joined)
//! and "Disappearing messages" (Off, 1 hour, 1 day or 1 week), which its owner and admins
//! may change (issue 17, items 4 and 6).

use leptos::prelude::*;

use super::confirm::ConfirmDialog;
use crate::commands::Command;
use crate::state::{AppState, Backlog, Joining};
use crate::use_commands;

/// The timers offered, in seconds (`None`: off), with their names.
pub const CHOICES: [(Option<u32>, &str); 4] = [
    (None, "Off"),
    (Some(3_600), "1 hour"),
    (Some(86_400), "1 day"),
    (Some(604_800), "1 week"),
];

/// The option value of a timer (`"off"` or its seconds).
fn value_of(after_secs: Option<u32>) -> String {
    after_secs.map_or_else(|| "off".to_owned(), |secs| secs.to_string())
}

/// The name of a timer ("1 day"; one another member's client set to a time not offered
/// here reads "3 days").
pub(crate) fn describe(secs: u32) -> String {
    match secs {
        3_600 => "1 hour".to_owned(),
        86_400 => "1 day".to_owned(),
        604_800 => "1 week".to_owned(),
        secs if secs % 86_400 == 0 => format!("{} days", secs / 86_400),
        secs if secs % 3_600 == 0 => format!("{} hours", secs / 3_600),
        secs => format!("{} minutes", secs.div_ceil(60)),
    }
}

/// Shown only in a governed room; members who may not change the timer see it disabled.
#[component]
pub fn RoomSettings() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let setting = state.governance();
    let choose = {
        let commands = commands.clone();
        Callback::new(move |value: String| {
            commands.send(Command::SetDisappearing(value.parse::<u32>().ok()));
        })
    };
    let set_approval = {
        let commands = commands.clone();
        Callback::new(move |value: String| commands.send(Command::SetApproval(value == "approval")))
    };
    let set_since_joining = Callback::new(move |value: String| {
        commands.send(Command::SetSinceJoining(value == "since"))
    });
    let options = move || {
        let current = setting.with(|s| s.disappear_after_secs);
        let offered = CHOICES.iter().any(|(secs, _)| *secs == current);
        let other = current.filter(|_| !offered).map(|secs| {
            view! { <option value=secs.to_string() selected>{describe(secs)}</option> }
        });
        let choices = CHOICES
            .iter()
            .map(|(secs, name)| {
                view! { <option value=value_of(*secs) selected=*secs == current>{*name}</option> }
            })
            .collect_view();
        view! { {choices}{other} }
    };
    view! {
        <Show when=move || setting.with(|s| s.governed)>
            <section class="panel room-settings" aria-labelledby="room-settings-heading">
                <h2 id="room-settings-heading">"Room settings"</h2>
                <Choice
                    name="Who can join"
                    options=[("open", "Anyone with the link"), ("approval", "An admin approves each newcomer")]
                    current=Signal::derive(move || if setting.with(|s| s.joining == Joining::Approval) { "approval" } else { "open" })
                    on_choose=set_approval
                />
                <Choice
                    name="New members see"
                    options=[("all", "The whole history"), ("since", "Only messages from when they joined")]
                    current=Signal::derive(move || if setting.with(|s| s.backlog == Backlog::SinceJoining) { "since" } else { "all" })
                    on_choose=set_since_joining
                />
                <label class="setting">
                    "Disappearing messages"
                    <select
                        aria-label="Disappearing messages"
                        prop:value=move || value_of(setting.with(|s| s.disappear_after_secs))
                        prop:disabled=move || !setting.with(|s| s.may_configure())
                        on:change=move |ev| choose.run(event_target_value(&ev))
                    >
                        {options}
                    </select>
                </label>
                <p class="hint">"Each member's device erases a message this long after it was sent."</p>
                <LeaveRoom />
            </section>
        </Show>
    }
}

/// "Leave room", after a confirmation ("Leave" or "Cancel"), for a member of the room.
#[component]
fn LeaveRoom() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let confirming = RwSignal::new(false);
    let on_confirm = Callback::new(move |()| {
        commands.send(Command::LeaveRoom);
        confirming.set(false);
    });
    view! {
        <Show when=move || state.governance().with(|g| g.may_leave)>
            <button class="button" on:click=move |_| confirming.set(true)>"Leave room"</button>
            <Show when=move || confirming.get()>
                <ConfirmDialog
                    question="Leave this room?".to_owned()
                    detail="The others are told you left, and this room and everything said in it are removed from this device. To come back, someone must send you the invite link again.".to_owned()
                    confirm="Leave"
                    on_confirm
                    on_cancel=Callback::new(move |()| confirming.set(false))
                />
            </Show>
        </Show>
    }
}

/// One setting of two choices, on its own line: its `name`, and a select that only those
/// who may configure the room can change.
#[component]
fn Choice(
    /// The setting's name (the select's accessible name).
    name: &'static str,
    /// Each choice's option value and name.
    options: [(&'static str, &'static str); 2],
    /// The value chosen now.
    current: Signal<&'static str>,
    /// A choice was made (its value).
    on_choose: Callback<String>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let options = options
        .into_iter()
        .map(|(value, label)| view! { <option value=value selected=move || current.get() == value>{label}</option> })
        .collect_view();
    view! {
        <label class="setting">
            {name}
            <select
                aria-label=name
                prop:value=move || current.get()
                prop:disabled=move || !state.governance().with(|s| s.may_configure())
                on:change=move |ev| on_choose.run(event_target_value(&ev))
            >
                {options}
            </select>
        </label>
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "disappearing_tests.rs"]
mod tests;
