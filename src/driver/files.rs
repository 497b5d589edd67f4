//! The driver's half of file transfer: reading our files a slice at a time for core
//! (`Event::ChunkWanted`), paced by each file channel's `bufferedAmount` or by the
//! server's stated relay rate; storing received chunks in order (`Event::ChunkReceived`)
//! and reporting them stored; the per-file records that let a download resume after a
//! reload; and the transfer state the UI shows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use confab_core::transfer::{CHUNK_LEN, FileDigest, FileMeta, TransferError};
use confab_core::units::format_bytes;
use confab_core::{
    Direction, EventId, Instant, MemberKey, PeerId, RoomId, TransferState, TransferUpdate,
};

use futures::FutureExt as _;
use futures::future::{LocalBoxFuture, Shared};
use leptos::prelude::*;

use super::{Driver, Input, log};
use crate::platform::file_worker::FileWorker;
use crate::platform::files as platform_files;
use crate::platform::store::StoreError;
use crate::platform::{clock, page};
use crate::state::{FileStatus, UploadView};

/// A file channel with this much queued gets no more chunks until it drains.
const HIGH_WATER: u64 = 4 << 20;
/// Chunks read from a file in one slice.
const READ_CHUNKS: usize = 16;
/// Active transfers' progress is shown at most this often.
const REDRAW_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// Largest image drawn inline.
const MAX_PREVIEW: u64 = 16 << 20;
/// Version byte of a [`Record`].
const RECORD_VERSION: u8 = 1;

/// What we decided about someone's file, kept per file so a reload resumes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// Downloading (resume at start-up).
    Accepted,
    /// Paused by us.
    Paused,
    /// Received whole and verified.
    Received,
    /// Declined.
    Declined,
    /// Failed: the kept part is unusable.
    Failed,
    /// Our own file, with a complete encrypted copy stored (served after a reload).
    Kept,
}

impl Decision {
    fn code(self) -> u8 {
        match self {
            Decision::Accepted => 1,
            Decision::Paused => 2,
            Decision::Received => 3,
            Decision::Declined => 4,
            Decision::Failed => 5,
            Decision::Kept => 6,
        }
    }

    fn from_code(code: u8) -> Option<Decision> {
        Some(match code {
            1 => Decision::Accepted,
            2 => Decision::Paused,
            3 => Decision::Received,
            4 => Decision::Declined,
            5 => Decision::Failed,
            6 => Decision::Kept,
            _ => return None,
        })
    }
}

/// The stored record of a file: `version:u8 room[32] decision:u8`.
fn encode_record(room: RoomId, decision: Decision) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    out.extend_from_slice(room.as_bytes());
    out.push(decision.code());
    out
}

fn decode_record(bytes: &[u8]) -> Option<(RoomId, Decision)> {
    let (&version, rest) = bytes.split_first()?;
    if version != RECORD_VERSION || rest.len() != 33 {
        return None;
    }
    let room: [u8; 32] = rest.get(..32)?.try_into().ok()?;
    Some((
        RoomId::from_bytes(room),
        Decision::from_code(*rest.get(32)?)?,
    ))
}

/// Rate and burst of the server's relay byte cap, and what we may still send now.
struct RelayBudget {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: Option<Instant>,
}

impl RelayBudget {
    fn refill(&mut self, now: Instant) {
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        }
        self.at = Some(now);
    }

    /// When `bytes` may go, or `None` if they may go now (and are then charged).
    fn take(&mut self, now: Instant, bytes: f64) -> Option<Instant> {
        if self.per_sec <= 0.0 {
            return None;
        }
        self.refill(now);
        if self.tokens >= bytes.min(self.burst) {
            self.tokens -= bytes;
            return None;
        }
        let wait = (bytes.min(self.burst) - self.tokens) / self.per_sec;
        Some(now + std::time::Duration::from_secs_f64(wait))
    }
}

/// Speed as a moving average of progress samples.
#[derive(Default)]
struct Speed {
    last: Option<(Instant, u64)>,
    bytes_per_sec: f64,
}

impl Speed {
    fn sample(&mut self, now: Instant, done: u64) -> f64 {
        match self.last {
            Some((at, before)) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                if elapsed >= 0.5 {
                    let rate = done.saturating_sub(before) as f64 / elapsed;
                    self.bytes_per_sec = if self.bytes_per_sec == 0.0 {
                        rate
                    } else {
                        0.6 * rate + 0.4 * self.bytes_per_sec
                    };
                    self.last = Some((now, done));
                }
            }
            None => self.last = Some((now, done)),
        }
        self.bytes_per_sec
    }
}

/// Transfer bookkeeping the driver keeps beside core.
#[derive(Default)]
pub(super) struct Transfers {
    /// Our offered files' bytes.
    outgoing: HashMap<EventId, web_sys::Blob>,
    /// Our files with a complete copy in the store (what serves them after a reload).
    kept: HashSet<EventId>,
    /// Per upload: chunks core asked for, not yet read.
    queued: BTreeMap<(EventId, PeerId), VecDeque<u32>>,
    /// Uploads with a read in flight.
    reading: HashSet<(EventId, PeerId)>,
    /// Per upload: chunks read, not yet handed to core (at most a read's worth ahead).
    ready: BTreeMap<(EventId, PeerId), VecDeque<ReadChunk>>,
    /// Received chunks not yet handed to the store: first index and the chunks.
    unsaved: HashMap<EventId, (u32, Vec<Vec<u8>>)>,
    /// Downloads with a store write in flight.
    saving: HashSet<EventId>,
    /// What we decided per file of this room.
    decisions: HashMap<EventId, Decision>,
    /// Download speeds, and upload speeds per receiver.
    speeds: HashMap<(EventId, Option<MemberKey>), Speed>,
    /// When each transfer's progress was last shown, and whether it was active then.
    shown: HashMap<(EventId, Option<MemberKey>), (Instant, bool)>,
    relay: Option<RelayBudget>,
    /// When relayed uploads may go on.
    relay_wait: Option<Instant>,
    /// The file worker, once asked for ([`Driver::file_worker`]).
    worker: Option<WorkerStart>,
}

/// A chunk read from our file: its index and bytes.
type ReadChunk = (u32, Vec<u8>);

/// The file worker starting, or started (`None`: it cannot run here, and the page's
/// thread stores chunks itself).
type WorkerStart = Shared<LocalBoxFuture<'static, Option<Rc<FileWorker>>>>;

impl Transfers {
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.relay_wait
    }
}

impl Driver {
    /// The server's relay cap (0: none stated).
    pub(super) fn set_relay_cap(&mut self, per_sec: u64, burst: u64) {
        self.transfers.relay = (per_sec > 0).then(|| RelayBudget {
            per_sec: per_sec as f64,
            burst: burst.max(per_sec) as f64,
            tokens: burst.max(per_sec) as f64,
            at: None,
        });
    }

    /// Reads and hashes each file, then offers it (one at a time, in order).
    pub(super) fn attach_files(&mut self, files: Vec<platform_files::LocalFile>) {
        let inbox = self.inbox.clone();
        let state = self.state;
        wasm_bindgen_futures::spawn_local(async move {
            for file in files {
                let name = file.name();
                let size = file.size();
                state.preparing.update(|p| p.push((name.clone(), 0.0)));
                let mut digest = FileDigest::new();
                let mut offset = 0u64;
                let step = (CHUNK_LEN * READ_CHUNKS) as u64;
                let mut error = None;
                while offset < size {
                    let end = (offset + step).min(size);
                    match platform_files::read_slice(file.blob(), offset, end).await {
                        Ok(bytes) => digest.update(&bytes),
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                    offset = end;
                    let fraction = offset as f64 / size as f64;
                    state.preparing.update(|p| {
                        if let Some(entry) = p.iter_mut().find(|(n, _)| *n == name) {
                            entry.1 = fraction;
                        }
                    });
                }
                state.preparing.update(|p| p.retain(|(n, _)| *n != name));
                let meta = match error {
                    Some(error) => Err(format!("Could not send {name}: {error}.")),
                    None => Ok(FileMeta {
                        name,
                        mime: file.mime(),
                        size,
                        hash: digest.finish(),
                    }),
                };
                let _ = inbox.unbounded_send(Input::FilePrepared {
                    blob: file.blob().clone(),
                    meta,
                });
            }
        });
    }

    pub(super) fn file_prepared(
        &mut self,
        now: Instant,
        blob: web_sys::Blob,
        meta: Result<FileMeta, String>,
    ) {
        let meta = match meta {
            Ok(meta) => meta,
            Err(error) => return self.state.notice.set(Some(error)),
        };
        let size = meta.size;
        match self.client.post_file(now, clock::wall(), meta) {
            Ok(file) => {
                self.transfers.outgoing.insert(file, blob.clone());
                self.state
                    .update_file(file, size, |progress| progress.status = FileStatus::Sharing);
                self.keep_copy(file, blob, size);
            }
            Err(error) => self.state.notice.set(Some(format!("Not sent: {error}."))),
        }
    }

    /// Stores an encrypted copy of our file in the background (in the file worker where
    /// there is one), so that it can still be sent after this page reloads; the record
    /// saying so commits with the last chunks.
    fn keep_copy(&mut self, file: EventId, blob: web_sys::Blob, size: u64) {
        let (Some(store), inbox, room) = (self.store.clone(), self.inbox.clone(), self.room) else {
            return;
        };
        let worker = self.file_worker();
        wasm_bindgen_futures::spawn_local(async move {
            let record = encode_record(room, Decision::Kept);
            let result = match worker.await {
                Some(worker) => {
                    worker
                        .keep_copy(*file.as_bytes(), &blob, size, &record)
                        .await
                }
                None => {
                    platform_files::keep_copy(&store, *file.as_bytes(), &blob, size, &record).await
                }
            };
            let _ = inbox.unbounded_send(Input::FileKept { file, result });
        });
    }

    pub(super) fn file_kept(&mut self, file: EventId, result: Result<(), StoreError>) {
        let total = self.file_meta(&file).map_or(0, |m| m.size);
        match result {
            Ok(()) if self.client.holds_file(&file) => {
                self.transfers.kept.insert(file);
                self.state.update_file(file, total, |progress| progress.kept = true);
            }
            // Stopped sharing while it was being copied.
            Ok(()) => self.with_store_quietly(move |store| async move {
                store.forget_file(*file.as_bytes()).await
            }),
            Err(error) => self.state.notice.set(Some(format!(
                "No copy of the file could be kept on this device ({error}): it can be sent only while this page stays open."
            ))),
        }
    }

    /// Loads this room's file records: resumes accepted downloads, shows the rest.
    pub(super) fn load_file_records(&self) {
        let (Some(store), inbox, room) = (self.store.clone(), self.inbox.clone(), self.room) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let records = match store.file_records().await {
                Ok(records) => records,
                Err(error) => return log(&format!("file records unreadable: {error}")),
            };
            for (key, value) in records {
                let Some((record_room, decision)) = decode_record(&value) else {
                    continue;
                };
                if record_room != room {
                    continue;
                }
                let stored = store.chunk_count(key).await.unwrap_or(0);
                let file = EventId::from_bytes(key);
                let _ = inbox.unbounded_send(Input::FileRecord {
                    file,
                    decision,
                    stored,
                });
            }
        });
    }

    pub(super) fn file_record(
        &mut self,
        now: Instant,
        file: EventId,
        decision: Decision,
        stored: u32,
    ) {
        let Some(meta) = self.file_meta(&file) else {
            return;
        };
        self.transfers.decisions.insert(file, decision);
        let done = meta.bytes_in(stored);
        let status = match decision {
            Decision::Accepted => {
                self.rehash_and_download(file, stored);
                FileStatus::Waiting
            }
            Decision::Paused => FileStatus::Paused,
            Decision::Received => {
                self.show_preview(file, &meta);
                FileStatus::Received
            }
            Decision::Declined => FileStatus::Declined,
            Decision::Kept => {
                if stored == meta.chunks() && self.client.hold_file(file) {
                    self.transfers.kept.insert(file);
                    self.state
                        .update_file(file, meta.size, |progress| progress.kept = true);
                    FileStatus::Sharing
                } else {
                    FileStatus::Withdrawn
                }
            }
            Decision::Failed => FileStatus::Failed {
                reason: TransferError::HashMismatch.to_string(),
                restart: true,
            },
        };
        let _ = now;
        self.state.update_file(file, meta.size, |progress| {
            progress.status = status;
            progress.done = done;
        });
    }

    /// Re-hashes the `stored` chunks of `file` (after a reload, or to resume after a
    /// failure), then downloads the rest.
    fn rehash_and_download(&self, file: EventId, stored: u32) {
        let (Some(store), inbox) = (self.store.clone(), self.inbox.clone()) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let mut digest = FileDigest::new();
            let mut kept = 0;
            for index in 0..stored {
                match store.chunk(*file.as_bytes(), index).await {
                    Ok(Some(chunk)) => digest.update(&chunk),
                    _ => break,
                }
                kept = index + 1;
            }
            let _ = inbox.unbounded_send(Input::Rehashed {
                file,
                stored: kept,
                digest: Box::new(digest),
            });
        });
    }

    pub(super) fn rehashed(
        &mut self,
        now: Instant,
        file: EventId,
        stored: u32,
        digest: FileDigest,
    ) {
        if let Err(error) = self.client.download(now, file, stored, digest) {
            self.state
                .notice
                .set(Some(format!("Could not resume the download: {error}.")));
        }
    }

    fn file_meta(&self, file: &EventId) -> Option<FileMeta> {
        self.client.timeline().message(file)?.file.clone()
    }

    fn save_decision(&mut self, file: EventId, decision: Decision) {
        self.transfers.decisions.insert(file, decision);
        let record = encode_record(self.room, decision);
        self.with_store_quietly(move |store| async move {
            store.save_file_record(*file.as_bytes(), &record).await
        });
    }

    // ---- commands ------------------------------------------------------------------------

    pub(super) fn accept_file(&mut self, file: EventId) {
        let Some(meta) = self.file_meta(&file) else {
            return;
        };
        if self.store.is_none() {
            self.state.notice.set(Some(
                "Files need this browser's storage, which is unavailable here.".to_owned(),
            ));
            return;
        }
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let free = platform_files::storage_free().await;
            let _ = inbox.unbounded_send(Input::SpaceChecked {
                file,
                enough: free.is_none_or(|free| free >= meta.size),
                free,
            });
        });
    }

    pub(super) fn space_checked(
        &mut self,
        now: Instant,
        file: EventId,
        enough: bool,
        free: Option<u64>,
    ) {
        let Some(meta) = self.file_meta(&file) else {
            return;
        };
        if !enough {
            self.state.notice.set(Some(format!(
                "Not enough space for {}: it needs {}, the browser allows {} more.",
                meta.name,
                format_bytes(meta.size),
                format_bytes(free.unwrap_or(0))
            )));
            return;
        }
        self.save_decision(file, Decision::Accepted);
        self.state.update_file(file, meta.size, |progress| {
            progress.status = FileStatus::Waiting;
            progress.done = 0;
        });
        if let Err(error) = self.client.download(now, file, 0, FileDigest::new()) {
            self.state
                .notice
                .set(Some(format!("Cannot download: {error}.")));
        }
    }

    pub(super) fn decline_file(&mut self, now: Instant, file: EventId) {
        self.client.decline_file(now, file);
        self.save_decision(file, Decision::Declined);
        let total = self.file_meta(&file).map_or(0, |m| m.size);
        self.state.update_file(file, total, |progress| {
            progress.status = FileStatus::Declined
        });
    }

    pub(super) fn pause_file(&mut self, now: Instant, file: EventId) {
        self.client.pause_download(now, file);
        self.save_decision(file, Decision::Paused);
    }

    pub(super) fn resume_file(&mut self, now: Instant, file: EventId) {
        let restart = self.state.files.with_untracked(|files| {
            files
                .get(&file)
                .is_some_and(|p| matches!(p.status, FileStatus::Failed { restart: true, .. }))
        });
        self.save_decision(file, Decision::Accepted);
        let total = self.file_meta(&file).map_or(0, |m| m.size);
        self.state.update_file(file, total, |progress| {
            progress.status = FileStatus::Waiting
        });
        if restart {
            // The kept part does not add up to the signed hash: start from nothing.
            let (store, inbox) = (self.store.clone(), self.inbox.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(store) = store {
                    let _ = store.forget_chunks(*file.as_bytes()).await;
                }
                let _ = inbox.unbounded_send(Input::Rehashed {
                    file,
                    stored: 0,
                    digest: Box::default(),
                });
            });
        } else if !self.client.resume_download(now, file) {
            let (store, inbox) = (self.store.clone(), self.inbox.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let stored = match &store {
                    Some(store) => store.chunk_count(*file.as_bytes()).await.unwrap_or(0),
                    None => 0,
                };
                let _ = inbox.unbounded_send(Input::RehashFrom { file, stored });
            });
        }
    }

    pub(super) fn rehash_from(&mut self, file: EventId, stored: u32) {
        self.rehash_and_download(file, stored);
    }

    /// Ours: stop offering it. Someone else's: stop downloading and delete what arrived.
    pub(super) fn cancel_file(&mut self, now: Instant, file: EventId) {
        let total = self.file_meta(&file).map_or(0, |m| m.size);
        let had_blob = self.transfers.outgoing.remove(&file).is_some();
        let had_copy = self.transfers.kept.remove(&file);
        if had_blob || had_copy || self.client.holds_file(&file) {
            self.client.release_file(now, file);
            self.transfers.queued.retain(|(f, _), _| *f != file);
            self.transfers.ready.retain(|(f, _), _| *f != file);
            self.state.update_file(file, total, |progress| {
                progress.status = FileStatus::Withdrawn;
                progress.kept = false;
            });
            self.with_store_quietly(move |store| async move {
                store.forget_file(*file.as_bytes()).await
            });
            return;
        }
        self.client.cancel_download(now, file);
        self.transfers.unsaved.remove(&file);
        self.transfers.decisions.remove(&file);
        self.state.update_file(file, total, |progress| {
            progress.status = FileStatus::Offered;
            progress.done = 0;
            progress.speed = 0.0;
        });
        self.with_store_quietly(
            move |store| async move { store.forget_file(*file.as_bytes()).await },
        );
    }

    pub(super) fn save_file(&self, file: EventId) {
        let Some(meta) = self.file_meta(&file) else {
            return;
        };
        self.with_store("save the file", move |store, _| async move {
            platform_files::save_download(
                &store,
                *file.as_bytes(),
                meta.chunks(),
                &meta.name,
                &meta.mime,
            )
            .await
            .map_err(StoreError::Unavailable)?;
            Ok(format!("{} saved to your downloads.", meta.name))
        });
    }

    fn show_preview(&self, file: EventId, meta: &FileMeta) {
        if !meta.is_previewable_image() || meta.size > MAX_PREVIEW {
            return;
        }
        let (Some(store), state) = (self.store.clone(), self.state) else {
            return;
        };
        let (chunks, mime, size) = (meta.chunks(), meta.mime.clone(), meta.size);
        wasm_bindgen_futures::spawn_local(async move {
            match platform_files::object_url(&store, *file.as_bytes(), chunks, &mime, MAX_PREVIEW)
                .await
            {
                Ok(url) => state.update_file(file, size, |progress| progress.preview = Some(url)),
                Err(error) => log(&format!("no preview: {error}")),
            }
        });
    }

    // ---- core events -----------------------------------------------------------------

    pub(super) fn chunk_wanted(&mut self, now: Instant, peer: PeerId, file: EventId, index: u32) {
        self.transfers
            .queued
            .entry((file, peer))
            .or_default()
            .push_back(index);
        self.pump_uploads(now);
    }

    /// Moves every upload along: sends the chunks already read while its channel is below
    /// [`HIGH_WATER`] (or the relay budget allows), and keeps one read of up to
    /// [`READ_CHUNKS`] more chunks ahead of the channel, so reading the file overlaps with
    /// sending instead of starting only once the channel has drained.
    pub(super) fn pump_uploads(&mut self, now: Instant) {
        self.transfers.relay_wait = None;
        let keys: BTreeSet<(EventId, PeerId)> = self
            .transfers
            .queued
            .keys()
            .chain(self.transfers.ready.keys())
            .copied()
            .collect();
        for (file, peer) in keys {
            if self.client.path(peer).is_none() {
                self.transfers.queued.remove(&(file, peer));
                self.transfers.ready.remove(&(file, peer));
                continue;
            }
            let direct = self.direct(peer).is_some();
            self.send_ready(now, file, peer, direct);
            self.read_ahead(file, peer, direct);
        }
    }

    /// Sends what was read for one upload, while its channel or the relay budget allows.
    fn send_ready(&mut self, now: Instant, file: EventId, peer: PeerId, direct: bool) {
        loop {
            let full = direct
                && self
                    .direct(peer)
                    .is_some_and(|rtc| rtc.file_buffered(file) >= HIGH_WATER);
            if full {
                return;
            }
            let Some(ready) = self.transfers.ready.get_mut(&(file, peer)) else {
                return;
            };
            if ready.is_empty() {
                self.transfers.ready.remove(&(file, peer));
                return;
            }
            if !direct
                && let Some(relay) = self.transfers.relay.as_mut()
                && let Some(at) = relay.take(now, CHUNK_LEN as f64)
            {
                self.transfers.relay_wait =
                    Some(self.transfers.relay_wait.map_or(at, |w| w.min(at)));
                return;
            }
            if let Some((index, chunk)) = ready.pop_front() {
                // Refused if core no longer wants it (acknowledged, stopped): dropped.
                self.client.send_chunk(now, peer, file, index, &chunk);
            }
        }
    }

    /// Starts the next read for one upload unless one is in flight or a slice is waiting.
    fn read_ahead(&mut self, file: EventId, peer: PeerId, direct: bool) {
        let waiting = self
            .transfers
            .ready
            .get(&(file, peer))
            .map_or(0, VecDeque::len);
        if self.transfers.reading.contains(&(file, peer)) || waiting >= READ_CHUNKS {
            return;
        }
        if !self.transfers.queued.contains_key(&(file, peer)) {
            return;
        }
        let source = match (self.transfers.outgoing.get(&file), &self.store) {
            (Some(blob), _) => Source::File(blob.clone()),
            (None, Some(store)) if self.transfers.kept.contains(&file) => {
                Source::Copy(store.clone())
            }
            _ => {
                self.transfers.queued.remove(&(file, peer));
                return;
            }
        };
        let Some(queue) = self.transfers.queued.get_mut(&(file, peer)) else {
            return;
        };
        let Some(&first) = queue.front() else {
            self.transfers.queued.remove(&(file, peer));
            return;
        };
        // Relayed chunks go at the server's pace: read a few at a time.
        let most = if direct { READ_CHUNKS } else { 4 };
        let mut count = 1;
        while count < most && queue.get(count) == Some(&(first + count as u32)) {
            count += 1;
        }
        queue.drain(..count);
        if queue.is_empty() {
            self.transfers.queued.remove(&(file, peer));
        }
        self.transfers.reading.insert((file, peer));
        let start = u64::from(first) * CHUNK_LEN as u64;
        let end = start + (count * CHUNK_LEN) as u64;
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let data = match source {
                Source::File(blob) => platform_files::read_slice(&blob, start, end).await,
                Source::Copy(store) => read_copy(&store, file, first, count).await,
            };
            let _ = inbox.unbounded_send(Input::ChunksRead {
                peer,
                file,
                first,
                data,
            });
        });
    }

    pub(super) fn chunks_read(
        &mut self,
        now: Instant,
        peer: PeerId,
        file: EventId,
        first: u32,
        data: Result<Vec<u8>, String>,
    ) {
        self.transfers.reading.remove(&(file, peer));
        match data {
            Ok(bytes) => {
                let ready = self.transfers.ready.entry((file, peer)).or_default();
                for (offset, chunk) in bytes.chunks(CHUNK_LEN).enumerate() {
                    ready.push_back((first + offset as u32, chunk.to_vec()));
                }
            }
            Err(error) => {
                // The file changed or vanished on disk: nobody can get it any more.
                self.state
                    .notice
                    .set(Some(format!("Stopped sending a file: {error}.")));
                self.cancel_file(now, file);
            }
        }
        self.pump_uploads(now);
    }

    pub(super) fn chunk_received(&mut self, file: EventId, index: u32, data: Vec<u8>) {
        let entry = self
            .transfers
            .unsaved
            .entry(file)
            .or_insert_with(|| (index, Vec::new()));
        entry.1.push(data);
    }

    /// Hands received chunks to the store, one write per file at a time, in order.
    pub(super) fn save_chunks(&mut self) {
        let ready: Vec<EventId> = self
            .transfers
            .unsaved
            .keys()
            .filter(|file| !self.transfers.saving.contains(file))
            .copied()
            .collect();
        let worker = match ready.is_empty() {
            true => None,
            false => self.file_worker().peek().cloned().flatten(),
        };
        for file in ready {
            let Some((first, chunks)) = self.transfers.unsaved.remove(&file) else {
                continue;
            };
            let Some(store) = self.store.clone() else {
                continue;
            };
            self.transfers.saving.insert(file);
            let up_to = first + chunks.len() as u32;
            let inbox = self.inbox.clone();
            // Posted now, in order; the worker seals and writes off this thread.
            let in_worker = worker
                .as_ref()
                .map(|worker| worker.put_chunks(*file.as_bytes(), first, &chunks, None));
            wasm_bindgen_futures::spawn_local(async move {
                let result = match in_worker {
                    Some(write) => write.await,
                    None => {
                        let slices: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
                        store
                            .put_chunks(*file.as_bytes(), first, &slices, None)
                            .await
                    }
                };
                let _ = inbox.unbounded_send(Input::ChunksSaved {
                    file,
                    up_to,
                    result,
                });
            });
        }
    }

    /// The file worker, started on first use: received chunks and kept copies are sealed
    /// and stored there. Until it is ready, and where it cannot run, the page does it.
    fn file_worker(&mut self) -> WorkerStart {
        if let Some(start) = &self.transfers.worker {
            return start.clone();
        }
        let store = self.store.clone();
        let start = async move {
            match FileWorker::start(store.as_deref()?).await {
                Ok(worker) => {
                    log("file worker ready: files are stored off the page's thread");
                    Some(Rc::new(worker))
                }
                Err(error) => {
                    log(&format!(
                        "no file worker, files are stored on the page: {error}"
                    ));
                    None
                }
            }
        }
        .boxed_local()
        .shared();
        // A shared future runs only while polled: drive it even if nobody waits.
        wasm_bindgen_futures::spawn_local(start.clone().map(|_| ()));
        self.transfers.worker = Some(start.clone());
        start
    }

    pub(super) fn chunks_saved(
        &mut self,
        now: Instant,
        file: EventId,
        up_to: u32,
        result: Result<(), StoreError>,
    ) {
        self.transfers.saving.remove(&file);
        match result {
            Ok(()) => self.client.chunks_stored(now, file, up_to),
            Err(error) => {
                let name = self.file_meta(&file).map(|m| m.name).unwrap_or_default();
                let text = match error {
                    StoreError::QuotaExceeded => format!(
                        "The browser's storage is full: {name} is paused. Free some space, then resume."
                    ),
                    other => format!("{name} is paused: it could not be stored ({other})."),
                };
                self.state.notice.set(Some(text));
                self.transfers.unsaved.remove(&file);
                self.client.pause_download(now, file);
                self.save_decision(file, Decision::Paused);
            }
        }
    }

    pub(super) fn transfer_update(&mut self, now: Instant, update: TransferUpdate) {
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
        if active
            && done < total
            && last.is_some_and(|(at, was_active)| was_active && now < at + REDRAW_EVERY)
        {
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
                let status = match &state {
                    TransferState::Waiting => FileStatus::Waiting,
                    TransferState::Active => FileStatus::Receiving,
                    TransferState::Paused => FileStatus::Paused,
                    TransferState::Complete => FileStatus::Received,
                    TransferState::Stopped(_) => FileStatus::Failed {
                        reason: "the sender stopped offering it".to_owned(),
                        restart: false,
                    },
                    TransferState::Failed(error) => FileStatus::Failed {
                        reason: error.to_string(),
                        restart: *error == TransferError::HashMismatch,
                    },
                };
                match &state {
                    TransferState::Complete => {
                        self.save_decision(file, Decision::Received);
                        if let Some(meta) = self.file_meta(&file) {
                            self.show_preview(file, &meta);
                        }
                        if self.settings.on_screen {
                            page::publish("fileReceivedAt", &super::now_ms().into());
                        }
                    }
                    TransferState::Failed(TransferError::HashMismatch) => {
                        self.save_decision(file, Decision::Failed)
                    }
                    _ => {}
                }
                self.state.update_file(file, total, |progress| {
                    progress.status = status;
                    progress.done = done;
                    progress.total = total;
                    progress.speed = speed;
                });
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
                    TransferState::Paused
                    | TransferState::Stopped(confab_core::transfer::StopReason::Paused) => "Paused",
                    TransferState::Complete => "Received",
                    TransferState::Stopped(confab_core::transfer::StopReason::Declined) => {
                        "Declined"
                    }
                    TransferState::Stopped(_) => "Stopped",
                    TransferState::Failed(_) => "Failed",
                };
                let finished = !matches!(state, TransferState::Waiting | TransferState::Active);
                if finished {
                    self.close_file_channels(file, member);
                }
                self.state.update_file(file, total, |progress| {
                    let view = UploadView {
                        member,
                        done,
                        speed,
                        status: status.to_owned(),
                    };
                    match progress.uploads.iter_mut().find(|u| u.member == member) {
                        Some(existing) => *existing = view,
                        None => progress.uploads.push(view),
                    }
                });
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
    pub(super) fn note_file_message(&mut self, file: EventId, mine: bool, size: u64) {
        let known = self
            .state
            .files
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
        self.state
            .update_file(file, size, |progress| progress.status = status);
    }
}

/// Where our file's bytes come from.
enum Source {
    /// The file the user chose (this page's life).
    File(web_sys::Blob),
    /// The encrypted copy in the store (after a reload).
    Copy(std::rc::Rc<crate::platform::store::BrowserStore>),
}

/// Chunks `first..first + count` of our kept copy, concatenated (short at the file's end).
async fn read_copy(
    store: &crate::platform::store::BrowserStore,
    file: EventId,
    first: u32,
    count: usize,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(count * CHUNK_LEN);
    for index in first..first + count as u32 {
        match store.chunk(*file.as_bytes(), index).await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(error) => return Err(format!("the kept copy could not be read ({error})")),
        }
    }
    Ok(out)
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    #[wasm_bindgen_test]
    fn records_round_trip_and_bad_ones_are_ignored() {
        let room = RoomId::from_bytes([4; 32]);
        for decision in [
            Decision::Accepted,
            Decision::Paused,
            Decision::Received,
            Decision::Declined,
            Decision::Failed,
            Decision::Kept,
        ] {
            assert_eq!(
                decode_record(&encode_record(room, decision)),
                Some((room, decision))
            );
        }
        assert_eq!(decode_record(&[2; 34]), None);
        assert_eq!(decode_record(&[1; 10]), None);
    }
}
