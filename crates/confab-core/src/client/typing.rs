//! Typing indicators: ours, sent to peers while the user types, and theirs, shown until
//! they stop or [`Config::typing_timeout`](super::Config::typing_timeout) passes (moved out of `mod.rs`, unchanged).

use super::{Client, ClientEvent};
use crate::Instant;
use crate::ids::MemberKey;
use crate::wire::Body;

impl Client {
    /// We are typing (call on each edit of the draft; repeated to peers at most every
    /// third of [`Config::typing_timeout`](super::Config::typing_timeout)) or stopped (sent, cleared, left the field).
    pub fn set_typing(&mut self, now: Instant, active: bool) {
        let now = self.monotonic(now);
        let repeat = self.config.typing_timeout / 3;
        let send = match (active, self.typing_sent) {
            (true, Some(sent)) => now >= sent + repeat,
            (true, None) => true,
            (false, Some(_)) => true,
            (false, None) => false,
        };
        if send {
            self.typing_sent = active.then_some(now);
            self.broadcast(now, &Body::Typing { active });
        }
    }

    pub(super) fn stop_typing(&mut self, member: MemberKey) {
        if self.typing.remove(&member).is_some() {
            self.events.push_back(ClientEvent::Typing {
                member,
                active: false,
            });
        }
    }
}
