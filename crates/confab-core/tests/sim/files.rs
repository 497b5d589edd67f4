//! File transfers on a browser-like network. Each direct link carries one FIFO queue per
//! data channel (the main one, and one per file for its chunks), each with its own
//! bandwidth, so chunks and the messages steering them overtake each other; over the
//! relay everything shares one queue. Frames see variable latency, loss and duplication.
//! Every member runs a small "app" around its client, as the page does: it reads a chunk
//! when asked (a read takes a while; reads finish in order), writes received chunks to
//! "disk" (writes take a while, some a long while) and only then reports them stored, and
//! keeps what the client asks to persist so a reloaded page can restore it. Members chat
//! meanwhile, so messages on the main channel overtake queued chunks.
//!
//! Scenarios, each over many seeds (`CONFAB_SIM_SEEDS`, default 200; `CONFAB_SEED=n`
//! replays one; `CONFAB_SIM_VERBOSE` prints each seed's figures) with files of 0 to 300
//! chunks:
//! 1. one receiver: the bytes arrive whole, both sides end `Complete`;
//! 2. the receiver's page reloads (once or twice) mid-transfer and resumes from what it
//!    had written;
//! 3. the link to the sender drops (closed, or silent until the idle timeout) and comes
//!    back with a new handshake: the download resumes;
//! 4. a room of 3–4 downloads one file from its author at once, one member pausing and
//!    resuming: everyone gets it;
//! 5. chunks failing authentication on one link's file channel fail that download
//!    (`Corrupt`), keep what was stored, and leave the others alone; the same over the
//!    relay, where they arrive on the one path with everything else.
//!
//! Throughout: chunks arrive in order; a sender never hears more confirmed than the
//! receiver has written, and never sends again a chunk it heard confirmed; a complete
//! download stays complete; nobody is found misbehaving. Every sender ends showing every
//! receiver that completed as `Complete` too, even when the link went before the final
//! acknowledgement got through (2, 3): the receiver says it again when the link is back.
//!
//! A failing seed prints its number, its network and the last steps of a trace.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use confab_core::transfer::{CHUNK_LEN, FileDigest, FileMeta, TransferError, chunk_count};
use confab_core::{
    ClientEvent, Direction, EventId, FailReason, Instant, MemberKey, PeerId, TransferState,
    TransferUpdate, UnixMillis,
};

use crate::net::{Conditions, Net, seeds};

/// Steps one phase may take before the seed fails as stuck.
const MAX_STEPS: u64 = 400_000;
/// Virtual time one phase may take before the seed fails as stuck.
const MAX_PHASE: Duration = Duration::from_secs(600);
/// Trace lines kept for a failure report.
const TRACE_LINES: usize = 60;
/// A failed link is opened again after this long (the handshake timeout is 10 s).
const REOPEN_AFTER: Duration = Duration::from_secs(11);

#[test]
fn a_file_crosses_a_lossy_reordering_link_whole() {
    let totals = for_each_seed("one_to_one", one_to_one);
    if totals.seeds >= 50 {
        // The network did what it is meant to.
        assert!(totals.overtaken > 0, "no frame ever overtook another");
        assert!(totals.relayed > 0, "no seed used the relay");
    }
}

#[test]
fn a_receiver_reloading_mid_transfer_resumes_without_resending_confirmed_chunks() {
    for_each_seed("receiver_reloads", receiver_reloads);
}

#[test]
fn a_download_resumes_when_the_link_to_its_sender_comes_back() {
    for_each_seed("sender_link_drops", sender_link_drops);
}

#[test]
fn a_room_downloads_one_file_at_once_with_one_member_pausing() {
    for_each_seed("room_downloads", room_downloads);
}

#[test]
fn chunks_failing_authentication_fail_only_that_download() {
    for_each_seed("corrupt_link", |seed| corrupt_link(seed, Relay::Never));
}

#[test]
fn chunks_failing_authentication_over_the_relay_fail_only_that_download() {
    let totals = for_each_seed("corrupt_relay", |seed| corrupt_link(seed, Relay::Always));
    assert_eq!(totals.relayed, totals.seeds);
}

/// Scenario 1: one receiver.
fn one_to_one(seed: u64) -> Totals {
    let mut sim = Sim::new(seed, 2, Relay::Sometimes);
    sim.open_links();
    let (file, bytes) = sim.post(0, 0);
    sim.download_when_shown(&[1], file);
    sim.run_until("the download completes", |sim| {
        sim.transfer_done(0, 1, file, bytes.len())
    });
    sim.check_complete(0, 1, file, &bytes);
    sim.check_nothing_confirmed_resent(0);
    sim.totals()
}

/// Scenario 2: the receiver's page reloads mid-transfer, once or twice.
fn receiver_reloads(seed: u64) -> Totals {
    let mut sim = Sim::new(seed, 2, Relay::Sometimes);
    sim.open_links();
    let (file, bytes) = sim.post(0, 0);
    let chunks = chunk_count(bytes.len() as u64);
    sim.download_when_shown(&[1], file);
    let n_reloads = 1 + sim.random(2);
    for _ in 0..n_reloads {
        let at = sim.random(u64::from(chunks) + 1) as usize;
        sim.run_until("the reload point", |sim| {
            sim.apps[1].received(file) >= at || sim.transfer_done(0, 1, file, bytes.len())
        });
        let tell_peers = sim.random(2) == 0;
        let away = sim.random_duration(Duration::from_secs(3));
        sim.reload(1, tell_peers, away, &[file]);
    }
    sim.run_until("the download completes after the reload", |sim| {
        sim.transfer_done(0, 1, file, bytes.len())
    });
    sim.check_complete(0, 1, file, &bytes);
    sim.check_nothing_confirmed_resent(0);
    sim.totals()
}

/// Scenario 3: the link to the sender drops mid-transfer and comes back.
fn sender_link_drops(seed: u64) -> Totals {
    let mut sim = Sim::new(seed, 2, Relay::Sometimes);
    sim.open_links();
    let (file, bytes) = sim.post(0, 1);
    let chunks = chunk_count(bytes.len() as u64);
    sim.download_when_shown(&[1], file);
    let at = sim.random(u64::from(chunks)) as usize;
    sim.run_until("the drop point", |sim| sim.apps[1].received(file) >= at);
    if sim.random(2) == 0 {
        // The data channel closes: both sides are told; it reopens a little later.
        let down = sim.random_duration(Duration::from_secs(5));
        sim.cut(0, 1, down);
    } else {
        // Silence: frames are lost until both sides give up (idle timeout) or the
        // network heals first.
        let down = Duration::from_secs(1) + sim.random_duration(Duration::from_secs(40));
        sim.partition(0, 1, down);
    }
    sim.run_until("the download completes after the drop", |sim| {
        sim.transfer_done(0, 1, file, bytes.len())
    });
    sim.check_complete(0, 1, file, &bytes);
    sim.check_nothing_confirmed_resent(0);
    sim.totals()
}

/// Scenario 4: a room downloads one file from its author at once; one member pauses.
fn room_downloads(seed: u64) -> Totals {
    let mut sim = Sim::new(seed, 0, Relay::Sometimes);
    let members = sim.net.nodes.len();
    sim.open_links();
    let (file, bytes) = sim.post(0, 1);
    let chunks = chunk_count(bytes.len() as u64);
    let receivers: Vec<usize> = (1..members).collect();
    sim.download_when_shown(&receivers, file);
    let pauser = 1 + sim.random(members as u64 - 1) as usize;
    let at = sim.random(u64::from(chunks)) as usize;
    sim.run_until("the pause point", |sim| {
        sim.apps[pauser].received(file) >= at
    });
    sim.trace(format!("node {pauser} pauses"));
    sim.net
        .with(pauser, |client, now| client.pause_download(now, file));
    let paused = sim.random_duration(Duration::from_secs(5));
    sim.run_for(paused);
    sim.trace(format!("node {pauser} resumes"));
    let resumed = sim
        .net
        .with(pauser, |client, now| client.resume_download(now, file));
    assert!(resumed, "node {pauser}: the paused download did not resume");
    sim.run_until("every download completes", |sim| {
        receivers
            .iter()
            .all(|&node| sim.transfer_done(0, node, file, bytes.len()))
    });
    for &node in &receivers {
        sim.check_complete(0, node, file, &bytes);
    }
    sim.check_nothing_confirmed_resent(0);
    sim.totals()
}

/// Scenario 5: the file channel of one link (or, over the relay, what it would have
/// carried) corrupts every chunk after the first few.
fn corrupt_link(seed: u64, relay: Relay) -> Totals {
    let mut sim = Sim::new(seed, 0, relay);
    let members = sim.net.nodes.len();
    sim.open_links();
    let (file, bytes) = sim.post(0, 1);
    let chunks = chunk_count(bytes.len() as u64);
    let victim = 1 + sim.random(members as u64 - 1) as usize;
    let untouched = sim.random(u64::from(chunks));
    let (author_id, victim_id) = (sim.net.nodes[0].id, sim.net.nodes[victim].id);
    sim.net
        .corrupt_file_frames
        .insert((author_id, victim_id), untouched);
    sim.trace(format!(
        "chunk frames to node {victim} are corrupted after {untouched}"
    ));
    let receivers: Vec<usize> = (1..members).collect();
    sim.download_when_shown(&receivers, file);
    let author = sim.member(0);
    let failed = TransferState::Failed(TransferError::Corrupt);
    sim.run_until("the victim fails and the others complete", |sim| {
        receivers.iter().all(|&node| {
            if node == victim {
                sim.apps[node].state(file, author, Direction::Download) == Some(&failed)
                    && !sim.apps[node].writing(file)
            } else {
                sim.transfer_done(0, node, file, bytes.len())
            }
        })
    });
    for &node in &receivers {
        if node != victim {
            sim.check_complete(0, node, file, &bytes);
        }
    }
    // What arrived before the corruption stays stored, and it is the file's beginning.
    let app = &sim.apps[victim];
    let stored = app.stored.get(&file).map_or(0, Vec::len);
    assert_eq!(
        stored, app.n_received,
        "node {victim}: every chunk received before the failure is stored"
    );
    assert!(
        stored as u64 <= untouched,
        "node {victim}: stored {stored} chunks though only {untouched} arrived intact"
    );
    assert_eq!(
        app.bytes(file),
        bytes[..(stored * CHUNK_LEN).min(bytes.len())],
        "node {victim}: the stored chunks are not the file's beginning"
    );
    let last = app.last_update.get(&(file, Direction::Download)).unwrap();
    assert_eq!(last.done, (stored * CHUNK_LEN).min(bytes.len()) as u64);
    assert!(sim.net.corrupted > 0);
    sim.check_nothing_confirmed_resent(0);
    sim.totals()
}

thread_local! {
    /// The network and disks of the seed running on this thread.
    static SETUP: RefCell<String> = const { RefCell::new(String::new()) };
    /// Its last steps.
    static TRACE: RefCell<VecDeque<String>> = const { RefCell::new(VecDeque::new()) };
}

/// What the seeds of one scenario went through, summed.
#[derive(Debug, Default)]
struct Totals {
    seeds: u64,
    /// Seeds over the relay.
    relayed: u64,
    /// Chunks in the files.
    chunks: u64,
    /// `send_chunk` successes (more than `chunks` after losses, reloads and probes).
    chunks_sent: u64,
    /// Frames delivered, duplicates included.
    frames: u64,
    /// Transport frames that arrived after a later one of their session.
    overtaken: u64,
    /// Chunk frames corrupted on their way.
    corrupted: u64,
    /// Uploads heard complete only after they had ended with their link: the receiver
    /// said it again when the link came back.
    confirmed_late: u64,
    /// Virtual time, in seconds.
    seconds: u64,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.seeds += other.seeds;
        self.relayed += other.relayed;
        self.chunks += other.chunks;
        self.chunks_sent += other.chunks_sent;
        self.frames += other.frames;
        self.overtaken += other.overtaken;
        self.corrupted += other.corrupted;
        self.confirmed_late += other.confirmed_late;
        self.seconds += other.seconds;
    }
}

/// Runs `scenario` for every seed; a failure prints the seed and the trace's tail.
/// `CONFAB_SIM_VERBOSE` prints what each seed went through.
fn for_each_seed(
    name: &str,
    scenario: impl Fn(u64) -> Totals + std::panic::RefUnwindSafe,
) -> Totals {
    let count = std::env::var("CONFAB_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let verbose = std::env::var("CONFAB_SIM_VERBOSE").is_ok();
    let mut totals = Totals::default();
    for seed in seeds(count) {
        TRACE.with(|trace| trace.borrow_mut().clear());
        match std::panic::catch_unwind(|| scenario(seed)) {
            Ok(seed_totals) => {
                if verbose {
                    eprintln!("{name}: seed {seed}: {seed_totals:?}");
                }
                totals.add(&seed_totals);
            }
            Err(panic) => {
                eprintln!("{name}: seed {seed} failed; replay with CONFAB_SEED={seed}.");
                SETUP.with(|setup| eprintln!("{}", setup.borrow()));
                eprintln!("Last steps:");
                TRACE.with(|trace| {
                    for line in trace.borrow().iter() {
                        eprintln!("  {line}");
                    }
                });
                std::panic::resume_unwind(panic);
            }
        }
    }
    eprintln!("{name}: {totals:?}");
    totals
}

/// One member's page around its client.
#[derive(Default)]
struct App {
    /// Our files' bytes.
    files: HashMap<EventId, Rc<[u8]>>,
    /// Chunk reads under way, finishing in order: (done at, receiver, file, index).
    reads: VecDeque<(Instant, PeerId, EventId, u32)>,
    /// Chunks written, per download: they survive a reload.
    stored: HashMap<EventId, Vec<Vec<u8>>>,
    /// Chunks being written, finishing in order: (done at, file, bytes).
    writes: VecDeque<(Instant, EventId, Vec<u8>)>,
    /// The latest update per transfer (file, other member, direction).
    updates: HashMap<(EventId, MemberKey, Direction), TransferUpdate>,
    /// The latest update per (file, direction), whoever the other side.
    last_update: HashMap<(EventId, Direction), TransferUpdate>,
    /// The most chunks each receiver had confirmed, as we (the sender) saw it.
    confirmed: HashMap<(EventId, MemberKey), u32>,
    /// Uploads heard complete after they had ended with their link (`Waiting`).
    n_confirmed_late: u64,
    /// `send_chunk` successes for chunks already confirmed: must stay 0.
    resent_confirmed: u32,
    /// `send_chunk` successes.
    n_sent: u64,
    /// `ChunkReceived` events since the last reload, plus what was stored before it.
    n_received: usize,
}

impl App {
    fn state(
        &self,
        file: EventId,
        other: MemberKey,
        direction: Direction,
    ) -> Option<&TransferState> {
        self.updates
            .get(&(file, other, direction))
            .map(|update| &update.state)
    }

    /// Chunks of `file` received (written or being written).
    fn received(&self, file: EventId) -> usize {
        self.stored.get(&file).map_or(0, Vec::len)
            + self.writes.iter().filter(|(_, f, _)| *f == file).count()
    }

    fn writing(&self, file: EventId) -> bool {
        self.writes.iter().any(|(_, f, _)| *f == file)
    }

    fn bytes(&self, file: EventId) -> Vec<u8> {
        self.stored
            .get(&file)
            .map(|chunks| chunks.concat())
            .unwrap_or_default()
    }

    fn next_due(&self) -> Option<Instant> {
        let read = self.reads.front().map(|read| read.0);
        let write = self.writes.front().map(|write| write.0);
        read.into_iter().chain(write).min()
    }
}

/// How slow the apps' disks are.
struct Disk {
    /// Longest read of one chunk.
    read_max: Duration,
    /// Longest ordinary write of one chunk.
    write_max: Duration,
    /// Writes (per mille) that take 0.5–3 s instead (the window fills meanwhile).
    slow_per_mille: u64,
}

/// Whether a seed's links go over the relay.
#[derive(Clone, Copy)]
enum Relay {
    Never,
    /// For one seed in four.
    Sometimes,
    Always,
}

struct Sim {
    seed: u64,
    net: Net,
    apps: Vec<App>,
    disk: Disk,
    start: Instant,
    /// Links the apps keep open: (initiator, responder).
    links: Vec<(usize, usize)>,
    /// When each link was last opened.
    opened: HashMap<(usize, usize), Instant>,
    /// Links kept closed until then (cut or partitioned).
    down: HashMap<(usize, usize), Instant>,
    next_maintenance: Instant,
    /// Files posted so far (for distinct contents).
    n_files: u64,
    /// When someone next posts a message.
    next_chat: Instant,
    n_chats: u64,
}

impl Sim {
    /// `members` in one room (0: 3 or 4), on a network drawn from the seed, over the relay
    /// as `relay` says.
    fn new(seed: u64, members: usize, relay: Relay) -> Sim {
        let mut net = Net::new(seed, 0, Conditions::default());
        let members = if members == 0 {
            3 + net.random(2) as usize
        } else {
            members
        };
        let min_latency = Duration::from_millis(1 + net.random(20));
        let conditions = Conditions {
            min_latency,
            max_latency: min_latency + Duration::from_millis(net.random(120)),
            duplicate_per_mille: [0, 10, 50][net.random(3) as usize],
            reorder: false,
            loss_per_mille: [0, 2, 10, 30][net.random(4) as usize],
        };
        net.conditions = conditions;
        net.relay = match relay {
            Relay::Never => false,
            Relay::Sometimes => net.random(4) == 0,
            Relay::Always => true,
        };
        net.bytes_per_sec = match net.random(5) {
            0 => None,
            _ => Some((1 + net.random(50)) * 1_000_000),
        };
        let disk = Disk {
            read_max: Duration::from_millis([0, 2, 20][net.random(3) as usize]),
            write_max: Duration::from_millis([0, 5, 50][net.random(3) as usize]),
            slow_per_mille: [0, 0, 20][net.random(3) as usize],
        };
        let room = confab_core::RoomSecret::from_bytes([(seed % 251) as u8; 32]);
        for _ in 0..members {
            net.add_node(&room);
        }
        let start = net.now;
        let setup = format!(
            "{members} members, {:?}, relay {}, {:?} B/s per channel, reads ≤ {:?}, writes ≤ {:?}, slow writes {}‰",
            net.conditions,
            net.relay,
            net.bytes_per_sec,
            disk.read_max,
            disk.write_max,
            disk.slow_per_mille
        );
        SETUP.with(|cell| *cell.borrow_mut() = setup);
        Sim {
            seed,
            apps: (0..members).map(|_| App::default()).collect(),
            net,
            disk,
            start,
            links: Vec::new(),
            opened: HashMap::new(),
            down: HashMap::new(),
            next_maintenance: start,
            n_files: 0,
            next_chat: start,
            n_chats: 0,
        }
    }

    fn random(&mut self, bound: u64) -> u64 {
        self.net.random(bound)
    }

    fn random_duration(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.random(max.as_micros() as u64 + 1))
    }

    fn trace(&self, line: String) {
        let ms = (self.net.now - self.start).as_millis();
        trace_line(format!("{ms:>7} ms  {line}"));
    }

    fn member(&self, node: usize) -> MemberKey {
        self.net.nodes[node].client.identity().member_key()
    }

    fn node_of(&self, peer: PeerId) -> usize {
        self.net
            .nodes
            .iter()
            .position(|node| node.id == peer)
            .unwrap()
    }

    /// Full mesh, each newcomer opening links to those before it (as in the app); waits
    /// until every link is verified.
    fn open_links(&mut self) {
        let n = self.net.nodes.len();
        for newcomer in 1..n {
            for existing in 0..newcomer {
                self.links.push((newcomer, existing));
                self.open(newcomer, existing);
            }
        }
        self.run_until("every link verified", |sim| {
            sim.links.iter().all(|&(a, b)| sim.linked(a, b))
        });
    }

    fn open(&mut self, a: usize, b: usize) {
        self.trace(format!("link {a}-{b} opens"));
        self.net.disconnect(a, b);
        self.net.connect(a, b);
        self.opened.insert((a, b), self.net.now);
    }

    /// Both ends of the link verified each other.
    fn linked(&self, a: usize, b: usize) -> bool {
        let verified = |me: usize, other: usize| {
            let id = self.net.nodes[other].id;
            self.net.nodes[me]
                .client
                .verified_peers()
                .any(|(peer, _)| peer == id)
        };
        verified(a, b) && verified(b, a)
    }

    /// Reopens links that failed (a lost handshake, an idle timeout), as the app's
    /// signalling does, and heals partitions that are over.
    fn maintain_links(&mut self) {
        let now = self.net.now;
        if now < self.next_maintenance {
            return;
        }
        self.next_maintenance = now + Duration::from_secs(1);
        let healed: Vec<(usize, usize)> = self
            .down
            .iter()
            .filter(|(_, until)| now >= **until)
            .map(|(link, _)| *link)
            .collect();
        for (a, b) in healed {
            self.down.remove(&(a, b));
            let (id_a, id_b) = (self.net.nodes[a].id, self.net.nodes[b].id);
            self.net.blocked.remove(&(id_a, id_b));
            self.net.blocked.remove(&(id_b, id_a));
            self.trace(format!("link {a}-{b} may come back"));
        }
        for (a, b) in self.links.clone() {
            let usable = self.net.nodes[a].online
                && self.net.nodes[b].online
                && !self.down.contains_key(&(a, b));
            let recent = self
                .opened
                .get(&(a, b))
                .is_some_and(|at| now < *at + REOPEN_AFTER);
            if usable && !recent && !self.linked(a, b) {
                self.open(a, b);
            }
        }
    }

    /// The link closes (both sides told, frames in flight lost) and stays closed `down`.
    fn cut(&mut self, a: usize, b: usize, down: Duration) {
        let link = self.link(a, b);
        self.trace(format!("link {a}-{b} closes for {down:?}"));
        self.net.disconnect(a, b);
        self.down.insert(link, self.net.now + down);
        self.opened.remove(&link);
    }

    /// Every frame between `a` and `b` is lost for `down`; nobody is told.
    fn partition(&mut self, a: usize, b: usize, down: Duration) {
        let link = self.link(a, b);
        self.trace(format!("link {a}-{b} goes silent for {down:?}"));
        let (id_a, id_b) = (self.net.nodes[a].id, self.net.nodes[b].id);
        self.net.blocked.insert((id_a, id_b));
        self.net.blocked.insert((id_b, id_a));
        self.down.insert(link, self.net.now + down);
    }

    fn link(&self, a: usize, b: usize) -> (usize, usize) {
        *self
            .links
            .iter()
            .find(|&&link| link == (a, b) || link == (b, a))
            .unwrap()
    }

    /// `author` posts a file of random size (at least `min_chunks` chunks) and keeps its
    /// bytes to serve.
    fn post(&mut self, author: usize, min_chunks: u64) -> (EventId, Rc<[u8]>) {
        // Mostly small (the machine is per chunk), some past the window of 64.
        let chunks = match self.random(20) {
            0 => 0,
            1..=12 => 1 + self.random(8),
            13..=17 => 9 + self.random(60),
            _ => 69 + self.random(232),
        }
        .max(min_chunks);
        let len = match chunks {
            0 => 0,
            n => (n as usize - 1) * CHUNK_LEN + 1 + self.random(CHUNK_LEN as u64) as usize,
        };
        self.n_files += 1;
        let bytes: Rc<[u8]> = file_bytes(len, self.seed ^ (self.n_files << 48)).into();
        let mut digest = FileDigest::new();
        digest.update(&bytes);
        let meta = FileMeta {
            name: format!("file{}.bin", self.n_files),
            mime: "application/octet-stream".into(),
            size: len as u64,
            hash: digest.finish(),
        };
        let file = self.net.with(author, |client, now| {
            client.post_file(now, UnixMillis(1), meta).unwrap()
        });
        self.apps[author].files.insert(file, bytes.clone());
        self.trace(format!(
            "node {author} posts {file:?}: {len} bytes, {chunks} chunks"
        ));
        (file, bytes)
    }

    /// Waits until every one of `nodes` shows the file message, then starts each download.
    fn download_when_shown(&mut self, nodes: &[usize], file: EventId) {
        self.run_until("the file message reaches everyone", |sim| {
            nodes.iter().all(|&node| {
                sim.net.nodes[node]
                    .client
                    .timeline()
                    .message(&file)
                    .is_some()
            })
        });
        for &node in nodes {
            self.start_download(node, file);
        }
    }

    /// Starts or resumes a download from what the app has written.
    fn start_download(&mut self, node: usize, file: EventId) {
        let stored = self.apps[node]
            .stored
            .get(&file)
            .map_or(&[][..], Vec::as_slice);
        let mut digest = FileDigest::new();
        for chunk in stored {
            digest.update(chunk);
        }
        let n_stored = stored.len() as u32;
        self.trace(format!("node {node} downloads from chunk {n_stored}"));
        self.net
            .with(node, |client, now| {
                client.download(now, file, n_stored, digest)
            })
            .unwrap();
    }

    /// The page reloads: chunks still being written are lost, the client is rebuilt from
    /// what was persisted, and after `away` it reconnects and resumes `files`.
    fn reload(&mut self, node: usize, tell_peers: bool, away: Duration, files: &[EventId]) {
        self.trace(format!(
            "node {node} reloads (peers told: {tell_peers}, away {away:?})"
        ));
        self.net.go_offline(node, tell_peers);
        let app = &mut self.apps[node];
        app.reads.clear();
        app.writes.clear();
        app.n_received = app.stored.values().map(Vec::len).sum();
        self.react();
        self.run_for(away);
        self.net.come_back(node);
        for &file in files {
            self.start_download(node, file);
        }
        for (a, b) in self.links.clone() {
            if a == node || b == node {
                self.open(a, b);
            }
        }
        self.react();
    }

    /// The download is complete on `receiver`, written to the end, and complete on the
    /// sender's side too, unless the file is empty (then nothing is asked).
    fn transfer_done(&self, sender: usize, receiver: usize, file: EventId, len: usize) -> bool {
        let (sender_key, receiver_key) = (self.member(sender), self.member(receiver));
        let received = self.apps[receiver].state(file, sender_key, Direction::Download)
            == Some(&TransferState::Complete)
            && !self.apps[receiver].writing(file);
        let sent = len == 0
            || self.apps[sender].state(file, receiver_key, Direction::Upload)
                == Some(&TransferState::Complete);
        received && sent
    }

    fn check_complete(&self, sender: usize, receiver: usize, file: EventId, bytes: &[u8]) {
        assert!(
            self.apps[receiver].bytes(file) == bytes,
            "node {receiver}: the stored bytes differ from the file"
        );
        let update = &self.apps[receiver].last_update[&(file, Direction::Download)];
        assert_eq!(update.state, TransferState::Complete);
        assert_eq!(
            (update.done, update.total),
            (bytes.len() as u64, bytes.len() as u64)
        );
        let receiver_key = self.member(receiver);
        let upload = self.apps[sender]
            .updates
            .get(&(file, receiver_key, Direction::Upload));
        match upload {
            Some(update) if update.state == TransferState::Complete => {
                assert_eq!(update.done, bytes.len() as u64);
            }
            _ => assert!(
                bytes.is_empty(),
                "node {sender}: the upload to node {receiver} did not complete"
            ),
        }
    }

    fn totals(&self) -> Totals {
        let chunks = self.apps.iter().flat_map(|app| app.files.values());
        Totals {
            seeds: 1,
            relayed: u64::from(self.net.relay),
            chunks: chunks
                .map(|bytes| u64::from(chunk_count(bytes.len() as u64)))
                .sum(),
            chunks_sent: self.apps.iter().map(|app| app.n_sent).sum(),
            frames: self.net.delivered,
            overtaken: self.net.overtaken,
            corrupted: self.net.corrupted,
            confirmed_late: self.apps.iter().map(|app| app.n_confirmed_late).sum(),
            seconds: (self.net.now - self.start).as_secs(),
        }
    }

    fn check_nothing_confirmed_resent(&self, sender: usize) {
        assert_eq!(
            self.apps[sender].resent_confirmed, 0,
            "node {sender} sent chunks the receiver had confirmed"
        );
    }

    /// Steps until `done` holds; fails the seed if that takes too long.
    fn run_until(&mut self, what: &str, mut done: impl FnMut(&Sim) -> bool) {
        let deadline = self.net.now + MAX_PHASE;
        let mut steps = 0;
        loop {
            if done(self) {
                return;
            }
            assert!(
                steps < MAX_STEPS && self.net.now < deadline,
                "seed {}: {what}: not reached after {steps} steps and {:?}",
                self.seed,
                self.net.now - self.start,
            );
            self.maintain_links();
            if !self.step() {
                // Nothing in flight and no timer: only the links' upkeep can act.
                self.net.now = self.net.now.max(self.next_maintenance);
            }
            steps += 1;
        }
    }

    /// Lets `duration` of virtual time pass.
    fn run_for(&mut self, duration: Duration) {
        let until = self.net.now + duration;
        let mut steps = 0;
        while self.next_due().is_some_and(|due| due <= until) {
            assert!(steps < MAX_STEPS, "seed {}: too busy", self.seed);
            self.maintain_links();
            self.step();
            steps += 1;
        }
        self.net.now = self.net.now.max(until);
    }

    fn next_due(&self) -> Option<Instant> {
        let apps = self.apps_due().map(|(due, _)| due);
        let net = self.net.next_due();
        // Chat only while something else goes on (it would never let time run out).
        let chat = net.map(|_| self.next_chat);
        apps.into_iter().chain(net).chain(chat).min()
    }

    /// The earliest app timer of an online member.
    fn apps_due(&self) -> Option<(Instant, usize)> {
        (0..self.apps.len())
            .filter(|&node| self.net.nodes[node].online)
            .filter_map(|node| self.apps[node].next_due().map(|due| (due, node)))
            .min()
    }

    /// Runs the earliest of {app timer, frame due, client deadline}, then lets the apps
    /// react to what the clients reported.
    fn step(&mut self) -> bool {
        let net_due = self.net.next_due();
        let stepped = match self.apps_due() {
            Some((due, _)) if net_due.is_some_and(|net_due| self.next_chat <= due.min(net_due)) => {
                self.chat();
                true
            }
            Some((due, node)) if net_due.is_none_or(|net_due| due <= net_due) => {
                self.net.now = self.net.now.max(due);
                self.run_app(node);
                true
            }
            None if net_due.is_some_and(|net_due| self.next_chat <= net_due) => {
                self.chat();
                true
            }
            _ => self.net.step(),
        };
        self.react();
        stepped
    }

    /// Someone says something: the main channel carries messages (and the catch-up
    /// they cause) while chunks queue on theirs, so frames of both overtake each other.
    fn chat(&mut self) {
        self.net.now = self.net.now.max(self.next_chat);
        self.next_chat = self.net.now + self.random_duration(Duration::from_millis(1500));
        let online: Vec<usize> = (0..self.net.nodes.len())
            .filter(|&node| self.net.nodes[node].online)
            .collect();
        if online.is_empty() {
            return;
        }
        let author = online[self.random(online.len() as u64) as usize];
        self.n_chats += 1;
        let text = format!("message {}", self.n_chats);
        self.net.with(author, |client, now| {
            client.send_text(now, UnixMillis(2), &text).unwrap()
        });
    }

    /// Finishes the member's reads and writes that are due.
    fn run_app(&mut self, node: usize) {
        let now = self.net.now;
        while let Some(&(due, peer, file, index)) = self.apps[node].reads.front()
            && due <= now
        {
            self.apps[node].reads.pop_front();
            self.serve(node, peer, file, index);
        }
        let mut written = BTreeSet::new();
        while let Some((due, _, _)) = self.apps[node].writes.front()
            && *due <= now
        {
            let Some((_, file, bytes)) = self.apps[node].writes.pop_front() else {
                break;
            };
            self.apps[node].stored.entry(file).or_default().push(bytes);
            written.insert(file);
        }
        for file in written {
            let n_stored = self.apps[node].stored[&file].len() as u32;
            self.net.with(node, |client, now| {
                client.chunks_stored(now, file, n_stored)
            });
        }
    }

    /// A read finished: hand the chunk to the client.
    fn serve(&mut self, node: usize, peer: PeerId, file: EventId, index: u32) {
        let Some(bytes) = self.apps[node].files.get(&file).cloned() else {
            return;
        };
        let start = (index as usize * CHUNK_LEN).min(bytes.len());
        let end = (start + CHUNK_LEN).min(bytes.len());
        let receiver = self.member(self.node_of(peer));
        let confirmed = self.apps[node]
            .confirmed
            .get(&(file, receiver))
            .copied()
            .unwrap_or(0);
        let sent = self.net.with(node, |client, now| {
            client.send_chunk(now, peer, file, index, &bytes[start..end])
        });
        if sent {
            let app = &mut self.apps[node];
            app.n_sent += 1;
            if index < confirmed {
                app.resent_confirmed += 1;
                let receiver = self.node_of(peer);
                self.trace(format!(
                    "node {node} sent chunk {index} to node {receiver}, who had confirmed {confirmed}"
                ));
            }
        }
    }

    /// Hands every event the clients reported to their apps, until none is left.
    fn react(&mut self) {
        loop {
            let mut any = false;
            for node in 0..self.net.nodes.len() {
                let events = std::mem::take(&mut self.net.nodes[node].events);
                for event in events {
                    any = true;
                    self.handle_event(node, event);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn handle_event(&mut self, node: usize, event: ClientEvent) {
        let now = self.net.now;
        match event {
            ClientEvent::ChunkWanted { peer, file, index } => {
                let took = self.random_duration(self.disk.read_max);
                let app = &mut self.apps[node];
                let start = app.reads.back().map_or(now, |read| read.0.max(now));
                app.reads.push_back((start + took, peer, file, index));
            }
            ClientEvent::ChunkReceived { file, index, data } => {
                let received = self.apps[node].received(file);
                assert_eq!(
                    index as usize, received,
                    "node {node}: chunk {index} arrived after {received} (out of order)"
                );
                let took = if self.random(1000) < self.disk.slow_per_mille {
                    Duration::from_millis(500) + self.random_duration(Duration::from_millis(2500))
                } else {
                    self.random_duration(self.disk.write_max)
                };
                let app = &mut self.apps[node];
                app.n_received += 1;
                let start = app.writes.back().map_or(now, |write| write.0.max(now));
                app.writes.push_back((start + took, file, data));
            }
            ClientEvent::Transfer(update) => {
                let other = self.node_of_member(update.member);
                let key = (update.file, update.member, update.direction);
                match update.direction {
                    Direction::Upload => {
                        // The receiver acknowledges only what it has written.
                        let written = self.apps[other]
                            .stored
                            .get(&update.file)
                            .map_or(0, Vec::len);
                        assert!(
                            chunk_count(update.done) as usize <= written,
                            "node {node} heard {} bytes confirmed by node {other}, who wrote only {written} chunks",
                            update.done
                        );
                    }
                    Direction::Download => {
                        let was =
                            self.apps[node].state(update.file, update.member, update.direction);
                        assert!(
                            was != Some(&TransferState::Complete)
                                || update.state == TransferState::Complete,
                            "node {node}: a complete download became {:?}",
                            update.state
                        );
                    }
                }
                let app = &mut self.apps[node];
                if update.direction == Direction::Upload {
                    let confirmed = app
                        .confirmed
                        .entry((update.file, update.member))
                        .or_default();
                    *confirmed = (*confirmed).max(chunk_count(update.done));
                    let was = app.updates.get(&key).map(|old| &old.state);
                    if update.state == TransferState::Complete
                        && was == Some(&TransferState::Waiting)
                    {
                        app.n_confirmed_late += 1;
                    }
                }
                let changed = app
                    .updates
                    .get(&key)
                    .is_none_or(|old| old.state != update.state);
                app.last_update
                    .insert((update.file, update.direction), update.clone());
                app.updates.insert(key, update.clone());
                if changed {
                    self.trace(format!(
                        "node {node}: {:?} with node {other} {:?} at {}/{}",
                        update.direction, update.state, update.done, update.total
                    ));
                }
            }
            ClientEvent::PeerVerified { peer, .. } => {
                let other = self.node_of(peer);
                self.trace(format!("node {node} verified node {other}"));
            }
            ClientEvent::PeerLeft { peer } => {
                let other = self.node_of(peer);
                self.trace(format!("node {node}: node {other} left"));
            }
            ClientEvent::PeerFailed { peer, reason } => {
                let other = self.node_of(peer);
                self.trace(format!(
                    "node {node}: link to node {other} failed: {reason}"
                ));
                assert!(
                    !matches!(reason, FailReason::Misbehaved(_)),
                    "node {node} found node {other} misbehaving: {reason}"
                );
            }
            _ => {}
        }
    }

    fn node_of_member(&self, member: MemberKey) -> usize {
        (0..self.net.nodes.len())
            .find(|&node| self.member(node) == member)
            .unwrap()
    }
}

fn trace_line(line: String) {
    TRACE.with(|trace| {
        let mut trace = trace.borrow_mut();
        if trace.len() == TRACE_LINES {
            trace.pop_front();
        }
        trace.push_back(line);
    });
}

/// `len` pseudo-random bytes (xorshift64*, eight at a time).
fn file_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}
