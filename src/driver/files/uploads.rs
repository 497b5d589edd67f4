//! Our files going out: reading a chosen file and hashing it before it is offered, keeping
//! an encrypted copy so it can be sent after a reload, and the chunks core asks for
//! (`ClientEvent::ChunkWanted`), read a slice ahead of each upload and sent while its file
//! channel is below [`HIGH_WATER`] or, relayed, as the server's relay budget allows
//! ([`confab_core::transfer::pace`] decides what to read and when relayed bytes may go).

use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

use confab_core::transfer::pace::{self, RelayBudget};
use confab_core::transfer::{CHUNK_LEN, FileDigest, FileMeta};
use confab_core::vault::records::{FileDecision, FileRecord};
use confab_core::{EventId, Instant, PeerId};

use super::super::{Driver, Input};
use crate::platform::clock;
use crate::platform::files::{self as platform_files, FileError, LocalFile};
use crate::platform::store::{BrowserStore, StoreError};
use crate::state::FileStatus;

/// A file channel with this much queued gets no more chunks until it drains.
const HIGH_WATER: u64 = 4 << 20;

impl Driver {
    /// The server's relay cap (0: none stated).
    pub(in crate::driver) fn set_relay_cap(&mut self, per_sec: u64, burst: u64) {
        self.transfers.relay = RelayBudget::new(per_sec, burst);
    }

    /// Reads and hashes each file, then offers it (one at a time, in order).
    pub(in crate::driver) fn attach_files(&mut self, files: Vec<LocalFile>) {
        let inbox = self.inbox.clone();
        let state = self.state;
        wasm_bindgen_futures::spawn_local(async move {
            for file in files {
                let name = file.name();
                let size = file.size();
                state.preparing_file(name.clone());
                let mut digest = FileDigest::new();
                let mut offset = 0u64;
                let step = (CHUNK_LEN * pace::READ_CHUNKS) as u64;
                let mut error = None;
                while offset < size {
                    let end = (offset + step).min(size);
                    match file.read(offset, end).await {
                        Ok(bytes) => digest.update(&bytes),
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                    offset = end;
                    let fraction = offset as f64 / size as f64;
                    state.prepared_part(&name, fraction);
                }
                state.prepared(&name);
                let meta = match error {
                    Some(error) => Err(error),
                    None => Ok(FileMeta {
                        name,
                        mime: file.mime(),
                        size,
                        hash: digest.finish(),
                    }),
                };
                let _ = inbox.unbounded_send(Input::FilePrepared { file, meta });
            }
        });
    }

    pub(in crate::driver) fn file_prepared(
        &mut self,
        now: Instant,
        local: LocalFile,
        meta: Result<FileMeta, FileError>,
    ) {
        let meta = match meta {
            Ok(meta) => meta,
            Err(error) => {
                let name = local.name();
                return self
                    .state
                    .notify(format!("Could not send {name}: {error}."));
            }
        };
        let size = meta.size;
        match self.client.post_file(now, clock::wall(), meta) {
            Ok(file) => {
                self.transfers.outgoing.insert(file, local.clone());
                self.state.file_status(file, size, FileStatus::Sharing);
                self.keep_copy(file, local);
            }
            Err(error) => self.state.notify(format!("Not sent: {error}.")),
        }
    }

    /// Stores an encrypted copy of our file in the background (in the file worker where
    /// there is one), so that it can still be sent after this page reloads; the record
    /// saying so commits with the last chunks.
    fn keep_copy(&mut self, file: EventId, local: LocalFile) {
        let (Some(store), inbox, room) = (self.store.clone(), self.inbox.clone(), self.home) else {
            return;
        };
        let worker = self.file_worker();
        wasm_bindgen_futures::spawn_local(async move {
            let record = FileRecord {
                room,
                decision: FileDecision::Kept,
            }
            .encode();
            let result = match worker.await {
                Some(worker) => worker.keep_copy(*file.as_bytes(), &local, &record).await,
                None => {
                    platform_files::keep_local_copy(&store, *file.as_bytes(), &local, &record).await
                }
            };
            let _ = inbox.unbounded_send(Input::FileKept { file, result });
        });
    }

    pub(in crate::driver) fn file_kept(&mut self, file: EventId, result: Result<(), StoreError>) {
        let total = self.file_meta(&file).map_or(0, |m| m.size);
        match result {
            Ok(()) if self.client.holds_file(&file) => {
                self.transfers.kept.insert(file);
                self.state.file_kept(file, total);
            }
            // Stopped sharing while it was being copied.
            Ok(()) => self.with_store_quietly(move |store| async move {
                store.forget_file(*file.as_bytes()).await
            }),
            Err(error) => self.state.notify(format!(
                "No copy of the file could be kept on this device ({error}): it can be sent only while this page stays open."
            )),
        }
    }

    pub(in crate::driver) fn chunk_wanted(
        &mut self,
        now: Instant,
        peer: PeerId,
        file: EventId,
        index: u32,
    ) {
        self.transfers
            .queued
            .entry((file, peer))
            .or_default()
            .push_back(index);
        self.pump_uploads(now);
    }

    /// Moves every upload along: sends the chunks already read while its channel is below
    /// [`HIGH_WATER`] (or the relay budget allows), and keeps one read of up to
    /// [`pace::READ_CHUNKS`] more chunks ahead of the channel, so reading the file overlaps with
    /// sending instead of starting only once the channel has drained.
    pub(in crate::driver) fn pump_uploads(&mut self, now: Instant) {
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
                && let Some(at) = relay.take(now, CHUNK_LEN as u64)
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
        if self.transfers.reading.contains(&(file, peer)) || waiting >= pace::READ_CHUNKS {
            return;
        }
        if !self.transfers.queued.contains_key(&(file, peer)) {
            return;
        }
        let source = match (self.transfers.outgoing.get(&file), &self.store) {
            (Some(local), _) => Source::File(local.clone()),
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
        // Relayed chunks go at the server's pace: read a few at a time.
        let Some((first, count)) = pace::next_read(queue, direct) else {
            self.transfers.queued.remove(&(file, peer));
            return;
        };
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
                Source::File(local) => local.read(start, end).await,
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

    pub(in crate::driver) fn chunks_read(
        &mut self,
        now: Instant,
        peer: PeerId,
        file: EventId,
        first: u32,
        data: Result<Vec<u8>, FileError>,
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
                    .notify(format!("Stopped sending a file: {error}."));
                self.cancel_file(now, file);
            }
        }
        self.pump_uploads(now);
    }
}

/// Where our file's bytes come from.
enum Source {
    /// The file the user chose (this page's life).
    File(LocalFile),
    /// The encrypted copy in the store (after a reload).
    Copy(Rc<BrowserStore>),
}

/// Chunks `first..first + count` of our kept copy, concatenated (short at the file's end).
async fn read_copy(
    store: &BrowserStore,
    file: EventId,
    first: u32,
    count: usize,
) -> Result<Vec<u8>, FileError> {
    let mut out = Vec::with_capacity(count * CHUNK_LEN);
    for index in first..first + count as u32 {
        match store.chunk(*file.as_bytes(), index).await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(error) => return Err(FileError::KeptCopyUnreadable(error)),
        }
    }
    Ok(out)
}
