//! What the UI shows of each transfer: core's `TransferUpdate`s become the file's status,
//! progress and speed (redrawn a few times a second while active), a finished upload's file
//! channels close, and a file message shows where it stands when it appears.

use confab_core::transfer::pace;
use confab_core::transfer::{Recovery, StopReason, TransferError};
use confab_core::vault::records::FileDecision;
use confab_core::{Direction, EventId, Instant, MemberKey, TransferState, TransferUpdate};

use leptos::prelude::*;

use super::super::Driver;
use crate::platform::clock::now_ms;
use crate::platform::page;
use crate::state::{AppState, FileStatus, UploadView};

impl Driver {
    pub(in crate::driver) fn transfer_update(&mut self, now: Instant, update: TransferUpdate) {
        let TransferUpdate {
            file,
            member,
            direction,
            done,
            total,
            state,
        } = update;
        if direction == Direction::Download && cancelled_here(&self.state, file, &state) {
            return;
        }
        // Progress within an active transfer is redrawn a few times a second, not per
        // acknowledgement: redrawing is work for the same thread that moves the bytes.
        let key = (file, (direction == Direction::Upload).then_some(member));
        let active = state == TransferState::Active;
        let last = self.transfers.shown.get(&key).copied();
        if !pace::redraw_due(last, now, active, done >= total) {
            return;
        }
        self.transfers.shown.insert(key, (now, active));
        match direction {
            Direction::Download => {
                let speed = self
                    .transfers
                    .speeds
                    .entry((file, None))
                    .or_default()
                    .sample(now, done);
                let status = download_status(&state);
                match &state {
                    TransferState::Complete => {
                        self.save_decision(file, FileDecision::Received);
                        if let Some(meta) = self.file_meta(&file) {
                            self.show_preview(file, &meta);
                        }
                        if self.settings.on_screen {
                            page::publish("fileReceivedAt", &now_ms().into());
                        }
                    }
                    TransferState::Failed(TransferError::HashMismatch) => {
                        self.save_decision(file, FileDecision::Failed)
                    }
                    // Nothing to keep: the status below says it.
                    TransferState::Waiting
                    | TransferState::Active
                    | TransferState::Paused
                    | TransferState::Stopped(_)
                    | TransferState::Failed(_) => {}
                }
                self.state.download_moved(file, total, status, done, speed);
            }
            Direction::Upload => {
                let speed = self
                    .transfers
                    .speeds
                    .entry((file, Some(member)))
                    .or_default()
                    .sample(now, done);
                let status = match &state {
                    TransferState::Waiting => "Waiting to reconnect",
                    TransferState::Active => "Sending",
                    TransferState::Paused | TransferState::Stopped(StopReason::Paused) => "Paused",
                    TransferState::Complete => "Received",
                    TransferState::Stopped(StopReason::Declined) => "Declined",
                    TransferState::Stopped(_) => "Stopped",
                    TransferState::Failed(TransferError::MemberGone) => "No longer in the room",
                    TransferState::Failed(TransferError::Removed) => {
                        "You are no longer in the room"
                    }
                    TransferState::Failed(_) => "Failed",
                };
                let finished = !matches!(state, TransferState::Waiting | TransferState::Active);
                if finished {
                    self.close_file_channels(file, member);
                }
                let upload = UploadView {
                    member,
                    done,
                    speed,
                    status: status.to_owned(),
                };
                self.state.upload_moved(file, total, upload);
            }
        }
    }

    fn close_file_channels(&self, file: EventId, member: MemberKey) {
        for (peer, info) in self.client.verified_peers() {
            if info.identity.member_key() == member
                && let Some(direct) = self.rtcs.get(&peer)
            {
                direct.rtc.close_file(file);
            }
        }
    }

    /// A file message appeared: show where it stands (ours: offered or not any more).
    pub(in crate::driver) fn note_file_message(&mut self, file: EventId, mine: bool, size: u64) {
        let known = self
            .state
            .files()
            .with_untracked(|files| files.contains_key(&file));
        if known {
            return;
        }
        let status = if mine {
            if self.client.holds_file(&file) {
                FileStatus::Sharing
            } else {
                FileStatus::Withdrawn
            }
        } else {
            offer_status(self.never_downloadable(&file).as_ref())
        };
        self.state.file_status(file, size, status);
    }

    /// Why someone's `file` can no longer be downloaded here: we are out of this governed
    /// room ([`TransferError::Removed`]), or its sender is ([`TransferError::MemberGone`]).
    pub(in crate::driver) fn never_downloadable(&self, file: &EventId) -> Option<TransferError> {
        let governance = self.client.governance();
        let me = self.client.identity().member_key();
        if governance.removed(&me).is_some() {
            return Some(TransferError::Removed);
        }
        let author = self.client.timeline().message(file)?.author;
        (author != me && governance.removed(&author).is_some()).then_some(TransferError::MemberGone)
    }

    /// Governance changed: the cards of others' files follow it ([`followed`]), both ways
    /// (a removal undone by a rival's counts no more: the page shows what can be done again).
    pub(in crate::driver) fn files_follow_governance(&mut self) {
        let cards: Vec<(EventId, FileStatus, u64)> = self.state.files().with_untracked(|files| {
            files
                .iter()
                .map(|(file, progress)| (*file, progress.status.clone(), progress.total))
                .collect()
        });
        for (file, status, total) in cards {
            let declined = self.transfers.decisions.get(&file) == Some(&FileDecision::Declined);
            let out = self.never_downloadable(&file);
            if let Some(status) = followed(&status, out.as_ref(), declined) {
                self.state.file_status(file, total, status);
            }
        }
    }
}

/// Whether core's `state` for our download of `file` is the stop of our own Cancel, which
/// the card already follows (offered again, or ended: `Driver::cancel_file`). Shown, it
/// made the card say "the sender stopped offering it" and offer Resume after every Cancel.
/// A sender's stop reaches a download under way, whose card is not reset.
pub(in crate::driver) fn cancelled_here(
    state: &AppState,
    file: EventId,
    update: &TransferState,
) -> bool {
    *update == TransferState::Stopped(StopReason::Cancelled)
        && state.files().with_untracked(|files| {
            files.get(&file).is_some_and(|progress| {
                matches!(
                    progress.status,
                    FileStatus::Offered | FileStatus::Ended { .. }
                )
            })
        })
}

/// What the card of someone's file we hold nothing of shows: offered, or ended when `out`
/// says why it can no longer be downloaded here.
pub(in crate::driver) fn offer_status(out: Option<&TransferError>) -> FileStatus {
    match out {
        Some(error) => FileStatus::Ended {
            reason: error.to_string(),
        },
        None => FileStatus::Offered,
    }
}

/// What the card of someone's file in `status` shows now that `out` says why it can no
/// longer be downloaded here (`None`: it can); `None` if it stays. `declined`: the user
/// declined it. An offer (declined or not) ends, and is offered again once it can be; a
/// download that ended for it offers Resume again (what arrived is kept).
pub(in crate::driver) fn followed(
    status: &FileStatus,
    out: Option<&TransferError>,
    declined: bool,
) -> Option<FileStatus> {
    let for_governance = |reason: &str| {
        [TransferError::Removed, TransferError::MemberGone]
            .iter()
            .any(|error| error.to_string() == reason)
    };
    match (status, out) {
        (FileStatus::Offered | FileStatus::Declined, Some(_)) => Some(offer_status(out)),
        (FileStatus::Ended { reason }, Some(error)) if *reason != error.to_string() => {
            Some(offer_status(out))
        }
        (FileStatus::Ended { .. }, None) if declined => Some(FileStatus::Declined),
        (FileStatus::Ended { .. }, None) => Some(FileStatus::Offered),
        (
            FileStatus::Failed {
                reason,
                recovery: Recovery::Ended,
            },
            None,
        ) if for_governance(reason) => Some(FileStatus::Failed {
            reason: STOPPED_WHILE_OUT.to_owned(),
            recovery: Recovery::Resume,
        }),
        _ => None,
    }
}

/// Why a download stopped that can go on again: its sender or we were out of the room.
const STOPPED_WHILE_OUT: &str = "it stopped while you or its sender were out of this room";

/// What a download's card shows in core's `state`.
pub(in crate::driver) fn download_status(state: &TransferState) -> FileStatus {
    match state {
        TransferState::Waiting => FileStatus::Waiting,
        TransferState::Active => FileStatus::Receiving,
        TransferState::Paused => FileStatus::Paused,
        TransferState::Complete => FileStatus::Received,
        TransferState::Stopped(_) => FileStatus::Failed {
            reason: "the sender stopped offering it".to_owned(),
            recovery: Recovery::Resume,
        },
        TransferState::Failed(error) => FileStatus::Failed {
            reason: error.to_string(),
            recovery: error.recovery(),
        },
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "progress_tests.rs"]
mod tests;
