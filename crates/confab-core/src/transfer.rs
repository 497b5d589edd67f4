//! Files: what a file message announces ([`FileMeta`]), how a file is cut into chunks, the
//! whole-file hash ([`FileDigest`]), safe names, and the per-transfer state the client
//! keeps (`client/files.rs` runs the exchange).
//!
//! A file is announced by a signed history event ([`crate::Content::File`]) carrying its
//! name, type, size and BLAKE3 hash. Its bytes never enter history: a member who wants them
//! asks the author for chunks from some index on, the author sends them in order (each one
//! a transport frame of the Noise session, so encrypted and authenticated), and the
//! receiver acknowledges what it has *stored*. The author keeps at most [`WINDOW`] chunks
//! unacknowledged. Resuming is asking again from the first chunk not yet stored: nothing
//! confirmed is ever sent twice. At the end the receiver compares the BLAKE3 hash of what it
//! received with the one the author signed.
//!
//! Bounds: chunks of [`CHUNK_LEN`] bytes, at most [`WINDOW`] (4 MiB) beyond the last
//! acknowledgement, one acknowledgement every [`ACK_EVERY`] chunks *stored* (the disk's
//! backpressure; the app paces sending by the channel's `bufferedAmount`, the network's).
//! A chunk failing authentication fails the transfer (`Corrupt`), a hash differing from
//! the signed one too (`HashMismatch`). Nothing is allocated from the announced size, and
//! names pass [`safe_file_name`] before they reach the user.

pub use crate::wire::file::{
    CHUNK_LEN, FileMeta, MAX_FILE_NAME_LEN, MAX_FILE_SIZE, MAX_MIME_LEN, StopReason,
};
use crate::wire::truncate_utf8;

pub mod pace;

/// Chunks the sender may have in flight without an acknowledgement (4 MiB).
pub const WINDOW: u32 = 64;
/// The receiver acknowledges after storing this many chunks (and at the end).
pub const ACK_EVERY: u32 = 16;

impl FileMeta {
    /// Number of chunks.
    pub fn chunks(&self) -> u32 {
        chunk_count(self.size)
    }

    /// Length of chunk `index`, or `None` past the end.
    pub fn chunk_len(&self, index: u32) -> Option<usize> {
        let start = u64::from(index) * CHUNK_LEN as u64;
        if index >= self.chunks() {
            return None;
        }
        usize::try_from((self.size - start).min(CHUNK_LEN as u64)).ok()
    }

    /// Bytes in chunks `0..count`.
    pub fn bytes_in(&self, count: u32) -> u64 {
        (u64::from(count) * CHUNK_LEN as u64).min(self.size)
    }

    /// An image type browsers draw safely inline (never SVG, which can carry script).
    pub fn is_previewable_image(&self) -> bool {
        matches!(
            self.mime.as_str(),
            "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif" | "image/bmp"
        )
    }
}

/// Chunks of a file of `size` bytes (0 for an empty file).
pub fn chunk_count(size: u64) -> u32 {
    u32::try_from(size.div_ceil(CHUNK_LEN as u64)).unwrap_or(u32::MAX)
}

/// The BLAKE3 hash of a file, fed in order. The sender hashes the file before announcing
/// it; the receiver hashes chunks as they arrive (after a reload, it re-hashes what it
/// had stored and goes on).
///
/// BLAKE3 rather than SHA-256: the receiver hashes every byte on the page's thread, and
/// in wasm (with its SIMD backend) BLAKE3 runs several times faster than SHA-256, which
/// took a fifth of that thread during a transfer.
#[derive(Clone, Default)]
pub struct FileDigest(blake3::Hasher);

impl FileDigest {
    /// Nothing hashed yet.
    pub fn new() -> FileDigest {
        FileDigest::default()
    }

    /// Hashes the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hash of everything fed.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl std::fmt::Debug for FileDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileDigest")
    }
}

/// A file name that is safe to show and to save: no path (anything up to the last `/` or
/// `\` is dropped), no control or bidirectional-override characters, no leading dots or
/// trailing dots and spaces, not a reserved Windows device name, at most
/// [`MAX_FILE_NAME_LEN`] bytes; `"file"` if nothing is left. It is shown as text, never
/// as markup, so `<b>` stays literally `<b>`.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .map(|c| match c {
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    let stem = trimmed.split('.').next().unwrap_or_default();
    let reserved = [
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    let name = if reserved.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        format!("_{trimmed}")
    } else {
        trimmed.to_owned()
    };
    let name = truncate_utf8(&name, MAX_FILE_NAME_LEN).trim_end_matches(['.', ' ']);
    if name.is_empty() {
        "file".to_owned()
    } else {
        name.to_owned()
    }
}

/// A media type kept only if it looks like one (`type/subtype`, printable ASCII, no
/// parameters), lower-cased; otherwise `application/octet-stream`.
pub fn safe_mime(mime: &str) -> String {
    let mime = mime.split(';').next().unwrap_or_default().trim();
    let valid = mime.len() <= MAX_MIME_LEN
        && mime.split('/').count() == 2
        && !mime.starts_with('/')
        && !mime.ends_with('/')
        && mime
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.+-_".contains(&b));
    if valid {
        mime.to_ascii_lowercase()
    } else {
        "application/octet-stream".to_owned()
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Why a download failed. What was stored before the failure stays stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// A chunk on the file's channel failed authentication.
    #[error("a piece of the file failed its authenticity check")]
    Corrupt,
    /// Everything arrived but its BLAKE3 hash is not the one the sender signed.
    #[error("the received file does not match the hash its sender signed")]
    HashMismatch,
    /// The sender no longer has the file.
    #[error("the sender no longer has this file")]
    Unavailable,
    /// We are no longer in the governed room (removed, or we left): no link of a later
    /// epoch will carry the file to us.
    #[error("you are no longer in this room")]
    Removed,
    /// The other side is no longer in the governed room (removed, or they left): for a
    /// download, its sender; for an upload, its receiver.
    #[error("the sender is no longer in this room")]
    MemberGone,
    /// The file message is unknown or not a file.
    #[error("no such file")]
    UnknownFile,
    /// The caller said more chunks are stored than the file has.
    #[error("more chunks stored than the file has")]
    BadProgress,
}

/// What can follow a download that failed ([`TransferError::recovery`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Go on from the verified chunks kept (the sender may serve the rest).
    Resume,
    /// Start again from nothing: what was kept does not add up.
    Restart,
    /// Nothing: no link will ever carry the rest to us.
    Ended,
}

impl TransferError {
    /// What can follow a download that failed so. Once we or the file's sender are out of
    /// a governed room (removed, or left), no link of a later epoch joins the two of us (a
    /// member let in again comes back under another key), so neither a resume nor a new
    /// start reaches the sender; nor does one of a file nobody announced. (A removal that
    /// a rival removal from across a partition undoes, `Governance::may_contest`, takes
    /// the download up again where it stopped, its hash kept, and the sender's upload,
    /// which waits for the receiver to ask.)
    pub fn recovery(&self) -> Recovery {
        match self {
            TransferError::Corrupt | TransferError::Unavailable => Recovery::Resume,
            TransferError::HashMismatch | TransferError::BadProgress => Recovery::Restart,
            TransferError::Removed | TransferError::MemberGone | TransferError::UnknownFile => {
                Recovery::Ended
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64) -> FileMeta {
        FileMeta {
            name: "a".into(),
            mime: "application/octet-stream".into(),
            size,
            hash: [0; 32],
        }
    }

    #[test]
    fn chunks_cover_the_file_exactly() {
        assert_eq!(meta(0).chunks(), 0);
        assert_eq!(meta(1).chunks(), 1);
        let exact = meta(CHUNK_LEN as u64 * 3);
        assert_eq!(exact.chunks(), 3);
        assert_eq!(exact.chunk_len(2), Some(CHUNK_LEN));
        assert_eq!(exact.chunk_len(3), None);
        let ragged = meta(CHUNK_LEN as u64 * 2 + 5);
        assert_eq!(ragged.chunks(), 3);
        assert_eq!(ragged.chunk_len(2), Some(5));
        assert_eq!(ragged.bytes_in(3), ragged.size);
        assert_eq!(ragged.bytes_in(1), CHUNK_LEN as u64);
        assert_eq!(chunk_count(MAX_FILE_SIZE), u32::MAX);
    }

    #[test]
    fn file_names_lose_paths_controls_and_device_names() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(safe_file_name("a\u{0}b\nc\u{202e}gpj.exe"), "abcgpj.exe");
        assert_eq!(
            safe_file_name("<img src=x onerror=alert(1)>.png"),
            "_img src=x onerror=alert(1)_.png"
        );
        assert_eq!(safe_file_name("..."), "file");
        assert_eq!(safe_file_name(""), "file");
        assert_eq!(safe_file_name("CON.txt"), "_CON.txt");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name("report 2026.pdf"), "report 2026.pdf");
        let long = "é".repeat(200) + ".txt";
        let kept = safe_file_name(&long);
        assert!(kept.len() <= MAX_FILE_NAME_LEN);
        assert!(kept.is_char_boundary(kept.len()));
    }

    #[test]
    fn media_types_are_kept_only_when_well_formed() {
        assert_eq!(safe_mime("image/PNG"), "image/png");
        assert_eq!(safe_mime("text/plain; charset=utf-8"), "text/plain");
        assert_eq!(safe_mime(""), "application/octet-stream");
        assert_eq!(safe_mime("text/html<script>"), "application/octet-stream");
        assert!(
            !FileMeta {
                mime: "image/svg+xml".into(),
                ..meta(1)
            }
            .is_previewable_image()
        );
        assert!(
            FileMeta {
                mime: "image/png".into(),
                ..meta(1)
            }
            .is_previewable_image()
        );
    }

    #[test]
    fn digest_is_blake3_in_pieces() {
        let mut digest = FileDigest::new();
        digest.update(b"ab");
        digest.update(b"c");
        // BLAKE3("abc"), from the BLAKE3 reference implementation.
        assert_eq!(
            crate::ids::hex(&digest.finish()),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        // Pieces across BLAKE3's 1 KiB chunks and SIMD batches hash like the whole.
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut whole = FileDigest::new();
        whole.update(&bytes);
        let mut pieces = FileDigest::new();
        for piece in bytes.chunks(CHUNK_LEN / 3 + 17) {
            pieces.update(piece);
        }
        assert_eq!(whole.finish(), pieces.finish());
    }
}
