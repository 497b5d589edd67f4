//! Criterion benches for the hot paths of core: sealing and opening transport frames
//! (1 KiB, and the largest frame, 65,519 plaintext bytes ≈ 64 KiB: Noise caps a message
//! at 65,535 bytes with its 16-byte tag) and a complete handshake between two clients.

#![allow(missing_docs, clippy::disallowed_methods)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use confab_core::session::{MAX_PLAINTEXT_LEN, Session};
use confab_core::{Client, Config, Identity, Instant, Output, PeerId, Role, RoomSecret};

fn frames(c: &mut Criterion) {
    for (label, size) in [("1KiB", 1024), ("64KiB", MAX_PLAINTEXT_LEN)] {
        let mut group = c.benchmark_group(format!("frame/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        let plaintext = vec![0x5a; size];
        let (mut sealer, _) = Session::pair_for_testing_only(1);
        group.bench_function("seal", |b| {
            b.iter(|| sealer.seal(&plaintext).map(|f| f.len()))
        });
        let (mut sender, mut receiver) = Session::pair_for_testing_only(2);
        group.bench_function("open", |b| {
            b.iter_batched(
                || sender.seal(&plaintext).unwrap_or_default(),
                |frame| receiver.open(&frame).map(|p| p.len()),
                BatchSize::SmallInput,
            )
        });
        let (mut sender, mut receiver) = Session::pair_for_testing_only(3);
        group.bench_function("seal+open", |b| {
            b.iter(|| {
                let frame = sender.seal(&plaintext).unwrap_or_default();
                receiver.open(&frame).map(|p| p.len())
            })
        });
        group.finish();
    }
}

fn handshake(c: &mut Criterion) {
    let room = RoomSecret::from_bytes([9; 32]);
    c.bench_function("handshake/XXpsk0", |b| {
        b.iter_batched(
            || {
                let a = Client::new(
                    Identity::from_seed([1; 32]),
                    room.clone(),
                    Config::default(),
                    [2; 32],
                );
                let b = Client::new(
                    Identity::from_seed([3; 32]),
                    room.clone(),
                    Config::default(),
                    [4; 32],
                );
                (a, b)
            },
            |(mut a, mut b)| {
                let now = Instant::now();
                let (id_a, id_b) = (PeerId::new(1), PeerId::new(2));
                b.add_peer(now, id_a, Role::Responder);
                a.add_peer(now, id_b, Role::Initiator);
                let mut verified = 0;
                for _ in 0..8 {
                    while let Output::Transmit(t) = a.poll_output() {
                        b.handle_frame(now, id_a, &t.bytes);
                    }
                    while let Output::Transmit(t) = b.poll_output() {
                        a.handle_frame(now, id_b, &t.bytes);
                    }
                    verified = a.verified_peers().count() + b.verified_peers().count();
                    if verified == 2 {
                        break;
                    }
                }
                verified
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, frames, handshake);
criterion_main!(benches);
