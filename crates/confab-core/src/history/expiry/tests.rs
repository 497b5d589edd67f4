//! Disappearing messages: the timer in force where a message was said, and the expiry
//! index agreeing with a scan of the whole history whatever the order events arrive in,
//! the timers change and messages are deleted.

use proptest::prelude::*;

use super::super::tests::{identity, next, text, world_with_deletes};
use super::*;
use crate::history::Horizon;

const ROOM: crate::ids::RoomId = crate::ids::RoomId::from_bytes([3; 32]);

/// A message disappears under the timer in force at its place in room order, once the
/// clock passes its `sent_at` plus the timer: not what was said before the timer was set,
/// nor after it was turned off; erased like a deleted message; the next due time is said.
#[test]
fn messages_disappear_under_the_timer_in_force_where_they_were_said() {
    let alice = identity(1);
    let mut history = History::new(ROOM);
    let post = |history: &mut History, at: u64, content: Content| {
        history.create(&alice, UnixMillis(at), content).unwrap()
    };
    let before = post(&mut history, 1000, text("before"));
    // Stand-ins for the settings actions that set the timer and turned it off.
    let on = post(&mut history, 1500, Content::Profile { name: "on".into() });
    let due = post(&mut history, 2000, text("due"));
    let later = post(&mut history, 5000, text("later"));
    let off = post(&mut history, 5500, Content::Profile { name: "off".into() });
    let kept = post(&mut history, 3000, text("kept"));
    let timers = [
        Timer {
            since: on.event().order_key(),
            after_secs: Some(2),
        },
        Timer {
            since: off.event().order_key(),
            after_secs: None,
        },
    ];
    history.set_disappear_timers(timers.to_vec());
    assert_eq!(
        history.expire_due(UnixMillis(3999)),
        (vec![], Some(UnixMillis(4000)))
    );
    assert_eq!(
        history.expire_due(UnixMillis(4000)),
        (vec![due.id()], Some(UnixMillis(7000)))
    );
    assert!(history.get(&due.id()).unwrap().is_redacted());
    assert!(history.erased(&due.id()));
    assert!(!history.expire(&due.id()), "once");
    assert_eq!(history.take_rewritten().len(), 1);
    let before_the_end = history.clone();
    assert_eq!(
        history.expire_due(UnixMillis(u64::MAX)),
        (vec![later.id()], None)
    );
    assert_eq!(history.expire_due(UnixMillis(u64::MAX)), (vec![], None));
    let mut history = before_the_end;
    // Held redacted though nobody deleted it (restored so): erased once due, no rewrite.
    let mut restored = History::new(ROOM);
    for event in history.iter() {
        let form = if event.id() == later.id() {
            event.redacted().unwrap()
        } else {
            event.clone()
        };
        restored.insert(form, Horizon::UNBOUNDED).unwrap();
    }
    let waiting: Vec<EventId> = restored.unavailable().map(|(_, _, id)| id).collect();
    assert_eq!(waiting.len(), 2);
    assert!(waiting.contains(&due.id()) && waiting.contains(&later.id()));
    assert!(restored.expire(&later.id()) && restored.expire(&due.id()));
    assert!(!restored.expire(&due.id()), "once");
    assert_eq!(restored.unavailable().count(), 0);
    assert!(restored.take_rewritten().is_empty());
    for whole in [&before, &later, &kept, &off] {
        assert!(!history.get(&whole.id()).unwrap().is_redacted());
    }
    assert!(!history.expire(&off.id()), "only messages disappear");
}

/// What the index replaces: every message held, under the last timer set before it in
/// room order, not erased yet; those due at `now`, and when the next one falls due.
fn scan(
    history: &History,
    timers: &[Timer],
    now: UnixMillis,
) -> (Vec<EventId>, Option<UnixMillis>) {
    let mut due = Vec::new();
    let mut next: Option<UnixMillis> = None;
    for event in history.iter() {
        let fields = event.event();
        if !is_message(&fields.content) || history.erased(&event.id()) {
            continue;
        }
        let in_force = timers
            .iter()
            .filter(|timer| timer.since < fields.order_key())
            .max_by_key(|timer| timer.since);
        let Some(secs) = in_force.and_then(|timer| timer.after_secs) else {
            continue;
        };
        let at = UnixMillis(fields.sent_at.0 + u64::from(secs) * 1000);
        if at <= now {
            due.push(event.id());
        } else if next.is_none_or(|next| at < next) {
            next = Some(at);
        }
    }
    due.sort();
    (due, next)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Events of a room with edits and deletes arrive in any order; now and then the
    /// timers change (set at events' places, some off) and the clock moves on: each call
    /// erases exactly what a scan of the whole history finds due, and says the same next
    /// time, and both histories end up erasing the same messages.
    #[test]
    fn the_index_erases_what_a_scan_finds_due(seed in any::<u64>(), n_events in 5usize..40) {
        let (events, _) = world_with_deletes(seed, 3, n_events);
        let mut rng = seed ^ 0x5eed;
        let mut order = events.clone();
        for idx in (1..order.len()).rev() {
            order.swap(idx, (next(&mut rng) % (idx as u64 + 1)) as usize);
        }
        let mut indexed = History::new(ROOM);
        let mut scanned = History::new(ROOM);
        let mut timers: Vec<Timer> = Vec::new();
        let mut now = 0;
        for event in order {
            let _ = indexed.insert(event.clone(), Horizon::UNBOUNDED);
            let _ = scanned.insert(event, Horizon::UNBOUNDED);
            if next(&mut rng).is_multiple_of(4) {
                let n_timers = next(&mut rng) % 3;
                timers = (0..n_timers)
                    .map(|_| {
                        let at = &events[(next(&mut rng) % events.len() as u64) as usize];
                        let secs = next(&mut rng) % 40;
                        Timer {
                            since: at.event().order_key(),
                            after_secs: (secs > 5).then_some((secs / 2) as u32),
                        }
                    })
                    .collect();
            }
            now += next(&mut rng) % 4000;
            indexed.set_disappear_timers(timers.clone());
            let (mut expired, next_due) = indexed.expire_due(UnixMillis(now));
            expired.sort();
            let (due, scanned_next) = scan(&scanned, &timers, UnixMillis(now));
            for id in &due {
                prop_assert!(scanned.expire(id));
            }
            prop_assert_eq!(&expired, &due);
            prop_assert_eq!(next_due, scanned_next);
        }
        for event in &events {
            prop_assert_eq!(indexed.erased(&event.id()), scanned.erased(&event.id()));
        }
    }
}
