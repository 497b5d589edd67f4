//! A connection's mailbox requests: deposits (checked, handed to the store, answered in
//! request order), fetches and acknowledgements, their answers and refusals, and the
//! deposits still waiting when the connection ends.

use std::collections::VecDeque;
use std::sync::Arc;

use confab_core::PeerId;
use confab_core::RoomId;
use confab_core::mailbox::{DepositKey, DepositProof, SealedEntry};
use confab_core::signal::{ErrorCode, MailboxItem, MailboxReply, MailboxSeq};
use tokio::time::Instant;

use super::{Connection, End, Waiting};
use crate::Shared;
use crate::limits::{DEPOSIT_BYTES_IN_FLIGHT, DEPOSITS_IN_FLIGHT, MAILBOX_ACKED_ROOMS};
use crate::mailbox::{Answer, MailboxError, PutError};
use crate::socket::Message;

impl Connection {
    /// Checks size, allowances and proof, then hands the deposit to the store and goes
    /// on: its answer, `mailbox-stored` or an error, comes in request order (see
    /// [`Connection::deposited`]). Beyond [`DEPOSITS_IN_FLIGHT`] deposits or
    /// [`DEPOSIT_BYTES_IN_FLIGHT`] waiting, or the server's budget for waiting deposits,
    /// it is refused `rate-limited` rather than buffered.
    pub(super) async fn mailbox_put(
        &mut self,
        room: RoomId,
        entry: SealedEntry,
        key: DepositKey,
        proof: DepositProof,
    ) -> Result<(), End> {
        let max_len = self.shared.mailbox_max_entry_bytes;
        let len = entry.len();
        if len > max_len {
            let message = format!("mailbox entries are limited to {max_len} bytes");
            return self.send_error(ErrorCode::TooLarge, message).await;
        }
        let max_puts = self.shared.mailbox_puts_per_connection;
        if self.extras().n_mailbox_puts >= max_puts {
            let message = format!(
                "this connection has made its {max_puts} mailbox deposits; the stored entries are kept"
            );
            return self.send_error(ErrorCode::MailboxFull, message).await;
        }
        let extras = self.extras();
        let n_waiting = extras.n_deposits_waiting;
        let bytes_waiting = extras.deposit_bytes_waiting;
        if n_waiting >= DEPOSITS_IN_FLIGHT
            || (n_waiting > 0 && bytes_waiting.saturating_add(len) > DEPOSIT_BYTES_IN_FLIGHT)
        {
            let message = format!(
                "{n_waiting} deposits of this connection are waiting to be stored; this one was dropped"
            );
            return self.send_error(ErrorCode::RateLimited, message).await;
        }
        let Some(permit) = self.shared.mailbox.reserve(len) else {
            let message = "the server's deposits waiting to be stored are at their bound; this one was dropped";
            return self
                .send_error(ErrorCode::RateLimited, message.into())
                .await;
        };
        if !self.extras().mailbox_bucket.try_take(Instant::now(), 1) {
            let message = format!(
                "mailbox deposits are limited to {} a minute; this one was dropped",
                self.shared.mailbox_puts_per_minute
            );
            return self.send_error(ErrorCode::RateLimited, message).await;
        }
        if !self.ip_permit.try_put() {
            let message = format!(
                "mailbox deposits from your address are limited to {} a minute; this one was dropped",
                self.shared.per_ip.puts_per_minute()
            );
            return self.send_error(ErrorCode::RateLimited, message).await;
        }
        let peer = self.registration.peer();
        if key.verify_put(&room, peer, &entry, &proof).is_err() {
            let message = "the deposit proof does not verify for this room, connection and entry";
            return self
                .send_error(ErrorCode::MailboxDenied, message.into())
                .await;
        }
        let depositor = self.ip_permit.tag();
        let shared = Arc::clone(&self.shared);
        let extras = self.extras();
        extras.n_mailbox_puts += 1;
        let answer = match &shared.cluster {
            Some(cluster) => {
                let replica = Arc::clone(cluster.replica());
                let previous = extras.last_cluster_put.take();
                let (answer, answered) = tokio::sync::oneshot::channel();
                extras.last_cluster_put = Some(tokio::spawn(async move {
                    if let Some(previous) = previous {
                        let _ = previous.await;
                    }
                    let stored = replica.put(room, key, entry, depositor).await;
                    drop(permit);
                    let _ = answer.send(stored);
                }));
                answered
            }
            None => shared.mailbox.submit(room, key, entry, depositor, permit),
        };
        extras.n_deposits_waiting += 1;
        extras.deposit_bytes_waiting += len;
        extras
            .answers
            .push_back(Waiting::Deposit { room, len, answer });
        Ok(())
    }

    /// The store answered the oldest waiting deposit: tells the room's members here, sends
    /// the answer, then the answers waiting behind it up to the next deposit.
    pub(super) async fn deposited(
        &mut self,
        answered: Result<MailboxSeq, MailboxError>,
    ) -> Result<(), End> {
        let extras = self.extras();
        let Some(Waiting::Deposit { room, len, .. }) = extras.answers.pop_front() else {
            return Ok(());
        };
        extras.n_deposits_waiting -= 1;
        extras.deposit_bytes_waiting -= len;
        let message = match answered {
            Ok(seq) => {
                let peer = self.registration.peer();
                self.registration
                    .hub()
                    .mailbox_deposited(room, seq, Some(peer));
                mailbox_frame(&MailboxReply::MailboxStored { room, seq })
            }
            Err(err) => self.error_frame(mailbox_error_code(&err), err.to_string()),
        };
        if let Some(message) = message {
            self.send(message).await?;
        }
        loop {
            let extras = self.extras();
            if !matches!(extras.answers.front(), Some(Waiting::Ready(_))) {
                break;
            }
            if let Some(Waiting::Ready(message)) = extras.answers.pop_front() {
                self.send(message).await?;
            }
        }
        if self.extras().answers.is_empty() {
            // Give the buffer back: most connections deposit now and then.
            self.extras().answers = VecDeque::new();
        }
        Ok(())
    }

    /// One page after `max(after, acknowledged)`: `mailbox-entries`, or an error.
    pub(super) async fn mailbox_fetch(
        &mut self,
        room: RoomId,
        after: MailboxSeq,
        proof: DepositProof,
    ) -> Result<(), End> {
        let acked = self
            .extras()
            .mailbox_acked
            .get(&room)
            .copied()
            .unwrap_or_default();
        let peer = self.registration.peer();
        if let Some(cluster) = &self.shared.cluster {
            cluster.replica().sync().await;
        }
        match self
            .shared
            .mailbox
            .fetch(room, after.max(acked), peer, proof)
            .await
        {
            Ok(page) => {
                let entries = page
                    .entries
                    .into_iter()
                    .filter_map(|(seq, bytes)| {
                        // The store holds only entries that parsed on the way in.
                        SealedEntry::from_bytes(bytes)
                            .ok()
                            .map(|entry| MailboxItem { seq, entry })
                    })
                    .collect();
                let reply = MailboxReply::MailboxEntries {
                    room,
                    entries,
                    more: page.more,
                };
                self.send_mailbox(&reply).await
            }
            Err(err) => self.send_mailbox_error(err).await,
        }
    }

    /// Moves this connection's cursor for `room`; silent unless refused.
    pub(super) async fn mailbox_ack(
        &mut self,
        room: RoomId,
        up_to: MailboxSeq,
        proof: DepositProof,
    ) -> Result<(), End> {
        let peer = self.registration.peer();
        if let Err(err) = self.shared.mailbox.check_access(room, peer, proof).await {
            return self.send_mailbox_error(err).await;
        }
        let mailbox_acked = &mut self.extras().mailbox_acked;
        let is_known = mailbox_acked.contains_key(&room);
        if is_known || mailbox_acked.len() < MAILBOX_ACKED_ROOMS {
            let acked = mailbox_acked.entry(room).or_default();
            *acked = (*acked).max(up_to);
        }
        Ok(())
    }

    pub(super) async fn send_mailbox_error(&mut self, err: MailboxError) -> Result<(), End> {
        self.send_error(mailbox_error_code(&err), err.to_string())
            .await
    }

    pub(super) async fn send_mailbox(&mut self, reply: &MailboxReply) -> Result<(), End> {
        match mailbox_frame(reply) {
            Some(message) => self.reply(message).await,
            None => Ok(()),
        }
    }
}

/// Deposits still waiting when their connection ends are stored all the same: the room's
/// members are told of each (`mailbox-new`) once it is, as they would have been.
pub(super) fn announce_when_stored(shared: &Shared, depositor: PeerId, answers: VecDeque<Waiting>) {
    let waiting: Vec<(RoomId, Answer)> = answers
        .into_iter()
        .filter_map(|waiting| match waiting {
            Waiting::Deposit { room, answer, .. } => Some((room, answer)),
            Waiting::Ready(_) => None,
        })
        .collect();
    if waiting.is_empty() {
        return;
    }
    let hub = Arc::clone(&shared.hub);
    tokio::spawn(async move {
        for (room, answer) in waiting {
            if let Ok(Ok(seq)) = answer.await {
                hub.mailbox_deposited(room, seq, Some(depositor));
            }
        }
    });
}

/// The `error` code a mailbox refusal is answered with.
fn mailbox_error_code(err: &MailboxError) -> ErrorCode {
    match err {
        MailboxError::Put(PutError::Denied) | MailboxError::Denied => ErrorCode::MailboxDenied,
        MailboxError::Put(PutError::Store(_)) | MailboxError::Unavailable => {
            ErrorCode::MailboxUnavailable
        }
        MailboxError::Put(PutError::RoomFull { .. } | PutError::StoreFull { .. }) => {
            ErrorCode::MailboxFull
        }
    }
}

fn mailbox_frame(reply: &MailboxReply) -> Option<Message> {
    serde_json::to_string(reply).ok().map(Message::text)
}
