//! The signalling WebSocket: text frames are JSON signalling, binary frames relay envelopes.

use wasm_bindgen::JsCast as _;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use super::error::BrowserError;

/// Why no socket was opened: the browser refused the URL (malformed, or a blocked
/// port or scheme). The caller retries later or gives up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot open {url}: {reason}")]
pub struct SocketError {
    url: String,
    reason: BrowserError,
}

/// What the socket reports.
#[derive(Debug)]
pub enum SocketEvent {
    /// Connected.
    Open,
    /// A JSON signalling frame.
    Text(String),
    /// A relay envelope.
    Binary(Vec<u8>),
    /// Closed (or failed to connect).
    Closed {
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// An open or opening WebSocket. Dropping it closes the socket.
pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Connects to `url`; every event goes to `sink`.
    pub fn connect(
        url: &str,
        sink: impl Fn(SocketEvent) + Clone + 'static,
    ) -> Result<Socket, SocketError> {
        let ws = WebSocket::new(url).map_err(|error| SocketError {
            url: url.to_owned(),
            reason: error.into(),
        })?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let open_sink = sink.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || open_sink(SocketEvent::Open));
        let message_sink = sink.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            if let Some(text) = data.as_string() {
                message_sink(SocketEvent::Text(text));
            } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
                message_sink(SocketEvent::Binary(
                    js_sys::Uint8Array::new(&buffer).to_vec(),
                ));
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            sink(SocketEvent::Closed {
                code: event.code(),
                reason: event.reason(),
            });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends a JSON frame; false if the socket is not open.
    pub fn send_text(&self, text: &str) -> bool {
        self.is_open() && self.ws.send_with_str(text).is_ok()
    }

    /// Sends a binary frame; false if the socket is not open.
    pub fn send_binary(&self, bytes: &[u8]) -> bool {
        self.is_open() && self.ws.send_with_u8_array(bytes).is_ok()
    }

    /// Whether frames can be sent.
    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}
