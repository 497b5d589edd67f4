//! The `--dangerously-record-relay` test hook: appends relay payloads and signals to files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use tracing::warn;

/// Appends the payload of every well-formed client relay envelope to one file, and the
/// `data` of every signal a client sends to another (the same path with `.signals`
/// appended), each concatenated without framing, so an end-to-end test can check that
/// the server only ever saw ciphertext.
///
/// Writes are synchronous, unbuffered and serialised by a mutex: each payload lands whole
/// and is on disk before it is forwarded. That blocks a runtime thread briefly, which is
/// acceptable for a test-only hook.
pub(crate) struct RelayRecorder {
    relay: Record,
    signals: Record,
}

struct Record {
    path: PathBuf,
    file: Mutex<File>,
}

impl RelayRecorder {
    /// Opens (creating if needed) `path` and `path.signals` for appending.
    pub(crate) fn open(path: &Path) -> io::Result<RelayRecorder> {
        let mut signals = path.as_os_str().to_owned();
        signals.push(".signals");
        Ok(RelayRecorder {
            relay: Record::open(path)?,
            signals: Record::open(Path::new(&signals))?,
        })
    }

    /// Appends a relay envelope's `payload`; a failure is logged, never fatal.
    pub(crate) fn record(&self, payload: &[u8]) {
        self.relay.append(payload);
    }

    /// Appends a signal's `data`; a failure is logged, never fatal.
    pub(crate) fn record_signal(&self, data: &str) {
        self.signals.append(data.as_bytes());
    }
}

impl Record {
    fn open(path: &Path) -> io::Result<Record> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Record {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    fn append(&self, bytes: &[u8]) {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = file.write_all(bytes) {
            warn!(%err, path = %self.path.display(), "could not record a relay payload or signal");
        }
    }
}
