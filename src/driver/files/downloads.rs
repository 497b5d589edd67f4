//! Others' files coming in: accepting one (after checking the space left), resuming
//! accepted downloads after a reload (re-hashing what is stored), storing received chunks
//! in order, one write per file at a time (`ClientEvent::ChunkReceived`, reported stored to core),
//! pausing, declining and resuming, and handing a received file to the user (saved, or
//! previewed inline).

use confab_core::transfer::{FileDigest, FileMeta, Recovery, TransferError};
use confab_core::units::format_bytes;
use confab_core::vault::records::{FileDecision, FileRecord};
use confab_core::{EventId, Instant};

use leptos::prelude::*;

use super::super::{Driver, Input};
use crate::platform::clock::log;
use crate::platform::files as platform_files;
use crate::platform::store::StoreError;
use crate::state::{FileProgress, FileStatus};

/// Largest image drawn inline.
const MAX_PREVIEW: u64 = 16 << 20;

impl Driver {
    /// Loads this room's file records: resumes accepted downloads, shows the rest.
    pub(in crate::driver) fn load_file_records(&self) {
        let (Some(store), inbox, room) = (self.store.clone(), self.inbox.clone(), self.home) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let records = match store.file_records().await {
                Ok(records) => records,
                Err(error) => return log(&format!("file records unreadable: {error}")),
            };
            for (key, value) in records {
                let Ok(record) = FileRecord::decode(&value) else {
                    continue;
                };
                if record.room != room {
                    continue;
                }
                let decision = record.decision;
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

    pub(in crate::driver) fn file_record(
        &mut self,
        now: Instant,
        file: EventId,
        decision: FileDecision,
        stored: u32,
    ) {
        let Some(meta) = self.file_meta(&file) else {
            return;
        };
        self.transfers.decisions.insert(file, decision);
        let done = meta.bytes_in(stored);
        let status = match decision {
            FileDecision::Accepted => {
                self.rehash_and_download(file, stored);
                FileStatus::Waiting
            }
            FileDecision::Paused => FileStatus::Paused,
            FileDecision::Received => {
                self.show_preview(file, &meta);
                FileStatus::Received
            }
            FileDecision::Declined => FileStatus::Declined,
            FileDecision::Kept => {
                if stored == meta.chunks() && self.client.hold_file(file) {
                    self.transfers.kept.insert(file);
                    self.state.file_kept(file, meta.size);
                    FileStatus::Sharing
                } else {
                    FileStatus::Withdrawn
                }
            }
            FileDecision::Failed => FileStatus::Failed {
                reason: TransferError::HashMismatch.to_string(),
                recovery: TransferError::HashMismatch.recovery(),
            },
        };
        let _ = now;
        self.state.file_restored(file, meta.size, status, done);
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

    pub(in crate::driver) fn rehashed(
        &mut self,
        now: Instant,
        file: EventId,
        stored: u32,
        digest: FileDigest,
    ) {
        if let Err(error) = self.client.download(now, file, stored, digest) {
            self.state
                .notify(format!("Could not resume the download: {error}."));
        }
    }

    pub(in crate::driver) fn accept_file(&mut self, file: EventId) {
        let Some(meta) = self.file_meta(&file) else {
            return;
        };
        if self.store.is_none() {
            self.state
                .notify("Files need this browser's storage, which is unavailable here.".to_owned());
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

    pub(in crate::driver) fn space_checked(
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
            self.state.notify(format!(
                "Not enough space for {}: it needs {}, the browser allows {} more.",
                meta.name,
                format_bytes(meta.size),
                format_bytes(free.unwrap_or(0))
            ));
            return;
        }
        self.save_decision(file, FileDecision::Accepted);
        self.state
            .file_restored(file, meta.size, FileStatus::Waiting, 0);
        if let Err(error) = self.client.download(now, file, 0, FileDigest::new()) {
            self.state.notify(format!("Cannot download: {error}."));
        }
    }

    pub(in crate::driver) fn decline_file(&mut self, now: Instant, file: EventId) {
        self.client.decline_file(now, file);
        self.save_decision(file, FileDecision::Declined);
        let total = self.file_meta(&file).map_or(0, |m| m.size);
        self.state.file_status(file, total, FileStatus::Declined);
    }

    pub(in crate::driver) fn pause_file(&mut self, now: Instant, file: EventId) {
        self.client.pause_download(now, file);
        self.save_decision(file, FileDecision::Paused);
    }

    pub(in crate::driver) fn resume_file(&mut self, now: Instant, file: EventId) {
        let recovery = self
            .state
            .files()
            .with_untracked(|files| match files.get(&file) {
                Some(FileProgress {
                    status: FileStatus::Failed { recovery, .. },
                    ..
                }) => Some(*recovery),
                _ => None,
            });
        if recovery == Some(Recovery::Ended) {
            // Nothing will carry it (the card offers no Resume).
            return;
        }
        let restart = recovery == Some(Recovery::Restart);
        self.save_decision(file, FileDecision::Accepted);
        let total = self.file_meta(&file).map_or(0, |m| m.size);
        self.state.file_status(file, total, FileStatus::Waiting);
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

    pub(in crate::driver) fn rehash_from(&mut self, file: EventId, stored: u32) {
        self.rehash_and_download(file, stored);
    }

    pub(in crate::driver) fn chunk_received(&mut self, file: EventId, index: u32, data: Vec<u8>) {
        let entry = self
            .transfers
            .unsaved
            .entry(file)
            .or_insert_with(|| (index, Vec::new()));
        entry.1.push(data);
    }

    /// Hands received chunks to the store, one write per file at a time, in order.
    pub(in crate::driver) fn save_chunks(&mut self) {
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

    pub(in crate::driver) fn chunks_saved(
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
                self.state.notify(text);
                self.transfers.unsaved.remove(&file);
                self.client.pause_download(now, file);
                self.save_decision(file, FileDecision::Paused);
            }
        }
    }

    pub(in crate::driver) fn save_file(&self, file: EventId) {
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
            .await?;
            Ok(format!("{} saved to your downloads.", meta.name))
        });
    }

    pub(super) fn show_preview(&self, file: EventId, meta: &FileMeta) {
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
                Ok(url) => state.file_preview(file, size, url),
                Err(error) => log(&format!("no preview: {error}")),
            }
        });
    }
}
