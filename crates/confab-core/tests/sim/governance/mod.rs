//! A governed room of 50 on a hostile network (issue 17): members arrive with the link,
//! go offline and come back, the network splits in two and heals, 5% of frames are lost
//! and others duplicated or reordered, while the owner promotes and demotes admins, the
//! owner and admins remove members (rekeying at once) and reset the link, concurrently
//! and across partitions, removed members come back under fresh identities with the
//! current link, and core says who rekeys after a removal whose rekey never came. At the
//! end, healed, everyone online and a quiet period later:
//! - every member still in the room is in the same epoch, with the same governance (ranks,
//!   removals, admissions, epoch, settings) and the same history of what counts (a removed
//!   member's events past its cut, held by a member that took them before it learned of the
//!   removal, count for nobody: no member in the room shows or serves them);
//! - a newcomer whom nobody with the right to let in (handed the secret by a member removed
//!   before) is not in the room, and is told its link is no longer valid;
//! - no removed member ever held an event posted in (redacted or not, governance too,
//!   beyond the news of its own removal), or a secret of, an epoch not sealed to it that is
//!   not older than the last one it was (harness-side records: the epoch each posted event
//!   was written in, every epoch secret each member ever held);
//! - no member lost history it held when it was removed.
//!
//! The full run: `cargo xtask sim --governance` (1,000 seeds, `--seeds n`; `cargo xtask test`
//! sweeps the first few dozen: a line a seed, every failing seed listed with its check, `xtask/src/sim.rs`),
//! or `CONFAB_GOVERNANCE_SEEDS=1000 cargo test -p confab-core --test sim -- governance`
//! (about 6.5 s CPU a seed at 3fb21f0, 6 in the `sim` profile; signature checks of new
//! events, resolving the governance again, Noise handshakes and opening mailbox entries
//! lead the profile).

mod checks;
mod world;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use confab_core::governance::{Govern, Rank};

use crate::net::{Conditions, seeds};
use world::World;

/// Members at the start (the owner and those who open its link); re-added members come on top.
const N_MEMBERS: usize = 50;
/// Rounds of random actions, each followed by up to 1.5 s of network time.
const ROUNDS: usize = 60;

/// What one seed ended with (for the replay test and the failure report).
pub struct Outcome {
    pub digest: u64,
    pub failure: Option<String>,
}

fn conditions(seed: u64) -> Conditions {
    Conditions {
        min_latency: Duration::from_millis(5),
        max_latency: Duration::from_millis(80),
        duplicate_per_mille: 20,
        reorder: seed % 2 == 1,
        loss_per_mille: 50,
    }
}

/// One random action.
fn act(world: &mut World) {
    let active = world.active();
    let owners_and_admins: Vec<usize> = active
        .iter()
        .copied()
        .filter(|node| matches!(world.own_rank(*node), Some(Rank::Owner | Rank::Admin)))
        .collect();
    match world.net.random(100) {
        0..=39 => {
            if let Some(node) = world.pick(&active) {
                world.post(node);
            }
        }
        40..=47 => {
            // The owner makes a member admin, or takes it back.
            if !active.contains(&0) || world.own_rank(0) != Some(Rank::Owner) {
                return;
            }
            let Some(node) = world.pick(&active) else {
                return;
            };
            let member = world.members[node].key;
            let rank = world.client(0).governance().rank(&member);
            let what = match rank {
                Some(Rank::Member) => Govern::Promote { member, seen: 0 },
                Some(Rank::Admin) => Govern::Demote { member, seen: 0 },
                _ => return,
            };
            if world.govern(0, what).is_some() {
                match rank {
                    Some(Rank::Member) => world.stats.promotions += 1,
                    _ => world.stats.demotions += 1,
                }
            }
        }
        48..=57 => {
            // An owner or admin removes someone it sees in the room.
            let Some(by) = world.pick(&owners_and_admins) else {
                return;
            };
            let everyone: Vec<usize> = (1..world.net.nodes.len()).filter(|n| *n != by).collect();
            let Some(node) = world.pick(&everyone) else {
                return;
            };
            world.remove(by, node);
        }
        58..=61 => {
            // Reset the invite link.
            if let Some(by) = world.pick(&owners_and_admins)
                && world.rekey(by).is_some()
            {
                world.stats.resets += 1;
            }
        }
        62..=67 => {
            // Someone removed comes back under a fresh identity, with the link a member
            // shares now.
            let current = world.current(&active);
            if let Some(inviter) = world.pick(&current) {
                world.arrive(inviter);
            }
        }
        68..=77 => {
            let Some(node) = world.pick(&(1..world.net.nodes.len()).collect::<Vec<_>>()) else {
                return;
            };
            if world.online(node) {
                world.go_offline(node);
            } else {
                world.come_back(node);
            }
        }
        78..=81 => world.partition(),
        82..=85 => world.heal(),
        _ => {
            // The server's mailboxes are read now and then by whoever is online.
            for node in 0..world.net.nodes.len() {
                if world.online(node) {
                    world.fetch_mailboxes(node);
                }
            }
        }
    }
}

/// The app's background work every round: the server's introductions and deposits,
/// rekeys core asks for.
fn background(world: &mut World) {
    world.introduce();
    world.collect_deposits();
    world.rekey_where_due();
}

pub fn run(seed: u64) -> Outcome {
    let mut world = World::found(seed, conditions(seed));
    // The first members open the owner's link over the first seconds.
    while world.net.nodes.len() < N_MEMBERS {
        let active = world.active();
        if let Some(inviter) = world.pick(&active) {
            world.arrive(inviter);
        }
        background(&mut world);
        world.run_for(Duration::from_millis(200));
    }
    for _ in 0..ROUNDS {
        background(&mut world);
        act(&mut world);
        let pause = Duration::from_millis(world.net.random(1500));
        world.run_for(pause);
    }
    // Heal: one side, everyone online; the quiet period: the server introduces, mailboxes
    // are read, core's rekeys happen.
    world.heal();
    for node in 0..world.net.nodes.len() {
        if !world.online(node) {
            world.come_back(node);
        }
    }
    let mut quiet = None;
    for round in 0..60 {
        background(&mut world);
        for node in 0..world.net.nodes.len() {
            world.fetch_mailboxes(node);
        }
        world.run_for(Duration::from_secs(3));
        if checks::converged(&world) {
            quiet = Some(round);
            break;
        }
    }
    let failure = checks::check(&world, seed).err();
    if failure.is_some() && std::env::var("CONFAB_SIM_VERBOSE").is_ok() {
        report_rekeys(&world);
    }
    if std::env::var("CONFAB_SIM_VERBOSE").is_ok() {
        eprintln!(
            "seed {seed}: {}, digest {:x}, {} identities, {} frames, quiet after {quiet:?} rounds of 3 s, {:?}",
            if failure.is_some() {
                "FAILED"
            } else {
                "passed"
            },
            checks::digest(&world),
            world.net.nodes.len(),
            world.net.delivered,
            world.stats
        );
    }
    Outcome {
        digest: checks::digest(&world),
        failure,
    }
}

/// For a failing seed, of the first member left in another epoch than the owner's: how each
/// rekey fared with it, the owner and the rekey's author, and the owner's judgement of each
/// action that let it in or removed it.
fn report_rekeys(world: &World) {
    let owner_epoch = world.epoch_of(0);
    let Some(node) = checks::in_room(world)
        .into_iter()
        .find(|node| world.epoch_of(*node) != owner_epoch)
    else {
        return;
    };
    let key = world.members[node].key;
    let who = |k: &confab_core::MemberKey| world.members.iter().position(|m| m.key == *k);
    for event in world.client(0).history().governance() {
        let confab_core::history::Content::Govern(what) = &event.event().content else {
            continue;
        };
        let about = match what {
            Govern::Handover { member, epoch, .. } => {
                (*member == key).then(|| format!("handover of {epoch}"))
            }
            Govern::Admit { member, .. } => (*member == key).then(|| "admit".to_owned()),
            Govern::Remove { member, .. } => (*member == key).then(|| "remove".to_owned()),
            Govern::Join { .. } => (event.event().author == key).then(|| "join".to_owned()),
            Govern::Rekey(rekey) => Some(format!(
                "rekey to {} sealing it {}",
                rekey.epoch,
                rekey.lockboxes.contains_key(&key)
            )),
            _ => None,
        };
        if let Some(about) = about {
            eprintln!(
                "{about} by {:?} seq {}: owner {:?}, node {:?}",
                who(&event.event().author),
                event.event().seq,
                world.client(0).governance().outcome(&event.id()),
                world.client(node).governance().outcome(&event.id()),
            );
        }
    }
    for (number, by, id) in &world.rekeyers {
        eprintln!(
            "rekey to {number} by {by}: for member {node} {:?}, for the owner {:?}, for its author {:?}",
            world.client(node).governance().outcome(id),
            world.client(0).governance().outcome(id),
            world.client(*by).governance().outcome(id),
        );
    }
}

/// Runs `seeds`, all of them, and fails listing every seed that failed with its reason
/// (a seed that panics too: the sweep goes on to the next). Seeds in `known_failing()`
/// are listed too, apart, and do not fail it.
fn run_all(seeds: impl IntoIterator<Item = u64>) {
    let known = known_failing();
    let mut failures: Vec<String> = Vec::new();
    let mut known_failures: Vec<String> = Vec::new();
    let mut known_passing: Vec<u64> = Vec::new();
    for seed in seeds {
        let failure = match std::panic::catch_unwind(|| run(seed)) {
            Ok(outcome) => outcome.failure,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                Some(format!("seed {seed}: panicked: {what}"))
            }
        };
        match (failure, known.contains(&seed)) {
            (Some(failure), false) => failures.push(failure),
            (Some(failure), true) => known_failures.push(failure),
            (None, true) => known_passing.push(seed),
            (None, false) => {}
        }
    }
    if !known_failures.is_empty() {
        eprintln!(
            "{} seeds known to fail failed:\n{}",
            known_failures.len(),
            known_failures.join("\n")
        );
    }
    if !known_passing.is_empty() {
        eprintln!("seeds known to fail that passed (take them off the list): {known_passing:?}");
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `CONFAB_GOVERNANCE_KNOWN_FAILING` (seeds, comma-separated): failing seeds known to the
/// sweep (`cargo xtask sim --governance` sets it).
fn known_failing() -> Vec<u64> {
    std::env::var("CONFAB_GOVERNANCE_KNOWN_FAILING")
        .unwrap_or_default()
        .split(',')
        .filter_map(|seed| seed.trim().parse().ok())
        .collect()
}

/// A seed replays identically: run twice in one process, everything delivered (every
/// frame's bytes, every timer) and every member's end state digest the same. (Across
/// processes, alone or in a batch, the verbose line's digest is the same too: checked
/// for seeds 0 to 13.)
#[test]
fn a_governance_seed_replays_identically() {
    let first = run(3);
    let second = run(3);
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.failure, None);
}

/// Seeds run by default (each must keep passing); `CONFAB_GOVERNANCE_SEEDS=n` runs 0..n
/// instead, `CONFAB_SEED=n` one (`cargo xtask sim --governance` sweeps). 15 and 16 failed
/// convergence until f9ea6a6 (a newcomer handed an epoch whose rekey counted for nothing was
/// refused as "an epoch to come" and waited in it for good); 18 failed the check on rival
/// epochs, stricter than for any other epoch, after f9ea6a6 changed its course. Of 0..24 at
/// 6fda74c, 14 and 18 failed; 14 (convergence: member 57 in no epoch, handed a rival
/// epoch 8 whose secret never came, sealed into 11 it could not read) until the members
/// who left an epoch left the bundle in its link's notice mailbox too; 25 (member 50 handed
/// epoch 1 late, sealed into 10 to 14, waiting in epoch 1 whose mailbox nobody kept) until
/// the first rekey sealed to such a newcomer deposited there too; 136 (beyond the CI sweep:
/// the same, handed epoch 0, which no lockbox holds) until the first epoch held was kept
/// for it. A seed costs about 12 s CPU with confab-core at opt-level 3. History of the
/// failures fixed (a newcomer stranded in an epoch the room left, rival epochs, what a
/// removed member's late actions count for): see `git log` of this file.
/// CI's native step skips them: the sweep (`xtask/src/sim.rs`, seeds 0..`TEST_SEEDS`)
/// covers them, so keep them below it.
const PASSING: &[u64] = &[0, 2, 3, 14, 15, 16, 18, 19, 25, 136];

/// The next seed of the sweep `0..count` not taken yet by either half.
static NEXT_SWEPT: AtomicU64 = AtomicU64::new(0);

/// The seeds of half `k` (the two halves run on both cores). With
/// `CONFAB_GOVERNANCE_SEEDS=n`, each half takes the next seed of `0..n` when it is done
/// with one, so that neither waits on the other's longer seeds.
fn governed_seeds(k: u64) -> Box<dyn Iterator<Item = u64>> {
    if let Some(count) = std::env::var("CONFAB_GOVERNANCE_SEEDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        return Box::new(
            std::iter::from_fn(|| Some(NEXT_SWEPT.fetch_add(1, Ordering::Relaxed)))
                .take_while(move |seed| *seed < count),
        );
    }
    if std::env::var("CONFAB_SEED").is_ok() {
        return Box::new(if k == 0 { seeds(0) } else { Vec::new() }.into_iter());
    }
    Box::new(PASSING.iter().copied().skip(k as usize).step_by(2))
}

#[test]
fn fifty_governed_members_through_churn_partitions_and_loss_agree_a() {
    run_all(governed_seeds(0));
}

#[test]
fn fifty_governed_members_through_churn_partitions_and_loss_agree_b() {
    run_all(governed_seeds(1));
}
