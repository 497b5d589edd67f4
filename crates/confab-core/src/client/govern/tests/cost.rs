//! What catch-up costs in a governed room: governance goes first on every link
//! (`client/sync.rs`), yet each event should reach a member about once, not once per link.
//! A peer is given governance first only once we heard its marks, and what we give it we
//! count as held, so only a link that answers before it hears of what another link gave
//! sends a chain twice. Measured at f9ea6a6 (frame bytes over the bytes of events taken):
//! a newcomer linked to six 0.97, a member back from away 1.16 (the owner's chain of 1,200
//! events taken in three requests).

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::mesh::Mesh;

/// Five members each said 60 lines, then let a sixth in (their hand-overs end their
/// chains); a newcomer links to all six at once. What it is handed, in frame bytes,
/// against the bytes of the history it ends up holding.
#[test]
fn a_newcomer_linked_to_everyone_is_handed_the_history_about_once() {
    let mut mesh = Mesh::found(5);
    for idx in 0..5 {
        for line in 0..60 {
            mesh.post(
                idx,
                &format!("member {idx} says line {line} of what it has to say"),
            );
        }
    }
    let all: Vec<usize> = (0..5).collect();
    mesh.arrive(&all);
    mesh.wait(crate::Duration::from_secs(5));
    let all: Vec<usize> = (0..6).collect();
    let newcomer = mesh.arrive(&all);
    mesh.wait(crate::Duration::from_secs(5));
    let held: usize = mesh.clients[newcomer]
        .history
        .iter()
        .map(|event| event.bytes().len())
        .sum();
    assert_eq!(
        mesh.clients[newcomer].history.len(),
        mesh.clients[0].history.len()
    );
    let ratio = mesh.received[newcomer] as f64 / held as f64;
    eprintln!(
        "newcomer handed {} bytes for {held} bytes of history: {ratio:.2}",
        mesh.received[newcomer]
    );
    assert!(ratio < 1.5, "handed {ratio:.2} times its history");
}

/// A member away while the others said 60 lines each and let a newcomer in comes back,
/// linked to all of them at once. What it is handed, in frame bytes, against the bytes of
/// the history it lacked.
#[test]
fn a_member_back_from_away_is_handed_what_it_missed_about_once() {
    let mut mesh = Mesh::found(6);
    let away = 5;
    mesh.unlink_all(away);
    let before: usize = mesh.clients[away]
        .history
        .iter()
        .map(|event| event.bytes().len())
        .sum();
    for idx in 0..5 {
        // The owner's chain takes several requests (`MAX_WANT` each).
        let lines = if idx == 0 { 1200 } else { 60 };
        for line in 0..lines {
            mesh.post(
                idx,
                &format!("member {idx} says line {line} of what it has to say"),
            );
        }
    }
    let all: Vec<usize> = (0..5).collect();
    mesh.arrive(&all);
    mesh.wait(crate::Duration::from_secs(5));
    let received = mesh.received[away];
    for idx in 0..6 {
        mesh.link(idx, away);
    }
    mesh.wait(crate::Duration::from_secs(5));
    let held: usize = mesh.clients[away]
        .history
        .iter()
        .map(|event| event.bytes().len())
        .sum();
    assert_eq!(
        mesh.clients[away].history.len(),
        mesh.clients[0].history.len()
    );
    let handed = mesh.received[away] - received;
    let ratio = handed as f64 / (held - before) as f64;
    eprintln!(
        "member back handed {handed} bytes for {} bytes it lacked: {ratio:.2}",
        held - before
    );
    assert!(ratio < 1.5, "handed {ratio:.2} times what it lacked");
}
