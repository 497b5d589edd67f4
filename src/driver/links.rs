//! Direct connections: the driver opens and closes RTCPeerConnections when core says so
//! (`ClientEvent::OpenDirect`, `CloseDirect`), reports what they do, and sends each frame on
//! the path core chose (`Transmit::via`).

use std::rc::Rc;

use confab_core::Generation;
use confab_core::Instant;
use confab_core::Path;
use confab_core::PeerId;
use confab_core::Via;
use confab_core::wire::relay::Direction as RelayDirection;
use confab_core::wire::relay::Envelope;

use super::Driver;
use super::Input;
use crate::platform::clock::log;
use crate::platform::net::DirectLink;
use crate::platform::rtc::RtcEvent;
use crate::platform::rtc::RtcSignal;

/// A direct connection the driver holds because core asked for it.
pub(super) struct Direct {
    generation: Generation,
    pub(super) rtc: Box<dyn DirectLink>,
}

impl Driver {
    pub(super) fn open_direct(
        &mut self,
        now: Instant,
        peer: PeerId,
        generation: Generation,
        offerer: bool,
    ) {
        let inbox = self.inbox.clone();
        let sink = Rc::new(move |event| {
            let _ = inbox.unbounded_send(Input::Rtc {
                peer,
                generation,
                event,
            });
        });
        match self.network.open_link(&self.ice_servers, offerer, sink) {
            Ok(rtc) => {
                if let Some(old) = self.rtcs.insert(peer, Direct { generation, rtc }) {
                    old.rtc.close();
                }
            }
            Err(error) => {
                log(&format!("cannot create a peer connection: {error}"));
                self.client.handle_direct_closed(now, peer, generation);
            }
        }
    }

    pub(super) fn close_direct(&mut self, peer: PeerId, generation: Generation) {
        if self
            .rtcs
            .get(&peer)
            .is_some_and(|direct| direct.generation == generation)
            && let Some(direct) = self.rtcs.remove(&peer)
        {
            direct.rtc.close();
        }
    }

    /// `peer`'s direct connection, while its link runs on it.
    pub(super) fn direct(&self, peer: PeerId) -> Option<&dyn DirectLink> {
        if self.client.path(peer) != Some(Path::Direct) {
            return None;
        }
        self.rtcs.get(&peer).map(|direct| direct.rtc.as_ref())
    }

    pub(super) fn handle_rtc(
        &mut self,
        now: Instant,
        peer: PeerId,
        generation: Generation,
        event: RtcEvent,
    ) {
        let current = self
            .rtcs
            .get(&peer)
            .is_some_and(|direct| direct.generation == generation);
        if !current {
            return;
        }
        match event {
            RtcEvent::Signal(RtcSignal::Candidate { .. })
                if self.settings.dangerously_withhold_ice_candidates => {}
            RtcEvent::Signal(signal) => self
                .client
                .handle_local_signal(now, peer, generation, &signal),
            RtcEvent::Open => self.client.handle_direct_open(now, peer, generation),
            RtcEvent::Message(bytes) => self.client.handle_frame(now, peer, &bytes),
            RtcEvent::FileMessage { file, bytes } => {
                self.client.handle_file_frame(now, peer, file, &bytes)
            }
            RtcEvent::FileDrained(_) => self.pump_uploads(now),
            RtcEvent::Track(stream) => self.call_track(peer, stream),
            RtcEvent::Closed => {
                self.rtcs.remove(&peer);
                self.client.handle_direct_closed(now, peer, generation);
            }
        }
    }

    pub(super) fn transmit(&mut self, transmit: confab_core::Transmit) {
        let confab_core::Transmit {
            peer,
            bytes,
            channel,
            via,
        } = transmit;
        let bytes = bytes.as_slice();
        self.bytes_sent += bytes.len() as u64;
        let sent = match via {
            Via::Direct => self.rtcs.get(&peer).is_some_and(|direct| match channel {
                confab_core::Channel::Main => direct.rtc.send(bytes),
                confab_core::Channel::File(file) => direct.rtc.send_file(file, bytes),
            }),
            Via::Relay => {
                let envelope = Envelope {
                    direction: RelayDirection::To(peer),
                    payload: bytes,
                }
                .encode();
                self.socket
                    .as_ref()
                    .is_some_and(|socket| socket.send_binary(&envelope))
            }
        };
        if !sent {
            log(&format!(
                "frame to {peer} dropped: its {via:?} path is closed"
            ));
        }
    }

    /// Hands a signal from `peer` that core let through to that direct connection.
    pub(super) fn remote_signal(&self, peer: PeerId, generation: Generation, signal: RtcSignal) {
        if let Some(direct) = self
            .rtcs
            .get(&peer)
            .filter(|direct| direct.generation == generation)
        {
            direct.rtc.handle_signal(signal);
        }
    }
}
