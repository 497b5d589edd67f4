//! The room's governance as this client holds it (see [`crate::governance`]): the actions
//! history accepted, resolved again after each one; posting an action only after checking it
//! would count; and keeping what a removed member wrote after their cut off the timeline.
//!
//! A governed room's events are signed over its genesis (the room's lasting id, carried by
//! the invite link) rather than its current room id, so history outlives epochs.

use crate::Instant;
use crate::governance::{Action, Govern, Governance, Refusal};
use crate::history::{Content, History, OrderKey, UnixMillis, VerifiedEvent};
use crate::ids::{EventId, RoomId};

use super::{Client, ClientEvent, SendError};

#[cfg(test)]
mod tests;

/// Why a governance action was not posted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GovernError {
    /// The room has no owner: it was made before governance, or is a one-to-one room.
    #[error("this room has no owner or admins")]
    Ungoverned,
    /// It would not count (our rank does not allow it, or its target cannot be concerned).
    #[error("not allowed: {0:?}")]
    Refused(Refusal),
    /// It could not be signed.
    #[error(transparent)]
    Send(#[from] SendError),
}

impl Client {
    /// Makes this a governed room's client: its events are signed over `genesis` and judged
    /// by the governance its `Create` starts. Call right after [`Client::new`], before
    /// [`Client::restore`].
    pub fn with_genesis(mut self, genesis: RoomId) -> Client {
        self.history = History::new(genesis);
        self.governance = Governance::resolve(Some(genesis), []);
        self
    }

    /// The room's governance as the actions held so far decide it.
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// Posts a governance action, if it would count now. For an action about a member, its
    /// `seen` is filled in from what we hold of them (what a cut must say).
    pub fn govern(
        &mut self,
        now: Instant,
        sent_at: UnixMillis,
        mut what: Govern,
    ) -> Result<EventId, GovernError> {
        let now = self.monotonic(now);
        let Some(genesis) = self.governance.genesis() else {
            return Err(GovernError::Ungoverned);
        };
        if let Govern::Promote { member, seen }
        | Govern::Demote { member, seen }
        | Govern::Remove { member, seen }
        | Govern::Admit { member, seen } = &mut what
        {
            *seen = self.history.mark(member);
        }
        // Judge it where it would stand: our next event, after everything we hold.
        let me = self.public.member_key();
        let candidate = Action {
            id: EventId::from_bytes([0; 32]),
            order: OrderKey {
                lamport: self.history.max_lamport().saturating_add(1),
                author: me,
                seq: self.history.mark(&me).saturating_add(1),
            },
            what: what.clone(),
        };
        let mut actions = self.governance_actions();
        actions.push(candidate.clone());
        let outcome = Governance::resolve(Some(genesis), actions).outcome(&candidate.id);
        if let Some(crate::governance::Outcome::Refused(refusal)) = outcome {
            return Err(GovernError::Refused(refusal));
        }
        self.check_own_head(now)?;
        Ok(self.publish(now, sent_at, Content::Govern(what))?)
    }

    /// Every governance action history holds.
    fn governance_actions(&self) -> Vec<Action> {
        self.history
            .iter()
            .filter_map(|event| match &event.event().content {
                Content::Govern(what) => Some(Action {
                    id: event.id(),
                    order: event.event().order_key(),
                    what: what.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// After history accepted `event`: if it is a governance action, resolves again; a
    /// changed removal redraws the timeline without what the removed wrote after their cut.
    pub(super) fn note_governance(&mut self, event: &VerifiedEvent) {
        if !matches!(event.event().content, Content::Govern(_)) {
            return;
        }
        if self.refresh_governance() == Some(true) {
            self.rebuild_timeline();
            self.events.push_back(ClientEvent::Rebuilt);
        }
    }

    /// Resolves the governance again from history. `None`: unchanged; otherwise reported to
    /// the caller, and whether the removals changed.
    pub(super) fn refresh_governance(&mut self) -> Option<bool> {
        let genesis = self.governance.genesis()?;
        let governance = Governance::resolve(Some(genesis), self.governance_actions());
        if governance == self.governance {
            return None;
        }
        let removals_changed = governance.removals() != self.governance.removals();
        self.governance = governance;
        self.events.push_back(ClientEvent::Governance);
        Some(removals_changed)
    }

    /// Whether `event` belongs on the timeline: not written by a removed member after
    /// their cut.
    pub(super) fn counts(&self, event: &VerifiedEvent) -> bool {
        let event = event.event();
        self.governance.accepts(&event.author, event.seq)
    }
}
