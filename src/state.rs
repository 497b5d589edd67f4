//! What the UI shows, as signals. Only the driver writes them, through the methods here;
//! components only read.

use confab_core::{MessageId, PeerId};
use leptos::prelude::*;

/// How the signalling server connection is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerStatus {
    /// Opening the first connection.
    Connecting,
    /// Connected and in the room.
    Online,
    /// Lost; trying again (direct chats go on meanwhile).
    Reconnecting,
}

/// How the bytes to a member travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// Not yet known.
    Pending,
    /// WebRTC data channel, browser to browser.
    Direct,
    /// Through the server's relay (ciphertext only).
    Relay,
}

/// A member's state as shown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Link or handshake in progress.
    Connecting,
    /// Encrypted and verified.
    Online(Path),
    /// Was here, now gone.
    Left,
    /// Could not be verified; dropped.
    Failed(String),
}

/// One row of the member list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Link id (stable key of the row).
    pub peer: PeerId,
    /// Display name, once verified.
    pub name: Option<String>,
    /// Key fingerprint, once verified.
    pub fingerprint: Option<String>,
    /// Status.
    pub status: MemberStatus,
}

/// One row of the message list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageView {
    /// Content-hash id (stable key of the row).
    pub id: MessageId,
    /// Author's display name.
    pub author: String,
    /// Written here.
    pub mine: bool,
    /// `HH:MM`.
    pub time: String,
    /// ISO 8601 for `<time datetime>`.
    pub datetime: String,
    /// The text, rendered as text.
    pub text: String,
}

/// Who we are, shown in the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Me {
    /// Display name.
    pub name: String,
    /// Our key fingerprint.
    pub fingerprint: String,
}

/// All UI state. `Copy`: every field is a signal handle.
#[derive(Clone, Copy)]
pub struct AppState {
    /// Us.
    pub me: RwSignal<Option<Me>>,
    /// The invite link, with the secret in its fragment.
    pub invite_link: RwSignal<String>,
    /// Server connection.
    pub server: RwSignal<ServerStatus>,
    /// Other people in the room, in order of arrival.
    pub members: RwSignal<Vec<Member>>,
    /// The conversation, in order of arrival.
    pub messages: RwSignal<Vec<MessageView>>,
    /// A problem the user should know about (invalid link, message too long, ...).
    pub notice: RwSignal<Option<String>>,
}

impl AppState {
    /// Empty state.
    pub fn new() -> AppState {
        AppState {
            me: RwSignal::new(None),
            invite_link: RwSignal::new(String::new()),
            server: RwSignal::new(ServerStatus::Connecting),
            members: RwSignal::new(Vec::new()),
            messages: RwSignal::new(Vec::new()),
            notice: RwSignal::new(None),
        }
    }

    /// Adds a member row in `Connecting` state unless one exists for `peer`.
    pub fn member_connecting(&self, peer: PeerId) {
        self.members.update(|members| {
            if !members.iter().any(|m| m.peer == peer) {
                members.push(Member {
                    peer,
                    name: None,
                    fingerprint: None,
                    status: MemberStatus::Connecting,
                });
            }
        });
    }

    /// Marks `peer` verified. Rows of the same person that had left are dropped.
    pub fn member_verified(&self, peer: PeerId, name: String, fingerprint: String, path: Path) {
        self.members.update(|members| {
            members.retain(|m| {
                m.peer == peer || m.fingerprint.as_deref() != Some(fingerprint.as_str())
            });
            match members.iter_mut().find(|m| m.peer == peer) {
                Some(member) => {
                    member.name = Some(name);
                    member.fingerprint = Some(fingerprint);
                    member.status = MemberStatus::Online(path);
                }
                None => members.push(Member {
                    peer,
                    name: Some(name),
                    fingerprint: Some(fingerprint),
                    status: MemberStatus::Online(path),
                }),
            }
        });
    }

    /// Sets a member's status (no-op for unknown peers).
    pub fn member_status(&self, peer: PeerId, status: MemberStatus) {
        self.members.update(|members| {
            if let Some(member) = members.iter_mut().find(|m| m.peer == peer) {
                member.status = status;
            }
        });
    }

    /// Removes a row (a link that never became anyone, or a duplicate).
    pub fn member_forget(&self, peer: PeerId) {
        self.members
            .update(|members| members.retain(|m| m.peer != peer));
    }

    /// Appends a message unless one with the same id is shown.
    pub fn push_message(&self, message: MessageView) {
        self.messages.update(|messages| {
            if !messages.iter().any(|m| m.id == message.id) {
                messages.push(message);
            }
        });
    }
}

impl Default for AppState {
    fn default() -> AppState {
        AppState::new()
    }
}
