//! Blocking (issue 17, item 5): the user chose to see nothing of some members. Their
//! messages, edits, reactions and names stay off the timeline (one filter, the same one
//! removals use: `Client::counts`), and their typing is not shown. History still holds
//! and serves their events to others, and their governance actions still count and show
//! (what they did to the room): blocking is this user's view alone. Nothing is sent, so
//! they are not told.

use std::collections::BTreeSet;

use super::{Client, ClientEvent};
use crate::ids::MemberKey;

impl Client {
    /// Sets whom the user blocked (all of them: the contacts marked blocked). What is
    /// already shown is redrawn without them ([`ClientEvent::Rebuilt`]) if that changed.
    pub fn set_blocked(&mut self, blocked: impl IntoIterator<Item = MemberKey>) {
        let blocked: BTreeSet<MemberKey> = blocked.into_iter().collect();
        if blocked == self.blocked {
            return;
        }
        self.blocked = blocked;
        for member in &self.blocked {
            self.typing.remove(member);
        }
        self.rebuild_timeline();
        self.events.push_back(ClientEvent::Rebuilt);
    }

    /// Whether the user blocked `member`.
    pub fn is_blocked(&self, member: &MemberKey) -> bool {
        self.blocked.contains(member)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{A, B, Duo};
    use super::*;

    fn texts(client: &Client) -> Vec<String> {
        client.messages().into_iter().map(|m| m.text).collect()
    }

    /// Alice blocks Bob: what he said leaves her timeline, what he says next never reaches
    /// it (no event for it), and he is told nothing (his view is unchanged). Unblocking
    /// shows everything again: history kept it.
    #[test]
    fn a_blocked_member_s_messages_leave_the_timeline_and_come_back_on_unblock() {
        let mut duo = Duo::new();
        duo.connect();
        duo.post(A, "hello");
        duo.post(B, "from bob");
        assert_eq!(texts(&duo.clients[A]), ["hello", "from bob"]);
        let bob = duo.clients[B].identity().member_key();

        duo.events[A].clear();
        duo.clients[A].set_blocked([bob]);
        assert!(duo.clients[A].is_blocked(&bob));
        duo.pump();
        assert!(
            duo.events[A]
                .iter()
                .any(|e| matches!(e, ClientEvent::Rebuilt))
        );
        assert_eq!(texts(&duo.clients[A]), ["hello"]);
        duo.events[A].clear();
        duo.post(B, "still bob");
        duo.post(A, "alice again");
        assert!(
            !duo.events[A]
                .iter()
                .any(|e| matches!(e, ClientEvent::Message(m) if m.author == bob))
        );
        assert_eq!(texts(&duo.clients[A]), ["hello", "alice again"]);
        // Bob sees the room as before, his messages and hers alike.
        assert_eq!(
            texts(&duo.clients[B]),
            ["hello", "from bob", "still bob", "alice again"]
        );
        assert_eq!(
            duo.clients[A].history().len(),
            duo.clients[B].history().len()
        );

        duo.clients[A].set_blocked([]);
        assert_eq!(
            texts(&duo.clients[A]),
            ["hello", "from bob", "still bob", "alice again"]
        );
    }
}
