//! Calls: voice and video between the members of a room (a mesh of up to 4), added to the
//! existing peer connections by renegotiation. Every signalling message — ringing, SDP,
//! mute state — travels inside the peer's Noise session (`Client::send_call`), never
//! through the server.
//!
//! **Why the media is end-to-end encrypted.** The first SDP of a link went through the
//! server, which could have replaced the DTLS fingerprints and sat in the middle. So as
//! soon as a direct link is verified, each side sends its own DTLS fingerprints inside
//! Noise (`dtls`), and the other compares them with the fingerprints of the description
//! its DTLS handshake accepted: a mismatch means a man in the middle, and the link is
//! dropped. Calls are offered only to peers whose fingerprints matched; media is bundled
//! on that same DTLS transport (`max-bundle`), so SRTP keys come from a DTLS handshake
//! with the certificate the verified Confab identity vouched for. Every renegotiation
//! SDP must carry the same fingerprints, or it is refused.

use confab_core::{Instant, MemberKey, PeerId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Driver, Input, log};
use crate::platform::media;
use crate::platform::rtc::RtcLink;
use crate::state::{CallPeer, CallView, IncomingCall, MemberStatus, Path};

/// Most people in one call (a full mesh: each sends its media to every other).
pub const MAX_CALL: usize = 4;
/// How often speaking levels are measured.
const LEVEL_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// RMS level above which someone counts as speaking.
const SPEAKING: f64 = 0.01;

/// The call signalling, JSON inside the Noise session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub(super) enum CallMessage {
    /// The DTLS fingerprints of our end of the direct link.
    Dtls { fingerprints: Vec<String> },
    /// Ringing: join call `call`.
    Invite { call: u64, video: bool },
    /// We are in call `call` (accepted).
    Join { call: u64 },
    /// We will not join.
    Decline { call: u64 },
    /// We left (or stopped ringing).
    Leave { call: u64 },
    /// Renegotiation offer / answer for our media.
    Offer { call: u64, sdp: String },
    /// Answer to `Offer`.
    Answer { call: u64, sdp: String },
    /// Our microphone, camera and screen.
    State {
        call: u64,
        muted: bool,
        camera_off: bool,
        sharing: bool,
    },
}

/// The call the driver runs.
#[derive(Default)]
pub(super) struct Calls {
    /// Our call's id, and whether it is a video call.
    current: Option<(u64, bool)>,
    /// The ringing call: (id, from, video).
    ringing: Option<(u64, PeerId, bool)>,
    local: Option<web_sys::MediaStream>,
    screen: Option<web_sys::MediaStream>,
    /// Fingerprints each direct peer declared inside Noise and we checked.
    verified_dtls: std::collections::HashMap<PeerId, Vec<String>>,
    /// When to measure speaking levels next.
    level_at: Option<Instant>,
    /// Streams registered so far (each remote stream gets a new key).
    streams: u64,
}

impl Calls {
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.level_at
    }
}

impl Driver {
    fn rtc_of(&self, peer: PeerId) -> Option<RtcLink> {
        let link = self.links.get(&peer)?;
        if link.path != Path::Direct {
            return None;
        }
        link.rtc.as_ref()?.rtc()
    }

    fn send_call_message(&mut self, now: Instant, peer: PeerId, message: &CallMessage) {
        if let Ok(json) = serde_json::to_vec(message) {
            self.client.send_call(now, peer, &json);
        }
    }

    /// A link was verified: if it is direct, vouch for our DTLS fingerprints inside Noise.
    pub(super) fn announce_dtls(&mut self, now: Instant, peer: PeerId) {
        if let Some(rtc) = self.rtc_of(peer) {
            let fingerprints = rtc.local_fingerprints();
            self.send_call_message(now, peer, &CallMessage::Dtls { fingerprints });
        }
    }

    fn update_can_call(&self) {
        let can = !self.calls.verified_dtls.is_empty();
        self.state.can_call.set(can);
    }

    /// Peers we may call: verified, direct, DTLS fingerprints checked.
    fn callable(&self) -> Vec<PeerId> {
        self.client
            .verified_peers()
            .map(|(peer, _)| peer)
            .filter(|peer| self.calls.verified_dtls.contains_key(peer))
            .collect()
    }

    pub(super) fn call_message(
        &mut self,
        now: Instant,
        peer: PeerId,
        member: MemberKey,
        data: &[u8],
    ) {
        let message = match serde_json::from_slice::<CallMessage>(data) {
            Ok(message) => message,
            Err(error) => return log(&format!("unreadable call message from {peer}: {error}")),
        };
        match message {
            CallMessage::Dtls { fingerprints } => {
                let Some(rtc) = self.rtc_of(peer) else { return };
                let accepted = rtc.remote_fingerprints();
                if accepted.is_empty() || fingerprints != accepted {
                    log(&format!(
                        "DTLS fingerprints of {peer} differ from what it vouched for: {accepted:?} vs {fingerprints:?}"
                    ));
                    self.state.member_status(
                        peer,
                        MemberStatus::Failed(
                            "the connection was tampered with (its encryption keys were swapped)"
                                .into(),
                        ),
                    );
                    self.drop_link(now, peer);
                    return;
                }
                self.calls.verified_dtls.insert(peer, fingerprints);
                self.update_can_call();
            }
            CallMessage::Invite { call, video } => {
                if self.calls.current.is_some() || self.calls.ringing.is_some() {
                    if self.calls.current.map(|(id, _)| id) != Some(call) {
                        self.send_call_message(now, peer, &CallMessage::Decline { call });
                    }
                    return;
                }
                self.calls.ringing = Some((call, peer, video));
                self.state.incoming_call.set(Some(IncomingCall {
                    peer,
                    member,
                    video,
                }));
            }
            CallMessage::Join { call } => {
                if self.calls.current.map(|(id, _)| id) != Some(call) {
                    return;
                }
                let known = self.state.call.with_untracked(|v| {
                    v.as_ref()
                        .is_some_and(|v| v.peers.iter().any(|p| p.peer == peer))
                });
                self.add_call_peer(peer, member);
                if self.client.identity().member_key() < member {
                    self.negotiate(peer, call);
                } else if !known {
                    // They offer (lower key): tell them we are in it too.
                    self.send_call_message(now, peer, &CallMessage::Join { call });
                }
            }
            CallMessage::Decline { call } | CallMessage::Leave { call } => {
                if self
                    .calls
                    .ringing
                    .is_some_and(|(id, from, _)| id == call && from == peer)
                {
                    self.calls.ringing = None;
                    self.state.incoming_call.set(None);
                }
                if self.calls.current.map(|(id, _)| id) == Some(call) {
                    let was_with = self.call_peer_count();
                    self.remove_call_peer(peer);
                    // The last one with us left, or the only one we rang said no: the
                    // call is over (someone rung in a room may still come, though).
                    let alone =
                        self.call_peer_count() == 0 && (was_with > 0 || self.callable().len() <= 1);
                    if alone {
                        self.hang_up(now);
                        self.state.notice.set(Some("Call ended.".into()));
                    }
                }
            }
            CallMessage::Offer { call, sdp } => {
                if self.calls.current.map(|(id, _)| id) != Some(call)
                    || !self.sdp_vouched(peer, &sdp)
                {
                    return;
                }
                self.add_call_peer(peer, member);
                let Some(rtc) = self.rtc_of(peer) else { return };
                let local = self.calls.local.clone();
                let inbox = self.inbox.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    match rtc.media_answer(&sdp, local.as_ref()).await {
                        Ok(sdp) => {
                            let _ = inbox.unbounded_send(Input::CallSend {
                                peer,
                                message: CallMessage::Answer { call, sdp },
                            });
                            if let Some(stream) = rtc.received_media() {
                                let _ = inbox.unbounded_send(Input::CallMediaOf { peer, stream });
                            }
                        }
                        Err(error) => log(&format!("could not answer {peer}'s media: {error}")),
                    }
                });
            }
            CallMessage::Answer { call, sdp } => {
                if self.calls.current.map(|(id, _)| id) != Some(call)
                    || !self.sdp_vouched(peer, &sdp)
                {
                    return;
                }
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
            CallMessage::State {
                call,
                muted,
                camera_off,
                sharing,
            } => {
                if self.calls.current.map(|(id, _)| id) != Some(call) {
                    return;
                }
                self.state.call.update(|view| {
                    if let Some(entry) = view
                        .as_mut()
                        .and_then(|v| v.peers.iter_mut().find(|p| p.peer == peer))
                    {
                        entry.muted = muted;
                        entry.camera_off = camera_off;
                        entry.sharing = sharing;
                    }
                });
            }
        }
    }

    /// A renegotiation SDP must declare the DTLS fingerprints vouched for in Noise.
    fn sdp_vouched(&self, peer: PeerId, sdp: &str) -> bool {
        let declared = media::fingerprints(sdp);
        let ok = self
            .calls
            .verified_dtls
            .get(&peer)
            .is_some_and(|vouched| *vouched == declared);
        if !ok {
            log(&format!(
                "refused {peer}'s media description: fingerprints {declared:?}"
            ));
        }
        ok
    }

    fn add_call_peer(&self, peer: PeerId, member: MemberKey) {
        self.state.call.update(|view| {
            if let Some(view) = view
                && !view.peers.iter().any(|p| p.peer == peer)
            {
                view.peers.push(CallPeer {
                    peer,
                    member,
                    stream: None,
                    muted: false,
                    camera_off: false,
                    sharing: false,
                    speaking: false,
                });
            }
        });
    }

    fn remove_call_peer(&self, peer: PeerId) {
        if let Some(rtc) = self.rtc_of(peer) {
            rtc.set_media(None);
        }
        self.state.call.update(|view| {
            if let Some(view) = view {
                for gone in view.peers.iter().filter(|p| p.peer == peer) {
                    if let Some(key) = &gone.stream {
                        media::unregister(key);
                    }
                }
                view.peers.retain(|p| p.peer != peer);
            }
        });
    }

    /// We offer our media to `peer` (the lower member key of each pair offers).
    fn negotiate(&self, peer: PeerId, call: u64) {
        let Some(rtc) = self.rtc_of(peer) else { return };
        rtc.set_media(self.calls.local.as_ref());
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match rtc.media_offer().await {
                Ok(sdp) => {
                    let _ = inbox.unbounded_send(Input::CallSend {
                        peer,
                        message: CallMessage::Offer { call, sdp },
                    });
                }
                Err(error) => log(&format!("could not offer media to {peer}: {error}")),
            }
        });
    }

    /// Remote media arrived on `peer`'s link.
    pub(super) fn call_track(&mut self, peer: PeerId, stream: web_sys::MediaStream) {
        if self.calls.current.is_none() {
            return;
        }
        self.calls.streams += 1;
        let key = format!("peer-{peer}-{}", self.calls.streams);
        media::register(&key, &stream);
        let old = self.state.call.with_untracked(|view| {
            view.as_ref()
                .and_then(|v| v.peers.iter().find(|p| p.peer == peer))
                .and_then(|p| p.stream.clone())
        });
        if let Some(old) = old {
            media::unregister(&old);
        }
        let now_ms = super::now_ms();
        self.state.call.update(|view| {
            if let Some(view) = view {
                view.connected_at.get_or_insert(now_ms);
                if let Some(entry) = view.peers.iter_mut().find(|p| p.peer == peer) {
                    entry.stream = Some(key.clone());
                }
            }
        });
        if self.settings.on_screen {
            crate::platform::page::publish("callConnectedAt", &now_ms.into());
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Starts a call to everyone we can call.
    pub(super) fn start_call(&mut self, video: bool) {
        if self.calls.current.is_some() {
            return;
        }
        let call = u64::from_le_bytes(
            crate::platform::entropy::seed()[..8]
                .try_into()
                .unwrap_or([1; 8]),
        );
        self.calls.current = Some((call, video));
        self.open_call_view(video);
        self.capture_for_call(video, None);
    }

    /// Accepts the ringing call.
    pub(super) fn accept_call(&mut self) {
        let Some((call, from, video)) = self.calls.ringing.take() else {
            return;
        };
        self.state.incoming_call.set(None);
        self.calls.current = Some((call, video));
        self.open_call_view(video);
        self.capture_for_call(video, Some(from));
    }

    pub(super) fn decline_call(&mut self, now: Instant) {
        if let Some((call, from, _)) = self.calls.ringing.take() {
            self.send_call_message(now, from, &CallMessage::Decline { call });
        }
        self.state.incoming_call.set(None);
    }

    fn open_call_view(&self, video: bool) {
        self.state.call.set(Some(CallView {
            video,
            connected_at: None,
            peers: Vec::new(),
            muted: false,
            camera_off: !video,
            sharing: false,
            local: None,
            note: None,
            devices: Vec::new(),
        }));
    }

    /// Captures the microphone (and camera), falling back to what is allowed; then
    /// invites everyone (`answering: None`) or joins.
    fn capture_for_call(&self, video: bool, answering: Option<PeerId>) {
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let (stream, note) = match media::capture(true, video, None, None).await {
                Ok(stream) => (Some(stream), None),
                Err(first) => {
                    let reason = media::describe(&first);
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
                answering,
            });
        });
    }

    pub(super) fn call_media(
        &mut self,
        now: Instant,
        stream: Option<web_sys::MediaStream>,
        note: Option<String>,
        devices: Vec<(bool, String, String)>,
        answering: Option<PeerId>,
    ) {
        let Some((call, video)) = self.calls.current else {
            // Hung up while the devices opened.
            if let Some(stream) = &stream {
                media::stop(stream);
            }
            return;
        };
        if let Some(stream) = &stream {
            media::register("local", stream);
        }
        let has_video = stream
            .as_ref()
            .is_some_and(|s| !media::tracks(s, "video").is_empty());
        self.calls.local = stream;
        self.state.call.update(|view| {
            if let Some(view) = view {
                view.local = self.calls.local.as_ref().map(|_| "local".to_owned());
                view.camera_off = !has_video;
                view.devices = devices;
                view.note = note;
            }
        });
        let targets = self.callable();
        match answering {
            None => {
                for peer in targets.into_iter().take(MAX_CALL - 1) {
                    self.send_call_message(now, peer, &CallMessage::Invite { call, video });
                }
            }
            Some(_) => {
                // Everyone in the call pairs with us; those only ringing ignore it.
                for peer in targets {
                    self.send_call_message(now, peer, &CallMessage::Join { call });
                }
            }
        }
        self.calls.level_at = Some(now + LEVEL_EVERY);
        self.send_call_state(now);
    }

    /// How many others are in our call.
    fn call_peer_count(&self) -> usize {
        self.state
            .call
            .with_untracked(|v| v.as_ref().map_or(0, |v| v.peers.len()))
    }

    pub(super) fn hang_up(&mut self, now: Instant) {
        let Some((call, _)) = self.calls.current.take() else {
            return;
        };
        for peer in self.callable() {
            self.send_call_message(now, peer, &CallMessage::Leave { call });
            self.remove_call_peer(peer);
        }
        for stream in [self.calls.local.take(), self.calls.screen.take()]
            .into_iter()
            .flatten()
        {
            media::stop(&stream);
        }
        if let Some(key) = self
            .state
            .call
            .with_untracked(|v| v.as_ref().and_then(|v| v.local.clone()))
        {
            media::unregister(&key);
        }
        media::unregister("screen");
        self.calls.level_at = None;
        self.state.call.set(None);
    }

    pub(super) fn toggle_mute(&mut self, now: Instant) {
        let muted = !self
            .state
            .call
            .with_untracked(|v| v.as_ref().is_some_and(|v| v.muted));
        if let Some(local) = &self.calls.local {
            media::set_enabled(local, "audio", !muted);
        }
        self.state.call.update(|v| {
            if let Some(v) = v {
                v.muted = muted;
            }
        });
        self.send_call_state(now);
    }

    pub(super) fn toggle_camera(&mut self, now: Instant) {
        let off = !self
            .state
            .call
            .with_untracked(|v| v.as_ref().is_some_and(|v| v.camera_off));
        if let Some(local) = &self.calls.local {
            media::set_enabled(local, "video", !off);
        }
        self.state.call.update(|v| {
            if let Some(v) = v {
                v.camera_off = off;
            }
        });
        self.send_call_state(now);
    }

    pub(super) fn share_screen(&mut self, now: Instant, on: bool) {
        if !on {
            let camera = self
                .calls
                .local
                .as_ref()
                .and_then(|s| media::tracks(s, "video").into_iter().next());
            for peer in self.callable() {
                if let Some(rtc) = self.rtc_of(peer) {
                    rtc.replace_track("video", camera.as_ref());
                }
            }
            if let Some(screen) = self.calls.screen.take() {
                media::stop(&screen);
            }
            media::unregister("screen");
            self.state.call.update(|v| {
                if let Some(v) = v {
                    v.sharing = false;
                }
            });
            self.send_call_state(now);
            return;
        }
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = media::capture_screen()
                .await
                .map_err(|e| media::describe(&e));
            let _ = inbox.unbounded_send(Input::ScreenCaptured(result));
        });
    }

    pub(super) fn screen_captured(
        &mut self,
        now: Instant,
        result: Result<web_sys::MediaStream, String>,
    ) {
        let stream = match result {
            Ok(stream) => stream,
            Err(reason) => {
                self.state.call.update(|v| {
                    if let Some(v) = v {
                        v.note = Some(format!("Screen not shared: {reason}."));
                    }
                });
                return;
            }
        };
        if self.calls.current.is_none() {
            media::stop(&stream);
            return;
        }
        let track = media::tracks(&stream, "video").into_iter().next();
        for peer in self.callable() {
            if let Some(rtc) = self.rtc_of(peer) {
                rtc.replace_track("video", track.as_ref());
            }
        }
        media::register("screen", &stream);
        self.calls.screen = Some(stream);
        self.state.call.update(|v| {
            if let Some(v) = v {
                v.sharing = true;
                v.note = None;
            }
        });
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
            }
            .map_err(|e| media::describe(&e));
            let _ = inbox.unbounded_send(Input::DeviceCaptured { camera, result });
        });
    }

    pub(super) fn device_captured(
        &mut self,
        camera: bool,
        result: Result<web_sys::MediaStream, String>,
    ) {
        let kind = if camera { "video" } else { "audio" };
        let stream = match result {
            Ok(stream) => stream,
            Err(reason) => {
                self.state.call.update(|v| {
                    if let Some(v) = v {
                        v.note = Some(format!(
                            "Could not switch the {}: {reason}.",
                            if camera { "camera" } else { "microphone" }
                        ));
                    }
                });
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
        for old in media::tracks(&local, kind) {
            local.remove_track(&old);
            old.stop();
        }
        local.add_track(&track);
        let (muted, camera_off, sharing) = self.state.call.with_untracked(|v| {
            v.as_ref().map_or((false, false, false), |v| {
                (v.muted, v.camera_off, v.sharing)
            })
        });
        track.set_enabled(if camera { !camera_off } else { !muted });
        if !(camera && sharing) {
            for peer in self.callable() {
                if let Some(rtc) = self.rtc_of(peer) {
                    rtc.replace_track(kind, Some(&track));
                }
            }
        }
        // A new stream object under a new key, so the preview picks up the new track.
        if let Ok(fresh) = web_sys::MediaStream::new_with_tracks(&local.get_tracks()) {
            self.calls.streams += 1;
            let key = format!("local-{}", self.calls.streams);
            media::register(&key, &fresh);
            self.calls.local = Some(fresh);
            self.state.call.update(|v| {
                if let Some(v) = v {
                    if let Some(old) = v.local.replace(key) {
                        media::unregister(&old);
                    }
                    v.note = None;
                }
            });
        }
    }

    fn send_call_state(&mut self, now: Instant) {
        let Some((call, _)) = self.calls.current else {
            return;
        };
        let (muted, camera_off, sharing) = self.state.call.with_untracked(|v| {
            v.as_ref()
                .map_or((false, true, false), |v| (v.muted, v.camera_off, v.sharing))
        });
        let peers: Vec<PeerId> = self
            .state
            .call
            .with_untracked(|v| v.as_ref().map(|v| v.peers.iter().map(|p| p.peer).collect()))
            .unwrap_or_default();
        for peer in peers {
            self.send_call_message(
                now,
                peer,
                &CallMessage::State {
                    call,
                    muted,
                    camera_off,
                    sharing,
                },
            );
        }
    }

    /// Measures who is speaking.
    pub(super) fn call_levels(&mut self, now: Instant) {
        if self.calls.level_at.is_none_or(|at| at > now) {
            return;
        }
        self.calls.level_at = Some(now + LEVEL_EVERY);
        self.state.call.update(|view| {
            if let Some(view) = view {
                for entry in &mut view.peers {
                    let speaking = entry
                        .stream
                        .as_deref()
                        .and_then(media::level)
                        .is_some_and(|level| level > SPEAKING);
                    entry.speaking = speaking && !entry.muted;
                }
            }
        });
    }

    /// A link went away: it is out of the call and no longer vouched for.
    pub(super) fn forget_call_peer(&mut self, peer: PeerId) {
        self.calls.verified_dtls.remove(&peer);
        self.update_can_call();
        if self.calls.ringing.is_some_and(|(_, from, _)| from == peer) {
            self.calls.ringing = None;
            self.state.incoming_call.set(None);
        }
        self.remove_call_peer(peer);
    }
}
