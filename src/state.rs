//! What the UI shows, as signals. Only the driver writes them, through the methods here;
//! components only read.

use std::collections::HashMap;

use confab_core::{EventId, MemberKey, OrderKey, PeerId, Presence, RoomId};
use leptos::prelude::*;

use crate::platform::store::ReadMarks;

/// Where start-up is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Opening the profile.
    Opening,
    /// The profile has a passphrase: ask for it (with what went wrong last time).
    Locked(Option<String>),
    /// Another tab has the profile open.
    OtherTab,
    /// Chatting.
    Ready,
}

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

/// How the bytes to a member travel: core's link path, shown as it is.
pub use confab_core::Path;

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
    /// Their key, once verified.
    pub key: Option<MemberKey>,
    /// Display name, once verified.
    pub name: Option<String>,
    /// Key fingerprint, once verified.
    pub fingerprint: Option<String>,
    /// Status.
    pub status: MemberStatus,
    /// Looking at the room or not (while online).
    pub presence: Presence,
    /// Something the user must know before trusting this member (a known contact's name
    /// with another key).
    pub warning: Option<String>,
}

/// One row of the rooms list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomView {
    /// Its id (stable key of the row).
    pub id: confab_core::RoomId,
    /// Who is in it ("Alice, Bob"), or empty.
    pub title: String,
    /// Its invite link (opening it switches to the room).
    pub link: String,
    /// When it was last opened, `HH:MM`.
    pub last_opened: String,
    /// The room on screen.
    pub current: bool,
}

/// One row of the contacts list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactView {
    /// Their key (stable key of the row).
    pub key: MemberKey,
    /// The name they last used.
    pub name: String,
    /// Their safety number.
    pub fingerprint: String,
    /// When we last saw them, `HH:MM`.
    pub last_seen: String,
    /// Our one-to-one room with them.
    pub chat_link: String,
}

/// One row of the message list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageView {
    /// Content-hash id (stable key of the row).
    pub id: EventId,
    /// Place in room order (the list is sorted by it).
    pub key: OrderKey,
    /// Author.
    pub author: MemberKey,
    /// Written here.
    pub mine: bool,
    /// `HH:MM`.
    pub time: String,
    /// ISO 8601 for `<time datetime>`.
    pub datetime: String,
    /// The text, rendered as text (empty once deleted).
    pub text: String,
    /// Edited by its author.
    pub edited: bool,
    /// Deleted by its author.
    pub deleted: bool,
    /// The message it answers.
    pub reply_to: Option<EventId>,
    /// It mentions us (notified even where the room is muted).
    pub mentions_me: bool,
    /// Emoji and who reacted with it.
    pub reactions: Vec<(String, Vec<MemberKey>)>,
    /// The file this message offers (its name and type already made safe).
    pub file: Option<FileInfo>,
}

/// A file message's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Name to show and save under.
    pub name: String,
    /// Media type.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// An image type drawn inline once received.
    pub image: bool,
}

/// Where a file stands for us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileStatus {
    /// Someone's file we have not accepted: Accept or Decline.
    Offered,
    /// Accepted; its sender is not connected now.
    Waiting,
    /// Arriving.
    Receiving,
    /// Paused by us.
    Paused,
    /// Received whole, hash checked; Save.
    Received,
    /// We declined it.
    Declined,
    /// Stopped, with why; what arrived verified is kept (Resume) unless `retry` says the
    /// file must start over.
    Failed {
        /// What happened.
        reason: String,
        /// The kept part is unusable (hash mismatch): start again from nothing.
        restart: bool,
    },
    /// Our file, offered to the room.
    Sharing,
    /// Our file, not offered any more (cancelled, or this page was reloaded since).
    Withdrawn,
}

/// One receiver of our file.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadView {
    /// Who.
    pub member: MemberKey,
    /// Bytes they confirmed.
    pub done: u64,
    /// Bytes per second lately.
    pub speed: f64,
    /// "Sending", "Received", "Declined", "Paused", "Cancelled", "Failed".
    pub status: String,
}

/// A file's transfer, as shown on its message.
#[derive(Clone, Debug, PartialEq)]
pub struct FileProgress {
    /// Where it stands.
    pub status: FileStatus,
    /// Bytes received and stored (downloads).
    pub done: u64,
    /// The file's size.
    pub total: u64,
    /// Bytes per second lately (downloads).
    pub speed: f64,
    /// An object URL of the received image, for the inline preview.
    pub preview: Option<String>,
    /// Our file: each receiver's progress.
    pub uploads: Vec<UploadView>,
    /// Our file: an encrypted copy is kept on this device (it can be sent after a reload).
    pub kept: bool,
}

impl FileProgress {
    /// A file in this status, nothing transferred.
    pub fn new(status: FileStatus, total: u64) -> FileProgress {
        FileProgress {
            status,
            done: 0,
            total,
            speed: 0.0,
            preview: None,
            uploads: Vec::new(),
            kept: false,
        }
    }
}

/// What a member has of ours: delivery and read receipts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// They hold our events up to this sequence number.
    pub delivered: u64,
    /// They read up to here.
    pub read: Option<OrderKey>,
}

/// Receipt of one of our messages, as shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// Who holds it.
    pub delivered: Vec<String>,
    /// Who read it.
    pub read: Vec<String>,
}

/// What the composer is writing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Draft {
    /// A new message.
    #[default]
    New,
    /// A reply to this message.
    Reply(EventId),
    /// A new text for this message of ours.
    Edit(EventId),
}

/// Who we are, shown in the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Me {
    /// Display name.
    pub name: String,
    /// Our key fingerprint.
    pub fingerprint: String,
    /// Our key.
    pub key: MemberKey,
}

/// One other person in our call.
#[derive(Clone, Debug, PartialEq)]
pub struct CallPeer {
    /// Their link.
    pub peer: PeerId,
    /// Who.
    pub member: MemberKey,
    /// Their media stream's key in `platform::media` (once it arrived).
    pub stream: Option<String>,
    /// They muted their microphone.
    pub muted: bool,
    /// Their camera is off.
    pub camera_off: bool,
    /// They share their screen.
    pub sharing: bool,
    /// Their audio level is above speaking level now.
    pub speaking: bool,
}

/// Our call, as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct CallView {
    /// Started as a video call.
    pub video: bool,
    /// Since when (page clock, ms) media flows; `None` while ringing.
    pub connected_at: Option<f64>,
    /// Who else is in it.
    pub peers: Vec<CallPeer>,
    /// Our microphone is muted.
    pub muted: bool,
    /// Our camera is off (or we have none).
    pub camera_off: bool,
    /// We share our screen.
    pub sharing: bool,
    /// Key of our own stream in `platform::media`.
    pub local: Option<String>,
    /// Something the user should know (a device refused, say).
    pub note: Option<String>,
    /// Microphones and cameras: (is a camera, id, label).
    pub devices: Vec<(bool, String, String)>,
}

/// A call ringing for us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingCall {
    /// The caller's link.
    pub peer: PeerId,
    /// The caller.
    pub member: MemberKey,
    /// A video call.
    pub video: bool,
}

/// All UI state. `Copy`: every field is a signal handle.
#[derive(Clone, Copy)]
pub struct AppState {
    /// Start-up.
    pub phase: RwSignal<Phase>,
    /// A passphrase protects the stored profile.
    pub has_passphrase: RwSignal<bool>,
    /// Us.
    pub me: RwSignal<Option<Me>>,
    /// The invite link, with the secret in its fragment.
    pub invite_link: RwSignal<String>,
    /// Our contact link: opening it meets us and makes a contact.
    pub contact_link: RwSignal<String>,
    /// Server connection.
    pub server: RwSignal<ServerStatus>,
    /// Other people in the room, in order of arrival.
    pub members: RwSignal<Vec<Member>>,
    /// The conversation, in room order (the same for every member).
    pub messages: RwSignal<Vec<MessageView>>,
    /// Display names by member key (from profile events and handshakes).
    pub names: RwSignal<HashMap<MemberKey, String>>,
    /// Receipts per member.
    pub progress: RwSignal<HashMap<MemberKey, Progress>>,
    /// People met before, by name.
    pub contacts: RwSignal<Vec<ContactView>>,
    /// Rooms kept on this device, most recent first.
    pub rooms: RwSignal<Vec<RoomView>>,
    /// Who is typing now.
    pub typing: RwSignal<Vec<MemberKey>>,
    /// What the composer is writing.
    pub draft: RwSignal<Draft>,
    /// The text the composer held, unsent, when this room was last open (loaded from the
    /// store when the room starts; the composer fills its box with it).
    pub saved_draft: RwSignal<Option<String>>,
    /// Notifications of this room are off, but for messages that mention us (loaded from
    /// the store when the room starts).
    pub muted: RwSignal<bool>,
    /// A problem the user should know about (invalid link, message too long, ...).
    pub notice: RwSignal<Option<String>>,
    /// This room refuses our posts for good: our profile was used in another browser too
    /// and both posted (core's `SendError::ProfileForked`).
    pub forked: RwSignal<bool>,
    /// Transfers of the files in this room's messages.
    pub files: RwSignal<HashMap<EventId, FileProgress>>,
    /// Files being read and hashed before they are offered: (name, fraction done).
    pub preparing: RwSignal<Vec<(String, f64)>>,
    /// Our call, if any.
    pub call: RwSignal<Option<CallView>>,
    /// A call ringing for us.
    pub incoming_call: RwSignal<Option<IncomingCall>>,
    /// Someone can be called (a verified member on a direct path).
    pub can_call: RwSignal<bool>,
    /// Messages from others that arrived while the page was hidden (shown in the title and
    /// the app badge until the page is seen again). In a background room's state: messages
    /// from others the user has not seen (those its read marks did not cover at start-up,
    /// and every one since: that room is not on screen).
    pub unread: RwSignal<u32>,
    /// On screen: each background room's `unread` (written by that room's driver), for the
    /// rooms list and the total in the title.
    pub background_unread: RwSignal<HashMap<RoomId, RwSignal<u32>>>,
}

impl AppState {
    /// Empty state.
    pub fn new() -> AppState {
        AppState {
            phase: RwSignal::new(Phase::Opening),
            has_passphrase: RwSignal::new(false),
            me: RwSignal::new(None),
            invite_link: RwSignal::new(String::new()),
            contact_link: RwSignal::new(String::new()),
            server: RwSignal::new(ServerStatus::Connecting),
            members: RwSignal::new(Vec::new()),
            messages: RwSignal::new(Vec::new()),
            names: RwSignal::new(HashMap::new()),
            progress: RwSignal::new(HashMap::new()),
            contacts: RwSignal::new(Vec::new()),
            rooms: RwSignal::new(Vec::new()),
            typing: RwSignal::new(Vec::new()),
            draft: RwSignal::new(Draft::New),
            saved_draft: RwSignal::new(None),
            muted: RwSignal::new(false),
            notice: RwSignal::new(None),
            forked: RwSignal::new(false),
            files: RwSignal::new(HashMap::new()),
            preparing: RwSignal::new(Vec::new()),
            call: RwSignal::new(None),
            incoming_call: RwSignal::new(None),
            can_call: RwSignal::new(false),
            unread: RwSignal::new(0),
            background_unread: RwSignal::new(HashMap::new()),
        }
    }

    /// Unread messages in the background room `room` (0 if it does not run).
    pub fn unread_in(&self, room: RoomId) -> u32 {
        self.background_unread
            .with(|rooms| rooms.get(&room).map_or(0, |unread| unread.get()))
    }

    /// Unread messages in every room: this one's and the background rooms'.
    pub fn total_unread(&self) -> u32 {
        let background = self.background_unread.with(|rooms| {
            rooms
                .values()
                .fold(0u32, |sum, unread| sum.saturating_add(unread.get()))
        });
        self.unread.get().saturating_add(background)
    }

    /// Shows `room` in the rooms list unless it is there (a room started in the background
    /// after start-up, e.g. the one-to-one room with someone just met).
    pub fn show_room(&self, room: RoomView) {
        self.rooms.update(|rooms| {
            if !rooms.iter().any(|r| r.id == room.id) {
                rooms.push(room);
            }
        });
    }

    /// Counts the message `id` as unread unless it is already shown (then this is an edit,
    /// a reaction or a repeat). True if it counted.
    pub fn note_unread(&self, id: EventId) -> bool {
        let new = self
            .messages
            .with_untracked(|messages| !messages.iter().any(|m| m.id == id));
        if new {
            self.unread.update(|n| *n = n.saturating_add(1));
        }
        new
    }

    /// Counts the messages shown from others that `seen` does not cover as unread: a
    /// background room's count at start-up, from what the user saw when it was last on
    /// screen. Deleted messages do not count.
    pub fn count_unseen(&self, seen: &ReadMarks) {
        let unseen = self.messages.with_untracked(|messages| {
            messages
                .iter()
                .filter(|m| !m.mine && !m.deleted && !seen.has_seen(&m.key))
                .count()
        });
        self.unread.set(u32::try_from(unseen).unwrap_or(u32::MAX));
    }

    /// Everything was seen.
    pub fn clear_unread(&self) {
        if self.unread.get_untracked() != 0 {
            self.unread.set(0);
        }
    }

    /// Adds a member row in `Connecting` state unless one exists for `peer`.
    pub fn member_connecting(&self, peer: PeerId) {
        self.members.update(|members| {
            if !members.iter().any(|m| m.peer == peer) {
                members.push(Member {
                    peer,
                    key: None,
                    name: None,
                    fingerprint: None,
                    status: MemberStatus::Connecting,
                    presence: Presence::Online,
                    warning: None,
                });
            }
        });
    }

    /// Marks `peer` verified as `key`. Rows of the same person that had left are dropped.
    pub fn member_verified(
        &self,
        peer: PeerId,
        key: MemberKey,
        name: String,
        fingerprint: String,
        path: Path,
    ) {
        self.names.update(|names| {
            names.entry(key).or_insert_with(|| name.clone());
        });
        self.members.update(|members| {
            members.retain(|m| {
                m.peer == peer || m.fingerprint.as_deref() != Some(fingerprint.as_str())
            });
            match members.iter_mut().find(|m| m.peer == peer) {
                Some(member) => {
                    member.key = Some(key);
                    member.name = Some(name);
                    member.fingerprint = Some(fingerprint);
                    member.status = MemberStatus::Online(path);
                    member.presence = Presence::Online;
                }
                None => members.push(Member {
                    peer,
                    key: Some(key),
                    name: Some(name),
                    fingerprint: Some(fingerprint),
                    status: MemberStatus::Online(path),
                    presence: Presence::Online,
                    warning: None,
                }),
            }
        });
    }

    /// Shows a warning on `key`'s rows.
    pub fn member_warning(&self, key: MemberKey, warning: String) {
        self.members.update(|members| {
            for member in members.iter_mut().filter(|m| m.key == Some(key)) {
                member.warning = Some(warning.clone());
            }
        });
    }

    /// Adds or replaces a contact row (kept sorted by name).
    pub fn upsert_contact(&self, contact: ContactView) {
        self.contacts.update(|contacts| {
            contacts.retain(|c| c.key != contact.key);
            contacts.push(contact);
            contacts.sort_by_key(|c| c.name.to_lowercase());
        });
    }

    /// A member's presence changed.
    pub fn member_presence(&self, key: MemberKey, presence: Presence) {
        self.members.update(|members| {
            for member in members.iter_mut().filter(|m| m.key == Some(key)) {
                member.presence = presence;
            }
        });
    }

    /// A member's display name changed.
    pub fn member_named(&self, key: MemberKey, name: String) {
        self.members.update(|members| {
            for member in members.iter_mut().filter(|m| m.key == Some(key)) {
                member.name = Some(name.clone());
            }
        });
        self.names.update(|names| {
            names.insert(key, name);
        });
    }

    /// The name to show for `key` ("You" for us).
    pub fn name_of(&self, key: &MemberKey) -> String {
        if self
            .me
            .with_untracked(|me| me.as_ref().is_some_and(|me| me.key == *key))
        {
            return "You".to_owned();
        }
        self.names
            .with(|names| names.get(key).cloned())
            .unwrap_or_else(|| "Someone".to_owned())
    }

    /// Starts or stops showing `key` as typing.
    pub fn set_typing(&self, key: MemberKey, active: bool) {
        self.typing.update(|typing| {
            typing.retain(|k| *k != key);
            if active {
                typing.push(key);
            }
        });
    }

    /// Updates a member's receipts (only forward).
    pub fn update_progress(&self, key: MemberKey, delivered: Option<u64>, read: Option<OrderKey>) {
        self.progress.update(|progress| {
            let entry = progress.entry(key).or_default();
            if let Some(delivered) = delivered {
                entry.delivered = entry.delivered.max(delivered);
            }
            if read.is_some() && entry.read < read {
                entry.read = read;
            }
        });
    }

    /// Who holds and who read one of our messages.
    pub fn receipt(&self, message: &MessageView) -> Receipt {
        let me = message.author;
        let mut receipt = Receipt::default();
        self.progress.with(|progress| {
            for (member, member_progress) in progress {
                if *member == me {
                    continue;
                }
                // A read marker covers the room order up to a point, but a member may have
                // read past one of ours it does not hold yet (a concurrent message ordered
                // before theirs): it counts once they hold ours.
                let delivered = member_progress.delivered >= message.key.seq;
                let read =
                    delivered && member_progress.read.is_some_and(|read| read >= message.key);
                if delivered {
                    receipt.delivered.push(self.name_of(member));
                }
                if read {
                    receipt.read.push(self.name_of(member));
                }
            }
        });
        receipt.delivered.sort();
        receipt.read.sort();
        receipt
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

    /// Removes `peer`'s row if it is still connecting (it never became anyone).
    pub fn member_forget_connecting(&self, peer: PeerId) {
        self.members.update(|members| {
            members.retain(|m| m.peer != peer || m.status != MemberStatus::Connecting)
        });
    }

    /// Shows a message at its place in room order, or redraws it if shown.
    pub fn upsert_message(&self, message: MessageView) {
        self.messages.update(|messages| {
            match messages.binary_search_by(|m| m.key.cmp(&message.key)) {
                Ok(idx) => {
                    if let Some(shown) = messages.get_mut(idx) {
                        *shown = message;
                    }
                }
                Err(idx) => messages.insert(idx, message),
            }
        });
    }

    /// Changes a file's transfer as shown (creating it with `total` if new).
    pub fn update_file(&self, file: EventId, total: u64, change: impl FnOnce(&mut FileProgress)) {
        self.files.update(|files| {
            change(
                files
                    .entry(file)
                    .or_insert_with(|| FileProgress::new(FileStatus::Offered, total)),
            )
        });
    }

    /// Replaces every message (first render of a restored room).
    pub fn set_messages(&self, mut messages: Vec<MessageView>) {
        messages.sort_by_key(|m| m.key);
        self.messages.set(messages);
    }
}

impl Default for AppState {
    fn default() -> AppState {
        AppState::new()
    }
}
