//! The benchmark hooks (`cargo xtask bench`): round trips to a verified peer, and the
//! cost of sealing frames in this browser.

use confab_core::Instant;
use confab_core::PeerId;

use super::Driver;
use crate::platform::clock::now_ms;
use crate::platform::page;

pub(super) struct BenchRun {
    peer: PeerId,
    remaining: u32,
    nonce: u64,
    started_ms: f64,
    samples: Vec<f64>,
}

/// Seals and opens frames in a loop; publishes nanoseconds per seal+open as `cryptoResult`.
pub(super) fn bench_crypto(size: usize, iterations: u32) {
    let (mut sender, mut receiver) = confab_core::session::Session::pair_for_testing_only(7);
    let plaintext = vec![0x5a; size.min(confab_core::session::MAX_PLAINTEXT_LEN)];
    let started = now_ms();
    let mut opened = 0usize;
    for _ in 0..iterations {
        let Ok(frame) = sender.seal(&plaintext) else {
            break;
        };
        opened += receiver.open(&frame).map_or(0, |p| p.len());
    }
    let elapsed_ms = now_ms() - started;
    let per_frame_ns = elapsed_ms * 1e6 / f64::from(iterations.max(1));
    page::publish(
        "cryptoResult",
        &wasm_bindgen::JsValue::from_f64(if opened > 0 { per_frame_ns } else { -1.0 }),
    );
}

impl Driver {
    pub(super) fn start_bench(&mut self, now: Instant, rounds: u32) {
        let Some(peer) = self.client.verified_peers().map(|(peer, _)| peer).next() else {
            page::publish("benchError", &"no verified peer".into());
            return;
        };
        self.bench = Some(BenchRun {
            peer,
            remaining: rounds,
            nonce: 1 << 63,
            started_ms: now_ms(),
            samples: Vec::new(),
        });
        self.client.send_ping(now, peer, 1 << 63);
    }

    pub(super) fn continue_bench(&mut self, now: Instant, peer: PeerId, nonce: u64) {
        let Some(run) = self.bench.as_mut() else {
            return;
        };
        if run.peer != peer || run.nonce != nonce {
            return;
        }
        let end = now_ms();
        run.samples.push(end - run.started_ms);
        run.remaining = run.remaining.saturating_sub(1);
        if run.remaining == 0 {
            page::publish_numbers("benchResult", &run.samples);
            self.bench = None;
            return;
        }
        run.nonce += 1;
        run.started_ms = now_ms();
        let nonce = run.nonce;
        self.client.send_ping(now, peer, nonce);
    }
}
