//! A push service stand-in on loopback, for Web Push end to end in Firefox: Firefox's push
//! client speaks Mozilla's autopush WebSocket protocol to it (`dom.push.serverURL`), and
//! the Confab server POSTs pushes to the endpoints it hands out (RFC 8030, RFC 8292).
//!
//! - **WebSocket side** (as `PushServiceWebSocket.sys.mjs` in Firefox 153 expects):
//!   `hello` is answered with the browser's user agent id (a new one if it sent none) and
//!   `use_webpush: true`, so Firefox makes encryption keys for each subscription;
//!   `register` gets a channel's endpoint `http://<addr>/wpush/<channelID>`; `unregister`
//!   forgets the channel; `{}` (ping) is answered `{}`; `ack` and `nack` are recorded.
//! - **HTTP side**: one request per connection (the Confab server makes one per push).
//!   A POST to a registered channel's endpoint must carry `TTL`, `Content-Encoding:
//!   aes128gcm` and `Authorization: vapid t=<JWT>, k=<key>` whose key is the one the
//!   channel was registered with and whose JWT names this service as its audience; it is
//!   answered 201 and its body goes to Firefox unchanged as a `notification` (base64url
//!   `data`, `headers: {encoding: "aes128gcm"}`). Nothing is decrypted here: Firefox
//!   decrypts, and acks 100 if its service worker got the push, 101 if decryption failed.
//!   A malformed POST is answered 400, an unknown channel 404, an expired one
//!   ([`PushService::expire`]) 410; every POST is recorded with its answer.
//!
//! Bounded: one browser connection at a time (a newer one replaces it), request heads of
//! at most 16 KiB, bodies of at most 4 KiB (RFC 8030's floor for push services), at most
//! [`MAX_UNACKED`] notifications waiting for an ack (more are answered 429).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

/// Notifications sent to Firefox and not yet acked, at most.
pub const MAX_UNACKED: usize = 64;
/// The largest push body taken (RFC 8030 section 7.2: at least 4096 bytes).
const MAX_BODY_LEN: usize = 4096;
/// The largest request head taken.
const MAX_HEAD_LEN: usize = 16 * 1024;

/// A running stand-in; its listeners stop when it is dropped.
pub struct PushService {
    /// `ws://127.0.0.1:PORT/`, for Firefox's `dom.push.serverURL`.
    pub ws_url: String,
    state: Arc<Mutex<State>>,
    tasks: Vec<JoinHandle<()>>,
}

/// One POST the stand-in took from an application server.
#[derive(Clone, Debug)]
pub struct Post {
    /// The channel its path named.
    pub channel: String,
    /// What the stand-in answered.
    pub status: u16,
    /// Why it was refused (400), if it was.
    pub problem: Option<String>,
    /// The body's length.
    pub body_len: usize,
    /// The notification's `version` (message id) if it went to Firefox.
    pub version: Option<String>,
}

/// Firefox's answer to one notification: an `ack` (100 delivered to the service worker,
/// 101 decryption failed, 102 not delivered) or a `nack` (301 and up: the worker's push
/// handler failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The notification's `version`.
    pub version: String,
    /// The code Firefox sent.
    pub code: u64,
}

/// A channel Firefox registered.
struct Channel {
    /// The application server key it was registered with (decoded).
    key: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// The user agent id handed out (or taken from Firefox's `hello`).
    uaid: Option<String>,
    channels: HashMap<String, Channel>,
    expired: HashSet<String>,
    /// The connected browser's outgoing queue.
    browser: Option<mpsc::UnboundedSender<String>>,
    /// Notifications sent and not acked, to send again on reconnection: version → frame.
    unacked: Vec<(String, String)>,
    next_version: u64,
    posts: Vec<Post>,
    acks: Vec<Ack>,
}

impl PushService {
    /// Starts both sides on free loopback ports.
    pub async fn start() -> anyhow::Result<PushService> {
        let ws_listener = TcpListener::bind("127.0.0.1:0").await?;
        let http_listener = TcpListener::bind("127.0.0.1:0").await?;
        let ws_url = format!("ws://{}/", ws_listener.local_addr()?);
        let origin = format!("http://{}", http_listener.local_addr()?);
        let state = Arc::new(Mutex::new(State::default()));
        let ws_task = tokio::spawn(serve_websocket(
            ws_listener,
            Arc::clone(&state),
            origin.clone(),
        ));
        let http_task = tokio::spawn(serve_http(http_listener, Arc::clone(&state), origin));
        Ok(PushService {
            ws_url,
            state,
            tasks: vec![ws_task, http_task],
        })
    }

    /// The channels Firefox has registered (and not unregistered).
    pub fn channels(&self) -> Vec<String> {
        self.lock().channels.keys().cloned().collect()
    }

    /// Every POST taken so far, in order.
    pub fn posts(&self) -> Vec<Post> {
        self.lock().posts.clone()
    }

    /// Every ack and nack Firefox sent so far, in order.
    pub fn acks(&self) -> Vec<Ack> {
        self.lock().acks.clone()
    }

    /// From now on, POSTs to `channel` are answered 410 Gone, as a push service does for
    /// a subscription that expired or was revoked.
    pub fn expire(&self, channel: &str) {
        self.lock().expired.insert(channel.to_owned());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Base64url with or without padding (Firefox pads the key it registers; VAPID's `k`
/// has none).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

async fn serve_websocket(listener: TcpListener, state: Arc<Mutex<State>>, origin: String) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = Arc::clone(&state);
        let origin = origin.clone();
        tokio::spawn(async move {
            if let Err(error) = browser_connection(stream, &state, &origin).await {
                eprintln!("autopush stand-in: browser connection: {error:#}");
            }
        });
    }
}

/// One connection from Firefox's push client, until it closes.
async fn browser_connection(
    stream: TcpStream,
    state: &Mutex<State>,
    origin: &str,
) -> anyhow::Result<()> {
    let socket = tokio_tungstenite::accept_hdr_async(stream, name_the_subprotocol).await?;
    let (mut sink, mut source) = socket.split();
    let (outgoing, mut queue) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(text) = queue.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
    });
    let reading = async {
        while let Some(message) = source.next().await {
            let text = match message? {
                Message::Text(text) => text.as_str().to_owned(),
                Message::Close(_) => break,
                _ => continue,
            };
            let frame: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?;
            let replies = handle_frame(&mut lock(state), &frame, &outgoing, origin);
            for reply in replies {
                outgoing.send(reply.to_string())?;
            }
        }
        anyhow::Ok(())
    };
    let read = reading.await;
    // The writer ends with the connection, whatever ended it.
    writer.abort();
    read
}

/// Firefox asks for the `push-notification` subprotocol; the answer names it back.
#[allow(clippy::result_large_err)] // tungstenite's callback type: the error is a response
fn name_the_subprotocol(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    response.headers_mut().insert(
        "sec-websocket-protocol",
        http::HeaderValue::from_static("push-notification"),
    );
    Ok(response)
}

/// What the stand-in answers to one frame from Firefox.
fn handle_frame(
    state: &mut State,
    frame: &serde_json::Value,
    outgoing: &mpsc::UnboundedSender<String>,
    origin: &str,
) -> Vec<serde_json::Value> {
    let channel_id = frame["channelID"].as_str().unwrap_or_default().to_owned();
    match frame["messageType"].as_str() {
        // A ping: `{}` (no messageType) is answered in kind.
        None => vec![serde_json::json!({})],
        Some("hello") => {
            let uaid = frame["uaid"]
                .as_str()
                .filter(|uaid| !uaid.is_empty())
                .map(str::to_owned)
                .or_else(|| state.uaid.clone())
                .unwrap_or_else(new_uaid);
            state.uaid = Some(uaid.clone());
            state.browser = Some(outgoing.clone());
            let mut replies = vec![serde_json::json!({
                "messageType": "hello", "uaid": uaid, "status": 200,
                "use_webpush": true, "broadcasts": {},
            })];
            // What Firefox has not acked comes again, as autopush sends stored messages.
            replies.extend(
                state
                    .unacked
                    .iter()
                    .filter_map(|(_, frame)| serde_json::from_str(frame).ok()),
            );
            replies
        }
        Some("register") => {
            let key = frame["key"]
                .as_str()
                .and_then(|key| BASE64URL.decode(key).ok())
                .unwrap_or_default();
            state.channels.insert(channel_id.clone(), Channel { key });
            vec![serde_json::json!({
                "messageType": "register", "channelID": channel_id, "status": 200,
                "pushEndpoint": format!("{origin}/wpush/{channel_id}"),
            })]
        }
        Some("unregister") => {
            state.channels.remove(&channel_id);
            vec![serde_json::json!({
                "messageType": "unregister", "channelID": channel_id, "status": 200,
            })]
        }
        Some("ack") => {
            for update in frame["updates"].as_array().into_iter().flatten() {
                let version = update["version"].as_str().unwrap_or_default().to_owned();
                state.unacked.retain(|(sent, _)| *sent != version);
                let code = update["code"].as_u64().unwrap_or_default();
                state.acks.push(Ack { version, code });
            }
            Vec::new()
        }
        Some("nack") => {
            let version = frame["version"].as_str().unwrap_or_default().to_owned();
            state.unacked.retain(|(sent, _)| *sent != version);
            let code = frame["code"].as_u64().unwrap_or_default();
            state.acks.push(Ack { version, code });
            Vec::new()
        }
        // broadcast_subscribe and anything newer: nothing to say.
        Some(_) => Vec::new(),
    }
}

/// A fresh user agent id (32 hex digits; `RandomState` is seeded at random).
fn new_uaid() -> String {
    use std::hash::BuildHasher as _;
    let random = std::collections::hash_map::RandomState::new();
    format!("{:016x}{:016x}", random.hash_one(1u8), random.hash_one(2u8))
}

async fn serve_http(listener: TcpListener, state: Arc<Mutex<State>>, origin: String) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = Arc::clone(&state);
        let origin = origin.clone();
        tokio::spawn(async move {
            if let Err(error) = push_request(stream, &state, &origin).await {
                eprintln!("autopush stand-in: push request: {error:#}");
            }
        });
    }
}

/// A request as read off the wire.
struct HttpRequest {
    method: String,
    path: String,
    /// Header names lowercased.
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// One HTTP/1.1 request from an application server, answered, then the connection closes.
async fn push_request(
    mut stream: TcpStream,
    state: &Mutex<State>,
    origin: &str,
) -> anyhow::Result<()> {
    let status = match read_request(&mut stream).await {
        Ok(request) => take_push(&mut lock(state), request, origin),
        Err(error) => {
            eprintln!("autopush stand-in: unreadable request: {error:#}");
            400
        }
    };
    let reason = match status {
        201 => "Created",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        _ => "Bad Request",
    };
    let answer =
        format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

async fn read_request(stream: &mut TcpStream) -> anyhow::Result<HttpRequest> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        anyhow::ensure!(buffer.len() <= MAX_HEAD_LEN, "request head too long");
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed within the request head");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buffer[..head_end]).context("request head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').context("a header line without ':'")?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    anyhow::ensure!(
        !headers.contains_key("transfer-encoding"),
        "a chunked body (the stand-in takes content-length only)"
    );
    let body_len: usize = headers
        .get("content-length")
        .map(|len| len.parse())
        .transpose()?
        .unwrap_or(0);
    anyhow::ensure!(body_len <= MAX_BODY_LEN, "a body of {body_len} bytes");
    let mut body = buffer[head_end + 4..].to_vec();
    anyhow::ensure!(body.len() <= body_len, "more bytes than content-length");
    let mut rest = vec![0u8; body_len - body.len()];
    stream.read_exact(&mut rest).await?;
    body.extend_from_slice(&rest);
    Ok(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

/// Checks a push request (RFC 8030 section 5, RFC 8292), records it, and forwards its body
/// to Firefox; returns the status to answer.
fn take_push(state: &mut State, request: HttpRequest, origin: &str) -> u16 {
    let channel = request
        .path
        .strip_prefix("/wpush/")
        .unwrap_or_default()
        .to_owned();
    let body_len = request.body.len();
    let mut post = Post {
        channel: channel.clone(),
        status: 201,
        problem: None,
        body_len,
        version: None,
    };
    if state.expired.contains(&channel) {
        post.status = 410;
    } else if let Some(registered) = state.channels.get(&channel) {
        match check_push(&request, &registered.key, origin) {
            Err(problem) => {
                post.status = 400;
                post.problem = Some(problem);
            }
            Ok(()) if state.unacked.len() >= MAX_UNACKED => post.status = 429,
            Ok(()) => {
                state.next_version += 1;
                let version = format!("v{}", state.next_version);
                let frame = serde_json::json!({
                    "messageType": "notification",
                    "channelID": channel,
                    "version": version,
                    "data": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&request.body),
                    "headers": { "encoding": "aes128gcm" },
                })
                .to_string();
                // Firefox offline: it comes with the next hello.
                if let Some(browser) = &state.browser {
                    let _ = browser.send(frame.clone());
                }
                state.unacked.push((version.clone(), frame));
                post.version = Some(version);
            }
        }
    } else {
        post.status = 404;
    }
    let status = post.status;
    state.posts.push(post);
    status
}

/// Whether a POST to a channel registered with `key` is a push this service takes.
fn check_push(request: &HttpRequest, key: &[u8], origin: &str) -> Result<(), String> {
    let header = |name: &str| request.headers.get(name).map(String::as_str);
    if request.method != "POST" {
        return Err(format!("method {}", request.method));
    }
    if header("ttl")
        .and_then(|ttl| ttl.parse::<u64>().ok())
        .is_none()
    {
        return Err(format!("TTL {:?}", header("ttl")));
    }
    if header("content-encoding") != Some("aes128gcm") {
        return Err(format!("Content-Encoding {:?}", header("content-encoding")));
    }
    if request.body.is_empty() {
        return Err("an empty body".to_owned());
    }
    let authorization = header("authorization").unwrap_or_default();
    let params = authorization
        .strip_prefix("vapid ")
        .ok_or_else(|| format!("Authorization {authorization:?}"))?;
    let param = |name: &str| {
        params
            .split(',')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(found, _)| *found == name)
            .map(|(_, value)| value)
    };
    let vapid_key = param("k")
        .and_then(|k| BASE64URL.decode(k).ok())
        .ok_or("no VAPID key (k=)")?;
    if !key.is_empty() && vapid_key != key {
        return Err("the VAPID key is not the one the channel was registered with".to_owned());
    }
    let token = param("t").ok_or("no VAPID token (t=)")?;
    let claims: serde_json::Value = token
        .split('.')
        .nth(1)
        .and_then(|claims| BASE64URL.decode(claims).ok())
        .and_then(|claims| serde_json::from_slice(&claims).ok())
        .ok_or("a VAPID token without readable claims")?;
    if claims["aud"] != origin {
        return Err(format!(
            "the token's audience is {}, not {origin}",
            claims["aud"]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "http://127.0.0.1:9";
    const KEY: &[u8] = b"the application server key";

    /// A push from an application server as the Confab server makes it, to channel "c1".
    fn push() -> HttpRequest {
        let claims = BASE64URL.encode(format!(r#"{{"aud":"{ORIGIN}","exp":1}}"#));
        let headers = [
            ("ttl", "86400".to_owned()),
            ("content-encoding", "aes128gcm".to_owned()),
            (
                "authorization",
                format!("vapid t=e30.{claims}.c2ln, k={}", BASE64URL.encode(KEY)),
            ),
        ];
        HttpRequest {
            method: "POST".to_owned(),
            path: "/wpush/c1".to_owned(),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            body: vec![7; 100],
        }
    }

    /// What the stand-in answers `request` (channel "c1" registered with `KEY`, "c2"
    /// expired), and the notification Firefox got, if any.
    fn check(request: HttpRequest) -> (u16, Option<serde_json::Value>) {
        let mut state = State::default();
        state
            .channels
            .insert("c1".to_owned(), Channel { key: KEY.to_vec() });
        state
            .channels
            .insert("c2".to_owned(), Channel { key: KEY.to_vec() });
        state.expired.insert("c2".to_owned());
        let (browser, mut firefox) = mpsc::unbounded_channel();
        state.browser = Some(browser);
        let status = take_push(&mut state, request, ORIGIN);
        let sent = firefox
            .try_recv()
            .ok()
            .and_then(|frame| serde_json::from_str(&frame).ok());
        (status, sent)
    }

    #[test]
    fn a_well_formed_push_goes_to_firefox_unchanged() {
        let (status, sent) = check(push());
        assert_eq!(status, 201);
        let sent = sent.unwrap();
        assert_eq!(sent["messageType"], "notification");
        assert_eq!(sent["channelID"], "c1");
        assert_eq!(sent["headers"]["encoding"], "aes128gcm");
        let data = BASE64URL.decode(sent["data"].as_str().unwrap()).unwrap();
        assert_eq!(data, vec![7; 100]);
    }

    #[test]
    fn a_push_missing_what_rfc_8030_and_8292_ask_is_refused() {
        let without = |name: &str| {
            let mut request = push();
            request.headers.remove(name);
            request
        };
        let with = |name: &str, value: &str| {
            let mut request = push();
            request.headers.insert(name.to_owned(), value.to_owned());
            request
        };
        let other_audience = format!(
            "vapid t=e30.{}.c2ln, k={}",
            BASE64URL.encode(r#"{"aud":"http://elsewhere"}"#),
            BASE64URL.encode(KEY)
        );
        for request in [
            without("ttl"),
            without("content-encoding"),
            without("authorization"),
            with("content-encoding", "aesgcm"),
            with("authorization", "WebPush abc"),
            with(
                "authorization",
                &format!(
                    "vapid t=e30.e30.c2ln, k={}",
                    BASE64URL.encode(b"another key")
                ),
            ),
            with("authorization", &other_audience),
        ] {
            assert_eq!(check(request), (400, None));
        }
    }

    #[test]
    fn unknown_and_expired_channels_are_answered_404_and_410() {
        let to = |path: &str| HttpRequest {
            path: path.to_owned(),
            ..push()
        };
        assert_eq!(check(to("/wpush/nobody")), (404, None));
        assert_eq!(check(to("/wpush/c2")), (410, None));
    }
}
