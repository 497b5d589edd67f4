//! Criterion benches for history: merging two histories of 10,000 messages each (the
//! work a member does when catching up with someone who has a disjoint half), and
//! checking one received event (signature, content hash); and a client's disappearing-
//! messages pass over a room of 10,000 messages when none is due yet (what the app pays
//! on each governance change and timer).

#![allow(
    missing_docs,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::panic
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use confab_core::governance::Settings;
use confab_core::history::{Content, History, VerifiedEvent};
use confab_core::{Client, Config, Identity, Instant, Output, RoomId, UnixMillis};

const ROOM: RoomId = RoomId::from_bytes([7; 32]);
const N: usize = 10_000;

/// `n` messages by two authors, written in turn.
fn history(seed: u8, n: usize) -> History {
    let authors = [
        Identity::from_seed([seed; 32]),
        Identity::from_seed([seed.wrapping_add(1); 32]),
    ];
    let mut history = History::new(ROOM);
    for idx in 0..n {
        let text = format!("message {idx}: a typical sentence of chat, sixty bytes long.");
        // A fresh history of honest authors: never forked, never exhausted.
        let _ = history.create(
            &authors[idx % 2],
            UnixMillis(idx as u64),
            Content::Text {
                text,
                reply_to: None,
                mentions: Vec::new(),
            },
        );
    }
    history
}

fn merge(c: &mut Criterion) {
    let ours = history(1, N);
    let theirs: Vec<VerifiedEvent> = history(10, N).iter().cloned().collect();
    let mut group = c.benchmark_group("history");
    group.sample_size(20);
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("merge 10k into 10k (verified)", |b| {
        b.iter_batched(
            || ours.clone(),
            |mut merged| {
                for event in &theirs {
                    let _ = merged.insert(event.clone(), confab_core::history::Horizon::UNBOUNDED);
                }
                merged.len()
            },
            BatchSize::LargeInput,
        )
    });
    let bytes: Vec<Vec<u8>> = theirs.iter().map(|e| e.bytes().to_vec()).collect();
    group.bench_function("verify and merge 10k into 10k", |b| {
        b.iter_batched(
            || ours.clone(),
            |mut merged| {
                for event in &bytes {
                    if let Ok(event) = VerifiedEvent::verify(&ROOM, event) {
                        let _ = merged.insert(event, confab_core::history::Horizon::UNBOUNDED);
                    }
                }
                merged.len()
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("restore 10k from storage", |b| {
        b.iter(|| {
            let mut restored = History::new(ROOM);
            for event in &bytes {
                if let Ok(event) = VerifiedEvent::restore(&ROOM, event, None) {
                    let _ = restored.insert(event, confab_core::history::Horizon::UNBOUNDED);
                }
            }
            restored.len()
        })
    });
    group.finish();
}

/// A governed room we founded with a one-day timer, holding `n` of our messages.
fn disappearing_room(n: usize) -> Client {
    let settings = Settings {
        disappear_after_secs: Some(86_400),
        ..Settings::default()
    };
    let now = Instant::now();
    let identity = Identity::from_seed([5; 32]);
    let founded = Client::found_with(
        identity,
        Config::default(),
        [6; 32],
        now,
        UnixMillis(0),
        settings,
    );
    let Ok(mut client) = founded else {
        panic!("founding a room failed");
    };
    for idx in 0..n {
        let text = format!("message {idx}: a typical sentence of chat, sixty bytes long.");
        if client
            .send_text(now, UnixMillis(idx as u64 + 1), &text)
            .is_err()
        {
            panic!("posting failed");
        }
        while !matches!(client.poll_output(), Output::Timeout(_)) {}
    }
    client
}

fn erase_expired(c: &mut Criterion) {
    let mut client = disappearing_room(N);
    let now = Instant::now();
    let wall = UnixMillis(N as u64 + 2);
    assert_eq!(
        client.erase_expired(now, wall),
        Some(UnixMillis(86_400_001))
    );
    let mut group = c.benchmark_group("history");
    group.bench_function("erase_expired, 10k held, none due", |b| {
        b.iter(|| client.erase_expired(now, wall))
    });
    group.finish();
}

criterion_group!(benches, merge, erase_expired);
criterion_main!(benches);
