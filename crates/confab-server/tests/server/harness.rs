//! Test harness: start a server in-process, talk to it as WebSocket and HTTP clients, and
//! check what comes back, never waiting longer than [`WAIT`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use confab_core::signal::{
    ClientMessage, ErrorCode, IceServer, MailboxReply, ServerFrame, ServerMessage,
};
use confab_core::wire::relay::{Direction, Envelope};
use confab_core::{PeerId, RoomId};
use confab_server::Config;
use futures_util::{SinkExt as _, StreamExt as _};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
pub use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// The app's `index.html` in the test `dist` (over 32 bytes, so gzip applies).
pub const INDEX_HTML: &str =
    "<!doctype html><html><head><title>Confab</title></head><body>hello</body></html>\n";
/// A `.wasm` file in the test `dist`.
pub const WASM: &[u8] = b"\0asm\x01\0\0\0";
/// The web app manifest in the test `dist`.
pub const MANIFEST: &str = r#"{"name":"Confab","display":"standalone"}"#;
/// The service worker in the test `dist`.
pub const SERVICE_WORKER: &str = "self.addEventListener('fetch', () => {});\n";

/// A server running in this test's runtime, on a fresh loopback port, serving a temporary
/// `dist`. Dropping it shuts the server down.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dist: TempDir,
    /// The default `--data-dir` (a test may point the config elsewhere).
    _data: TempDir,
}

/// A WebSocket client that has read its welcome.
pub struct Client {
    pub peer: PeerId,
    pub ice_servers: Vec<IceServer>,
    /// The relay byte cap the welcome stated.
    pub relay_bytes_per_sec: u64,
    pub relay_burst_bytes: u64,
    /// The mailbox deposits a minute the welcome stated.
    pub mailbox_puts_per_minute: u32,
    /// The VAPID public key the welcome stated (none: no Web Push).
    pub push_key: Option<String>,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// One thing a client can receive.
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    Server(ServerMessage),
    Mailbox(MailboxReply),
    Binary(Vec<u8>),
    /// A close frame: code and reason.
    Closed(Option<(u16, String)>),
    /// The connection ended without (or after) a close frame, or failed.
    Gone(String),
}

/// A parsed HTTP/1.1 response.
pub struct HttpResponse {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    /// De-chunked, still content-encoded.
    pub body: Vec<u8>,
}

/// A room id made of one repeated byte.
pub fn room(n: u8) -> RoomId {
    RoomId::from_bytes([n; 32])
}

impl TestServer {
    /// A server with the default configuration.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server with the default configuration adjusted by `configure`; its data directory
    /// is a fresh temporary one unless `configure` sets another.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> TestServer {
        init_tracing();
        let dist = tempfile::tempdir().unwrap();
        std::fs::write(dist.path().join("index.html"), INDEX_HTML).unwrap();
        std::fs::write(dist.path().join("x.wasm"), WASM).unwrap();
        std::fs::write(dist.path().join("manifest.webmanifest"), MANIFEST).unwrap();
        std::fs::write(dist.path().join("sw.js"), SERVICE_WORKER).unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut config = Config {
            dist: dist.path().to_owned(),
            data_dir: data.path().to_owned(),
            ..Config::default()
        };
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(confab_server::run(config, listener, shutdown));
        TestServer {
            addr,
            stop: Some(stop),
            task: Some(task),
            _dist: dist,
            _data: data,
        }
    }

    /// A connected client, welcome read.
    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Triggers shutdown and waits for `run` to return; returns how long that took.
    pub async fn shutdown(&mut self) -> Duration {
        let started = Instant::now();
        drop(self.stop.take());
        let task = self.task.take().expect("shut down once");
        let result = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("run returns within 10 s of shutdown")
            .expect("run did not panic");
        result.expect("run returns Ok");
        started.elapsed()
    }

    /// `GET path` with extra request headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_get(self.addr, path, headers).await
    }
}

impl Client {
    /// Connects to `/ws` and reads the welcome.
    pub async fn connect(addr: SocketAddr) -> Client {
        Client::connect_from(addr, None).await
    }

    /// Connects to `/ws` claiming to come from `forwarded_for` (an `X-Forwarded-For`
    /// header, believed by a server with `--trust-forwarded-for`) and reads the welcome.
    pub async fn connect_from(addr: SocketAddr, forwarded_for: Option<&str>) -> Client {
        Client::connect_with(addr, forwarded_for, None).await
    }

    /// Connects to `/ws` with a kernel receive buffer of `receive_buffer` bytes (what
    /// the client has not read then waits in the server) and reads the welcome.
    pub async fn connect_with_receive_buffer(addr: SocketAddr, receive_buffer: u32) -> Client {
        Client::connect_with(addr, None, Some(receive_buffer)).await
    }

    async fn connect_with(
        addr: SocketAddr,
        forwarded_for: Option<&str>,
        receive_buffer: Option<u32>,
    ) -> Client {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        if let Some(forwarded_for) = forwarded_for {
            request
                .headers_mut()
                .insert("x-forwarded-for", forwarded_for.parse().unwrap());
        }
        let tcp = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(receive_buffer) = receive_buffer {
            tcp.set_recv_buffer_size(receive_buffer).unwrap();
        }
        let stream = within("connect", tcp.connect(addr)).await.unwrap();
        let stream = MaybeTlsStream::Plain(stream);
        let (socket, _) = within(
            "handshake",
            tokio_tungstenite::client_async(request, stream),
        )
        .await
        .unwrap();
        let mut client = Client {
            peer: PeerId::new(0),
            ice_servers: Vec::new(),
            relay_bytes_per_sec: 0,
            relay_burst_bytes: 0,
            mailbox_puts_per_minute: 0,
            push_key: None,
            socket,
        };
        match client.recv().await {
            Received::Server(ServerMessage::Welcome {
                peer,
                ice_servers,
                relay_bytes_per_sec,
                relay_burst_bytes,
                mailbox_puts_per_minute,
                push_key,
            }) => {
                client.push_key = push_key;
                client.peer = peer;
                client.ice_servers = ice_servers;
                client.relay_bytes_per_sec = relay_bytes_per_sec;
                client.relay_burst_bytes = relay_burst_bytes;
                client.mailbox_puts_per_minute = mailbox_puts_per_minute;
            }
            other => panic!("expected welcome, got {other:?}"),
        }
        client
    }

    pub async fn send(&mut self, request: &ClientMessage) {
        self.send_text(serde_json::to_string(request).unwrap())
            .await;
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        within("send", self.socket.send(Message::text(text.into())))
            .await
            .unwrap();
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        within("send", self.socket.send(Message::binary(bytes)))
            .await
            .unwrap();
    }

    /// Sends a frame the server may cut off midway; returns the transport error if so.
    pub async fn send_lossy(&mut self, message: Message) -> Result<(), String> {
        within("send", self.socket.send(message))
            .await
            .map_err(|err| err.to_string())
    }

    /// Sends `payload` to `to` in a relay envelope.
    pub async fn relay(&mut self, to: PeerId, payload: &[u8]) {
        self.send_binary(
            Envelope {
                direction: Direction::To(to),
                payload,
            }
            .encode(),
        )
        .await;
    }

    pub async fn join(&mut self, room: RoomId) -> Vec<PeerId> {
        self.send(&ClientMessage::Join { room }).await;
        match self.recv().await {
            Received::Server(ServerMessage::Joined {
                room: joined,
                peers,
            }) if joined == room => peers,
            other => panic!("expected joined {room:?}, got {other:?}"),
        }
    }

    pub async fn leave(&mut self, room: RoomId) {
        self.send(&ClientMessage::Leave { room }).await;
    }

    pub async fn signal(&mut self, to: PeerId, data: &str) {
        self.send(&ClientMessage::Signal {
            to,
            data: data.to_owned(),
        })
        .await;
    }

    /// The next message, skipping pings and pongs.
    pub async fn recv(&mut self) -> Received {
        self.try_recv(WAIT)
            .await
            .unwrap_or_else(|| panic!("nothing received within {WAIT:?}"))
    }

    /// The next message within `wait`, if any.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            return Some(match next {
                None => Received::Gone("end of stream".into()),
                Some(Err(err)) => Received::Gone(err.to_string()),
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str(text.as_str())
                        .unwrap_or_else(|err| panic!("bad server JSON {text}: {err}"))
                    {
                        ServerFrame::Server(message) => Received::Server(message),
                        ServerFrame::Mailbox(reply) => Received::Mailbox(reply),
                    }
                }
                Some(Ok(Message::Binary(bytes))) => Received::Binary(bytes.to_vec()),
                Some(Ok(Message::Close(frame))) => Received::Closed(
                    frame.map(|frame| (u16::from(frame.code), frame.reason.to_string())),
                ),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            });
        }
    }

    /// The next frame as it came, pings and pongs included.
    pub async fn recv_raw(&mut self) -> Message {
        within("recv", self.socket.next()).await.unwrap().unwrap()
    }

    /// Checks that the next message is `expected`.
    pub async fn expect(&mut self, expected: ServerMessage) {
        assert_eq!(
            self.recv().await,
            Received::Server(expected),
            "client {:?}",
            self.peer
        );
    }

    /// Checks that the next message is an error with `code`; returns its text.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        match self.recv().await {
            Received::Server(ServerMessage::Error { code: got, message }) if got == code => message,
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// Checks that the next message is a relay envelope from `from`; returns its payload.
    pub async fn expect_relay_from(&mut self, from: PeerId) -> Vec<u8> {
        match self.recv().await {
            Received::Binary(bytes) => {
                let envelope = Envelope::decode(&bytes).expect("server sends valid envelopes");
                assert_eq!(envelope.direction, Direction::From(from));
                envelope.payload.to_vec()
            }
            other => panic!("expected a relay envelope, got {other:?}"),
        }
    }

    /// Checks that nothing arrives for `wait`.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        if let Some(received) = self.try_recv(wait).await {
            panic!("expected nothing, got {received:?}");
        }
    }

    /// Reads until the connection ends; returns what came before, and the close frame if
    /// one came.
    pub async fn recv_until_closed(&mut self) -> (Vec<Received>, Received) {
        let mut before = Vec::new();
        loop {
            match self.recv().await {
                end @ (Received::Closed(_) | Received::Gone(_)) => return (before, end),
                other => before.push(other),
            }
        }
    }

    /// Sends a close frame and waits for the server's reply.
    pub async fn close(mut self) {
        within("close", self.socket.close(None)).await.unwrap();
        while let Some(Ok(_)) = within("close", self.socket.next()).await {}
    }
}

/// `GET path` over a fresh connection (`Connection: close`).
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut stream = within("http connect", TcpStream::connect(addr))
        .await
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    within("http write", stream.write_all(request.as_bytes()))
        .await
        .unwrap();
    let mut raw = Vec::new();
    within("http read", stream.read_to_end(&mut raw))
        .await
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

impl HttpResponse {
    /// The value of header `name` (lower-case), if present once or more (first wins).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Awaits `future` for at most [`WAIT`], panicking with `what` otherwise.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out after {WAIT:?}"))
}

/// The file's bytes, once it has at least `len` of them (bounded by [`WAIT`]).
pub async fn read_at_least(path: &Path, len: usize) -> Vec<u8> {
    within("record file", async {
        loop {
            let bytes = std::fs::read(path).unwrap_or_default();
            if bytes.len() >= len {
                return bytes;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_line = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("confab_server=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
