//! The signalling server connection: connecting with backoff, leaving, and what the
//! server says (welcome, who is in the room, sealed signals, relayed frames), handed to
//! core, which decides what each means for the links.

use std::rc::Rc;
use std::time::Duration;

use confab_core::Instant;
use confab_core::signal::ClientMessage;
use confab_core::signal::ServerFrame;
use confab_core::signal::ServerMessage;
use confab_core::wire::relay::Direction as RelayDirection;
use confab_core::wire::relay::Envelope;

use super::Driver;
use super::Input;
use super::MAX_RECONNECT_DELAY;
use crate::platform::clock;
use crate::platform::clock::log;
use crate::platform::page;
use crate::platform::rtc::IceServerConfig;
use crate::platform::socket::SocketEvent;

impl Driver {
    pub(super) fn connect_socket(&mut self) {
        // A one-to-one room with someone the user blocked stays away from the server
        // (unblocking connects it: `blocked_changed`).
        if self.refuses_room() {
            self.reconnect_at = None;
            if self.settings.on_screen {
                self.state
                    .notify("You blocked them: unblock them in Contacts to talk here again.");
            }
            return;
        }
        let inbox = self.inbox.clone();
        let sink = Rc::new(move |event| {
            let _ = inbox.unbounded_send(Input::Socket(event));
        });
        match self.network.connect(&page::socket_url(), sink) {
            Ok(socket) => self.socket = Some(socket),
            Err(error) => {
                log(&error.to_string());
                self.schedule_reconnect(clock::now());
            }
        }
    }

    /// The page goes away (closed, left, or frozen in the back/forward cache): say goodbye,
    /// then close the server connection, so the server tells the room at once. A frozen page that kept its connection stayed listed in the room without ever
    /// answering, and whoever came meanwhile showed "Connecting to 1 more…" for it.
    pub(super) fn leave(&mut self, now: Instant) {
        self.client.leave(now);
        self.drain(now);
        // Dropping the socket closes it (a page restored from the cache reloads). Direct
        // links stay open for the goodbyes just sent on them; the browser closes them with
        // the page.
        self.socket = None;
        self.reconnect_at = None;
        self.mailbox.disconnected();
    }

    pub(super) fn schedule_reconnect(&mut self, now: Instant) {
        let delay =
            Duration::from_secs(1u64 << self.reconnect_attempts.min(4)).min(MAX_RECONNECT_DELAY);
        self.reconnect_attempts += 1;
        self.reconnect_at = Some(now + delay);
        self.state.server_lost();
    }

    pub(super) fn send_signal(&self, message: &ClientMessage) {
        if let (Some(socket), Ok(text)) = (&self.socket, serde_json::to_string(message)) {
            socket.send_text(&text);
        }
    }

    pub(super) fn handle_socket(&mut self, now: Instant, event: SocketEvent) {
        match event {
            SocketEvent::Open => {}
            SocketEvent::Text(text) => match serde_json::from_str::<ServerFrame>(&text) {
                Ok(ServerFrame::Server(message)) => self.handle_server_message(now, message),
                Ok(ServerFrame::Mailbox(reply)) => self.handle_mailbox_reply(now, reply),
                Err(error) => log(&format!("unreadable message from the server: {error}")),
            },
            SocketEvent::Binary(bytes) => match Envelope::decode(&bytes) {
                Ok(Envelope {
                    direction: RelayDirection::From(peer),
                    payload,
                }) => self.client.handle_relayed(now, peer, payload),
                Ok(_) => log("relay envelope with the wrong direction"),
                Err(error) => log(&format!("malformed relay envelope: {error}")),
            },
            SocketEvent::Closed { code, reason } => {
                log(&format!("server connection closed ({code} {reason})"));
                self.socket = None;
                self.mailbox.disconnected();
                // Relayed links die with the socket; direct ones carry on.
                self.client.disconnected(now);
                self.schedule_reconnect(now);
            }
        }
    }

    pub(super) fn handle_server_message(&mut self, now: Instant, message: ServerMessage) {
        match message {
            ServerMessage::Welcome {
                peer,
                ice_servers,
                relay_bytes_per_sec,
                relay_burst_bytes,
                mailbox_puts_per_minute,
                push_key,
            } => {
                self.reconnect_attempts = 0;
                self.client.connected(now, peer);
                self.push_welcome(push_key);
                self.mailbox_welcome(now, peer, mailbox_puts_per_minute);
                self.set_relay_cap(relay_bytes_per_sec, relay_burst_bytes);
                self.ice_servers = ice_servers
                    .into_iter()
                    .map(|s| IceServerConfig {
                        urls: s.urls,
                        username: s.username,
                        credential: s.credential,
                    })
                    .collect();
                self.send_signal(&ClientMessage::Join { room: self.room });
            }
            ServerMessage::Joined { room: _, peers } => {
                self.state.server_online();
                for peer in peers {
                    self.client.connect_peer(now, peer);
                }
                self.mailbox_joined(now);
            }
            // The newcomer connects: its row comes with its first offer or handshake
            // (core's `PeerConnecting`, ended by the handshake timer if it goes no
            // further). A row made here stayed "Connecting to 1 more…" for as long as
            // a newcomer that never offered stayed at the server.
            ServerMessage::PeerJoined { .. } => {}
            // Was there before us (learned late, from another node): we are the newcomer.
            ServerMessage::PeerPresent { room: _, peer } => self.client.connect_peer(now, peer),
            ServerMessage::PeerLeft { room: _, peer } => {
                if !self.client.handle_peer_left(now, peer) {
                    // A link that never became anyone (or none at all: they joined and
                    // left before offering); a row that already says "left" (their
                    // goodbye came first) stays.
                    self.state.member_forget_connecting(peer);
                }
            }
            // Only a signal sealed to us by a member opens, and only an unverified link
            // heeds it (core reports the rest as `PeerRejected`).
            ServerMessage::Signal { from, data } => self.client.handle_signal(now, from, &data),
            // Push stays off for this room until the next welcome asks again.
            ServerMessage::PushRefused {
                room,
                code,
                message,
            } => log(&format!(
                "the server refused push notifications for room {room}: {code:?}: {message}"
            )),
            ServerMessage::Error { code, message } => {
                if !self.mailbox_error(now, code) {
                    log(&format!("server refused a request: {code:?}: {message}"))
                }
            }
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "server_tests.rs"]
mod tests;
