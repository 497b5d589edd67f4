//! Calls: "Call" and "Video call" to start one, the ringing banner (Accept / Decline), and
//! the call itself: a video per person labelled with their name, who is speaking, the call
//! timer, and Mute microphone, Camera off, Share screen, Hang up. Beside "Call", the room's
//! "Mute" (its notifications; `mute.rs`).

use leptos::html::Video;
use leptos::prelude::*;

use crate::commands::Command;
use crate::state::AppState;
use crate::{use_commands, use_device};

/// The call bar above the conversation.
#[component]
pub fn CallBar() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let start = move |video: bool| {
        let commands = commands.clone();
        move |_| commands.send(Command::StartCall { video })
    };
    let disabled = move || !state.can_call().get();
    let title = move || {
        if state.can_call().get() {
            "Call everyone here who is online".to_owned()
        } else {
            "Calls need someone online on a direct connection".to_owned()
        }
    };
    view! {
        <Incoming />
        <Show
            when=move || state.call().with(Option::is_some)
            fallback=move || view! {
                <div class="call-bar">
                    <button type="button" class="button small" aria-label="Call" disabled=disabled title=title on:click=start(false)>"📞 Call"</button>
                    <button type="button" class="button small" aria-label="Video call" disabled=disabled title=title on:click=start(true)>"🎥 Video call"</button>
                    <super::mute::MuteButton />
                </div>
            }
        >
            <CallPanel />
        </Show>
    }
}

/// "Alice is calling" with Accept and Decline.
#[component]
fn Incoming() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    move || {
        let incoming = state.incoming_call().get()?;
        let who = state.name_of(&incoming.member);
        let what = if incoming.video { "video call" } else { "call" };
        let (accept, decline) = (commands.clone(), commands.clone());
        Some(view! {
            <div class="incoming-call" role="alertdialog" aria-label=format!("{who} is calling")>
                <p>{format!("📞 {who} is calling ({what})")}</p>
                <button type="button" class="button primary small" on:click=move |_| accept.send(Command::AcceptCall)>"Accept"</button>
                <button type="button" class="button small" on:click=move |_| decline.send(Command::DeclineCall)>"Decline"</button>
            </div>
        })
    }
}

/// The call in progress.
#[component]
fn CallPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let device = use_device();
    let call = move || state.call().get();
    let tick = RwSignal::new(0u64);
    let handle = set_interval_with_handle(
        move || tick.update(|t| *t += 1),
        std::time::Duration::from_secs(1),
    )
    .ok();
    on_cleanup(move || {
        if let Some(handle) = handle {
            handle.clear();
        }
    });
    let timer = move || {
        tick.get();
        let connected = call().and_then(|c| c.connected_at);
        match connected {
            Some(at) => {
                let secs = ((device.now_ms() - at) / 1000.0).max(0.0) as u64;
                format!("{:02}:{:02}", secs / 60, secs % 60)
            }
            None => "Calling…".to_owned(),
        }
    };
    let note = move || {
        call()
            .and_then(|c| c.note)
            .map(|note| view! { <p class="call-note" role="alert">{note}</p> })
    };
    // Keyed by link and stream, so a video element lives as long as its stream: redrawing
    // it on every speaking change would restart playback.
    let tiles = move || {
        call()
            .map(|view| {
                view.peers
                    .into_iter()
                    .map(|p| (p.peer, p.member, p.stream))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let tile = move |(peer, member, stream): (
        confab_core::PeerId,
        confab_core::MemberKey,
        Option<String>,
    )| {
        let name = state.name_of(&member);
        let this = move || {
            state.call().with(|c| {
                c.as_ref()
                    .and_then(|c| c.peers.iter().find(|p| p.peer == peer).cloned())
            })
        };
        let class = move || {
            if this().is_some_and(|p| p.speaking) {
                "tile speaking"
            } else {
                "tile"
            }
        };
        let flags = move || {
            let Some(p) = this() else {
                return String::new();
            };
            let flags: Vec<&str> = [
                (p.speaking, "speaking"),
                (p.muted, "muted"),
                (p.camera_off, "camera off"),
                (p.sharing, "sharing screen"),
            ]
            .into_iter()
            .filter_map(|(on, what)| on.then_some(what))
            .collect();
            if flags.is_empty() {
                String::new()
            } else {
                format!(" · {}", flags.join(", "))
            }
        };
        view! {
            <figure class=class>
                <StreamVideo key=stream label=name.clone() muted=false />
                <figcaption>{name}{flags}</figcaption>
            </figure>
        }
    };
    let own_key = Memo::new(move |_| {
        call().map(|view| {
            if view.sharing {
                (Some("screen".to_owned()), "Your screen")
            } else {
                (view.local.clone(), "You")
            }
        })
    });
    let own = move || {
        let (key, label) = own_key.get()?;
        let off = move || {
            call()
                .is_some_and(|c| c.camera_off && !c.sharing)
                .then_some(" · camera off")
        };
        Some(view! {
            <figure class="tile own">
                <StreamVideo key=key label=label.to_owned() muted=true />
                <figcaption>{label}{off}</figcaption>
            </figure>
        })
    };
    let muted = move || call().is_some_and(|c| c.muted);
    let camera_off = move || call().is_some_and(|c| c.camera_off);
    let sharing = move || call().is_some_and(|c| c.sharing);
    let send = move |command: fn(bool) -> Command, flag: fn(&AppState) -> bool| {
        let commands = commands.clone();
        move |_| commands.send(command(flag(&state)))
    };
    view! {
        <section class="call" aria-label="Call">
            <p class="call-status" role="status">{timer}</p>
            {note}
            <div class="tiles">
                <For each=tiles key=|t| (t.0, t.2.clone()) children=tile />
                {own}
            </div>
            <p class="call-controls">
                <button type="button" class="button small" aria-pressed=move || muted().to_string()
                    on:click=send(|_| Command::ToggleMute, |_| false)>
                    {move || if muted() { "Unmute microphone" } else { "Mute microphone" }}
                </button>
                <button type="button" class="button small" aria-pressed=move || camera_off().to_string()
                    on:click=send(|_| Command::ToggleCamera, |_| false)>
                    {move || if camera_off() { "Camera on" } else { "Camera off" }}
                </button>
                <button type="button" class="button small" aria-pressed=move || sharing().to_string()
                    on:click=send(Command::ShareScreen, |s| !s.call().with_untracked(|c| c.as_ref().is_some_and(|c| c.sharing)))>
                    {move || if sharing() { "Stop sharing" } else { "Share screen" }}
                </button>
                <button type="button" class="button small danger" on:click=send(|_| Command::HangUp, |_| false)>"Hang up"</button>
            </p>
            <p class="call-devices">
                <DeviceChoice camera=false />
                <DeviceChoice camera=true />
            </p>
        </section>
    }
}

/// A choice of microphone or camera (shown when there is more than one).
#[component]
fn DeviceChoice(camera: bool) -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let label = if camera { "Camera" } else { "Microphone" };
    let devices = Memo::new(move |_| {
        state.call().with(|c| {
            c.as_ref()
                .map(|c| {
                    c.devices
                        .iter()
                        .filter(|(is_camera, _, _)| *is_camera == camera)
                        .map(|(_, id, name)| (id.clone(), name.clone()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let on_change = move |ev: leptos::ev::Event| {
        let id = event_target_value(&ev);
        commands.send(Command::ChooseDevice { camera, id });
    };
    move || {
        let devices = devices.get();
        (devices.len() > 1).then(|| {
            let on_change = on_change.clone();
            view! {
                <label class="device">
                    {label}
                    <select aria-label=label on:change=on_change>
                        {devices
                            .into_iter()
                            .map(|(id, name)| view! { <option value=id>{name}</option> })
                            .collect_view()}
                    </select>
                </label>
            }
        })
    }
}

/// A `<video>` showing the stream registered under `key`, labelled for screen readers.
#[component]
fn StreamVideo(key: Option<String>, label: String, muted: bool) -> impl IntoView {
    let video = NodeRef::<Video>::new();
    let device = use_device();
    Effect::new(move |_| {
        if let (Some(element), Some(key)) = (video.get(), key.as_deref()) {
            device.play_stream(&element, key);
        }
    });
    view! { <video node_ref=video aria-label=label autoplay playsinline muted=muted></video> }
}
