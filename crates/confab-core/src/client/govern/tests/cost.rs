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

/// Members 0 to 4 say `lines(idx)` lines each, then let a newcomer in (their hand-overs
/// end their chains).
fn chat_then_let_one_in(mesh: &mut Mesh, lines: impl Fn(usize) -> usize) {
    for idx in 0..5 {
        for line in 0..lines(idx) {
            let text = format!("member {idx} says line {line} of what it has to say");
            mesh.post(idx, &text);
        }
    }
    let all: Vec<usize> = (0..5).collect();
    mesh.arrive(&all);
    mesh.wait(crate::Duration::from_secs(5));
}

/// Links `idx` to every other client and lets catch-up run: the frame bytes it was handed
/// over the bytes of the events it took, once it holds what the owner holds.
fn catch_up_ratio(mesh: &mut Mesh, idx: usize) -> f64 {
    let bytes = |mesh: &Mesh| -> usize {
        let events = mesh.clients[idx].history.iter();
        events.map(|event| event.bytes().len()).sum()
    };
    let (held, handed) = (bytes(mesh), mesh.received[idx]);
    for other in (0..mesh.clients.len()).filter(|other| *other != idx) {
        mesh.link(other, idx);
    }
    mesh.wait(crate::Duration::from_secs(5));
    let history = |i: usize| mesh.clients[i].history.len();
    assert_eq!(history(idx), history(0));
    let (taken, handed) = (bytes(mesh) - held, mesh.received[idx] - handed);
    let ratio = handed as f64 / taken as f64;
    eprintln!("handed {handed} bytes for {taken} bytes taken: {ratio:.2}");
    ratio
}

/// Five members each said 60 lines and let a sixth in; a newcomer links to all six at once.
#[test]
fn a_newcomer_linked_to_everyone_is_handed_the_history_about_once() {
    let mut mesh = Mesh::found(5);
    chat_then_let_one_in(&mut mesh, |_| 60);
    let newcomer = mesh.open(&mesh.clients[0].invite());
    let ratio = catch_up_ratio(&mut mesh, newcomer);
    assert!(ratio < 1.5, "handed {ratio:.2} times its history");
}

/// A member away while the others talked (the owner 1,200 lines: its chain takes several
/// requests of `MAX_WANT`) and let a newcomer in comes back, linked to all at once.
#[test]
fn a_member_back_from_away_is_handed_what_it_missed_about_once() {
    let mut mesh = Mesh::found(6);
    let away = 5;
    mesh.unlink_all(away);
    chat_then_let_one_in(&mut mesh, |idx| if idx == 0 { 1200 } else { 60 });
    let ratio = catch_up_ratio(&mut mesh, away);
    assert!(ratio < 1.5, "handed {ratio:.2} times what it lacked");
}
