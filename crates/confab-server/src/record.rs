//! The `--dangerously-record-relay` test hook: appends relay payloads to a file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use tracing::warn;

/// Appends the payload of every well-formed client relay envelope, concatenated without
/// framing, so an end-to-end test can check that the server only ever saw ciphertext.
///
/// Writes are synchronous, unbuffered and serialised by a mutex: each payload lands whole
/// and is on disk before it is forwarded. That blocks a runtime thread briefly, which is
/// acceptable for a test-only hook.
pub(crate) struct RelayRecorder {
    path: PathBuf,
    file: Mutex<File>,
}

impl RelayRecorder {
    /// Opens (creating if needed) `path` for appending.
    pub(crate) fn open(path: &Path) -> io::Result<RelayRecorder> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(RelayRecorder {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Appends `payload`; a failure is logged, never fatal.
    pub(crate) fn record(&self, payload: &[u8]) {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = file.write_all(payload) {
            warn!(%err, path = %self.path.display(), "could not record a relay payload");
        }
    }
}
