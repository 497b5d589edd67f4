//! Our call as `AppState` shows it: the driver's changes, one method per thing that
//! happened (core's call events, our devices). State knows no media: a method that drops
//! a stream returns its key for the driver to release.

use confab_core::{MemberKey, PeerId};
use leptos::prelude::*;

use super::{AppState, CallPeer, CallView, IncomingCall, Topic};

/// Calls (only the driver calls these).
impl AppState {
    /// Someone can be called (`can`), or nobody any more.
    pub fn callable(&self, can: bool) {
        self.can_call.set(can);
    }

    /// A call rings for us.
    pub fn ringing(&self, call: IncomingCall) {
        self.incoming_call.set(Some(call));
    }

    /// The call that rang for us stopped ringing (answered, declined or hung up).
    pub fn ringing_stopped(&self) {
        self.incoming_call.set(None);
    }

    /// We started or accepted a call (`video`: with the camera); nobody is in it yet.
    /// Why the last one ended is old news now.
    pub fn call_opened(&self, video: bool) {
        self.settle(Topic::CallEnded);
        self.call.set(Some(CallView {
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

    /// Our call ended. Returns our stream's key, for the driver to release.
    pub fn call_closed(&self) -> Option<String> {
        let local = self
            .call
            .with_untracked(|view| view.as_ref().and_then(|view| view.local.clone()));
        self.call.set(None);
        local
    }

    /// Our microphone and camera opened (or did not): `local` is our stream's key, `note`
    /// what the user should know about the devices.
    pub fn call_media_ready(
        &self,
        local: Option<String>,
        camera_off: bool,
        devices: Vec<(bool, String, String)>,
        note: Option<String>,
    ) {
        self.change_call(|view| {
            view.local = local;
            view.camera_off = camera_off;
            view.devices = devices;
            view.note = note;
        });
    }

    /// We muted our microphone, or unmuted it.
    pub fn call_muted(&self, muted: bool) {
        self.change_call(|view| view.muted = muted);
    }

    /// We turned our camera off, or on.
    pub fn call_camera_off(&self, off: bool) {
        self.change_call(|view| view.camera_off = off);
    }

    /// We started sharing our screen (which answers an earlier note), or stopped.
    pub fn call_sharing(&self, sharing: bool) {
        self.change_call(|view| {
            view.sharing = sharing;
            if sharing {
                view.note = None;
            }
        });
    }

    /// Something about our devices the user should know (a device refused, say).
    pub fn call_note(&self, note: String) {
        self.change_call(|view| view.note = Some(note));
    }

    /// Our stream is now the one under `key` (another microphone or camera); returns the
    /// key it replaces, for the driver to release.
    pub fn call_local_stream(&self, key: String) -> Option<String> {
        let mut old = None;
        self.change_call(|view| {
            old = view.local.replace(key);
            view.note = None;
        });
        old
    }

    /// `peer` (who is `member`) joined our call.
    pub fn call_peer_joined(&self, peer: PeerId, member: MemberKey) {
        self.change_call(|view| {
            if !view.peers.iter().any(|p| p.peer == peer) {
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

    /// `peer` left our call. Returns the keys of its streams, for the driver to release.
    pub fn call_peer_left(&self, peer: PeerId) -> Vec<String> {
        let mut streams = Vec::new();
        self.change_call(|view| {
            streams.extend(
                view.peers
                    .iter()
                    .filter(|p| p.peer == peer)
                    .filter_map(|p| p.stream.clone()),
            );
            view.peers.retain(|p| p.peer != peer);
        });
        streams
    }

    /// `peer` muted, turned its camera off or started sharing its screen (or the reverse).
    pub fn call_peer_changed(&self, peer: PeerId, muted: bool, camera_off: bool, sharing: bool) {
        self.change_call(|view| {
            if let Some(entry) = view.peers.iter_mut().find(|p| p.peer == peer) {
                entry.muted = muted;
                entry.camera_off = camera_off;
                entry.sharing = sharing;
            }
        });
    }

    /// `peer`'s media arrived (page clock `now_ms`: the call is connected from the first)
    /// and is registered under `key`. Returns the key of the stream it replaces, for the
    /// driver to release.
    pub fn call_peer_stream(&self, peer: PeerId, key: String, now_ms: f64) -> Option<String> {
        let mut old = None;
        self.change_call(|view| {
            view.connected_at.get_or_insert(now_ms);
            if let Some(entry) = view.peers.iter_mut().find(|p| p.peer == peer) {
                old = entry.stream.replace(key);
            }
        });
        old
    }

    /// Who in our call speaks now: `speaking` says it of a stream's key (a muted peer never
    /// speaks).
    pub fn call_speaking(&self, speaking: impl Fn(&str) -> bool) {
        self.change_call(|view| {
            for entry in &mut view.peers {
                let loud = entry.stream.as_deref().is_some_and(&speaking);
                entry.speaking = loud && !entry.muted;
            }
        });
    }

    /// Changes our call as shown, if there is one.
    fn change_call(&self, change: impl FnOnce(&mut CallView)) {
        self.call.update(|view| {
            if let Some(view) = view {
                change(view);
            }
        });
    }
}
