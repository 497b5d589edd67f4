//! What a governance seed must end with (see `mod.rs`), against the harness's own records.

use std::collections::BTreeSet;

use confab_core::governance::{Govern, Outcome};
use confab_core::{EventId, MemberKey};

use super::world::World;
use crate::net::{fnv, mix};

/// The members still in the room, as the owner's governance says: joined, not removed,
/// allowed to read, and let in by right (`Governance::entitled`: a `Join` alone entitles
/// nobody).
pub fn in_room(world: &World) -> Vec<usize> {
    let governance = world.client(0).governance();
    (0..world.net.nodes.len())
        .filter(|node| {
            let key = world.members[*node].key;
            counted(governance, &key) && governance.entitled(&key)
        })
        .collect()
}

/// Those whose `Join` the room counts but whom nobody with the right to let in: the member
/// who handed them the secret had been removed before (its hand-over is past its cut, sim
/// seed 202). No rekey is sealed to them; they must be told their link is no longer valid.
fn shut_out(world: &World) -> Vec<usize> {
    let governance = world.client(0).governance();
    (0..world.net.nodes.len())
        .filter(|node| {
            let key = world.members[*node].key;
            counted(governance, &key) && !governance.entitled(&key)
        })
        .collect()
}

/// Joined, not removed, may read.
fn counted(governance: &confab_core::governance::Governance, key: &MemberKey) -> bool {
    governance.joined(key) && governance.removed(key).is_none() && governance.may_read(key)
}

/// The events of `node`'s history that count, in room order: all but a removed member's
/// past their cut. A member may hold such events (taken before it learned of the
/// removal, kept in case the removal loses: see `confab_core::history`), but shows and
/// serves none (`past_cut`), so they are inert; members compare the rest.
fn counting(world: &World, node: usize) -> Vec<EventId> {
    let client = world.client(node);
    client
        .history()
        .iter()
        .filter(|event| {
            let event = event.event();
            client.governance().accepts(&event.author, event.seq)
        })
        .map(|event| event.id())
        .collect()
}

/// The first event of a removed member past their cut that `node` shows or serves.
fn past_cut(world: &World, node: usize) -> Option<String> {
    let client = world.client(node);
    let governance = client.governance();
    for (author, cut) in governance.removals() {
        let member = world.members.iter().position(|m| m.key == *author);
        let shown = client
            .history()
            .range(author, *cut, u64::MAX)
            .find(|event| client.timeline().message(&event.id()).is_some());
        if let Some(event) = shown {
            return Some(format!(
                "member {node} shows event {} of removed member {member:?}, past its cut {cut}",
                event.event().seq
            ));
        }
        if governance.may_contest(author) {
            continue;
        }
        let served = client
            .served_marks()
            .into_iter()
            .find(|mark| mark.author == *author);
        if let Some(mark) = served.filter(|mark| mark.seq > *cut) {
            return Some(format!(
                "member {node} serves removed member {member:?}'s events up to {}, past its cut {cut}",
                mark.seq
            ));
        }
    }
    None
}

/// The first member still in the room that differs from the owner, and how.
fn divergence(world: &World) -> Option<String> {
    let owner = world.client(0);
    let epoch = owner.epoch().map(|(n, _)| n);
    let commitment = world.epoch_of(0);
    let ids = counting(world, 0);
    for node in in_room(world) {
        let client = world.client(node);
        let theirs = client.epoch().map(|(n, _)| n);
        if world.epoch_of(node) != commitment {
            return Some(format!(
                "member {node} is in epoch {theirs:?} (governance says {}), the owner in {epoch:?} (governance says {})",
                client.governance().epoch(),
                owner.governance().epoch()
            ));
        }
        if effective(client.governance()) != effective(owner.governance()) {
            return Some(format!(
                "member {node} holds another governance than the owner's ({} removed, {} admins; the owner: {}, {})",
                client.governance().removals().len(),
                client.governance().admins().len(),
                owner.governance().removals().len(),
                owner.governance().admins().len()
            ));
        }
        let theirs = counting(world, node);
        if theirs != ids {
            let held: BTreeSet<EventId> = theirs.iter().copied().collect();
            let reference: BTreeSet<EventId> = ids.iter().copied().collect();
            let extra: Vec<String> = held
                .difference(&reference)
                .filter_map(|id| client.history().get(id))
                .map(|event| {
                    let author = event.event().author;
                    let node = world.members.iter().position(|m| m.key == author);
                    format!(
                        "{:?} by member {node:?} (seq {}, its cut for the owner {:?})",
                        event.id(),
                        event.event().seq,
                        owner.governance().removed(&author)
                    )
                })
                .collect();
            return Some(format!(
                "member {node} holds another history (of what counts): {} events the owner lacks ({}), lacks {} of the owner's",
                extra.len(),
                extra.join(", "),
                reference.difference(&held).count()
            ));
        }
    }
    for node in shut_out(world) {
        if !world.client(node).link_superseded() {
            return Some(format!(
                "member {node}, let in by nobody with the right to, was not told its link is no longer valid"
            ));
        }
    }
    None
}

/// How many of a remover's events before its removal of a member that member is handed
/// with it (`REMOVAL_NEWS` in `client/govern.rs`).
const REMOVAL_NEWS: u64 = 8;

/// The events `history` holds that are the news of `member`'s removal: each removal of it
/// and its author's few events before it, as (author, sequence number).
fn removal_news(
    history: &confab_core::history::History,
    member: &MemberKey,
) -> BTreeSet<(MemberKey, u64)> {
    let mut news = BTreeSet::new();
    let owner = history.iter().find_map(|event| {
        let event = event.event();
        matches!(
            event.content,
            confab_core::Content::Govern(Govern::Create { .. })
        )
        .then_some(event.author)
    });
    for event in history.iter() {
        let event = event.event();
        if let confab_core::Content::Govern(Govern::Remove {
            member: removed, ..
        }) = &event.content
            && removed == member
        {
            for seq in event.seq.saturating_sub(REMOVAL_NEWS)..=event.seq {
                news.insert((event.author, seq));
            }
            // And what gave its author the right: the owner's last promotion of it, with
            // the owner's few events before it (`Client::authority_news`).
            let Some(owner) = owner.filter(|owner| *owner != event.author) else {
                continue;
            };
            let promotion = (history.iter().map(|e| e.event()))
                .filter(|e| {
                    e.author == owner
                        && matches!(&e.content, confab_core::Content::Govern(Govern::Promote { member, .. }) if *member == event.author)
                })
                .map(|e| e.seq)
                .max();
            if let Some(promotion) = promotion {
                for seq in promotion.saturating_sub(REMOVAL_NEWS)..=promotion {
                    news.insert((owner, seq));
                }
            }
        }
    }
    news
}

/// For a failing seed: where `node` stands.
pub fn describe(world: &World, node: usize) -> String {
    let client = world.client(node);
    let member = &world.members[node];
    let numbers = |set: &BTreeSet<[u8; 32]>| {
        set.iter()
            .filter_map(|c| world.epochs.get(c).map(|e| e.number))
            .collect::<Vec<_>>()
    };
    let room = client.room_id();
    format!(
        "member {node}: online {}, epoch {:?}, governance epoch {}, held {:?}, allowed {:?}, {} verified peers, {} left rooms, its room's mailbox {} entries, needs_rekey {}, rank {:?}",
        world.online(node),
        client.epoch().map(|(n, _)| n),
        client.governance().epoch(),
        numbers(&member.held),
        numbers(&member.allowed),
        client.verified_peers().count(),
        client.left_rooms().count(),
        world.mailboxes.get(&room).map_or(0, Vec::len),
        client.governance().needs_rekey(),
        client.governance().rank(&member.key),
    )
}

pub fn converged(world: &World) -> bool {
    divergence(world).is_none()
}

/// Every check; the first failure, with the seed.
pub fn check(world: &World, seed: u64) -> Result<(), String> {
    let fail = |what: String| Err(format!("seed {seed}: {what}"));
    let governance = world.client(0).governance();
    for (node, member) in world.members.iter().enumerate() {
        // No secret of an epoch that was not sealed to it (or its link's).
        for held in &member.held {
            if !member.allowed.contains(held) {
                let number = world.epochs.get(held).map(|e| e.number);
                return fail(format!(
                    "member {node} held the secret of epoch {number:?}, never sealed to it"
                ));
            }
        }
        let history = world.client(node).history();
        if let Some(before) = &member.at_removal {
            let lost = before.iter().filter(|id| !history.contains(id)).count();
            if lost > 0 {
                return fail(format!(
                    "member {node} lost {lost} events it held when it was removed"
                ));
            }
        }
        if governance.removed(&member.key).is_none() {
            continue;
        }
        // Removed: no event of an epoch not sealed to it, redacted or not, governance
        // included, unless older than the last one that was (what came before is the
        // history it was shown), beyond the news of its own removal (its removal and the
        // remover's few events before it, which members hand it over a link). The bundles
        // a rekeyer leaves in the mailboxes of old epochs, which it can still read, are
        // sealed to the members counted in the room (`govern/left.rs`).
        let last = member
            .allowed
            .iter()
            .filter_map(|c| world.epochs.get(c))
            .map(|e| e.number)
            .max()
            .unwrap_or(0);
        let news = removal_news(history, &member.key);
        for id in history.ids() {
            let Some(posted) = world.posted_in.get(&id) else {
                continue;
            };
            let number = world.epochs.get(posted).map_or(0, |e| e.number);
            let Some(event) = history.get(&id) else {
                continue;
            };
            let event = event.event();
            if news.contains(&(event.author, event.seq)) || member.allowed.contains(posted) {
                continue;
            }
            // Posted in an epoch whose rekey did not count (a rival that lost, or one by a
            // member without the authority): the room never had that epoch, nor whatever
            // that rekey left out. Its author falls back to the room's chain and serves
            // what it posted there, to whoever holds that epoch; a member still in the room
            // then may hold it. What counts is whether it came after the member's removal
            // took effect in the room's order, and, as for any epoch, only if not older than
            // the last one given it: a member handed a later epoch (concurrently with its
            // removal, by a member that had not heard of it) holds the rekey that started it
            // and its author's chain before it, posted in the rival it continued from (seed
            // 18: the owner's rekey to 10, posted in its rival 9, held by member 54 it
            // handed epoch 10).
            if !rekey_counted(world, posted) {
                let removal = removal_of(world, &member.key);
                if number >= last && removal.is_some_and(|at| event.order_key() > at) {
                    return fail(format!(
                        "removed member {node} holds an event posted after its removal in a rival epoch {number}"
                    ));
                }
                continue;
            }
            if number >= last {
                return fail(format!(
                    "removed member {node} holds an event of epoch {number} (seq {} of member {:?}), after its last ({last})",
                    event.seq,
                    world.members.iter().position(|m| m.key == event.author),
                ));
            }
        }
    }
    // What counts for nobody is inert: nobody in the room shows or serves it.
    for node in in_room(world) {
        if let Some(what) = past_cut(world, node) {
            return fail(what);
        }
    }
    // Last, as the safety checks above hold whether or not the room converged.
    if let Some(what) = divergence(world) {
        if std::env::var("CONFAB_SIM_VERBOSE").is_ok() {
            for node in in_room(world) {
                eprintln!("{}", describe(world, node));
            }
        }
        return fail(what);
    }
    Ok(())
}

/// Everything delivered and every member's end state.
pub fn digest(world: &World) -> u64 {
    let mut digest = world.net.digest;
    for node in 0..world.net.nodes.len() {
        let client = world.client(node);
        for id in client.history().ids() {
            digest = mix(digest, &[fnv(format!("{id:?}").as_bytes())]);
        }
        digest = mix(digest, &[client.epoch().map_or(u64::MAX, |(n, _)| n)]);
    }
    digest
}

/// Whether the rekey that started the epoch committed to by `commitment` counts in the
/// owner's governance (the founding epoch, which no rekey started, does).
fn rekey_counted(world: &World, commitment: &[u8; 32]) -> bool {
    let owner = world.client(0);
    let mut rekeys = world.rekeyers.iter().filter_map(|(_, _, id)| {
        let event = owner.history().get(id)?;
        match &event.event().content {
            confab_core::Content::Govern(Govern::Rekey(rekey))
                if rekey.commitment == *commitment =>
            {
                Some(owner.governance().outcome(id))
            }
            _ => None,
        }
    });
    match rekeys.next() {
        Some(outcome) => outcome == Some(Outcome::Applied),
        None => true,
    }
}

/// Where the owner's governance orders the removal of `member` that took effect.
fn removal_of(world: &World, member: &MemberKey) -> Option<confab_core::OrderKey> {
    let owner = world.client(0);
    owner
        .history()
        .iter()
        .find_map(|event| match &event.event().content {
            confab_core::Content::Govern(Govern::Remove { member: m, .. })
                if m == member
                    && owner.governance().outcome(&event.id()) == Some(Outcome::Applied) =>
            {
                Some(event.event().order_key())
            }
            _ => None,
        })
}

/// What a governance decides, without the actions that count for nobody: a removed member's
/// action past its cut (posted before it heard of its removal, say a hand-over) is held by
/// whoever took it in before the removal and refused by everyone, inert.
fn effective(
    governance: &confab_core::governance::Governance,
) -> impl PartialEq + std::fmt::Debug + '_ {
    let applied: Vec<&EventId> = governance
        .order()
        .iter()
        .filter(|id| governance.outcome(id) == Some(Outcome::Applied))
        .collect();
    let members: Vec<_> = governance.members().collect();
    (
        applied,
        members,
        governance.owner(),
        governance.admins(),
        governance.removals(),
        governance.admissions(),
        (
            governance.epoch(),
            governance.holders(),
            governance.settings(),
        ),
        governance.needs_rekey(),
    )
}
