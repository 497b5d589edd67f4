//! Randomized rooms: several peers, full mesh, messages from everyone while links come up,
//! duplicated and (optionally) reordered frames. Every seed must hold the invariants.

use std::collections::HashMap;
use std::time::Duration;

use confab_core::{Direction, Event, UnixMillis};

use crate::net::{Conditions, Net, seeds};

/// Runs one room and checks: every peer verifies every other; each message is shown at
/// most once per receiver, in its author's order; with FIFO links, nothing is lost.
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
    net.settle();
    net.run_until(100, |net| net.now > net.now - Duration::from_millis(1));

    // Sent, per author, in order.
    let mut sent: HashMap<usize, Vec<String>> = HashMap::new();
    for (node_idx, node) in net.nodes.iter().enumerate() {
        for event in &node.events {
            if let Event::Message(m) = event
                && m.direction == Direction::Outgoing
            {
                sent.entry(node_idx).or_default().push(m.text.clone());
            }
        }
    }
    for receiver in 0..n {
        let mut got: HashMap<usize, Vec<String>> = HashMap::new();
        for event in &net.nodes[receiver].events {
            if let Event::Message(m) = event
                && let Direction::Incoming(peer) = m.direction
            {
                got.entry(peer.to_u64() as usize - 1)
                    .or_default()
                    .push(m.text.clone());
            }
        }
        for author in (0..n).filter(|a| *a != receiver) {
            let sent = sent.get(&author).cloned().unwrap_or_default();
            let got = got.get(&author).cloned().unwrap_or_default();
            // Shown in order and at most once: `got` is a subsequence of `sent`.
            let mut sent_iter = sent.iter();
            assert!(
                got.iter().all(|text| sent_iter.any(|s| s == text)),
                "seed {seed}: node {receiver} shows {author}'s messages out of order or twice: {got:?} vs {sent:?}"
            );
            if !conditions.reorder {
                assert_eq!(
                    got, sent,
                    "seed {seed}: node {receiver} lost messages from {author}"
                );
            }
        }
    }
    assert!(
        net.nodes.iter().all(|node| !node
            .events
            .iter()
            .any(|e| matches!(e, Event::PeerFailed { .. }))),
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
fn rooms_over_reordering_links_never_show_a_message_twice_or_out_of_order() {
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
