//! Delete means delete: a deleted message's text leaves every member's store and is never
//! served again; a member who drops content nobody deleted hides nothing for good.

use std::collections::HashMap;

use super::super::tests::{A, B, Duo, client, restore};
use super::*;
use crate::history::{Content, UnixMillis};
use crate::ids::EventId;

const SECRET: &[u8] = b"my PIN is 4711";

fn contains_secret(bytes: &[u8]) -> bool {
    bytes.windows(SECRET.len()).any(|w| w == SECRET)
}

/// The store a client's `Persist` and `Rewrite` events leave (records by event id).
fn store(events: &[ClientEvent]) -> HashMap<EventId, Vec<u8>> {
    let mut store = HashMap::new();
    for event in events {
        match event {
            ClientEvent::Persist { id, bytes, .. } | ClientEvent::Rewrite { id, bytes, .. } => {
                store.insert(*id, bytes.clone());
            }
            _ => {}
        }
    }
    store
}

/// Alice edits, then deletes a message Bob holds: Bob's store is told to overwrite it
/// and the edit with their redacted forms, which still verify and have no text; a newcomer catching up from Bob
/// alone sees "deleted" and never gets the text, not even in what it is asked to store;
/// Bob restored from his store shows it deleted too.
#[test]
fn a_deleted_message_leaves_every_store_and_is_never_served_again() {
    let mut duo = Duo::new();
    duo.connect();
    let secret = duo.post(A, std::str::from_utf8(SECRET).unwrap());
    duo.post(A, "still here");
    let now = duo.now;
    let edit = Content::Edit {
        target: secret,
        text: format!("{} (new)", std::str::from_utf8(SECRET).unwrap()),
    };
    let edit = duo.clients[A].post(now, UnixMillis(2), edit).unwrap();
    duo.pump();
    assert!(
        store(&duo.events[B])
            .values()
            .any(|bytes| contains_secret(bytes))
    );
    duo.clients[A]
        .post(now, UnixMillis(2), Content::Delete { target: secret })
        .unwrap();
    duo.pump();

    for idx in [A, B] {
        let stored = store(&duo.events[idx]);
        assert_eq!(stored.len(), 4, "two messages, the edit and the delete");
        assert!(!stored.values().any(|bytes| contains_secret(bytes)));
        assert!(
            duo.events[idx]
                .iter()
                .any(|event| matches!(event, ClientEvent::Rewrite { id, .. } if *id == secret))
        );
        let held = duo.clients[idx].history().get(&secret).unwrap();
        assert!(held.is_redacted());
        assert!(duo.clients[idx].history().get(&edit).unwrap().is_redacted());
        let view = duo.clients[idx].timeline().message(&secret).unwrap();
        assert!(view.deleted && view.text.is_empty());
    }

    // Carol joins while Alice is away: she catches up from Bob only.
    let bob_store: Vec<Vec<u8>> = store(&duo.events[B]).into_values().collect();
    duo.disconnect();
    duo.clients[A] = client(3);
    duo.events = [Vec::new(), Vec::new()];
    duo.connect();
    let carol = &duo.clients[A];
    assert_eq!(carol.history().len(), 4);
    assert!(carol.history().get(&secret).unwrap().is_redacted());
    assert!(carol.timeline().message(&secret).unwrap().deleted);
    assert_eq!(duo.texts(A), ["", "still here"]);
    assert!(
        !store(&duo.events[A])
            .values()
            .any(|bytes| contains_secret(bytes))
    );

    let mut bob = client(2);
    let now = duo.now;
    restore(&mut bob, now, &bob_store);
    let view = bob.timeline().message(&secret).unwrap();
    assert!(view.deleted && !view.unavailable);
}

/// Bob serves Alice's message without its content though she never deleted it (a forged
/// redacted form: its signature still checks). Carol, catching up from Bob, shows it as
/// unavailable, not deleted; once she is linked to Alice, anti-entropy asks for the full
/// form, which fills it in (a rewrite for her store) and shows the text.
#[test]
fn a_forged_redaction_hides_a_message_only_until_someone_serves_it_whole() {
    let mut duo = Duo::new();
    duo.connect();
    let message = duo.post(A, std::str::from_utf8(SECRET).unwrap());
    let full = duo.clients[A].history().get(&message).unwrap().clone();
    let forged = full.redacted().unwrap();

    // Bob's store holds only the redacted form.
    let mut bob = client(2);
    let now = duo.now;
    restore(&mut bob, now, &[forged.bytes().to_vec()]);
    let alice = std::mem::replace(&mut duo.clients[A], client(3));
    duo.disconnect();
    duo.clients[B] = bob;
    duo.events = [Vec::new(), Vec::new()];
    duo.connect();
    let view = duo.clients[A].timeline().message(&message).unwrap().clone();
    assert!(view.unavailable && !view.deleted && view.text.is_empty());
    assert_eq!(
        duo.clients[A]
            .history()
            .unavailable()
            .map(|(_, _, id)| id)
            .collect::<Vec<_>>(),
        [message]
    );

    // Carol now meets Alice, who holds it whole.
    duo.disconnect();
    duo.clients[B] = alice;
    duo.connect();
    let interval = duo.clients[A].config.anti_entropy_interval;
    duo.wait(interval);
    duo.wait(interval);
    let view = duo.clients[A].timeline().message(&message).unwrap();
    assert!(!view.unavailable);
    assert_eq!(view.text.as_bytes(), SECRET);
    assert_eq!(duo.clients[A].history().unavailable().count(), 0);
    assert!(duo.events[A].iter().any(|event| matches!(
        event,
        ClientEvent::Rewrite { id, bytes, .. } if *id == message && contains_secret(bytes)
    )));
    assert!(
        duo.events[A]
            .iter()
            .any(|event| matches!(event, ClientEvent::Rebuilt))
    );
}

/// A governed room whose owner turns on a one-minute timer: what was said before stays;
/// a message said after it is erased from both members' stores once their clocks pass
/// its time plus a minute (not before), shown as deleted, and still so after a restore.
#[test]
fn a_disappearing_message_is_erased_everywhere_once_its_timer_runs_out() {
    use crate::governance::{Govern, Settings};
    let mut duo = crate::client::govern::tests::governed_duo();
    let now = duo.now;
    let before = duo.clients[A]
        .send_text(now, UnixMillis(1_000), "said before")
        .unwrap();
    let timer = Settings {
        disappear_after_secs: Some(60),
        ..Settings::default()
    };
    duo.clients[A]
        .govern(now, UnixMillis(1_500), Govern::Configure(timer))
        .unwrap();
    let secret = duo.clients[A]
        .send_text(now, UnixMillis(2_000), std::str::from_utf8(SECRET).unwrap())
        .unwrap();
    duo.pump();
    for idx in [A, B] {
        let client = &mut duo.clients[idx];
        assert_eq!(
            client.erase_expired(now, UnixMillis(61_999)),
            Some(UnixMillis(62_000))
        );
        assert!(!client.history().get(&secret).unwrap().is_redacted());
        assert_eq!(client.erase_expired(now, UnixMillis(62_000)), None);
        assert!(client.history().get(&secret).unwrap().is_redacted());
        assert!(client.timeline().message(&secret).unwrap().deleted);
        assert!(!client.timeline().message(&before).unwrap().deleted);
    }
    duo.pump();
    for idx in [A, B] {
        let stored = store(&duo.events[idx]);
        assert!(
            !stored.values().any(|bytes| contains_secret(bytes)),
            "client {idx}"
        );
        let genesis = duo.clients[idx].governance().genesis().unwrap();
        let mut again = client(idx as u8 + 1).with_genesis(genesis);
        let records: Vec<Vec<u8>> = stored.into_values().collect();
        restore(&mut again, now, &records);
        again.erase_expired(now, UnixMillis(62_000));
        let view = again.timeline().message(&secret).unwrap();
        assert!(view.deleted && !view.unavailable);
        assert_eq!(again.history().unavailable().count(), 0);
    }
}
