//! What a file message says about its file ([`FileMeta`]), the sizes its chunks and
//! fields are bounded by, and why a transfer stops ([`StopReason`]) with its byte code:
//! the types `event.rs` and `body.rs` encode. The transfer itself is `crate::transfer`.

/// Bytes per chunk (every chunk but the last is exactly this long). With its header a
/// chunk fills one transport frame.
pub const CHUNK_LEN: usize = 64_512;
/// Longest file name kept, in UTF-8 bytes.
pub const MAX_FILE_NAME_LEN: usize = 255;
/// Longest media type kept, in bytes.
pub const MAX_MIME_LEN: usize = 127;
/// Largest file that can be announced: `u32::MAX` chunks.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64 * CHUNK_LEN as u64;

/// What a file message says about its file. The author signs it with the event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileMeta {
    /// The name to show and save under; see [`crate::transfer::safe_file_name`].
    pub name: String,
    /// Its media type as the sender's browser gave it (`application/octet-stream` if
    /// unknown); only used to decide on an inline preview.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 hash of the whole file.
    pub hash: [u8; 32],
}

/// Why a transfer stopped, as either side reports it (`Body::FileStop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The receiver does not want the file.
    Declined,
    /// The receiver paused; it will ask again to resume.
    Paused,
    /// Either side cancelled.
    Cancelled,
    /// The sender no longer has the file (its page was reloaded or closed).
    Unavailable,
    /// The receiver rejected what arrived (a chunk failed authentication or the hash did
    /// not match).
    Failed,
}

impl StopReason {
    pub(crate) fn code(self) -> u8 {
        match self {
            StopReason::Declined => 1,
            StopReason::Paused => 2,
            StopReason::Cancelled => 3,
            StopReason::Unavailable => 4,
            StopReason::Failed => 5,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<StopReason> {
        Some(match code {
            1 => StopReason::Declined,
            2 => StopReason::Paused,
            3 => StopReason::Cancelled,
            4 => StopReason::Unavailable,
            5 => StopReason::Failed,
            _ => return None,
        })
    }
}
