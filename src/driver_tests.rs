//! The driver against an in-memory network: a fake signalling server fed by the test, and a
//! real second `Client` playing the peer through relay envelopes (no WebRTC involved).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use confab_core::history::{History, Horizon, VerifiedEvent};
use confab_core::signal::{ClientMessage, MailboxReply, MailboxSeq, ServerMessage};
use confab_core::vault::KdfParams;
use confab_core::wire::relay::{Direction as RelayDirection, Envelope};
use confab_core::{
    Client, ClientEvent, Config, Content, EventId, Identity, Output, PeerId, Role, RoomSecret,
};
use leptos::prelude::*;
use wasm_bindgen_test::*;

use super::{Settings, start};
use crate::commands::{Command, Commands};
use crate::platform::error::BrowserError;
use crate::platform::net::{DirectLink, Network, Signalling, Sink};
use crate::platform::rtc::{IceServerConfig, RtcError, RtcEvent, RtcSignal};
use crate::platform::socket::{SocketError, SocketEvent};
use crate::platform::store::BrowserStore;
use crate::platform::{clock, entropy};
use crate::state::{AppState, Draft, MemberStatus, Path};

wasm_bindgen_test_configure!(run_in_browser);

/// What the driver sent, and the handle to talk back to it.
#[derive(Default)]
pub(super) struct Wire {
    pub(super) texts: RefCell<Vec<String>>,
    binaries: RefCell<Vec<Vec<u8>>>,
    pub(super) socket_sink: RefCell<Option<Sink<SocketEvent>>>,
    /// The driver dropped (closed) its socket.
    pub(super) closed: Cell<bool>,
}

impl Wire {
    pub(super) fn deliver(&self, event: SocketEvent) {
        let sink = self
            .socket_sink
            .borrow()
            .clone()
            .expect("the driver connected");
        sink(event);
    }
    pub(super) fn deliver_json(&self, message: &ServerMessage) {
        self.deliver(SocketEvent::Text(serde_json::to_string(message).unwrap()));
    }
    pub(super) fn deliver_mailbox(&self, reply: &MailboxReply) {
        self.deliver(SocketEvent::Text(serde_json::to_string(reply).unwrap()));
    }
    /// The `after` of every `mailbox-fetch` sent so far.
    pub(super) fn fetches(&self) -> Vec<u64> {
        self.texts
            .borrow()
            .iter()
            .filter_map(|text| match serde_json::from_str(text) {
                Ok(ClientMessage::MailboxFetch { after, .. }) => Some(after.to_u64()),
                _ => None,
            })
            .collect()
    }
}

pub(super) struct FakeNetwork(pub(super) Rc<Wire>);
struct FakeSocket(Rc<Wire>);

impl Signalling for FakeSocket {
    fn send_text(&self, text: &str) -> bool {
        self.0.texts.borrow_mut().push(text.to_owned());
        true
    }
    fn send_binary(&self, bytes: &[u8]) -> bool {
        self.0.binaries.borrow_mut().push(bytes.to_vec());
        true
    }
}

impl Drop for FakeSocket {
    fn drop(&mut self) {
        self.0.closed.set(true);
    }
}

impl Network for FakeNetwork {
    fn connect(
        &self,
        _url: &str,
        sink: Sink<SocketEvent>,
    ) -> Result<Box<dyn Signalling>, SocketError> {
        *self.0.socket_sink.borrow_mut() = Some(sink);
        self.0.closed.set(false);
        Ok(Box::new(FakeSocket(self.0.clone())))
    }
    fn open_link(
        &self,
        _: &[IceServerConfig],
        _: bool,
        _: Sink<RtcEvent>,
    ) -> Result<Box<dyn DirectLink>, RtcError> {
        Err(RtcError::Unavailable(BrowserError::because(
            "this test has no WebRTC",
        )))
    }
}

/// How a test's driver starts: a fresh identity in a room (a fresh one unless told).
pub(super) struct Launch {
    pub(super) room: RoomSecret,
    pub(super) settings: Settings,
    pub(super) state: AppState,
    pub(super) kept: super::Kept,
    pub(super) commands: Commands,
    /// Deposits a minute the server's welcome allows.
    pub(super) mailbox_puts_per_minute: u32,
}

impl Launch {
    pub(super) fn new(force_relay: bool, on_screen: bool) -> Launch {
        Launch {
            room: RoomSecret::from_bytes(entropy::seed()),
            settings: Settings {
                force_relay,
                dangerously_withhold_ice_candidates: false,
                on_screen,
            },
            state: AppState::new(),
            kept: super::Kept::default(),
            commands: Commands::new(),
            mailbox_puts_per_minute: 0,
        }
    }

    /// Starts the driver on `network` (whose socket is `wire`'s), waits for its socket and
    /// has the server welcome it as `me`. Returns the room.
    pub(super) async fn welcomed(
        self,
        wire: &Wire,
        net: Box<dyn Network>,
        me: PeerId,
    ) -> RoomSecret {
        let Launch {
            room,
            settings,
            state,
            kept,
            commands,
            mailbox_puts_per_minute,
        } = self;
        let id = Identity::from_seed(entropy::seed());
        let client = Client::new(id, room.clone(), Config::default(), entropy::seed());
        start(client, state, settings, net, kept, &commands);
        until("the driver to connect", || {
            wire.socket_sink.borrow().is_some()
        })
        .await;
        wire.deliver(SocketEvent::Open);
        wire.deliver_json(&ServerMessage::Welcome {
            peer: me,
            ice_servers: vec![],
            relay_bytes_per_sec: 0,
            relay_burst_bytes: 0,
            mailbox_puts_per_minute,
            push_key: None,
        });
        room
    }
}

pub(super) async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..250 {
        if done() {
            return;
        }
        clock::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Plays the relay for a peer the test runs as a real `Client`: what the driver relayed to
/// `peer` (ids: the driver's, the peer's) is handed to it, and what it sends goes back to
/// the driver as relayed from the peer; its events are kept.
pub(super) fn relay_pump(
    wire: &Wire,
    peer: &mut Client,
    ids: (PeerId, PeerId),
    events: &mut Vec<ClientEvent>,
) {
    let (driver_id, peer_id) = ids;
    for bytes in wire.binaries.borrow_mut().drain(..).collect::<Vec<_>>() {
        let envelope = Envelope::decode(&bytes).unwrap();
        assert_eq!(envelope.direction, RelayDirection::To(peer_id));
        peer.handle_frame(clock::now(), driver_id, envelope.payload);
    }
    loop {
        match peer.poll_output() {
            Output::Transmit(t) => {
                let back = Envelope {
                    direction: RelayDirection::From(peer_id),
                    payload: &t.bytes,
                };
                wire.deliver(SocketEvent::Binary(back.encode()));
            }
            Output::Event(event) => events.push(event),
            Output::Timeout(_) => break,
        }
    }
}

/// A peer `identity` called `name` (a real `Client` keeping nothing), in `room` before us:
/// we connect to it over the relay, and the pump runs until its row on `state` is online
/// and it verified us. Returns it and its events so far.
pub(super) async fn peer_met_over_relay(
    wire: &Wire,
    state: AppState,
    room: RoomSecret,
    ids: (PeerId, PeerId),
    identity: Identity,
    name: &str,
) -> (Client, Vec<ClientEvent>) {
    let (my_id, peer_id) = ids;
    let room_id = room.room_id();
    let config = Config {
        display_name: name.into(),
        ..Config::default()
    };
    let mut peer = Client::new(identity, room, config, entropy::seed());
    // The peer keeps nothing: its events go out at once.
    peer.run_without_store();
    peer.add_peer(clock::now(), my_id, Role::Responder);
    // Our server learns of them only after our join (they are on another node of a
    // cluster): `peer-present` says they were there first, so we are still the one who
    // connects. (Every end-to-end test covers members listed in `joined` itself.)
    wire.deliver_json(&ServerMessage::Joined {
        room: room_id,
        peers: vec![],
    });
    wire.deliver_json(&ServerMessage::PeerPresent {
        room: room_id,
        peer: peer_id,
    });
    let mut peer_events = Vec::new();
    for _ in 0..100 {
        relay_pump(wire, &mut peer, ids, &mut peer_events);
        let online = state.members().with_untracked(|members| {
            members
                .iter()
                .any(|m| m.status == MemberStatus::Online(Path::Relay))
        });
        if online && peer.verified_peers().count() == 1 {
            break;
        }
        clock::sleep(Duration::from_millis(20)).await;
    }
    (peer, peer_events)
}

/// The peer's events include the message `text`.
fn received(events: &[ClientEvent], text: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ClientEvent::Message(m) if m.text == text))
}

#[wasm_bindgen_test]
async fn the_driver_joins_verifies_and_chats_over_the_relay() {
    let wire = Rc::new(Wire::default());
    // A real profile store (its own database, left to the test browser's throwaway
    // profile: the driver keeps it open to the end).
    let database = format!("confab-test-driver-{:02x?}", &entropy::seed()[..6]);
    let store = Rc::new(
        BrowserStore::open_database(&database, None, KdfParams::OWASP)
            .await
            .unwrap(),
    );
    let launch = Launch {
        kept: super::Kept {
            store: Some(store.clone()),
            ..super::Kept::default()
        },
        ..Launch::new(true, true)
    };
    let (state, commands) = (launch.state, launch.commands.clone());

    // The server welcomes us; we join our room by its id.
    let (my_id, peer_id) = (PeerId::new(1), PeerId::new(2));
    let network = Box::new(FakeNetwork(wire.clone()));
    let room = launch.welcomed(&wire, network, my_id).await;
    let room_id = room.room_id();
    until("a join", || !wire.texts.borrow().is_empty()).await;
    let join: ClientMessage = serde_json::from_str(&wire.texts.borrow()[0]).unwrap();
    assert_eq!(join, ClientMessage::Join { room: room_id });

    // Someone is already there: we initiate to them over the relay.
    let ids = (my_id, peer_id);
    let (mut peer, mut peer_events) = peer_met_over_relay(
        &wire,
        state,
        room,
        ids,
        Identity::from_seed(entropy::seed()),
        "Relay Rita",
    )
    .await;
    let pump = |peer: &mut Client, peer_events: &mut Vec<ClientEvent>| {
        relay_pump(&wire, peer, ids, peer_events)
    };
    let member = state
        .members()
        .get_untracked()
        .into_iter()
        .next()
        .expect("a member row");
    assert_eq!(member.status, MemberStatus::Online(Path::Relay));
    assert_eq!(member.name.as_deref(), Some("Relay Rita"));
    assert_eq!(
        member.fingerprint,
        Some(peer.identity().fingerprint().to_string())
    );

    // A message typed in the UI reaches the peer, and the peer's reply is shown.
    commands.send(Command::SendText("hello from the driver".into()));
    for _ in 0..100 {
        pump(&mut peer, &mut peer_events);
        if received(&peer_events, "hello from the driver") {
            break;
        }
        clock::sleep(Duration::from_millis(20)).await;
    }
    assert!(received(&peer_events, "hello from the driver"));
    peer.send_text(clock::now(), clock::wall(), "hi back")
        .unwrap();
    pump(&mut peer, &mut peer_events);
    until("the reply to be shown", || {
        state
            .messages()
            .with_untracked(|messages| messages.iter().any(|m| m.text == "hi back" && !m.mine))
    })
    .await;

    // This room is on screen and the page visible: what it holds is seen, and the store
    // keeps that (its read marks), so its unread count is right when it next runs in the
    // background (after the user opens another room).
    let reply = state.messages().with_untracked(|messages| {
        messages
            .iter()
            .find(|m| m.text == "hi back")
            .map(|m| m.key)
            .unwrap()
    });
    let mut seen = None;
    for _ in 0..250 {
        seen = store.read_marks(room_id).await.unwrap();
        if seen.as_ref().is_some_and(|seen| seen.has_seen(&reply)) {
            break;
        }
        clock::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.expect("read marks saved");
    assert!(seen.has_seen(&reply), "the reply is not marked seen");
    let next = confab_core::OrderKey {
        seq: reply.seq + 1,
        ..reply
    };
    assert!(
        !seen.has_seen(&next),
        "the peer's next message is seen already"
    );

    // The server says the peer left: the peer (not pumped any more) does not answer the
    // liveness probe, so its link ends and the row says so.
    wire.deliver_json(&ServerMessage::PeerLeft {
        room: room_id,
        peer: peer_id,
    });
    until("the member to be shown as left", || {
        state
            .members()
            .with_untracked(|members| members.iter().any(|m| m.status == MemberStatus::Left))
    })
    .await;

    // The page goes (`pagehide`): the server connection is closed at once, so the server
    // does not go on listing a page frozen in the back/forward cache as a member.
    assert!(!wire.closed.get());
    commands.send(Command::Leave);
    until("the server connection to close", || wire.closed.get()).await;
}

/// Everything the server carries, said "from" a member whose relayed link is verified: a
/// fresh handshake start, every kind of sealed signal (authentic ones, as a server replays
/// them or a member colludes), and `peer-left` while the member still answers. None of it
/// may replace, close or re-route the session: the row stays online over the relay, and
/// messages go on flowing both ways in the same session.
#[wasm_bindgen_test]
async fn the_server_cannot_tear_down_a_verified_link() {
    let wire = Rc::new(Wire::default());
    let launch = Launch::new(true, false);
    let (state, commands) = (launch.state, launch.commands.clone());
    let (my_id, peer_id) = (PeerId::new(1), PeerId::new(2));
    let network = Box::new(FakeNetwork(wire.clone()));
    let room = launch.welcomed(&wire, network, my_id).await;
    let room_id = room.room_id();
    let new_client = |room: &RoomSecret| {
        let mut client = Client::new(
            Identity::from_seed(entropy::seed()),
            room.clone(),
            Config::default(),
            entropy::seed(),
        );
        client.run_without_store();
        client
    };
    let mut peer = new_client(&room);
    peer.add_peer(clock::now(), my_id, Role::Responder);
    wire.deliver_json(&ServerMessage::Joined {
        room: room_id,
        peers: vec![peer_id],
    });
    let mut peer_events = Vec::new();
    let pump = |peer: &mut Client, peer_events: &mut Vec<ClientEvent>| {
        relay_pump(&wire, peer, (my_id, peer_id), peer_events)
    };
    let online = || {
        state.members().with_untracked(|members| {
            members.len() == 1 && members[0].status == MemberStatus::Online(Path::Relay)
        })
    };
    for _ in 0..100 {
        pump(&mut peer, &mut peer_events);
        if online() && peer.verified_peers().count() == 1 {
            break;
        }
        clock::sleep(Duration::from_millis(20)).await;
    }
    assert!(online(), "verified over the relay");

    // A fresh handshake start "from" the member (a valid one: another client of the room
    // made it), relayed by the server.
    let mut other = new_client(&room);
    other.add_peer(clock::now(), my_id, Role::Initiator);
    let Output::Transmit(start) = other.poll_output() else {
        panic!("a handshake start");
    };
    wire.deliver(SocketEvent::Binary(
        Envelope {
            direction: RelayDirection::From(peer_id),
            payload: &start.bytes,
        }
        .encode(),
    ));
    // Every kind of signal, sealed by the member itself.
    let signals = [
        RtcSignal::Offer {
            sdp: "v=0\r\n".into(),
        },
        RtcSignal::Answer {
            sdp: "v=0\r\n".into(),
        },
        RtcSignal::Candidate {
            candidate: "candidate:1 1 udp 1 10.200.0.9 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        },
        RtcSignal::UseRelay,
    ];
    for signal in &signals {
        let json = serde_json::to_string(signal).unwrap();
        let Ok(ClientMessage::Signal { data, .. }) = peer.seal_signal(peer_id, my_id, &json) else {
            panic!("sealed");
        };
        wire.deliver_json(&ServerMessage::Signal {
            from: peer_id,
            data,
        });
    }
    // And the server says the member left, while it is still there and answers.
    wire.deliver_json(&ServerMessage::PeerLeft {
        room: room_id,
        peer: peer_id,
    });
    // Past the liveness probe (3 s), the member still answering.
    for _ in 0..200 {
        pump(&mut peer, &mut peer_events);
        clock::sleep(Duration::from_millis(20)).await;
    }
    assert!(online(), "{:?}", state.members().get_untracked());
    assert_eq!(peer.verified_peers().count(), 1);

    // The same session carries messages both ways.
    commands.send(Command::SendText("still here".into()));
    for _ in 0..100 {
        pump(&mut peer, &mut peer_events);
        if received(&peer_events, "still here") {
            break;
        }
        clock::sleep(Duration::from_millis(20)).await;
    }
    assert!(received(&peer_events, "still here"), "{peer_events:?}");
    assert!(
        !peer_events.iter().any(|e| matches!(
            e,
            ClientEvent::PeerLeft { .. } | ClientEvent::PeerFailed { .. }
        )),
        "{peer_events:?}"
    );
    peer.send_text(clock::now(), clock::wall(), "me too")
        .unwrap();
    pump(&mut peer, &mut peer_events);
    until("the member's message to be shown", || {
        state
            .messages()
            .with_untracked(|messages| messages.iter().any(|m| m.text == "me too" && !m.mine))
    })
    .await;
    assert!(online());
}

#[wasm_bindgen_test]
async fn the_driver_fetches_the_mailbox_on_notice_once_per_fetch_under_way() {
    let wire = Rc::new(Wire::default());
    let launch = Launch {
        mailbox_puts_per_minute: 120,
        ..Launch::new(true, false)
    };
    let network = Box::new(FakeNetwork(wire.clone()));
    let room_id = launch
        .welcomed(&wire, network, PeerId::new(1))
        .await
        .room_id();
    wire.deliver_json(&ServerMessage::Joined {
        room: room_id,
        peers: vec![],
    });
    until("the fetch after joined", || wire.fetches() == [0]).await;

    // Someone deposited (twice) while that fetch is under way: one more fetch, after it.
    let new = |seq| MailboxReply::MailboxNew {
        room: room_id,
        seq: MailboxSeq::new(seq),
    };
    wire.deliver_mailbox(&new(3));
    wire.deliver_mailbox(&new(4));
    clock::sleep(Duration::from_millis(100)).await;
    assert_eq!(wire.fetches(), [0]);
    let empty = MailboxReply::MailboxEntries {
        room: room_id,
        entries: vec![],
        more: false,
    };
    wire.deliver_mailbox(&empty);
    until("the fetch the notices asked for", || {
        wire.fetches() == [0, 0]
    })
    .await;
    wire.deliver_mailbox(&empty);
    // Later notices fetch again, one at a time.
    wire.deliver_mailbox(&new(5));
    until("a fetch on notice", || wire.fetches() == [0, 0, 0]).await;
    clock::sleep(Duration::from_millis(100)).await;
    assert_eq!(wire.fetches(), [0, 0, 0]);
}

/// A network whose direct links only record the signals they are fed, and hand the test
/// their sink so it can make them speak.
#[derive(Default)]
struct LinkLog {
    opened: Cell<usize>,
    fed: RefCell<Vec<RtcSignal>>,
    sink: RefCell<Option<Sink<RtcEvent>>>,
}

struct RecordingNetwork(Rc<Wire>, Rc<LinkLog>);
struct RecordingLink(Rc<LinkLog>);

impl Network for RecordingNetwork {
    fn connect(
        &self,
        url: &str,
        sink: Sink<SocketEvent>,
    ) -> Result<Box<dyn Signalling>, SocketError> {
        FakeNetwork(self.0.clone()).connect(url, sink)
    }
    fn open_link(
        &self,
        _: &[IceServerConfig],
        _: bool,
        sink: Sink<RtcEvent>,
    ) -> Result<Box<dyn DirectLink>, RtcError> {
        self.1.opened.set(self.1.opened.get() + 1);
        *self.1.sink.borrow_mut() = Some(sink);
        Ok(Box::new(RecordingLink(self.1.clone())))
    }
}

impl DirectLink for RecordingLink {
    fn send(&self, _: &[u8]) -> bool {
        false
    }
    fn send_file(&self, _: EventId, _: &[u8]) -> bool {
        false
    }
    fn file_buffered(&self, _: EventId) -> u64 {
        0
    }
    fn close_file(&self, _: EventId) {}
    fn handle_signal(&self, signal: RtcSignal) {
        self.0.fed.borrow_mut().push(signal);
    }
    fn close(&self) {}
}

#[wasm_bindgen_test]
async fn the_driver_answers_only_signals_sealed_to_it_by_a_member() {
    let wire = Rc::new(Wire::default());
    let links = Rc::new(LinkLog::default());
    let (my_id, member_id, stranger_id) = (PeerId::new(1), PeerId::new(2), PeerId::new(3));
    let network = Box::new(RecordingNetwork(wire.clone(), links.clone()));
    let room = Launch::new(false, false)
        .welcomed(&wire, network, my_id)
        .await;
    let room_id = room.room_id();
    wire.deliver_json(&ServerMessage::Joined {
        room: room_id,
        peers: vec![],
    });
    let offer = |sdp: &str| RtcSignal::Offer { sdp: sdp.into() };
    let signal = |from, data: String| ServerMessage::Signal { from, data };

    // Someone who only knows the room id offers in the clear (today's format), and a
    // member of another room offers sealed with its own secret: neither gets a link, so
    // neither learns our addresses.
    let forged = serde_json::to_string(&offer("v=0 forged")).unwrap();
    wire.deliver_json(&signal(stranger_id, forged));
    let mut other_room = Client::new(
        Identity::from_seed(entropy::seed()),
        RoomSecret::from_bytes(entropy::seed()),
        Config::default(),
        entropy::seed(),
    );
    let json = serde_json::to_string(&offer("v=0 other room")).unwrap();
    let Ok(ClientMessage::Signal { data, .. }) = other_room.seal_signal(stranger_id, my_id, &json)
    else {
        panic!("sealed");
    };
    wire.deliver_json(&signal(stranger_id, data));

    // A member's offer, sealed to someone else, is refused too; sealed to us, it opens.
    let mut member = Client::new(
        Identity::from_seed(entropy::seed()),
        room,
        Config::default(),
        entropy::seed(),
    );
    let seal = |member: &mut Client, to, signal: &RtcSignal| {
        let json = serde_json::to_string(signal).unwrap();
        match member.seal_signal(member_id, to, &json) {
            Ok(ClientMessage::Signal { data, .. }) => data,
            other => panic!("sealed: {other:?}"),
        }
    };
    let misaddressed = seal(&mut member, stranger_id, &offer("v=0 not for us"));
    wire.deliver_json(&signal(member_id, misaddressed));
    let genuine = seal(&mut member, my_id, &offer("v=0 genuine"));
    wire.deliver_json(&signal(member_id, genuine.clone()));
    until("a link for the member's offer", || links.opened.get() > 0).await;
    assert_eq!(links.opened.get(), 1);
    assert_eq!(*links.fed.borrow(), [offer("v=0 genuine")]);

    // The server replays the offer: refused (a second link would replace the first).
    wire.deliver_json(&signal(member_id, genuine));
    let candidate = RtcSignal::Candidate {
        candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    };
    let sealed_candidate = seal(&mut member, my_id, &candidate);
    wire.deliver_json(&signal(member_id, sealed_candidate));
    until("the member's candidate", || links.fed.borrow().len() == 2).await;
    assert_eq!(links.opened.get(), 1);
    assert_eq!(*links.fed.borrow(), [offer("v=0 genuine"), candidate]);

    // Our answer leaves sealed for the member alone: the server reads no SDP.
    let answer = RtcSignal::Answer {
        sdp: "v=0 answer\r\na=fingerprint:sha-256 AB".into(),
    };
    let sink = links.sink.borrow().clone().expect("the link's sink");
    sink(RtcEvent::Signal(answer.clone()));
    let sent = || {
        wire.texts
            .borrow()
            .iter()
            .filter_map(|text| match serde_json::from_str(text) {
                Ok(ClientMessage::Signal { to, data }) => Some((to, data)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    until("our answer", || !sent().is_empty()).await;
    let [(to, data)] = &sent()[..] else {
        panic!("one signal: {:?}", sent());
    };
    assert_eq!(*to, member_id);
    assert!(
        !data.contains("v=0") && !data.contains("fingerprint"),
        "{data}"
    );
    let opened = member.open_signal(member_id, my_id, data).expect("opens");
    assert_eq!(serde_json::from_str::<RtcSignal>(&opened).unwrap(), answer);
}

/// Older versions kept a Lamport bomb (another member's event at `u64::MAX - 1`), which a
/// restore without the clock's bound made stop every post for good: restoring now refuses
/// it, deletes its record, and posting goes on.
#[wasm_bindgen_test]
async fn restoring_deletes_a_stored_lamport_bomb_and_posting_goes_on() {
    let room = RoomSecret::from_bytes(entropy::seed());
    let room_id = room.room_id();
    let text = |text: &str| Content::Text {
        text: text.into(),
        reply_to: None,
        mentions: Vec::new(),
    };
    let bob = Identity::from_seed([2; 32]);
    let hello = History::new(room_id)
        .create(&bob, clock::wall(), text("hello"))
        .unwrap();
    // Mallory signs after a time near the end, which her own history believes (a restore
    // does not check signatures) though nobody signed it.
    let stranger = History::new(room_id)
        .create(
            &Identity::from_seed([9; 32]),
            clock::wall(),
            text("planted"),
        )
        .unwrap();
    let mut planted = stranger.bytes().to_vec();
    // version, author, seq: the Lamport time follows (see core's `wire::event`).
    planted[41..49].copy_from_slice(&(u64::MAX - 2).to_be_bytes());
    let mut writer = History::new(room_id);
    let planted = VerifiedEvent::restore(&room_id, &planted, None).unwrap();
    writer.insert(planted, Horizon::UNBOUNDED).unwrap();
    let bomb = writer
        .create(&Identity::from_seed([7; 32]), clock::wall(), text("boom"))
        .unwrap();
    assert_eq!(bomb.event().lamport, u64::MAX - 1);

    let database = format!("confab-test-bomb-{:02x?}", &entropy::seed()[..6]);
    let store = BrowserStore::open_database(&database, None, KdfParams::OWASP)
        .await
        .unwrap();
    let stored = [hello.bytes().to_vec(), bomb.bytes().to_vec()];
    store.append_events(room_id, &stored).await.unwrap();
    let mut client = Client::new(
        Identity::from_seed([1; 32]),
        room,
        Config::default(),
        entropy::seed(),
    );
    super::restore_history(&mut client, Some(&store))
        .await
        .unwrap();
    assert_eq!(client.history().len(), 1);
    assert_eq!(store.load_events(room_id).await.unwrap(), [hello.bytes()]);
    let posted = client.send_text(clock::now(), clock::wall(), "after");
    assert!(posted.is_ok(), "{posted:?}");
    assert_eq!(client.messages().last().unwrap().text, "after");
}

/// A message core refuses goes back into the composer in the mode it was written in,
/// kept as the room's draft: nothing typed is lost.
#[wasm_bindgen_test]
async fn a_refused_message_goes_back_into_the_composer() {
    let wire = Rc::new(Wire::default());
    let launch = Launch::new(true, true);
    let (state, commands) = (launch.state, launch.commands.clone());
    let network = Box::new(FakeNetwork(wire.clone()));
    launch.welcomed(&wire, network, PeerId::new(1)).await;
    let target = EventId::from_bytes([9; 32]);
    // Longer than a message may be: refused.
    let text = "a".repeat(confab_core::wire::MAX_TEXT_LEN + 1);
    commands.send(Command::Post {
        draft: Draft::Reply(target),
        text: text.clone(),
        mentions: Vec::new(),
    });
    until("the refusal", || {
        state
            .notice()
            .get_untracked()
            .is_some_and(|n| n.starts_with("Not sent"))
    })
    .await;
    assert_eq!(state.draft().get_untracked(), Draft::Reply(target));
    assert_eq!(state.saved_draft().get_untracked(), Some(text));
    assert!(state.messages().get_untracked().is_empty());
}
