//! A governed room's ranks as `AppState` shows them: who is in the room with what rank,
//! and what we may do about each of them. Core decides all of it (`Client::governance`,
//! `Client::powers_over`); the driver copies it here whenever it changes.

use confab_core::MemberKey;
pub use confab_core::client::Powers;
pub use confab_core::governance::Rank;
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
    /// Every member who announced themselves and was not removed, us included: the owner,
    /// then admins (most senior first), then members.
    pub members: Vec<RankedMember>,
    /// Messages disappear this many seconds after they were sent (`None`: never).
    pub disappear_after_secs: Option<u32>,
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
