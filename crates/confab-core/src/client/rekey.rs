//! Who starts the new epoch a governed room needs (issue 17): after a leave, a removal
//! whose rekey never came (made on another device, or its author went offline), a member
//! a rekey left out, exactly one online owner or admin should, and someone always does.
//!
//! The rule: the most senior owner or admin in the room's current epoch (the owner, then
//! admins by when they became admin) among those linked to each other in its room rekeys
//! at once; each less senior one waits [`REKEY_STAGGER`] more per more senior one it is
//! linked to, from when it saw the need, so one who stays silent (an old client, a tab
//! about to close) is covered. Two who rekey at once (apart, each the most senior it can
//! reach) converge: the rival-rekey rule keeps one epoch (`governance.rs`), and members who
//! followed the other come back through the mailbox of the epoch they left
//! (`follow_epochs`).

use std::time::Duration;

use super::Client;
use crate::Instant;
use crate::governance::Rank;
use crate::ids::MemberKey;

/// How long each owner or admin more senior than us, linked to us in the room, is given to
/// start a needed epoch before we do.
pub const REKEY_STAGGER: Duration = Duration::from_secs(20);

impl Client {
    /// Whether this client should start a new epoch now: if so, the app calls
    /// [`Client::rekey`] (see the module doc for who does). Call it after each drain of a
    /// governed room's outputs, and again at [`Client::rekey_due`]; a refused rekey
    /// (too many members) is the app's to report, not to retry at once.
    pub fn should_rekey(&mut self, now: Instant) -> bool {
        let now = self.monotonic(now);
        self.rekey_due(now).is_some_and(|due| now >= due)
    }

    /// When [`Client::should_rekey`] will say yes if nothing changes (`None`: not while
    /// the room needs no new epoch, or we may not start one).
    pub fn rekey_due(&mut self, now: Instant) -> Option<Instant> {
        let now = self.monotonic(now);
        let needed = self.governance.needs_rekey()
            && self.epoch.as_ref().map(|(n, _)| *n) == Some(self.governance.epoch());
        if !needed {
            self.rekey_needed_since = None;
            return None;
        }
        let since = *self.rekey_needed_since.get_or_insert(now);
        let mine = self.rekey_seniority(&self.public.member_key())?;
        let ahead = self
            .verified_peers()
            .filter(|(peer, _)| self.serves(*peer))
            .filter_map(|(_, info)| self.rekey_seniority(&info.identity.member_key()))
            .filter(|theirs| *theirs < mine)
            .count();
        Some(since + REKEY_STAGGER * ahead as u32)
    }

    /// `member`'s place among those who may rekey, most senior first (none for members).
    fn rekey_seniority(&self, member: &MemberKey) -> Option<usize> {
        match self.governance.rank(member)? {
            Rank::Owner => Some(0),
            Rank::Admin => self
                .governance
                .admins()
                .iter()
                .position(|admin| admin == member)
                .map(|idx| idx + 1),
            Rank::Member => None,
        }
    }
}
