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
use crate::state::{FileStatus, UploadView};

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
            FileStatus::Offered
        };
        self.state.file_status(file, size, status);
    }
}

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
