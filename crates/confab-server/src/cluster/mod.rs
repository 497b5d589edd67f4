//! Scale-out over NATS (`--nats-url`): several nodes behind one name share rooms.
//!
//! Each node has a random [`NodeId`] per start and listens on its own subjects
//! (`confab.node.<id>.*`) for signals and relay envelopes addressed to its peers, on
//! `confab.room.<room-id>` for the presence of every room that has members here, and on
//! `confab.nodes` for heartbeats. Peer ids are random 64-bit numbers that a node checks
//! against both its own and every announced remote peer before handing one out.
//!
//! Presence: a node announces each local join and leave on the room's subject; a node
//! that starts listening to a room says `hello` and every other node there answers with
//! its whole list (`present`). A node heard nothing from for [`NODE_SILENCE`] is taken for
//! dead and its members leave; one that stops cleanly says `gone`.
//!
//! When NATS goes away the node forgets every remote member (its clients see them leave)
//! and goes on serving its own peers as a single node; when NATS is back it announces all
//! its rooms again and asks the others to do the same. Mailbox deposits go through a
//! JetStream stream (see [`replica`]).

mod notes;
mod replica;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::socket::Message;
use async_nats::{Client, ConnectOptions, Event, Subscriber};
use axum::body::Bytes;
use confab_core::RoomId;
use confab_core::signal::ServerMessage;
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use notes::SignalNote;
use notes::{NODES_SUBJECT, NodeNote, RoomNote, decode_relay, encode_relay, room_subject};
pub(crate) use replica::Replica;

use crate::hub::{Arrival, Hub, NodeId, Outgoing, encode};
use crate::mailbox::Mailbox;
use crate::metrics::NatsCounts;
use crate::shutdown::stopped;

/// How often a node says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node not heard from for this long is taken for dead.
const NODE_SILENCE: Duration = Duration::from_millis(3500);
/// Notes from the hub waiting for the cluster task.
pub(crate) const OUTGOING_QUEUE_LEN: usize = 16 * 1024;
/// Bytes of signals and relay envelopes waiting for the cluster task (within the part of
/// `--memory-budget` not given to the connections' queues and the database's cache).
const OUTGOING_QUEUE_BYTES: usize = 32 << 20;

/// The connections' handle on the cluster.
pub(crate) struct Cluster {
    outgoing: mpsc::Sender<Outgoing>,
    state: Arc<LinkState>,
    replica: Arc<Replica>,
}

/// What the link knows, shared with `/metrics`.
#[derive(Debug, Default)]
struct LinkState {
    /// Bytes of the notes waiting in the outgoing queue (see [`Outgoing::cost`]).
    queued_bytes: AtomicUsize,
    is_connected: AtomicBool,
    published: AtomicU64,
    publish_failures: AtomicU64,
    received: AtomicU64,
    received_invalid: AtomicU64,
    reconnects: AtomicU64,
}

/// Something that arrived from NATS, tagged by what it is.
enum Inbound {
    Room(RoomId, Bytes),
    Node(String, Bytes),
    Nodes(Bytes),
}

/// The cluster task's state.
struct Link {
    node: NodeId,
    client: Client,
    hub: Arc<Hub>,
    state: Arc<LinkState>,
    replica: Arc<Replica>,
    inbound: mpsc::Sender<Inbound>,
    /// A forwarding task per listened room.
    rooms: HashMap<RoomId, JoinHandle<()>>,
    /// Other nodes and when we last heard from them.
    nodes: HashMap<NodeId, Instant>,
    /// Disconnected since the last `Connected`: re-announce when it comes.
    was_lost: bool,
}

impl Cluster {
    /// Connects (in the background, retrying for ever) to `url` and starts the cluster
    /// task, which runs until `stop`. `outgoing` is the receiving end of the hub's queue.
    pub(crate) async fn start(
        url: &str,
        hub: Arc<Hub>,
        mailbox: Arc<Mailbox>,
        outgoing_sender: mpsc::Sender<Outgoing>,
        outgoing: mpsc::Receiver<Outgoing>,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<(Cluster, JoinHandle<()>)> {
        let node = NodeId::random();
        let (events_sender, events) = mpsc::unbounded_channel();
        let options = ConnectOptions::new()
            .name(format!("confab-server {node:?}"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(2))
            // Quick to come back: presence is repaired only once we are connected again.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * u64::try_from(attempts.min(10)).unwrap_or(10))
            })
            .event_callback(move |event| {
                let events_sender = events_sender.clone();
                async move {
                    let _ = events_sender.send(event);
                }
            });
        let client = options.connect(url).await?;
        let state = Arc::new(LinkState::default());
        let replica = Arc::new(Replica::new(node, client.clone(), mailbox, Arc::clone(&hub)).await);
        let (inbound_sender, inbound) = mpsc::channel(4096);
        let link = Link {
            node,
            client,
            hub,
            state: Arc::clone(&state),
            replica: Arc::clone(&replica),
            inbound: inbound_sender,
            rooms: HashMap::new(),
            nodes: HashMap::new(),
            was_lost: false,
        };
        info!(?node, "cluster node starting");
        let task = tokio::spawn(link.run(events, outgoing, inbound, stop));
        let cluster = Cluster {
            outgoing: outgoing_sender,
            state,
            replica,
        };
        Ok((cluster, task))
    }

    /// Queues a message for another node; false if the queue is full, in notes or in
    /// bytes (dropped).
    pub(crate) fn send(&self, note: Outgoing) -> bool {
        let cost = note.cost();
        let queued = &self.state.queued_bytes;
        let taken = queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
            total
                .checked_add(cost)
                .filter(|&after| after <= OUTGOING_QUEUE_BYTES)
        });
        if taken.is_err() {
            return false;
        }
        let is_sent = self.outgoing.try_send(note).is_ok();
        if !is_sent {
            queued.fetch_sub(cost, Ordering::Relaxed);
        }
        is_sent
    }

    /// The mailbox's replication.
    pub(crate) fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }

    /// Whether NATS is connected now.
    pub(crate) fn is_connected(&self) -> bool {
        self.state.is_connected.load(Ordering::Relaxed)
    }

    /// The counters, copied for `/metrics`.
    pub(crate) fn counts(&self) -> NatsCounts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        NatsCounts {
            published: load(&self.state.published),
            publish_failures: load(&self.state.publish_failures),
            received: load(&self.state.received),
            received_invalid: load(&self.state.received_invalid),
            reconnects: load(&self.state.reconnects),
        }
    }
}

impl Link {
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut outgoing: mpsc::Receiver<Outgoing>,
        mut inbound: mpsc::Receiver<Inbound>,
        mut stop: watch::Receiver<bool>,
    ) {
        self.listen_to_node().await;
        let replica_task = tokio::spawn(Arc::clone(&self.replica).run(stop.clone()));
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                Some(event) = events.recv() => self.handle_event(event).await,
                Some(note) = outgoing.recv() => self.handle_outgoing(note).await,
                Some(message) = inbound.recv() => self.handle_inbound(message).await,
                _ = heartbeat.tick() => self.handle_heartbeat().await,
            }
        }
        let gone = NodeNote::Gone { node: self.node };
        self.publish_json(NODES_SUBJECT.to_owned(), &gone).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.flush()).await;
        for (_, task) in self.rooms.drain() {
            task.abort();
        }
        let _ = replica_task.await;
        info!(node = ?self.node, "cluster node stopped");
    }

    /// Subscribes to this node's own subjects and to heartbeats (kept across reconnects
    /// by the client).
    async fn listen_to_node(&mut self) {
        let subject = self.node.wildcard_subject();
        match self.client.subscribe(subject).await {
            Ok(subscriber) => {
                forward(subscriber, self.inbound.clone(), |subject, payload| {
                    Inbound::Node(subject, payload)
                });
            }
            Err(err) => warn!(%err, "cannot subscribe to this node's subjects"),
        }
        match self.client.subscribe(NODES_SUBJECT).await {
            Ok(subscriber) => {
                forward(subscriber, self.inbound.clone(), |_, payload| {
                    Inbound::Nodes(payload)
                });
            }
            Err(err) => warn!(%err, "cannot subscribe to node heartbeats"),
        }
    }

    async fn handle_event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.state.is_connected.store(true, Ordering::Relaxed);
                if self.was_lost {
                    self.state.reconnects.fetch_add(1, Ordering::Relaxed);
                    info!("NATS is back; announcing this node's rooms again");
                    self.was_lost = false;
                } else {
                    info!("connected to NATS");
                }
                let heartbeat = NodeNote::Heartbeat { node: self.node };
                self.publish_json(NODES_SUBJECT.to_owned(), &heartbeat)
                    .await;
                for (room, peers) in self.hub.local_rooms() {
                    self.announce(room, peers).await;
                }
                self.replica.wake();
            }
            Event::Disconnected => {
                self.state.is_connected.store(false, Ordering::Relaxed);
                if !self.was_lost {
                    warn!("lost NATS; serving this node's peers alone until it is back");
                    self.was_lost = true;
                    self.nodes.clear();
                    self.hub.forget_remote();
                }
            }
            other => debug!(%other, "NATS event"),
        }
    }

    /// Says who is here in `room`, and asks the others to say it too.
    async fn announce(&self, room: RoomId, peers: Vec<Arrival>) {
        let present = RoomNote::Present {
            node: self.node,
            peers,
        };
        self.publish_json(room_subject(room), &present).await;
        let hello = RoomNote::Hello { node: self.node };
        self.publish_json(room_subject(room), &hello).await;
    }

    async fn handle_outgoing(&mut self, note: Outgoing) {
        self.state
            .queued_bytes
            .fetch_sub(note.cost(), Ordering::Relaxed);
        match note {
            Outgoing::RoomOpened(room) => {
                match self.client.subscribe(room_subject(room)).await {
                    Ok(subscriber) => {
                        let task = forward(subscriber, self.inbound.clone(), move |_, payload| {
                            Inbound::Room(room, payload)
                        });
                        if let Some(old) = self.rooms.insert(room, task) {
                            old.abort();
                        }
                    }
                    Err(err) => warn!(%err, ?room, "cannot listen to a room"),
                }
                let hello = RoomNote::Hello { node: self.node };
                self.publish_json(room_subject(room), &hello).await;
            }
            Outgoing::RoomClosed(room) => {
                if let Some(task) = self.rooms.remove(&room) {
                    task.abort();
                }
            }
            Outgoing::Joined { room, presence } => {
                let note = RoomNote::Joined {
                    node: self.node,
                    presence,
                };
                self.publish_json(room_subject(room), &note).await;
            }
            Outgoing::Left { room, peer } => {
                let note = RoomNote::Left {
                    node: self.node,
                    peer,
                };
                self.publish_json(room_subject(room), &note).await;
            }
            Outgoing::Signal {
                node,
                room,
                from,
                to,
                data,
            } => {
                let note = SignalNote {
                    room,
                    from,
                    to,
                    data,
                };
                self.publish_json(node.signal_subject(), &note).await;
            }
            Outgoing::Relay {
                node,
                room,
                to,
                envelope,
            } => {
                let payload = encode_relay(room, to, &envelope);
                self.publish(node.relay_subject(), payload.into()).await;
            }
        }
    }

    async fn handle_inbound(&mut self, inbound: Inbound) {
        self.state.received.fetch_add(1, Ordering::Relaxed);
        let is_valid = match inbound {
            Inbound::Room(room, payload) => match serde_json::from_slice(&payload) {
                Ok(note) => {
                    self.handle_room_note(room, note).await;
                    true
                }
                Err(_) => false,
            },
            Inbound::Nodes(payload) => match serde_json::from_slice(&payload) {
                Ok(NodeNote::Heartbeat { node }) => {
                    if node != self.node && self.nodes.insert(node, Instant::now()).is_none() {
                        debug!(?node, "another node is alive");
                    }
                    true
                }
                Ok(NodeNote::Gone { node }) => {
                    info!(?node, "another node stopped");
                    self.nodes.remove(&node);
                    self.hub.remote_node_gone(node);
                    true
                }
                Err(_) => false,
            },
            Inbound::Node(subject, payload) if subject.ends_with(".signal") => {
                match serde_json::from_slice::<SignalNote>(&payload) {
                    Ok(note) => {
                        let message = encode(&ServerMessage::Signal {
                            from: note.from,
                            data: note.data,
                        });
                        if let Some(message) = message {
                            self.hub.deliver_from_remote(note.room, note.to, message);
                        }
                        true
                    }
                    Err(_) => false,
                }
            }
            Inbound::Node(_, payload) => match decode_relay(&payload) {
                Some((room, to, envelope)) => {
                    let message = Message::Binary(Bytes::copy_from_slice(envelope));
                    self.hub.deliver_from_remote(room, to, message);
                    true
                }
                None => false,
            },
        };
        if !is_valid {
            self.state.received_invalid.fetch_add(1, Ordering::Relaxed);
            debug!("dropped a message from NATS that does not decode");
        }
    }

    async fn handle_room_note(&mut self, room: RoomId, note: RoomNote) {
        let (RoomNote::Joined { node, .. }
        | RoomNote::Left { node, .. }
        | RoomNote::Hello { node }
        | RoomNote::Present { node, .. }) = note;
        if node != self.node {
            // Any note is a sign of life: a node that dies before its first heartbeat
            // must still be noticed.
            self.nodes.insert(node, Instant::now());
        }
        match note {
            RoomNote::Joined { node, presence } if node != self.node => {
                self.hub.remote_joined(room, node, presence);
            }
            RoomNote::Left { node, peer } if node != self.node => {
                self.hub.remote_left(room, node, peer);
            }
            RoomNote::Hello { node } if node != self.node => {
                let present = RoomNote::Present {
                    node: self.node,
                    peers: self.hub.local_members(room),
                };
                self.publish_json(room_subject(room), &present).await;
            }
            RoomNote::Present { node, peers } if node != self.node => {
                self.hub.remote_present(room, node, &peers);
            }
            // Our own notes, back from NATS.
            RoomNote::Joined { .. }
            | RoomNote::Left { .. }
            | RoomNote::Hello { .. }
            | RoomNote::Present { .. } => {}
        }
    }

    async fn handle_heartbeat(&mut self) {
        if !self.state.is_connected.load(Ordering::Relaxed) {
            return;
        }
        let heartbeat = NodeNote::Heartbeat { node: self.node };
        self.publish_json(NODES_SUBJECT.to_owned(), &heartbeat)
            .await;
        let now = Instant::now();
        let silent: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|&(_, &seen)| now.saturating_duration_since(seen) > NODE_SILENCE)
            .map(|(&node, _)| node)
            .collect();
        for node in silent {
            warn!(?node, "another node went silent; its members left");
            self.nodes.remove(&node);
            self.hub.remote_node_gone(node);
        }
    }

    async fn publish_json(&self, subject: String, note: &impl serde::Serialize) {
        match serde_json::to_vec(note) {
            Ok(payload) => self.publish(subject, payload.into()).await,
            Err(err) => warn!(%err, "cannot encode a note for NATS"),
        }
    }

    /// Publishes unless disconnected (presence is announced again on reconnect; signals
    /// and relay envelopes are resent by their clients).
    async fn publish(&self, subject: String, payload: Bytes) {
        if !self.state.is_connected.load(Ordering::Relaxed) {
            self.state.publish_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.client.publish(subject, payload).await {
            Ok(()) => {
                self.state.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                self.state.publish_failures.fetch_add(1, Ordering::Relaxed);
                debug!(%err, "publish to NATS failed");
            }
        }
    }
}

/// Forwards what `subscriber` receives to the cluster task, tagged by `tag`, until either
/// side ends (dropping the subscriber unsubscribes).
fn forward(
    mut subscriber: Subscriber,
    inbound: mpsc::Sender<Inbound>,
    tag: impl Fn(String, Bytes) -> Inbound + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = subscriber.next().await {
            let tagged = tag(message.subject.to_string(), message.payload);
            if inbound.send(tagged).await.is_err() {
                return;
            }
        }
    })
}
