//! The sending side of file transfers: posting and holding our files, serving each
//! receiver's wants from a window of chunks, their acknowledgements, and probing
//! receivers that went quiet (see the parent module).

use super::{Client, ClientEvent, Direction, TransferState, TransferUpdate};
use crate::Instant;
use crate::client::{Channel, RejectReason, SendError};
use crate::history::{Content, UnixMillis};
use crate::ids::{EventId, MemberKey, PeerId};
use crate::transfer::{FileMeta, MAX_FILE_SIZE, StopReason, WINDOW, safe_file_name, safe_mime};
use crate::wire::Body;

/// Probes of an upload we resumed on our own (see [`Upload::probes_left`]).
pub(super) const PROBES_AFTER_RETURN: u8 = 3;

/// Sending one of our files to one receiver over one link.
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(super) struct Upload {
    pub(super) member: MemberKey,
    /// Next chunk to ask the caller for.
    pub(super) next: u32,
    /// Chunks before this are not sent (again): acknowledged, or received according to
    /// the receiver's request. The window counts from here.
    pub(super) acked: u32,
    /// The receiver's last request or acknowledgement, or our last probe.
    pub(super) last_heard: Instant,
    /// `None` for an upload the receiver asked for. `Some` for one we resumed on our own
    /// when the receiver's link came back after an upload ended with its link: we probe
    /// this many more times (the receiver may have completed and its final
    /// acknowledgement been lost), then wait for it to ask.
    pub(super) probes_left: Option<u8>,
}

impl Client {
    /// Announces a file to the room: a signed file message, after which members may ask
    /// us for its bytes (see [`ClientEvent::ChunkWanted`]) for as long as this client lives or
    /// until [`Client::release_file`]. `hash` is the BLAKE3 hash of the whole file
    /// ([`FileDigest`](crate::transfer::FileDigest)); the name and type are made safe
    /// first.
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
        self.check_own_head(now)?;
        let meta = FileMeta {
            name: safe_file_name(&meta.name),
            mime: safe_mime(&meta.mime),
            ..meta
        };
        let id = self.publish(now, sent_at, Content::File(meta.clone()))?;
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
        self.files.ended_by_removal.retain(|(f, _)| *f != file);
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
            self.events.push_back(ClientEvent::Transfer(TransferUpdate {
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

    /// Sends chunk `index` of our `file` to `peer`, as asked by [`ClientEvent::ChunkWanted`].
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

    /// A verified link to `member` appeared: our uploads to them that ended with a link
    /// before they confirmed everything wait on it for their request, and after
    /// [`Config::transfer_stall`] twice without one, ask whether they completed
    /// meanwhile (the usual probe, a few times): their final acknowledgement may have
    /// been lost with the link, and they would not ask again.
    ///
    /// [`Config::transfer_stall`]: crate::Config::transfer_stall
    pub(super) fn resume_uploads_to(&mut self, now: Instant, member: MemberKey) {
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

    /// Uploads the receiver went quiet on: its last acknowledgement may be lost. Ask the
    /// caller for the last chunk asked again; a receiver that has everything answers it
    /// with its acknowledgement, one still receiving drops it.
    pub(super) fn handle_uploads_timeout(&mut self, now: Instant) {
        let stall = self.config.transfer_stall;
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
                probes.push(ClientEvent::ChunkWanted {
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

    pub(super) fn handle_file_want(
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
                RejectReason::Content("chunk index past the end".into()),
            );
        }
        self.files.unfinished.remove(&(file, member));
        self.files.ended_by_removal.remove(&(file, member));
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
        self.events.push_back(ClientEvent::Transfer(TransferUpdate {
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
                .push_back(ClientEvent::ChunkWanted { peer, file, index });
        }
        upload.next = upload.next.max(limit);
    }

    pub(super) fn handle_file_ack(&mut self, now: Instant, peer: PeerId, file: EventId, next: u32) {
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
            self.events.push_back(ClientEvent::Transfer(TransferUpdate {
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
        self.events.push_back(ClientEvent::Transfer(TransferUpdate {
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
        self.events.push_back(ClientEvent::Transfer(TransferUpdate {
            file,
            member,
            direction: Direction::Upload,
            done: size,
            total: size,
            state: TransferState::Complete,
        }));
    }

    /// A `FileStop` about one of our uploads: true if it was one (or a decline of ours).
    pub(super) fn handle_upload_stop(
        &mut self,
        peer: PeerId,
        member: MemberKey,
        file: EventId,
        reason: StopReason,
    ) -> bool {
        // The receiver is not waiting for this file any more.
        self.files.unfinished.remove(&(file, member));
        self.files.ended_by_removal.remove(&(file, member));
        if self.files.uploads.remove(&(file, peer)).is_some() {
            let size = self.files.held.get(&file).map_or(0, |meta| meta.size);
            let confirmed = self.files.confirmed.get(&(file, member)).copied();
            self.events.push_back(ClientEvent::Transfer(TransferUpdate {
                file,
                member,
                direction: Direction::Upload,
                done: FileMeta::bytes_in_of(size, confirmed.unwrap_or(0)),
                total: size,
                state: TransferState::Stopped(reason),
            }));
            return true;
        }
        if reason == StopReason::Declined {
            // Declined before asking: nothing was in flight.
            let size = self.files.held.get(&file).map_or(0, |meta| meta.size);
            self.events.push_back(ClientEvent::Transfer(TransferUpdate {
                file,
                member,
                direction: Direction::Upload,
                done: 0,
                total: size,
                state: TransferState::Stopped(reason),
            }));
            return true;
        }
        false
    }
}
