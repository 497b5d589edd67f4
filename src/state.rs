//! What the UI shows, as signals: private, read through `AppState`'s read handles, and
//! changed only through its methods, each named for what happened. Most are the driver's
//! (their docs say so); components call only those for their own state (the composer's
//! mode, a notice) and send commands for anything else.

use std::collections::HashMap;

use confab_core::{EventId, MemberKey, OrderKey, PeerId, Presence, RoomId};
use leptos::prelude::*;
use leptos::reactive::signal::guards::{Plain, ReadGuard};

use crate::platform::store::ReadMarks;

mod call;
mod files;
mod governance;
mod notices;
mod views;

pub use governance::{Backlog, GovernanceView, JoinRequest, Joining, Powers, Rank, RankedMember};
pub use notices::Topic;
pub use views::{
    CallPeer, CallView, ContactView, Draft, FileInfo, FileProgress, FileStatus, IncomingCall, Me,
    Member, MemberReceipt, MemberStatus, MessageView, Path, Phase, Receipt, RoomView, ServerStatus,
    UploadView,
};

/// A read handle on one of [`AppState`]'s signals: it reads like any signal (`get`, `with`,
/// tracked or not) and has no way to write. A wrapper rather than a `ReadSignal`: reading
/// allocates nothing (`RwSignal::read_only` makes a new handle per call), and the page
/// carries one signal type per value, not a read and a write type (which cost 5 KB gzip).
pub struct ReadOnly<T: 'static>(RwSignal<T>);

impl<T> Clone for ReadOnly<T> {
    fn clone(&self) -> ReadOnly<T> {
        *self
    }
}

impl<T> Copy for ReadOnly<T> {}

impl<T: Send + Sync + 'static> DefinedAt for ReadOnly<T> {
    fn defined_at(&self) -> Option<&'static std::panic::Location<'static>> {
        self.0.defined_at()
    }
}

impl<T: Send + Sync + 'static> Track for ReadOnly<T> {
    fn track(&self) {
        self.0.track();
    }
}

impl<T: Send + Sync + 'static> ReadUntracked for ReadOnly<T> {
    type Value = ReadGuard<T, Plain<T>>;

    fn try_read_untracked(&self) -> Option<Self::Value> {
        self.0.try_read_untracked()
    }
}

/// All UI state. `Copy`: every field is a signal handle. Components read it through the
/// read handles (`state.messages().get()`); it changes only through the methods below,
/// each named for what happened. Components call only those for pure UI state (the
/// composer's mode, a notice); the rest is the driver's, whose methods say so.
#[derive(Clone, Copy)]
pub struct AppState {
    /// Start-up.
    phase: RwSignal<Phase>,
    /// A passphrase protects the stored profile.
    has_passphrase: RwSignal<bool>,
    /// Us.
    me: RwSignal<Option<Me>>,
    /// The invite link, with the secret in its fragment.
    invite_link: RwSignal<String>,
    /// Our contact link: opening it meets us and makes a contact.
    contact_link: RwSignal<String>,
    /// Server connection.
    server: RwSignal<ServerStatus>,
    /// Other people in the room, in order of arrival.
    members: RwSignal<Vec<Member>>,
    /// The conversation, in room order (the same for every member).
    messages: RwSignal<Vec<MessageView>>,
    /// Display names by member key (from profile events and handshakes).
    names: RwSignal<HashMap<MemberKey, String>>,
    /// Receipts per member.
    progress: RwSignal<HashMap<MemberKey, MemberReceipt>>,
    /// People met before, by name.
    contacts: RwSignal<Vec<ContactView>>,
    /// Rooms kept on this device, most recent first.
    rooms: RwSignal<Vec<RoomView>>,
    /// Who is typing now.
    typing: RwSignal<Vec<MemberKey>>,
    /// What the composer is writing.
    draft: RwSignal<Draft>,
    /// The text the composer held, unsent, when this room was last open (loaded from the
    /// store when the room starts; the composer fills its box with it).
    saved_draft: RwSignal<Option<String>>,
    /// Notifications of this room are off, but for messages that mention us (loaded from
    /// the store when the room starts).
    muted: RwSignal<bool>,
    /// A problem the user should know about (invalid link, message too long, ...).
    notice: RwSignal<Option<String>>,
    /// Notices about one matter each, which the general one does not replace
    /// (`state/notices.rs`).
    lasting: RwSignal<Vec<(Topic, String)>>,
    /// This room refuses our posts for good: our profile was used in another browser too
    /// and both posted (core's `SendError::ProfileForked`).
    forked: RwSignal<bool>,
    /// The link we opened was superseded: the room moved on without us.
    link_superseded: RwSignal<bool>,
    /// Transfers of the files in this room's messages.
    files: RwSignal<HashMap<EventId, FileProgress>>,
    /// Files being read and hashed before they are offered: (name, fraction done).
    preparing: RwSignal<Vec<(String, f64)>>,
    /// Our call, if any.
    call: RwSignal<Option<CallView>>,
    /// A call ringing for us.
    incoming_call: RwSignal<Option<IncomingCall>>,
    /// Someone can be called (a verified member on a direct path).
    can_call: RwSignal<bool>,
    /// Messages from others that arrived while the page was hidden (shown in the title and
    /// the app badge until the page is seen again). In a background room's state: messages
    /// from others the user has not seen (those its read marks did not cover at start-up,
    /// and every one since: that room is not on screen).
    unread: RwSignal<u32>,
    /// On screen: each background room's `unread` (written by that room's driver through
    /// its own state), for the rooms list and the total in the title.
    background_unread: RwSignal<HashMap<RoomId, RwSignal<u32>>>,
    /// A governed room's ranks, and what we may do about each member.
    governance: RwSignal<GovernanceView>,
}

/// Read handles: what the UI shows, to read (tracked or not) and never to write.
impl AppState {
    /// Where start-up is.
    pub fn phase(&self) -> ReadOnly<Phase> {
        ReadOnly(self.phase)
    }

    /// A passphrase protects the stored profile.
    pub fn has_passphrase(&self) -> ReadOnly<bool> {
        ReadOnly(self.has_passphrase)
    }

    /// Us (once the profile is open).
    pub fn me(&self) -> ReadOnly<Option<Me>> {
        ReadOnly(self.me)
    }

    /// The room's invite link, with the secret in its fragment.
    pub fn invite_link(&self) -> ReadOnly<String> {
        ReadOnly(self.invite_link)
    }

    /// Our contact link.
    pub fn contact_link(&self) -> ReadOnly<String> {
        ReadOnly(self.contact_link)
    }

    /// How the signalling server connection is doing.
    pub fn server(&self) -> ReadOnly<ServerStatus> {
        ReadOnly(self.server)
    }

    /// Other people in the room, in order of arrival.
    pub fn members(&self) -> ReadOnly<Vec<Member>> {
        ReadOnly(self.members)
    }

    /// The conversation, in room order.
    pub fn messages(&self) -> ReadOnly<Vec<MessageView>> {
        ReadOnly(self.messages)
    }

    /// Display names by member key.
    pub fn names(&self) -> ReadOnly<HashMap<MemberKey, String>> {
        ReadOnly(self.names)
    }

    /// Receipts per member.
    pub fn progress(&self) -> ReadOnly<HashMap<MemberKey, MemberReceipt>> {
        ReadOnly(self.progress)
    }

    /// People met before, by name.
    pub fn contacts(&self) -> ReadOnly<Vec<ContactView>> {
        ReadOnly(self.contacts)
    }

    /// Rooms kept on this device, most recent first.
    pub fn rooms(&self) -> ReadOnly<Vec<RoomView>> {
        ReadOnly(self.rooms)
    }

    /// Who is typing now.
    pub fn typing(&self) -> ReadOnly<Vec<MemberKey>> {
        ReadOnly(self.typing)
    }

    /// What the composer is writing.
    pub fn draft(&self) -> ReadOnly<Draft> {
        ReadOnly(self.draft)
    }

    /// The unsent text the composer held when this room was last open.
    pub fn saved_draft(&self) -> ReadOnly<Option<String>> {
        ReadOnly(self.saved_draft)
    }

    /// This room's notifications are off (but for mentions of us).
    pub fn muted(&self) -> ReadOnly<bool> {
        ReadOnly(self.muted)
    }

    /// A problem the user should know about.
    pub fn notice(&self) -> ReadOnly<Option<String>> {
        ReadOnly(self.notice)
    }

    /// This room refuses our posts for good (our profile forked).
    pub fn forked(&self) -> ReadOnly<bool> {
        ReadOnly(self.forked)
    }

    /// The invite link this room was opened with was superseded (core's
    /// `ClientEvent::LinkSuperseded`): "This invite link is no longer valid".
    pub fn link_superseded(&self) -> ReadOnly<bool> {
        ReadOnly(self.link_superseded)
    }

    /// Transfers of the files in this room's messages.
    pub fn files(&self) -> ReadOnly<HashMap<EventId, FileProgress>> {
        ReadOnly(self.files)
    }

    /// Files being read and hashed before they are offered: (name, fraction done).
    pub fn preparing(&self) -> ReadOnly<Vec<(String, f64)>> {
        ReadOnly(self.preparing)
    }

    /// Our call, if any.
    pub fn call(&self) -> ReadOnly<Option<CallView>> {
        ReadOnly(self.call)
    }

    /// A call ringing for us.
    pub fn incoming_call(&self) -> ReadOnly<Option<IncomingCall>> {
        ReadOnly(self.incoming_call)
    }

    /// Someone can be called.
    pub fn can_call(&self) -> ReadOnly<bool> {
        ReadOnly(self.can_call)
    }

    /// This room's unread messages (see the field's doc for when they count).
    pub fn unread(&self) -> ReadOnly<u32> {
        ReadOnly(self.unread)
    }

    /// A governed room's ranks, and what we may do about each member.
    pub fn governance(&self) -> ReadOnly<GovernanceView> {
        ReadOnly(self.governance)
    }
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
            lasting: RwSignal::new(Vec::new()),
            forked: RwSignal::new(false),
            link_superseded: RwSignal::new(false),
            files: RwSignal::new(HashMap::new()),
            preparing: RwSignal::new(Vec::new()),
            call: RwSignal::new(None),
            incoming_call: RwSignal::new(None),
            can_call: RwSignal::new(false),
            unread: RwSignal::new(0),
            background_unread: RwSignal::new(HashMap::new()),
            governance: RwSignal::new(GovernanceView::default()),
        }
    }

    // ---- start-up and the page (boot and the driver) -------------------------------------

    /// The profile is being opened (at start, and after a passphrase is entered).
    /// Only start-up (boot) calls this.
    pub fn opening(&self) {
        self.phase.set(Phase::Opening);
    }

    /// The profile needs its passphrase; `problem` says what went wrong with the last one.
    /// Only start-up (boot) calls this.
    pub fn locked(&self, problem: Option<String>) {
        self.phase.set(Phase::Locked(problem));
    }

    /// Another tab has the profile open.
    /// Only start-up (boot) calls this.
    pub fn open_in_another_tab(&self) {
        self.phase.set(Phase::OtherTab);
    }

    /// The profile is open (`protected`: by a passphrase) and its room shown: chatting.
    /// Only start-up (boot) calls this.
    pub fn ready(&self, protected: bool) {
        self.has_passphrase.set(protected);
        self.phase.set(Phase::Ready);
    }

    /// The profile's passphrase was set (`protected`) or removed. Only the driver calls
    /// this.
    pub fn passphrase_changed(&self, protected: bool) {
        self.has_passphrase.set(protected);
    }

    /// Shows who we are.
    /// Only start-up calls this (boot, and the tab for background rooms).
    pub fn show_me(&self, me: Me) {
        self.me.set(Some(me));
    }

    /// We took another display name. Only the driver calls this.
    pub fn renamed(&self, name: String) {
        self.me.update(|me| {
            if let Some(me) = me {
                me.name = name;
            }
        });
    }

    /// Shows the room's invite link.
    /// Start-up (boot) calls this, and the driver when the room moves to a new epoch.
    pub fn show_invite_link(&self, link: String) {
        self.invite_link.set(link);
    }

    /// Shows our contact link.
    /// Only start-up (boot) calls this.
    pub fn show_contact_link(&self, link: String) {
        self.contact_link.set(link);
    }

    /// The signalling server took us into the room. Only the driver calls this.
    pub fn server_online(&self) {
        self.server.set(ServerStatus::Online);
    }

    /// The signalling server connection was lost; the driver tries again.
    /// Only the driver calls this.
    pub fn server_lost(&self) {
        self.server.set(ServerStatus::Reconnecting);
    }

    /// Tells the user `text` (replacing what was told before).
    pub fn notify(&self, text: impl Into<String>) {
        self.notice.set(Some(text.into()));
    }

    /// Nothing to tell any more (a post went out). Only the driver calls this.
    pub fn clear_notice(&self) {
        self.notice.set(None);
    }

    /// Our profile signs in another browser too: this room refuses our posts for good.
    /// Only the driver calls this.
    pub fn profile_forked(&self) {
        self.forked.set(true);
    }

    /// The link we opened was superseded (see [`AppState::link_superseded`]).
    pub fn link_was_superseded(&self) {
        self.link_superseded.set(true);
    }

    /// This room's notifications were turned off (`muted`) or on, or loaded so from the
    /// store. Only the driver calls this.
    pub fn room_muted(&self, muted: bool) {
        self.muted.set(muted);
    }

    // ---- rooms and unread counts -----------------------------------------------------------

    /// Shows the rooms kept on this device (at start-up), most recent first.
    /// Only start-up (boot) calls this.
    pub fn show_rooms(&self, rooms: Vec<RoomView>) {
        self.rooms.set(rooms);
    }

    /// Shows `room` in the rooms list unless it is there (a room started in the background
    /// after start-up, e.g. the one-to-one room with someone just met).
    /// Only the tab calls this.
    pub fn show_room(&self, room: RoomView) {
        self.rooms.update(|rooms| {
            if !rooms.iter().any(|r| r.id == room.id) {
                rooms.push(room);
            }
        });
    }

    /// The room `id` is now called `title`. Only the driver calls this.
    pub fn room_titled(&self, id: RoomId, title: String) {
        self.rooms.update(|rooms| {
            if let Some(view) = rooms.iter_mut().find(|r| r.id == id) {
                view.title = title;
            }
        });
    }

    /// The room `room` runs in the background on `its_state`: its unread count shows here
    /// (in the rooms list and the title's total).
    /// Only the tab calls this.
    pub fn background_room_started(&self, room: RoomId, its_state: AppState) {
        self.background_unread.update(|rooms| {
            rooms.insert(room, its_state.unread);
        });
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

    /// Counts the message `id` as unread unless it is already shown (then this is an edit,
    /// a reaction or a repeat). True if it counted. Only the driver calls this.
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
    /// Only the tab calls this.
    pub fn count_unseen(&self, seen: &ReadMarks) {
        let unseen = self.messages.with_untracked(|messages| {
            messages
                .iter()
                .filter(|m| !m.mine && !m.deleted && m.notice.is_none() && !seen.has_seen(&m.key))
                .count()
        });
        self.unread.set(u32::try_from(unseen).unwrap_or(u32::MAX));
    }

    /// Everything was seen. Only the driver calls this.
    pub fn clear_unread(&self) {
        if self.unread.get_untracked() != 0 {
            self.unread.set(0);
        }
    }

    // ---- members and contacts (the driver) -------------------------------------------------

    /// Adds a member row in `Connecting` state unless one exists for `peer`.
    /// Only the driver calls this.
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
    /// Only the driver calls this.
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
    /// Only the driver calls this.
    pub fn member_warning(&self, key: MemberKey, warning: String) {
        self.members.update(|members| {
            for member in members.iter_mut().filter(|m| m.key == Some(key)) {
                member.warning = Some(warning.clone());
            }
        });
    }

    /// Adds or replaces a contact row (kept sorted by name).
    /// Only the driver calls this.
    pub fn upsert_contact(&self, contact: ContactView) {
        self.contacts.update(|contacts| {
            contacts.retain(|c| c.key != contact.key);
            contacts.push(contact);
            contacts.sort_by_key(|c| c.name.to_lowercase());
        });
    }

    /// A member's presence changed.
    /// Only the driver calls this.
    pub fn member_presence(&self, key: MemberKey, presence: Presence) {
        self.members.update(|members| {
            for member in members.iter_mut().filter(|m| m.key == Some(key)) {
                member.presence = presence;
            }
        });
    }

    /// A member's display name changed.
    /// Only the driver calls this.
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

    /// Names learnt from a restored history's profile events.
    /// Only start-up calls this (boot, and the tab for background rooms).
    pub fn learn_names<'a>(&self, names: impl IntoIterator<Item = (&'a MemberKey, &'a str)>) {
        self.names.update(|known| {
            for (member, name) in names {
                known.insert(*member, name.to_owned());
            }
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
    /// Only the driver calls this.
    pub fn set_typing(&self, key: MemberKey, active: bool) {
        self.typing.update(|typing| {
            typing.retain(|k| *k != key);
            if active {
                typing.push(key);
            }
        });
    }

    /// Updates a member's receipts (only forward).
    /// Only the driver calls this.
    pub fn update_progress(&self, key: MemberKey, delivered: Option<u64>, read: Option<OrderKey>) {
        self.progress.update(|progress| {
            progress.entry(key).or_default().advance(delivered, read);
        });
    }

    /// Who holds and who read one of our messages.
    pub fn receipt(&self, message: &MessageView) -> Receipt {
        let me = message.author;
        let mut receipt = Receipt::default();
        self.progress.with(|progress| {
            for (member, member_receipt) in progress {
                if *member == me {
                    continue;
                }
                if member_receipt.holds(&message.key) {
                    receipt.delivered.push(self.name_of(member));
                }
                if member_receipt.has_read(&message.key) {
                    receipt.read.push(self.name_of(member));
                }
            }
        });
        receipt.delivered.sort();
        receipt.read.sort();
        receipt
    }

    /// Sets a member's status (no-op for unknown peers).
    /// Only the driver calls this.
    pub fn member_status(&self, peer: PeerId, status: MemberStatus) {
        self.members.update(|members| {
            if let Some(member) = members.iter_mut().find(|m| m.peer == peer) {
                member.status = status;
            }
        });
    }

    /// Removes a row (a link that never became anyone, or a duplicate).
    /// Only the driver calls this.
    pub fn member_forget(&self, peer: PeerId) {
        self.members
            .update(|members| members.retain(|m| m.peer != peer));
    }

    /// Removes `peer`'s row if it is still connecting (it never became anyone).
    /// Only the driver calls this.
    pub fn member_forget_connecting(&self, peer: PeerId) {
        self.members.update(|members| {
            members.retain(|m| m.peer != peer || m.status != MemberStatus::Connecting)
        });
    }

    // ---- messages and files (the driver) ---------------------------------------------------

    /// Shows a message at its place in room order, or redraws it if shown.
    /// Only the driver calls this.
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

    /// Replaces every message (first render of a restored room).
    /// Only the driver and start-up call this.
    pub fn set_messages(&self, mut messages: Vec<MessageView>) {
        messages.sort_by_key(|m| m.key);
        self.messages.set(messages);
    }

    // ---- the composer ------------------------------------------------------------------------

    /// The composer writes a new message (after a post, or to cancel a reply or an edit).
    pub fn compose_new(&self) {
        self.draft.set(Draft::New);
    }

    /// The composer writes a reply to the message `id`.
    pub fn reply_to(&self, id: EventId) {
        self.draft.set(Draft::Reply(id));
    }

    /// The composer writes a new text for our message `id`.
    pub fn edit(&self, id: EventId) {
        self.draft.set(Draft::Edit(id));
    }

    /// The room's unsent text from the store (the composer fills an empty box with it).
    /// Only the driver calls this.
    pub fn draft_loaded(&self, text: Option<String>) {
        self.saved_draft.set(text);
    }

    /// Core refused a post: it goes back into the composer in the mode it was written in,
    /// and its text as the unsent draft (not an edit's: the box shows the message's text).
    /// Only the driver calls this.
    pub fn post_refused(&self, draft: Draft, text: String) {
        let editing = matches!(draft, Draft::Edit(_));
        self.draft.set(draft);
        if !editing {
            self.saved_draft.set(Some(text));
        }
    }
}

impl Default for AppState {
    fn default() -> AppState {
        AppState::new()
    }
}
