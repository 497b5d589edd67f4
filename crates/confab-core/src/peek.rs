//! A look into a room's mailbox without joining it: what the service worker does when a
//! push wakes it while Confab is closed. [`MailboxPeek`] builds the `mailbox-fetch`
//! requests (proven like [`crate::Client::mailbox_fetch`]), opens and verifies the pages
//! that come back, and says what to notify: the newest message by someone else that we
//! have not read, how many there are, whether any mentions us, and the names the pages
//! announce. It keeps nothing and changes nothing: the app fetches the same entries when
//! it opens the room.
//!
//! Call order: [`MailboxPeek::fetch`] once the server's `welcome` gave our peer id, then
//! [`MailboxPeek::handle_entries`] for each `mailbox-entries` page, sending the request it
//! returns, if any (more pages, at most [`MAX_PAGES`]); then read [`MailboxPeek::summary`].
//!
//! What counts: Text and File messages whose author is neither us nor someone the user
//! blocked ([`MailboxPeek::blocking`]: nothing of theirs notifies) and whose sequence number
//! is beyond our read mark for that author (a server replaying old entries shows nothing),
//! not deleted by a Delete in the same pages. Edits, deletes, reactions and profiles are
//! not messages. An entry that does not open (another room, another key, altered) or whose
//! event does not verify for this room is dropped and counted. Without the room's history
//! the author's hash chain cannot be checked here, only the signature: a member of the
//! room could make the worker show a message the app later refuses as an equivocation,
//! which is no more than that member could say anyway.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Content, OrderKey, VerifiedEvent};
use crate::ids::{EventId, MemberKey, PeerId, RoomId};
use crate::mailbox::MailboxKeys;
use crate::room::{EpochSecret, RoomSecret};
use crate::signal::{ClientMessage, MailboxItem, MailboxSeq};
use crate::vault::records::ReadMarks;

/// Most pages one peek fetches (the server sends up to a few hundred entries a page).
pub const MAX_PAGES: usize = 4;

/// A peek into one room's mailbox (see the module docs). Holds the room's mailbox keys:
/// no `Debug`.
pub struct MailboxPeek {
    keys: MailboxKeys,
    room: RoomId,
    /// What the room's events are signed over: its room id, a governed room's genesis.
    context: RoomId,
    me: MemberKey,
    /// Members the user blocked: their messages do not count.
    blocked: BTreeSet<MemberKey>,
    read: ReadMarks,
    after: MailboxSeq,
    pages: usize,
    /// Unread messages by others, by room order.
    messages: BTreeMap<OrderKey, PeekedMessage>,
    /// Messages a Delete in the pages withdrew: (its author, the message).
    deleted: BTreeSet<(MemberKey, EventId)>,
    /// Each author's latest name in the pages, with where it sits in room order.
    names: BTreeMap<MemberKey, (OrderKey, String)>,
    dropped: usize,
}

/// An unread message found in the mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeekedMessage {
    /// Its id.
    pub id: EventId,
    /// Who wrote it.
    pub author: MemberKey,
    /// Where it sits in room order.
    pub order: OrderKey,
    /// What it says.
    pub content: PeekedContent,
    /// It mentions us.
    pub mentions_me: bool,
}

/// What a [`PeekedMessage`] holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeekedContent {
    /// A text message.
    Text(String),
    /// A file offer, by its name.
    File(String),
}

/// What a peek found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeekSummary {
    /// The newest unread message by someone else (room order).
    pub latest: Option<PeekedMessage>,
    /// How many unread messages by others.
    pub unread: usize,
    /// Whether any of them mentions us.
    pub mentions_me: bool,
    /// Entries that did not open or verify, or came for another room: dropped.
    pub dropped: usize,
}

impl MailboxPeek {
    /// A peek into the mailbox of the room `secret` names, for the member `me` who has read
    /// up to `read`, fetching the entries after `after` (the app's mailbox cursor).
    pub fn new(secret: &RoomSecret, me: MemberKey, read: ReadMarks, after: MailboxSeq) -> Self {
        Self::with_keys(secret.mailbox_keys(), secret.room_id(), me, read, after)
    }

    /// A peek into a governed room's mailbox: its current epoch's (`epoch`'s mailbox keys),
    /// whose events are signed over its `genesis`; otherwise as [`MailboxPeek::new`].
    pub fn governed(
        epoch: &EpochSecret,
        genesis: RoomId,
        me: MemberKey,
        read: ReadMarks,
        after: MailboxSeq,
    ) -> Self {
        Self::with_keys(epoch.mailbox_keys(), genesis, me, read, after)
    }

    fn with_keys(
        keys: MailboxKeys,
        context: RoomId,
        me: MemberKey,
        read: ReadMarks,
        after: MailboxSeq,
    ) -> Self {
        MailboxPeek {
            room: keys.room(),
            keys,
            context,
            me,
            blocked: BTreeSet::new(),
            read,
            after,
            pages: 0,
            messages: BTreeMap::new(),
            deleted: BTreeSet::new(),
            names: BTreeMap::new(),
            dropped: 0,
        }
    }

    /// This peek, not counting the messages of the members the user `blocked`.
    pub fn blocking(mut self, blocked: impl IntoIterator<Item = MemberKey>) -> Self {
        self.blocked = blocked.into_iter().collect();
        self
    }

    /// The `mailbox-fetch` request for the next page, proven for the connection the server
    /// calls `server_peer` (its `welcome`).
    pub fn fetch(&self, server_peer: PeerId) -> ClientMessage {
        ClientMessage::MailboxFetch {
            room: self.room,
            after: self.after,
            proof: self.keys.prove_access(server_peer),
        }
    }

    /// Takes one `mailbox-entries` page for `room` (`more`: the server has more). Returns
    /// the request for the next page, if there is one and the peek may fetch it (at most
    /// [`MAX_PAGES`], and only if the cursor moved on). A page for another room is dropped
    /// whole.
    pub fn handle_entries(
        &mut self,
        server_peer: PeerId,
        room: RoomId,
        entries: &[MailboxItem],
        more: bool,
    ) -> Option<ClientMessage> {
        self.pages += 1;
        if room != self.room {
            self.dropped += entries.len();
            return None;
        }
        let before = self.after;
        for item in entries {
            self.after = self.after.max(item.seq);
            self.take(item);
        }
        (more && self.after > before && self.pages < MAX_PAGES).then(|| self.fetch(server_peer))
    }

    /// The name `author` gave themselves last in the pages, if any.
    pub fn name_of(&self, author: &MemberKey) -> Option<&str> {
        self.names.get(author).map(|(_, name)| name.as_str())
    }

    /// What the pages so far hold for us.
    pub fn summary(&self) -> PeekSummary {
        let unread: Vec<&PeekedMessage> = self
            .messages
            .values()
            .filter(|message| !self.deleted.contains(&(message.author, message.id)))
            .collect();
        PeekSummary {
            latest: unread.last().map(|message| (*message).clone()),
            unread: unread.len(),
            mentions_me: unread.iter().any(|message| message.mentions_me),
            dropped: self.dropped,
        }
    }

    fn take(&mut self, item: &MailboxItem) {
        let Ok(bytes) = self.keys.open(&item.entry) else {
            self.dropped += 1;
            return;
        };
        let Ok(verified) = VerifiedEvent::verify(&self.context, &bytes) else {
            self.dropped += 1;
            return;
        };
        let event = verified.event();
        let order = event.order_key();
        let (content, mentions_me) = match &event.content {
            Content::Profile { name } => {
                let newer = self
                    .names
                    .get(&event.author)
                    .is_none_or(|(known, _)| *known < order);
                if newer {
                    self.names.insert(event.author, (order, name.clone()));
                }
                return;
            }
            Content::Delete { target } => {
                // An author deletes only their own messages: the pair says whose.
                self.deleted.insert((event.author, *target));
                return;
            }
            // A message without its content has nothing to preview.
            Content::Edit { .. }
            | Content::React { .. }
            | Content::Govern(_)
            | Content::Redacted { .. } => return,
            Content::Text { text, mentions, .. } => (
                PeekedContent::Text(text.clone()),
                mentions.contains(&self.me),
            ),
            Content::File(meta) => (PeekedContent::File(meta.name.clone()), false),
        };
        if event.author == self.me
            || self.blocked.contains(&event.author)
            || self.read.has_seen(&order)
        {
            return;
        }
        self.messages.insert(
            order,
            PeekedMessage {
                id: verified.id(),
                author: event.author,
                order,
                content,
                mentions_me,
            },
        );
    }
}

#[cfg(test)]
mod tests;
