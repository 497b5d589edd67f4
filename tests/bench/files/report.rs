//! The file transfer figures as a table and as JSON.

use serde_json::{Value, json};

use super::{
    FILE_BYTES, FileFigures, GOAL_RATIO, Heap, RAW_HIGH_WATER, RAW_LOW_WATER, RAW_MESSAGE_BYTES,
    RUNS, SAMPLE_EVERY_MS, mbps, median_of, megabytes, share,
};
use crate::{median, verdict};

impl FileFigures {
    fn confab_mbps(&self) -> Vec<f64> {
        self.confab.iter().map(|r| mbps(r.transfer_ms)).collect()
    }

    fn raw_mbps(&self) -> Vec<f64> {
        self.raw.iter().map(|r| mbps(r.transfer_ms)).collect()
    }

    fn ratio(&self) -> f64 {
        median(&self.confab_mbps()) / median(&self.raw_mbps())
    }

    pub fn print(&self) {
        println!(
            "\nFile transfer, Alice -> Bob, direct path: {} MiB of random bytes ({} B)",
            FILE_BYTES >> 20,
            FILE_BYTES
        );
        println!(
            "   (runs alternate Confab, raw, x{RUNS}; MB = 10^6 B; times on Bob's clock: Confab from the"
        );
        println!(
            "   Accept click to fileReceivedAt, raw from Bob's \"go\" to the last byte; \"streaming\" = first to last bytes)"
        );
        println!(
            "   {:<8}{:>10}{:>10}{:>11}{:>11}{:>11}{:>10}{:>10}{:>10}",
            "",
            "ms",
            "MB/s",
            "streaming",
            "heap base",
            "heap peak",
            "after GC",
            "Bob busy",
            "Alice"
        );
        let rows = self
            .confab
            .iter()
            .map(|r| {
                (
                    "Confab",
                    r.transfer_ms,
                    r.first_to_last_ms,
                    &r.heap,
                    &r.busy,
                )
            })
            .zip(
                self.raw
                    .iter()
                    .map(|r| ("raw", r.transfer_ms, r.first_to_last_ms, &r.heap, &r.busy)),
            );
        for (confab, raw) in rows {
            for (name, ms, streaming_ms, heap, busy) in [confab, raw] {
                println!(
                    "   {name:<8}{ms:>10.0}{:>10.1}{:>11.1}{:>11}{:>11}{:>10}{:>10}{:>10}",
                    mbps(ms),
                    mbps(streaming_ms),
                    megabytes(heap.baseline),
                    megabytes(heap.peak),
                    megabytes(heap.after_gc),
                    share(busy.bob_task),
                    share(busy.alice_task),
                );
            }
        }
        let ratio = self.ratio();
        println!(
            "   median Confab {:.1} MB/s, raw {:.1} MB/s: Confab/raw {ratio:.2} (goal >= {GOAL_RATIO}: {}); streaming {:.2}",
            median(&self.confab_mbps()),
            median(&self.raw_mbps()),
            verdict(ratio >= GOAL_RATIO),
            median(
                &self
                    .confab
                    .iter()
                    .map(|r| mbps(r.first_to_last_ms))
                    .collect::<Vec<_>>()
            ) / median(
                &self
                    .raw
                    .iter()
                    .map(|r| mbps(r.first_to_last_ms))
                    .collect::<Vec<_>>()
            ),
        );
        let per_mb = |cpu: Option<f64>| cpu.map(|s| s * 1000.0 / (FILE_BYTES as f64 / 1e6));
        let confab_cpu: Vec<f64> = self.confab.iter().filter_map(|r| per_mb(r.cpu_s)).collect();
        let raw_cpu: Vec<f64> = self.raw.iter().filter_map(|r| per_mb(r.cpu_s)).collect();
        if !confab_cpu.is_empty() && !raw_cpu.is_empty() {
            let list = |v: &[f64]| {
                v.iter()
                    .map(|ms| format!("{ms:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "   CPU of all Chromium processes per MB moved (both browsers, every thread): Confab {} ms, raw {} ms; raw/Confab {:.2}",
                list(&confab_cpu),
                list(&raw_cpu),
                median(&raw_cpu) / median(&confab_cpu),
            );
            println!(
                "   (on a machine whose cores are all busy, throughput follows CPU per MB; Confab's includes storing at Bob and Alice's kept copy)"
            );
        }
        let prepare: Vec<f64> = self.confab.iter().map(|r| r.prepare_ms).collect();
        println!(
            "   Alice prepares (reads and hashes) the file before offering it: {} ms (median {:.0} ms, {:.0} MB/s)",
            prepare
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            median(&prepare),
            mbps(median(&prepare))
        );
        for run in &self.confab {
            if let Some(wire) = run.wire_bytes {
                println!(
                    "   Confab frame bytes Alice sent: {wire:.0} ({:.4}x the file)",
                    wire / FILE_BYTES as f64
                );
            }
        }
        let heap = &self.confab.iter().map(|r| &r.heap).collect::<Vec<_>>();
        if self.heap_exposed {
            println!(
                "   Bob's JS heap (usedJSHeapSize every {SAMPLE_EVERY_MS} ms; baseline after a forced GC) during Confab:"
            );
            println!(
                "   baseline {} MB, peak {} MB, {} MB after the transfer and a GC; {}",
                megabytes(median_of(heap.iter().map(|h| h.baseline))),
                megabytes(median_of(heap.iter().map(|h| h.peak))),
                megabytes(median_of(heap.iter().map(|h| h.after_gc))),
                heap.iter()
                    .map(|h| format!("{} distinct values in {} samples", h.n_distinct, h.n_during))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        } else {
            println!("   Bob's JS heap: performance.memory is not exposed in this browser");
        }
        println!(
            "   Bob's wasm memory: {}",
            heap.iter()
                .map(|h| format!(
                    "{} MB before, {} MB after",
                    megabytes(h.wasm_before),
                    megabytes(h.wasm_after)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        println!(
            "   busy = each page's main-thread task time / wall time during the transfer (DevTools)"
        );
        for row in &self.member_rows {
            println!("   member row: {row}");
        }
        for profile in &self.profiles {
            profile.print();
        }
    }

    pub fn json(&self) -> Value {
        let ratio = self.ratio();
        json!({
            "file_bytes": FILE_BYTES,
            "runs": RUNS,
            "raw_message_bytes": RAW_MESSAGE_BYTES,
            "raw_high_water_bytes": RAW_HIGH_WATER,
            "raw_low_water_bytes": RAW_LOW_WATER,
            "heap_sample_every_ms": SAMPLE_EVERY_MS,
            "heap_exposed": self.heap_exposed,
            "member_rows": self.member_rows,
            "confab": self.confab.iter().map(|r| json!({
                "prepare_ms": r.prepare_ms,
                "prepare_mb_per_s": mbps(r.prepare_ms),
                "accept_to_first_ms": r.accept_to_first_ms,
                "transfer_ms": r.transfer_ms,
                "mb_per_s": mbps(r.transfer_ms),
                "first_to_last_ms": r.first_to_last_ms,
                "streaming_mb_per_s": mbps(r.first_to_last_ms),
                "wire_bytes": r.wire_bytes,
                "bob_heap": r.heap.json(),
                "busy": r.busy.json(),
                "cpu_s": r.cpu_s,
            })).collect::<Vec<_>>(),
            "raw": self.raw.iter().map(|r| json!({
                "transfer_ms": r.transfer_ms,
                "mb_per_s": mbps(r.transfer_ms),
                "first_to_last_ms": r.first_to_last_ms,
                "streaming_mb_per_s": mbps(r.first_to_last_ms),
                "bob_heap": r.heap.json(),
                "busy": r.busy.json(),
                "cpu_s": r.cpu_s,
            })).collect::<Vec<_>>(),
            "median_confab_mb_per_s": median(&self.confab_mbps()),
            "median_raw_mb_per_s": median(&self.raw_mbps()),
            "median_prepare_ms": median(&self.confab.iter().map(|r| r.prepare_ms).collect::<Vec<_>>()),
            "ratio": ratio,
            "goal_ratio": GOAL_RATIO,
            "goal_met": ratio >= GOAL_RATIO,
            "median_bob_heap_baseline_bytes": median_of(self.confab.iter().map(|r| r.heap.baseline)),
            "median_bob_heap_peak_bytes": median_of(self.confab.iter().map(|r| r.heap.peak)),
            "profiles": self.profiles.iter().map(|p| json!({
                "page": p.page, "file": p.file, "categories": p.categories, "top_self": p.top,
            })).collect::<Vec<_>>(),
        })
    }
}

impl Heap {
    pub fn json(&self) -> Value {
        json!({
            "baseline_bytes": self.baseline,
            "peak_bytes": self.peak,
            "after_gc_bytes": self.after_gc,
            "wasm_before_bytes": self.wasm_before,
            "wasm_after_bytes": self.wasm_after,
            "samples_during": self.n_during,
            "distinct_values_during": self.n_distinct,
            "series_ms_bytes": self.series.iter().map(|(t, v)| [t.round(), *v]).collect::<Vec<_>>(),
        })
    }
}
