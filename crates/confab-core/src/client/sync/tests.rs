//! Catch-up around removals: what a member took from a removed member before it learned of
//! the removal stays held, but is neither shown nor served while the removal stands.

// The virtual clock starts from one real reading.
#![allow(clippy::disallowed_methods)]

use super::super::govern::tests::mesh::Mesh;
use super::super::govern::tests::mesh::peer;
use super::super::*;
use crate::governance::Govern;
use crate::history::Content;

const OWNER: usize = 0;

/// Whether `idx` holds a text message saying `text` (shown or not).
fn holds(mesh: &Mesh, idx: usize, text: &str) -> bool {
    mesh.clients[idx]
        .history
        .iter()
        .any(|event| matches!(&event.event().content, Content::Text { text: t, .. } if t == text))
}

/// `idx`'s advertised mark for `author`.
fn served_mark(mesh: &Mesh, idx: usize, author: MemberKey) -> u64 {
    mesh.clients[idx]
        .served_marks()
        .iter()
        .find(|mark| mark.author == author)
        .map_or(0, |mark| mark.seq)
}

/// Links `idx` refused content on.
fn refused(mesh: &Mesh, idx: usize) -> Vec<String> {
    mesh.events[idx]
        .iter()
        .filter_map(|event| match event {
            ClientEvent::PeerRejected {
                reason: RejectReason::Content(why),
                ..
            } => Some(why.clone()),
            _ => None,
        })
        .collect()
}

/// The owner removes `removed` while cut off from it and from `witness`; `removed` then
/// says "after the cut", which `witness` takes in (it knows of no removal yet); then the
/// owner and `witness` meet again. Returns the removed member's cut.
fn remove_apart(mesh: &mut Mesh, removed: usize, witness: usize) -> u64 {
    mesh.post(removed, "before the cut");
    mesh.unlink(OWNER, removed);
    mesh.unlink(OWNER, witness);
    let member = mesh.key(removed);
    mesh.govern(OWNER, Govern::Remove { member, seen: 0 })
        .unwrap();
    let cut = mesh.clients[OWNER].governance().removed(&member).unwrap();
    mesh.post(removed, "after the cut");
    assert!(holds(mesh, witness, "after the cut"));
    mesh.link(OWNER, witness);
    mesh.wait(crate::Duration::from_secs(30));
    cut
}

/// A removed member's message past its cut, taken by a member before it learned of the
/// removal, stays in that member's history (the removal could still lose, and then it
/// counts) but is not shown, not advertised and not served: the owner, who refuses it, is
/// not offered it again once the member knows. On the old code the member kept advertising
/// it and the owner, asking for it, refused it from an honest member ("not let in yet")
/// every time its request timed out.
#[test]
fn a_message_past_a_removal_cut_is_kept_but_not_served() {
    let mut mesh = Mesh::found(3);
    let (removed, witness) = (1, 2);
    let cut = remove_apart(&mut mesh, removed, witness);
    let member = mesh.key(removed);
    assert_eq!(
        mesh.clients[witness].governance().removed(&member),
        Some(cut)
    );
    assert!(holds(&mesh, witness, "after the cut"));
    assert!(!holds(&mesh, OWNER, "after the cut"));
    assert!(!mesh.texts(witness).contains(&"after the cut".to_owned()));
    assert_eq!(mesh.clients[witness].history.mark(&member), cut + 1);
    assert_eq!(served_mark(&mesh, witness, member), cut);
    assert_eq!(served_mark(&mesh, OWNER, member), cut);
    // (On meeting, the witness may have offered it before it learned of the removal.)
    mesh.events[OWNER].clear();
    mesh.wait(crate::Duration::from_secs(60));
    assert_eq!(refused(&mesh, OWNER), Vec::<String>::new());
    // Asked anyway (by a peer that has not learned of the removal), it serves up to the cut.
    let now = mesh.now;
    mesh.clients[witness].handle_want(now, peer(OWNER), member, cut, cut + 1);
    mesh.pump();
    assert_eq!(refused(&mesh, OWNER), Vec::<String>::new());
}

/// A removal that loses (the owner demoted its author, an admin, before seeing it) makes
/// what the removed member said past the cut count again: the member who kept it serves
/// it again, and everyone takes it in.
#[test]
fn a_message_past_a_removal_that_loses_reaches_everyone() {
    let mut mesh = Mesh::found(4);
    let (admin, removed, witness) = (1, 2, 3);
    let member = mesh.key(admin);
    mesh.govern(OWNER, Govern::Promote { member, seen: 0 })
        .unwrap();
    mesh.post(removed, "before the cut");
    for (i, j) in [(OWNER, admin), (OWNER, removed), (OWNER, witness)] {
        mesh.unlink(i, j);
    }
    for (i, j) in [(admin, removed), (admin, witness)] {
        mesh.unlink(i, j);
    }
    let target = mesh.key(removed);
    mesh.govern(
        admin,
        Govern::Remove {
            member: target,
            seen: 0,
        },
    )
    .unwrap();
    mesh.post(removed, "after the cut");
    mesh.link(admin, witness);
    mesh.wait(crate::Duration::from_secs(30));
    assert!(
        mesh.clients[witness]
            .governance()
            .removed(&target)
            .is_some()
    );
    assert!(holds(&mesh, witness, "after the cut"));
    assert!(!holds(&mesh, admin, "after the cut"));
    // The owner, having seen nothing of the admin's since the promotion, demotes it.
    mesh.govern(OWNER, Govern::Demote { member, seen: 0 })
        .unwrap();
    for (i, j) in [
        (OWNER, admin),
        (OWNER, witness),
        (OWNER, removed),
        (admin, removed),
    ] {
        mesh.link(i, j);
    }
    mesh.wait(crate::Duration::from_secs(60));
    for idx in [OWNER, admin, removed, witness] {
        assert_eq!(
            mesh.clients[idx].governance().removed(&target),
            None,
            "{idx}"
        );
        assert!(holds(&mesh, idx, "after the cut"), "{idx}");
        assert!(
            mesh.texts(idx).contains(&"after the cut".to_owned()),
            "{idx}"
        );
    }
}
