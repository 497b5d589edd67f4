//! The page's notices. One general notice says what just happened or went wrong and is
//! replaced by the next ([`AppState::notify`]). A lasting notice is about one matter
//! ([`Topic`]: the call that ended, the room's record not saved): no general notice hides
//! it, a newer one about the same matter replaces it, and it goes when that matter does
//! (a new call starts) or the user dismisses it. So a user sees every matter at once,
//! not only the latest thing said.

use leptos::prelude::*;

use super::{AppState, ReadOnly};

/// What a lasting notice is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Why our last call ended: gone once a new call starts.
    CallEnded,
    /// The room's record (the epoch it holds) could not be saved on this device, or is
    /// saved now after all (and at start-up, that the room could not be saved).
    RoomRecord,
}

/// Notices: the general one, and the lasting ones ([`Topic`]).
impl AppState {
    /// The lasting notices, oldest first.
    pub fn lasting_notices(&self) -> ReadOnly<Vec<(Topic, String)>> {
        ReadOnly(self.lasting)
    }

    /// Tells the user `text` about `topic` (replacing what was said about it). Only the
    /// driver and start-up call this.
    pub fn notify_about(&self, topic: Topic, text: impl Into<String>) {
        let text = text.into();
        self.lasting.update(
            |notices| match notices.iter_mut().find(|(t, _)| *t == topic) {
                Some(notice) => notice.1 = text,
                None => notices.push((topic, text)),
            },
        );
    }

    /// The user dismissed the notice about `topic` (`None`: the general one).
    pub fn dismiss_notice(&self, topic: Option<Topic>) {
        match topic {
            None => self.notice.set(None),
            Some(topic) => self.settle(topic),
        }
    }

    /// `text`, said about `topic`, no longer holds (we are in the room again whose removal
    /// ended our call: a rival's removal undid it): it goes, if it is still what is said.
    /// Only the driver calls this.
    pub fn withdraw(&self, topic: Topic, text: &str) {
        let said = self.lasting.with_untracked(|notices| {
            notices
                .iter()
                .any(|(said_of, said)| *said_of == topic && said == text)
        });
        if said {
            self.settle(topic);
        }
    }

    /// Nothing more to say about `topic`.
    pub(super) fn settle(&self, topic: Topic) {
        if self
            .lasting
            .with_untracked(|notices| notices.iter().any(|(t, _)| *t == topic))
        {
            self.lasting
                .update(|notices| notices.retain(|(t, _)| *t != topic));
        }
    }
}
