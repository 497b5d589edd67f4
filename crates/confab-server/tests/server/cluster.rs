//! Scale-out: two `confab-server` processes and a real `nats-server` (JetStream on), all
//! on loopback ports chosen here. Cross-node presence, signals, relay and mailbox; NATS
//! killed and restarted mid-test; a node killed mid-chat.
//!
//! Needs Debian's `nats-server` (`cargo xtask install` puts it there); without it these
//! tests say so and pass. `CONFAB_NATS_SERVER` names another binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use confab_core::signal::{ErrorCode, ServerMessage};
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
                    ServerMessage::PeerJoined { .. } | ServerMessage::PeerLeft { .. },
                ) => {}
                other => panic!("expected presence of {peer:?}, got {other:?}"),
            }
        }
    }

    /// Waits until `peer-joined` of every one of `peers` in `room` has come, in any order
    /// (other presence news is skipped).
    async fn expect_joins(&mut self, room: RoomId, peers: &[PeerId]) {
        let mut missing = peers.to_vec();
        let deadline = tokio::time::Instant::now() + NODE_WAIT;
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(Received::Server(ServerMessage::PeerJoined { room: r, peer }))
                    if r == room =>
                {
                    missing.retain(|&other| other != peer);
                }
                Some(Received::Server(
                    ServerMessage::PeerJoined { .. } | ServerMessage::PeerLeft { .. },
                )) => {}
                other => panic!("waiting for {missing:?} to join, got {other:?}"),
            }
        }
    }

    /// Joins `room` where `others` are on another node: they are in the answer or are
    /// announced right after it.
    async fn join_across(&mut self, room: RoomId, others: &[PeerId]) {
        let listed = self.join(room).await;
        let missing: Vec<PeerId> = others
            .iter()
            .copied()
            .filter(|other| !listed.contains(other))
            .collect();
        self.expect_joins(room, &missing).await;
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
    b.join_across(room(1), &[a.peer]).await;
    a.expect_presence(room(1), b.peer, true).await;
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
    b.join_across(room(3), &[a.peer, c.peer]).await;
    a.expect_presence(room(3), b.peer, true).await;
    c.expect_presence(room(3), b.peer, true).await;
    talk(&mut a, &mut b, "before").await;

    nats.kill().await;
    one.wait_nats_connected(false).await;
    two.wait_nats_connected(false).await;
    // Each side sees the other side leave, and goes on alone.
    a.expect_presence(room(3), b.peer, false).await;
    c.expect_presence(room(3), b.peer, false).await;
    b.expect_presence(room(3), a.peer, false).await;
    b.expect_presence(room(3), c.peer, false).await;
    talk(&mut a, &mut c, "alone").await;
    a.relay(b.peer, b"nowhere").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
    let mut d = two.client().await;
    d.join_across(room(3), &[b.peer]).await;
    b.expect_presence(room(3), d.peer, true).await;
    talk(&mut b, &mut d, "alone too").await;
    // Deposits need the shared log: refused while it is gone, never half-stored.
    let keys = keys(6);
    a.mailbox_put(&keys, b"later").await;
    a.expect_error(ErrorCode::MailboxUnavailable).await;

    nats.restart().await;
    one.wait_nats_connected(true).await;
    two.wait_nats_connected(true).await;
    a.expect_joins(room(3), &[b.peer, d.peer]).await;
    b.expect_joins(room(3), &[a.peer, c.peer]).await;
    c.expect_joins(room(3), &[b.peer, d.peer]).await;
    d.expect_joins(room(3), &[a.peer, c.peer]).await;
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
    b.join_across(room(4), &[a.peer]).await;
    a.expect_presence(room(4), b.peer, true).await;
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
