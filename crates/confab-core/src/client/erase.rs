//! Delete means delete (issue 17, item 6): what the client does when history changes the
//! stored form of an event (see `history`'s "Redaction").
//!
//! - A message its author deleted (and the author's edits of it, whose redacted form
//!   keeps only the target) is held, stored and served only in its redacted form:
//!   history erases it when it accepts the delete (ours or anyone's), and the store is
//!   told to overwrite its record ([`ClientEvent::Rewrite`]). Catch-up, runs and mailbox
//!   deposits read events from history, so from then on they carry the redacted form.
//! - A message a peer served redacted though nobody deleted it is shown as unavailable;
//!   anti-entropy asks peers for its full form (`sync`), which fills it in (also a
//!   rewrite, and the timeline is redrawn).
//! - Disappearing messages ([`Client::erase_expired`]): the room's timer (governance
//!   settings) erases messages the same way; the rule is in [`crate::history::expiry`].

use super::{Client, ClientEvent};
use crate::Instant;
use crate::governance::{Govern, Outcome};
use crate::history::expiry::Timer;
use crate::history::{Content, UnixMillis};

#[cfg(test)]
mod tests;

impl Client {
    /// Reports events whose stored form history changed (erased on a delete, filled in
    /// when a full form arrived) as [`ClientEvent::Rewrite`]; a filled-in message is
    /// redrawn with everything that applies to it. On a restore the timeline is rebuilt
    /// anyway; rebuilding it again is cheap next to reading the store.
    pub(super) fn note_rewritten(&mut self) {
        let rewritten = self.history.take_rewritten();
        if rewritten.is_empty() {
            return;
        }
        let filled = rewritten.iter().any(|event| !event.is_redacted());
        for event in rewritten {
            self.events.push_back(ClientEvent::Rewrite {
                id: event.id(),
                key: event.event().order_key(),
                bytes: event.bytes().to_vec(),
            });
        }
        if filled {
            self.rebuild_timeline();
            self.events.push_back(ClientEvent::Rebuilt);
        }
    }
}

impl Client {
    /// Erases the messages the room's disappearing-messages timer says are gone when the
    /// wall clock reads `wall` (at `now`): their content leaves history and the store
    /// ([`ClientEvent::Rewrite`]) and they show as deleted. Returns when the next one falls
    /// due, to call again then (the app also calls it after a restore and on
    /// [`ClientEvent::Governance`]).
    pub fn erase_expired(&mut self, now: Instant, wall: UnixMillis) -> Option<UnixMillis> {
        let now = self.monotonic(now);
        self.note_wall(now, wall);
        self.history.set_disappear_timers(self.disappear_timers());
        let (expired, next) = self.history.expire_due(wall);
        for id in expired {
            if let Some(view) = self.timeline.erase(&id) {
                self.events.push_back(ClientEvent::Message(view));
            }
        }
        self.note_rewritten();
        next
    }

    /// The disappearing-messages timers the room's applied settings actions set (read
    /// from the governance actions, not the whole history).
    fn disappear_timers(&self) -> Vec<Timer> {
        self.governance
            .order()
            .iter()
            .filter(|id| self.governance.outcome(id) == Some(Outcome::Applied))
            .filter_map(|id| self.history.get(id))
            .filter_map(|event| match &event.event().content {
                Content::Govern(Govern::Configure(settings)) => Some(Timer {
                    since: event.event().order_key(),
                    after_secs: settings.disappear_after_secs,
                }),
                _ => None,
            })
            .collect()
    }

    /// After the timeline was folded again: messages erased without a delete (their
    /// timer ran out) show as gone, not as unavailable.
    pub(super) fn show_expired_as_gone(&mut self) {
        let erased: Vec<_> = self
            .history
            .iter()
            .filter(|event| event.is_redacted() && self.history.erased(&event.id()))
            .map(|event| event.id())
            .collect();
        for id in erased {
            self.timeline.erase(&id);
        }
    }
}
