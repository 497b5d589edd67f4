//! The seams between the driver and the network: small traits the driver sees, with the
//! browser implementation ([`BrowserNetwork`]: WebSocket + RTCPeerConnection) here and an
//! in-memory one in the driver's tests.

use std::rc::Rc;

use confab_core::EventId;

use super::rtc::{IceServerConfig, RtcError, RtcEvent, RtcLink, RtcSignal};
use super::socket::{Socket, SocketError, SocketEvent};

/// Where an adapter delivers its events (the driver's inbox).
pub type Sink<T> = Rc<dyn Fn(T)>;

/// The connection to the signalling server.
pub trait Signalling {
    /// Sends a JSON signalling frame; false if it cannot be sent now.
    fn send_text(&self, text: &str) -> bool;
    /// Sends a relay envelope; false if it cannot be sent now.
    fn send_binary(&self, bytes: &[u8]) -> bool;
}

/// A direct link to one peer (a WebRTC data channel in the browser).
pub trait DirectLink {
    /// Sends bytes; false if the link is not open.
    fn send(&self, bytes: &[u8]) -> bool;
    /// Sends bytes on `file`'s own channel; false if the link is not open.
    fn send_file(&self, file: EventId, bytes: &[u8]) -> bool;
    /// Bytes waiting on `file`'s channel.
    fn file_buffered(&self, file: EventId) -> u64;
    /// Ends `file`'s channel.
    fn close_file(&self, file: EventId);
    /// The WebRTC connection behind it, for calls (none in tests' memory links).
    fn rtc(&self) -> Option<RtcLink> {
        None
    }
    /// Feeds a signal (SDP or ICE) from the peer; failures are logged and end in `Closed`.
    fn handle_signal(&self, signal: RtcSignal);
    /// Ends the link; no events after this.
    fn close(&self);
}

/// Opens signalling connections and direct links.
pub trait Network {
    /// Connects to the signalling server at `url`.
    fn connect(
        &self,
        url: &str,
        sink: Sink<SocketEvent>,
    ) -> Result<Box<dyn Signalling>, SocketError>;
    /// Opens a direct link; the offerer starts the negotiation.
    fn open_link(
        &self,
        ice_servers: &[IceServerConfig],
        offerer: bool,
        sink: Sink<RtcEvent>,
    ) -> Result<Box<dyn DirectLink>, RtcError>;
}

/// The real thing: a WebSocket and RTCPeerConnections.
pub struct BrowserNetwork {
    /// Direct links only through TURN relays (`iceTransportPolicy: "relay"`): peers never
    /// learn this device's addresses (`?ice=relay`).
    pub turn_only: bool,
}

impl Network for BrowserNetwork {
    fn connect(
        &self,
        url: &str,
        sink: Sink<SocketEvent>,
    ) -> Result<Box<dyn Signalling>, SocketError> {
        Ok(Box::new(Socket::connect(url, move |event| sink(event))?))
    }

    fn open_link(
        &self,
        ice_servers: &[IceServerConfig],
        offerer: bool,
        sink: Sink<RtcEvent>,
    ) -> Result<Box<dyn DirectLink>, RtcError> {
        Ok(Box::new(RtcLink::new(
            ice_servers,
            offerer,
            self.turn_only,
            move |event| sink(event),
        )?))
    }
}

impl Signalling for Socket {
    fn send_text(&self, text: &str) -> bool {
        Socket::send_text(self, text)
    }
    fn send_binary(&self, bytes: &[u8]) -> bool {
        Socket::send_binary(self, bytes)
    }
}

impl DirectLink for RtcLink {
    fn send(&self, bytes: &[u8]) -> bool {
        RtcLink::send(self, bytes)
    }
    fn send_file(&self, file: EventId, bytes: &[u8]) -> bool {
        RtcLink::send_file(self, file, bytes)
    }
    fn file_buffered(&self, file: EventId) -> u64 {
        RtcLink::file_buffered(self, file)
    }
    fn close_file(&self, file: EventId) {
        RtcLink::close_file(self, file);
    }
    fn rtc(&self) -> Option<RtcLink> {
        Some(self.clone())
    }
    fn handle_signal(&self, signal: RtcSignal) {
        let link = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(error) = RtcLink::handle_signal(&link, signal).await {
                web_sys::console::warn_1(&format!("WebRTC signal failed: {error}").into());
                link.close();
            }
        });
    }
    fn close(&self) {
        RtcLink::close(self);
    }
}
