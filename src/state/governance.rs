//! A governed room's ranks as `AppState` shows them: who is in the room with what rank,
//! and what we may do about each of them. Core decides all of it (`Client::governance`,
//! `Client::powers_over`); the driver copies it here whenever it changes.

use confab_core::MemberKey;
pub use confab_core::client::Powers;
pub use confab_core::governance::{Backlog, Joining, Rank};
use leptos::prelude::*;

use super::AppState;

/// One member of a governed room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RankedMember {
    /// Who.
    pub key: MemberKey,
    /// Their rank.
    pub rank: Rank,
    /// What we may do about them (nothing about ourselves).
    pub powers: Powers,
}

/// A room's governance as shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GovernanceView {
    /// The room has an owner (false: everyone with the link is a member, nobody ranks, and
    /// nothing below applies).
    pub governed: bool,
    /// Our rank (`None` in a governed room: we were removed, or left).
    pub my_rank: Option<Rank>,
    /// Every member who announced themselves and was not removed, us included, but those
    /// still asking to join: the owner, then admins (most senior first), then members.
    pub members: Vec<RankedMember>,
    /// Everyone asking to join and not let in yet, whatever our rank: no member yet, so
    /// the Members list does not show them (the owner and admins see `join_requests`).
    pub asking: Vec<MemberKey>,
    /// Messages disappear this many seconds after they were sent (`None`: never).
    pub disappear_after_secs: Option<u32>,
    /// Who may join: anyone with the link, or whom an owner or admin approves.
    pub joining: Joining,
    /// What newcomers read: the whole history, or only from when they joined.
    pub backlog: Backlog,
    /// We may leave the room ("Leave room"; core's `Client::allows`).
    pub may_leave: bool,
    /// We asked to join and hold nothing of the room yet: an owner or admin must let us in.
    pub waiting: bool,
    /// We left, and for a while now no member or mailbox could be reached to hear it: the
    /// page offers to forget the room at once (the others will then not hear we left).
    pub leave_unheard: bool,
    /// Who asks to join ("Dave wants to join"), oldest key first: only for the owner and
    /// admins, who answer (Approve or Decline).
    pub join_requests: Vec<JoinRequest>,
}

/// Someone asking to join a room that needs approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    /// Who.
    pub member: MemberKey,
    /// The name they gave, if they are linked to us now.
    pub name: Option<String>,
}

impl GovernanceView {
    /// `member`'s rank, if they are in this governed room.
    pub fn rank_of(&self, member: &MemberKey) -> Option<Rank> {
        self.members
            .iter()
            .find(|m| m.key == *member)
            .map(|m| m.rank)
    }

    /// We may change the room's settings (its owner or an admin).
    pub fn may_configure(&self) -> bool {
        matches!(self.my_rank, Some(Rank::Owner | Rank::Admin))
    }

    /// We were removed from this governed room.
    pub fn removed_me(&self) -> bool {
        self.governed && self.my_rank.is_none()
    }

    /// `member` asks to join and is not let in yet.
    pub fn is_asking(&self, member: &MemberKey) -> bool {
        self.asking.contains(member)
    }

    /// We may post here (a message, a reply, a reaction, an edit): not removed, nor still
    /// waiting to be let in.
    pub fn may_post(&self) -> bool {
        !self.removed_me() && !self.waiting
    }
}

/// Governance (only the driver calls these).
impl AppState {
    /// The room's governance changed (or was restored): show `view`.
    pub fn governance_changed(&self, view: GovernanceView) {
        if self.governance.with_untracked(|shown| *shown != view) {
            self.governance.set(view);
        }
    }
}
