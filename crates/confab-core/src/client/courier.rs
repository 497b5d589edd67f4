//! The offline mailbox on one server connection ([`Courier`]): which mailbox requests go
//! out when, and what their answers mean. [`Client`] decides *what* to deposit
//! ([`ClientEvent::MailboxDeposit`](super::ClientEvent::MailboxDeposit)) and takes in what was fetched;
//! the courier carries both over the connection the app holds.
//!
//! - **Order on a connection.** `welcome` (our peer id, which every proof names, and the
//!   deposit allowance) → `joined` → a fetch from the cursor, and the deposits queued
//!   meanwhile → `mailbox-entries` → core → `mailbox-ack`, and the next page if there is
//!   one.
//! - **Notices.** `mailbox-new` (someone else deposited into our room) fetches from the
//!   cursor; while a fetch is under way it only marks that one more is due when it ends,
//!   so any number of notices costs at most one more fetch. The server never tells the
//!   depositor, so our own deposits fetch nothing.
//! - **Waiting to be let in.** A governed room's client holding no epoch reads its link's
//!   notice mailbox instead (`superseded`), on `joined` and every [`NOTICE_EVERY`] while
//!   it waits (nobody is in that mailbox's server room to be told of deposits): a link
//!   reset meanwhile shows, and a newcomer whose secret never came finds the epoch sealed
//!   to it there (`govern/left.rs`). One small fetch a minute per waiting newcomer. So does
//!   one holding an epoch that a member removed before handed it, from when a page of
//!   entries or a timeout finds that out.
//! - **Pacing.** Deposits go out under a token bucket that mirrors the server's
//!   allowance: `mailbox_puts_per_minute` from `welcome` (or
//!   [`DEFAULT_PUTS_PER_MINUTE`] from a server that does not say), as many at once, then
//!   one per 60/n s. The rest wait in a queue; [`Courier::poll_timeout`] says when the
//!   next may go.
//! - **Matching answers to deposits.** The server answers each request of a connection
//!   in turn, a deposit with `mailbox-stored` (which does not name the entry) or an
//!   `error`, so the n-th `mailbox-stored` answers the oldest deposit still unanswered,
//!   unless an error that a deposit can get came while deposits were unanswered (it may
//!   answer a deposit or another request). From then on this connection confirms
//!   nothing: its unanswered and unconfirmed deposits go again on the next connection
//!   (the server keeps a duplicate, which members ignore), and core deposits whatever was
//!   never confirmed again after a reload. Errors no deposit gets (`unknown-peer`,
//!   `relay-cap`, ...) leave the matching alone.
//! - **Refused as too many.** A `rate-limited` error while deposits are unanswered is
//!   taken as the oldest one's refusal (the per-address allowance, shared by every room
//!   of the tab, can refuse what the pacing let through): that deposit goes back to the
//!   front of the queue and the bucket starts empty, so it goes again on this connection
//!   once a token is due, not on the next connection.
//! - **Left epochs' mailboxes.** A governed room's client keeps the mailbox keys of the
//!   few epochs it left last ([`Client::left_rooms`]): news can still arrive there (the
//!   winner of a rival rekey we had followed, a member who had not heard of the move
//!   writing on). With this room's fetch on each `joined`, and every [`LEFT_EVERY`]
//!   while joined, the courier reads each of them from its own cursor, one fetch at a
//!   time (pages followed), and hands the entries to the client like this room's. It
//!   neither acknowledges them nor listens for their notices (we are not in those rooms
//!   at the server). The cost to the server: with at most two left epochs kept, two
//!   small fetches per connection and per [`LEFT_EVERY`], nearly always answered by an
//!   empty page. The left cursors live as long as the courier (a reload reads those
//!   mailboxes from the start once; members ignore what they hold already).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::{Client, MailboxIngest};
use crate::Instant;
use crate::ids::{PeerId, RoomId};
use crate::mailbox::SealedEntry;
use crate::signal::{ClientMessage, ErrorCode, MailboxItem, MailboxReply, MailboxSeq};

/// The deposits a minute assumed of a server whose `welcome` does not say (its default).
pub const DEFAULT_PUTS_PER_MINUTE: u32 = 120;
/// Deposits kept waiting (for a connection, or for the allowance); beyond it the oldest
/// are dropped: the events stay in history and reach members through catch-up, and core
/// deposits them again after a reload, as the server never confirmed them.
pub const MAX_QUEUED_DEPOSITS: usize = 512;
/// How often the mailboxes of the epochs we left are read again while joined.
pub const LEFT_EVERY: Duration = Duration::from_secs(10 * 60);
/// How often a governed room's client holding no epoch (waiting to be let in) reads its
/// link's notice mailbox again while joined: the link may be reset meanwhile, or a member
/// may leave there the epoch sealed to us whose secret never came (`govern/left.rs`).
pub const NOTICE_EVERY: Duration = Duration::from_secs(60);

/// The mailbox's state on the app's server connection. Feed it the connection's events
/// and the server's mailbox answers and errors, then send what
/// [`Courier::poll_transmit`] returns, in order; wake it at [`Courier::poll_timeout`].
#[derive(Debug)]
pub struct Courier {
    room: RoomId,
    /// Our peer id on this connection (from `welcome`); `None` while disconnected.
    server_peer: Option<PeerId>,
    /// `joined` arrived on this connection: requests may go out.
    joined: bool,
    /// The highest entry taken in (from the store at start, then from each page).
    cursor: MailboxSeq,
    /// A cursor newer than the stored one, to save after the events it brought.
    unsaved_cursor: Option<MailboxSeq>,
    /// Deposits waiting for a connection or for the allowance, oldest first.
    queued: VecDeque<Deposit>,
    /// Deposits sent on this connection and not yet answered, oldest first.
    puts_in_flight: VecDeque<Deposit>,
    /// An error came while deposits were unanswered: answers on this connection can no
    /// longer be matched to deposits.
    answers_unmatched: bool,
    /// Deposits answered on this connection but not confirmed: sent again on the next.
    unconfirmed: Vec<Deposit>,
    /// A fetch is unanswered.
    fetching: bool,
    /// A notice came while fetching: fetch again when this one ends.
    fetch_again: bool,
    /// The deposit allowance on this connection; `None` while disconnected.
    pacer: Option<Pacer>,
    /// Requests to send, in order.
    transmits: VecDeque<ClientMessage>,
    /// How far each left epoch's mailbox was read (see the module documentation).
    left_cursors: BTreeMap<RoomId, MailboxSeq>,
    /// Left epochs' mailboxes still to read in this round, in turn.
    left_due: VecDeque<RoomId>,
    /// The left epoch's mailbox whose fetch is unanswered.
    left_fetching: Option<RoomId>,
    /// When the last round of left mailboxes started (`None`: none on this connection).
    left_read_at: Option<Instant>,
    /// When our link's notice mailbox was last asked for (`None`: we hold an epoch, or are
    /// not joined).
    notice_read_at: Option<Instant>,
}

/// What a server `error` turned out to refuse, as far as the mailbox can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// A deposit (taken to be the oldest unanswered one): it goes again on the next
    /// connection.
    Deposit,
    /// A deposit over the server's allowance: it goes again on this connection once the
    /// allowance refills.
    DepositDeferred,
    /// The fetch under way: it ended (another follows if a notice came meanwhile).
    Fetch,
    /// Neither a deposit nor a fetch was waiting for this answer.
    Nothing,
}

/// One of core's deposits: our event's number in our chain, and its sealed copy.
#[derive(Debug)]
struct Deposit {
    seq: u64,
    room: RoomId,
    entry: SealedEntry,
}

/// A token bucket mirroring the server's: `per_minute` tokens a minute, holding at most
/// that many, full when the connection starts.
#[derive(Debug)]
struct Pacer {
    per_minute: u32,
    tokens: f64,
    last_refill: Instant,
}

impl Courier {
    /// A courier for `room`'s mailbox (the client's room), disconnected, reading from the
    /// start until [`Courier::set_cursor`].
    pub fn new(room: RoomId) -> Courier {
        Courier {
            room,
            server_peer: None,
            joined: false,
            cursor: MailboxSeq::default(),
            unsaved_cursor: None,
            queued: VecDeque::new(),
            puts_in_flight: VecDeque::new(),
            answers_unmatched: false,
            unconfirmed: Vec::new(),
            fetching: false,
            fetch_again: false,
            pacer: None,
            transmits: VecDeque::new(),
            left_cursors: BTreeMap::new(),
            left_due: VecDeque::new(),
            left_fetching: None,
            left_read_at: None,
            notice_read_at: None,
        }
    }

    /// The room whose mailbox this courier reads (the client's room when it was made or
    /// last moved): the store keeps its cursor under this id.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// The client moved to `room` (a governed room's new epoch,
    /// [`ClientEvent::Moved`](super::ClientEvent::Moved)): from now on the courier reads
    /// that room's mailbox, from the start (`cursor`: what the store kept for it, if
    /// anything), once the app joined it (`joined` fetches). Deposits already queued keep
    /// the room they name; a fetch of the old mailbox still under way is forgotten (its
    /// answer names the old room and is ignored).
    pub fn move_to(&mut self, room: RoomId, cursor: MailboxSeq) {
        if room == self.room {
            return;
        }
        // The room we leave is read on as a left epoch's, from where we were.
        let left = std::mem::replace(&mut self.room, room);
        let read = self.left_cursors.entry(left).or_default();
        *read = (*read).max(self.cursor);
        self.cursor = cursor;
        self.unsaved_cursor = None;
        self.fetching = false;
        self.fetch_again = false;
        self.joined = false;
    }

    /// The cursor kept for this room (never moves it back).
    pub fn set_cursor(&mut self, cursor: MailboxSeq) {
        self.cursor = self.cursor.max(cursor);
    }

    /// The highest entry taken in.
    pub fn cursor(&self) -> MailboxSeq {
        self.cursor
    }

    /// A cursor to save with the next batch of events, if it moved.
    pub fn take_unsaved_cursor(&mut self) -> Option<MailboxSeq> {
        self.unsaved_cursor.take()
    }

    /// Deposits waiting to go out.
    pub fn n_queued(&self) -> usize {
        self.queued.len()
    }

    /// `welcome` on a new connection: our peer id there, and its deposit allowance (0:
    /// the server did not say).
    pub fn handle_welcome(&mut self, now: Instant, peer: PeerId, puts_per_minute: u32) {
        self.disconnected();
        self.server_peer = Some(peer);
        let per_minute = match puts_per_minute {
            0 => DEFAULT_PUTS_PER_MINUTE,
            n => n,
        };
        self.pacer = Some(Pacer::new(per_minute, now));
    }

    /// `joined`: read what was left for us, and send what is queued (as the allowance
    /// permits).
    pub fn handle_joined(&mut self, now: Instant, client: &Client) {
        let Some(peer) = self.server_peer else {
            return;
        };
        self.joined = true;
        self.fetch(client, peer, self.cursor);
        self.notice_read_at = client.notice_room().map(|_| now);
        self.read_left(now, client);
        self.pump(now, client);
    }

    /// The server connection closed: requests wait for the next one, and so do the
    /// deposits it did not confirm (whether it stored them is unknown).
    pub fn disconnected(&mut self) {
        self.server_peer = None;
        self.joined = false;
        self.fetching = false;
        self.fetch_again = false;
        self.left_due.clear();
        self.left_fetching = None;
        self.left_read_at = None;
        self.notice_read_at = None;
        self.answers_unmatched = false;
        self.pacer = None;
        self.transmits.clear();
        let unanswered = std::mem::take(&mut self.puts_in_flight);
        let again: Vec<Deposit> = self.unconfirmed.drain(..).chain(unanswered).collect();
        for deposit in again.into_iter().rev() {
            self.queued.push_front(deposit);
        }
        self.queued.truncate(MAX_QUEUED_DEPOSITS);
    }

    /// Core's [`ClientEvent::MailboxDeposit`](super::ClientEvent::MailboxDeposit): sent as soon as
    /// the connection and the allowance permit.
    pub fn deposit(
        &mut self,
        now: Instant,
        client: &Client,
        seq: u64,
        room: RoomId,
        entry: SealedEntry,
    ) {
        if self.queued.len() >= MAX_QUEUED_DEPOSITS {
            self.queued.pop_front();
        }
        self.queued.push_back(Deposit { seq, room, entry });
        self.pump(now, client);
    }

    /// A mailbox frame from the server. Returns what a page of entries did in core.
    pub fn handle_reply(
        &mut self,
        now: Instant,
        client: &mut Client,
        reply: MailboxReply,
    ) -> Option<MailboxIngest> {
        match reply {
            MailboxReply::MailboxEntries {
                room,
                entries,
                more,
            } => {
                let ingest = self.handle_entries(now, client, room, &entries, more);
                // What it brought may show that nobody with the right to let us in did.
                self.watch_notices(now, client);
                ingest
            }
            reply => self.handle_answer(client, reply),
        }
    }

    /// A page of entries of `room`'s mailbox: ours, a left epoch's, or our link's notices.
    fn handle_entries(
        &mut self,
        now: Instant,
        client: &mut Client,
        room: RoomId,
        entries: &[MailboxItem],
        more: bool,
    ) -> Option<MailboxIngest> {
        if self.left_fetching == Some(room) {
            return Some(self.handle_left_entries(now, client, room, entries, more));
        }
        if room != self.room {
            // Our link's notice mailbox (`superseded`): one page, read whole each
            // time; it moves no cursor of the room's mailbox.
            if Some(room) != client.notice_room() {
                return None;
            }
            let ingest = client.handle_mailbox_entries(now, entries);
            self.fetch_ended(client);
            return Some(ingest);
        }
        let ingest = client.handle_mailbox_entries(now, entries);
        let peer = self.server_peer?;
        match ingest.up_to {
            Some(up_to) => {
                if up_to > self.cursor {
                    self.cursor = up_to;
                    self.unsaved_cursor = Some(up_to);
                }
                self.transmits.extend(client.mailbox_ack(peer, up_to));
                if more && let Some(fetch) = client.mailbox_fetch(peer, up_to) {
                    self.transmits.push_back(fetch);
                } else {
                    self.fetch_ended(client);
                }
            }
            None => self.fetch_ended(client),
        }
        Some(ingest)
    }

    /// The server's answer to a deposit, or its news of one.
    fn handle_answer(&mut self, client: &mut Client, reply: MailboxReply) -> Option<MailboxIngest> {
        match reply {
            MailboxReply::MailboxEntries { .. } => None,
            MailboxReply::MailboxStored { room: _, seq: _ } => {
                if let Some(deposit) = self.puts_in_flight.pop_front() {
                    if self.answers_unmatched {
                        self.unconfirmed.push(deposit);
                    } else {
                        client.mailbox_stored(deposit.seq);
                    }
                }
                None
            }
            MailboxReply::MailboxNew { room, seq } => {
                let peer = self.server_peer.filter(|_| self.joined)?;
                if room != self.room || seq <= self.cursor {
                    return None;
                }
                if self.fetching {
                    self.fetch_again = true;
                } else {
                    self.fetch(client, peer, self.cursor);
                }
                None
            }
        }
    }

    /// A server `error`: which mailbox request it refused, if any.
    pub fn handle_error(&mut self, now: Instant, client: &Client, code: ErrorCode) -> Refused {
        let deposit = if answers_deposit(code) {
            self.puts_in_flight.pop_front()
        } else {
            None
        };
        if let Some(deposit) = deposit {
            self.answers_unmatched = true;
            if code == ErrorCode::RateLimited {
                self.queued.push_front(deposit);
                if let Some(pacer) = &mut self.pacer {
                    pacer.empty(now);
                }
                return Refused::DepositDeferred;
            }
            self.unconfirmed.push(deposit);
            return Refused::Deposit;
        }
        if self.fetching && answers_fetch(code) {
            self.fetch_ended(client);
            return Refused::Fetch;
        }
        if self.left_fetching.is_some() && answers_fetch(code) {
            self.left_fetching = None;
            self.fetch_next_left(client);
            return Refused::Fetch;
        }
        Refused::Nothing
    }

    /// When the next queued deposit may go: call [`Courier::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.joined {
            return None;
        }
        let left = self.left_read_at.map(|at| at + LEFT_EVERY);
        let notice = self.notice_read_at.map(|at| at + NOTICE_EVERY);
        let deposit = self
            .pacer
            .as_ref()
            .filter(|_| !self.queued.is_empty())
            .map(Pacer::next_token_at);
        left.into_iter().chain(notice).chain(deposit).min()
    }

    /// Sends what the allowance permits by `now`, and reads again what is due.
    pub fn handle_timeout(&mut self, now: Instant, client: &Client) {
        if self.joined && self.left_read_at.is_some_and(|at| now >= at + LEFT_EVERY) {
            self.read_left(now, client);
        }
        if self.joined
            && self
                .notice_read_at
                .is_some_and(|at| now >= at + NOTICE_EVERY)
        {
            // Let in meanwhile: the room's own mailbox was read when we moved.
            self.notice_read_at = client.notice_room().map(|_| now);
            if let Some(peer) = self.server_peer.filter(|_| self.notice_read_at.is_some()) {
                if self.fetching {
                    self.fetch_again = true;
                } else {
                    self.fetch(client, peer, self.cursor);
                }
            }
        }
        self.watch_notices(now, client);
        self.pump(now, client);
    }

    /// Starts reading our link's notice mailbox if we were not and now have one to read:
    /// what we took in since (from a mailbox, or a peer) showed that the member who handed
    /// us our epoch had been removed before, and nobody else let us in (`superseded`).
    fn watch_notices(&mut self, now: Instant, client: &Client) {
        if !self.joined || self.notice_read_at.is_some() || client.notice_room().is_none() {
            return;
        }
        self.notice_read_at = Some(now);
        if self.fetching {
            self.fetch_again = true;
        } else if let Some(peer) = self.server_peer {
            self.fetch(client, peer, self.cursor);
        }
    }

    /// The next request to send on the connection.
    pub fn poll_transmit(&mut self) -> Option<ClientMessage> {
        self.transmits.pop_front()
    }

    /// Sends queued deposits while the allowance has tokens.
    fn pump(&mut self, now: Instant, client: &Client) {
        let (Some(peer), true, Some(pacer)) = (self.server_peer, self.joined, &mut self.pacer)
        else {
            return;
        };
        while !self.queued.is_empty() && pacer.try_take(now) {
            let Some(deposit) = self.queued.pop_front() else {
                break;
            };
            // Deposits are sealed with the keys that make the put: both come and go together.
            let Some(put) = client.mailbox_put(peer, deposit.room, deposit.entry.clone()) else {
                self.queued.push_front(deposit);
                break;
            };
            self.transmits.push_back(put);
            self.puts_in_flight.push_back(deposit);
        }
    }

    fn fetch(&mut self, client: &Client, peer: PeerId, after: MailboxSeq) {
        // Without mailbox keys there is nothing we could read.
        let Some(fetch) = client.mailbox_fetch(peer, after) else {
            return;
        };
        self.fetching = true;
        self.fetch_again = false;
        self.transmits.push_back(fetch);
    }

    /// The fetch under way read its last page (or was refused): the next, if a notice
    /// came meanwhile.
    /// Starts a round over the left epochs' mailboxes (one already under way goes on).
    fn read_left(&mut self, now: Instant, client: &Client) {
        let rooms: Vec<RoomId> = client.left_rooms().collect();
        self.left_cursors.retain(|room, _| rooms.contains(room));
        // No timer for a room that left no epoch (every ungoverned room).
        self.left_read_at = (!rooms.is_empty()).then_some(now);
        for room in rooms {
            if !self.left_due.contains(&room) && self.left_fetching != Some(room) {
                self.left_due.push_back(room);
            }
        }
        if self.left_fetching.is_none() {
            self.fetch_next_left(client);
        }
    }

    fn fetch_next_left(&mut self, client: &Client) {
        let Some(peer) = self.server_peer.filter(|_| self.joined) else {
            return;
        };
        while let Some(room) = self.left_due.pop_front() {
            let after = self.left_cursors.get(&room).copied().unwrap_or_default();
            if let Some(fetch) = client.mailbox_fetch_left(peer, room, after) {
                self.left_fetching = Some(room);
                self.transmits.push_back(fetch);
                return;
            }
        }
    }

    /// A page of the left epoch's mailbox we asked for: into the client, then its next
    /// page or the next left mailbox.
    fn handle_left_entries(
        &mut self,
        now: Instant,
        client: &mut Client,
        room: RoomId,
        entries: &[crate::signal::MailboxItem],
        more: bool,
    ) -> MailboxIngest {
        let ingest = client.handle_mailbox_entries(now, entries);
        self.left_fetching = None;
        if let Some(up_to) = ingest.up_to {
            let read = self.left_cursors.entry(room).or_default();
            *read = (*read).max(up_to);
            if more
                && let Some(peer) = self.server_peer
                && let Some(fetch) = client.mailbox_fetch_left(peer, room, up_to)
            {
                self.left_fetching = Some(room);
                self.transmits.push_back(fetch);
                return ingest;
            }
        }
        self.fetch_next_left(client);
        ingest
    }

    fn fetch_ended(&mut self, client: &Client) {
        self.fetching = false;
        if std::mem::take(&mut self.fetch_again)
            && let Some(peer) = self.server_peer
        {
            self.fetch(client, peer, self.cursor);
        }
    }
}

/// Whether the server may answer a `mailbox-put` with this error.
fn answers_deposit(code: ErrorCode) -> bool {
    match code {
        ErrorCode::BadRequest
        | ErrorCode::TooLarge
        | ErrorCode::RateLimited
        | ErrorCode::MailboxFull
        | ErrorCode::MailboxDenied
        | ErrorCode::MailboxUnavailable => true,
        ErrorCode::TooManyRooms
        | ErrorCode::RoomFull
        | ErrorCode::UnknownPeer
        | ErrorCode::BadEnvelope
        | ErrorCode::RelayCap
        | ErrorCode::PushUnavailable => false,
    }
}

/// Whether the server may answer a `mailbox-fetch` with this error.
fn answers_fetch(code: ErrorCode) -> bool {
    match code {
        ErrorCode::BadRequest
        | ErrorCode::RateLimited
        | ErrorCode::MailboxDenied
        | ErrorCode::MailboxUnavailable => true,
        ErrorCode::TooLarge
        | ErrorCode::MailboxFull
        | ErrorCode::TooManyRooms
        | ErrorCode::RoomFull
        | ErrorCode::UnknownPeer
        | ErrorCode::BadEnvelope
        | ErrorCode::RelayCap
        | ErrorCode::PushUnavailable => false,
    }
}

impl Pacer {
    fn new(per_minute: u32, now: Instant) -> Pacer {
        Pacer {
            per_minute,
            tokens: f64::from(per_minute),
            last_refill: now,
        }
    }

    fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// No token left as of `now` (the server refused one).
    fn empty(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = 0.0;
    }

    /// When the bucket holds a whole token again.
    fn next_token_at(&self) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        let secs = missing * 60.0 / f64::from(self.per_minute);
        // Rounded up to the millisecond, so a wake-up at this instant finds the token.
        let wait = Duration::from_millis((secs * 1000.0).ceil() as u64);
        self.last_refill + wait
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last_refill);
        if now > self.last_refill {
            self.last_refill = now;
        }
        let capacity = f64::from(self.per_minute);
        let added = elapsed.as_secs_f64() * capacity / 60.0;
        self.tokens = (self.tokens + added).min(capacity);
    }
}

#[cfg(test)]
mod tests;
