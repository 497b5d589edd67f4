//! Mallory: a malicious room member, native Rust in the test process. It holds the room
//! secret (from an invite link), joins at the server like the app, reaches every member
//! over the relay (a sealed `use-relay` signal, then the Noise handshake as initiator in
//! relay envelopes), and so is a verified member like any other. The test then has it
//! attack from inside its authentic sessions: events it signs outside its own client's
//! history (a Lamport bomb, a held flood, a fork), fake receipts, and forged signals.
//!
//! A task owns the WebSocket and a sans-IO [`Client`]; the test reaches it through
//! [`Adversary::with`], which runs a closure on [`Mallory`] between inputs.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use confab_core::client::{ClientEvent, Config, Output, PeerInfo, Role};
use confab_core::history::{Content, History, Horizon, OrderKey, UnixMillis, VerifiedEvent};
use confab_core::room::Invite;
use confab_core::signal::{ClientMessage, ServerFrame, ServerMessage};
use confab_core::wire::relay::{Direction, Envelope};
use confab_core::wire::{Body, Frame, Mark};
use confab_core::{Client, EventId, Identity, Instant, MemberKey, PeerId, RoomId};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Bytes of events per `Events` body (below a frame's plaintext limit, with room for
/// the per-event overhead).
const EVENTS_PER_FRAME_BYTES: usize = 48 * 1024;
/// Paced bodies (the flood) go out one per this interval (about 400 KB/s to each member).
/// Sent at once, the flood let a browser busy verifying it fall more than 1 MiB behind at
/// the server, which then disconnects it as a slow reader: a member can do that to another
/// today, but it is not what this attack is about.
const PACE: Duration = Duration::from_millis(40);
/// Seed of Mallory's identity (fixed: the run is the same every time).
const IDENTITY_SEED: [u8; 32] = [0x4d; 32];

/// The running adversary.
pub struct Adversary {
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A verified member as Mallory's client knows it.
#[derive(Clone, Debug)]
pub struct Member {
    /// Its peer id on the server.
    pub peer: PeerId,
    /// Its key.
    pub key: MemberKey,
    /// The name in its identity card.
    pub name: String,
}

/// Mallory's state, handed to closures run by [`Adversary::with`].
pub struct Mallory {
    client: Client,
    /// Our peer id on this server connection (after the welcome).
    me: Option<PeerId>,
    /// WebSocket messages to send, in order.
    outgoing: VecDeque<Message>,
    deadline: Option<Instant>,
    /// Set by [`Mallory::go_deaf`]: nothing received reaches the client any more, and its
    /// timers stop (so it sends nothing of its own accord).
    deaf: bool,
    /// Bodies to send one per [`PACE`], in order (after what the client sends at once).
    paced: VecDeque<(PeerId, Body)>,
    /// Every signal we sealed, with its recipient (for replays).
    sealed: Vec<(PeerId, String)>,
    /// Refusals the server sent us (`rate-limited` would mean an attack never arrived).
    pub server_errors: Vec<String>,
}

type Command = Box<dyn FnOnce(&mut Mallory) + Send>;

impl Adversary {
    /// Connects to the server at `server_url` (`http://127.0.0.1:PORT`) and joins the room
    /// of `invite` (a link whose fragment is the room secret) as `name`. Mallory connects
    /// to every member already there.
    pub async fn join(server_url: &str, invite: &str, name: &str) -> anyhow::Result<Adversary> {
        let fragment = invite
            .split_once('#')
            .map(|(_, fragment)| fragment)
            .context("no room secret in the invite")?;
        // A governed room's link names its genesis too: Mallory signs over it, as members do.
        let invite =
            Invite::from_fragment(fragment).map_err(|error| anyhow::anyhow!("invite: {error}"))?;
        let ws_url = format!("{}/ws", server_url.replacen("http://", "ws://", 1));
        let (socket, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .with_context(|| format!("connecting to {ws_url}"))?;
        let config = Config {
            display_name: name.to_owned(),
            ..Config::default()
        };
        let mut client = Client::new(
            Identity::from_seed(IDENTITY_SEED),
            invite.link,
            config,
            [0x5a; 32],
        );
        if let Some(genesis) = invite.genesis {
            client = client.with_genesis(genesis);
        }
        // Mallory keeps nothing: its events go out at once.
        client.run_without_store();
        let mallory = Mallory {
            client,
            me: None,
            outgoing: VecDeque::new(),
            deadline: None,
            deaf: false,
            paced: VecDeque::new(),
            sealed: Vec::new(),
            server_errors: Vec::new(),
        };
        let (commands, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(mallory, socket, receiver));
        Ok(Adversary { commands, task })
    }

    /// Runs `f` on Mallory between two inputs, then sends what it produced.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Mallory) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Box::new(move |mallory: &mut Mallory| {
                let _ = reply.send(f(mallory));
            }))
            .map_err(|_| anyhow::anyhow!("the adversary stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the adversary stopped"))
    }

    /// Stops the task; its error, if it failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        drop(self.commands);
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(joined) => joined?,
            Err(_) => Ok(()),
        }
    }
}

impl Mallory {
    /// The members our client verified.
    pub fn verified(&self) -> Vec<Member> {
        self.client
            .verified_peers()
            .map(|(peer, info): (PeerId, &PeerInfo)| Member {
                peer,
                key: info.identity.member_key(),
                name: info.display_name.clone(),
            })
            .collect()
    }

    /// Our member key.
    pub fn key(&self) -> MemberKey {
        self.client.identity().member_key()
    }

    /// Posts an honest message (our chain's next event, to every verified member).
    pub fn post(&mut self, text: &str) -> anyhow::Result<EventId> {
        self.client
            .send_text(Instant::now(), wall(), text)
            .map_err(|error| anyhow::anyhow!("Mallory could not post: {error}"))
    }

    /// Forged signalling through the server to `victim`: an unsealed signal (plain JSON, as
    /// clients sent before sealing), garbage that is not base64, a signal sealed for
    /// `other` (another recipient), and a replay of one sealed for `victim`.
    pub fn forge_signals(&mut self, victim: PeerId, other: PeerId) -> anyhow::Result<()> {
        let me = self.me.context("no welcome yet")?;
        let unsealed = r#"{"kind":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}"#;
        self.signal(victim, unsealed.to_owned());
        self.signal(victim, "!!! not base64 at all ~~~".to_owned());
        let ClientMessage::Signal { data, .. } = self
            .client
            .seal_signal(me, other, r#"{"kind":"use-relay"}"#)
            .map_err(|error| anyhow::anyhow!("{error}"))?
        else {
            anyhow::bail!("seal_signal gave no signal");
        };
        self.signal(victim, data);
        let replayed = self
            .sealed
            .iter()
            .find(|(to, _)| *to == victim)
            .map(|(_, data)| data.clone())
            .context("no signal was sealed for the victim")?;
        self.signal(victim, replayed);
        Ok(())
    }

    /// A Lamport bomb: our chain's next event, validly signed, at Lamport time
    /// `u64::MAX - 1`, to every verified member. Returns its id.
    pub fn lamport_bomb(&mut self) -> anyhow::Result<EventId> {
        // The id events are signed over: a governed room's genesis, else its room id.
        let room = *self.client.history().room();
        // `create` stamps one above the highest time seen; a stored event (whose signature
        // `restore` does not check) by someone else makes that `u64::MAX - 2`.
        let stranger = Identity::from_seed([0x99; 32]);
        let planted = History::new(room)
            .create(&stranger, wall(), text("planted"))
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let mut bytes = planted.bytes().to_vec();
        // version, author, seq: the Lamport time follows (see `wire::event`).
        bytes[41..49].copy_from_slice(&(u64::MAX - 2).to_be_bytes());
        let planted = VerifiedEvent::restore(&room, &bytes, None)
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let mut writer = self.client.history().clone();
        writer
            .insert(planted, Horizon::UNBOUNDED)
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let bomb = writer
            .create(&identity(), wall(), text("Mallory's Lamport bomb"))
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        anyhow::ensure!(bomb.event().lamport == u64::MAX - 1, "not a bomb");
        self.send_to_all(&[bomb.bytes().to_vec()]);
        Ok(bomb.id())
    }

    /// Signs `n_events` events of about `text_len` bytes that follow a gap of `gap` events
    /// after our chain's head (never sent), and sends them to every verified member: they
    /// can only be held, beyond the per-author caps.
    pub fn flood_held(&mut self, gap: u64, n_events: usize, text_len: usize) -> anyhow::Result<()> {
        let mut writer = self.client.history().clone();
        let identity = identity();
        for n in 0..gap {
            writer
                .create(&identity, wall(), text(&format!("Mallory's gap {n}")))
                .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        }
        let padding = "x".repeat(text_len);
        let mut flood = Vec::with_capacity(n_events);
        for n in 0..n_events {
            let event = writer
                .create(
                    &identity,
                    wall(),
                    text(&format!("Mallory's flood {n} {padding}")),
                )
                .map_err(|error| anyhow::anyhow!("{error:?}"))?;
            flood.push(event.bytes().to_vec());
        }
        let members = self.verified();
        let batches = batches(&flood);
        for batch in batches {
            for member in &members {
                self.paced
                    .push_back((member.peer, Body::Events(batch.clone())));
            }
        }
        Ok(())
    }

    /// How many paced bodies (the flood) have yet to go out.
    pub fn n_paced(&self) -> usize {
        self.paced.len()
    }

    /// Fake receipts for `author`'s chain, to every verified member: a delivery mark and a
    /// read mark 1,000 events beyond what it published.
    pub fn fake_receipts(&mut self, author: MemberKey) {
        let seq = self.client.history().mark(&author) + 1000;
        let have = Body::Have {
            full: false,
            marks: vec![Mark {
                author,
                seq,
                head: EventId::from_bytes([0xee; 32]),
            }],
        };
        let read = Body::Read {
            up_to: OrderKey {
                lamport: u64::MAX - 1,
                author,
                seq,
            },
        };
        for member in self.verified() {
            for body in [&have, &read] {
                self.client.dangerously_send_body_for_testing_only(
                    Instant::now(),
                    member.peer,
                    body,
                );
            }
        }
    }

    /// Signs the next event of our chain twice, differently: `first` to `first_to` only.
    /// Returns the second, to send with [`Mallory::send_events`] (a fork once both are out).
    pub fn fork(&mut self, first_to: PeerId, first: &str, second: &str) -> anyhow::Result<Vec<u8>> {
        let base = self.client.history().clone();
        let identity = identity();
        let one = base
            .clone()
            .create(&identity, wall(), text(first))
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let other = base
            .clone()
            .create(&identity, wall(), text(second))
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        anyhow::ensure!(one.event().seq == other.event().seq, "not the same number");
        self.send_events(first_to, &[one.bytes().to_vec()]);
        Ok(other.bytes().to_vec())
    }

    /// Sends signed events to one verified member, as they are.
    pub fn send_events(&mut self, to: PeerId, events: &[Vec<u8>]) {
        for batch in batches(events) {
            let body = Body::Events(batch);
            self.client
                .dangerously_send_body_for_testing_only(Instant::now(), to, &body);
        }
    }

    /// Sends the next paced body, if any.
    fn send_paced(&mut self) {
        if let Some((to, body)) = self.paced.pop_front() {
            self.client
                .dangerously_send_body_for_testing_only(Instant::now(), to, &body);
        }
    }

    /// From now on nothing we receive reaches our client, and it sends nothing of its own
    /// accord: whatever members later show as delivered to or read by us is not true.
    pub fn go_deaf(&mut self) {
        self.deaf = true;
    }

    fn send_to_all(&mut self, events: &[Vec<u8>]) {
        for member in self.verified() {
            self.send_events(member.peer, events);
        }
    }

    fn signal(&mut self, to: PeerId, data: String) {
        self.send_text(&ClientMessage::Signal { to, data });
    }

    fn send_text(&mut self, message: &ClientMessage) {
        if let Ok(text) = serde_json::to_string(message) {
            self.outgoing.push_back(Message::text(text));
        }
    }

    /// Seals `signal` for `to` and sends it.
    fn send_sealed(&mut self, to: PeerId, signal: &str) {
        let Some(me) = self.me else { return };
        if let Ok(message @ ClientMessage::Signal { .. }) = self.client.seal_signal(me, to, signal)
        {
            if let ClientMessage::Signal { data, .. } = &message {
                self.sealed.push((to, data.clone()));
            }
            self.send_text(&message);
        }
    }

    /// As the newcomer, like an app with `?relay=force`: ask for the relay (sealed), then
    /// start the handshake as initiator in relay envelopes.
    fn connect(&mut self, peer: PeerId) {
        self.send_sealed(peer, r#"{"kind":"use-relay"}"#);
        self.client.add_peer(Instant::now(), peer, Role::Initiator);
    }

    fn handle_message(&mut self, message: Message) {
        match message {
            Message::Text(text) => match serde_json::from_str::<ServerFrame>(text.as_str()) {
                Ok(ServerFrame::Server(message)) => self.handle_server(message),
                Ok(ServerFrame::Mailbox(_)) => {}
                Err(error) => self.server_errors.push(format!("unreadable: {error}")),
            },
            Message::Binary(bytes) => {
                if self.deaf {
                    return;
                }
                let Ok(Envelope {
                    direction: Direction::From(peer),
                    payload,
                }) = Envelope::decode(&bytes)
                else {
                    return;
                };
                let now = Instant::now();
                // A member that starts over (a new handshake) gets a new responder.
                if matches!(Frame::decode(payload), Ok(Frame::Handshake { step: 0, .. })) {
                    self.client.add_peer(now, peer, Role::Responder);
                }
                self.client.handle_frame(now, peer, payload);
            }
            _ => {}
        }
    }

    fn handle_server(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Welcome { peer, .. } => {
                self.me = Some(peer);
                self.send_text(&ClientMessage::Join {
                    room: self.room_id(),
                });
            }
            ServerMessage::Joined { peers, .. } => {
                for peer in peers {
                    self.connect(peer);
                }
            }
            ServerMessage::PeerPresent { peer, .. } => self.connect(peer),
            ServerMessage::PeerLeft { peer, .. } => self.client.remove_peer(Instant::now(), peer),
            ServerMessage::Signal { from, data } => {
                let Some(me) = self.me else { return };
                // A newcomer's offer: we take no WebRTC, only the relay.
                if self.client.open_signal(me, from, &data).is_some() && !self.deaf {
                    self.send_sealed(from, r#"{"kind":"use-relay"}"#);
                }
            }
            ServerMessage::Error { code, message } => {
                self.server_errors.push(format!("{code:?}: {message}"));
            }
            _ => {}
        }
    }

    fn room_id(&self) -> RoomId {
        self.client.room_id()
    }

    /// Drains the client: transmits become relay envelopes.
    fn drain(&mut self) {
        loop {
            match self.client.poll_output() {
                Output::Transmit(transmit) => {
                    let envelope = Envelope {
                        direction: Direction::To(transmit.peer),
                        payload: &transmit.bytes,
                    };
                    self.outgoing.push_back(Message::binary(envelope.encode()));
                }
                Output::Event(
                    ClientEvent::PeerRejected { .. } | ClientEvent::PeerFailed { .. },
                ) => {}
                Output::Event(_) => {}
                Output::Timeout(deadline) => {
                    self.deadline = deadline;
                    return;
                }
            }
        }
    }
}

async fn run(
    mut mallory: Mallory,
    mut socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> anyhow::Result<()> {
    let mut pace = tokio::time::interval(PACE);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        mallory.drain();
        while let Some(message) = mallory.outgoing.pop_front() {
            socket.send(message).await?;
        }
        let deadline = match (mallory.deaf, mallory.deadline) {
            (false, Some(deadline)) => tokio::time::Instant::from_std(deadline),
            _ => tokio::time::Instant::now() + Duration::from_secs(3600),
        };
        tokio::select! {
            incoming = socket.next() => match incoming {
                Some(message) => mallory.handle_message(message?),
                None => return Ok(()),
            },
            command = commands.recv() => match command {
                Some(command) => command(&mut mallory),
                None => {
                    let _ = socket.close(None).await;
                    return Ok(());
                }
            },
            _ = pace.tick(), if !mallory.paced.is_empty() => mallory.send_paced(),
            () = tokio::time::sleep_until(deadline) => {
                if !mallory.deaf {
                    mallory.client.handle_timeout(Instant::now());
                }
            }
        }
    }
}

/// `events` cut into bodies of at most [`EVENTS_PER_FRAME_BYTES`] (one event at least).
fn batches(events: &[Vec<u8>]) -> Vec<Vec<Vec<u8>>> {
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    let mut batch_len = 0;
    for event in events {
        if batch_len + event.len() > EVENTS_PER_FRAME_BYTES && !batch.is_empty() {
            batches.push(std::mem::take(&mut batch));
            batch_len = 0;
        }
        batch_len += event.len();
        batch.push(event.clone());
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

fn identity() -> Identity {
    Identity::from_seed(IDENTITY_SEED)
}

fn text(text: &str) -> Content {
    Content::Text {
        text: text.to_owned(),
        reply_to: None,
        mentions: Vec::new(),
    }
}

fn wall() -> UnixMillis {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    UnixMillis(u64::try_from(millis).unwrap_or(u64::MAX))
}
