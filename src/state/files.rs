//! The files of the room's messages as `AppState` shows them: the driver's changes, one
//! method per thing that happened to a transfer (each creates the file's entry, with its
//! size, if it is new).

use confab_core::EventId;
use leptos::prelude::*;

use super::{AppState, FileProgress, FileStatus, UploadView};

/// Files (only the driver calls these).
impl AppState {
    /// The file `file` (of `total` bytes) is now in `status`.
    pub fn file_status(&self, file: EventId, total: u64, status: FileStatus) {
        self.change_file(file, total, |progress| progress.status = status);
    }

    /// The file `file` is in `status` with `done` bytes stored (restored after a reload,
    /// or a download starting over).
    pub fn file_restored(&self, file: EventId, total: u64, status: FileStatus, done: u64) {
        self.change_file(file, total, |progress| {
            progress.status = status;
            progress.done = done;
        });
    }

    /// An encrypted copy of our file `file` is kept on this device.
    pub fn file_kept(&self, file: EventId, total: u64) {
        self.change_file(file, total, |progress| progress.kept = true);
    }

    /// We stopped offering our file `file` (its kept copy is gone too).
    pub fn file_withdrawn(&self, file: EventId, total: u64) {
        self.change_file(file, total, |progress| {
            progress.status = FileStatus::Withdrawn;
            progress.kept = false;
        });
    }

    /// We cancelled downloading someone's file `file`: nothing of it kept, and `status`
    /// (offered again, or ended) says what may follow.
    pub fn download_cancelled(&self, file: EventId, total: u64, status: FileStatus) {
        self.change_file(file, total, |progress| {
            progress.status = status;
            progress.done = 0;
            progress.speed = 0.0;
        });
    }

    /// Our download of `file` moved: `status`, `done` of `total` bytes, `speed` bytes per
    /// second lately.
    pub fn download_moved(
        &self,
        file: EventId,
        total: u64,
        status: FileStatus,
        done: u64,
        speed: f64,
    ) {
        self.change_file(file, total, |progress| {
            progress.status = status;
            progress.done = done;
            progress.total = total;
            progress.speed = speed;
        });
    }

    /// Sending our file `file` to `upload.member` moved.
    pub fn upload_moved(&self, file: EventId, total: u64, upload: UploadView) {
        self.change_file(file, total, |progress| {
            match progress
                .uploads
                .iter_mut()
                .find(|u| u.member == upload.member)
            {
                Some(existing) => *existing = upload,
                None => progress.uploads.push(upload),
            }
        });
    }

    /// The received image `file` can be drawn from the object URL `url`.
    pub fn file_preview(&self, file: EventId, total: u64, url: String) {
        self.change_file(file, total, |progress| progress.preview = Some(url));
    }

    /// The file `name` is being read and hashed before it is offered.
    pub fn preparing_file(&self, name: String) {
        self.preparing.update(|files| files.push((name, 0.0)));
    }

    /// This `fraction` of the file `name` was read and hashed.
    pub fn prepared_part(&self, name: &str, fraction: f64) {
        self.preparing.update(|files| {
            if let Some(entry) = files.iter_mut().find(|(n, _)| n == name) {
                entry.1 = fraction;
            }
        });
    }

    /// The file `name` was read and hashed (or could not be).
    pub fn prepared(&self, name: &str) {
        self.preparing
            .update(|files| files.retain(|(n, _)| n != name));
    }

    /// Changes a file's transfer as shown (creating it with `total` if new).
    fn change_file(&self, file: EventId, total: u64, change: impl FnOnce(&mut FileProgress)) {
        self.files.update(|files| {
            change(
                files
                    .entry(file)
                    .or_insert_with(|| FileProgress::new(FileStatus::Offered, total)),
            )
        });
    }
}
