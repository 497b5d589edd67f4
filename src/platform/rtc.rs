//! One WebRTC peer connection with one ordered data channel ("confab"), plus the signals
//! (SDP and trickled ICE candidates) that set it up. The signals travel as opaque JSON
//! strings through the server.
//!
//! Each file being sent gets its own ordered channel, labelled `file:<id hex>`, opened by
//! the sender on first use and announced to the other side by `ondatachannel`. Its
//! `bufferedAmount` is the sender's backpressure: [`RtcLink::file_buffered`] tells how
//! much is queued, and [`RtcEvent::FileDrained`] fires when it falls below
//! [`FILE_LOW_WATER`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use confab_core::EventId;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelInit,
    RtcDataChannelState, RtcDataChannelType, RtcIceCandidateInit, RtcIceServer, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit,
};

pub use confab_core::RtcSignal;

use super::error::BrowserError;

/// A file channel asks for more once its queue falls below this many bytes.
pub const FILE_LOW_WATER: u32 = 1 << 20;
/// The main channel's label.
const MAIN_LABEL: &str = "confab";
/// File channels' label prefix (then the file id in hex).
const FILE_LABEL: &str = "file:";

/// Why a peer connection could not be made or negotiated (the caller logs it; a link
/// that fails to negotiate closes, and core falls back to the relay).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcError {
    /// The browser would not create a peer connection (WebRTC disabled or missing).
    #[error("{0}")]
    Unavailable(BrowserError),
    /// The browser refused a description or candidate, or to make one (a malformed or
    /// mismatched SDP, or the connection closed meanwhile).
    #[error("{0}")]
    Refused(BrowserError),
}

impl From<wasm_bindgen::JsValue> for RtcError {
    fn from(error: wasm_bindgen::JsValue) -> RtcError {
        RtcError::Refused(error.into())
    }
}

/// What a link reports.
#[derive(Debug)]
pub enum RtcEvent {
    /// A signal to forward to the peer through the server.
    Signal(RtcSignal),
    /// The data channel is open (for the answerer: it arrived and is open).
    Open,
    /// Bytes from the peer.
    Message(Vec<u8>),
    /// Bytes from the peer on a file's channel.
    FileMessage {
        /// The file.
        file: EventId,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// A file channel's queue drained below [`FILE_LOW_WATER`]: send more.
    FileDrained(EventId),
    /// The peer's media (a call): one stream with all its tracks so far.
    Track(web_sys::MediaStream),
    /// The channel or connection closed or failed.
    Closed,
}

struct Inner {
    pc: RtcPeerConnection,
    channel: Option<RtcDataChannel>,
    /// File channels by file, with what waits for them to open.
    files: HashMap<EventId, FileChannel>,
    pending_candidates: Vec<RtcSignal>,
    has_remote_description: bool,
    closures: Vec<Box<dyn std::any::Any>>,
    closed: bool,
}

struct FileChannel {
    channel: RtcDataChannel,
    /// Frames sent before the channel opened.
    waiting: Vec<Vec<u8>>,
    waiting_len: u64,
}

/// A peer connection. Cheap to clone (shared handle); `close` ends it.
#[derive(Clone)]
pub struct RtcLink {
    inner: Rc<RefCell<Inner>>,
    sink: Rc<dyn Fn(RtcEvent)>,
}

/// One configured ICE server.
pub struct IceServerConfig {
    /// URLs.
    pub urls: Vec<String>,
    /// TURN user.
    pub username: Option<String>,
    /// TURN password.
    pub credential: Option<String>,
}

impl RtcLink {
    /// Creates the connection. The offerer creates the data channel and sends an offer.
    /// With `turn_only`, ICE uses relay candidates only (`iceTransportPolicy: "relay"`):
    /// no path forms without a TURN server, and the peer never sees our addresses.
    pub fn new(
        ice_servers: &[IceServerConfig],
        offerer: bool,
        turn_only: bool,
        sink: impl Fn(RtcEvent) + 'static,
    ) -> Result<RtcLink, RtcError> {
        let config = RtcConfiguration::new();
        let servers = js_sys::Array::new();
        for server in ice_servers {
            let ice = RtcIceServer::new();
            let urls: js_sys::Array = server.urls.iter().map(|u| JsValue::from_str(u)).collect();
            ice.set_urls(&urls);
            if let Some(username) = &server.username {
                ice.set_username(username);
            }
            if let Some(credential) = &server.credential {
                ice.set_credential(credential);
            }
            servers.push(&ice);
        }
        config.set_ice_servers(&servers);
        if turn_only {
            config.set_ice_transport_policy(web_sys::RtcIceTransportPolicy::Relay);
        }
        // Calls add media to this connection later: one transport for everything, whose
        // DTLS fingerprint the Noise session has vouched for.
        config.set_bundle_policy(web_sys::RtcBundlePolicy::MaxBundle);
        let pc = RtcPeerConnection::new_with_configuration(&config)
            .map_err(|error| RtcError::Unavailable(error.into()))?;
        let link = RtcLink {
            inner: Rc::new(RefCell::new(Inner {
                pc: pc.clone(),
                channel: None,
                files: HashMap::new(),
                pending_candidates: Vec::new(),
                has_remote_description: false,
                closures: Vec::new(),
                closed: false,
            })),
            sink: Rc::new(sink),
        };
        link.watch_connection(&pc);
        // Either side may open file channels later; the answerer also gets the main one.
        let this = link.clone();
        let on_channel =
            Closure::<dyn FnMut(RtcDataChannelEvent)>::new(move |event: RtcDataChannelEvent| {
                let channel = event.channel();
                let label = channel.label();
                if let Some(file) = label.strip_prefix(FILE_LABEL).and_then(parse_file_id) {
                    this.attach_file_channel(file, channel, false);
                } else if label == MAIN_LABEL && !offerer {
                    this.attach_channel(channel);
                }
            });
        pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
        link.keep(on_channel);
        if offerer {
            let init = RtcDataChannelInit::new();
            init.set_ordered(true);
            let channel = pc.create_data_channel_with_data_channel_dict(MAIN_LABEL, &init);
            link.attach_channel(channel);
            let this = link.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(error) = this.make_offer().await {
                    web_sys::console::warn_1(&format!("offer failed: {error}").into());
                    this.close();
                }
            });
        }
        Ok(link)
    }

    /// Feeds a signal from the peer.
    pub async fn handle_signal(&self, signal: RtcSignal) -> Result<(), RtcError> {
        let pc = self.inner.borrow().pc.clone();
        match signal {
            RtcSignal::Offer { sdp } => {
                let offer = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
                offer.set_sdp(&sdp);
                JsFuture::from(pc.set_remote_description(&offer)).await?;
                self.flush_candidates().await;
                let answer = JsFuture::from(pc.create_answer()).await?;
                let answer: RtcSessionDescriptionInit = answer.unchecked_into();
                JsFuture::from(pc.set_local_description(&answer)).await?;
                let sdp = pc.local_description().map(|d| d.sdp()).unwrap_or_default();
                (self.sink)(RtcEvent::Signal(RtcSignal::Answer { sdp }));
            }
            RtcSignal::Answer { sdp } => {
                let answer = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
                answer.set_sdp(&sdp);
                JsFuture::from(pc.set_remote_description(&answer)).await?;
                self.flush_candidates().await;
            }
            candidate @ RtcSignal::Candidate { .. } => {
                if self.inner.borrow().has_remote_description {
                    add_candidate(&pc, &candidate).await?;
                } else {
                    self.inner.borrow_mut().pending_candidates.push(candidate);
                }
            }
            RtcSignal::UseRelay => {}
        }
        Ok(())
    }

    /// Sends bytes on the data channel; false if it is not open.
    pub fn send(&self, bytes: &[u8]) -> bool {
        let inner = self.inner.borrow();
        match &inner.channel {
            Some(channel) if channel.ready_state() == RtcDataChannelState::Open => {
                channel.send_with_u8_array(bytes).is_ok()
            }
            _ => false,
        }
    }

    /// Sends bytes on `file`'s channel, opening it on first use (bytes wait until it is
    /// open); false if the connection is not open.
    pub fn send_file(&self, file: EventId, bytes: &[u8]) -> bool {
        if !self.is_open() {
            return false;
        }
        let existing = self.inner.borrow().files.contains_key(&file);
        if !existing {
            let init = RtcDataChannelInit::new();
            init.set_ordered(true);
            let label = format!("{FILE_LABEL}{file}");
            let channel = self
                .inner
                .borrow()
                .pc
                .create_data_channel_with_data_channel_dict(&label, &init);
            self.attach_file_channel(file, channel, true);
        }
        let mut inner = self.inner.borrow_mut();
        let Some(entry) = inner.files.get_mut(&file) else {
            return false;
        };
        match entry.channel.ready_state() {
            RtcDataChannelState::Open => entry.channel.send_with_u8_array(bytes).is_ok(),
            RtcDataChannelState::Connecting => {
                entry.waiting_len += bytes.len() as u64;
                entry.waiting.push(bytes.to_vec());
                true
            }
            _ => false,
        }
    }

    /// Bytes queued on `file`'s channel and not yet handed to the network.
    pub fn file_buffered(&self, file: EventId) -> u64 {
        self.inner.borrow().files.get(&file).map_or(0, |entry| {
            u64::from(entry.channel.buffered_amount()) + entry.waiting_len
        })
    }

    /// Closes `file`'s channel (the transfer ended).
    pub fn close_file(&self, file: EventId) {
        if let Some(entry) = self.inner.borrow_mut().files.remove(&file) {
            detach(&entry.channel);
            entry.channel.close();
        }
    }

    /// Our current description's SDP (empty before there is one); its `a=fingerprint`
    /// lines name our DTLS certificate.
    pub fn local_description(&self) -> String {
        let pc = self.inner.borrow().pc.clone();
        pc.local_description().map(|d| d.sdp()).unwrap_or_default()
    }

    /// The peer's current description's SDP (empty before there is one): the one whose
    /// certificate the DTLS handshake accepted.
    pub fn remote_description(&self) -> String {
        let pc = self.inner.borrow().pc.clone();
        pc.remote_description().map(|d| d.sdp()).unwrap_or_default()
    }

    /// Sends `stream`'s audio and video (or nothing, for `None`) on this connection,
    /// reusing the audio and video transceivers when there are some (no renegotiation is
    /// needed for a replaced track); a call without a camera still gets a video
    /// transceiver, so a screen can be shared later without renegotiating.
    pub fn set_media(&self, stream: Option<&web_sys::MediaStream>) {
        let pc = self.inner.borrow().pc.clone();
        for kind in ["audio", "video"] {
            let track = stream.and_then(|s| super::media::tracks(s, kind).into_iter().next());
            let existing = pc
                .get_transceivers()
                .iter()
                .filter_map(|t| t.dyn_into::<web_sys::RtcRtpTransceiver>().ok())
                .find(|t| t.receiver().track().kind() == kind);
            let transceiver = match existing {
                Some(transceiver) => transceiver,
                None if stream.is_some() => pc.add_transceiver_with_str(kind),
                None => continue,
            };
            let _ = transceiver.sender().replace_track(track.as_ref());
            transceiver.set_direction(if stream.is_some() {
                web_sys::RtcRtpTransceiverDirection::Sendrecv
            } else {
                web_sys::RtcRtpTransceiverDirection::Recvonly
            });
        }
    }

    /// Replaces the audio or video (`kind`) we send — another microphone, the screen
    /// instead of the camera, or nothing — without renegotiating.
    pub fn replace_track(&self, kind: &str, track: Option<&web_sys::MediaStreamTrack>) {
        let pc = self.inner.borrow().pc.clone();
        let transceiver = pc
            .get_transceivers()
            .iter()
            .filter_map(|t| t.dyn_into::<web_sys::RtcRtpTransceiver>().ok())
            .find(|t| t.receiver().track().kind() == kind);
        if let Some(transceiver) = transceiver {
            let _ = transceiver.sender().replace_track(track);
        }
    }

    /// What the connection receives now, as one fresh stream (a renegotiation that reuses
    /// transceivers may not fire `ontrack` again).
    pub fn received_media(&self) -> Option<web_sys::MediaStream> {
        received_media(&self.inner.borrow().pc)
    }

    /// A new offer for this connection (the first one, or after [`RtcLink::set_media`]).
    pub async fn media_offer(&self) -> Result<String, RtcError> {
        let pc = self.inner.borrow().pc.clone();
        let offer = JsFuture::from(pc.create_offer()).await?;
        let offer: RtcSessionDescriptionInit = offer.unchecked_into();
        JsFuture::from(pc.set_local_description(&offer)).await?;
        Ok(pc.local_description().map(|d| d.sdp()).unwrap_or_default())
    }

    /// Takes the peer's renegotiation offer, sends `stream` (if any) back on the media it
    /// offers, and returns our answer.
    pub async fn media_answer(
        &self,
        sdp: &str,
        stream: Option<&web_sys::MediaStream>,
    ) -> Result<String, RtcError> {
        let pc = self.inner.borrow().pc.clone();
        let offer = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
        offer.set_sdp(sdp);
        JsFuture::from(pc.set_remote_description(&offer)).await?;
        self.set_media(stream);
        let answer = JsFuture::from(pc.create_answer()).await?;
        let answer: RtcSessionDescriptionInit = answer.unchecked_into();
        JsFuture::from(pc.set_local_description(&answer)).await?;
        Ok(pc.local_description().map(|d| d.sdp()).unwrap_or_default())
    }

    /// Takes the peer's answer to our renegotiation offer.
    pub async fn media_answered(&self, sdp: &str) -> Result<(), RtcError> {
        let pc = self.inner.borrow().pc.clone();
        let answer = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
        answer.set_sdp(sdp);
        JsFuture::from(pc.set_remote_description(&answer)).await?;
        Ok(())
    }

    /// Whether the data channel is open.
    pub fn is_open(&self) -> bool {
        let inner = self.inner.borrow();
        inner
            .channel
            .as_ref()
            .is_some_and(|c| c.ready_state() == RtcDataChannelState::Open)
    }

    /// Closes channel and connection; no more events after this.
    pub fn close(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.closed {
            return;
        }
        inner.closed = true;
        if let Some(channel) = inner.channel.take() {
            detach(&channel);
            channel.close();
        }
        for (_, entry) in inner.files.drain() {
            detach(&entry.channel);
            entry.channel.close();
        }
        inner.pc.set_onicecandidate(None);
        inner.pc.set_ontrack(None);
        inner.pc.set_ondatachannel(None);
        inner.pc.set_onconnectionstatechange(None);
        inner.pc.close();
        // Dropped later: a callback may be running right now.
        let closures = std::mem::take(&mut inner.closures);
        wasm_bindgen_futures::spawn_local(async move { drop(closures) });
    }

    async fn make_offer(&self) -> Result<(), RtcError> {
        let sdp = self.media_offer().await?;
        (self.sink)(RtcEvent::Signal(RtcSignal::Offer { sdp }));
        Ok(())
    }

    async fn flush_candidates(&self) {
        let (pc, pending) = {
            let mut inner = self.inner.borrow_mut();
            inner.has_remote_description = true;
            (
                inner.pc.clone(),
                std::mem::take(&mut inner.pending_candidates),
            )
        };
        for candidate in pending {
            if let Err(error) = add_candidate(&pc, &candidate).await {
                web_sys::console::warn_1(&format!("ICE candidate refused: {error}").into());
            }
        }
    }

    fn watch_connection(&self, pc: &RtcPeerConnection) {
        let sink = self.sink.clone();
        let on_candidate = Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
            move |event: RtcPeerConnectionIceEvent| {
                if let Some(candidate) = event.candidate() {
                    sink(RtcEvent::Signal(RtcSignal::Candidate {
                        candidate: candidate.candidate(),
                        sdp_mid: candidate.sdp_mid(),
                        sdp_m_line_index: candidate.sdp_m_line_index(),
                    }));
                }
            },
        );
        pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        self.keep(on_candidate);
        let sink = self.sink.clone();
        let watched = pc.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || {
            if matches!(
                watched.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            ) {
                sink(RtcEvent::Closed);
            }
        });
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        self.keep(on_state);
        let sink = self.sink.clone();
        let receivers_of = pc.clone();
        let on_track = Closure::<dyn FnMut(web_sys::RtcTrackEvent)>::new(
            move |_event: web_sys::RtcTrackEvent| {
                if let Some(stream) = received_media(&receivers_of) {
                    sink(RtcEvent::Track(stream));
                }
            },
        );
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        self.keep(on_track);
    }

    fn attach_channel(&self, channel: RtcDataChannel) {
        channel.set_binary_type(RtcDataChannelType::Arraybuffer);
        let sink = self.sink.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || sink(RtcEvent::Open));
        let sink = self.sink.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() {
                sink(RtcEvent::Message(js_sys::Uint8Array::new(&buffer).to_vec()));
            }
        });
        let sink = self.sink.clone();
        let on_close = Closure::<dyn FnMut()>::new(move || sink(RtcEvent::Closed));
        channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let already_open = channel.ready_state() == RtcDataChannelState::Open;
        self.inner.borrow_mut().channel = Some(channel);
        self.keep(on_open);
        self.keep(on_message);
        self.keep(on_close);
        if already_open {
            (self.sink)(RtcEvent::Open);
        }
    }

    /// Wires a file channel: its messages and drain events go to the sink; frames sent
    /// while it was connecting go out when it opens.
    fn attach_file_channel(&self, file: EventId, channel: RtcDataChannel, ours: bool) {
        channel.set_binary_type(RtcDataChannelType::Arraybuffer);
        channel.set_buffered_amount_low_threshold(FILE_LOW_WATER);
        let sink = self.sink.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() {
                let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                sink(RtcEvent::FileMessage { file, bytes });
            }
        });
        let sink = self.sink.clone();
        let on_low = Closure::<dyn FnMut()>::new(move || sink(RtcEvent::FileDrained(file)));
        let inner = Rc::downgrade(&self.inner);
        let sink = self.sink.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let waiting = inner.borrow_mut().files.get_mut(&file).map(|entry| {
                entry.waiting_len = 0;
                (entry.channel.clone(), std::mem::take(&mut entry.waiting))
            });
            if let Some((channel, waiting)) = waiting {
                for bytes in waiting {
                    let _ = channel.send_with_u8_array(&bytes);
                }
            }
            sink(RtcEvent::FileDrained(file));
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        channel.set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
        if ours {
            channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        }
        let replaced = self.inner.borrow_mut().files.insert(
            file,
            FileChannel {
                channel,
                waiting: Vec::new(),
                waiting_len: 0,
            },
        );
        if let Some(old) = replaced {
            detach(&old.channel);
            old.channel.close();
        }
        self.keep(on_message);
        self.keep(on_low);
        self.keep(on_open);
    }

    fn keep<T: 'static>(&self, closure: T) {
        self.inner.borrow_mut().closures.push(Box::new(closure));
    }
}

/// A fresh stream of every track the connection receives (one audio, one video), so a
/// `<video>` given it plays them all.
fn received_media(pc: &RtcPeerConnection) -> Option<web_sys::MediaStream> {
    let tracks: js_sys::Array = pc
        .get_receivers()
        .iter()
        .filter_map(|r| r.dyn_into::<web_sys::RtcRtpReceiver>().ok())
        .map(|r| JsValue::from(r.track()))
        .collect();
    web_sys::MediaStream::new_with_tracks(&tracks).ok()
}

/// Unhooks a channel's callbacks (before closing it or dropping their closures).
fn detach(channel: &RtcDataChannel) {
    channel.set_onopen(None);
    channel.set_onmessage(None);
    channel.set_onclose(None);
    channel.set_onbufferedamountlow(None);
}

fn parse_file_id(hex: &str) -> Option<EventId> {
    hex.parse().ok()
}

async fn add_candidate(pc: &RtcPeerConnection, signal: &RtcSignal) -> Result<(), RtcError> {
    let RtcSignal::Candidate {
        candidate,
        sdp_mid,
        sdp_m_line_index,
    } = signal
    else {
        return Ok(());
    };
    let init = RtcIceCandidateInit::new(candidate);
    init.set_sdp_mid(sdp_mid.as_deref());
    init.set_sdp_m_line_index(*sdp_m_line_index);
    JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await?;
    Ok(())
}
