//! The `abuse` scenario (issue 14): a real room deposits into its mailbox and chats while
//! `flooders` clients, each from an address of its own (`X-Forwarded-For`, so the server
//! runs with `--trust-forwarded-for`), deposit 64 KiB entries into fresh room ids and, in
//! pairs, relay envelopes as fast as they may to partners that read slowly. It measures
//! the real room's deposits (accepted / attempted), its chat latency during the attack
//! against the same room alone before it, and the server's peak RSS against its memory
//! budget. Bounded: every client sends a fixed number of frames, every wait has a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use confab_core::mailbox::MailboxKeys;
use confab_core::signal::{ClientMessage, ErrorCode, MailboxReply, ServerFrame, ServerMessage};
use confab_core::wire::relay::{Direction, Envelope, MAX_ENVELOPE_LEN};
use confab_core::{PeerId, RoomId, RoomSecret};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::proc_stats;

/// The longest any one wait may take.
const WAIT: Duration = Duration::from_secs(20);

/// What one abuse run does.
#[derive(Clone, Debug, Serialize)]
pub struct AbuseConfig {
    /// Attacking clients, each from an address of its own.
    pub flooders: usize,
    /// Mailbox deposits each flooder makes (into fresh room ids).
    pub flood_deposits: usize,
    /// Bytes of each flood deposit's sealed entry payload.
    pub flood_entry_bytes: usize,
    /// Relay envelopes each relaying flooder sends to its slow-reading partner.
    pub flood_envelopes: usize,
    /// How long a slow reader waits between two reads.
    pub slow_read_every: Duration,
    /// The real room's chat messages in each phase, and its deposits during the attack.
    pub chat_messages: usize,
    pub real_deposits: usize,
    /// Time between two chat messages (and two deposits) of the real room.
    pub chat_every: Duration,
    /// The server's `--memory-budget`.
    pub memory_budget: u64,
}

/// What one abuse run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AbuseResult {
    pub real_deposits_accepted: usize,
    pub real_deposits_attempted: usize,
    /// Entries of the real room a member fetched afterwards.
    pub real_entries_fetched: usize,
    pub chat_delivered_alone: usize,
    pub chat_delivered_attacked: usize,
    pub chat_p50_ms_alone: f64,
    pub chat_p99_ms_alone: f64,
    pub chat_p50_ms_attacked: f64,
    pub chat_p99_ms_attacked: f64,
    /// How long the real room's deposits waited for their answers under attack.
    pub deposit_p50_ms_attacked: f64,
    pub deposit_p99_ms_attacked: f64,
    pub flood_deposits_stored: u64,
    pub flood_deposits_refused: u64,
    pub flood_envelopes_sent: u64,
    /// Slow readers the server disconnected as too slow (or that found themselves gone).
    pub slow_readers_dropped: u64,
    /// The server's RSS before the attack and at its peak (VmHWM), against the budget.
    pub server_rss_before_bytes: u64,
    pub server_peak_rss_bytes: u64,
    pub memory_budget_bytes: u64,
}

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type Stream = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// The real room: Alice chats to Bob (and deposits); times count from `epoch`.
struct RealRoom {
    alice: Conn,
    bob: Conn,
    keys: MailboxKeys,
    epoch: std::time::Instant,
}

/// What one phase of the real room's chat measured (times in µs).
struct Chat {
    /// Of each chat message Bob got.
    latencies: Vec<u32>,
    /// Deposits stored, and how long each deposit's answer took.
    n_stored: usize,
    deposit_waits: Vec<u32>,
}

/// One connection: its peer id and halves.
struct Conn {
    peer: PeerId,
    sink: Sink,
    stream: Stream,
}

/// Runs the scenario against the server at `addr` (process `pid`, for memory).
pub async fn run(addr: SocketAddr, pid: u32, config: &AbuseConfig) -> anyhow::Result<AbuseResult> {
    let mut result = AbuseResult {
        memory_budget_bytes: config.memory_budget,
        ..AbuseResult::default()
    };
    let real = RoomSecret::from_bytes(*b"confab load abuse: the real room").mailbox_keys();
    // The real room: Alice and Bob, from addresses of their own.
    let mut alice = connect(addr, "203.0.113.1").await?;
    let mut bob = connect(addr, "203.0.113.2").await?;
    join(&mut bob.sink, &mut bob.stream, real.room()).await?;
    join(&mut alice.sink, &mut alice.stream, real.room()).await?;
    let mut room = RealRoom {
        alice,
        bob,
        keys: real,
        epoch: std::time::Instant::now(),
    };

    // Phase 1: the room alone.
    let alone = chat(&mut room, config, false).await?;
    result.chat_delivered_alone = alone.latencies.len();
    (result.chat_p50_ms_alone, result.chat_p99_ms_alone) = percentiles(alone.latencies);
    result.server_rss_before_bytes = proc_stats::rss_bytes(pid)?;

    // Phase 2: the attack, and the room at the same time.
    let stored = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let mut flooders = Vec::new();
    for idx in 0..config.flooders {
        let address = format!(
            "10.{}.{}.{}",
            idx / 65_536,
            (idx / 256) % 256,
            idx % 256 + 1
        );
        let conn = connect(addr, &address).await?;
        let (stored, refused) = (Arc::clone(&stored), Arc::clone(&refused));
        let config = config.clone();
        flooders.push(tokio::spawn(async move {
            flood_mailbox(conn, idx, &config, &stored, &refused).await
        }));
    }
    // Relaying pairs: even flooder addresses relay to a slow reader each.
    for pair in 0..config.flooders / 2 {
        let mut sender =
            connect(addr, &format!("198.18.{}.{}", pair / 256, pair % 256 + 1)).await?;
        let mut reader =
            connect(addr, &format!("198.19.{}.{}", pair / 256, pair % 256 + 1)).await?;
        let mut room = [0u8; 32];
        room[..8].copy_from_slice(&(pair as u64).to_be_bytes());
        room[8] = 0xab;
        let room = RoomId::from_bytes(room);
        join(&mut reader.sink, &mut reader.stream, room).await?;
        join(&mut sender.sink, &mut sender.stream, room).await?;
        let (sent, dropped) = (Arc::clone(&sent), Arc::clone(&dropped));
        let config = config.clone();
        flooders.push(tokio::spawn(async move {
            relay_flood(sender, reader, &config, &sent, &dropped).await
        }));
    }
    let is_attacking = Arc::new(AtomicBool::new(true));
    let sampler = {
        let is_attacking = Arc::clone(&is_attacking);
        tokio::spawn(async move {
            let mut peak = 0;
            while is_attacking.load(Ordering::Relaxed) {
                peak = peak.max(proc_stats::rss_bytes(pid).unwrap_or(0));
                sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let attacked = chat(&mut room, config, true).await?;
    result.chat_delivered_attacked = attacked.latencies.len();
    (result.chat_p50_ms_attacked, result.chat_p99_ms_attacked) = percentiles(attacked.latencies);
    (
        result.deposit_p50_ms_attacked,
        result.deposit_p99_ms_attacked,
    ) = percentiles(attacked.deposit_waits);
    result.real_deposits_attempted = config.real_deposits;
    result.real_deposits_accepted = attacked.n_stored;
    for flooder in flooders {
        let _ = timeout(WAIT * 3, flooder).await;
    }
    is_attacking.store(false, Ordering::Relaxed);
    let sampled = sampler.await.unwrap_or(0);
    result.server_peak_rss_bytes = sampled.max(proc_stats::peak_rss_bytes(pid).unwrap_or(0));
    result.flood_deposits_stored = stored.load(Ordering::Relaxed);
    result.flood_deposits_refused = refused.load(Ordering::Relaxed);
    result.flood_envelopes_sent = sent.load(Ordering::Relaxed);
    result.slow_readers_dropped = dropped.load(Ordering::Relaxed);
    // Bob fetches what Alice deposited.
    result.real_entries_fetched = fetch_all(
        &mut room.bob.sink,
        &mut room.bob.stream,
        room.bob.peer,
        &room.keys,
    )
    .await?;
    Ok(result)
}

/// Alice sends `chat_messages` signals to Bob, one per `chat_every` (and, if `deposit`,
/// a mailbox deposit with each of the first `real_deposits`; a deposit's answer is
/// matched to it by order, as the server answers in request order).
async fn chat(room: &mut RealRoom, config: &AbuseConfig, deposit: bool) -> anyhow::Result<Chat> {
    let RealRoom {
        alice,
        bob,
        keys: real,
        epoch,
    } = room;
    let (bob, bob_stream, epoch) = (bob.peer, &mut bob.stream, *epoch);
    let n_messages = config.chat_messages;
    let n_deposits = if deposit { config.real_deposits } else { 0 };
    let every = config.chat_every;
    let sink = &mut alice.sink;
    let alice_peer = alice.peer;
    let alice_stream = &mut alice.stream;
    let deposits_sent = std::cell::RefCell::new(std::collections::VecDeque::new());
    let send = async {
        for idx in 0..n_messages.max(n_deposits) {
            if idx < n_messages {
                let sent_us = epoch.elapsed().as_micros();
                send(
                    sink,
                    &ClientMessage::Signal {
                        to: bob,
                        data: format!("chat {sent_us}"),
                    },
                )
                .await?;
            }
            if idx < n_deposits {
                let mut nonce = [0u8; 24];
                nonce[..8].copy_from_slice(&(idx as u64).to_be_bytes());
                let entry = real
                    .seal(nonce, format!("real room entry {idx}").as_bytes())
                    .context("sealing")?;
                let proof = real.prove_put(alice_peer, &entry);
                let put = ClientMessage::MailboxPut {
                    room: real.room(),
                    entry,
                    key: real.deposit_key(),
                    proof,
                };
                deposits_sent
                    .borrow_mut()
                    .push_back(std::time::Instant::now());
                send(sink, &put).await?;
            }
            sleep(every).await;
        }
        anyhow::Ok(())
    };
    // Alice's answers: one per deposit.
    let answers = async {
        let (mut n_answered, mut n_stored) = (0, 0);
        let mut waits = Vec::with_capacity(n_deposits);
        while n_answered < n_deposits {
            let is_stored = match next_frame(alice_stream).await? {
                Some(ServerFrame::Mailbox(MailboxReply::MailboxStored { .. })) => true,
                Some(ServerFrame::Server(ServerMessage::Error { .. })) => false,
                Some(_) => continue,
                None => bail!("the real room's depositor was disconnected"),
            };
            n_answered += 1;
            n_stored += usize::from(is_stored);
            if let Some(sent) = deposits_sent.borrow_mut().pop_front() {
                let wait = sent.elapsed().as_micros();
                waits.push(u32::try_from(wait).unwrap_or(u32::MAX));
            }
        }
        anyhow::Ok((n_stored, waits))
    };
    let receive = async {
        let mut latencies = Vec::with_capacity(n_messages);
        while latencies.len() < n_messages {
            match next_frame(bob_stream).await? {
                Some(ServerFrame::Server(ServerMessage::Signal { data, .. })) => {
                    if let Some(sent_us) = data
                        .strip_prefix("chat ")
                        .and_then(|us| us.parse::<u128>().ok())
                    {
                        let latency = epoch.elapsed().as_micros().saturating_sub(sent_us);
                        latencies.push(u32::try_from(latency).unwrap_or(u32::MAX));
                    }
                }
                Some(_) => {}
                None => bail!("the real room's reader was disconnected"),
            }
        }
        anyhow::Ok(latencies)
    };
    let (sent, n_stored, latencies) = tokio::join!(send, answers, receive);
    sent?;
    let (n_stored, deposit_waits) = n_stored?;
    Ok(Chat {
        latencies: latencies?,
        n_stored,
        deposit_waits,
    })
}

/// One flooder: `flood_deposits` deposits into fresh room ids, as fast as answers come.
async fn flood_mailbox(
    mut conn: Conn,
    idx: usize,
    config: &AbuseConfig,
    stored: &AtomicU64,
    refused: &AtomicU64,
) -> anyhow::Result<()> {
    let payload = vec![0x66; config.flood_entry_bytes];
    for n in 0..config.flood_deposits {
        let mut secret = [0xee; 32];
        secret[..8].copy_from_slice(&(idx as u64).to_be_bytes());
        secret[8..16].copy_from_slice(&(n as u64).to_be_bytes());
        let keys = RoomSecret::from_bytes(secret).mailbox_keys();
        let entry = keys.seal([7; 24], &payload).context("sealing")?;
        let proof = keys.prove_put(conn.peer, &entry);
        let put = ClientMessage::MailboxPut {
            room: keys.room(),
            entry,
            key: keys.deposit_key(),
            proof,
        };
        send(&mut conn.sink, &put).await?;
        loop {
            match next_frame(&mut conn.stream).await? {
                Some(ServerFrame::Mailbox(MailboxReply::MailboxStored { .. })) => {
                    stored.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(ServerFrame::Server(ServerMessage::Error { code, .. })) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                    if code == ErrorCode::RateLimited {
                        sleep(Duration::from_millis(500)).await;
                    }
                    break;
                }
                Some(_) => {}
                None => return Ok(()),
            }
        }
    }
    Ok(())
}

/// One relaying pair: the sender relays `flood_envelopes` largest envelopes as fast as
/// it may; the reader reads one frame per `slow_read_every`.
async fn relay_flood(
    mut sender: Conn,
    reader: Conn,
    config: &AbuseConfig,
    sent: &AtomicU64,
    dropped: &AtomicU64,
) -> anyhow::Result<()> {
    let envelope = Envelope {
        direction: Direction::To(reader.peer),
        payload: &vec![0x77; MAX_ENVELOPE_LEN - 10],
    }
    .encode();
    let is_gone = Arc::new(AtomicBool::new(false));
    let slow = {
        let is_gone = Arc::clone(&is_gone);
        let every = config.slow_read_every;
        let mut stream = reader.stream;
        let _sink = reader.sink;
        async move {
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline && !is_gone.load(Ordering::Relaxed) {
                match timeout(every * 4, stream.next()).await {
                    Ok(Some(Ok(_))) => {}
                    Ok(_) => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        is_gone.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(_) => {}
                }
                sleep(every).await;
            }
        }
    };
    let flood = async {
        let deadline = Instant::now() + WAIT;
        let mut replies = sender.stream;
        // Drain the sender's replies (relay-cap, unknown-peer) alongside.
        let drain = async {
            while let Ok(Some(Ok(message))) = timeout(WAIT, replies.next()).await {
                if let Message::Text(text) = message
                    && text.contains("unknown-peer")
                {
                    is_gone.store(true, Ordering::Relaxed);
                }
            }
        };
        let send = async {
            for _ in 0..config.flood_envelopes {
                if Instant::now() > deadline || is_gone.load(Ordering::Relaxed) {
                    break;
                }
                if timeout(WAIT, sender.sink.send(Message::binary(envelope.clone())))
                    .await
                    .map_or(true, |sent| sent.is_err())
                {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            let _ = sender.sink.close().await;
        };
        // Done when the sending is (the drain ends with the connection, or never).
        tokio::select! {
            () = send => {}
            () = drain => {}
        }
        // The slow reader stops too.
        is_gone.store(true, Ordering::Relaxed);
    };
    tokio::join!(slow, flood);
    Ok(())
}

/// Pages of `keys`' room, all of them: how many entries.
async fn fetch_all(
    sink: &mut Sink,
    stream: &mut Stream,
    peer: PeerId,
    keys: &MailboxKeys,
) -> anyhow::Result<usize> {
    let mut after = confab_core::signal::MailboxSeq::new(0);
    let mut n_entries = 0;
    loop {
        let proof = keys.prove_access(peer);
        send(
            sink,
            &ClientMessage::MailboxFetch {
                room: keys.room(),
                after,
                proof,
            },
        )
        .await?;
        loop {
            match next_frame(stream).await? {
                Some(ServerFrame::Mailbox(MailboxReply::MailboxEntries {
                    entries, more, ..
                })) => {
                    n_entries += entries.len();
                    after = entries.last().map_or(after, |item| item.seq);
                    if !more {
                        return Ok(n_entries);
                    }
                    break;
                }
                Some(ServerFrame::Server(ServerMessage::Error { code, message })) => {
                    bail!("fetching the real room: {code:?} {message}")
                }
                Some(_) => {}
                None => bail!("disconnected while fetching"),
            }
        }
    }
}

/// Connects claiming `forwarded_for`, reads the welcome.
async fn connect(addr: SocketAddr, forwarded_for: &str) -> anyhow::Result<Conn> {
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("x-forwarded-for", forwarded_for.parse()?);
    let (socket, _) = timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .context("connecting timed out")??;
    let (sink, mut stream) = socket.split();
    match next_frame(&mut stream).await? {
        Some(ServerFrame::Server(ServerMessage::Welcome { peer, .. })) => {
            Ok(Conn { peer, sink, stream })
        }
        other => bail!("expected welcome, got {other:?}"),
    }
}

async fn join(sink: &mut Sink, stream: &mut Stream, room: RoomId) -> anyhow::Result<()> {
    send(sink, &ClientMessage::Join { room }).await?;
    loop {
        match next_frame(stream).await? {
            Some(ServerFrame::Server(ServerMessage::Joined { .. })) => return Ok(()),
            Some(ServerFrame::Server(ServerMessage::Error { code, message })) => {
                bail!("join: {code:?} {message}")
            }
            Some(_) => {}
            None => bail!("disconnected while joining"),
        }
    }
}

async fn send(sink: &mut Sink, message: &ClientMessage) -> anyhow::Result<()> {
    let text = serde_json::to_string(message)?;
    timeout(WAIT, sink.send(Message::text(text)))
        .await
        .context("sending timed out")??;
    Ok(())
}

/// The next JSON frame; `None` once the connection is over.
async fn next_frame(stream: &mut Stream) -> anyhow::Result<Option<ServerFrame>> {
    loop {
        match timeout(WAIT, stream.next())
            .await
            .context("waiting for the server timed out")?
        {
            Some(Ok(Message::Text(text))) => return Ok(Some(serde_json::from_str(text.as_str())?)),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ok(None),
            Some(Ok(_)) => {}
        }
    }
}

/// (p50, p99) in ms of latencies in µs (nearest rank); zeros for none.
fn percentiles(mut latencies: Vec<u32>) -> (f64, f64) {
    latencies.sort_unstable();
    let at = |fraction: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((fraction * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        f64::from(latencies[rank - 1]) / 1000.0
    };
    (at(0.50), at(0.99))
}
