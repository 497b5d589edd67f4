//! File transfers across a governed room's move to a new epoch: a download half-way when
//! the link is reset resumes over the new room's link and completes; a removed member's
//! transfers end with a clear state, and no further chunk reaches them; an upload and a
//! download a removal ended are taken up again when the removal is undone.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::{App, digest_of, random_bytes};
use crate::client::govern::tests::mesh::{Mesh, peer};
use crate::client::{Channel, Client, ClientEvent};
use crate::governance::Govern;
use crate::history::UnixMillis;
use crate::ids::{EventId, MemberKey};
use crate::transfer::{CHUNK_LEN, FileDigest, FileMeta, TransferError};
use crate::{Direction, Duration, Output, TransferState};

/// The governance tests' [`Mesh`], with each client's app storing and serving chunks.
struct Moving {
    mesh: Mesh,
    apps: Vec<App>,
    /// Chunk frames delivered: (from, to).
    chunk_frames: Vec<(usize, usize)>,
}

impl Moving {
    fn found(n: usize) -> Moving {
        let mesh = Mesh::found(n);
        let apps = (0..n).map(|_| App::default()).collect();
        let mut moving = Moving {
            mesh,
            apps,
            chunk_frames: Vec::new(),
        };
        moving.pump();
        moving
    }

    fn offer(&mut self, idx: usize, len: usize) -> (EventId, Vec<u8>) {
        let bytes = random_bytes(len, idx as u8 + 7);
        let meta = FileMeta {
            name: "data.bin".into(),
            mime: "application/octet-stream".into(),
            size: len as u64,
            hash: digest_of(&bytes),
        };
        let now = self.mesh.now;
        let id = self.mesh.clients[idx]
            .post_file(now, UnixMillis(6), meta)
            .unwrap();
        self.apps[idx].files.insert(id, bytes.clone());
        self.pump();
        (id, bytes)
    }

    fn download(&mut self, idx: usize, file: EventId) {
        let now = self.mesh.now;
        self.mesh.clients[idx]
            .download(now, file, 0, FileDigest::new())
            .unwrap();
        self.pump();
    }

    /// `to` downloads a 200-chunk file `from` offers, storing nothing yet: it stops
    /// half-way, the sender waiting for acknowledgements. The file, its bytes.
    fn half_way(&mut self, from: usize, to: usize) -> (EventId, Vec<u8>) {
        let (file, bytes) = self.offer(from, CHUNK_LEN * 200);
        self.apps[to].hold_storage = true;
        self.download(to, file);
        let half_way = self.stored(to, file);
        assert!(half_way > 0 && half_way < 200, "{half_way} chunks");
        (file, bytes)
    }

    /// `idx`'s app stores what it held back, and lets the rest through.
    fn release_storage(&mut self, idx: usize, file: EventId) {
        self.apps[idx].hold_storage = false;
        let count = self.stored(idx, file) as u32;
        let now = self.mesh.now;
        self.mesh.clients[idx].chunks_stored(now, file, count);
        self.pump();
    }

    fn remove(&mut self, by: usize, idx: usize) {
        let now = self.mesh.now;
        let member = self.mesh.key(idx);
        self.mesh.clients[by]
            .govern(now, UnixMillis(7), Govern::Remove { member, seen: 0 })
            .unwrap();
        self.pump();
        self.rekey(by);
    }

    fn rekey(&mut self, by: usize) {
        let now = self.mesh.now;
        self.mesh.clients[by].rekey(now, UnixMillis(8)).unwrap();
        self.pump();
    }

    /// `i` and `j` can no longer reach each other (their link, if any, ends).
    fn cut(&mut self, i: usize, j: usize) {
        let now = self.mesh.now;
        let pair = (i.min(j), i.max(j));
        self.mesh.reach.remove(&pair);
        self.mesh.introduced.remove(&pair);
        if self.mesh.linked.remove(&pair) {
            self.mesh.clients[i].remove_peer(now, peer(j));
            self.mesh.clients[j].remove_peer(now, peer(i));
        }
        self.pump();
    }

    /// `i` and `j` are linked afresh (the server introduces them again).
    fn relink(&mut self, i: usize, j: usize) {
        self.cut(i, j);
        self.mesh.reach.insert((i.min(j), i.max(j)));
        self.pump();
    }

    fn stored(&self, idx: usize, file: EventId) -> usize {
        self.apps[idx].stored.get(&file).map_or(0, Vec::len)
    }

    fn received(&self, idx: usize, file: EventId) -> Vec<u8> {
        self.apps[idx]
            .stored
            .get(&file)
            .map(|chunks| chunks.concat())
            .unwrap_or_default()
    }

    /// The last state reported of `file` going `direction` with `member` at `idx`.
    fn state(
        &self,
        idx: usize,
        file: EventId,
        direction: Direction,
        member: MemberKey,
    ) -> Option<TransferState> {
        self.apps[idx]
            .updates
            .iter()
            .rev()
            .find(|u| u.file == file && u.direction == direction && u.member == member)
            .map(|u| u.state.clone())
    }

    /// Asserts the last state reported of `file` going `direction` with `member` at `idx`.
    #[track_caller]
    fn assert_state(
        &self,
        (idx, file, direction): (usize, EventId, Direction),
        member: MemberKey,
        expected: TransferState,
    ) {
        assert_eq!(self.state(idx, file, direction, member), Some(expected));
    }

    fn wait(&mut self, by: Duration) {
        let until = self.mesh.now + by;
        while self.mesh.now < until {
            self.mesh.now += Duration::from_secs(1);
            let now = self.mesh.now;
            for client in &mut self.mesh.clients {
                client.handle_timeout(now);
            }
            self.pump();
        }
    }

    /// The Mesh's pump, with chunks on their own channels and each app at work.
    fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            for idx in 0..self.mesh.clients.len() {
                loop {
                    let now = self.mesh.now;
                    match self.mesh.clients[idx].poll_output() {
                        Output::Transmit(t) => {
                            moved = true;
                            let to = t.peer.to_u64() as usize - 1;
                            if !self.mesh.linked.contains(&(idx.min(to), idx.max(to))) {
                                continue;
                            }
                            let target = &mut self.mesh.clients[to];
                            match t.channel {
                                Channel::File(file) => {
                                    self.chunk_frames.push((idx, to));
                                    target.handle_file_frame(now, peer(idx), file, &t.bytes)
                                }
                                Channel::Main => target.handle_frame(now, peer(idx), &t.bytes),
                            }
                        }
                        Output::Event(event) => {
                            moved = true;
                            self.mesh.events[idx].push(event.clone());
                            let client = &mut self.mesh.clients[idx];
                            app_event(client, &mut self.apps[idx], now, event);
                        }
                        Output::Timeout(_) => break,
                    }
                }
            }
            if !moved && !self.mesh.relink() {
                return;
            }
        }
        panic!("no quiescence");
    }
}

fn app_event(client: &mut Client, app: &mut App, now: crate::Instant, event: ClientEvent) {
    match event {
        ClientEvent::ChunkWanted { peer, file, index } => {
            let Some(bytes) = app.files.get(&file) else {
                return;
            };
            let start = index as usize * CHUNK_LEN;
            let end = (start + CHUNK_LEN).min(bytes.len());
            let chunk = bytes[start..end].to_vec();
            client.send_chunk(now, peer, file, index, &chunk);
        }
        ClientEvent::ChunkReceived { file, index, data } => {
            let chunks = app.stored.entry(file).or_default();
            assert_eq!(chunks.len(), index as usize, "chunks arrive in order");
            chunks.push(data);
            let count = chunks.len() as u32;
            if !app.hold_storage {
                client.chunks_stored(now, file, count);
            }
        }
        ClientEvent::Transfer(update) => app.updates.push(update),
        _ => {}
    }
}

/// Alice resets the link while Bob is half-way through her file: the old room's link
/// closes, the download waits, resumes from the next chunk over the link the new room
/// forms, and completes with the hash checked; Alice sees it received.
#[test]
fn a_download_half_way_resumes_over_the_new_epochs_link_and_completes() {
    let mut moving = Moving::found(3);
    let (alice, bob) = (0, 1);
    let (file, bytes) = moving.half_way(alice, bob);
    let old_room = moving.mesh.clients[bob].room_id();
    moving.rekey(alice);
    let new_room = moving.mesh.clients[alice].room_id();
    assert_ne!(new_room, old_room);
    assert_eq!(moving.mesh.clients[bob].room_id(), new_room);
    let (alice_key, bob_key) = (moving.mesh.key(alice), moving.mesh.key(bob));
    // It went waiting with the old link, and goes on over the new one.
    let states: Vec<TransferState> = moving.apps[bob]
        .updates
        .iter()
        .filter(|u| u.file == file)
        .map(|u| u.state.clone())
        .collect();
    assert!(states.contains(&TransferState::Waiting), "{states:?}");
    assert_eq!(
        moving.state(bob, file, Direction::Download, alice_key),
        Some(TransferState::Active)
    );
    moving.release_storage(bob, file);
    moving.wait(Duration::from_secs(30));
    assert_eq!(moving.received(bob, file), bytes);
    assert_eq!(
        moving.state(bob, file, Direction::Download, alice_key),
        Some(TransferState::Complete)
    );
    assert_eq!(
        moving.state(alice, file, Direction::Upload, bob_key),
        Some(TransferState::Complete)
    );
}

/// Alice removes Dave while he is half-way through her file: his download ends as
/// failed, saying he is no longer in the room, instead of waiting for a link that never
/// comes; Alice's upload to him ends too; no chunk reaches him afterwards, even when he
/// stores what he had and asks again. Bob, downloading a file of Dave's, is told its
/// sender is gone.
#[test]
fn a_removed_members_transfers_end_and_no_further_chunk_reaches_them() {
    let mut moving = Moving::found(3);
    let (alice, bob, dave) = (0, 1, 2);
    let (alice_key, dave_key) = (moving.mesh.key(alice), moving.mesh.key(dave));
    let (file, _) = moving.offer(alice, CHUNK_LEN * 200);
    let (daves_file, _) = moving.offer(dave, CHUNK_LEN * 200);
    moving.apps[dave].hold_storage = true;
    moving.apps[bob].hold_storage = true;
    moving.download(dave, file);
    moving.download(bob, daves_file);
    let half_way = moving.stored(dave, file);
    assert!(half_way > 0 && half_way < 200, "{half_way} chunks");
    moving.remove(alice, dave);
    let frames_to_dave = |moving: &Moving| {
        moving
            .chunk_frames
            .iter()
            .filter(|(from, to)| *from == alice && *to == dave)
            .count()
    };
    let sent = frames_to_dave(&moving);
    assert_eq!(
        moving.state(dave, file, Direction::Download, alice_key),
        Some(TransferState::Failed(TransferError::Removed))
    );
    assert_eq!(
        moving.state(alice, file, Direction::Upload, dave_key),
        Some(TransferState::Failed(TransferError::MemberGone))
    );
    assert_eq!(
        moving.state(bob, daves_file, Direction::Download, dave_key),
        Some(TransferState::Failed(TransferError::MemberGone))
    );
    // Dave stores what he had and tries again: nothing more comes.
    moving.release_storage(dave, file);
    let now = moving.mesh.now;
    assert!(!moving.mesh.clients[dave].resume_download(now, file));
    moving.mesh.clients[dave]
        .download(now, file, half_way as u32, FileDigest::new())
        .unwrap();
    moving.pump();
    moving.wait(Duration::from_secs(60));
    assert_eq!(frames_to_dave(&moving), sent);
    assert_eq!(moving.stored(dave, file), half_way);
    assert_eq!(
        moving.state(dave, file, Direction::Download, alice_key),
        Some(TransferState::Failed(TransferError::Removed))
    );
    assert_eq!(
        moving.state(alice, file, Direction::Upload, dave_key),
        Some(TransferState::Failed(TransferError::MemberGone))
    );
}

/// Olive, Ada, Bea and Max, in that order.
const OLIVE: usize = 0;
const ADA: usize = 1;
const BEA: usize = 2;
const MAX: usize = 3;

/// Olive, the owner, Ada, whom she made an admin, Bea and Max, all linked.
fn with_an_admin() -> Moving {
    let mut moving = Moving::found(4);
    let promote = Govern::Promote {
        member: moving.mesh.key(ADA),
        seen: 0,
    };
    moving.mesh.govern(OLIVE, promote).unwrap();
    moving.pump();
    moving
}

/// Olive goes away; Ada removes Max, and Bea hears it (Max too).
fn ada_removes_max(moving: &mut Moving) {
    for idx in [ADA, BEA, MAX] {
        moving.cut(OLIVE, idx);
    }
    let (now, member) = (moving.mesh.now, moving.mesh.key(MAX));
    moving.mesh.clients[ADA]
        .govern(now, UnixMillis(7), Govern::Remove { member, seen: 0 })
        .unwrap();
    moving.pump();
}

/// Olive, away, had removed Ada, unheard by her: Bea hears it from Olive, which undoes
/// Ada's removal of Max (Olive is senior); then Max hears it from Bea.
fn olive_undoes_it(moving: &mut Moving) {
    let (now, member) = (moving.mesh.now, moving.mesh.key(ADA));
    moving.mesh.clients[OLIVE]
        .govern(now, UnixMillis(7), Govern::Remove { member, seen: 0 })
        .unwrap();
    moving.relink(OLIVE, BEA);
    let governance = moving.mesh.clients[BEA].governance();
    assert!(governance.removed(&member).is_some());
    let max_key = moving.mesh.key(MAX);
    assert!(governance.removed(&max_key).is_none(), "undone");
}

/// Max, back, hears of it through Bea.
fn max_hears_it(moving: &mut Moving) {
    moving.relink(BEA, MAX);
    let max_key = moving.mesh.key(MAX);
    let governance = moving.mesh.clients[MAX].governance();
    assert!(governance.removed(&max_key).is_none());
}

/// Ada, an admin, removes Max while Olive, the owner, away, removes Ada. Bea, sending Max
/// her file, hears Ada's removal first: her upload to him ends ("no longer in the room").
/// Then Olive's, which undoes it (Olive is senior): the upload is taken up again, waiting
/// for Max (it stayed ended, and Bea's page said so for good: checked on the old code),
/// and completes once Max asks from what he stored, as his page does after a reload.
#[test]
fn an_upload_a_removal_ended_is_taken_up_again_when_the_removal_is_undone() {
    let mut moving = with_an_admin();
    let max_key = moving.mesh.key(MAX);
    let (file, bytes) = moving.half_way(BEA, MAX);
    ada_removes_max(&mut moving);
    moving.assert_state(
        (BEA, file, Direction::Upload),
        max_key,
        TransferState::Failed(TransferError::MemberGone),
    );
    olive_undoes_it(&mut moving);
    moving.assert_state(
        (BEA, file, Direction::Upload),
        max_key,
        TransferState::Waiting,
    );
    max_hears_it(&mut moving);
    moving.release_storage(MAX, file);
    // As after a reload: what was stored, hashed again.
    let mut digest = FileDigest::new();
    for chunk in &moving.apps[MAX].stored[&file] {
        digest.update(chunk);
    }
    let stored = moving.stored(MAX, file) as u32;
    let now = moving.mesh.now;
    moving.mesh.clients[MAX]
        .download(now, file, stored, digest)
        .unwrap();
    moving.pump();
    moving.wait(Duration::from_secs(30));
    assert_eq!(moving.received(MAX, file), bytes);
    moving.assert_state(
        (BEA, file, Direction::Upload),
        max_key,
        TransferState::Complete,
    );
}

/// The same removal undone, seen by the receivers: Max, half-way through Bea's file when
/// Ada removes him, and Bea, who had paused her download of Max's file. Both downloads
/// end ("no longer in this room", "its sender is no longer in it"); once Olive's removal
/// of Ada reaches them, Max's goes on from where it stopped, with nobody asking, and
/// completes with the hash checked; Bea's is paused again, and resumes when she says so.
/// Before, each stayed failed with its hash dropped until a reload took it up again
/// (checked on the old code: Max's last state `Failed(Removed)`).
#[test]
fn a_download_a_removal_ended_goes_on_when_the_removal_is_undone() {
    let mut moving = with_an_admin();
    let (bea_key, max_key) = (moving.mesh.key(BEA), moving.mesh.key(MAX));
    let (file, bytes) = moving.half_way(BEA, MAX);
    let (maxs_file, maxs_bytes) = moving.half_way(MAX, BEA);
    let now = moving.mesh.now;
    moving.mesh.clients[BEA].pause_download(now, maxs_file);
    moving.release_storage(BEA, maxs_file);
    let paused_at = moving.stored(BEA, maxs_file);
    assert!(paused_at > 0 && paused_at < 200, "{paused_at} chunks");
    ada_removes_max(&mut moving);
    moving.assert_state(
        (MAX, file, Direction::Download),
        bea_key,
        TransferState::Failed(TransferError::Removed),
    );
    moving.assert_state(
        (BEA, maxs_file, Direction::Download),
        max_key,
        TransferState::Failed(TransferError::MemberGone),
    );
    olive_undoes_it(&mut moving);
    moving.assert_state(
        (BEA, maxs_file, Direction::Download),
        max_key,
        TransferState::Paused,
    );
    max_hears_it(&mut moving);
    moving.assert_state(
        (MAX, file, Direction::Download),
        bea_key,
        TransferState::Active,
    );
    moving.release_storage(MAX, file);
    moving.wait(Duration::from_secs(30));
    assert_eq!(moving.received(MAX, file), bytes);
    moving.assert_state(
        (MAX, file, Direction::Download),
        bea_key,
        TransferState::Complete,
    );
    assert_eq!(moving.stored(BEA, maxs_file), paused_at, "still paused");
    let now = moving.mesh.now;
    assert!(moving.mesh.clients[BEA].resume_download(now, maxs_file));
    moving.pump();
    moving.wait(Duration::from_secs(30));
    assert_eq!(moving.received(BEA, maxs_file), maxs_bytes);
}
