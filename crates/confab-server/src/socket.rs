//! The WebSocket transport (RFC 6455) of a signalling connection, built to cost nothing
//! while idle.
//!
//! Most connections are idle most of the time: a member waiting in a room. tungstenite
//! (through axum's `ws`) keeps a read buffer, a write buffer and its frame state alive for
//! every connection, whether it reads anything or not, and a buffer grown by one large frame
//! stays grown. Here a connection holds only its socket between messages:
//! - reads go through a chunk on the stack of the poll that reads; bytes that do not make a
//!   whole frame yet move to a heap buffer sized to that frame, freed once it is complete;
//! - a frame to send is written into a heap buffer that is freed once written;
//! - parsing is sans-IO, in [`Decoder`] (`socket/decode.rs`, fuzzed): tungstenite's frame
//!   header codec ([`FrameHeader`]), limits, unmasking, reassembly of fragments, checks on
//!   control frames; this module does the I/O, hands pings to its caller to answer (so
//!   they count against its limits) and runs the close handshake.
//!
//! The handshake ([`Upgrade`]) answers a valid HTTP/1.1 upgrade with 101 and
//! `Sec-WebSocket-Accept`, and takes the connection from hyper once the response is out.
//! No extension (compression) and no subprotocol is negotiated.
//!
//! Both [`Socket::recv`] and [`Socket::send`] are cancel-safe: every byte read is kept in the
//! socket before the read returns, and a half-written frame stays queued, to go out first on
//! the next call.

mod decode;

use std::future::{Future, poll_fn};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::debug;
use tungstenite::Utf8Bytes;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

pub use decode::{Decoded, Decoder};

/// Bytes one read takes from the socket, on the reading poll's stack.
const READ_CHUNK: usize = 8 * 1024;
/// The longest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_LEN: u64 = 125;

/// A whole message, received or to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Text(Utf8Bytes),
    Binary(Bytes),
    /// A ping received, with its payload (at most 125 bytes). The receiver decides whether
    /// it is answered ([`Socket::pong`]), so pings count against its limits like any frame.
    Ping(Bytes),
}

impl Message {
    pub(crate) fn text(text: impl Into<Utf8Bytes>) -> Message {
        Message::Text(text.into())
    }

    pub(crate) fn binary(bytes: impl Into<Bytes>) -> Message {
        Message::Binary(bytes.into())
    }

    /// The payload's length in bytes.
    pub(crate) fn payload_len(&self) -> usize {
        self.opcode_and_payload().1.len()
    }

    fn opcode_and_payload(&self) -> (OpCode, &[u8]) {
        match self {
            Message::Text(text) => (OpCode::Data(Data::Text), text.as_bytes()),
            Message::Binary(bytes) => (OpCode::Data(Data::Binary), bytes),
            Message::Ping(bytes) => (OpCode::Control(Control::Ping), bytes),
        }
    }
}

/// Why reading or writing failed; the connection is over after any of these.
#[derive(Debug)]
pub enum Error {
    /// The socket failed.
    Io(std::io::Error),
    /// A frame or a reassembled message longer than the socket's limit.
    TooBig,
    /// Invalid framing: unmasked, reserved bits or opcodes, a bad control frame or close
    /// payload, a continuation out of place.
    Protocol(&'static str),
    /// A text message that is not UTF-8.
    InvalidUtf8,
    /// A close frame was already sent or received; nothing more may be sent.
    Closed,
}

/// One upgraded WebSocket connection, server side (over any byte stream in tests).
pub(crate) struct Socket<Io = TokioIo<Upgraded>> {
    io: Io,
    /// Bytes read and not yet a whole frame, and a fragmented message being reassembled.
    decoder: Decoder,
    /// Frames not yet (wholly) written, from `written` on. Freed once written.
    output: Vec<u8>,
    written: usize,
    /// All output was written; the stream's own flush is still due.
    needs_flush: bool,
    is_close_sent: bool,
    is_close_received: bool,
}

/// What parsing the buffered input gave.
enum Step {
    Message(Message),
    /// A control frame or a fragment was handled; parse on.
    Handled,
    /// The buffered input is not a whole frame.
    NeedMore,
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Socket<Io> {
    fn new(io: Io, max_len: usize) -> Socket<Io> {
        Socket {
            io,
            decoder: Decoder::new(max_len),
            output: Vec::new(),
            written: 0,
            needs_flush: false,
            is_close_sent: false,
            is_close_received: false,
        }
    }

    /// The next text, binary or ping message; `None` once the close handshake is over or
    /// the peer's end of the stream arrived. Pongs are dropped on the way.
    pub(crate) async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`Socket::recv`] as a poll, for a task that waits on other things too: waiting
    /// holds nothing but the task's waker at the socket.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        loop {
            // Replies (a pong, our half of the close handshake) go out before we read on.
            if let Err(err) = ready!(self.poll_flush(cx)) {
                return Poll::Ready(Some(Err(err)));
            }
            if self.is_close_received {
                return Poll::Ready(None);
            }
            match self.parse() {
                Err(err) => return Poll::Ready(Some(Err(err))),
                Ok(Step::Message(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(Step::Handled) => continue,
                Ok(Step::NeedMore) => {}
            }
            match ready!(self.poll_read(cx)) {
                Ok(0) => return Poll::Ready(None),
                Ok(_) => {}
                Err(err) => return Poll::Ready(Some(Err(Error::Io(err)))),
            }
        }
    }

    /// Sends one message, unfragmented.
    pub(crate) async fn send(&mut self, message: &Message) -> Result<(), Error> {
        if self.is_close_sent || self.is_close_received {
            return Err(Error::Closed);
        }
        let (opcode, payload) = message.opcode_and_payload();
        self.queue(opcode, &[payload]);
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Answers a ping with its `payload`: the pong goes out before anything else is read
    /// (and with the next message sent). None once our close frame is out.
    pub(crate) fn pong(&mut self, payload: &[u8]) {
        if !self.is_close_sent {
            let payload = &payload[..payload.len().min(MAX_CONTROL_LEN as usize)];
            self.queue(OpCode::Control(Control::Pong), &[payload]);
        }
    }

    /// Sends a close frame with `code` and `reason` (at most 123 bytes; longer is cut).
    /// Afterwards [`Socket::recv`] reads on until the peer's close frame, then ends.
    pub(crate) async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        if self.is_close_sent || self.is_close_received {
            return Err(Error::Closed);
        }
        let reason = cut_to_char_boundary(reason, MAX_CONTROL_LEN as usize - 2);
        self.queue(
            OpCode::Control(Control::Close),
            &[&code.to_be_bytes(), reason.as_bytes()],
        );
        self.is_close_sent = true;
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Appends one unmasked final frame made of `parts` to the output.
    fn queue(&mut self, opcode: OpCode, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        let header = FrameHeader {
            opcode,
            ..FrameHeader::default()
        };
        let len64 = len as u64;
        self.output.reserve_exact(header.len(len64) + len);
        // Writing into a Vec cannot fail.
        let _ = header.format(len64, &mut self.output);
        for part in parts {
            self.output.extend_from_slice(part);
        }
    }

    /// Writes the queued output, and frees it once written.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while self.written < self.output.len() {
            let io = Pin::new(&mut self.io);
            match ready!(io.poll_write(cx, &self.output[self.written..])) {
                Ok(0) => {
                    let err = std::io::Error::from(std::io::ErrorKind::WriteZero);
                    return Poll::Ready(Err(Error::Io(err)));
                }
                Ok(n) => self.written += n,
                Err(err) => return Poll::Ready(Err(Error::Io(err))),
            }
        }
        if !self.output.is_empty() {
            self.output = Vec::new();
            self.written = 0;
            self.needs_flush = true;
        }
        if self.needs_flush {
            ready!(Pin::new(&mut self.io).poll_flush(cx)).map_err(Error::Io)?;
            self.needs_flush = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Reads what the socket has (at most [`READ_CHUNK`] bytes) onto the input; 0 at the
    /// end of the stream. The chunk lives only in this call: waiting holds nothing.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        self.decoder.extend(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    }

    /// Acts on the first whole frame of the input, if there is one: runs the close
    /// handshake, returns a message or a ping.
    fn parse(&mut self) -> Result<Step, Error> {
        match self.decoder.decode()? {
            None => Ok(Step::NeedMore),
            Some(Decoded::Message(message)) => Ok(Step::Message(message)),
            // The caller answers it (`pong`), or not: a flood of pings is rate-limited
            // like any other frame.
            Some(Decoded::Ping(payload)) => Ok(Step::Message(Message::Ping(payload.into()))),
            Some(Decoded::Pong | Decoded::Fragment) => Ok(Step::Handled),
            Some(Decoded::Close(code)) => {
                self.is_close_received = true;
                if !self.is_close_sent {
                    // Our half of the handshake echoes the peer's code (RFC 6455 §5.5.1).
                    let code = code.map(u16::to_be_bytes);
                    let code: &[u8] = code.as_ref().map_or(&[], |code| &code[..]);
                    self.queue(OpCode::Control(Control::Close), &[code]);
                    self.is_close_sent = true;
                }
                Ok(Step::Handled)
            }
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
fn cut_to_char_boundary(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A WebSocket upgrade request, checked (HTTP/1.1 `GET`, `Connection: upgrade`,
/// `Upgrade: websocket`, version 13, a key).
pub(crate) struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Upgrade, Response> {
        let refuse = |status: StatusCode, why: &'static str| (status, why).into_response();
        if parts.method != Method::GET {
            return Err(refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket upgrade is a GET",
            ));
        }
        if !header_has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !header_has_token(&parts.headers, header::UPGRADE, "websocket")
        {
            return Err(refuse(
                StatusCode::UPGRADE_REQUIRED,
                "this is a WebSocket endpoint",
            ));
        }
        if !header_has_token(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "only WebSocket version 13 is spoken",
            ));
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key is missing",
            ));
        };
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(refuse(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded",
            ));
        };
        Ok(Upgrade { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers 101 and, once the connection is ours, runs `serve` on it in a task of its
    /// own. `max_len` bounds frames and messages read.
    pub(crate) fn on_upgrade<F, Fut>(self, max_len: usize, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Upgrade { key, on_upgrade } = self;
        tokio::spawn(async move {
            match on_upgrade.await {
                // A task of its own: this one's captures would stay in it.
                Ok(upgraded) => {
                    tokio::spawn(serve(Socket::new(TokioIo::new(upgraded), max_len)));
                }
                Err(err) => debug!(%err, "websocket upgrade failed"),
            }
        });
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// Whether a comma-separated header `name` lists `token` (ASCII case-insensitive).
fn header_has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream, duplex};

    use super::*;

    const MAX_LEN: usize = 100_000;
    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    fn pair() -> (Socket<DuplexStream>, DuplexStream) {
        let (server, client) = duplex(1 << 20);
        (Socket::new(server, MAX_LEN), client)
    }

    /// A client frame: `first` is FIN/RSV/opcode, masked unless `is_masked` is false.
    fn frame(first: u8, payload: &[u8], is_masked: bool) -> Vec<u8> {
        let mut out = vec![first];
        let mask_bit = if is_masked { 0x80 } else { 0 };
        match payload.len() {
            len if len < 126 => out.push(mask_bit | len as u8),
            len if len < 1 << 16 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if is_masked {
            out.extend_from_slice(&MASK);
            out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// One server frame: its first byte and payload.
    async fn read_frame(client: &mut DuplexStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        client.read_exact(&mut head).await.unwrap();
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7f {
            126 => usize::from(client.read_u16().await.unwrap()),
            127 => client.read_u64().await.unwrap() as usize,
            len => usize::from(len),
        };
        let mut payload = vec![0; len];
        client.read_exact(&mut payload).await.unwrap();
        (head[0], payload)
    }

    async fn recv_error(bytes: &[u8]) -> Error {
        let (mut socket, mut client) = pair();
        client.write_all(bytes).await.unwrap();
        match socket.recv().await {
            Some(Err(err)) => err,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_message_trickling_in_arrives_whole_and_leaves_no_buffer_behind() {
        let (mut socket, mut client) = pair();
        let text = "é".repeat(5_000);
        let bytes = frame(0x81, text.as_bytes(), true);
        let writer = tokio::spawn(async move {
            for chunk in bytes.chunks(7) {
                client.write_all(chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
            client
        });
        let received = socket.recv().await.unwrap().unwrap();
        assert_eq!(received, Message::text(text));
        assert_eq!(
            (socket.decoder.capacity(), socket.output.capacity()),
            (0, 0)
        );
        let mut client = writer.await.unwrap();

        socket.send(&Message::binary(vec![7; 300])).await.unwrap();
        assert_eq!(socket.output.capacity(), 0);
        assert_eq!(read_frame(&mut client).await, (0x82, vec![7; 300]));
    }

    #[tokio::test]
    async fn long_frames_and_several_frames_in_one_read() {
        let (mut socket, mut client) = pair();
        let long = vec![3; 70_000];
        let mut bytes = frame(0x82, &long, true);
        bytes.extend(frame(0x81, b"a", true));
        bytes.extend(frame(0x81, b"", true));
        client.write_all(&bytes).await.unwrap();
        assert_eq!(socket.recv().await.unwrap().unwrap(), Message::binary(long));
        assert_eq!(socket.recv().await.unwrap().unwrap(), Message::text("a"));
        assert_eq!(socket.recv().await.unwrap().unwrap(), Message::text(""));
        assert_eq!(socket.decoder.capacity(), 0);
    }

    #[tokio::test]
    async fn fragments_are_reassembled_and_a_ping_between_them_is_answered_when_asked() {
        let (mut socket, mut client) = pair();
        let mut bytes = frame(0x01, "héllo, ".as_bytes(), true);
        bytes.extend(frame(0x89, b"are you there", true));
        bytes.extend(frame(0x00, b"wor", true));
        bytes.extend(frame(0x80, b"ld", true));
        client.write_all(&bytes).await.unwrap();
        let ping = socket.recv().await.unwrap().unwrap();
        assert_eq!(ping, Message::Ping(Bytes::from_static(b"are you there")));
        socket.pong(b"are you there");
        let received = socket.recv().await.unwrap().unwrap();
        assert_eq!(received, Message::text("héllo, world"));
        assert_eq!(socket.decoder.capacity(), 0, "no fragment left behind");
        assert_eq!(
            read_frame(&mut client).await,
            (0x8a, b"are you there".to_vec())
        );
    }

    #[tokio::test]
    async fn the_peers_close_is_echoed_and_ends_the_stream() {
        let (mut socket, mut client) = pair();
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        client
            .write_all(&frame(0x88, &payload, true))
            .await
            .unwrap();
        assert!(socket.recv().await.is_none());
        assert_eq!(read_frame(&mut client).await, (0x88, vec![0x03, 0xe8]));
        assert!(matches!(
            socket.send(&Message::text("late")).await,
            Err(Error::Closed)
        ));
    }

    #[tokio::test]
    async fn our_close_is_answered_and_then_the_stream_ends() {
        let (mut socket, mut client) = pair();
        socket.close(1008, "too slow to receive").await.unwrap();
        let (first, payload) = read_frame(&mut client).await;
        assert_eq!(first, 0x88);
        assert_eq!(&payload[..2], 1008u16.to_be_bytes());
        assert_eq!(&payload[2..], b"too slow to receive");
        // Data before the peer's close is still read; the close ends it, unanswered.
        let mut bytes = frame(0x82, b"in flight", true);
        bytes.extend(frame(0x88, &1008u16.to_be_bytes(), true));
        client.write_all(&bytes).await.unwrap();
        assert_eq!(
            socket.recv().await.unwrap().unwrap(),
            Message::binary(&b"in flight"[..])
        );
        assert!(socket.recv().await.is_none());
        drop(socket);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"", "nothing after our close frame");
    }

    #[tokio::test]
    async fn the_end_of_the_stream_ends_recv() {
        let (mut socket, client) = pair();
        drop(client);
        assert!(socket.recv().await.is_none());
    }

    #[tokio::test]
    async fn bad_frames_are_refused_with_the_reason() {
        let protocol = |bytes: Vec<u8>, why: &'static str| (bytes, why);
        let mut ping_then_more = frame(0x09, b"", true);
        ping_then_more.extend(frame(0x80, b"", true));
        let mut two_starts = frame(0x01, b"a", true);
        two_starts.extend(frame(0x81, b"b", true));
        for (bytes, why) in [
            protocol(frame(0x81, b"x", false), "unmasked client frame"),
            protocol(frame(0xc1, b"x", true), "reserved bits set"),
            protocol(frame(0x83, b"x", true), "invalid opcode"),
            protocol(frame(0x8b, b"x", true), "invalid opcode"),
            protocol(frame(0x80, b"x", true), "continuation of nothing"),
            protocol(two_starts, "a new message inside a fragmented one"),
            protocol(ping_then_more, "fragmented or long control frame"),
            protocol(
                frame(0x89, &[0; 126], true),
                "fragmented or long control frame",
            ),
            protocol(frame(0x88, &[3], true), "one-byte close payload"),
            protocol(
                frame(0x88, &1005u16.to_be_bytes(), true),
                "close code not allowed",
            ),
        ] {
            match recv_error(&bytes).await {
                Error::Protocol(got) => assert_eq!(got, why),
                other => panic!("{why}: got {other:?}"),
            }
        }
        for bytes in [
            frame(0x81, &[0xff, 0xfe], true),
            frame(0x88, &[0x03, 0xe8, 0xff], true),
        ] {
            assert!(matches!(recv_error(&bytes).await, Error::InvalidUtf8));
        }
    }

    #[tokio::test]
    async fn too_long_frames_and_messages_are_refused_from_the_header_alone() {
        // Only the header of a frame one byte over the limit: refused, nothing reserved.
        let header = &frame(0x82, &vec![0; MAX_LEN + 1], true)[..14];
        let (mut socket, mut client) = pair();
        client.write_all(header).await.unwrap();
        assert!(matches!(socket.recv().await, Some(Err(Error::TooBig))));
        assert!(
            socket.decoder.capacity() < 1024,
            "{}",
            socket.decoder.capacity()
        );

        let half = vec![0; MAX_LEN / 2 + 1];
        let mut bytes = frame(0x02, &half, true);
        bytes.extend(frame(0x80, &half, true));
        assert!(matches!(recv_error(&bytes).await, Error::TooBig));
    }

    #[test]
    fn close_reasons_are_cut_on_a_char_boundary() {
        assert_eq!(cut_to_char_boundary("abc", 5), "abc");
        assert_eq!(cut_to_char_boundary("aéb", 2), "a");
        assert_eq!(cut_to_char_boundary("aéb", 3), "aé");
    }
}
