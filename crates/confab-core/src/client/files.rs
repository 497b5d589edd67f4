//! File transfers: the exchange described in [`crate::transfer`], one state machine per
//! (file, peer) upload and one per download.
//!
//! - **Upload** (we are the file's author and the caller still has its bytes): a
//!   `FileWant{from}` starts or resumes sending at `from`; we ask the caller for chunks
//!   ([`ClientEvent::ChunkWanted`]) while fewer than [`WINDOW`] are unacknowledged, and it hands
//!   them back with [`Client::send_chunk`]. Chunks below the last acknowledgement are
//!   refused: nothing confirmed goes out twice. When the receiver has said nothing for
//!   twice [`Config::transfer_stall`] while chunks are unacknowledged (its final
//!   acknowledgement may have been lost), we ask the caller for the last chunk again; a
//!   receiver that has it all answers with its acknowledgement. An upload that ended with
//!   its link before the receiver confirmed everything is taken up again when a verified
//!   link to the receiver appears: unless the receiver asks, we probe it that way a few
//!   times.
//! - **Download**: [`Client::download`] asks the author's link for chunks from what the
//!   caller has stored; chunks are taken strictly in order ([`ClientEvent::ChunkReceived`]),
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
//!
//! This module holds what both share and the frame dispatch; `upload.rs` the sending side
//! (posting, holding, serving wants and acknowledgements, probes), `download.rs` the
//! receiving side (accepting, chunks, the digest, pause and resume).
//!
//! [`Config::transfer_stall`]: super::Config::transfer_stall
//! [`WINDOW`]: crate::transfer::WINDOW

use std::collections::{BTreeMap, BTreeSet};

use super::{Client, ClientEvent, PeerState};
use crate::Instant;
use crate::ids::{EventId, MemberKey, PeerId};
use crate::session::OpenError;
use crate::transfer::{FileMeta, StopReason, TransferError};
use crate::wire::{Body, Frame};

use download::Download;
use upload::Upload;

mod download;
mod upload;

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
#[cfg_attr(any(test, fuzzing), derive(Clone))]
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
    /// Uploads a removal ended before the receiver confirmed everything (the receiver was
    /// removed, or we were): if the removal is undone (a rival's removal from across a
    /// partition wins, `Governance::may_contest`), they are taken up again.
    ended_by_removal: BTreeSet<(EventId, MemberKey)>,
    /// The frame being handled arrived on a file's own channel
    /// ([`Client::handle_file_frame`]), not on the shared path.
    on_file_channel: bool,
}

impl Files {
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

impl Client {
    /// Bytes that arrived on `file`'s own channel from `peer`. Like
    /// [`Client::handle_frame`], except that a frame failing authentication there fails
    /// that download ([`TransferError::Corrupt`]) instead of being dropped quietly.
    pub fn handle_file_frame(&mut self, now: Instant, peer: PeerId, file: EventId, bytes: &[u8]) {
        let now = self.monotonic(now);
        let opened = match (self.channel_mut(peer), Frame::decode(bytes)) {
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
                self.note_received(now, peer);
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
            // `handle_body` passes only the file bodies above.
            Body::Ping { .. }
            | Body::Pong { .. }
            | Body::Bye
            | Body::Events(_)
            | Body::Have { .. }
            | Body::Want { .. }
            | Body::Typing { .. }
            | Body::Read { .. }
            | Body::Presence(_)
            | Body::Run { .. }
            | Body::Call(_)
            | Body::Epoch { .. } => {}
        }
    }

    /// A verified link to `member` appeared: downloads of their files go on, and uploads
    /// to them that ended with a link are taken up again.
    pub(super) fn resume_downloads_from(&mut self, now: Instant, member: MemberKey) {
        self.resume_downloads_by(now, member);
        self.resume_uploads_to(now, member);
    }

    /// The source link of these downloads went away: they wait for the author. Uploads
    /// that ended with a link are reported too.
    pub(super) fn orphan_downloads(&mut self, now: Instant, files: Vec<EventId>) {
        for update in std::mem::take(&mut self.files.dropped) {
            self.events.push_back(ClientEvent::Transfer(update));
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
                .push_back(ClientEvent::Transfer(download.update(file)));
            // Another link to the same author may still be there.
            self.request_chunks(now, file);
        }
    }

    /// In a governed room, transfers with a member who is no longer in it (removed, or
    /// gone) end, and all of ours once we are not: the old epoch's links are closed
    /// (`leave_older_links`, `dismiss`) and none of a later epoch joins us, so waiting for
    /// the other side would wait for ever. Downloads fail ([`TransferError::Removed`] when
    /// we are out, [`TransferError::MemberGone`] when their author is) keeping what was
    /// stored; uploads, going or left unfinished with a link, are reported failed the same
    /// way. Both are taken up again only if the removal is undone
    /// ([`Client::take_up_uploads_of_returned`], [`Client::take_up_downloads_of_returned`]).
    /// Runs when governance changes; [`Client::download`] and a resume find it out through
    /// `request_chunks`.
    pub(super) fn end_transfers_of_removed(&mut self, now: Instant) {
        self.take_up_uploads_of_returned(now);
        self.take_up_downloads_of_returned(now);
        let out = self.out_of_room(self.public.member_key());
        let gone = |client: &Client, member: MemberKey| out || client.out_of_room(member);
        let uploads: Vec<(EventId, PeerId, MemberKey)> = self
            .files
            .uploads
            .iter()
            .filter(|(_, upload)| gone(self, upload.member))
            .map(|((file, peer), upload)| (*file, *peer, upload.member))
            .collect();
        let mut ended: BTreeSet<(EventId, MemberKey)> = BTreeSet::new();
        for (file, peer, member) in uploads {
            self.files.uploads.remove(&(file, peer));
            ended.insert((file, member));
        }
        let unfinished: Vec<(EventId, MemberKey)> = self
            .files
            .unfinished
            .iter()
            .filter(|(_, member)| gone(self, *member))
            .copied()
            .collect();
        for key in unfinished {
            self.files.unfinished.remove(&key);
            ended.insert(key);
        }
        let error = if out {
            TransferError::Removed
        } else {
            TransferError::MemberGone
        };
        for (file, member) in ended {
            let Some(meta) = self.files.held.get(&file) else {
                continue;
            };
            if self.confirmed(file, member) < meta.chunks() {
                self.files.ended_by_removal.insert((file, member));
            }
            self.report_upload(file, member, TransferState::Failed(error.clone()));
        }
        let downloads: Vec<(EventId, MemberKey)> = self
            .files
            .downloads
            .iter()
            .filter(|(_, d)| d.is_unfinished() && gone(self, d.author))
            .map(|(file, d)| (*file, d.author))
            .collect();
        for (file, _) in downloads {
            self.fail_download(now, file, error.clone());
        }
    }

    /// Uploads a removal ended ([`Client::end_transfers_of_removed`]) whose receiver, and
    /// we, are in the room again (the removal was undone): reported waiting, with what the
    /// receiver confirmed, and taken up as after a lost link ([`Client::resume_uploads_to`]:
    /// on a verified link to them, now or when one appears, we wait for their request and
    /// probe). Runs when governance changes, before anything is ended.
    fn take_up_uploads_of_returned(&mut self, now: Instant) {
        if self.out_of_room(self.public.member_key()) {
            return;
        }
        let back: Vec<(EventId, MemberKey)> = self
            .files
            .ended_by_removal
            .iter()
            .filter(|(_, member)| !self.out_of_room(*member))
            .copied()
            .collect();
        let mut members = BTreeSet::new();
        for (file, member) in back {
            self.files.ended_by_removal.remove(&(file, member));
            if !self.files.held.contains_key(&file) {
                continue;
            }
            self.files.unfinished.insert((file, member));
            members.insert(member);
            self.report_upload(file, member, TransferState::Waiting);
        }
        for member in members {
            self.resume_uploads_to(now, member);
        }
    }

    /// Downloads a removal ended ([`Client::end_transfers_of_removed`]) whose author, and
    /// we, are in the room again (the removal was undone): they go on from the next chunk
    /// not received, with the hash kept ([`Client::request_chunks`]: now, or when a link to
    /// the author appears), or are paused again if they were. Before, only a reload (or
    /// Resume) took one up, hashing what was stored again. Runs when governance changes,
    /// before anything is ended.
    fn take_up_downloads_of_returned(&mut self, now: Instant) {
        if self.out_of_room(self.public.member_key()) {
            return;
        }
        let back: Vec<EventId> = self
            .files
            .downloads
            .iter()
            .filter(|(_, d)| {
                matches!(
                    d.state,
                    TransferState::Failed(TransferError::Removed | TransferError::MemberGone)
                ) && d.digest.is_some()
                    && !self.out_of_room(d.author)
            })
            .map(|(file, _)| *file)
            .collect();
        for file in back {
            let Some(download) = self.files.downloads.get_mut(&file) else {
                continue;
            };
            let paused = std::mem::take(&mut download.paused_when_ended);
            download.state = if paused {
                TransferState::Paused
            } else {
                TransferState::Waiting
            };
            self.events
                .push_back(ClientEvent::Transfer(download.update(file)));
            if !paused {
                self.request_chunks(now, file);
            }
        }
    }

    /// How many chunks of `file` `member` confirmed receiving.
    fn confirmed(&self, file: EventId, member: MemberKey) -> u32 {
        self.files
            .confirmed
            .get(&(file, member))
            .copied()
            .unwrap_or(0)
    }

    /// Reports our upload of `file` to `member` in `state`, with what they confirmed.
    fn report_upload(&mut self, file: EventId, member: MemberKey, state: TransferState) {
        let Some(meta) = self.files.held.get(&file) else {
            return;
        };
        let update = TransferUpdate {
            file,
            member,
            direction: Direction::Upload,
            done: meta.bytes_in(self.confirmed(file, member)),
            total: meta.size,
            state,
        };
        self.events.push_back(ClientEvent::Transfer(update));
    }

    /// Whether `member` is out of this governed room (removed, or left): no transfer
    /// with them goes on. Never in an ungoverned room.
    pub(super) fn out_of_room(&self, member: MemberKey) -> bool {
        self.governance.removed(&member).is_some()
    }

    pub(super) fn handle_files_timeout(&mut self, now: Instant) {
        self.handle_downloads_timeout(now);
        self.handle_uploads_timeout(now);
    }

    pub(super) fn files_timeout(&self) -> Option<Instant> {
        self.files.poll_timeout(self.config.transfer_stall)
    }

    fn handle_file_stop(
        &mut self,
        peer: PeerId,
        member: MemberKey,
        file: EventId,
        reason: StopReason,
    ) {
        if !self.handle_upload_stop(peer, member, file, reason) {
            self.handle_download_stop(peer, file, reason);
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
