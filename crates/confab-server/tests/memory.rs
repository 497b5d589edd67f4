//! Server heap per idle WebSocket connection, and per connection relaying to a recipient
//! that never reads, counted by this binary's global allocator.
//!
//! A server runs in-process; plain blocking sockets on the test's thread connect to it,
//! upgrade, read their welcome and join rooms of five, as the load benchmark's idle run
//! does. The live heap before and after N such connections, divided by N, is what one idle
//! joined connection costs the server (the clients' own allocations are transient: their
//! sockets are file descriptors and every buffer is on the stack). Nothing here waits on a
//! clock: every connection makes one more round trip before the second reading, so each
//! connection task has handled everything it was sent and is back to waiting.
//!
//! A connection costs about 1.2 KiB (its task, about 500 bytes; tokio's registration of the
//! socket, 256; its queue; hyper's box around the socket; its place in the hub's tables).
//! The bound leaves room for that, and catches what used to cost more: a socket buffer
//! kept while idle (tungstenite's, 1 KiB at the least, 128 KiB by default), a `Notify` or
//! channel per connection, a request handler's future inline in the task, or a future that
//! holds a copy of its arguments (5 KiB before `src/socket.rs`).
//!
//! With the default limits, two dozen senders relaying as fast as they may to recipients
//! that never read add about 0.3 MiB of heap each (up to about 11 MiB before queues were
//! bounded in bytes as well as messages).

// clippy.toml's allow-*-in-tests covers `#[test]` functions only, not the helpers.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::alloc::System;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroUsize;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use confab_core::PeerId;
use confab_core::RoomId;
use confab_core::signal::{ClientMessage, ServerMessage};
use confab_core::wire::relay::{Direction, Envelope, MAX_ENVELOPE_LEN};
use confab_server::Config;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// Connections opened before the first reading (lazily built server state).
const N_WARM_UP: usize = 20;
/// Connections measured.
const N_MEASURED: usize = 500;
const ROOM_SIZE: usize = 5;
/// Server heap one idle joined connection may cost.
const MAX_BYTES_PER_CONNECTION: isize = 2 * 1024;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The heap is one for the whole binary: tests measure it one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Bytes and blocks allocated and not yet freed.
fn live() -> (isize, isize) {
    let stats = ALLOCATOR.stats();
    let bytes = stats.bytes_allocated as isize - stats.bytes_deallocated as isize;
    let blocks = stats.allocations as isize - stats.deallocations as isize;
    (bytes, blocks)
}

/// Senders relaying to recipients that never read.
const N_SLOW_PAIRS: usize = 24;
/// The longest a sender floods: until then, as fast as it may, until its recipient is gone.
const FLOOD_DEADLINE: Duration = Duration::from_secs(30);
/// Server heap one such pair may add at its peak, with the defaults: the recipient's
/// queue (`--queue-bytes-per-connection`, 1 MiB) and a frame or two in flight. Before the
/// queues were bounded in bytes, what the kernel did not take waited in the heap until a
/// write had blocked for 10 s: 1.9 to 2.7 MiB a pair on a loaded 2-core machine, about 11
/// where the server relays faster.
const MAX_BYTES_PER_SLOW_PAIR: isize = 3 * 1024 * 1024 / 2;
/// How long after the flood every stuck recipient must have been disconnected: the
/// default `--queue-stall` and a margin for a loaded machine.
const STUCK_COUNTED_WITHIN: Duration = Duration::from_secs(45);
/// The receive buffer of a recipient that never reads.
const RECIPIENT_RCVBUF: usize = 64 * 1024;

/// A server on 127.0.0.1 with the defaults (but enough connections per address), in
/// `runtime`; sending on the returned channel (or dropping it) stops it.
fn start_server(
    runtime: &tokio::runtime::Runtime,
    max_connections: usize,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
    [tempfile::TempDir; 2],
) {
    let dist = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        dist: dist.path().to_owned(),
        data_dir: data.path().to_owned(),
        max_connections_per_ip: NonZeroUsize::new(max_connections).unwrap(),
        ..Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, server) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = async move {
            let _ = stopped.await;
        };
        (
            addr,
            tokio::spawn(confab_server::run(config, listener, shutdown)),
        )
    });
    (addr, stop, server, [dist, data])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn relaying_to_recipients_that_never_read_costs_a_bounded_heap() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|err| err.into_inner());
    let runtime = runtime();
    let (addr, stop, server, _dirs) = start_server(&runtime, 2 * N_SLOW_PAIRS + 1);
    let mut pairs = Vec::new();
    for idx in 0..N_SLOW_PAIRS {
        // The recipient joins first and never reads again. Its receive buffer is small
        // (the kernel would otherwise take up to tcp_rmem's maximum, 32 MiB here, off
        // the server's hands), so the flood waits in the server.
        let (mut recipient, recipient_peer) = connect_with(addr, Some(RECIPIENT_RCVBUF));
        join(&mut recipient, 1000 + idx);
        let (mut sender, _) = connect(addr);
        join(&mut sender, 1000 + idx);
        pairs.push((sender, recipient, recipient_peer));
    }
    let baseline = live().0;
    let is_flooding = Arc::new(AtomicBool::new(true));
    let sampler = {
        let is_flooding = Arc::clone(&is_flooding);
        std::thread::spawn(move || {
            let mut peak = live().0;
            while is_flooding.load(Ordering::Relaxed) {
                peak = peak.max(live().0);
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let payload = vec![0x5a; MAX_ENVELOPE_LEN - 10];
    let senders: Vec<_> = pairs
        .into_iter()
        .map(|(mut sender, recipient, to)| {
            let frame = masked_binary(
                &Envelope {
                    direction: Direction::To(to),
                    payload: &payload,
                }
                .encode(),
            );
            std::thread::spawn(move || {
                // The sender reads what the server says: `unknown-peer` once its recipient
                // is gone (disconnected as too slow), and it stops.
                let is_recipient_gone = Arc::new(AtomicBool::new(false));
                let reader = {
                    let mut socket = sender.try_clone().unwrap();
                    let is_recipient_gone = Arc::clone(&is_recipient_gone);
                    std::thread::spawn(move || {
                        while let Some(text) = read_text(&mut socket) {
                            if text.contains("unknown-peer") {
                                is_recipient_gone.store(true, Ordering::Relaxed);
                            }
                        }
                    })
                };
                let started = Instant::now();
                while started.elapsed() < FLOOD_DEADLINE
                    && !is_recipient_gone.load(Ordering::Relaxed)
                {
                    if sender.write_all(&frame).is_err() {
                        break;
                    }
                }
                (sender, recipient, reader)
            })
        })
        .collect();
    let sockets: Vec<_> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    // What the kernel holds on the way in is still being relayed: wait until the heap
    // stops growing (at most 10 s).
    let settled_by = Instant::now() + Duration::from_secs(10);
    let mut last = live().0;
    while Instant::now() < settled_by {
        std::thread::sleep(Duration::from_millis(500));
        let now = live().0;
        if now < last + 64 * 1024 {
            break;
        }
        last = now;
    }
    is_flooding.store(false, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let per_pair = (peak - baseline) / N_SLOW_PAIRS as isize;
    eprintln!(
        "server heap at its peak per sender relaying to a recipient that never reads: \
         {per_pair} bytes ({:.1} MiB)",
        per_pair as f64 / (1024.0 * 1024.0)
    );
    // Disconnected as stuck: a write blocked for 10 s, or its queue made no progress for
    // the stall time, whichever comes first (a full queue alone drops what does not fit).
    // Senders may be closed for flooding before then, so the count is read until every
    // recipient is in it, for at most the stall time and a margin.
    let n_closed = |metrics: &str, reason: &str| {
        let line = format!("confab_connections_closed_total{{reason=\"{reason}\"}} ");
        metrics
            .lines()
            .find_map(|text| text.strip_prefix(line.as_str()))
            .map_or(0, |n| n.trim().parse::<usize>().unwrap())
    };
    let n_stuck =
        |metrics: &str| n_closed(metrics, "too-slow") + n_closed(metrics, "send-timed-out");
    let counted_by = Instant::now() + STUCK_COUNTED_WITHIN;
    let mut metrics = http_get(addr, "/metrics");
    while n_stuck(&metrics) < N_SLOW_PAIRS && Instant::now() < counted_by {
        std::thread::sleep(Duration::from_millis(250));
        metrics = http_get(addr, "/metrics");
    }
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|(sender, recipient, reader)| {
            let _ = sender.shutdown(std::net::Shutdown::Both);
            drop(recipient);
            reader
        })
        .collect();
    for reader in readers {
        reader.join().unwrap();
    }
    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
    assert_eq!(
        n_stuck(&metrics),
        N_SLOW_PAIRS,
        "every recipient that never reads is disconnected as stuck:\n{metrics}"
    );
    assert!(
        per_pair <= MAX_BYTES_PER_SLOW_PAIR,
        "a sender relaying to a recipient that never reads adds {per_pair} bytes of server \
         heap (at most {MAX_BYTES_PER_SLOW_PAIR})"
    );
}

#[test]
fn an_idle_joined_connection_costs_little_server_heap() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|err| err.into_inner());
    let runtime = runtime();
    let (addr, stop, server, _dirs) = start_server(&runtime, N_WARM_UP + N_MEASURED + 1);

    let mut sockets = Vec::with_capacity(N_WARM_UP + N_MEASURED);
    for idx in 0..N_WARM_UP {
        sockets.push(connect_and_join(addr, idx));
    }
    settle(&mut sockets);
    let before = live();
    for idx in N_WARM_UP..N_WARM_UP + N_MEASURED {
        sockets.push(connect_and_join(addr, idx));
    }
    settle(&mut sockets);
    let after = live();

    let per_connection = (after.0 - before.0) / N_MEASURED as isize;
    let blocks_per_connection = (after.1 - before.1) as f64 / N_MEASURED as f64;
    eprintln!(
        "server heap per idle joined connection: {per_connection} bytes \
         in {blocks_per_connection:.1} allocations"
    );
    drop(sockets);
    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
    assert!(
        per_connection <= MAX_BYTES_PER_CONNECTION,
        "an idle joined connection costs {per_connection} bytes of server heap \
         (at most {MAX_BYTES_PER_CONNECTION})"
    );
}

/// Connection `idx`: upgraded, welcome read, in room `idx / ROOM_SIZE` (`joined` read).
fn connect_and_join(addr: SocketAddr, idx: usize) -> TcpStream {
    let (mut socket, _) = connect(addr);
    join(&mut socket, idx);
    socket
}

/// A connection, upgraded, welcome read: the socket and its peer id.
fn connect(addr: SocketAddr) -> (TcpStream, PeerId) {
    connect_with(addr, None)
}

/// [`connect`], with a receive buffer of `rcvbuf` bytes if given.
fn connect_with(addr: SocketAddr, rcvbuf: Option<usize>) -> (TcpStream, PeerId) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(rcvbuf) = rcvbuf {
        socket.set_recv_buffer_size(rcvbuf).unwrap();
    }
    socket.connect(&addr.into()).unwrap();
    let mut socket = TcpStream::from(socket);
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 1024];
    let mut len = 0;
    while !head[..len].ends_with(b"\r\n\r\n") {
        assert!(len < head.len(), "response head too long");
        socket.read_exact(&mut head[len..=len]).unwrap();
        len += 1;
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "upgrade refused");
    let welcome = read_until(&mut socket, "welcome");
    match serde_json::from_str(&welcome).unwrap() {
        ServerMessage::Welcome { peer, .. } => (socket, peer),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// `payload` as one masked binary frame (64-bit length).
fn masked_binary(payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&MASK);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ MASK[i % 4]),
    );
    frame
}

/// One more round trip on every connection: afterwards each connection task has sent
/// everything queued for it (peers joining after it) and handled all its input.
fn settle(sockets: &mut [TcpStream]) {
    for (idx, socket) in sockets.iter_mut().enumerate() {
        join(socket, idx);
    }
}

fn join(socket: &mut TcpStream, idx: usize) {
    let mut room = [0u8; 32];
    room[..8].copy_from_slice(&(idx / ROOM_SIZE).to_be_bytes());
    let room = RoomId::from_bytes(room);
    let text = serde_json::to_string(&ClientMessage::Join { room }).unwrap();
    send_text(socket, text.as_bytes());
    read_until(socket, "joined");
}

/// A masked text frame (payloads under 64 KiB).
fn send_text(socket: &mut TcpStream, payload: &[u8]) {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = [0u8; 1024];
    frame[0] = 0x81;
    let mut at = if payload.len() < 126 {
        frame[1] = 0x80 | payload.len() as u8;
        2
    } else {
        frame[1] = 0x80 | 126;
        frame[2..4].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        4
    };
    frame[at..at + 4].copy_from_slice(&MASK);
    at += 4;
    for (i, byte) in payload.iter().enumerate() {
        frame[at + i] = byte ^ MASK[i % 4];
    }
    socket.write_all(&frame[..at + payload.len()]).unwrap();
}

/// The body of `GET path` (HTTP/1.1, `Connection: close`).
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    response
}

/// The next text frame's text, skipping other frames; `None` once the connection ends.
fn read_text(socket: &mut TcpStream) -> Option<String> {
    loop {
        let mut header = [0u8; 2];
        socket.read_exact(&mut header).ok()?;
        let len = match header[1] & 0x7f {
            126 => {
                let mut len = [0u8; 2];
                socket.read_exact(&mut len).ok()?;
                u64::from(u16::from_be_bytes(len))
            }
            127 => {
                let mut len = [0u8; 8];
                socket.read_exact(&mut len).ok()?;
                u64::from_be_bytes(len)
            }
            len => u64::from(len),
        };
        let mut payload = vec![0u8; usize::try_from(len).ok()?];
        socket.read_exact(&mut payload).ok()?;
        match header[0] & 0x0f {
            0x1 => return String::from_utf8(payload).ok(),
            0x8 => return None,
            _ => {}
        }
    }
}

/// Reads frames until a text frame of type `kind`, skipping others (`peer-joined`);
/// returns it.
fn read_until(socket: &mut TcpStream, kind: &str) -> String {
    let tag = format!(r#""type":"{kind}""#);
    let mut payload = [0u8; 4096];
    loop {
        let mut header = [0u8; 2];
        socket.read_exact(&mut header).unwrap();
        assert_eq!(header[0], 0x81, "expected an unfragmented text frame");
        let len = match header[1] {
            126 => {
                let mut len = [0u8; 2];
                socket.read_exact(&mut len).unwrap();
                usize::from(u16::from_be_bytes(len))
            }
            len if len < 126 => usize::from(len),
            _ => panic!("unexpectedly long frame"),
        };
        let payload = &mut payload[..len];
        socket.read_exact(payload).unwrap();
        let text = std::str::from_utf8(payload).unwrap();
        if text.contains(&tag) {
            return text.to_owned();
        }
    }
}
