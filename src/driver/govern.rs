//! A governed room in the driver: copying core's governance into `AppState` whenever it
//! changes (and at start, after a restore), and carrying out the Members list's commands.
//! Every rule is core's: what may be done (`Client::powers_over`), ranks, removals.

use confab_core::governance::{Govern, Rank};
use confab_core::{Client, Instant, MemberKey};

use super::Driver;
use crate::platform::clock;
use crate::state::{GovernanceView, RankedMember};

impl Driver {
    /// Core's governance changed (`ClientEvent::Governance`), or the room just started:
    /// show the ranks, what we may do and the room's settings; the timer is looked at again.
    pub(super) fn governance_changed(&mut self) {
        self.state.governance_changed(governance_view(&self.client));
        self.recheck_expiry();
    }

    /// "Remove from room", confirmed: the removal, then at once a new epoch without them
    /// (the remover rekeys; see core's `Client::rekey`).
    pub(super) fn remove_member(&mut self, now: Instant, member: MemberKey) {
        let name = self.state.name_of(&member);
        let remove = Govern::Remove { member, seen: 0 };
        if let Err(error) = self.client.govern(now, clock::wall(), remove) {
            return self
                .state
                .notify(format!("Could not remove {name}: {error}."));
        }
        if let Err(error) = self.client.rekey(now, clock::wall()) {
            self.state.notify(format!(
                "{name} was removed, but the room could not move to a new link: {error}."
            ));
        }
    }

    /// "Make admin" (`admin`) or "Remove admin".
    pub(super) fn set_admin(&mut self, now: Instant, member: MemberKey, admin: bool) {
        let what = if admin {
            Govern::Promote { member, seen: 0 }
        } else {
            Govern::Demote { member, seen: 0 }
        };
        if let Err(error) = self.client.govern(now, clock::wall(), what) {
            let name = self.state.name_of(&member);
            self.state
                .notify(format!("Could not change {name}'s rank: {error}."));
        }
    }
}

/// `client`'s governance as the Members list shows it: each member's rank and what we may
/// do about them (core's `powers_over`).
pub(crate) fn governance_view(client: &Client) -> GovernanceView {
    let governance = client.governance();
    // A room stays governed when its owner leaves: its admins go on.
    if governance.genesis().is_none() {
        return GovernanceView::default();
    }
    let me = client.identity().member_key();
    let mut members: Vec<RankedMember> = governance
        .members()
        .filter_map(|(key, _)| {
            Some(RankedMember {
                key: *key,
                rank: governance.rank(key)?,
                powers: client.powers_over(*key),
            })
        })
        .collect();
    // The owner, then admins most senior first, then members (in key order).
    let admins = governance.admins();
    members.sort_by_key(|m| {
        let seniority = admins.iter().position(|a| *a == m.key);
        (m.rank != Rank::Owner, seniority.is_none(), seniority, m.key)
    });
    GovernanceView {
        governed: true,
        my_rank: governance.rank(&me),
        members,
        disappear_after_secs: governance.settings().disappear_after_secs,
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
