//! The values `AppState` shows: one type per thing on screen (a member row, a message, a
//! file's transfer, our call, ...), plain data the driver builds and views render.

use confab_core::history::GovernNotice;
use confab_core::transfer::Recovery;
use confab_core::{EventId, MemberKey, OrderKey, PeerId, Presence};

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
    /// The user blocked them.
    pub blocked: bool,
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
    /// Its content is not here (a peer served it erased though its author did not delete
    /// it): shown as "Message unavailable" until the content or a delete comes.
    pub unavailable: bool,
    /// The message it answers.
    pub reply_to: Option<EventId>,
    /// It mentions us (notified even where the room is muted).
    pub mentions_me: bool,
    /// Emoji and who reacted with it.
    pub reactions: Vec<(String, Vec<MemberKey>)>,
    /// The file this message offers (its name and type already made safe).
    pub file: Option<FileInfo>,
    /// Not a message but a line saying what its author did to the room ("Alice removed
    /// Dave"), core's governance action that took effect.
    pub notice: Option<GovernNotice>,
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
    /// Stopped, with why, and what may follow (core's [`Recovery`]): Resume from what
    /// arrived verified, Retry from nothing, or nothing at all.
    Failed {
        /// What happened.
        reason: String,
        /// What may follow.
        recovery: Recovery,
    },
    /// Someone's file that can no longer be downloaded here, with why: we are out of this
    /// governed room, or its sender is (a download that ended so and was cancelled, or an
    /// offer). Nothing to do (Accept would only fail again), until governance comes back.
    Ended {
        /// Why.
        reason: String,
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

/// What a member has of ours: delivery and read receipts (core decides what they cover).
pub use confab_core::client::MemberReceipt;

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
