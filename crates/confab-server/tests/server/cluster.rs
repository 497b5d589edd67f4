//! Scale-out: two `confab-server` processes and a real `nats-server` (JetStream on), all
//! on loopback ports chosen here. Cross-node presence, signals, relay and mailbox (and its
//! new-deposit notices); NATS killed and restarted mid-test; a node killed mid-chat.
//!
//! Needs Debian's `nats-server` (`cargo xtask install` puts it there); without it these
//! tests say so and pass. `CONFAB_NATS_SERVER` names another binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use confab_core::signal::{ErrorCode, MailboxReply, ServerMessage};
use confab_core::{PeerId, RoomId};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::harness::{Client, Received, http_get, room};
use crate::mailbox::keys;
use crate::metrics::Scrape;

/// Long enough for a silent node to be declared dead (3.5 s after its last heartbeat).
const NODE_WAIT: Duration = Duration::from_secs(10);

/// A `nats-server` with JetStream, on a fixed port and store directory so that it can be
/// killed and started again as the same server.
struct Nats {
    binary: PathBuf,
    port: u16,
    store: TempDir,
    child: Option<Child>,
}

/// A `confab-server` process.
struct Node {
    addr: SocketAddr,
    child: Child,
    _dist: TempDir,
    _data: TempDir,
}

fn nats_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CONFAB_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn wait_for_port(port: u16) {
    let deadline = tokio::time::Instant::now() + NODE_WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Nats {
    /// Starts one, or returns `None` (after saying why) if there is no `nats-server`.
    async fn start() -> Option<Nats> {
        let Some(binary) = nats_binary() else {
            eprintln!(
                "SKIPPED: no nats-server binary (apt-get install nats-server, or set CONFAB_NATS_SERVER)"
            );
            return None;
        };
        let mut nats = Nats {
            binary,
            port: free_port(),
            store: tempfile::tempdir().unwrap(),
            child: None,
        };
        nats.restart().await;
        Some(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port).await;
    }

    async fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().await.unwrap();
    }
}

impl Node {
    async fn start(nats: &Nats) -> Node {
        let dist = tempfile::tempdir().unwrap();
        std::fs::write(dist.path().join("index.html"), "<!doctype html>").unwrap();
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::fs::File::create(data.path().join("server.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_confab-server"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--dist")
            .arg(dist.path())
            .arg("--data-dir")
            .arg(data.path())
            .arg("--nats-url")
            .arg(nats.url())
            .env("RUST_LOG", "confab_server=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_for_port(port).await;
        let node = Node {
            addr,
            child,
            _dist: dist,
            _data: data,
        };
        node.wait_nats_connected(true).await;
        node
    }

    async fn wait_nats_connected(&self, connected: bool) {
        let deadline = tokio::time::Instant::now() + NODE_WAIT;
        loop {
            let (scrape, _) = Scrape::take(self.addr).await;
            if scrape.get("confab_nats_connected") == u64::from(connected) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {} never became nats_connected={connected}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    fn log_path(&self) -> PathBuf {
        self._data.path().join("server.log")
    }
}

/// Two nodes on one NATS, or `None` if there is no `nats-server`.
async fn cluster() -> Option<(Nats, Node, Node)> {
    let nats = Nats::start().await?;
    let one = Node::start(&nats).await;
    let two = Node::start(&nats).await;
    Some((nats, one, two))
}

impl Client {
    /// Waits (up to [`NODE_WAIT`]) for `peer-joined`/`peer-left` of `peer` in `room`,
    /// skipping other presence news.
    async fn expect_presence(&mut self, room: RoomId, peer: PeerId, joined: bool) {
        let deadline = tokio::time::Instant::now() + NODE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let received = self
                .try_recv(left)
                .await
                .unwrap_or_else(|| panic!("no presence news of {peer:?} (joined {joined})"));
            match received {
                Received::Server(ServerMessage::PeerJoined { room: r, peer: p })
                    if r == room && p == peer && joined =>
                {
                    return;
                }
                Received::Server(ServerMessage::PeerLeft { room: r, peer: p })
                    if r == room && p == peer && !joined =>
                {
                    return;
                }
                Received::Server(
                    ServerMessage::PeerJoined { .. }
                    | ServerMessage::PeerPresent { .. }
                    | ServerMessage::PeerLeft { .. },
                ) => {}
                other => panic!("expected presence of {peer:?}, got {other:?}"),
            }
        }
    }

    /// Waits until every one of `peers` in `room` has been announced, in any order, and
    /// returns for each whether we connect to it: it was there before us (`peer-present`)
    /// rather than a newcomer who connects to us (`peer-joined`). Other presence news is
    /// skipped.
    async fn news_of(&mut self, room: RoomId, peers: &[PeerId]) -> HashMap<PeerId, bool> {
        let mut news = HashMap::new();
        let deadline = tokio::time::Instant::now() + NODE_WAIT;
        while peers.iter().any(|peer| !news.contains_key(peer)) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(Received::Server(ServerMessage::PeerJoined { room: r, peer }))
                    if r == room =>
                {
                    news.insert(peer, false);
                }
                Some(Received::Server(ServerMessage::PeerPresent { room: r, peer }))
                    if r == room =>
                {
                    news.insert(peer, true);
                }
                Some(Received::Server(
                    ServerMessage::PeerJoined { .. }
                    | ServerMessage::PeerPresent { .. }
                    | ServerMessage::PeerLeft { .. },
                )) => {}
                other => panic!("waiting for news of {peers:?}, got {other:?}"),
            }
        }
        news.retain(|peer, _| peers.contains(peer));
        news
    }

    /// Waits until `peer-left` of every one of `peers` in `room` has come, in any order
    /// (other presence news is skipped).
    async fn expect_lefts(&mut self, room: RoomId, peers: &[PeerId]) {
        let mut missing = peers.to_vec();
        let deadline = tokio::time::Instant::now() + NODE_WAIT;
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(Received::Server(ServerMessage::PeerLeft { room: r, peer })) if r == room => {
                    missing.retain(|&other| other != peer);
                }
                Some(Received::Server(
                    ServerMessage::PeerJoined { .. }
                    | ServerMessage::PeerPresent { .. }
                    | ServerMessage::PeerLeft { .. },
                )) => {}
                other => panic!("waiting for {missing:?} to leave, got {other:?}"),
            }
        }
    }

    /// Joins `room` where `others` are on another node: each is in the answer or announced
    /// right after it. Returns, for each, whether we connect to it (see [`Client::news_of`];
    /// listed members are ones we connect to).
    async fn join_with_news(&mut self, room: RoomId, others: &[PeerId]) -> HashMap<PeerId, bool> {
        let listed = self.join(room).await;
        let missing: Vec<PeerId> = others
            .iter()
            .copied()
            .filter(|other| !listed.contains(other))
            .collect();
        let mut news = self.news_of(room, &missing).await;
        for other in others.iter().filter(|other| listed.contains(other)) {
            news.insert(*other, true);
        }
        news
    }
}

/// `newcomer` joins `room` on another node than `members`: each side hears of the other,
/// and each pair agrees on which of them connects.
async fn join_across(newcomer: &mut Client, room: RoomId, members: &mut [&mut Client]) {
    let peers: Vec<PeerId> = members.iter().map(|member| member.peer).collect();
    let news = newcomer.join_with_news(room, &peers).await;
    for member in members.iter_mut() {
        let theirs = member.news_of(room, &[newcomer.peer]).await;
        assert_one_connects(&[(newcomer.peer, &news), (member.peer, &theirs)]);
    }
}

/// Every pair of members across the nodes agrees on which of them connects to the other:
/// exactly one does (the app connects to the members it hears were there before it, and
/// waits for the newcomers).
fn assert_one_connects(news: &[(PeerId, &HashMap<PeerId, bool>)]) {
    for (x, of_x) in news {
        for (y, of_y) in news {
            if let (Some(x_connects), Some(y_connects)) = (of_x.get(y), of_y.get(x)) {
                assert_ne!(x_connects, y_connects, "{x:?} and {y:?} disagree");
            }
        }
    }
}

impl Client {
    /// Whether we connect to `peer` of `room` (it was listed in our join answer, `listed`,
    /// or announced as `peer-present`) rather than it to us (`peer-joined`).
    async fn we_connect_to(&mut self, room: RoomId, peer: PeerId, listed: &[PeerId]) -> bool {
        listed.contains(&peer) || self.news_of(room, &[peer]).await[&peer]
    }
}

/// Signals and relays both ways between `a` and `b`.
async fn talk(a: &mut Client, b: &mut Client, tag: &str) {
    a.signal(b.peer, &format!("offer {tag}")).await;
    b.expect(ServerMessage::Signal {
        from: a.peer,
        data: format!("offer {tag}"),
    })
    .await;
    b.signal(a.peer, &format!("answer {tag}")).await;
    a.expect(ServerMessage::Signal {
        from: b.peer,
        data: format!("answer {tag}"),
    })
    .await;
    let frame: Vec<u8> = (0..=255u8).cycle().take(40_000).collect();
    a.relay(b.peer, &frame).await;
    assert_eq!(b.expect_relay_from(a.peer).await, frame);
    b.relay(a.peer, tag.as_bytes()).await;
    assert_eq!(a.expect_relay_from(b.peer).await, tag.as_bytes());
}

#[tokio::test]
async fn members_on_two_nodes_signal_relay_and_share_the_mailbox() {
    let Some((_nats, one, two)) = cluster().await else {
        return;
    };
    let mut a = one.client().await;
    let mut b = two.client().await;
    assert_ne!(a.peer, b.peer);
    assert_eq!(a.join(room(1)).await, []);
    join_across(&mut b, room(1), &mut [&mut a]).await;
    talk(&mut a, &mut b, "one").await;

    // Only room members: a peer on node two in another room is out of reach.
    let mut stranger = two.client().await;
    stranger.join(room(2)).await;
    a.relay(stranger.peer, b"no").await;
    a.expect_error(ErrorCode::UnknownPeer).await;

    // The mailbox: deposited on one, fetched on two, under the same sequence number.
    let keys = keys(5);
    let seq = a.deposit(&keys, b"while you were away").await;
    let (page, more) = b.fetch_page(&keys, 0).await;
    assert_eq!(page, vec![(seq, b"while you were away".to_vec())]);
    assert!(!more);
    let seq_two = b.deposit(&keys, b"and back").await;
    assert!(seq_two > seq);
    assert_eq!(
        a.fetch_page(&keys, seq).await.0,
        vec![(seq_two, b"and back".to_vec())]
    );

    let (scrape, _) = Scrape::take(two.addr).await;
    assert_eq!(scrape.get("confab_nats_connected"), 1);
    assert_eq!(scrape.get("confab_remote_room_members"), 1);
    assert_eq!(scrape.get("confab_mailbox_replicated_puts_total"), 1);

    // Leaving is seen across nodes.
    b.leave(room(1)).await;
    a.expect_presence(room(1), b.peer, false).await;
}

#[tokio::test]
async fn deposits_sent_at_once_on_two_nodes_keep_each_connection_s_order_everywhere() {
    let Some((_nats, one, two)) = cluster().await else {
        return;
    };
    let keys = keys(6);
    let (mut a, mut b) = (one.client().await, two.client().await);
    // Each sends six deposits without waiting; the log interleaves them, in batches.
    for n in 0..6u8 {
        a.mailbox_put(&keys, &[b'a', n]).await;
        b.mailbox_put(&keys, &[b'b', n]).await;
    }
    for client in [&mut a, &mut b] {
        let mut seqs = Vec::new();
        for _ in 0..6 {
            match client.recv().await {
                Received::Mailbox(MailboxReply::MailboxStored { seq, .. }) => {
                    seqs.push(seq.to_u64());
                }
                other => panic!("expected mailbox-stored, got {other:?}"),
            }
        }
        assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");
    }
    let (page_one, _) = a.fetch_page(&keys, 0).await;
    let (page_two, _) = b.fetch_page(&keys, 0).await;
    assert_eq!(page_one, page_two, "both nodes hold the same entries");
    for author in [b'a', b'b'] {
        let sent: Vec<u8> = page_one
            .iter()
            .filter(|(_, bytes)| bytes[0] == author)
            .map(|(_, bytes)| bytes[1])
            .collect();
        assert_eq!(sent, [0, 1, 2, 3, 4, 5], "in the order they were sent");
    }
}

#[tokio::test]
async fn a_deposit_on_one_node_is_announced_to_the_room_s_members_on_both() {
    let Some((_nats, one, two)) = cluster().await else {
        return;
    };
    let keys = keys(8);
    let room = keys.room();
    let mut a = one.client().await;
    let mut c = one.client().await;
    let mut b = two.client().await;
    a.join(room).await;
    c.join(room).await;
    a.expect_presence(room, c.peer, true).await;
    join_across(&mut b, room, &mut [&mut a, &mut c]).await;

    // On node one: c hears through the hub, b through node two applying the log.
    let seq = a.deposit(&keys, b"to everyone").await;
    assert_eq!(c.expect_mailbox_new(&keys).await, seq);
    assert_eq!(b.expect_mailbox_new(&keys).await, seq);
    assert_eq!(
        b.fetch_page(&keys, 0).await.0,
        [(seq, b"to everyone".to_vec())]
    );
    a.expect_quiet(Duration::from_millis(300)).await;
    // And the other way round: node one tells both its members.
    let seq = b.deposit(&keys, b"back").await;
    assert_eq!(a.expect_mailbox_new(&keys).await, seq);
    assert_eq!(c.expect_mailbox_new(&keys).await, seq);
    b.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn members_joining_on_two_nodes_at_once_agree_on_who_connects() {
    // The app connects to the members it is told were there before it (`joined`,
    // `peer-present`) and waits for the ones announced as newcomers (`peer-joined`). When
    // a room opens on two nodes at once, each node learns of the other's member only after
    // its own joined: both must still agree on one newcomer per pair, or neither connects
    // (or both do).
    let Some((_nats, one, two)) = cluster().await else {
        return;
    };
    for n in 0..6u8 {
        let mut a = one.client().await;
        let mut b = two.client().await;
        let room = room(20 + n);
        let (a_listed, b_listed) = tokio::join!(a.join(room), b.join(room));
        let a_connects = a.we_connect_to(room, b.peer, &a_listed).await;
        let b_connects = b.we_connect_to(room, a.peer, &b_listed).await;
        assert_ne!(a_connects, b_connects, "round {n}: exactly one connects");
    }
}

#[tokio::test]
async fn a_nats_outage_leaves_each_node_serving_its_own_and_then_heals() {
    let Some((mut nats, one, two)) = cluster().await else {
        return;
    };
    let mut a = one.client().await;
    let mut c = one.client().await;
    let mut b = two.client().await;
    a.join(room(3)).await;
    c.join(room(3)).await;
    a.expect_presence(room(3), c.peer, true).await;
    join_across(&mut b, room(3), &mut [&mut a, &mut c]).await;
    talk(&mut a, &mut b, "before").await;

    nats.kill().await;
    one.wait_nats_connected(false).await;
    two.wait_nats_connected(false).await;
    // Each side sees the other side leave, and goes on alone.
    a.expect_presence(room(3), b.peer, false).await;
    c.expect_presence(room(3), b.peer, false).await;
    b.expect_lefts(room(3), &[a.peer, c.peer]).await;
    talk(&mut a, &mut c, "alone").await;
    a.relay(b.peer, b"nowhere").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
    let mut d = two.client().await;
    assert_eq!(d.join(room(3)).await, [b.peer]);
    b.expect_presence(room(3), d.peer, true).await;
    talk(&mut b, &mut d, "alone too").await;
    // Deposits need the shared log: refused while it is gone, never half-stored.
    let keys = keys(6);
    a.mailbox_put(&keys, b"later").await;
    a.expect_error(ErrorCode::MailboxUnavailable).await;

    nats.restart().await;
    one.wait_nats_connected(true).await;
    two.wait_nats_connected(true).await;
    // Everyone hears of the other side again, and each pair agrees who connects.
    let a_news = a.news_of(room(3), &[b.peer, d.peer]).await;
    let c_news = c.news_of(room(3), &[b.peer, d.peer]).await;
    let b_news = b.news_of(room(3), &[a.peer, c.peer]).await;
    let d_news = d.news_of(room(3), &[a.peer, c.peer]).await;
    assert_one_connects(&[
        (a.peer, &a_news),
        (b.peer, &b_news),
        (c.peer, &c_news),
        (d.peer, &d_news),
    ]);
    talk(&mut a, &mut b, "healed").await;
    talk(&mut d, &mut c, "healed too").await;
    let seq = a.deposit(&keys, b"now").await;
    assert_eq!(b.fetch_page(&keys, 0).await.0, vec![(seq, b"now".to_vec())]);
    let (scrape, _) = Scrape::take(one.addr).await;
    assert!(scrape.get("confab_nats_reconnects_total") >= 1);
}

#[tokio::test]
async fn a_killed_node_s_clients_reconnect_to_the_other_and_lose_nothing() {
    let Some((_nats, one, mut two)) = cluster().await else {
        return;
    };
    let mut a = one.client().await;
    let mut b = two.client().await;
    a.join(room(4)).await;
    join_across(&mut b, room(4), &mut [&mut a]).await;
    talk(&mut a, &mut b, "before").await;
    let keys = keys(7);
    let seq = b.deposit(&keys, b"written on two").await;

    two.child.kill().await.unwrap();
    println!("node two's log: {}", two.log_path().display());
    // Node one notices the silence and tells a.
    a.expect_presence(room(4), b.peer, false).await;
    // b's client comes back through node one, as a new connection.
    let mut b_again = one.client().await;
    assert_eq!(b_again.join(room(4)).await, [a.peer]);
    a.expect_presence(room(4), b_again.peer, true).await;
    talk(&mut a, &mut b_again, "after").await;
    let (page, _) = b_again.fetch_page(&keys, 0).await;
    assert_eq!(page, vec![(seq, b"written on two".to_vec())]);
    // And a's own deposits go on.
    let next = a.deposit(&keys, b"still here").await;
    assert!(next > seq);
}

#[tokio::test]
async fn a_single_node_needs_no_nats() {
    // The in-process servers of every other suite run without --nats-url; this checks
    // what /metrics says about it.
    let server = crate::harness::TestServer::start().await;
    let response = http_get(server.addr, "/metrics", &[]).await;
    let text = String::from_utf8(response.body).unwrap();
    assert!(text.contains("\nconfab_nats_configured 0\n"), "{text}");
    assert!(text.contains("\nconfab_nats_connected 0\n"), "{text}");
}
