//! Calls' adapter: voice and video between the members of a room, added to the existing
//! peer connections by renegotiation. Core's [`confab_core::client::Calls`] decides
//! everything about the call (ringing, who is in it, who offers, when it ends) and checks
//! every session description against the DTLS fingerprints the peer vouched for inside
//! Noise (the module documentation there says why the media is then end-to-end
//! encrypted); this file captures media, shows the call, and runs the `RTCPeerConnection`
//! when a `CallEvent` says so.

use confab_core::client::{CallEnd, CallEvent};
use confab_core::{CallId, Instant, MemberKey, PeerId};
use leptos::prelude::*;

use super::{Driver, Input, log};
use crate::platform::media::{self, CaptureError, MediaStream};
use crate::platform::rtc::RtcLink;
use crate::state::{IncomingCall, Topic};

/// Why our call ended when we were removed from the room (until the next call, or until
/// the removal is undone).
pub(crate) const CALL_ENDED_REMOVED: &str = "The call ended: you are no longer in this room.";

/// How often speaking levels are measured.
const LEVEL_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// RMS level above which someone counts as speaking.
const SPEAKING: f64 = 0.01;

/// A description our connection made for a call, to send inside Noise.
#[derive(Debug)]
pub(super) enum LocalDescription {
    /// Our offer to `peer`.
    Offer {
        peer: PeerId,
        call: CallId,
        sdp: String,
    },
    /// Our answer to `peer`'s offer.
    Answer {
        peer: PeerId,
        call: CallId,
        sdp: String,
    },
}

/// The call the driver runs: core's machine and our media.
pub(super) struct Calls {
    machine: confab_core::client::Calls,
    local: Option<MediaStream>,
    screen: Option<MediaStream>,
    /// When to measure speaking levels next.
    level_at: Option<Instant>,
    /// Streams registered so far (each remote stream gets a new key).
    streams: u64,
}

impl Calls {
    /// No call; `me` is our member key (the lower key of a pair offers).
    pub(super) fn new(me: MemberKey) -> Calls {
        Calls {
            machine: confab_core::client::Calls::new(me, crate::platform::entropy::seed()),
            local: None,
            screen: None,
            level_at: None,
            streams: 0,
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.level_at
    }
}

impl Driver {
    fn rtc_of(&self, peer: PeerId) -> Option<RtcLink> {
        self.direct(peer)?.rtc()
    }

    /// A link was verified: if it is direct, core vouches for our DTLS fingerprints inside
    /// Noise and checks the peer's against the description its DTLS handshake accepted.
    pub(super) fn announce_dtls(&mut self, now: Instant, peer: PeerId) {
        if let Some(rtc) = self.rtc_of(peer) {
            let (local, remote) = (rtc.local_description(), rtc.remote_description());
            self.calls.machine.handle_direct_link(peer, &local, &remote);
            self.drain_calls(now);
        }
    }

    /// Call signalling from a verified peer.
    pub(super) fn call_message(
        &mut self,
        now: Instant,
        peer: PeerId,
        member: MemberKey,
        data: &[u8],
    ) {
        if let Err(error) = self.calls.machine.handle_message(peer, member, data) {
            log(&format!("call message from {peer} refused: {error}"));
        }
        self.drain_calls(now);
    }

    /// Our connection made a description for the call: it goes inside Noise.
    pub(super) fn call_description(&mut self, now: Instant, description: LocalDescription) {
        match description {
            LocalDescription::Offer { peer, call, sdp } => {
                self.calls.machine.handle_local_offer(peer, call, sdp);
            }
            LocalDescription::Answer { peer, call, sdp } => {
                self.calls.machine.handle_local_answer(peer, call, sdp);
            }
        }
        self.drain_calls(now);
    }

    /// Sends what core's call machine queued and does what it says.
    fn drain_calls(&mut self, now: Instant) {
        loop {
            if let Some((peer, bytes)) = self.calls.machine.poll_transmit() {
                self.client.send_call(now, peer, &bytes);
            } else if let Some(event) = self.calls.machine.poll_event() {
                self.apply_call_event(now, event);
            } else {
                return;
            }
        }
    }

    fn apply_call_event(&mut self, now: Instant, event: CallEvent) {
        match event {
            CallEvent::CanCall(can) => self.state.callable(can),
            CallEvent::Ringing {
                peer,
                member,
                video,
            } => self.state.ringing(IncomingCall {
                peer,
                member,
                video,
            }),
            CallEvent::RingingStopped => self.state.ringing_stopped(),
            CallEvent::PeerJoined { peer, member } => self.add_call_peer(peer, member),
            CallEvent::PeerLeft { peer } => self.remove_call_peer(peer),
            CallEvent::MakeOffer { peer, call } => self.negotiate(peer, call),
            CallEvent::TakeOffer { peer, call, sdp } => self.answer_media(peer, call, sdp),
            CallEvent::TakeAnswer { peer, sdp } => self.take_media_answer(peer, sdp),
            CallEvent::PeerState {
                peer,
                muted,
                camera_off,
                sharing,
            } => self
                .state
                .call_peer_changed(peer, muted, camera_off, sharing),
            CallEvent::Ended(end) => {
                self.close_call_media();
                let why = match end {
                    CallEnd::Alone => "Call ended.",
                    CallEnd::RoomMoved => "The call ended: the room moved. Call again to go on.",
                    CallEnd::Removed => CALL_ENDED_REMOVED,
                    _ => return,
                };
                // Until the next call starts (or the user dismisses it).
                self.state.notify_about(Topic::CallEnded, why);
            }
            CallEvent::Tampered { peer, reason } => {
                log(&format!(
                    "DTLS fingerprints of {peer} differ from what it vouched for: {reason:?}"
                ));
                // Core ends the link; its `PeerFailed` (Tampered) puts the reason on the row.
                self.client.tampered(now, peer);
            }
            other => log(&format!("call event not handled: {other:?}")),
        }
    }

    /// Takes `peer`'s offer and answers with our media.
    fn answer_media(&self, peer: PeerId, call: CallId, sdp: String) {
        let Some(rtc) = self.rtc_of(peer) else { return };
        let local = self.calls.local.clone();
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match rtc.media_answer(&sdp, local.as_ref()).await {
                Ok(sdp) => {
                    let answer = LocalDescription::Answer { peer, call, sdp };
                    let _ = inbox.unbounded_send(Input::CallDescription(answer));
                    if let Some(stream) = rtc.received_media() {
                        let _ = inbox.unbounded_send(Input::CallMediaOf { peer, stream });
                    }
                }
                Err(error) => log(&format!("could not answer {peer}'s media: {error}")),
            }
        });
    }

    /// Takes `peer`'s answer to our offer.
    fn take_media_answer(&self, peer: PeerId, sdp: String) {
        let Some(rtc) = self.rtc_of(peer) else { return };
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match rtc.media_answered(&sdp).await {
                Ok(()) => {
                    if let Some(stream) = rtc.received_media() {
                        let _ = inbox.unbounded_send(Input::CallMediaOf { peer, stream });
                    }
                }
                Err(error) => log(&format!("{peer}'s media answer failed: {error}")),
            }
        });
    }

    fn add_call_peer(&self, peer: PeerId, member: MemberKey) {
        self.state.call_peer_joined(peer, member);
    }

    fn remove_call_peer(&self, peer: PeerId) {
        if let Some(rtc) = self.rtc_of(peer) {
            rtc.set_media(None);
        }
        for stream in self.state.call_peer_left(peer) {
            media::unregister(&stream);
        }
    }

    /// We offer our media to `peer` (core decided: the lower member key of each pair).
    fn negotiate(&self, peer: PeerId, call: CallId) {
        let Some(rtc) = self.rtc_of(peer) else { return };
        rtc.set_media(self.calls.local.as_ref());
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match rtc.media_offer().await {
                Ok(sdp) => {
                    let offer = LocalDescription::Offer { peer, call, sdp };
                    let _ = inbox.unbounded_send(Input::CallDescription(offer));
                }
                Err(error) => log(&format!("could not offer media to {peer}: {error}")),
            }
        });
    }

    /// Remote media arrived on `peer`'s link.
    pub(super) fn call_track(&mut self, peer: PeerId, stream: MediaStream) {
        if self.calls.machine.current().is_none() {
            return;
        }
        self.calls.streams += 1;
        let key = format!("peer-{peer}-{}", self.calls.streams);
        media::register(&key, &stream);
        let now_ms = super::now_ms();
        if let Some(old) = self.state.call_peer_stream(peer, key, now_ms) {
            media::unregister(&old);
        }
        if self.settings.on_screen {
            crate::platform::page::publish("callConnectedAt", &now_ms.into());
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Starts a call to everyone we can call.
    pub(super) fn start_call(&mut self, video: bool) {
        if self.calls.machine.start_call(video).is_some() {
            self.open_call_view(video);
            self.capture_for_call(video);
        }
    }

    /// Accepts the ringing call.
    pub(super) fn accept_call(&mut self, now: Instant) {
        let accepted = self.calls.machine.accept_call();
        self.drain_calls(now);
        if let Some(video) = accepted {
            self.open_call_view(video);
            self.capture_for_call(video);
        }
    }

    pub(super) fn decline_call(&mut self, now: Instant) {
        self.calls.machine.decline_call();
        self.drain_calls(now);
    }

    fn open_call_view(&self, video: bool) {
        self.state.call_opened(video);
    }

    /// Captures the microphone (and camera), falling back to what is allowed; then core
    /// rings everyone (we started the call) or joins (we accepted).
    fn capture_for_call(&self, video: bool) {
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let (stream, note) = match media::capture(true, video, None, None).await {
                Ok(stream) => (Some(stream), None),
                Err(reason) => {
                    // Try with less: the microphone alone, or the camera alone.
                    let fallback = if video {
                        media::capture(true, false, None, None).await.ok()
                    } else {
                        None
                    };
                    match fallback {
                        Some(stream) => (
                            Some(stream),
                            Some(format!("Camera unavailable ({reason}): audio only.")),
                        ),
                        None => (
                            None,
                            Some(format!(
                                "Microphone and camera unavailable ({reason}): you can see and hear the others, they cannot hear you."
                            )),
                        ),
                    }
                }
            };
            let devices = media::devices().await;
            let _ = inbox.unbounded_send(Input::CallMedia {
                stream,
                note,
                devices,
            });
        });
    }

    pub(super) fn call_media(
        &mut self,
        now: Instant,
        stream: Option<MediaStream>,
        note: Option<String>,
        devices: Vec<(bool, String, String)>,
    ) {
        if self.calls.machine.current().is_none() {
            // Hung up while the devices opened.
            if let Some(stream) = &stream {
                media::stop(stream);
            }
            return;
        }
        if let Some(stream) = &stream {
            media::register("local", stream);
        }
        let has_video = stream
            .as_ref()
            .is_some_and(|s| !media::tracks(s, "video").is_empty());
        let local = stream.as_ref().map(|_| "local".to_owned());
        self.calls.local = stream;
        self.state
            .call_media_ready(local, !has_video, devices, note);
        self.calls.machine.handle_media_ready();
        self.drain_calls(now);
        self.calls.level_at = Some(now + LEVEL_EVERY);
        self.send_call_state(now);
    }

    pub(super) fn hang_up(&mut self, now: Instant) {
        self.calls.machine.hang_up();
        self.drain_calls(now);
    }

    /// Our call ended (core said so): stop capturing and close the call view.
    fn close_call_media(&mut self) {
        for stream in [self.calls.local.take(), self.calls.screen.take()]
            .into_iter()
            .flatten()
        {
            media::stop(&stream);
        }
        if let Some(key) = self.state.call_closed() {
            media::unregister(&key);
        }
        media::unregister("screen");
        self.calls.level_at = None;
    }

    pub(super) fn toggle_mute(&mut self, now: Instant) {
        let muted = !self
            .state
            .call()
            .with_untracked(|v| v.as_ref().is_some_and(|v| v.muted));
        if let Some(local) = &self.calls.local {
            media::set_enabled(local, "audio", !muted);
        }
        self.state.call_muted(muted);
        self.send_call_state(now);
    }

    pub(super) fn toggle_camera(&mut self, now: Instant) {
        let off = !self
            .state
            .call()
            .with_untracked(|v| v.as_ref().is_some_and(|v| v.camera_off));
        if let Some(local) = &self.calls.local {
            media::set_enabled(local, "video", !off);
        }
        self.state.call_camera_off(off);
        self.send_call_state(now);
    }

    pub(super) fn share_screen(&mut self, now: Instant, on: bool) {
        if !on {
            let camera = self
                .calls
                .local
                .as_ref()
                .and_then(|s| media::tracks(s, "video").into_iter().next());
            for peer in self.calls.machine.callable() {
                if let Some(rtc) = self.rtc_of(peer) {
                    rtc.replace_track("video", camera.as_ref());
                }
            }
            if let Some(screen) = self.calls.screen.take() {
                media::stop(&screen);
            }
            media::unregister("screen");
            self.state.call_sharing(false);
            self.send_call_state(now);
            return;
        }
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = media::capture_screen().await;
            let _ = inbox.unbounded_send(Input::ScreenCaptured(result));
        });
    }

    pub(super) fn screen_captured(
        &mut self,
        now: Instant,
        result: Result<MediaStream, CaptureError>,
    ) {
        let stream = match result {
            Ok(stream) => stream,
            Err(reason) => {
                self.state
                    .call_note(format!("Screen not shared: {reason}."));
                return;
            }
        };
        if self.calls.machine.current().is_none() {
            media::stop(&stream);
            return;
        }
        let track = media::tracks(&stream, "video").into_iter().next();
        for peer in self.calls.machine.callable() {
            if let Some(rtc) = self.rtc_of(peer) {
                rtc.replace_track("video", track.as_ref());
            }
        }
        media::register("screen", &stream);
        self.calls.screen = Some(stream);
        self.state.call_sharing(true);
        self.send_call_state(now);
    }

    /// Switches to another microphone or camera.
    pub(super) fn choose_device(&mut self, camera: bool, id: String) {
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = if camera {
                media::capture(false, true, None, Some(&id)).await
            } else {
                media::capture(true, false, Some(&id), None).await
            };
            let _ = inbox.unbounded_send(Input::DeviceCaptured { camera, result });
        });
    }

    pub(super) fn device_captured(
        &mut self,
        camera: bool,
        result: Result<MediaStream, CaptureError>,
    ) {
        let kind = if camera { "video" } else { "audio" };
        let stream = match result {
            Ok(stream) => stream,
            Err(reason) => {
                self.state.call_note(format!(
                    "Could not switch the {}: {reason}.",
                    if camera { "camera" } else { "microphone" }
                ));
                return;
            }
        };
        let Some(track) = media::tracks(&stream, kind).into_iter().next() else {
            return;
        };
        let Some(local) = self.calls.local.clone() else {
            media::stop(&stream);
            return;
        };
        let (muted, camera_off, sharing) = self.state.call().with_untracked(|v| {
            v.as_ref().map_or((false, false, false), |v| {
                (v.muted, v.camera_off, v.sharing)
            })
        });
        let enabled = if camera { !camera_off } else { !muted };
        // A new stream object under a new key, so the preview picks up the new track.
        let fresh = media::swap_track(&local, kind, &track, enabled);
        if !(camera && sharing) {
            for peer in self.calls.machine.callable() {
                if let Some(rtc) = self.rtc_of(peer) {
                    rtc.replace_track(kind, Some(&track));
                }
            }
        }
        if let Some(fresh) = fresh {
            self.calls.streams += 1;
            let key = format!("local-{}", self.calls.streams);
            media::register(&key, &fresh);
            self.calls.local = Some(fresh);
            if let Some(old) = self.state.call_local_stream(key) {
                media::unregister(&old);
            }
        }
    }

    fn send_call_state(&mut self, now: Instant) {
        let (muted, camera_off, sharing) = self.state.call().with_untracked(|v| {
            v.as_ref()
                .map_or((false, true, false), |v| (v.muted, v.camera_off, v.sharing))
        });
        self.calls.machine.set_state(muted, camera_off, sharing);
        self.drain_calls(now);
    }

    /// Measures who is speaking.
    pub(super) fn call_levels(&mut self, now: Instant) {
        if self.calls.level_at.is_none_or(|at| at > now) {
            return;
        }
        self.calls.level_at = Some(now + LEVEL_EVERY);
        self.state
            .call_speaking(|stream| media::level(stream).is_some_and(|level| level > SPEAKING));
    }

    /// Core's `ClientEvent::Moved`: the old room's links, which carry the call, end next
    /// (core's `leave_older_links`): the call ends with that reason (see core's `Calls`).
    pub(super) fn end_call_for_move(&mut self) {
        self.calls.machine.room_moved();
        self.drain_calls(super::clock::now());
    }

    /// Governance changed: once we are out of the room (removed, or we left), our call
    /// ends, with that reason, before our links go.
    pub(super) fn end_call_if_out_of_room(&mut self) {
        let me = self.client.identity().member_key();
        if self.client.governance().removed(&me).is_some() {
            self.calls.machine.removed_from_room();
            self.drain_calls(super::clock::now());
        } else {
            // In the room (again: a rival's removal undid ours): that is said no more.
            self.state.withdraw(Topic::CallEnded, CALL_ENDED_REMOVED);
        }
    }

    /// A link went away: it is out of the call and no longer vouched for.
    pub(super) fn forget_call_peer(&mut self, peer: PeerId) {
        self.calls.machine.remove_peer(peer);
        self.drain_calls(super::clock::now());
    }
}
