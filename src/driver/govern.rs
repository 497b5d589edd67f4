//! A governed room in the driver: copying core's governance into `AppState` whenever it
//! changes (and at start, after a restore), and carrying out the Members list's commands.
//! Every rule is core's: what may be done (`Client::powers_over`), ranks, removals.

use confab_core::governance::{Backlog, Govern, Joining, Rank, Settings};
use confab_core::{Client, Duration, Instant, MemberKey};
use leptos::prelude::GetUntracked as _;

use super::{Driver, log};
use crate::commands::Command;
use crate::platform::store::{RoomKind, Untitled};
use crate::platform::{clock, page};
use crate::state::{GovernanceView, JoinRequest, RankedMember};

/// How long a leave may go unheard (no member acknowledged it, no mailbox stored it) before
/// the page says so and offers to forget the room at once. Online, one or the other takes
/// a moment; this long means nobody can be reached.
pub(crate) const LEAVE_UNHEARD_AFTER: Duration = Duration::from_secs(10);

/// What a governed room's driver waits for.
#[derive(Default)]
pub(super) struct Pending {
    /// We left: the number of our leave in our chain, until a member or the server's
    /// mailbox holds it (then the room is forgotten here).
    leaving: Option<u64>,
    /// When our leave counts as unheard (see [`LEAVE_UNHEARD_AFTER`]).
    unheard_at: Option<Instant>,
    /// Our leave went unheard: the page offers to forget the room now.
    unheard: bool,
    /// When core says we should start the epoch the room needs (`Client::rekey_due`).
    pub(super) rekey_at: Option<Instant>,
    /// Core refused the new epoch we started (too many members to seal it to, say): the
    /// page was told once; it is tried again only once the room's governance changes.
    rekey_refused: bool,
}

impl Pending {
    /// The next of its deadlines (the driver's `Timer::Govern`).
    pub(super) fn deadline(&self) -> Option<Instant> {
        [self.rekey_at, self.unheard_at].into_iter().flatten().min()
    }
}

impl Driver {
    /// The Members list's, the join requests' and the room settings' commands.
    pub(super) fn govern_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::SetDisappearing(after_secs) => self.set_disappearing(now, after_secs),
            Command::RemoveMember(member) => self.remove_member(now, member),
            Command::SetAdmin { member, admin } => self.set_admin(now, member, admin),
            Command::SetApproval(approval) => self.configure(now, |settings| {
                settings.joining = if approval {
                    Joining::Approval
                } else {
                    Joining::Open
                }
            }),
            Command::SetSinceJoining(since) => self.configure(now, |settings| {
                settings.backlog = if since {
                    Backlog::SinceJoining
                } else {
                    Backlog::All
                }
            }),
            Command::AnswerJoin { member, admit } => self.answer_join(now, member, admit),
            Command::LeaveRoom => self.leave_room(now),
            Command::ForgetRoom => self.forget_room(),
            _ => {}
        }
    }

    /// Core's governance changed (`ClientEvent::Governance`), or the room just started:
    /// show the ranks, what we may do and the room's settings; the timer is looked at again.
    pub(super) fn governance_changed(&mut self) {
        self.govern.rekey_refused = false;
        self.state.governance_changed(self.governance_view());
        self.untitle_removed();
        self.recheck_expiry();
        self.end_call_if_out_of_room();
        self.files_follow_governance();
    }

    /// Members removed from the room (or who left) no longer name it: their names leave
    /// the saved group's title (one a member still in the room also goes by stays), and
    /// come back where they stood if the removal is undone, after a reload too (the room's
    /// record keeps them: `SavedRoom::untitled`).
    fn untitle_removed(&mut self) {
        let governance = self.client.governance();
        // Names as the page shows them (from links and history), read outside any view.
        let name_of = |key: &MemberKey| leptos::prelude::untrack(|| self.state.name_of(key));
        let in_room: Vec<String> = governance.members().map(|(key, _)| name_of(key)).collect();
        let gone: Vec<(MemberKey, String)> = governance
            .removals()
            .keys()
            .map(|key| (*key, name_of(key)))
            .filter(|(_, name)| !in_room.contains(name))
            .collect();
        let back = |untitled: &Untitled| governance.removed(&untitled.member).is_none();
        let Some(room) = self.saved_room.as_mut() else {
            return;
        };
        if room.kind != RoomKind::Group {
            return;
        }
        let mut names: Vec<String> = room
            .title
            .split(", ")
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        let mut untitled = room.untitled.clone();
        for (member, name) in gone {
            if let Some(place) = names.iter().position(|named| *named == name) {
                names.remove(place);
                // A title's names: far below 4 billion.
                let place = place as u32;
                untitled.push(Untitled {
                    member,
                    name,
                    place,
                });
            }
        }
        // The latest taken out first, so each goes back where it stood.
        while let Some(idx) = untitled.iter().rposition(back) {
            let Untitled { name, place, .. } = untitled.remove(idx);
            if !names.contains(&name) {
                names.insert((place as usize).min(names.len()), name);
            }
        }
        let title = names.join(", ");
        if title == room.title && untitled == room.untitled {
            return;
        }
        room.title = title;
        room.untitled = untitled;
        let saved = room.clone();
        self.state.room_titled(saved.home(), saved.title.clone());
        self.with_store_quietly(move |store| async move { store.save_room(&saved).await });
    }

    /// Links came or went, or an epoch was taken: who asks to join (and by what name), and
    /// whether we still wait to be let in, follow them.
    pub(super) fn show_governance(&mut self) {
        self.state.governance_changed(self.governance_view());
    }

    /// Core's governance as shown, and whether our leave went unheard.
    fn governance_view(&self) -> GovernanceView {
        GovernanceView {
            leave_unheard: self.govern.unheard,
            ..governance_view(&self.client)
        }
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

    /// "Approve" (`admit`) or "Decline" someone asking to join: `Admit`, or `Remove` of a
    /// member who never held the room's secret (no new epoch).
    pub(super) fn answer_join(&mut self, now: Instant, member: MemberKey, admit: bool) {
        let what = if admit {
            Govern::Admit { member, seen: 0 }
        } else {
            Govern::Remove { member, seen: 0 }
        };
        if let Err(error) = self.client.govern(now, clock::wall(), what) {
            self.state
                .notify(format!("Could not answer the join request: {error}."));
        }
        self.governance_changed();
    }

    /// "Who can join" (`approval`: an admin approves each newcomer) or "New members see"
    /// (`since_joining`: only what is said from when they joined), as `change` sets them.
    pub(super) fn configure(&mut self, now: Instant, change: impl FnOnce(&mut Settings)) {
        let mut settings = self.client.governance().settings();
        change(&mut settings);
        if settings == self.client.governance().settings() {
            return;
        }
        match self
            .client
            .govern(now, clock::wall(), Govern::Configure(settings))
        {
            Ok(_) => self.state.clear_notice(),
            Err(error) => self
                .state
                .notify(format!("The room's settings were not changed: {error}.")),
        }
        // The controls show what governance says, whatever happened.
        self.governance_changed();
    }

    /// "Leave room", confirmed: our leave (`Remove` of ourselves) is posted (stored, then
    /// sent); the room is forgotten here only once it is in other hands
    /// ([`Driver::finish_leaving`]): a leave that never left this browser is none.
    pub(super) fn leave_room(&mut self, now: Instant) {
        let me = self.client.identity().member_key();
        let leave = Govern::Remove {
            member: me,
            seen: 0,
        };
        if let Err(error) = self.client.govern(now, clock::wall(), leave) {
            return self
                .state
                .notify(format!("Could not leave the room: {error}."));
        }
        self.govern.leaving = Some(self.client.history().mark(&me));
        self.govern.unheard_at = Some(now + LEAVE_UNHEARD_AFTER);
        self.state.notify(LEAVING.to_owned());
    }

    /// After each drain: once a member acknowledged our leave or the server's mailbox
    /// stored it (core's outbox), the room, its history and everything kept of it are
    /// forgotten here, and the app opens the profile's last room instead.
    fn finish_leaving(&mut self) {
        let Some(seq) = self.govern.leaving else {
            return;
        };
        if !self.client.outbox_record().covers(seq) {
            return;
        }
        self.govern.leaving = None;
        self.govern.unheard_at = None;
        self.forget_here();
    }

    /// "Remove from my rooms" where our invite link was superseded before anyone let us
    /// in (we hold no epoch: nothing of the room was ours to read, and nobody counts us
    /// as a member who could be told we left), or "Forget the room now" while our leave
    /// goes unheard (the user chose not to wait: the others will not hear it): the room
    /// is forgotten here. A member leaves with "Leave room" first.
    fn forget_room(&mut self) {
        if self.client.epoch().is_some() && self.govern.leaving.is_none() {
            return log("a member leaves with Leave room");
        }
        self.govern.leaving = None;
        self.forget_here();
    }

    /// The `Govern` timer: a new epoch may be ours to start now (the drain after this looks),
    /// or our leave went unheard, which the page is told.
    pub(super) fn govern_timeout(&mut self, now: Instant) {
        if self.govern.rekey_at.is_some_and(|at| at <= now) {
            self.govern.rekey_at = None;
        }
        if self.govern.unheard_at.is_some_and(|at| at <= now) {
            self.govern.unheard_at = None;
            self.govern.unheard = self.govern.leaving.is_some();
            // The page says what now instead ("Forget the room now").
            if self.state.notice().get_untracked().as_deref() == Some(LEAVING) {
                self.state.clear_notice();
            }
            self.show_governance();
        }
    }

    /// Forgets the room, its history and everything kept of it on this device, and opens
    /// the profile's last room instead.
    fn forget_here(&mut self) {
        // Nothing more of this room is written from here on.
        let store = self.store.take();
        let home = self.home;
        let on_screen = self.settings.on_screen;
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(store) = store
                && let Err(error) = store.forget_room(home).await
            {
                log(&format!("the room we left was not forgotten: {error}"));
            }
            if on_screen {
                page::open_home();
            }
        });
    }

    /// After each drain: a leave that reached others ends here; then, if the room needs a
    /// new epoch and it is ours, we start it. True if we did (drain again).
    pub(super) fn governed_after_drain(&mut self, now: Instant) -> bool {
        self.finish_leaving();
        self.rekey_if_ours(now)
    }

    /// After each drain of a governed room: if core says the new epoch the room needs (after
    /// a leave, say) is ours to start now (`Client::should_rekey`: the most senior owner or
    /// admin online), starts it; else notes when it will be (the `Rekey` timer). True if it
    /// rekeyed (drain again). One core refused is said once and not tried again until the
    /// room's governance changes (a drain comes with every input: it would be tried, and
    /// said, again and again).
    fn rekey_if_ours(&mut self, now: Instant) -> bool {
        if self.client.governance().genesis().is_none() || self.govern.rekey_refused {
            self.govern.rekey_at = None;
            return false;
        }
        self.govern.rekey_at = self.client.rekey_due(now);
        if !self.client.should_rekey(now) {
            return false;
        }
        self.govern.rekey_at = None;
        match self.client.rekey(now, clock::wall()) {
            Ok(_) => true,
            Err(error) => {
                self.govern.rekey_refused = true;
                self.state.notify(format!(
                    "The room could not move to a new link after someone left: {error}."
                ));
                false
            }
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

/// What the page says while our leave is on its way.
pub(crate) const LEAVING: &str = "Leaving this room: as soon as another member or the server has your goodbye, it is forgotten on this device.";

/// `client`'s governance as the Members list shows it: each member's rank and what we may
/// do about them (core's `powers_over`).
pub(crate) fn governance_view(client: &Client) -> GovernanceView {
    let governance = client.governance();
    // A room stays governed when its owner leaves: its admins go on.
    if governance.genesis().is_none() {
        return GovernanceView::default();
    }
    let me = client.identity().member_key();
    let requests = client.join_requests();
    let asking: Vec<MemberKey> = requests.iter().map(|request| request.member).collect();
    let mut members: Vec<RankedMember> = governance
        .members()
        .filter(|(key, _)| !asking.contains(key))
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
    let my_rank = governance.rank(&me);
    let may_answer = matches!(my_rank, Some(Rank::Owner | Rank::Admin));
    let join_requests = requests
        .into_iter()
        .filter(|_| may_answer)
        .map(|request| JoinRequest {
            member: request.member,
            name: request.name,
        })
        .collect();
    let settings = governance.settings();
    let leave = Govern::Remove {
        member: me,
        seen: 0,
    };
    GovernanceView {
        may_leave: client.allows(leave).is_ok(),
        governed: true,
        my_rank,
        members,
        asking,
        disappear_after_secs: settings.disappear_after_secs,
        joining: settings.joining,
        backlog: settings.backlog,
        // Linked to a member, yet handed nothing: they let in only whom an admin approved.
        waiting: my_rank.is_some()
            && client.epoch().is_none()
            && client.verified_peers().next().is_some(),
        join_requests,
        // The driver knows (`Pending`).
        leave_unheard: false,
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod undone_tests;
