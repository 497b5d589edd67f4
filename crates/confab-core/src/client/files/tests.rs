//! File transfer unit tests: two clients back to back, each with a small "app" that reads
//! chunks from the sender's bytes and stores what arrives, as the browser does. Loss,
//! reordering and reloads across many seeds are in `tests/sim/files.rs`.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::time::Duration;

use super::upload::PROBES_AFTER_RETURN;
use super::*;
use crate::client::tests::restore;
use crate::client::{Channel, SendError};
use crate::history::{Content, UnixMillis};
use crate::identity::Identity;
use crate::room::RoomSecret;
use crate::transfer::{CHUNK_LEN, FileDigest, WINDOW};
use crate::{Config, Output, Role};

mod moves;

const A: usize = 0;
const B: usize = 1;

fn peer_of(idx: usize) -> PeerId {
    PeerId::new(idx as u64 + 1)
}

/// What one side's app holds.
#[derive(Default)]
struct App {
    /// Our files' bytes (sender).
    files: HashMap<EventId, Vec<u8>>,
    /// Chunks stored per download (receiver).
    stored: HashMap<EventId, Vec<Vec<u8>>>,
    /// Persisted events, for a reload.
    persisted: Vec<Vec<u8>>,
    updates: Vec<TransferUpdate>,
    /// Chunks sent, per (file, index).
    sent: HashMap<(EventId, u32), u32>,
    /// Highest acknowledged chunk count seen per upload when each chunk was sent.
    confirmed: HashMap<EventId, u32>,
    /// `send_chunk` calls for chunks already confirmed (must stay 0).
    resent_confirmed: u32,
    /// Deliver chunk frames as if they failed authentication on their channel.
    corrupt_chunks: bool,
    /// Corrupt only the chunk frame after this many more.
    corrupt_one_chunk: Option<u32>,
    /// Corrupt the next frame on the main channel.
    corrupt_next_main: bool,
    /// Don't report stored chunks (a slow disk).
    hold_storage: bool,
}

impl App {
    /// Whether the frame we send next on `channel` is to fail authentication.
    fn corrupts(&mut self, channel: Channel) -> bool {
        match channel {
            Channel::Main => std::mem::take(&mut self.corrupt_next_main),
            Channel::File(_) => match self.corrupt_one_chunk {
                Some(0) => {
                    self.corrupt_one_chunk = None;
                    true
                }
                Some(n) => {
                    self.corrupt_one_chunk = Some(n - 1);
                    self.corrupt_chunks
                }
                None => self.corrupt_chunks,
            },
        }
    }
}

struct Duo {
    now: Instant,
    clients: [Client; 2],
    apps: [App; 2],
    room: RoomSecret,
    /// Every frame travels over the relay: one path, `handle_frame` for all.
    relay: bool,
}

fn client(room: &RoomSecret, n: u8) -> Client {
    let config = Config {
        display_name: format!("c{n}"),
        ..Config::default()
    };
    let mut client = Client::new(Identity::from_seed([n; 32]), room.clone(), config, [n; 32]);
    // These tests are not about the store (see `own::tests` for write-ahead).
    client.run_without_store();
    client
}

fn random_bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn digest_of(bytes: &[u8]) -> [u8; 32] {
    let mut digest = FileDigest::new();
    digest.update(bytes);
    digest.finish()
}

impl Duo {
    fn new() -> Duo {
        let room = RoomSecret::from_bytes([5; 32]);
        Duo {
            now: Instant::now(),
            clients: [client(&room, 1), client(&room, 2)],
            apps: [App::default(), App::default()],
            room,
            relay: false,
        }
    }

    fn connect(&mut self) {
        let now = self.now;
        self.clients[B].add_peer(now, peer_of(A), Role::Responder);
        self.clients[A].add_peer(now, peer_of(B), Role::Initiator);
        self.pump();
    }

    /// A sends a file of `len` random bytes; returns its id and bytes.
    fn offer(&mut self, len: usize) -> (EventId, Vec<u8>) {
        let bytes = random_bytes(len, 7);
        let meta = FileMeta {
            name: "data.bin".into(),
            mime: "application/octet-stream".into(),
            size: len as u64,
            hash: digest_of(&bytes),
        };
        let now = self.now;
        let id = self.clients[A].post_file(now, UnixMillis(1), meta).unwrap();
        self.apps[A].files.insert(id, bytes.clone());
        self.pump();
        (id, bytes)
    }

    fn received(&self, file: EventId) -> Vec<u8> {
        self.apps[B]
            .stored
            .get(&file)
            .map(|chunks| chunks.concat())
            .unwrap_or_default()
    }

    fn state(&self, idx: usize, file: EventId) -> Option<TransferState> {
        self.apps[idx]
            .updates
            .iter()
            .rev()
            .find(|u| u.file == file)
            .map(|u| u.state.clone())
    }

    /// Delivers everything (chunks too) until both are quiet.
    fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            for idx in [A, B] {
                loop {
                    let now = self.now;
                    match self.clients[idx].poll_output() {
                        Output::Transmit(t) => {
                            moved = true;
                            let to = t.peer.to_u64() as usize - 1;
                            let from = peer_of(idx);
                            let mut bytes = t.bytes;
                            if self.apps[idx].corrupts(t.channel) {
                                let last = bytes.len() - 1;
                                bytes[last] ^= 1;
                            }
                            match t.channel {
                                Channel::File(file) if !self.relay => {
                                    self.clients[to].handle_file_frame(now, from, file, &bytes)
                                }
                                _ => self.clients[to].handle_frame(now, from, &bytes),
                            }
                        }
                        Output::Event(event) => {
                            moved = true;
                            self.app_event(idx, event);
                        }
                        Output::Timeout(_) => break,
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    fn app_event(&mut self, idx: usize, event: ClientEvent) {
        let now = self.now;
        let app = &mut self.apps[idx];
        match event {
            ClientEvent::Persist { bytes, .. } => app.persisted.push(bytes),
            ClientEvent::ChunkWanted { peer, file, index } => {
                let Some(bytes) = app.files.get(&file) else {
                    return;
                };
                let start = index as usize * CHUNK_LEN;
                let end = (start + CHUNK_LEN).min(bytes.len());
                let chunk = bytes[start..end].to_vec();
                let confirmed = app.confirmed.get(&file).copied().unwrap_or(0);
                if self.clients[idx].send_chunk(now, peer, file, index, &chunk) {
                    if index < confirmed {
                        app.resent_confirmed += 1;
                    }
                    *app.sent.entry((file, index)).or_default() += 1;
                }
            }
            ClientEvent::ChunkReceived { file, index, data } => {
                let chunks = app.stored.entry(file).or_default();
                assert_eq!(chunks.len(), index as usize, "chunks arrive in order");
                chunks.push(data);
                let count = chunks.len() as u32;
                if !app.hold_storage {
                    self.clients[idx].chunks_stored(now, file, count);
                }
            }
            ClientEvent::Transfer(update) => {
                if update.direction == Direction::Upload {
                    let chunks = crate::transfer::chunk_count(update.done);
                    let confirmed = app.confirmed.entry(update.file).or_default();
                    *confirmed = (*confirmed).max(chunks);
                }
                app.updates.push(update);
            }
            _ => {}
        }
    }

    fn wait(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        for client in &mut self.clients {
            client.handle_timeout(now);
        }
        self.pump();
    }

    /// B's page reloads: a new client restored from what it persisted, reconnected.
    fn reload_b(&mut self) {
        let now = self.now;
        self.clients[A].remove_peer(now, peer_of(B));
        self.pump();
        let mut fresh = client(&self.room, 2);
        restore(&mut fresh, now, &self.apps[B].persisted);
        self.clients[B] = fresh;
        self.connect();
    }
}

#[test]
fn a_file_arrives_whole_and_verified_with_a_window_of_chunks_in_flight() {
    let mut duo = Duo::new();
    duo.connect();
    let len = CHUNK_LEN * 150 + 1234;
    let (file, bytes) = duo.offer(len);
    let view = duo.clients[B].timeline().message(&file).unwrap().clone();
    let meta = view.file.unwrap();
    assert_eq!((meta.size, meta.chunks()), (len as u64, 151));
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert!(
        duo.apps[A].sent.values().all(|&n| n == 1),
        "each chunk once"
    );
    assert_eq!(duo.apps[A].sent.len(), 151);
}

#[test]
fn the_sender_never_runs_more_than_a_window_ahead_of_what_is_stored() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 200);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(duo.apps[A].sent.len(), WINDOW as usize);
    // The disk catches up: everything flows again.
    duo.apps[B].hold_storage = false;
    let now = duo.now;
    let count = duo.apps[B].stored[&file].len() as u32;
    duo.clients[B].chunks_stored(now, file, count);
    duo.pump();
    assert_eq!(duo.received(file), bytes);
}

#[test]
fn pause_and_resume_continue_where_they_stopped() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 100);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.clients[B].pause_download(now, file);
    duo.pump();
    assert_eq!(duo.state(B, file), Some(TransferState::Paused));
    assert_eq!(
        duo.state(A, file),
        Some(TransferState::Stopped(StopReason::Paused))
    );
    duo.apps[B].hold_storage = false;
    let count = duo.apps[B].stored[&file].len() as u32;
    duo.clients[B].chunks_stored(now, file, count);
    assert!(duo.clients[B].resume_download(now, file));
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.apps[A].resent_confirmed, 0);
    assert!(duo.apps[A].sent.values().all(|&n| n == 1));
}

#[test]
fn a_receiver_that_reloads_resumes_from_what_it_stored() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 120 + 7);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    // 40 of the received chunks reached the disk (and were acknowledged, which opened
    // the window further); the page dies with the rest in memory.
    duo.clients[B].chunks_stored(now, file, 40);
    duo.pump();
    let received = duo.apps[B].stored[&file].len();
    assert_eq!(received, 40 + WINDOW as usize);
    duo.apps[B].stored.get_mut(&file).unwrap().truncate(40);
    duo.apps[B].hold_storage = false;
    duo.reload_b();
    let stored = &duo.apps[B].stored[&file];
    let mut digest = FileDigest::new();
    for chunk in stored {
        digest.update(chunk);
    }
    let now = duo.now;
    duo.clients[B].download(now, file, 40, digest).unwrap();
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(
        duo.apps[A].resent_confirmed, 0,
        "nothing confirmed is sent again"
    );
    // Only the received-but-unstored chunks went twice.
    let twice = duo.apps[A].sent.values().filter(|&&n| n == 2).count();
    assert_eq!(twice, received - 40);
    assert!(duo.apps[A].sent.values().all(|&n| n <= 2));
}

#[test]
fn the_sender_going_away_pauses_the_download_until_it_is_back() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 100);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.clients[A].remove_peer(now, peer_of(B));
    duo.clients[B].remove_peer(now, peer_of(A));
    duo.pump();
    assert_eq!(duo.state(B, file), Some(TransferState::Waiting));
    // The sender's side says so too, instead of freezing at its last progress.
    assert_eq!(duo.state(A, file), Some(TransferState::Waiting));
    duo.apps[B].hold_storage = false;
    let count = duo.apps[B].stored[&file].len() as u32;
    duo.clients[B].chunks_stored(now, file, count);
    duo.connect();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
}

#[test]
fn a_wrong_hash_fails_the_download_and_keeps_the_chunks() {
    let mut duo = Duo::new();
    duo.connect();
    let bytes = random_bytes(CHUNK_LEN * 3, 1);
    let meta = FileMeta {
        name: "x".into(),
        mime: String::new(),
        size: bytes.len() as u64,
        hash: [9; 32],
    };
    let now = duo.now;
    let file = duo.clients[A].post_file(now, UnixMillis(1), meta).unwrap();
    duo.apps[A].files.insert(file, bytes.clone());
    duo.pump();
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(
        duo.state(B, file),
        Some(TransferState::Failed(TransferError::HashMismatch))
    );
    assert_eq!(
        duo.state(A, file),
        Some(TransferState::Stopped(StopReason::Failed))
    );
    assert_eq!(duo.received(file), bytes, "verified chunks are kept");
}

#[test]
fn a_chunk_failing_authentication_fails_that_transfer_only() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, _) = duo.offer(CHUNK_LEN * 10);
    duo.apps[A].corrupt_chunks = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(
        duo.state(B, file),
        Some(TransferState::Failed(TransferError::Corrupt))
    );
    // The session lives on.
    duo.clients[A]
        .send_text(now, UnixMillis(2), "still here")
        .unwrap();
    duo.pump();
    assert_eq!(duo.clients[B].messages().last().unwrap().text, "still here");
}

#[test]
fn declining_tells_the_sender_and_a_released_file_is_unavailable() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, _) = duo.offer(CHUNK_LEN * 2);
    let now = duo.now;
    duo.clients[B].decline_file(now, file);
    duo.pump();
    assert_eq!(
        duo.state(A, file),
        Some(TransferState::Stopped(StopReason::Declined))
    );
    duo.clients[A].release_file(now, file);
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(
        duo.state(B, file),
        Some(TransferState::Failed(TransferError::Unavailable))
    );
}

#[test]
fn an_empty_file_completes_at_once_and_bad_progress_is_refused() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, _) = duo.offer(0);
    let (big, _) = duo.offer(CHUNK_LEN);
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    assert_eq!(duo.state(B, file), None);
    duo.pump();
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(
        duo.clients[B].download(now, big, 2, FileDigest::new()),
        Err(TransferError::BadProgress)
    );
    assert_eq!(
        duo.clients[B].download(now, EventId([3; 32]), 0, FileDigest::new()),
        Err(TransferError::UnknownFile)
    );
    assert_eq!(
        duo.clients[A].post(
            now,
            UnixMillis(1),
            Content::File(FileMeta {
                name: "n".into(),
                mime: String::new(),
                size: 1,
                hash: [0; 32]
            })
        ),
        Err(SendError::UseFilePost)
    );
}

#[test]
fn a_lost_request_is_repeated_after_a_stall() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 5);
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    // The request is lost on the way.
    while let Output::Transmit(_) | Output::Event(_) = duo.clients[B].poll_output() {}
    duo.pump();
    assert!(duo.received(file).is_empty());
    duo.wait(Duration::from_secs(6));
    assert_eq!(duo.received(file), bytes);
}

#[test]
fn chunks_beyond_the_request_or_already_confirmed_are_not_sent() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 3);
    let now = duo.now;
    // Nobody asked yet.
    assert!(!duo.clients[A].send_chunk(now, peer_of(B), file, 0, &bytes[..CHUNK_LEN]));
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    // Everything confirmed now.
    assert!(!duo.clients[A].send_chunk(now, peer_of(B), file, 0, &bytes[..CHUNK_LEN]));
}

/// How many updates `idx` saw for `file`.
fn n_updates(duo: &Duo, idx: usize, file: EventId) -> usize {
    duo.apps[idx]
        .updates
        .iter()
        .filter(|u| u.file == file)
        .count()
}

#[test]
fn a_completed_download_stays_complete_when_its_author_leaves_and_comes_back() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 3);
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    let (before_a, before_b) = (n_updates(&duo, A, file), n_updates(&duo, B, file));
    duo.clients[A].remove_peer(now, peer_of(B));
    duo.clients[B].remove_peer(now, peer_of(A));
    duo.pump();
    duo.connect();
    duo.wait(Duration::from_secs(6));
    duo.wait(Duration::from_secs(6));
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert_eq!(n_updates(&duo, B, file), before_b, "nothing changes for B");
    assert_eq!(n_updates(&duo, A, file), before_a, "nobody asks A again");
}

#[test]
fn a_download_whose_link_dropped_while_storing_completes_when_stored() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 3);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    // Every chunk arrived and matched the hash; the link goes before they are written.
    duo.clients[A].remove_peer(now, peer_of(B));
    duo.clients[B].remove_peer(now, peer_of(A));
    duo.pump();
    duo.clients[B].chunks_stored(now, file, 3);
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
}

#[test]
fn the_sender_hears_complete_only_once_everything_is_stored() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, _) = duo.offer(CHUNK_LEN * 3);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    // Every chunk arrived; the disk is slow. Nothing is missing, so nothing is asked
    // again, and the sender does not take the silence for completion.
    duo.wait(Duration::from_secs(6));
    duo.wait(Duration::from_secs(6));
    assert_eq!(duo.state(A, file), Some(TransferState::Active));
    assert_eq!(duo.state(B, file), Some(TransferState::Active));
    let now = duo.now;
    duo.clients[B].chunks_stored(now, file, 3);
    duo.pump();
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
}

#[test]
fn a_lost_final_acknowledgement_is_repeated_when_the_sender_asks_again() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 3);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.clients[B].chunks_stored(now, file, 3);
    // The final acknowledgement is lost.
    loop {
        match duo.clients[B].poll_output() {
            Output::Transmit(_) => {}
            Output::Event(event) => duo.app_event(B, event),
            Output::Timeout(_) => break,
        }
    }
    duo.pump();
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Active));
    duo.wait(Duration::from_secs(6));
    duo.wait(Duration::from_secs(6));
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.apps[A].resent_confirmed, 0);
    // Only the last chunk went twice (as the sender's question), and nothing more.
    assert_eq!(duo.apps[A].sent.values().filter(|&&n| n == 2).count(), 1);
    assert_eq!(duo.apps[A].sent[&(file, 2)], 2);
    duo.wait(Duration::from_secs(30));
    assert_eq!(duo.apps[A].sent[&(file, 2)], 2);
}

impl Duo {
    /// B's pending output is lost on the way (its events still reach its app).
    fn lose_output_of_b(&mut self) {
        loop {
            match self.clients[B].poll_output() {
                Output::Transmit(_) => {}
                Output::Event(event) => self.app_event(B, event),
                Output::Timeout(_) => break,
            }
        }
    }

    /// The link between A and B closes on both sides.
    fn drop_link(&mut self) {
        let now = self.now;
        self.clients[A].remove_peer(now, peer_of(B));
        self.clients[B].remove_peer(now, peer_of(A));
        self.pump();
    }
}

#[test]
fn a_final_acknowledgement_lost_with_the_link_is_repeated_when_the_link_is_back() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 3);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.clients[B].chunks_stored(now, file, 3);
    // The final acknowledgement is lost, and the link goes with it: A's upload ends.
    duo.lose_output_of_b();
    duo.drop_link();
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Waiting));
    let before_b = n_updates(&duo, B, file);
    duo.connect();
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    let last = duo.apps[A].updates.last().unwrap();
    assert_eq!(
        (last.done, last.total),
        (bytes.len() as u64, bytes.len() as u64)
    );
    assert_eq!(n_updates(&duo, B, file), before_b, "nothing changes for B");
    assert!(
        duo.apps[A].sent.values().all(|&n| n == 1),
        "nothing sent again"
    );
    // Every reconnection repeats it; A, which knows, reports nothing new.
    let before_a = n_updates(&duo, A, file);
    duo.drop_link();
    duo.connect();
    duo.wait(Duration::from_secs(12));
    assert_eq!(n_updates(&duo, A, file), before_a);
}

#[test]
fn a_download_completed_while_its_author_is_away_is_confirmed_when_it_is_back() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, _) = duo.offer(CHUNK_LEN * 3);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.drop_link();
    // Stored with no link to say so.
    duo.clients[B].chunks_stored(now, file, 3);
    duo.pump();
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Waiting));
    duo.connect();
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
}

#[test]
fn the_sender_probes_a_receiver_back_after_its_upload_ended_with_the_link() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, _) = duo.offer(CHUNK_LEN * 3);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.clients[B].chunks_stored(now, file, 3);
    duo.lose_output_of_b();
    duo.drop_link();
    // B's repetition on the new link is lost too (played by B not repeating it).
    let download = duo.clients[B].files.downloads.get_mut(&file).unwrap();
    download.state = TransferState::Active;
    duo.connect();
    duo.clients[B].files.downloads.get_mut(&file).unwrap().state = TransferState::Complete;
    assert_eq!(duo.state(A, file), Some(TransferState::Waiting));
    // Twice the stall period of silence: A asks with the last chunk, B answers.
    duo.wait(Duration::from_secs(6));
    duo.wait(Duration::from_secs(6));
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert_eq!(
        duo.apps[A].sent[&(file, 2)],
        2,
        "the last chunk went once more"
    );
    assert_eq!(duo.apps[A].resent_confirmed, 0);
}

#[test]
fn an_upload_resumed_on_our_own_probes_a_few_times_then_waits_to_be_asked() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 3);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.drop_link();
    // B dropped it meanwhile (its stop could not reach A): nobody answers A's probes.
    duo.clients[B].cancel_download(now, file);
    duo.apps[B].stored.clear();
    duo.connect();
    for _ in 0..12 {
        duo.wait(Duration::from_secs(6));
    }
    assert_eq!(
        duo.apps[A].sent[&(file, 2)],
        1 + u32::from(PROBES_AFTER_RETURN)
    );
    assert_eq!(duo.state(A, file), Some(TransferState::Waiting));
    // B asks again after all: served as usual, from where it asks.
    duo.apps[B].hold_storage = false;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    // The link going again leaves nothing to probe.
    duo.drop_link();
    duo.connect();
    let sent: u32 = duo.apps[A].sent.values().sum();
    duo.wait(Duration::from_secs(30));
    assert_eq!(duo.apps[A].sent.values().sum::<u32>(), sent);
}

#[test]
fn a_receiver_restarted_with_everything_stored_tells_the_sender() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 2 + 5);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.clients[B].chunks_stored(now, file, 3);
    duo.lose_output_of_b();
    // B's page reloads before the acknowledgement goes out, then finds the file whole.
    duo.reload_b();
    assert_eq!(duo.state(A, file), Some(TransferState::Waiting));
    let now = duo.now;
    let mut digest = FileDigest::new();
    digest.update(&duo.received(file));
    duo.clients[B].download(now, file, 3, digest).unwrap();
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
}

#[test]
fn an_unasked_final_acknowledgement_counts_only_in_full_and_for_a_held_file() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, _) = duo.offer(CHUNK_LEN * 2);
    let now = duo.now;
    // Unasked: a member claiming it has everything only speaks for itself.
    let ack = Body::FileAck { file, next: 2 };
    assert!(duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), &ack));
    duo.pump();
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    // Partial, or for a file A does not hold: nothing.
    let (other, _) = duo.offer(CHUNK_LEN * 2);
    for body in [
        Body::FileAck {
            file: other,
            next: 1,
        },
        Body::FileAck {
            file: EventId([4; 32]),
            next: 1,
        },
    ] {
        duo.clients[B].dangerously_send_body_for_testing_only(now, peer_of(A), &body);
    }
    duo.pump();
    assert_eq!(duo.state(A, other), None);
}

#[test]
fn a_resumed_upload_counts_as_done_only_what_was_acknowledged_stored() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 100);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    // A window of chunks arrived, none is written yet; pause and resume ask from the
    // first one not received.
    duo.clients[B].pause_download(now, file);
    duo.pump();
    assert!(duo.clients[B].resume_download(now, file));
    duo.pump();
    let done = duo.apps[A].updates.last().unwrap().done;
    assert_eq!(done, 0, "nothing was acknowledged stored");
    // The page dies before writing anything: chunk 0 is asked and sent again, which is
    // fine, as nobody had confirmed it.
    duo.apps[B].stored.clear();
    duo.apps[B].hold_storage = false;
    duo.reload_b();
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert_eq!(duo.apps[A].resent_confirmed, 0);
}

#[test]
fn a_sender_that_reloads_serves_its_file_again_from_a_kept_copy() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 90);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.clients[B].chunks_stored(now, file, 32);
    duo.pump();
    // A's page reloads: a new client restored from its events; the bytes come from the
    // copy it kept (the app's `files` map stands for it).
    duo.clients[B].remove_peer(now, peer_of(A));
    duo.pump();
    let mut fresh = client(&duo.room, 1);
    restore(&mut fresh, now, &duo.apps[A].persisted);
    assert!(!fresh.holds_file(&file));
    assert!(fresh.hold_file(file), "our own file message");
    assert!(!fresh.hold_file(EventId([7; 32])), "not a message");
    duo.clients[A] = fresh;
    duo.apps[B].hold_storage = false;
    let count = duo.apps[B].stored[&file].len() as u32;
    duo.connect();
    let now = duo.now;
    duo.clients[B].chunks_stored(now, file, count);
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    // Someone else's file cannot be held.
    assert!(!duo.clients[B].hold_file(file));
}

#[test]
fn pausing_or_cancelling_a_complete_download_changes_nothing() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 3);
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    let (before_a, before_b) = (n_updates(&duo, A, file), n_updates(&duo, B, file));
    duo.clients[B].pause_download(now, file);
    duo.clients[B].cancel_download(now, file);
    duo.clients[B].pause_download(now, file);
    duo.pump();
    assert_eq!(n_updates(&duo, B, file), before_b, "nothing reported");
    assert_eq!(n_updates(&duo, A, file), before_a, "nothing sent");
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    // Still known, and still complete: resuming says so again, and asks nothing.
    assert!(duo.clients[B].resume_download(now, file));
    duo.pump();
    assert_eq!(n_updates(&duo, B, file), before_b + 1);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert!(duo.apps[A].sent.values().all(|&n| n == 1));
    assert_eq!(duo.received(file), bytes);
}

#[test]
fn pausing_a_failed_declined_or_paused_download_changes_nothing() {
    let mut duo = Duo::new();
    duo.connect();
    let now = duo.now;
    // Failed: the hash does not match.
    let bytes = random_bytes(CHUNK_LEN * 2, 3);
    let meta = FileMeta {
        name: "x".into(),
        mime: String::new(),
        size: bytes.len() as u64,
        hash: [9; 32],
    };
    let failed = duo.clients[A].post_file(now, UnixMillis(1), meta).unwrap();
    duo.apps[A].files.insert(failed, bytes);
    // Declined.
    let (declined, _) = duo.offer(CHUNK_LEN * 2);
    // Paused.
    let (paused, _) = duo.offer(CHUNK_LEN * 100);
    duo.apps[B].hold_storage = true;
    duo.clients[B]
        .download(now, failed, 0, FileDigest::new())
        .unwrap();
    duo.clients[B].decline_file(now, declined);
    duo.clients[B]
        .download(now, paused, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    duo.clients[B].pause_download(now, paused);
    duo.pump();
    let mismatch = TransferState::Failed(TransferError::HashMismatch);
    assert_eq!(duo.state(B, failed), Some(mismatch.clone()));
    assert_eq!(duo.state(B, paused), Some(TransferState::Paused));
    let before: Vec<(usize, usize)> = [failed, declined, paused]
        .iter()
        .map(|&file| (n_updates(&duo, A, file), n_updates(&duo, B, file)))
        .collect();
    let sent = duo.apps[A].sent.len();
    for file in [failed, declined, paused] {
        duo.clients[B].pause_download(now, file);
    }
    duo.pump();
    let after: Vec<(usize, usize)> = [failed, declined, paused]
        .iter()
        .map(|&file| (n_updates(&duo, A, file), n_updates(&duo, B, file)))
        .collect();
    assert_eq!(after, before, "nothing reported or sent");
    assert_eq!(duo.apps[A].sent.len(), sent);
    assert_eq!(duo.state(B, failed), Some(mismatch));
    // Neither a failed hash nor a declined file resumes in place; the paused one does.
    assert!(!duo.clients[B].resume_download(now, failed));
    assert!(!duo.clients[B].resume_download(now, declined));
    assert!(duo.clients[B].resume_download(now, paused));
}

#[test]
fn a_download_whose_chunks_have_all_arrived_is_not_paused_and_completes() {
    let mut duo = Duo::new();
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 3);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    let before_a = n_updates(&duo, A, file);
    // Only storing is left: nothing to pause, nothing to resume.
    duo.clients[B].pause_download(now, file);
    duo.pump();
    assert_eq!(duo.state(B, file), Some(TransferState::Active));
    assert!(duo.clients[B].resume_download(now, file));
    duo.pump();
    assert_eq!(
        n_updates(&duo, A, file),
        before_a,
        "the sender hears nothing"
    );
    assert_eq!(duo.state(B, file), Some(TransferState::Active));
    duo.clients[B].chunks_stored(now, file, 3);
    duo.pump();
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert_eq!(duo.received(file), bytes);
    assert!(duo.apps[A].sent.values().all(|&n| n == 1));
}

#[test]
fn chunks_failing_authentication_over_the_relay_fail_that_transfer_once() {
    let mut duo = Duo::new();
    duo.relay = true;
    duo.connect();
    let (file, _) = duo.offer(CHUNK_LEN * 10);
    let (other, other_bytes) = duo.offer(CHUNK_LEN * 2);
    duo.apps[A].corrupt_chunks = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    // Nothing readable arrived; a quiet link would be asked again, this one is not.
    assert_eq!(duo.state(B, file), Some(TransferState::Active));
    duo.wait(Duration::from_secs(6));
    let corrupt = TransferState::Failed(TransferError::Corrupt);
    assert_eq!(duo.state(B, file), Some(corrupt.clone()));
    assert_eq!(
        duo.state(A, file),
        Some(TransferState::Stopped(StopReason::Failed))
    );
    let (updates, sent) = (n_updates(&duo, B, file), duo.apps[A].sent.len());
    for _ in 0..5 {
        duo.wait(Duration::from_secs(6));
    }
    assert_eq!(n_updates(&duo, B, file), updates, "failed once");
    assert_eq!(duo.apps[A].sent.len(), sent, "and nothing asked again");
    assert!(duo.apps[A].sent.values().all(|&n| n == 1));
    // The session lives on, and another file comes through once the relay behaves.
    duo.apps[A].corrupt_chunks = false;
    let now = duo.now;
    duo.clients[B]
        .download(now, other, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    assert_eq!(duo.received(other), other_bytes);
    assert_eq!(duo.state(B, file), Some(corrupt));
}

#[test]
fn a_relayed_chunk_failing_authentication_mid_file_keeps_what_came_before() {
    let mut duo = Duo::new();
    duo.relay = true;
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 10 + 3);
    duo.apps[A].corrupt_one_chunk = Some(4);
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    // Chunk 5 arrived where chunk 4 was expected, after a frame that did not
    // authenticate: that was chunk 4.
    assert_eq!(
        duo.state(B, file),
        Some(TransferState::Failed(TransferError::Corrupt))
    );
    assert_eq!(duo.received(file), bytes[..4 * CHUNK_LEN]);
    let last = duo.apps[B].updates.last().unwrap();
    assert_eq!(last.done, 4 * CHUNK_LEN as u64);
    // Resumed from what was stored, it completes.
    let now = duo.now;
    let mut digest = FileDigest::new();
    digest.update(&duo.received(file));
    duo.clients[B].download(now, file, 4, digest).unwrap();
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
    assert_eq!(duo.state(A, file), Some(TransferState::Complete));
    assert_eq!(duo.apps[A].resent_confirmed, 0);
}

#[test]
fn a_relayed_frame_failing_authentication_between_chunks_fails_nothing() {
    let mut duo = Duo::new();
    duo.relay = true;
    duo.connect();
    let (file, bytes) = duo.offer(CHUNK_LEN * 100);
    duo.apps[B].hold_storage = true;
    let now = duo.now;
    duo.clients[B]
        .download(now, file, 0, FileDigest::new())
        .unwrap();
    duo.pump();
    // A window of chunks is in; a message from A fails on the way.
    duo.apps[A].corrupt_next_main = true;
    duo.clients[A]
        .send_text(now, UnixMillis(2), "lost")
        .unwrap();
    duo.pump();
    // The disk is slow: silence is ours, not a lost chunk.
    duo.wait(Duration::from_secs(6));
    assert_eq!(duo.state(B, file), Some(TransferState::Active));
    duo.apps[B].hold_storage = false;
    let now = duo.now;
    let count = duo.apps[B].stored[&file].len() as u32;
    duo.clients[B].chunks_stored(now, file, count);
    duo.pump();
    assert_eq!(duo.received(file), bytes);
    assert_eq!(duo.state(B, file), Some(TransferState::Complete));
}
