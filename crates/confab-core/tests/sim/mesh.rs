//! Randomized rooms: several peers, full mesh, messages from everyone while links come up,
//! duplicated and (optionally) reordered frames. Every seed must hold the invariants.

use std::time::Duration;

use confab_core::{ClientEvent, UnixMillis};

use crate::net::{Conditions, Net, seeds};

/// Runs one room and checks: every peer verifies every other; every peer ends with the same
/// messages in the same order, each shown once, none lost.
fn run_room(seed: u64, conditions: Conditions) {
    let mut net = Net::new(seed, 0, conditions);
    let n = 3 + net.random(6) as usize;
    let room = confab_core::RoomSecret::from_bytes([seed as u8; 32]);
    for _ in 0..n {
        net.add_node(&room);
    }
    // Newcomers initiate to everyone already there, as in the app.
    for newcomer in 1..n {
        for existing in 0..newcomer {
            net.connect(newcomer, existing);
        }
    }
    let all_verified = |net: &Net| (0..n).all(|node| net.verified(node) == n - 1);
    net.run_until(200_000, all_verified);

    let n_messages = 10 + net.random(30);
    for msg_idx in 0..n_messages {
        let author = net.random(n as u64) as usize;
        let text = format!("m{msg_idx} from {author}");
        net.with(author, |client, now| {
            client.send_text(now, UnixMillis(msg_idx), &text).unwrap()
        });
        for _ in 0..net.random(4) {
            net.step();
        }
    }

    // Let announcements, catch-up requests and (for frames lost to reordering: sessions
    // accept only rising counters, as over an ordered channel) anti-entropy run.
    let until = net.now + Duration::from_secs(25);
    net.run_until(1_000_000, |net| net.now >= until);

    let reference = net.nodes[0].client.messages();
    assert_eq!(
        reference.len() as u64,
        n_messages,
        "seed {seed}: node 0 lost messages"
    );
    for (node_idx, node) in net.nodes.iter().enumerate() {
        if node.client.messages() != reference {
            for e in &node.events {
                if !matches!(e, ClientEvent::Message(_) | ClientEvent::Persist { .. }) {
                    eprintln!("node {node_idx}: {e:?}");
                }
            }
        }
        assert_eq!(
            node.client.messages(),
            reference,
            "seed {seed}: node {node_idx} shows another history"
        );
        // Shown once each: only texts were posted, so each id is reported exactly once.
        let mut shown: Vec<_> = node
            .events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Message(m) => Some(m.id),
                _ => None,
            })
            .collect();
        shown.sort();
        let n_shown = shown.len();
        shown.dedup();
        assert_eq!(
            shown.len(),
            n_shown,
            "seed {seed}: node {node_idx} showed a message twice"
        );
    }
    assert!(
        net.nodes.iter().all(|node| !node
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::PeerFailed { .. }))),
        "seed {seed}: a handshake failed"
    );
}

#[test]
fn rooms_over_ordered_links_with_duplicates_deliver_everything_once_in_order() {
    for seed in seeds(200) {
        run_room(
            seed,
            Conditions {
                duplicate_per_mille: 50,
                ..Conditions::default()
            },
        );
    }
}

#[test]
fn rooms_over_reordering_links_converge_on_one_history() {
    for seed in seeds(100) {
        run_room(
            seed,
            Conditions {
                duplicate_per_mille: 50,
                reorder: true,
                ..Conditions::default()
            },
        );
    }
}
