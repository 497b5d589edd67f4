//! What the driver's task awaits: the UI's commands and what the browser reports back
//! (socket, direct connections, media, the store, file reads), one at a time.

use confab_core::EventId;
use confab_core::Generation;
use confab_core::PeerId;

use super::calls;
use crate::commands::Command;
use crate::platform::files::{FileError, LocalFile};
use crate::platform::media::{CaptureError, MediaStream};
use crate::platform::rtc::RtcEvent;
use crate::platform::socket::SocketEvent;
use crate::platform::store::StoreError;

/// One input to the driver.
#[derive(Debug)]
pub(super) enum Input {
    Command(Command),
    /// Whom the user blocked changed (in this room or another): the tab's
    /// [`super::ContactBook`] tells every driver.
    BlockedChanged,
    /// This browser's push subscription for the room, made for server connection `peer`.
    PushSubscription {
        peer: PeerId,
        subscription: confab_core::signal::PushSubscription,
    },
    Socket(SocketEvent),
    /// The room moved to `room` (a new epoch) and the record holding its epoch was saved (or
    /// could not be: nothing is kept): now the driver joins it at the server.
    MoveSaved {
        room: confab_core::RoomId,
    },
    /// A write of the room's record, holding its first `up_to` changes, ended.
    RoomSaved {
        up_to: u64,
        result: Result<(), StoreError>,
    },
    Rtc {
        peer: PeerId,
        generation: Generation,
        event: RtcEvent,
    },
    /// A file was read and hashed (or could not be).
    FilePrepared {
        file: LocalFile,
        meta: Result<confab_core::transfer::FileMeta, FileError>,
    },
    /// A stored file record of this room, with its chunks stored.
    FileRecord {
        file: EventId,
        decision: confab_core::vault::records::FileDecision,
        stored: u32,
    },
    /// The stored part of a download was hashed: resume it.
    Rehashed {
        file: EventId,
        stored: u32,
        // Boxed: BLAKE3's hasher state is about 2 KB.
        digest: Box<confab_core::transfer::FileDigest>,
    },
    /// Resume from `stored` chunks (hash them first).
    RehashFrom {
        file: EventId,
        stored: u32,
    },
    /// Storage checked before accepting a file.
    SpaceChecked {
        file: EventId,
        enough: bool,
        free: Option<u64>,
    },
    /// Consecutive chunks of our file, read from it.
    ChunksRead {
        peer: PeerId,
        file: EventId,
        first: u32,
        data: Result<Vec<u8>, FileError>,
    },
    /// Our connection's offer or answer for a call, to send inside the peer's session.
    CallDescription(calls::LocalDescription),
    /// Our devices for the call opened (or not).
    CallMedia {
        stream: Option<MediaStream>,
        note: Option<String>,
        devices: Vec<(bool, String, String)>,
    },
    /// The screen to share was chosen (or refused).
    ScreenCaptured(Result<MediaStream, CaptureError>),
    /// What a peer's link receives after a renegotiation.
    CallMediaOf {
        peer: PeerId,
        stream: MediaStream,
    },
    /// Another microphone or camera opened (or not).
    DeviceCaptured {
        camera: bool,
        result: Result<MediaStream, CaptureError>,
    },
    /// The copy of our file was kept in the store (or not).
    FileKept {
        file: EventId,
        result: Result<(), StoreError>,
    },
    /// Received chunks before `up_to` are stored (or failed to be).
    ChunksSaved {
        file: EventId,
        up_to: u32,
        result: Result<(), StoreError>,
    },
    /// The store's write of these events committed (or failed): ours among them may go
    /// out now (or are withdrawn).
    Persisted {
        ids: Vec<EventId>,
        result: Result<(), StoreError>,
    },
}
