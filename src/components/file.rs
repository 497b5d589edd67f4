//! A file message's card: name, size, and what can be done with it now — Accept or
//! Decline, a progress bar with speed and time left, Pause, Resume, Cancel, "Save <name>",
//! an inline preview for images; for our own files each receiver's progress.

use confab_core::EventId;
use confab_core::transfer::Recovery;
use confab_core::units::{format_bytes, format_duration, format_speed, percent};
use leptos::prelude::*;

use crate::commands::Command;
use crate::state::{AppState, FileInfo, FileProgress, FileStatus};
use crate::use_commands;

/// The file part of a file message.
#[component]
pub fn FileCard(
    /// The message's id (the file's id).
    id: EventId,
    /// What the message says about the file.
    file: FileInfo,
    /// Ours.
    mine: bool,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let progress = Memo::new(move |_| state.files().with(|files| files.get(&id).cloned()));
    let name = file.name.clone();
    let size = file.size;
    let body = move || {
        let progress = progress
            .get()
            .unwrap_or_else(|| FileProgress::new(FileStatus::Offered, size));
        file_body(&state, &commands, id, &name, size, mine, progress)
    };
    view! {
        <div class="file" role="group" aria-label=format!("File {}", file.name)>
            <p class="file-name">
                <span class="file-icon" aria-hidden="true">"📄"</span>
                <span>{file.name.clone()}</span>
                <span class="file-size">{format_bytes(file.size)}</span>
            </p>
            {body}
        </div>
    }
}

fn button(
    commands: &crate::commands::Commands,
    label: String,
    command: impl Fn() -> Command + 'static,
    primary: bool,
) -> AnyView {
    let commands = commands.clone();
    let class = if primary {
        "button primary small"
    } else {
        "button small"
    };
    view! {
        <button type="button" class=class on:click=move |_| commands.send(command())>{label}</button>
    }
    .into_any()
}

fn file_body(
    state: &AppState,
    commands: &crate::commands::Commands,
    id: EventId,
    name: &str,
    size: u64,
    mine: bool,
    progress: FileProgress,
) -> AnyView {
    if mine {
        return own_file(state, commands, id, progress);
    }
    let bar = |progress: &FileProgress| progress_bar(name, progress.done, size, progress.speed);
    match progress.status {
        FileStatus::Offered => view! {
            <p class="file-actions">
                {button(commands, "Accept".into(), move || Command::AcceptFile(id), true)}
                {button(commands, "Decline".into(), move || Command::DeclineFile(id), false)}
            </p>
        }
        .into_any(),
        FileStatus::Waiting => view! {
            <div>
                {bar(&progress)}
                <p class="file-state">"Waiting for the sender to be online…"</p>
                <p class="file-actions">
                    {button(commands, "Cancel".into(), move || Command::CancelFile(id), false)}
                </p>
            </div>
        }
        .into_any(),
        FileStatus::Receiving => view! {
            <div>
                {bar(&progress)}
                <p class="file-actions">
                    {button(commands, "Pause".into(), move || Command::PauseFile(id), false)}
                    {button(commands, "Cancel".into(), move || Command::CancelFile(id), false)}
                </p>
            </div>
        }
        .into_any(),
        FileStatus::Paused => view! {
            <div>
                {bar(&FileProgress { speed: 0.0, ..progress.clone() })}
                <p class="file-state">"Paused"</p>
                <p class="file-actions">
                    {button(commands, "Resume".into(), move || Command::ResumeFile(id), true)}
                    {button(commands, "Cancel".into(), move || Command::CancelFile(id), false)}
                </p>
            </div>
        }
        .into_any(),
        FileStatus::Received => {
            let preview = progress.preview.clone().map(|url| {
                view! { <img class="file-preview" src=url alt=name.to_owned() /> }
            });
            view! {
                <div>
                    {preview}
                    <p class="file-actions">
                        {button(commands, format!("Save {name}"), move || Command::SaveFile(id), true)}
                    </p>
                </div>
            }
            .into_any()
        }
        FileStatus::Declined => view! {
            <p class="file-state">
                "Declined. "
                {button(commands, "Accept".into(), move || Command::AcceptFile(id), false)}
            </p>
        }
        .into_any(),
        FileStatus::Failed { reason, recovery } => {
            let (kept, again) = match recovery {
                Recovery::Resume if progress.done > 0 => (
                    format!(
                        " {} received and verified is kept.",
                        format_bytes(progress.done)
                    ),
                    Some("Resume"),
                ),
                Recovery::Resume => (String::new(), Some("Resume")),
                Recovery::Restart => (String::new(), Some("Retry")),
                // It cannot go on: Cancel (which frees what was stored) is what is left.
                Recovery::Ended => (" It cannot go on.".to_owned(), None),
            };
            let ended = again.is_none();
            let again = again.map(|again| {
                button(
                    commands,
                    again.into(),
                    move || Command::ResumeFile(id),
                    true,
                )
            });
            view! {
                <div>
                    <p class="file-state error" role="alert">{format!("Stopped: {reason}.{kept}")}</p>
                    <p class="file-actions">
                        {again}
                        {button(commands, "Cancel".into(), move || Command::CancelFile(id), ended)}
                    </p>
                </div>
            }
            .into_any()
        }
        FileStatus::Ended { reason } => view! {
            <p class="file-state">{format!("Not downloaded: {reason}.")}</p>
        }
        .into_any(),
        // Not ours, so neither of these.
        FileStatus::Sharing | FileStatus::Withdrawn => ().into_any(),
    }
}

fn own_file(
    state: &AppState,
    commands: &crate::commands::Commands,
    id: EventId,
    progress: FileProgress,
) -> AnyView {
    let rows = progress
        .uploads
        .iter()
        .map(|upload| {
            let who = state.name_of(&upload.member);
            let line = match upload.status.as_str() {
                "Sending" => format!(
                    "{who}: {}% · {}",
                    percent(upload.done, progress.total),
                    format_speed(upload.speed)
                ),
                status => format!("{who}: {status}"),
            };
            view! { <li>{line}</li> }
        })
        .collect_view();
    let status = match progress.status {
        FileStatus::Sharing => view! {
            {progress.kept.then(|| view! {
                <p class="file-state">"Kept on this device: it can still be sent after a reload."</p>
            })}
            <p class="file-actions">
                <span class="file-state">"Offered to the room"</span>
                {button(commands, "Stop sharing".into(), move || Command::CancelFile(id), false)}
            </p>
        }
        .into_any(),
        _ => view! {
            <p class="file-state">"No longer offered (stopped, or this page was reloaded since)."</p>
        }
        .into_any(),
    };
    view! {
        <div>
            {status}
            <ul class="uploads" aria-label="Receivers">{rows}</ul>
        </div>
    }
    .into_any()
}

fn progress_bar(name: &str, done: u64, total: u64, speed: f64) -> AnyView {
    let pct = percent(done, total);
    let left = if speed > 0.0 && total > done {
        format!(" · {} left", format_duration((total - done) as f64 / speed))
    } else {
        String::new()
    };
    let text = format!(
        "{} of {} · {}{left}",
        format_bytes(done),
        format_bytes(total),
        format_speed(speed)
    );
    view! {
        <div class="file-progress">
            <progress max="100" value=pct.to_string() aria-label=format!("Receiving {name}")>{format!("{pct}%")}</progress>
            <p class="file-speed">{text}</p>
        </div>
    }
    .into_any()
}
