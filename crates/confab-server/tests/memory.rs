//! Server heap per idle WebSocket connection, counted by this binary's global allocator.
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

// clippy.toml's allow-*-in-tests covers `#[test]` functions only, not the helpers.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::alloc::System;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroUsize;

use confab_core::RoomId;
use confab_core::signal::ClientMessage;
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

/// Bytes and blocks allocated and not yet freed.
fn live() -> (isize, isize) {
    let stats = ALLOCATOR.stats();
    let bytes = stats.bytes_allocated as isize - stats.bytes_deallocated as isize;
    let blocks = stats.allocations as isize - stats.deallocations as isize;
    (bytes, blocks)
}

#[test]
fn an_idle_joined_connection_costs_little_server_heap() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dist = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        dist: dist.path().to_owned(),
        data_dir: data.path().to_owned(),
        max_connections_per_ip: NonZeroUsize::new(N_WARM_UP + N_MEASURED + 1).unwrap(),
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
    let mut socket = TcpStream::connect(addr).unwrap();
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
    read_until(&mut socket, "welcome");
    join(&mut socket, idx);
    socket
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

/// Reads frames until a text frame of type `kind`, skipping others (`peer-joined`).
fn read_until(socket: &mut TcpStream, kind: &str) {
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
            return;
        }
    }
}
