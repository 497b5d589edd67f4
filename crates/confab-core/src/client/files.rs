//! File transfers: the exchange described in [`crate::transfer`], one state machine per
//! (file, peer) upload and one per download.
//!
//! - **Upload** (we are the file's author and the caller still has its bytes): a
//!   `FileWant{from}` starts or resumes sending at `from`; we ask the caller for chunks
//!   ([`Event::ChunkWanted`]) while fewer than [`WINDOW`] are unacknowledged, and it hands
//!   them back with [`Client::send_chunk`]. Chunks below the last acknowledgement are
//!   refused: nothing confirmed goes out twice. When the receiver has said nothing for
//!   twice [`Config::transfer_stall`] while chunks are unacknowledged (its final
//!   acknowledgement may have been lost), we ask the caller for the last chunk again; a
//!   receiver that has it all answers with its acknowledgement. An upload that ended with
//!   its link before the receiver confirmed everything is taken up again when a verified
//!   link to the receiver appears: unless the receiver asks, we probe it that way a few
//!   times.
//! - **Download**: [`Client::download`] asks the author's link for chunks from what the
//!   caller has stored; chunks are taken strictly in order ([`Event::ChunkReceived`]),
//!   hashed, and acknowledged once the caller reports them stored
//!   ([`Client::chunks_stored`]). A gap (a lost frame) or [`Config::transfer_stall`] of
//!   silence asks again from the next chunk. When the author's link goes, the download
//!   waits and resumes when the author is verified again. Once every chunk has arrived
//!   and matched the hash, nothing more is asked: the download completes when the
//!   caller has stored them all, whatever became of the link, and then no longer
//!   depends on it. Its final acknowledgement may be lost with the link it went on, so
//!   a complete download says it again to every verified link to the author that
//!   appears (and when [`Client::download`] finds everything stored). A chunk failing
//!   authentication fails the download ([`TransferError::Corrupt`]) once, keeping what
//!   was stored: on the file's own channel at once ([`Client::handle_file_frame`]); over
//!   the relay, where frames of every channel share one ordered path, when silence or a
//!   later chunk shows that the frame that failed was the next chunk.
//!
//! [`Config::transfer_stall`]: super::Config::transfer_stall

use std::collections::{BTreeMap, BTreeSet};

use super::{Channel, Client, Event, PeerState, SendError};
use crate::Instant;
use crate::history::{Content, UnixMillis};
use crate::ids::{EventId, MemberKey, PeerId};
use crate::session::OpenError;
use crate::transfer::{
    ACK_EVERY, FileDigest, FileMeta, MAX_FILE_SIZE, StopReason, TransferError, WINDOW,
    safe_file_name, safe_mime,
};
use crate::wire::{Body, Frame};

/// Probes of an upload we resumed on our own (see [`Upload::probes_left`]).
const PROBES_AFTER_RETURN: u8 = 3;

/// Which way a transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We send our file to a member.
    Upload,
    /// We receive a member's file.
    Download,
}

/// Where a transfer stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferState {
    /// Accepted, but the other side is not connected (or not asked yet).
    Waiting,
    /// Chunks are flowing.
    Active,
    /// Paused by the receiver.
    Paused,
    /// Every chunk is stored and (downloads) the hash matched.
    Complete,
    /// Ended by the other side or by us.
    Stopped(StopReason),
    /// Failed; what was stored before stays.
    Failed(TransferError),
}

/// A transfer's progress, reported whenever it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferUpdate {
    /// The file message.
    pub file: EventId,
    /// The other side: the receiver of an upload, the author of a download.
    pub member: MemberKey,
    /// Which way.
    pub direction: Direction,
    /// Bytes confirmed stored by the receiver.
    pub done: u64,
    /// The file's size.
    pub total: u64,
    /// Where it stands.
    pub state: TransferState,
}

#[derive(Default)]
pub(crate) struct Files {
    /// Our files whose bytes the caller can read.
    held: BTreeMap<EventId, FileMeta>,
    uploads: BTreeMap<(EventId, PeerId), Upload>,
    /// Chunks each member acknowledged storing, per file of ours: what uploads report
    /// as done. It outlives their links, so a resumed upload goes on from there.
    confirmed: BTreeMap<(EventId, MemberKey), u32>,
    downloads: BTreeMap<EventId, Download>,
    /// Uploads that ended with their link, not yet reported.
    dropped: Vec<TransferUpdate>,
    /// Uploads that ended with their link before the receiver confirmed everything: when
    /// it is back, we ask whether it completed meanwhile (see [`Upload::probes_left`]).
    unfinished: BTreeSet<(EventId, MemberKey)>,
    /// The frame being handled arrived on a file's own channel
    /// ([`Client::handle_file_frame`]), not on the shared path.
    on_file_channel: bool,
}

struct Upload {
    member: MemberKey,
    /// Next chunk to ask the caller for.
    next: u32,
    /// Chunks before this are not sent (again): acknowledged, or received according to
    /// the receiver's request. The window counts from here.
    acked: u32,
    /// The receiver's last request or acknowledgement, or our last probe.
    last_heard: Instant,
    /// `None` for an upload the receiver asked for. `Some` for one we resumed on our own
    /// when the receiver's link came back after an upload ended with its link: we probe
    /// this many more times (the receiver may have completed and its final
    /// acknowledgement been lost), then wait for it to ask.
    probes_left: Option<u8>,
}

struct Download {
    meta: FileMeta,
    author: MemberKey,
    /// The link chunks come from, once asked.
    source: Option<PeerId>,
    /// Next chunk expected.
    next: u32,
    /// Chunks before this are stored by the caller.
    stored: u32,
    /// The last acknowledgement sent.
    acked: u32,
    /// Hash of chunks `..next`; taken when the last one arrives.
    digest: Option<FileDigest>,
    state: TransferState,
    /// Last chunk received or request sent (stall detection).
    last_activity: Instant,
    /// The last chunk taken arrived on the file's own channel (a direct link); else on
    /// the shared path (the relay, which carries every channel), or none arrived yet.
    on_own_channel: bool,
    /// A frame from the source failed authentication on the shared path since the last
    /// chunk taken. Over the relay nothing tells which channel it belonged to, but the
    /// relay delivers in order and does not lose frames: if the next chunk does not come
    /// (or a later one comes instead), that frame was it.
    unreadable_since_chunk: bool,
}

impl Files {
    /// The link is gone: its uploads end, and the downloads still missing chunks from
    /// it are returned (to wait for the author).
    /// The link to `peer` is gone: its uploads end (reported as waiting, with what that
    /// member confirmed) and the downloads it fed are returned, to wait for their author.
    pub(crate) fn forget_peer(&mut self, peer: PeerId) -> Vec<EventId> {
        let gone: Vec<(EventId, MemberKey, bool)> = self
            .uploads
            .iter()
            .filter(|((_, p), _)| *p == peer)
            .map(|((file, _), upload)| (*file, upload.member, upload.probes_left.is_none()))
            .collect();
        self.uploads.retain(|(_, p), _| *p != peer);
        for (file, member, asked) in gone {
            let Some(meta) = self.held.get(&file) else {
                continue;
            };
            let confirmed = self.confirmed.get(&(file, member)).copied().unwrap_or(0);
            if confirmed < meta.chunks() {
                self.unfinished.insert((file, member));
            }
            if !asked {
                // Reported as waiting when its asked-for predecessor ended.
                continue;
            }
            self.dropped.push(TransferUpdate {
                file,
                member,
                direction: Direction::Upload,
                done: meta.bytes_in(confirmed),
                total: meta.size,
                state: TransferState::Waiting,
            });
        }
        let mut orphaned = Vec::new();
        for (file, download) in &mut self.downloads {
            if download.source == Some(peer) {
                download.source = None;
                if download.missing_chunks() {
                    orphaned.push(*file);
                }
            }
        }
        orphaned
    }

    pub(crate) fn poll_timeout(&self, stall: std::time::Duration) -> Option<Instant> {
        let downloads = self
            .downloads
            .values()
            .filter(|d| d.is_stalling_candidate())
            .map(|d| d.last_activity + stall);
        let uploads = self
            .uploads
            .values()
            .filter(|u| u.acked < u.next)
            .map(|u| u.last_heard + stall * 2);
        downloads.chain(uploads).min()
    }
}

impl Download {
    /// Chunks are still to arrive (once all have, nothing more is asked of the sender).
    fn missing_chunks(&self) -> bool {
        self.next < self.meta.chunks()
    }

    /// Receiving from a link, so silence means something was lost.
    fn is_stalling_candidate(&self) -> bool {
        self.state == TransferState::Active && self.source.is_some() && self.missing_chunks()
    }

    /// Silence (or a gap) after a frame from the source failed authentication on the
    /// shared path while the sender had room to send: that frame was our next chunk.
    fn lost_a_chunk_to_corruption(&self) -> bool {
        self.unreadable_since_chunk
            && !self.on_own_channel
            && self.next < self.acked.saturating_add(WINDOW)
    }

    fn update(&self, file: EventId) -> TransferUpdate {
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
    /// Announces a file to the room: a signed file message, after which members may ask
    /// us for its bytes (see [`Event::ChunkWanted`]) for as long as this client lives or
    /// until [`Client::release_file`]. `hash` is the BLAKE3 hash of the whole file
    /// ([`FileDigest`]); the name and type are made safe first.
    pub fn post_file(
        &mut self,
        now: Instant,
        sent_at: UnixMillis,
        meta: FileMeta,
    ) -> Result<EventId, SendError> {
        let now = self.monotonic(now);
        if meta.size > MAX_FILE_SIZE {
            return Err(SendError::TooLong {
                got: usize::try_from(meta.size).unwrap_or(usize::MAX),
                max: usize::try_from(MAX_FILE_SIZE).unwrap_or(usize::MAX),
            });
        }
        let meta = FileMeta {
            name: safe_file_name(&meta.name),
            mime: safe_mime(&meta.mime),
            ..meta
        };
        let id = self.publish(now, sent_at, Content::File(meta.clone()));
        self.files.held.insert(id, meta);
        Ok(id)
    }

    /// Stops offering one of our files (the sender cancelled it, or its bytes are gone):
    /// every receiver still downloading is told.
    pub fn release_file(&mut self, now: Instant, file: EventId) {
        let now = self.monotonic(now);
        self.files.held.remove(&file);
        self.files.confirmed.retain(|(f, _), _| *f != file);
        self.files.unfinished.retain(|(f, _)| *f != file);
        let peers: Vec<(PeerId, MemberKey)> = self
            .files
            .uploads
            .iter()
            .filter(|((f, _), _)| *f == file)
            .map(|((_, peer), upload)| (*peer, upload.member))
            .collect();
        for (peer, member) in peers {
            self.files.uploads.remove(&(file, peer));
            self.send_body(
                now,
                peer,
                &Body::FileStop {
                    file,
                    reason: StopReason::Cancelled,
                },
            );
            self.events.push_back(Event::Transfer(TransferUpdate {
                file,
                member,
                direction: Direction::Upload,
                done: 0,
                total: 0,
                state: TransferState::Stopped(StopReason::Cancelled),
            }));
        }
    }

    /// Whether we still serve this file of ours.
    pub fn holds_file(&self, file: &EventId) -> bool {
        self.files.held.contains_key(file)
    }

    /// Serves one of our own file messages again (after a reload, from a copy the caller
    /// kept). False, and nothing changes, if `file` is not our file message or was
    /// deleted.
    pub fn hold_file(&mut self, file: EventId) -> bool {
        let Some(view) = self.timeline.message(&file) else {
            return false;
        };
        if view.author != self.public.member_key() || view.deleted {
            return false;
        }
        let Some(meta) = view.file.clone() else {
            return false;
        };
        self.files.held.insert(file, meta);
        true
    }

    /// Starts or resumes downloading `file` (a file message in this room, not ours).
    /// `stored` chunks are already stored by the caller and `digest` is the hash of
    /// exactly those (a fresh one for `stored == 0`). Chunks then arrive as
    /// [`Event::ChunkReceived`]; progress as [`Event::Transfer`].
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
                .push_back(Event::Transfer(download.update(file)));
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
    /// reported again ([`Event::Transfer`]).
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
                .push_back(Event::Transfer(download.update(file)));
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
    /// [`Event::ChunkReceived`]): acknowledges them to the sender.
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
            .push_back(Event::Transfer(download.update(file)));
        if let Some(peer) = ack {
            self.send_body(now, peer, &Body::FileAck { file, next: up_to });
        }
    }

    /// Sends chunk `index` of our `file` to `peer`, as asked by [`Event::ChunkWanted`].
    /// False (and nothing sent) if the upload ended, the chunk was already confirmed, or
    /// `data` is not that chunk's length.
    pub fn send_chunk(
        &mut self,
        now: Instant,
        peer: PeerId,
        file: EventId,
        index: u32,
        data: &[u8],
    ) -> bool {
        let now = self.monotonic(now);
        let Some(meta) = self.files.held.get(&file) else {
            return false;
        };
        let Some(upload) = self.files.uploads.get(&(file, peer)) else {
            return false;
        };
        if index < upload.acked || index >= upload.next || meta.chunk_len(index) != Some(data.len())
        {
            return false;
        }
        let body = Body::FileChunk {
            file,
            index,
            data: data.to_vec(),
        };
        self.send_body_on(now, peer, &body, Channel::File(file))
    }

    /// Bytes that arrived on `file`'s own channel from `peer`. Like
    /// [`Client::handle_frame`], except that a frame failing authentication there fails
    /// that download ([`TransferError::Corrupt`]) instead of being dropped quietly.
    pub fn handle_file_frame(&mut self, now: Instant, peer: PeerId, file: EventId, bytes: &[u8]) {
        let now = self.monotonic(now);
        let opened = match (self.peers.get_mut(&peer), Frame::decode(bytes)) {
            (
                Some(PeerState::Established { session, .. }),
                Ok(Frame::Transport {
                    counter,
                    ciphertext,
                }),
            ) => session.open_transport(counter, ciphertext),
            _ => return self.handle_frame(now, peer, bytes),
        };
        match opened {
            Err(OpenError::Decrypt) => {
                let from_source = self
                    .files
                    .downloads
                    .get(&file)
                    .is_some_and(|d| d.source == Some(peer) && d.missing_chunks());
                if from_source {
                    self.fail_download(now, file, TransferError::Corrupt);
                } else {
                    self.reject(peer, super::RejectReason::Decrypt);
                }
            }
            Err(_) => self.handle_frame(now, peer, bytes),
            Ok(plaintext) => {
                if let Some(PeerState::Established {
                    last_received,
                    probe_deadline,
                    ..
                }) = self.peers.get_mut(&peer)
                {
                    *last_received = now;
                    *probe_deadline = None;
                }
                self.files.on_file_channel = true;
                self.handle_body(now, peer, &plaintext);
                self.files.on_file_channel = false;
            }
        }
    }

    /// A transport frame from `peer` failed authentication on the shared path: the
    /// main channel of a direct link, or the relay, which carries every channel. It is
    /// dropped like any other ([`RejectReason::Decrypt`]); and it may have been a chunk,
    /// which the downloads fed by `peer` over that path find out: if their next chunk
    /// does not come, or a later one comes instead, they fail ([`TransferError::Corrupt`])
    /// once, as on a file's own channel, instead of asking again and again for chunks
    /// that a tampering relay spoils every time.
    ///
    /// [`RejectReason::Decrypt`]: super::RejectReason::Decrypt
    pub(super) fn handle_unreadable_frame(&mut self, peer: PeerId) {
        for download in self.files.downloads.values_mut() {
            if download.source == Some(peer) && download.is_stalling_candidate() {
                download.unreadable_since_chunk = true;
            }
        }
        self.reject(peer, super::RejectReason::Decrypt);
    }

    pub(super) fn handle_file_body(
        &mut self,
        now: Instant,
        peer: PeerId,
        member: MemberKey,
        body: Body,
    ) {
        match body {
            Body::FileWant { file, from } => self.handle_file_want(now, peer, member, file, from),
            Body::FileChunk { file, index, data } => {
                self.handle_chunk(now, peer, file, index, data)
            }
            Body::FileAck { file, next } => self.handle_file_ack(now, peer, file, next),
            Body::FileStop { file, reason } => self.handle_file_stop(peer, member, file, reason),
            _ => {}
        }
    }

    /// A verified link to `member` appeared: resume downloads of their files, and repeat
    /// the final acknowledgement of those we completed (it may have been lost with the
    /// link it went on, and the author's upload with it: nobody would ask again).
    pub(super) fn resume_downloads_from(&mut self, now: Instant, member: MemberKey) {
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
        self.resume_uploads_to(now, member);
    }

    /// A verified link to `member` appeared: our uploads to them that ended with a link
    /// before they confirmed everything wait on it for their request, and after
    /// [`Config::transfer_stall`] twice without one, ask whether they completed
    /// meanwhile (the usual probe, a few times): their final acknowledgement may have
    /// been lost with the link, and they would not ask again.
    ///
    /// [`Config::transfer_stall`]: super::Config::transfer_stall
    fn resume_uploads_to(&mut self, now: Instant, member: MemberKey) {
        let Some(peer) = self.link_of(member) else {
            return;
        };
        let files: Vec<EventId> = self
            .files
            .unfinished
            .iter()
            .filter(|(_, m)| *m == member)
            .map(|(file, _)| *file)
            .collect();
        for file in files {
            self.files.unfinished.remove(&(file, member));
            let Some(total) = self.files.held.get(&file).map(FileMeta::chunks) else {
                continue;
            };
            let confirmed = self.files.confirmed.get(&(file, member)).copied();
            let acked = confirmed.unwrap_or(0);
            if acked >= total || self.files.uploads.contains_key(&(file, peer)) {
                continue;
            }
            self.files.uploads.insert(
                (file, peer),
                Upload {
                    member,
                    next: total,
                    acked,
                    last_heard: now,
                    probes_left: Some(PROBES_AFTER_RETURN),
                },
            );
        }
    }

    /// The source link of these downloads went away: they wait for the author. Uploads
    /// that ended with a link are reported too.
    pub(super) fn orphan_downloads(&mut self, now: Instant, files: Vec<EventId>) {
        for update in std::mem::take(&mut self.files.dropped) {
            self.events.push_back(Event::Transfer(update));
        }
        for file in files {
            let Some(download) = self.files.downloads.get_mut(&file) else {
                continue;
            };
            if download.state != TransferState::Active {
                continue;
            }
            download.state = TransferState::Waiting;
            self.events
                .push_back(Event::Transfer(download.update(file)));
            // Another link to the same author may still be there.
            self.request_chunks(now, file);
        }
    }

    pub(super) fn handle_files_timeout(&mut self, now: Instant) {
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
        // Uploads the receiver went quiet on: its last acknowledgement may be lost. Ask
        // the caller for the last chunk asked again; a receiver that has everything
        // answers it with its acknowledgement, one still receiving drops it.
        let mut probes = Vec::new();
        let mut given_up = Vec::new();
        for ((file, peer), upload) in &mut self.files.uploads {
            if upload.acked < upload.next && now >= upload.last_heard + stall * 2 {
                match &mut upload.probes_left {
                    Some(0) => {
                        // Not asked, no answer: it waits for the receiver to ask.
                        given_up.push((*file, *peer, upload.member));
                        continue;
                    }
                    Some(left) => *left -= 1,
                    None => {}
                }
                upload.last_heard = now;
                probes.push(Event::ChunkWanted {
                    peer: *peer,
                    file: *file,
                    index: upload.next - 1,
                });
            }
        }
        for (file, peer, member) in given_up {
            self.files.uploads.remove(&(file, peer));
            self.files.unfinished.insert((file, member));
        }
        self.events.extend(probes);
    }

    pub(super) fn files_timeout(&self) -> Option<Instant> {
        self.files.poll_timeout(self.config.transfer_stall)
    }

    /// Asks the author's link (if any) for chunks from the next one expected.
    fn request_chunks(&mut self, now: Instant, file: EventId) {
        let Some(download) = self.files.downloads.get(&file) else {
            return;
        };
        let (author, from) = (download.author, download.next);
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
                .push_back(Event::Transfer(download.update(file)));
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
            .push_back(Event::Transfer(download.update(file)));
        if let Some(peer) = source {
            self.send_body(now, peer, &Body::FileStop { file, reason });
        }
    }

    fn fail_download(&mut self, now: Instant, file: EventId, error: TransferError) {
        let Some(download) = self.files.downloads.get_mut(&file) else {
            return;
        };
        let source = download.source.take();
        download.state = TransferState::Failed(error);
        download.digest = None;
        self.events
            .push_back(Event::Transfer(download.update(file)));
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

    fn handle_file_want(
        &mut self,
        now: Instant,
        peer: PeerId,
        member: MemberKey,
        file: EventId,
        from: u32,
    ) {
        let Some(meta) = self.files.held.get(&file) else {
            let reason = StopReason::Unavailable;
            self.send_body(now, peer, &Body::FileStop { file, reason });
            return;
        };
        let total = meta.chunks();
        let size = meta.size;
        if from > total {
            return self.reject(
                peer,
                super::RejectReason::Content("chunk index past the end".into()),
            );
        }
        self.files.unfinished.remove(&(file, member));
        if self
            .files
            .uploads
            .get(&(file, peer))
            .is_some_and(|upload| upload.probes_left.is_some())
        {
            // Our own probe: the receiver's request replaces it.
            self.files.uploads.remove(&(file, peer));
        }
        let upload = self.files.uploads.entry((file, peer)).or_insert(Upload {
            member,
            next: from,
            acked: from,
            last_heard: now,
            probes_left: None,
        });
        // A resume may restart below what was acknowledged only if the receiver lost it.
        upload.acked = upload.acked.min(from);
        upload.next = from;
        upload.last_heard = now;
        // `from` is the first chunk the receiver has not *received*: those before it may
        // not be stored yet, so they count as done only once acknowledged.
        let confirmed = self.files.confirmed.entry((file, member)).or_default();
        *confirmed = (*confirmed).min(from);
        self.events.push_back(Event::Transfer(TransferUpdate {
            file,
            member,
            direction: Direction::Upload,
            done: FileMeta::bytes_in_of(size, *confirmed),
            total: size,
            state: TransferState::Active,
        }));
        if from == total {
            self.complete_upload(file, peer);
            return;
        }
        self.open_window(file, peer);
    }

    /// Asks the caller for every chunk the window now allows.
    fn open_window(&mut self, file: EventId, peer: PeerId) {
        let Some(total) = self.files.held.get(&file).map(FileMeta::chunks) else {
            return;
        };
        let Some(upload) = self.files.uploads.get_mut(&(file, peer)) else {
            return;
        };
        let limit = upload.acked.saturating_add(WINDOW).min(total);
        for index in upload.next..limit {
            self.events
                .push_back(Event::ChunkWanted { peer, file, index });
        }
        upload.next = upload.next.max(limit);
    }

    fn handle_file_ack(&mut self, now: Instant, peer: PeerId, file: EventId, next: u32) {
        let Some(meta) = self.files.held.get(&file) else {
            return;
        };
        let (total, size) = (meta.chunks(), meta.size);
        if next == total {
            // The receiver has every chunk stored, checked against the hash we signed (it
            // can only be wrong about itself). Maybe repeated, on a link that carries no
            // upload: the one it completed on went before we heard, or our page reloaded.
            match self.files.uploads.get(&(file, peer)) {
                // Acknowledging what was never sent.
                Some(upload) if next > upload.next => {}
                Some(_) => self.complete_upload(file, peer),
                None => {
                    if let Some(member) = self.member_of(peer) {
                        self.confirm_complete(file, member);
                    }
                }
            }
            return;
        }
        let Some(upload) = self.files.uploads.get_mut(&(file, peer)) else {
            return;
        };
        upload.last_heard = now;
        if next > upload.next {
            // Acknowledging what was never sent.
            return;
        }
        // Below `acked` it moves no window, yet it may confirm chunks a resume skipped.
        let window_moved = next > upload.acked;
        upload.acked = upload.acked.max(next);
        let member = upload.member;
        let confirmed = self.files.confirmed.entry((file, member)).or_default();
        let progressed = next > *confirmed;
        *confirmed = (*confirmed).max(next);
        if progressed {
            self.events.push_back(Event::Transfer(TransferUpdate {
                file,
                member,
                direction: Direction::Upload,
                done: FileMeta::bytes_in_of(size, next),
                total: size,
                state: TransferState::Active,
            }));
        }
        if window_moved {
            self.open_window(file, peer);
        }
    }

    fn complete_upload(&mut self, file: EventId, peer: PeerId) {
        let Some(upload) = self.files.uploads.remove(&(file, peer)) else {
            return;
        };
        let (size, total) = self
            .files
            .held
            .get(&file)
            .map_or((0, 0), |meta| (meta.size, meta.chunks()));
        self.files.confirmed.insert((file, upload.member), total);
        self.files.unfinished.remove(&(file, upload.member));
        self.events.push_back(Event::Transfer(TransferUpdate {
            file,
            member: upload.member,
            direction: Direction::Upload,
            done: size,
            total: size,
            state: TransferState::Complete,
        }));
    }

    /// `member` has all of our `file`, as it said outside any upload: reported once.
    fn confirm_complete(&mut self, file: EventId, member: MemberKey) {
        let Some(meta) = self.files.held.get(&file) else {
            return;
        };
        let (size, total) = (meta.size, meta.chunks());
        self.files.unfinished.remove(&(file, member));
        let confirmed = self.files.confirmed.entry((file, member)).or_default();
        if *confirmed == total {
            return;
        }
        *confirmed = total;
        self.events.push_back(Event::Transfer(TransferUpdate {
            file,
            member,
            direction: Direction::Upload,
            done: size,
            total: size,
            state: TransferState::Complete,
        }));
    }

    fn handle_file_stop(
        &mut self,
        peer: PeerId,
        member: MemberKey,
        file: EventId,
        reason: StopReason,
    ) {
        // The receiver is not waiting for this file any more.
        self.files.unfinished.remove(&(file, member));
        if self.files.uploads.remove(&(file, peer)).is_some() {
            let size = self.files.held.get(&file).map_or(0, |meta| meta.size);
            let confirmed = self.files.confirmed.get(&(file, member)).copied();
            self.events.push_back(Event::Transfer(TransferUpdate {
                file,
                member,
                direction: Direction::Upload,
                done: FileMeta::bytes_in_of(size, confirmed.unwrap_or(0)),
                total: size,
                state: TransferState::Stopped(reason),
            }));
            return;
        }
        if reason == StopReason::Declined {
            // Declined before asking: nothing was in flight.
            let size = self.files.held.get(&file).map_or(0, |meta| meta.size);
            self.events.push_back(Event::Transfer(TransferUpdate {
                file,
                member,
                direction: Direction::Upload,
                done: 0,
                total: size,
                state: TransferState::Stopped(reason),
            }));
            return;
        }
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
            .push_back(Event::Transfer(download.update(file)));
    }

    fn handle_chunk(
        &mut self,
        now: Instant,
        peer: PeerId,
        file: EventId,
        index: u32,
        data: Vec<u8>,
    ) {
        let sender = self.member_of(peer);
        let Some(download) = self.files.downloads.get_mut(&file) else {
            return self.reject(
                peer,
                super::RejectReason::Unexpected("chunk of no download"),
            );
        };
        if download.state == TransferState::Complete && sender == Some(download.author) {
            // The author did not hear that we have it all: say it again.
            let next = download.meta.chunks();
            self.send_body(now, peer, &Body::FileAck { file, next });
            return;
        }
        if download.state != TransferState::Active || download.source != Some(peer) {
            return self.reject(
                peer,
                super::RejectReason::Unexpected("chunk from elsewhere"),
            );
        }
        if index < download.next {
            return self.reject(peer, super::RejectReason::Replay);
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
            .push_back(Event::ChunkReceived { file, index, data });
        if matched == Some(false) {
            self.fail_download(now, file, TransferError::HashMismatch);
        }
    }

    /// A verified link to `member`, if any (the lowest peer id, so choices replay).
    fn link_of(&self, member: MemberKey) -> Option<PeerId> {
        self.verified_peers()
            .find(|(_, info)| info.identity.member_key() == member)
            .map(|(peer, _)| peer)
    }
}

impl FileMeta {
    fn bytes_in_of(size: u64, count: u32) -> u64 {
        (u64::from(count) * crate::transfer::CHUNK_LEN as u64).min(size)
    }
}

#[cfg(test)]
mod tests;
