//! One simulated client: connects from its own source address, joins its room, says when
//! it is ready, sends its share of the messages on schedule once told to, and records
//! every payload that reaches it (count, order, latency) until told to stop.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use confab_core::PeerId;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::protocol::{Incoming, Members, Payload, Protocol, peerjs_id, topic};

/// The longest a TCP connect plus WebSocket upgrade may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes a client reads from its socket at a time.
const CLIENT_READ_BUFFER_LEN: usize = 8192;

/// What one client does.
#[derive(Clone, Debug)]
pub struct ClientPlan {
    pub idx: usize,
    pub protocol: Protocol,
    /// Distinguishes rooms, topics and ids of one run from another's.
    pub run: u32,
    pub room: usize,
    /// Clients per room, this one included.
    pub room_size: usize,
    pub server: SocketAddr,
    /// The local address to connect from (127.0.0.x), so that many clients do not run out
    /// of one address's ephemeral ports.
    pub source: Ipv4Addr,
    /// Messages to send once the send stage starts.
    pub n_messages: u32,
    /// When, after the send stage's start, the first message goes.
    pub offset: Duration,
    /// Time between this client's messages.
    pub period: Duration,
    /// The client gives up (and reports a failure) at this instant, whatever happens.
    pub deadline: Instant,
}

/// What every client shares with the coordinator.
pub struct Shared {
    /// The clock of payload timestamps.
    pub epoch: std::time::Instant,
    pub n_ready: AtomicUsize,
    pub n_failed: AtomicUsize,
    pub n_delivered: AtomicU64,
    /// Bounds how many connections are being set up at once.
    pub connect_slots: Semaphore,
}

/// What the coordinator tells clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Connect, join, wait.
    Setup,
    /// Send on schedule, counting from this instant.
    Send(Instant),
    /// Stop and report.
    Stop,
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub messages_sent: u64,
    pub frames_sent: u64,
    pub delivered: u64,
    /// Payloads whose sequence number was not above the last one from the same sender.
    pub reordered: u64,
    /// Error frames from the server (Confab `error`, PeerJS `ERROR`/`EXPIRE`/..).
    pub server_errors: u64,
    pub first_error: Option<String>,
    /// Delivery latencies, microseconds.
    pub latencies_us: Vec<u32>,
    /// Why the client could not take part, if it could not.
    pub failed: Option<String>,
}

type Socket = WebSocketStream<TcpStream>;

impl Shared {
    pub fn new(connect_concurrency: usize) -> Shared {
        Shared {
            epoch: std::time::Instant::now(),
            n_ready: AtomicUsize::new(0),
            n_failed: AtomicUsize::new(0),
            n_delivered: AtomicU64::new(0),
            connect_slots: Semaphore::new(connect_concurrency),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// Runs one client to the end: the coordinator's `Stop`, a lost connection, or
/// `plan.deadline`.
pub async fn run(
    plan: ClientPlan,
    shared: Arc<Shared>,
    stage: watch::Receiver<Stage>,
) -> ClientStats {
    let mut stats = ClientStats::default();
    if let Err(err) = drive(&plan, &shared, stage, &mut stats).await {
        stats.failed = Some(format!("client {}: {err:#}", plan.idx));
    }
    stats
}

async fn drive(
    plan: &ClientPlan,
    shared: &Shared,
    mut stage: watch::Receiver<Stage>,
    stats: &mut ClientStats,
) -> anyhow::Result<()> {
    let mut ready = Readiness::new(plan);
    let connected = async {
        let _slot = shared.connect_slots.acquire().await?;
        timeout(CONNECT_TIMEOUT, connect(plan))
            .await
            .context("connect timed out")?
    };
    let mut socket = match connected.await {
        Ok(socket) => socket,
        Err(err) => {
            shared.n_failed.fetch_add(1, Ordering::Relaxed);
            return Err(err);
        }
    };
    let mut counted_ready = false;
    let result = async {
        for frame in plan.protocol.join_frames(plan.run, plan.room) {
            socket.send(Message::text(frame)).await?;
        }
        let mut send_start: Option<Instant> = None;
        let mut next_msg: u32 = 0;
        let mut last_seq: Vec<(u32, u32)> = Vec::with_capacity(plan.room_size);
        loop {
            if !counted_ready && ready.is_ready() {
                counted_ready = true;
                shared.n_ready.fetch_add(1, Ordering::Relaxed);
            }
            let due = send_start
                .filter(|_| next_msg < plan.n_messages)
                .map(|start| start + plan.offset + plan.period * next_msg);
            tokio::select! {
                changed = stage.changed() => {
                    if changed.is_err() {
                        bail!("the coordinator went away");
                    }
                    let now = *stage.borrow_and_update();
                    match now {
                        Stage::Setup => {}
                        Stage::Send(start) => {
                            if !counted_ready {
                                bail!("told to send before it was ready");
                            }
                            send_start = Some(start);
                        }
                        Stage::Stop => return Ok(()),
                    }
                }
                frame = socket.next() => {
                    let text = match frame {
                        None => bail!("the server closed the connection"),
                        Some(Err(err)) => bail!("receive failed: {err}"),
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(close))) => bail!("the server closed the connection: {close:?}"),
                        Some(Ok(_)) => continue,
                    };
                    match plan.protocol.parse(text.as_str()) {
                        Incoming::Payload(data) => {
                            let payload = Payload::decode(&data)?;
                            if payload.sender as usize == plan.idx {
                                continue; // y-webrtc echoes a publish to its sender
                            }
                            let latency = shared.now_us().saturating_sub(payload.sent_us);
                            stats.latencies_us.push(u32::try_from(latency).unwrap_or(u32::MAX));
                            stats.delivered += 1;
                            shared.n_delivered.fetch_add(1, Ordering::Relaxed);
                            match last_seq.iter_mut().find(|(sender, _)| *sender == payload.sender) {
                                Some((_, last)) if payload.seq <= *last => stats.reordered += 1,
                                Some((_, last)) => *last = payload.seq,
                                None => last_seq.push((payload.sender, payload.seq)),
                            }
                        }
                        Incoming::Error(error) => {
                            stats.server_errors += 1;
                            stats.first_error.get_or_insert(error);
                        }
                        incoming => ready.handle(incoming),
                    }
                }
                () = sleep_until_some(due) => {
                    let payload = Payload {
                        sender: u32::try_from(plan.idx)?,
                        seq: next_msg,
                        sent_us: shared.now_us(),
                    }
                    .encode();
                    let members = ready.members();
                    for frame in plan.protocol.message_frames(&members, &payload) {
                        socket.feed(Message::text(frame)).await?;
                        stats.frames_sent += 1;
                    }
                    socket.flush().await?;
                    stats.messages_sent += 1;
                    next_msg += 1;
                }
                () = sleep_until(plan.deadline) => bail!("still running at the deadline"),
            }
        }
    }
    .await;
    if result.is_err() && !counted_ready {
        shared.n_failed.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// TCP from `plan.source`, no Nagle delay, then the WebSocket upgrade.
async fn connect(plan: &ClientPlan) -> anyhow::Result<Socket> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::from((plan.source, 0)))
        .with_context(|| format!("binding to {}", plan.source))?;
    let stream = socket
        .connect(plan.server)
        .await
        .with_context(|| format!("connecting to {}", plan.server))?;
    stream.set_nodelay(true)?;
    let url = plan.protocol.url(&plan.server.to_string(), plan.idx);
    // tungstenite's default read buffer (128 KiB, zero-filled) would make 20,000 idle
    // clients take 2.5 GiB of the machine the servers are measured on.
    let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER_LEN);
    let (socket, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .context("WebSocket upgrade")?;
    Ok(socket)
}

async fn sleep_until_some(due: Option<Instant>) {
    match due {
        Some(due) => sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Whether a client is in its room and knows whom to address.
struct Readiness {
    protocol: Protocol,
    room_size: usize,
    topic: String,
    peerjs_ids: Vec<String>,
    greeted: bool,
    /// Confab: the other members' peer ids.
    peers: Vec<PeerId>,
}

impl Readiness {
    fn new(plan: &ClientPlan) -> Readiness {
        let first = plan.room * plan.room_size;
        let peerjs_ids = (first..first + plan.room_size)
            .filter(|&idx| idx != plan.idx)
            .map(peerjs_id)
            .collect();
        Readiness {
            protocol: plan.protocol,
            room_size: plan.room_size,
            topic: topic(plan.run, plan.room),
            peerjs_ids,
            greeted: false,
            peers: Vec::new(),
        }
    }

    fn handle(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Ready => self.greeted = true,
            Incoming::Joined(peers) => self.peers = peers,
            Incoming::PeerJoined(peer) => {
                if !self.peers.contains(&peer) {
                    self.peers.push(peer);
                }
            }
            Incoming::PeerLeft(peer) => self.peers.retain(|known| *known != peer),
            Incoming::Payload(_) | Incoming::Error(_) | Incoming::Other => {}
        }
    }

    fn is_ready(&self) -> bool {
        match self.protocol {
            Protocol::Confab => self.greeted && self.peers.len() + 1 >= self.room_size,
            Protocol::YWebrtc | Protocol::Peerjs => self.greeted,
        }
    }

    fn members(&self) -> Members {
        match self.protocol {
            Protocol::Confab => Members::Confab(self.peers.clone()),
            Protocol::YWebrtc => Members::YWebrtc(self.topic.clone()),
            Protocol::Peerjs => Members::Peerjs(self.peerjs_ids.clone()),
        }
    }
}
