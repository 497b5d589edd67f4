//! An author whose page dies between signing an event and storing it: the write is lost,
//! the author restores a shorter chain, posts alone (its next event takes the lost one's
//! number), then meets the room again. With write-ahead the lost event never left the
//! page, so nobody is banned and nothing anyone held is lost.

use std::time::Duration;

use confab_core::{MemberKey, UnixMillis};

use crate::net::{Conditions, Net, seeds};

const AUTHOR: usize = 0;

fn run(seed: u64) {
    let conditions = Conditions {
        duplicate_per_mille: 20,
        ..Conditions::default()
    };
    let mut net = Net::new(seed, 3, conditions);
    let n = net.nodes.len();
    for newcomer in 1..n {
        for existing in 0..newcomer {
            net.connect(newcomer, existing);
        }
    }
    let all_verified = |net: &Net| (0..n).all(|node| net.verified(node) == n - 1);
    net.run_until(200_000, all_verified);

    let mut wall = 0;
    let mut post = |net: &mut Net, node: usize, text: &str| {
        wall += 1;
        net.with(node, |client, now| {
            client.send_text(now, UnixMillis(wall), text).unwrap()
        });
        for _ in 0..net.random(4) {
            net.step();
        }
    };
    for round in 0..1 + net.random(4) {
        for node in 0..n {
            post(&mut net, node, &format!("before {round} from {node}"));
        }
    }
    net.settle();

    // The page dies between creating event n and the store's write: whatever the page
    // sent meanwhile reaches the others, then it is gone.
    net.nodes[AUTHOR].drop_persists = true;
    post(&mut net, AUTHOR, "never stored");
    net.settle();
    net.go_offline(AUTHOR, true);
    net.nodes[AUTHOR].drop_persists = false;

    // It comes back from its store, and posts while nobody is linked.
    net.come_back(AUTHOR);
    for idx in 0..1 + net.random(3) {
        post(&mut net, AUTHOR, &format!("alone {idx}"));
    }
    // Meanwhile the room talks on.
    post(&mut net, 1, "while away");
    net.settle();

    // It meets the room again.
    for other in 1..n {
        net.connect(AUTHOR, other);
    }
    net.run_until(200_000, all_verified);
    let until = net.now + Duration::from_secs(25);
    net.run_until(1_000_000, |net| net.now >= until);

    let author: MemberKey = net.nodes[AUTHOR].client.identity().member_key();
    for node in 0..n {
        for member in 0..n {
            let key = net.nodes[member].client.identity().member_key();
            assert!(
                !net.nodes[node].client.history().is_banned(&key),
                "seed {seed}: node {node} banned member {member}"
            );
        }
    }
    let reference: Vec<String> = net.nodes[AUTHOR]
        .client
        .messages()
        .into_iter()
        .map(|message| message.text)
        .collect();
    for node in 0..n {
        let texts: Vec<String> = net.nodes[node]
            .client
            .messages()
            .into_iter()
            .map(|message| message.text)
            .collect();
        assert_eq!(texts, reference, "seed {seed}: node {node} differs");
    }
    // Nothing anyone stored is lost: every event the author's store kept, every message
    // the others wrote, and the author's posts from alone.
    for text in reference.iter() {
        assert_ne!(
            text, "never stored",
            "seed {seed}: an unstored event went out"
        );
    }
    for expected in [
        "while away",
        "alone 0",
        "before 0 from 0",
        "before 0 from 2",
    ] {
        assert!(
            reference.iter().any(|text| text == expected),
            "seed {seed}: {expected:?} is lost"
        );
    }
    let held = net.nodes[1].client.history().mark(&author);
    assert_eq!(
        held,
        net.nodes[AUTHOR].client.history().mark(&author),
        "seed {seed}: the author's chain differs"
    );
}

#[test]
fn an_author_whose_write_was_lost_is_not_banned_and_nothing_is_lost() {
    for seed in seeds(40) {
        run(seed);
    }
}
