//! Governance in a client: actions posted only when they would count, ranks reaching the
//! other member, and a removed member's later messages kept off every timeline.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::tests::{A, B, Duo, client};
use super::*;
use crate::governance::{Rank, genesis_of};
use crate::ids::MemberKey;

const NONCE: [u8; 32] = [0x42; 32];

fn key(idx: usize) -> MemberKey {
    Identity::from_seed([idx as u8 + 1; 32]).member_key()
}

/// A and B in a governed room that A created.
fn governed_duo() -> Duo {
    let genesis = genesis_of(&key(A), &NONCE);
    let mut duo = Duo::new();
    duo.clients = [
        client(1).with_genesis(genesis),
        client(2).with_genesis(genesis),
    ];
    let now = duo.now;
    duo.clients[A]
        .govern(now, UnixMillis(1), Govern::Create { nonce: NONCE })
        .unwrap();
    duo.connect();
    duo
}

use crate::identity::Identity;

#[test]
fn the_creator_owns_the_room_and_ranks_reach_everyone() {
    let mut duo = governed_duo();
    for idx in [A, B] {
        let governance = duo.clients[idx].governance();
        assert_eq!(governance.owner(), Some(key(A)), "client {idx}");
        assert_eq!(governance.rank(&key(B)), Some(Rank::Member));
    }
    let now = duo.now;
    let promote = Govern::Promote {
        member: key(B),
        seen: 0,
    };
    duo.clients[A].govern(now, UnixMillis(2), promote).unwrap();
    duo.pump();
    assert_eq!(duo.clients[B].governance().rank(&key(B)), Some(Rank::Admin));
    assert!(duo.events[B].contains(&ClientEvent::Governance));
}

#[test]
fn an_action_that_would_not_count_is_not_posted() {
    let mut duo = governed_duo();
    let now = duo.now;
    let held = duo.clients[B].history.len();
    let remove = Govern::Remove {
        member: key(A),
        seen: 0,
    };
    assert_eq!(
        duo.clients[B].govern(now, UnixMillis(2), remove),
        Err(GovernError::Refused(Refusal::NoAuthority))
    );
    let promote_self = Govern::Promote {
        member: key(B),
        seen: 0,
    };
    assert_eq!(
        duo.clients[B].govern(now, UnixMillis(2), promote_self),
        Err(GovernError::Refused(Refusal::NoAuthority))
    );
    assert_eq!(duo.clients[B].history.len(), held);
    // A second Create by the owner does not count either.
    assert_eq!(
        duo.clients[A].govern(now, UnixMillis(2), Govern::Create { nonce: [1; 32] }),
        Err(GovernError::Refused(Refusal::NotGenesis))
    );
}

#[test]
fn a_room_made_before_governance_has_none() {
    let mut duo = Duo::new();
    let now = duo.now;
    assert_eq!(
        duo.clients[A].govern(now, UnixMillis(1), Govern::Create { nonce: NONCE }),
        Err(GovernError::Ungoverned)
    );
    assert_eq!(duo.clients[A].governance().owner(), None);
}

/// B writes while apart, after the last of B's events A held; A removes B. Back together,
/// neither shows what B wrote after the cut, and both show what came before.
#[test]
fn a_removed_members_later_messages_leave_every_timeline() {
    let mut duo = governed_duo();
    duo.post(B, "before");
    duo.disconnect();
    duo.post(B, "while apart");
    let now = duo.now;
    let remove = Govern::Remove {
        member: key(B),
        seen: 0,
    };
    duo.clients[A].govern(now, UnixMillis(3), remove).unwrap();
    duo.post(A, "after");
    assert_eq!(duo.texts(A), ["before", "after"]);
    duo.connect();
    assert_eq!(duo.texts(A), ["before", "after"]);
    assert_eq!(duo.texts(B), ["before", "after"]);
    assert_eq!(duo.clients[B].governance().rank(&key(B)), None);
    assert!(duo.events[B].contains(&ClientEvent::Rebuilt));
}
