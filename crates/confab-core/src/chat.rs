//! The chat message model as the UI sees it.

use sha2::{Digest as _, Sha256};

use crate::identity::PublicIdentity;
use crate::ids::{MessageId, PeerId};

/// Wall-clock time as Unix milliseconds, supplied by the adapter (core never reads clocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub u64);

/// Whether we wrote a message or received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Written here.
    Outgoing,
    /// Received from this peer connection.
    Incoming(PeerId),
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Content hash: the same id on every device.
    pub id: MessageId,
    /// Who wrote it (verified by the Noise session it arrived on).
    pub author: PublicIdentity,
    /// The author's display name at the time.
    pub author_name: String,
    /// The author's sequence number.
    pub seq: u64,
    /// The author's clock when sent.
    pub sent_at: UnixMillis,
    /// The text. Shown literally, never interpreted as markup.
    pub text: String,
    /// Ours or theirs.
    pub direction: Direction,
}

impl MessageId {
    /// The content hash of a message: author, sequence number, time and text.
    pub(crate) fn of(
        author: &PublicIdentity,
        seq: u64,
        sent_at: UnixMillis,
        text: &str,
    ) -> MessageId {
        let digest = Sha256::new()
            .chain_update(b"confab/v1/message-id")
            .chain_update(author.signing_key_bytes())
            .chain_update(seq.to_be_bytes())
            .chain_update(sent_at.0.to_be_bytes())
            .chain_update(text.as_bytes())
            .finalize();
        let digest: [u8; 32] = digest.into();
        let (id, _) = digest.split_first_chunk::<16>().unwrap_or((&[0; 16], &[]));
        MessageId(*id)
    }
}
