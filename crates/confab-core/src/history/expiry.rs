//! Disappearing messages: which messages' content a room's timer says to erase now.
//!
//! The rule, the same on every member: a message (text or file) is under the timer in
//! force at its place in room order, that is, set by the last applied `Configure` action
//! before it (a timer turned on applies to what is said from then on, as in Signal; turned
//! off, to nothing said after). Under a timer of *s* seconds its content is erased once the
//! member's wall clock passes its `sent_at` plus *s*. `sent_at` is the author's clock: an
//! author can only keep their own messages longer (as reposting would), never shorten
//! anyone else's. Members erase at their own clock's reading, so within clock skew of each
//! other; a redacted form served early is shown as unavailable until the reader's own
//! clock erases it too. Erasing uses the delete mechanism ([`super::History::expire`]).

use std::collections::BTreeSet;

use super::{Content, History, OrderKey, UnixMillis, VerifiedEvent};
use crate::ids::EventId;
use crate::wire::event::{KIND_FILE, KIND_TEXT};

/// A timer as a room's governance set it: from the action at `since` on (room order),
/// messages disappear `after_secs` after they were sent (`None`: never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// The order key of the action that set it.
    pub since: OrderKey,
    /// Seconds after sending (`None`: the timer is off).
    pub after_secs: Option<u32>,
}

/// Messages under a timer, by when they fall due: what [`History::expire_due`] reads, so
/// a call costs what falls due (and the few timers), not the whole history.
///
/// It is kept as history accepts messages (each under the timers known then) and built
/// again whenever the timers change ([`History::set_disappear_timers`]). Entries of
/// messages erased otherwise (a delete) or no longer held (a fork cut, a withdrawn
/// write) are dropped when they reach the front.
#[derive(Clone, Default)]
pub(super) struct Index {
    /// The timers in force, in room order.
    timers: Vec<Timer>,
    /// `(when it falls due, message)`.
    due: BTreeSet<(UnixMillis, EventId)>,
}

impl Index {
    /// Files `event` by when it falls due, if it is a message under a timer.
    pub(super) fn note(&mut self, event: &VerifiedEvent) {
        let fields = event.event();
        if !is_message(&fields.content) {
            return;
        }
        // The last timer set before the message, in room order, is the one in force.
        let before = self
            .timers
            .partition_point(|timer| timer.since < fields.order_key());
        let Some(secs) = before
            .checked_sub(1)
            .and_then(|idx| self.timers.get(idx))
            .and_then(|timer| timer.after_secs)
        else {
            return;
        };
        let after = u64::from(secs).saturating_mul(1000);
        let at = UnixMillis(fields.sent_at.0.saturating_add(after));
        self.due.insert((at, event.id()));
    }
}

impl History {
    /// Sets the disappearing-messages timers (the applied settings actions, any order);
    /// files every message again if they changed.
    pub fn set_disappear_timers(&mut self, mut timers: Vec<Timer>) {
        timers.sort_by_key(|timer| timer.since);
        if timers == self.expiry.timers {
            return;
        }
        let mut index = Index {
            timers,
            due: BTreeSet::new(),
        };
        for (id, event) in &self.events {
            if !self.erased.contains(id) {
                index.note(event);
            }
        }
        self.expiry = index;
    }

    /// Erases every message not yet erased that falls due at `now` under the timers
    /// set ([`History::set_disappear_timers`]), and returns them and when the next one falls
    /// due.
    pub fn expire_due(&mut self, now: UnixMillis) -> (Vec<EventId>, Option<UnixMillis>) {
        let mut expired = Vec::new();
        while let Some(&(at, id)) = self.expiry.due.first() {
            let live = self.events.contains_key(&id) && !self.erased.contains(&id);
            if live && at > now {
                return (expired, Some(at));
            }
            self.expiry.due.pop_first();
            if live && self.expire(&id) {
                expired.push(id);
            }
        }
        (expired, None)
    }

    /// Erases the content of `id`, a message the room's timer says has disappeared (see
    /// [`History::expire_due`]): held redacted from now on, like a deleted one. Whether it
    /// is due is the caller's to say; `false` if it is not a message held whole.
    ///
    /// A message held redacted (restored so, or served so by a member whose clock ran
    /// ahead) counts as erased from then on; a version-1 message keeps its signed bytes
    /// (the limit of that format) but counts as erased, so it is shown as gone.
    pub fn expire(&mut self, id: &EventId) -> bool {
        let Some(event) = self.events.get(id) else {
            return false;
        };
        if !is_message(&event.event().content) || self.erased.contains(id) {
            return false;
        }
        let author = event.event().author;
        self.erase(author, *id);
        true
    }
}

/// A message or a file, whole or redacted: what a timer erases.
fn is_message(content: &Content) -> bool {
    matches!(
        content,
        Content::Text { .. }
            | Content::File(_)
            | Content::Redacted {
                kind: KIND_TEXT | KIND_FILE,
                ..
            }
    )
}

#[cfg(test)]
mod tests;
