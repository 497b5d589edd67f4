//! One WebSocket connection: welcome, JSON signalling requests, relay envelopes, limits,
//! and the close that ends it.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use confab_core::RoomId;
use confab_core::signal::{
    ClientMessage, ErrorCode, MAX_MAILBOX_PUT_LEN, MAX_SIGNAL_LEN, MailboxSeq, ServerMessage,
};
use confab_core::wire::relay::{Direction, Envelope, MAX_ENVELOPE_LEN};
use tokio::time::{Instant, timeout};
use tracing::{debug, info};

use crate::Shared;
use crate::hub::{HubError, Outgoing, Registration, Route, encode};
use crate::inbox::{Ended, Next};
use crate::limits::{
    ANSWERS_WAITING, CLOSE_LINGER, FLOOD_STRIKES, RELAY_CAP_ERROR_INTERVAL, SEND_TIMEOUT,
    TRANSPORT_MAX_LEN, TokenBucket,
};
use crate::mailbox::{Answer, MailboxError};
use crate::per_ip::{IpPermit, client_ip};
use crate::push::PushError;
use crate::socket::{self, Message, Socket, Upgrade};

mod mailbox;

use mailbox::announce_when_stored;

/// `GET /ws`: upgrades and hands the socket to [`serve`]. Browsers always send `Origin`;
/// a page from another site may not use this server as its signalling or relay service.
///
/// A client address that already holds `--max-connections-per-ip` connections gets the
/// upgrade, one `rate-limited` error saying so, and close 1008: browsers cannot read the
/// body of a refused upgrade, so this is the only way to tell them why.
pub(crate) async fn upgrade(
    upgrade: Upgrade,
    headers: HeaderMap,
    ConnectInfo(peer_addr): ConnectInfo<SocketAddr>,
    State(shared): State<Arc<Shared>>,
) -> Response {
    if !same_origin(&headers) {
        debug!("websocket refused: cross-origin request");
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
    }
    let ip = client_ip(peer_addr, &headers, shared.trust_forwarded_for);
    let permit = shared.per_ip.try_connect(ip);
    match permit {
        Some(permit) => upgrade.on_upgrade(TRANSPORT_MAX_LEN, move |socket| {
            serve(socket, shared, permit)
        }),
        None => {
            shared
                .metrics
                .connections_refused_per_ip
                .fetch_add(1, Ordering::Relaxed);
            // The address is not logged: it is personal data, and the counter says enough.
            info!("websocket refused: too many connections from one address");
            upgrade.on_upgrade(TRANSPORT_MAX_LEN, move |socket| {
                refuse_too_many(socket, shared)
            })
        }
    }
}

/// Tells a client over the per-address connection cap why, and closes.
async fn refuse_too_many(mut socket: Socket, shared: Arc<Shared>) {
    let max = shared.per_ip.max_connections();
    let error = ServerMessage::Error {
        code: ErrorCode::RateLimited,
        message: format!("too many connections from your address (at most {max})"),
    };
    if let Some(message) = encode(&error) {
        let _ = timeout(SEND_TIMEOUT, socket.send(&message)).await;
    }
    close(socket, End::TooManyFromAddress).await;
}

/// True when there is no `Origin` (non-browser clients) or its host equals `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(host))
}

/// Why a connection ended; decides the close frame we send, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The client closed or went away.
    ClientClosed,
    /// Reading or writing failed at the transport.
    TransportFailed,
    /// A write blocked longer than [`SEND_TIMEOUT`].
    SendTimedOut,
    /// The server is stopping.
    Shutdown,
    /// Our outbound queue made no progress for the stall time (or a notice overflowed it).
    TooSlow,
    /// Too many rate-limited messages in a row.
    Flood,
    /// A frame beyond what the transport reads.
    FrameTooBig,
    /// Invalid WebSocket framing.
    ProtocolViolation,
    /// A text frame that is not UTF-8.
    InvalidUtf8,
    /// The client's address holds as many connections as allowed.
    TooManyFromAddress,
}

struct Connection {
    socket: Socket,
    registration: Registration,
    /// This connection's place in its address's count; also its address's deposits.
    ip_permit: IpPermit,
    shared: Arc<Shared>,
    /// Messages of any kind.
    bucket: TokenBucket,
    n_strikes: u32,
    /// What only relaying and the mailbox use, made on first use: a connection that
    /// only signals (most of them, most of the time) does not carry it.
    extras: Option<Box<Extras>>,
}

/// A connection's relay and mailbox state. Its buckets start full, as they would be by
/// now had they been made with the connection.
struct Extras {
    /// Relayed bytes: each relay envelope costs its whole length.
    relay_bucket: TokenBucket,
    /// When we last answered `relay-cap`.
    last_relay_cap_error: Option<Instant>,
    /// Mailbox deposits a minute.
    mailbox_bucket: TokenBucket,
    /// Mailbox deposits accepted for the store so far.
    n_mailbox_puts: u64,
    /// Per room, the highest sequence number this connection acknowledged: fetches start
    /// after it. At most [`MAILBOX_ACKED_ROOMS`] rooms.
    mailbox_acked: HashMap<RoomId, MailboxSeq>,
    /// Answers in request order: deposits on their way to the store, and the answers to
    /// later requests waiting behind them. Empty unless a deposit is waiting.
    answers: VecDeque<Waiting>,
    /// Deposits in `answers`, and their entry bytes.
    n_deposits_waiting: usize,
    deposit_bytes_waiting: usize,
    /// In a cluster: the task of this connection's latest deposit; the next one waits
    /// for it, so one connection's deposits enter the log in order.
    last_cluster_put: Option<tokio::task::JoinHandle<()>>,
}

/// One answer in [`Extras::answers`].
enum Waiting {
    /// A deposit of `len` entry bytes into `room`, until the store answers.
    Deposit {
        room: RoomId,
        len: usize,
        answer: Answer,
    },
    /// The answer to a later request.
    Ready(Message),
}

impl Extras {
    fn new(shared: &Shared, now: Instant) -> Extras {
        Extras {
            relay_bucket: TokenBucket::new(
                shared.relay_bytes_per_sec,
                shared.relay_burst_bytes,
                now,
            ),
            last_relay_cap_error: None,
            mailbox_bucket: TokenBucket::per_minute(shared.mailbox_puts_per_minute, now),
            n_mailbox_puts: 0,
            mailbox_acked: HashMap::new(),
            answers: VecDeque::new(),
            n_deposits_waiting: 0,
            deposit_bytes_waiting: 0,
            last_cluster_put: None,
        }
    }
}

/// Counts this connection in [`Shared::n_running`] until dropped; shutdown waits for
/// the count to reach zero, so close frames go out before `run` returns.
struct RunningGuard(Arc<Shared>);

/// What woke a connection's task: the hub ended it or has a message for it, the store
/// answered a deposit, or the socket delivered a frame.
enum ConnectionEvent {
    Ended(Ended),
    Outbound(Message),
    /// The store answered this connection's oldest waiting deposit.
    Deposited(Result<MailboxSeq, MailboxError>),
    Inbound(Option<Result<Message, socket::Error>>),
}

/// Opens the connection and returns the task that serves it until it ends.
///
/// Not an `async fn`: the arguments of one are kept in its future next to the
/// [`Connection`] they are moved into, which would double what every idle task holds.
fn serve(
    socket: Socket,
    shared: Arc<Shared>,
    ip_permit: IpPermit,
) -> impl Future<Output = ()> + Send + 'static {
    let running = RunningGuard::enter(Arc::clone(&shared));
    let registration = shared.hub.register();
    shared
        .metrics
        .connections_opened
        .fetch_add(1, Ordering::Relaxed);
    info!(peer = ?registration.peer(), "connection opened");
    let now = Instant::now();
    let mut connection = Connection {
        socket,
        registration,
        ip_permit,
        bucket: TokenBucket::messages(shared.messages_per_second, now),
        n_strikes: 0,
        extras: None,
        shared,
    };
    async move {
        let Err(end) = connection.drive().await;
        let Connection {
            socket,
            registration,
            shared,
            extras,
            ..
        } = connection;
        let peer = registration.peer();
        shared.metrics.count_close(end);
        if let Some(extras) = extras {
            announce_when_stored(&shared, peer, extras.answers);
        }
        // Unregister first, so the others get `peer-left` without waiting for our close.
        drop(registration);
        // Boxed: it runs once, and inline its timer would size every idle task.
        Box::pin(close(socket, end)).await;
        info!(?peer, ?end, "connection closed");
        drop(running);
    }
}

impl Connection {
    async fn drive(&mut self) -> Result<Infallible, End> {
        Box::pin(self.send_welcome()).await?;
        loop {
            let Connection {
                registration,
                socket,
                extras,
                ..
            } = &mut *self;
            let inbox = registration.inbox();
            // One hand-written wait: the inbox (why we must go, then queued messages),
            // the oldest deposit's answer, then the socket. It holds references only: an
            // idle task stays small. The socket is read while deposits wait for the store;
            // only answers piling up behind them (a stuck store) stop it.
            let event = poll_fn(|cx| {
                match inbox.poll_next(cx) {
                    Poll::Ready(Next::Ended(end)) => {
                        return Poll::Ready(ConnectionEvent::Ended(end));
                    }
                    Poll::Ready(Next::Message(message)) => {
                        return Poll::Ready(ConnectionEvent::Outbound(message));
                    }
                    Poll::Pending => {}
                }
                if let Some(extras) = extras.as_deref_mut() {
                    if let Some(Waiting::Deposit { answer, .. }) = extras.answers.front_mut()
                        && let Poll::Ready(answered) = Pin::new(answer).poll(cx)
                    {
                        // A dropped answer: the writer stopped (the server is stopping).
                        let answered = answered.unwrap_or(Err(MailboxError::Unavailable));
                        return Poll::Ready(ConnectionEvent::Deposited(answered));
                    }
                    if extras.answers.len() >= ANSWERS_WAITING {
                        return Poll::Pending;
                    }
                }
                socket.poll_recv(cx).map(ConnectionEvent::Inbound)
            })
            .await;
            // Handling and sending are boxed: their futures (a mailbox deposit through
            // the cluster's log, a write under a timeout) are far larger than the wait
            // above, and inline they would size every idle connection's task.
            match event {
                ConnectionEvent::Ended(end) => return Err(End::from(end)),
                ConnectionEvent::Outbound(message) => Box::pin(self.send(message)).await?,
                ConnectionEvent::Deposited(answered) => Box::pin(self.deposited(answered)).await?,
                ConnectionEvent::Inbound(None) => return Err(End::ClientClosed),
                ConnectionEvent::Inbound(Some(Err(err))) => return Err(classify(err)),
                ConnectionEvent::Inbound(Some(Ok(message))) => {
                    Box::pin(self.handle(message)).await?
                }
            }
        }
    }

    fn extras(&mut self) -> &mut Extras {
        let shared = &self.shared;
        self.extras
            .get_or_insert_with(|| Box::new(Extras::new(shared, Instant::now())))
    }

    async fn send_welcome(&mut self) -> Result<(), End> {
        let welcome = ServerMessage::Welcome {
            peer: self.registration.peer(),
            ice_servers: self.shared.ice_servers.clone(),
            relay_bytes_per_sec: self.shared.relay_bytes_per_sec.get(),
            relay_burst_bytes: self.shared.relay_burst_bytes,
            mailbox_puts_per_minute: self.shared.mailbox_puts_per_minute.get(),
            push_key: self.shared.push.public_key(),
        };
        self.send_server(&welcome).await
    }

    async fn handle(&mut self, message: Message) -> Result<(), End> {
        match message {
            Message::Text(text) => {
                if self.admit().await? {
                    self.handle_text(text.as_str()).await?;
                }
            }
            Message::Binary(bytes) => {
                if self.admit().await? {
                    self.handle_binary(&bytes).await?;
                }
            }
            // A ping costs a token like any frame: a flood of them is answered
            // `rate-limited`, then closed, rather than each answered with a pong.
            Message::Ping(payload) => {
                if self.admit().await? {
                    self.socket.pong(&payload);
                }
            }
        }
        Ok(())
    }

    /// Takes a token. Without one the message is dropped and answered `rate-limited`;
    /// [`FLOOD_STRIKES`] drops in a row end the connection.
    async fn admit(&mut self) -> Result<bool, End> {
        if self.bucket.try_take(Instant::now(), 1) {
            self.n_strikes = 0;
            return Ok(true);
        }
        self.n_strikes += 1;
        if self.n_strikes >= FLOOD_STRIKES {
            return Err(End::Flood);
        }
        self.send_error(
            ErrorCode::RateLimited,
            "too many messages; this one was dropped".into(),
        )
        .await?;
        Ok(false)
    }

    async fn handle_text(&mut self, text: &str) -> Result<(), End> {
        // Only a mailbox deposit may be longer than MAX_SIGNAL_LEN.
        let too_large = || {
            format!(
                "text frames are limited to {MAX_SIGNAL_LEN} bytes \
                 ({MAX_MAILBOX_PUT_LEN} for mailbox-put)"
            )
        };
        if text.len() > MAX_MAILBOX_PUT_LEN {
            return self.send_error(ErrorCode::TooLarge, too_large()).await;
        }
        let request = match serde_json::from_str::<ClientMessage>(text) {
            Ok(request) => request,
            Err(_) if text.len() > MAX_SIGNAL_LEN => {
                return self.send_error(ErrorCode::TooLarge, too_large()).await;
            }
            Err(err) => {
                return self
                    .send_error(ErrorCode::BadRequest, bad_request_message(&err))
                    .await;
            }
        };
        if text.len() > MAX_SIGNAL_LEN && !matches!(request, ClientMessage::MailboxPut { .. }) {
            return self.send_error(ErrorCode::TooLarge, too_large()).await;
        }
        let peer = self.registration.peer();
        match request {
            ClientMessage::Join { room } => match self.registration.hub().join(peer, room) {
                Ok(peers) => {
                    self.send_server(&ServerMessage::Joined { room, peers })
                        .await
                }
                Err(err) => self.send_hub_error(err).await,
            },
            ClientMessage::Leave { room } => {
                self.registration.hub().leave(peer, room);
                Ok(())
            }
            ClientMessage::Signal { to, data } => {
                if let Some(recorder) = &self.shared.recorder {
                    recorder.record_signal(&data);
                }
                let sent = match self.registration.hub().route(peer, to) {
                    Ok(Route::Local) => {
                        let Some(message) = encode(&ServerMessage::Signal { from: peer, data })
                        else {
                            return Ok(());
                        };
                        self.registration.hub().forward(peer, to, message)
                    }
                    Ok(Route::Remote { node, room }) => self.to_node(Outgoing::Signal {
                        node,
                        room,
                        from: peer,
                        to,
                        data,
                    }),
                    Err(err) => Err(err),
                };
                match sent {
                    Ok(()) => {
                        self.shared.metrics.signals.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    Err(HubError::RecipientBusy) => self.recipient_busy().await,
                    Err(err) => self.send_hub_error(err).await,
                }
            }
            ClientMessage::MailboxPut {
                room,
                entry,
                key,
                proof,
            } => self.mailbox_put(room, entry, key, proof).await,
            ClientMessage::MailboxFetch { room, after, proof } => {
                self.mailbox_fetch(room, after, proof).await
            }
            ClientMessage::MailboxAck { room, up_to, proof } => {
                self.mailbox_ack(room, up_to, proof).await
            }
            ClientMessage::PushSubscribe {
                room,
                subscription,
                key,
                proof,
            } => {
                let subscribed = self
                    .shared
                    .push
                    .subscribe(room, subscription, key, proof, peer, self.ip_permit.tag())
                    .await;
                self.push_answer(room, subscribed).await
            }
            ClientMessage::PushUnsubscribe {
                room,
                endpoint,
                key,
                proof,
            } => {
                let unsubscribed = self
                    .shared
                    .push
                    .unsubscribe(room, endpoint, key, proof, peer)
                    .await;
                self.push_answer(room, unsubscribed).await
            }
        }
    }

    /// Nothing for a push request that succeeded; `push-refused` otherwise (never an
    /// `error`, which the app would match with a mailbox request in flight).
    async fn push_answer(
        &mut self,
        room: RoomId,
        result: Result<(), PushError>,
    ) -> Result<(), End> {
        let code = match &result {
            Ok(()) => return Ok(()),
            Err(PushError::Unavailable) => ErrorCode::PushUnavailable,
            Err(PushError::Denied) => ErrorCode::MailboxDenied,
            Err(PushError::Endpoint(_)) => ErrorCode::BadRequest,
            Err(PushError::TooMany) => ErrorCode::RateLimited,
        };
        let message = result.err().map(|err| err.to_string()).unwrap_or_default();
        debug!(peer = ?self.registration.peer(), ?code, "push request refused");
        self.shared.metrics.count_rejection(code);
        self.send_server(&ServerMessage::PushRefused {
            room,
            code,
            message,
        })
        .await
    }

    async fn handle_binary(&mut self, bytes: &Bytes) -> Result<(), End> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            let message = format!("relay envelopes are limited to {MAX_ENVELOPE_LEN} bytes");
            return self.send_error(ErrorCode::TooLarge, message).await;
        }
        let envelope = match Envelope::decode(bytes) {
            Ok(envelope) => envelope,
            Err(err) => {
                return self
                    .send_error(
                        ErrorCode::BadEnvelope,
                        format!("malformed relay envelope: {err}"),
                    )
                    .await;
            }
        };
        let Direction::To(to) = envelope.direction else {
            let message = "clients send only recipient (kind 1) envelopes".to_owned();
            return self.send_error(ErrorCode::BadEnvelope, message).await;
        };
        if let Some(recorder) = &self.shared.recorder {
            recorder.record(envelope.payload);
        }
        if !self.charge_relay(bytes.len()).await? {
            return Ok(());
        }
        let peer = self.registration.peer();
        let relayed = Envelope {
            direction: Direction::From(peer),
            payload: envelope.payload,
        }
        .encode();
        let sent = match self.registration.hub().route(peer, to) {
            Ok(Route::Local) => self
                .registration
                .hub()
                .forward(peer, to, Message::binary(relayed)),
            Ok(Route::Remote { node, room }) => self.to_node(Outgoing::Relay {
                node,
                room,
                to,
                envelope: relayed,
            }),
            Err(err) => Err(err),
        };
        match sent {
            Ok(()) => {
                let metrics = &self.shared.metrics;
                metrics.relayed_frames.fetch_add(1, Ordering::Relaxed);
                let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                metrics.relayed_bytes.fetch_add(len, Ordering::Relaxed);
                Ok(())
            }
            Err(HubError::RecipientBusy) => self.recipient_busy().await,
            Err(err) => self.send_hub_error(err).await,
        }
    }

    /// Charges `len` relayed bytes. Over the cap the envelope is dropped, answered
    /// `relay-cap` at most once per [`RELAY_CAP_ERROR_INTERVAL`], and not counted as a flood
    /// strike: a client that paces itself to the welcome's numbers never hits it, and one
    /// that does only loses frames it will resend.
    async fn charge_relay(&mut self, len: usize) -> Result<bool, End> {
        let now = Instant::now();
        let cost = u64::try_from(len).unwrap_or(u64::MAX);
        if self.extras().relay_bucket.try_take(now, cost) {
            return Ok(true);
        }
        self.shared
            .metrics
            .relay_cap_drops
            .fetch_add(1, Ordering::Relaxed);
        let last_error = &mut self.extras().last_relay_cap_error;
        let is_error_due = last_error
            .is_none_or(|last| now.saturating_duration_since(last) >= RELAY_CAP_ERROR_INTERVAL);
        if is_error_due {
            *last_error = Some(now);
            let message = format!(
                "relay cap of {} bytes/s (burst {} bytes) exceeded; this envelope was dropped",
                self.shared.relay_bytes_per_sec, self.shared.relay_burst_bytes
            );
            self.send_error(ErrorCode::RelayCap, message).await?;
        }
        Ok(false)
    }

    /// A relay envelope or signal was dropped because its recipient's queue was full: the
    /// sender, not the recipient, pays for it. Answered `relay-cap` (the same kind of loss,
    /// which the sessions repair) at most once per [`RELAY_CAP_ERROR_INTERVAL`], sharing
    /// that clock with the cap itself; not a flood strike.
    async fn recipient_busy(&mut self) -> Result<(), End> {
        let now = Instant::now();
        self.shared
            .metrics
            .recipient_busy_drops
            .fetch_add(1, Ordering::Relaxed);
        let last_error = &mut self.extras().last_relay_cap_error;
        let is_error_due = last_error
            .is_none_or(|last| now.saturating_duration_since(last) >= RELAY_CAP_ERROR_INTERVAL);
        if !is_error_due {
            return Ok(());
        }
        *last_error = Some(now);
        self.send_hub_error(HubError::RecipientBusy).await
    }

    /// Hands a message for a peer on another node to the cluster task. A full queue
    /// drops it, like a full recipient queue would (clients resend).
    fn to_node(&self, note: Outgoing) -> Result<(), HubError> {
        if let Some(cluster) = &self.shared.cluster
            && !cluster.send(note)
        {
            debug!("the cluster queue is full; a message for another node was dropped");
        }
        Ok(())
    }

    async fn send_hub_error(&mut self, err: HubError) -> Result<(), End> {
        self.send_error(err.code(), err.to_string()).await
    }

    async fn send_error(&mut self, code: ErrorCode, message: String) -> Result<(), End> {
        match self.error_frame(code, message) {
            Some(message) => self.reply(message).await,
            None => Ok(()),
        }
    }

    /// An `error` frame, counted and logged.
    fn error_frame(&self, code: ErrorCode, message: String) -> Option<Message> {
        // The message may quote the client's input: log only the code.
        debug!(peer = ?self.registration.peer(), ?code, "refused");
        self.shared.metrics.count_rejection(code);
        encode(&ServerMessage::Error { code, message })
    }

    async fn send_server(&mut self, message: &ServerMessage) -> Result<(), End> {
        match encode(message) {
            Some(message) => self.reply(message).await,
            None => Ok(()),
        }
    }

    /// Sends the answer to a request now, or, while deposits wait for the store, after
    /// theirs: a connection's answers go in request order.
    async fn reply(&mut self, message: Message) -> Result<(), End> {
        match self.extras.as_deref_mut() {
            Some(extras) if !extras.answers.is_empty() => {
                extras.answers.push_back(Waiting::Ready(message));
                Ok(())
            }
            _ => self.send(message).await,
        }
    }

    /// Writes one frame, giving up on shutdown, on a kick, or after [`SEND_TIMEOUT`].
    async fn send(&mut self, message: Message) -> Result<(), End> {
        let inbox = self.registration.inbox();
        tokio::select! {
            biased;
            end = inbox.ended() => Err(End::from(end)),
            sent = timeout(SEND_TIMEOUT, self.socket.send(&message)) => match sent {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(End::TransportFailed),
                Err(_) => Err(End::SendTimedOut),
            },
        }
    }
}

impl RunningGuard {
    fn enter(shared: Arc<Shared>) -> RunningGuard {
        shared.n_running.send_modify(|n| *n += 1);
        RunningGuard(shared)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.n_running.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl From<Ended> for End {
    fn from(end: Ended) -> End {
        match end {
            Ended::Stopping => End::Shutdown,
            Ended::Kicked => End::TooSlow,
        }
    }
}

impl End {
    fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            End::ClientClosed | End::TransportFailed | End::SendTimedOut => None,
            End::Shutdown => Some((1001, "server shutting down")),
            End::TooSlow => Some((1008, "too slow to receive")),
            End::Flood => Some((1008, "rate limit exceeded")),
            End::FrameTooBig => Some((1009, "message too big")),
            End::ProtocolViolation => Some((1002, "protocol error")),
            End::InvalidUtf8 => Some((1007, "invalid utf-8")),
            End::TooManyFromAddress => Some((1008, "too many connections from your address")),
        }
    }
}

/// Sends the close frame `end` calls for, then reads (and drops) input until the
/// client's close reply or [`CLOSE_LINGER`], so unread input does not turn our TCP
/// close into a reset that could swallow the close frame.
///
/// Not after an oversized frame: the transport would go on to buffer the rest of that
/// frame, whatever length its header claims. The client may then see a reset instead
/// of our close frame if it is still writing.
async fn close(mut socket: Socket, end: End) {
    let Some((code, reason)) = end.close_frame() else {
        return;
    };
    let linger = end != End::FrameTooBig;
    let _ = timeout(CLOSE_LINGER, async {
        if socket.close(code, reason).await.is_ok() && linger {
            while let Some(Ok(_)) = socket.recv().await {}
        }
    })
    .await;
}

fn classify(err: socket::Error) -> End {
    match err {
        socket::Error::TooBig => End::FrameTooBig,
        socket::Error::Protocol(why) => {
            debug!(why, "websocket protocol violation");
            End::ProtocolViolation
        }
        socket::Error::InvalidUtf8 => End::InvalidUtf8,
        socket::Error::Closed => End::ClientClosed,
        socket::Error::Io(err) => {
            debug!(%err, "websocket transport failed");
            End::TransportFailed
        }
    }
}

/// A short reason for a request we could not parse. serde's message may quote the input
/// (it goes back only to its sender) and is cut to keep the reply small.
fn bad_request_message(err: &serde_json::Error) -> String {
    const MAX_CHARS: usize = 160;
    let mut message = format!("not a valid request: {err}");
    if let Some((cut, _)) = message.char_indices().nth(MAX_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_request_messages_are_short() {
        let long = format!(r#"{{"type":"{}"}}"#, "é".repeat(5000));
        let err = serde_json::from_str::<ClientMessage>(&long).unwrap_err();
        let message = bad_request_message(&err);
        assert!(message.chars().count() <= 161, "{message}");
        assert!(
            message.starts_with("not a valid request: unknown variant"),
            "{message}"
        );
    }
}
