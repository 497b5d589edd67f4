//! The receiving side of file transfers: accepting a file, taking its chunks in order
//! while hashing them, acknowledging what the caller stored, pause, resume, cancel, and
//! failing on a lost, corrupt or mismatched chunk (see the parent module).

use super::{Client, ClientEvent, Direction, TransferState, TransferUpdate};
use crate::Instant;
use crate::client::RejectReason;
use crate::ids::{EventId, MemberKey, PeerId};
use crate::transfer::{ACK_EVERY, FileDigest, FileMeta, StopReason, TransferError, WINDOW};
use crate::wire::Body;

/// Receiving one file of another member from its author, whichever link it comes by.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(super) struct Download {
    pub(super) meta: FileMeta,
    pub(super) author: MemberKey,
    /// The link chunks come from, once asked.
    pub(super) source: Option<PeerId>,
    /// Next chunk expected.
    pub(super) next: u32,
    /// Chunks before this are stored by the caller.
    pub(super) stored: u32,
    /// The last acknowledgement sent.
    pub(super) acked: u32,
    /// Hash of chunks `..next`; taken when the last one arrives. Kept when a removal ends
    /// the download, so it goes on if the removal is undone.
    pub(super) digest: Option<FileDigest>,
    pub(super) state: TransferState,
    /// A removal ended it while paused: if the removal is undone it is paused again.
    pub(super) paused_when_ended: bool,
    /// Last chunk received or request sent (stall detection).
    pub(super) last_activity: Instant,
    /// The last chunk taken arrived on the file's own channel (a direct link); else on
    /// the shared path (the relay, which carries every channel), or none arrived yet.
    pub(super) on_own_channel: bool,
    /// A frame from the source failed authentication on the shared path since the last
    /// chunk taken. Over the relay nothing tells which channel it belonged to, but the
    /// relay delivers in order and does not lose frames: if the next chunk does not come
    /// (or a later one comes instead), that frame was it.
    pub(super) unreadable_since_chunk: bool,
}

impl Download {
    /// Chunks are still to arrive (once all have, nothing more is asked of the sender).
    pub(super) fn missing_chunks(&self) -> bool {
        self.next < self.meta.chunks()
    }

    /// Waiting, going or paused with chunks still to come from the author: it needs them
    /// to be linked (a download whose chunks all arrived completes once they are stored).
    pub(super) fn is_unfinished(&self) -> bool {
        matches!(
            self.state,
            TransferState::Waiting | TransferState::Active | TransferState::Paused
        ) && self.missing_chunks()
    }

    /// Receiving from a link, so silence means something was lost.
    pub(super) fn is_stalling_candidate(&self) -> bool {
        self.state == TransferState::Active && self.source.is_some() && self.missing_chunks()
    }

    /// Silence (or a gap) after a frame from the source failed authentication on the
    /// shared path while the sender had room to send: that frame was our next chunk.
    pub(super) fn lost_a_chunk_to_corruption(&self) -> bool {
        self.unreadable_since_chunk
            && !self.on_own_channel
            && self.next < self.acked.saturating_add(WINDOW)
    }

    pub(super) fn update(&self, file: EventId) -> TransferUpdate {
        TransferUpdate {
            file,
            member: self.author,
            direction: Direction::Download,
            done: self.meta.bytes_in(self.stored),
            total: self.meta.size,
            state: self.state.clone(),
        }
    }
}

impl Client {
    /// Starts or resumes downloading `file` (a file message in this room, not ours).
    /// `stored` chunks are already stored by the caller and `digest` is the hash of
    /// exactly those (a fresh one for `stored == 0`). Chunks then arrive as
    /// [`ClientEvent::ChunkReceived`]; progress as [`ClientEvent::Transfer`].
    pub fn download(
        &mut self,
        now: Instant,
        file: EventId,
        stored: u32,
        digest: FileDigest,
    ) -> Result<(), TransferError> {
        let now = self.monotonic(now);
        let view = self
            .timeline
            .message(&file)
            .ok_or(TransferError::UnknownFile)?;
        let meta = view.file.clone().ok_or(TransferError::UnknownFile)?;
        if view.deleted {
            return Err(TransferError::UnknownFile);
        }
        if stored > meta.chunks() {
            return Err(TransferError::BadProgress);
        }
        let author = view.author;
        let mut download = Download {
            meta,
            author,
            source: None,
            next: stored,
            stored,
            acked: stored,
            digest: Some(digest),
            state: TransferState::Waiting,
            paused_when_ended: false,
            last_activity: now,
            on_own_channel: false,
            unreadable_since_chunk: false,
        };
        if stored == download.meta.chunks() {
            download.state = match download.digest.take().map(FileDigest::finish) {
                Some(hash) if hash == download.meta.hash => TransferState::Complete,
                _ => TransferState::Failed(TransferError::HashMismatch),
            };
            self.events
                .push_back(ClientEvent::Transfer(download.update(file)));
            let complete = download.state == TransferState::Complete;
            self.files.downloads.insert(file, download);
            // The author may not have heard it (our page reloaded before the final
            // acknowledgement went out): say it. An empty file was never asked for.
            if complete
                && stored > 0
                && let Some(peer) = self.link_of(author)
            {
                self.send_body(now, peer, &Body::FileAck { file, next: stored });
            }
            return Ok(());
        }
        self.files.downloads.insert(file, download);
        self.request_chunks(now, file);
        Ok(())
    }

    /// Resumes a paused, stopped or failed-for-unavailability download of this session
    /// from the first chunk not received. False if there is none to resume (after a
    /// reload, or a failed hash): call [`Client::download`] with what is stored. A
    /// download that is going or complete is left as it is: true, and its state is
    /// reported again ([`ClientEvent::Transfer`]).
    pub fn resume_download(&mut self, now: Instant, file: EventId) -> bool {
        let now = self.monotonic(now);
        let Some(download) = self.files.downloads.get(&file) else {
            return false;
        };
        if matches!(
            download.state,
            TransferState::Complete | TransferState::Active
        ) {
            self.events
                .push_back(ClientEvent::Transfer(download.update(file)));
            return true;
        }
        let resumable = download.digest.is_some()
            && matches!(
                download.state,
                TransferState::Paused
                    | TransferState::Stopped(_)
                    | TransferState::Waiting
                    | TransferState::Failed(TransferError::Unavailable)
            );
        if resumable {
            if let Some(download) = self.files.downloads.get_mut(&file) {
                download.state = TransferState::Waiting;
            }
            self.request_chunks(now, file);
        }
        resumable
    }

    /// Pauses a download that is waiting for its author or receiving chunks: the sender
    /// stops; [`Client::resume_download`] goes on. Anything else is left as it is, with
    /// nothing reported or sent: a download paused already, stopped, failed, complete,
    /// declined or unknown, and one whose chunks have all arrived (only storing them is
    /// left, and it completes when they are stored).
    pub fn pause_download(&mut self, now: Instant, file: EventId) {
        let pausable = self.files.downloads.get(&file).is_some_and(|download| {
            matches!(
                download.state,
                TransferState::Waiting | TransferState::Active
            ) && download.missing_chunks()
        });
        if pausable {
            self.stop_download(now, file, StopReason::Paused, TransferState::Paused);
        }
    }

    /// Cancels a download (the caller deletes what it stored): its sender is told and
    /// it is forgotten. A complete download is left as it is, with nothing reported or
    /// sent: it stays complete (and still tells its author so, see the module
    /// documentation). Nothing happens for a download this client does not know.
    pub fn cancel_download(&mut self, now: Instant, file: EventId) {
        let complete = self
            .files
            .downloads
            .get(&file)
            .is_some_and(|download| download.state == TransferState::Complete);
        if complete {
            return;
        }
        self.stop_download(
            now,
            file,
            StopReason::Cancelled,
            TransferState::Stopped(StopReason::Cancelled),
        );
        self.files.downloads.remove(&file);
    }

    /// Declines a file: its author is told, if connected.
    pub fn decline_file(&mut self, now: Instant, file: EventId) {
        let now = self.monotonic(now);
        self.files.downloads.remove(&file);
        let Some(author) = self.timeline.message(&file).map(|view| view.author) else {
            return;
        };
        if let Some(peer) = self.link_of(author) {
            self.send_body(
                now,
                peer,
                &Body::FileStop {
                    file,
                    reason: StopReason::Declined,
                },
            );
        }
    }

    /// The caller has stored every chunk of `file` before `up_to` (after
    /// [`ClientEvent::ChunkReceived`]): acknowledges them to the sender.
    pub fn chunks_stored(&mut self, now: Instant, file: EventId, up_to: u32) {
        let now = self.monotonic(now);
        let Some(author) = self.files.downloads.get(&file).map(|d| d.author) else {
            return;
        };
        let author_link = self.link_of(author);
        let Some(download) = self.files.downloads.get_mut(&file) else {
            return;
        };
        if up_to <= download.stored || up_to > download.next {
            return;
        }
        download.stored = up_to;
        // Every chunk arrived and matched the hash (a mismatch fails the download): it is
        // complete, even if its link went meanwhile.
        let finished = up_to == download.meta.chunks()
            && download.digest.is_none()
            && !matches!(download.state, TransferState::Failed(_));
        let ack = if finished {
            download.state = TransferState::Complete;
            // It needs no link from now on; the author's current one hears that we are
            // done.
            download.source.take().or(author_link)
        } else if up_to - download.acked >= ACK_EVERY {
            download.source
        } else {
            None
        };
        if ack.is_some() {
            download.acked = up_to;
        }
        self.events
            .push_back(ClientEvent::Transfer(download.update(file)));
        if let Some(peer) = ack {
            self.send_body(now, peer, &Body::FileAck { file, next: up_to });
        }
    }

    /// A verified link to `member` appeared: resume downloads of their files, and repeat
    /// the final acknowledgement of those we completed (it may have been lost with the
    /// link it went on, and the author's upload with it: nobody would ask again).
    pub(super) fn resume_downloads_by(&mut self, now: Instant, member: MemberKey) {
        let waiting: Vec<EventId> = self
            .files
            .downloads
            .iter()
            .filter(|(_, d)| d.author == member && d.source.is_none() && d.missing_chunks())
            .filter(|(_, d)| matches!(d.state, TransferState::Waiting | TransferState::Active))
            .map(|(file, _)| *file)
            .collect();
        for file in waiting {
            self.request_chunks(now, file);
        }
        let complete: Vec<(EventId, u32)> = self
            .files
            .downloads
            .iter()
            .filter(|(_, d)| d.author == member && d.state == TransferState::Complete)
            .filter(|(_, d)| d.meta.chunks() > 0)
            .map(|(file, d)| (*file, d.meta.chunks()))
            .collect();
        if let Some(peer) = self.link_of(member) {
            for (file, next) in complete {
                self.send_body(now, peer, &Body::FileAck { file, next });
            }
        }
    }

    /// Downloads whose source went quiet ask again, or fail if what went missing did
    /// not authenticate.
    pub(super) fn handle_downloads_timeout(&mut self, now: Instant) {
        let stall = self.config.transfer_stall;
        let stalled: Vec<EventId> = self
            .files
            .downloads
            .iter()
            .filter(|(_, d)| d.is_stalling_candidate())
            .filter(|(_, d)| now >= d.last_activity + stall)
            .map(|(file, _)| *file)
            .collect();
        for file in stalled {
            if self
                .files
                .downloads
                .get(&file)
                .is_some_and(Download::lost_a_chunk_to_corruption)
            {
                self.fail_download(now, file, TransferError::Corrupt);
                continue;
            }
            // Our last acknowledgement may have been lost too: repeat it.
            if let Some(download) = self.files.downloads.get(&file)
                && let Some(peer) = download.source
                && download.acked > 0
            {
                let next = download.acked;
                self.send_body(now, peer, &Body::FileAck { file, next });
            }
            self.request_chunks(now, file);
        }
    }

    /// Asks the author's link (if any) for chunks from the next one expected.
    pub(super) fn request_chunks(&mut self, now: Instant, file: EventId) {
        let Some(download) = self.files.downloads.get(&file) else {
            return;
        };
        let (author, from) = (download.author, download.next);
        let me = self.public.member_key();
        if self.out_of_room(me) || self.out_of_room(author) {
            // Nobody of a later epoch will serve it (see `end_transfers_of_removed`).
            let error = if self.out_of_room(me) {
                TransferError::Removed
            } else {
                TransferError::MemberGone
            };
            return self.fail_download(now, file, error);
        }
        let source = self.link_of(author);
        let Some(download) = self.files.downloads.get_mut(&file) else {
            return;
        };
        download.source = source;
        download.last_activity = now;
        let state = if source.is_some() {
            TransferState::Active
        } else {
            TransferState::Waiting
        };
        if download.state != state {
            download.state = state;
            self.events
                .push_back(ClientEvent::Transfer(download.update(file)));
        }
        if let Some(peer) = source {
            self.send_body(now, peer, &Body::FileWant { file, from });
        }
    }

    fn stop_download(
        &mut self,
        now: Instant,
        file: EventId,
        reason: StopReason,
        state: TransferState,
    ) {
        let now = self.monotonic(now);
        let Some(download) = self.files.downloads.get_mut(&file) else {
            return;
        };
        let source = download.source.take();
        // `next` and the hash stay: chunks still in flight are refused from now on, and
        // [`Client::resume_download`] asks from the first one not received.
        download.state = state;
        self.events
            .push_back(ClientEvent::Transfer(download.update(file)));
        if let Some(peer) = source {
            self.send_body(now, peer, &Body::FileStop { file, reason });
        }
    }

    pub(super) fn fail_download(&mut self, now: Instant, file: EventId, error: TransferError) {
        let Some(download) = self.files.downloads.get_mut(&file) else {
            return;
        };
        let source = download.source.take();
        if matches!(error, TransferError::Removed | TransferError::MemberGone) {
            // Every chunk taken matched so far: a removal undone takes it up from there
            // (`take_up_downloads_of_returned`), without the caller hashing them again.
            download.paused_when_ended = download.state == TransferState::Paused;
        } else {
            download.digest = None;
        }
        download.state = TransferState::Failed(error);
        self.events
            .push_back(ClientEvent::Transfer(download.update(file)));
        if let Some(peer) = source {
            self.send_body(
                now,
                peer,
                &Body::FileStop {
                    file,
                    reason: StopReason::Failed,
                },
            );
        }
    }

    pub(super) fn handle_chunk(
        &mut self,
        now: Instant,
        peer: PeerId,
        file: EventId,
        index: u32,
        data: Vec<u8>,
    ) {
        let sender = self.member_of(peer);
        let Some(download) = self.files.downloads.get_mut(&file) else {
            return self.reject(peer, RejectReason::Unexpected("chunk of no download"));
        };
        if download.state == TransferState::Complete && sender == Some(download.author) {
            // The author did not hear that we have it all: say it again.
            let next = download.meta.chunks();
            self.send_body(now, peer, &Body::FileAck { file, next });
            return;
        }
        if download.state != TransferState::Active || download.source != Some(peer) {
            return self.reject(peer, RejectReason::Unexpected("chunk from elsewhere"));
        }
        if index < download.next {
            return self.reject(peer, RejectReason::Replay);
        }
        if index > download.next {
            if download.lost_a_chunk_to_corruption() {
                return self.fail_download(now, file, TransferError::Corrupt);
            }
            // A chunk was lost: ask again from the gap, at most once per stall period.
            let asked_recently = now < download.last_activity + self.config.transfer_stall / 4;
            if !asked_recently {
                self.request_chunks(now, file);
            }
            return;
        }
        if download.meta.chunk_len(index) != Some(data.len()) {
            return self.fail_download(now, file, TransferError::Corrupt);
        }
        download.last_activity = now;
        download.on_own_channel = self.files.on_file_channel;
        download.unreadable_since_chunk = false;
        download.next += 1;
        if let Some(digest) = &mut download.digest {
            digest.update(&data);
        }
        let last = download.next == download.meta.chunks();
        let matched = last.then(|| {
            download
                .digest
                .take()
                .map(FileDigest::finish)
                .is_some_and(|hash| hash == download.meta.hash)
        });
        self.events
            .push_back(ClientEvent::ChunkReceived { file, index, data });
        if matched == Some(false) {
            self.fail_download(now, file, TransferError::HashMismatch);
        }
    }

    /// A `FileStop` from the source of a download: the author stopped sending.
    pub(super) fn handle_download_stop(&mut self, peer: PeerId, file: EventId, reason: StopReason) {
        let Some(download) = self.files.downloads.get_mut(&file) else {
            return;
        };
        if download.source != Some(peer) {
            return;
        }
        download.source = None;
        download.state = match reason {
            StopReason::Unavailable => TransferState::Failed(TransferError::Unavailable),
            other => TransferState::Stopped(other),
        };
        self.events
            .push_back(ClientEvent::Transfer(download.update(file)));
    }
}
