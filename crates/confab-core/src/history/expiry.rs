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

use super::{Content, History, OrderKey, UnixMillis};
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

/// The messages not yet erased whose content is due to be erased at `now` under `timers`
/// (applied settings actions in room order), and when the next one falls due.
pub fn expired(
    history: &History,
    timers: &[Timer],
    now: UnixMillis,
) -> (Vec<EventId>, Option<UnixMillis>) {
    let mut due = Vec::new();
    let mut next: Option<UnixMillis> = None;
    for (idx, timer) in timers.iter().enumerate() {
        let Some(secs) = timer.after_secs else {
            continue;
        };
        let until = timers.get(idx + 1).map(|next| next.since);
        let after = u64::from(secs).saturating_mul(1000);
        for event in history.iter_after(timer.since, until) {
            let fields = event.event();
            if !is_message(&fields.content) || history.erased(&event.id()) {
                continue;
            }
            let at = UnixMillis(fields.sent_at.0.saturating_add(after));
            if at <= now {
                due.push(event.id());
            } else if next.is_none_or(|next| at < next) {
                next = Some(at);
            }
        }
    }
    (due, next)
}

impl History {
    /// Events strictly after `from` and before `until` (if given), in room order.
    fn iter_after(
        &self,
        from: OrderKey,
        until: Option<OrderKey>,
    ) -> impl Iterator<Item = &super::VerifiedEvent> {
        use std::ops::Bound;
        let end = until.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range((Bound::Excluded(from), end))
            .filter_map(|(_, id)| self.events.get(id))
    }

    /// Erases the content of `id`, a message the room's timer says has disappeared (see
    /// [`expired`]): held redacted from now on, like a deleted one. Whether it is due is the
    /// caller's to say; `false` if it is not a message held whole.
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
