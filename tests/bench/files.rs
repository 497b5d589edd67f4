//! File transfer figures for `confab-browser-bench`, in two fresh browsers of their own,
//! Alice and Bob, linked on the direct path:
//!
//! - **Confab**: Alice attaches a [`FILE_BYTES`]-byte file of random bytes; Bob clicks
//!   Accept. Measured on Bob's clock, from his click on Accept to the app's
//!   `fileReceivedAt` (every chunk stored in IndexedDB and the BLAKE3 hash checked), and from
//!   the first received bytes shown to the end. Separately, on Alice's clock, the time
//!   her page took to prepare (read and hash) the file: from the chooser's `change` event
//!   to her file message being shown.
//! - **raw**: the same number of bytes over a plain ordered `RTCDataChannel` between the
//!   same two pages (a second peer connection signalled by this process, as for the round
//!   trips), in 64 KiB messages with the app's backpressure levels. Measured the same way
//!   on Bob's clock: from Bob asking (a "go" message) to the last byte, and first to last.
//! - Bob's JS heap (`performance.memory.usedJSHeapSize`, sampled in his page every
//!   [`SAMPLE_EVERY_MS`] ms) and the size of the app's wasm memory, before and during each
//!   transfer; and how busy each page's main thread was (DevTools `Performance.getMetrics`).
//!
//! Runs alternate Confab, raw, Confab, raw; medians are reported. With
//! `CONFAB_BENCH_PROFILE` set, one more Confab transfer runs (untimed) with both pages under
//! the DevTools sampling profiler: the profiles are saved as `files-alice.cpuprofile` and
//! `files-bob.cpuprofile` in `CONFAB_E2E_OUT` (open them in DevTools' Performance panel)
//! and summarised by self time. The release wasm has no names section, so its functions
//! show as `wasm-function[N]`.

mod devtools;
mod report;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Server};
use serde_json::{Value, json};

use super::{median, one_line, progress, quit, raw_connect};
use devtools::{Busy, Metrics, ProfileSummary, cdp, start_profiler, stop_profiler};

/// Bytes per file (200 MiB).
pub const FILE_BYTES: u64 = 200 << 20;
/// Confab runs and raw runs, alternating.
const RUNS: usize = 2;
/// The raw channel's message size.
const RAW_MESSAGE_BYTES: u32 = 64 << 10;
/// The raw sender pauses at this much queued (the app's `HIGH_WATER` for file channels)…
const RAW_HIGH_WATER: u32 = 4 << 20;
/// …and goes on when the queue falls below this (the app's `FILE_LOW_WATER`).
const RAW_LOW_WATER: u32 = 1 << 20;
/// Heap sampling period in Bob's page.
const SAMPLE_EVERY_MS: u32 = 200;
/// Heap samples before the transfer that make the baseline (the last second or so).
const BASELINE_SAMPLES: usize = 5;
/// Goal: Confab's throughput at least this share of the raw channel's.
const GOAL_RATIO: f64 = 0.85;
/// Longest wait for Alice to prepare a file.
const PREPARE_PATIENCE: Duration = Duration::from_secs(180);
/// Longest wait for one transfer (200 MiB at 0.7 MB/s).
const TRANSFER_PATIENCE: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(200);

/// What was measured.
pub struct FileFigures {
    pub confab: Vec<ConfabRun>,
    pub raw: Vec<RawRun>,
    pub member_rows: Vec<String>,
    /// Whether `performance.memory` existed in Bob's page.
    pub heap_exposed: bool,
    /// With `CONFAB_BENCH_PROFILE`: where each page's main thread spent an extra, untimed
    /// Confab transfer.
    pub profiles: Vec<ProfileSummary>,
}

/// One Confab transfer. Times in ms; Alice's on her clock, the rest on Bob's.
pub struct ConfabRun {
    /// Alice: the chooser's `change` event to her file message shown.
    pub prepare_ms: f64,
    /// Bob: Accept clicked to the first received bytes shown.
    pub accept_to_first_ms: f64,
    /// Bob: Accept clicked to `fileReceivedAt`.
    pub transfer_ms: f64,
    /// Bob: first received bytes shown to `fileReceivedAt`.
    pub first_to_last_ms: f64,
    /// Frame bytes Alice's app sent during the transfer.
    pub wire_bytes: Option<f64>,
    pub heap: Heap,
    pub busy: Busy,
    /// CPU seconds all Chromium processes used from Accept to the end.
    pub cpu_s: Option<f64>,
}

/// One raw transfer, all on Bob's clock, ms.
pub struct RawRun {
    /// "go" sent to the last byte received.
    pub transfer_ms: f64,
    /// First byte to last byte.
    pub first_to_last_ms: f64,
    pub heap: Heap,
    pub busy: Busy,
    /// CPU seconds all Chromium processes used from "go" to the end.
    pub cpu_s: Option<f64>,
}

/// Bob's memory around one transfer, bytes.
pub struct Heap {
    /// Median of the last [`BASELINE_SAMPLES`] samples before the transfer (taken after a
    /// forced garbage collection).
    pub baseline: Option<f64>,
    /// Largest sample during the transfer.
    pub peak: Option<f64>,
    /// Right after the transfer and a forced garbage collection: what stays.
    pub after_gc: Option<f64>,
    /// The wasm memory before and at the end of the transfer (it only grows).
    pub wasm_before: Option<f64>,
    pub wasm_after: Option<f64>,
    /// Samples during the transfer, and how many distinct heap values among them.
    pub n_during: usize,
    pub n_distinct: usize,
    /// (ms since the transfer started, usedJSHeapSize) for every sample.
    pub series: Vec<(f64, f64)>,
}

pub async fn measure(
    env: &Env,
    server: &Server,
    chromedriver: &Chromedriver,
) -> anyhow::Result<FileFigures> {
    let alice = Browser::open(chromedriver, env, "bench-files-alice").await?;
    let bob = Browser::open(chromedriver, env, "bench-files-bob").await?;
    let outcome = scenario(env, server, &alice, &bob).await;
    quit(alice).await;
    quit(bob).await;
    outcome
}

async fn scenario(
    env: &Env,
    server: &Server,
    alice: &Browser,
    bob: &Browser,
) -> anyhow::Result<FileFigures> {
    for browser in [alice, bob] {
        // Keep the app's wasm memory within reach (its exports are not on `window`).
        cdp(
            browser,
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": KEEP_WASM_MEMORY}),
        )
        .await
        .context("DevTools: Page.addScriptToEvaluateOnNewDocument")?;
        cdp(browser, "Performance.enable", json!({})).await?;
    }
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    let b = bob.open_chat(&invite).await?;
    let bob_at_alice = a
        .wait_for_member("Bob online at Alice", |m| m.is_online())
        .await?;
    let alice_at_bob = b
        .wait_for_member("Alice online at Bob", |m| m.is_online())
        .await?;
    for row in [&bob_at_alice, &alice_at_bob] {
        ensure!(
            row.text.contains("direct"),
            "not on the direct path: {:?}",
            row.text
        );
    }
    let member_rows = vec![one_line(&bob_at_alice.text), one_line(&alice_at_bob.text)];
    let heap_exposed = bob
        .driver()
        .execute(
            "return !!(performance.memory && performance.memory.usedJSHeapSize);",
            Vec::new(),
        )
        .await?
        .json()
        .as_bool()
        .unwrap_or(false);
    raw_connect(alice, bob)
        .await
        .context("raw RTCDataChannel between the two pages")?;
    progress("files: Alice and Bob on the direct path, raw channel open");

    let (mut confab, mut raw) = (Vec::new(), Vec::new());
    for run in 1..=RUNS {
        let name = format!("confab-bench-{run}.bin");
        let path = env.out.join(&name);
        random_file(&path, FILE_BYTES, run as u64)?;
        let outcome = confab_run(&a, alice, &b, bob, &path, &name, false).await;
        let _ = std::fs::remove_file(&path);
        let (figures, _) = outcome.with_context(|| format!("Confab transfer {run}"))?;
        progress(&format!(
            "files: Confab transfer {run}: {:.1} MB/s",
            mbps(figures.transfer_ms)
        ));
        confab.push(figures);
        let figures = raw_run(alice, bob)
            .await
            .with_context(|| format!("raw transfer {run}"))?;
        progress(&format!(
            "files: raw transfer {run}: {:.1} MB/s",
            mbps(figures.transfer_ms)
        ));
        raw.push(figures);
    }
    for browser in [alice, bob] {
        browser
            .driver()
            .execute(
                "window.__rawBench && window.__rawBench.pc.close();",
                Vec::new(),
            )
            .await?;
    }
    let mut profiles = Vec::new();
    if std::env::var_os("CONFAB_BENCH_PROFILE").is_some() {
        let name = "confab-bench-profiled.bin";
        let path = env.out.join(name);
        random_file(&path, FILE_BYTES, 0)?;
        let outcome = confab_run(&a, alice, &b, bob, &path, name, true).await;
        let _ = std::fs::remove_file(&path);
        let (figures, pages) = outcome.context("profiled Confab transfer")?;
        for (page, profile) in ["alice", "bob"].into_iter().zip(pages.unwrap_or_default()) {
            let file = env.out.join(format!("files-{page}.cpuprofile"));
            std::fs::write(&file, serde_json::to_string(&profile)?)?;
            profiles.push(ProfileSummary::of(page, &profile, file));
        }
        progress(&format!(
            "files: profiled Confab transfer: {:.1} MB/s",
            mbps(figures.transfer_ms)
        ));
    }
    Ok(FileFigures {
        confab,
        raw,
        member_rows,
        heap_exposed,
        profiles,
    })
}

/// One Confab transfer of the file at `path`; with `profile`, both pages run under the
/// DevTools sampling profiler from the Accept click to the end, and their profiles
/// (Alice's, Bob's) come back too.
async fn confab_run(
    a: &ChatPage<'_>,
    alice: &Browser,
    b: &ChatPage<'_>,
    bob: &Browser,
    path: &Path,
    name: &str,
    profile: bool,
) -> anyhow::Result<(ConfabRun, Option<[Value; 2]>)> {
    let group = format!("File {name}");
    for (browser, receiver) in [(alice, false), (bob, true)] {
        let sampler = if receiver {
            heap_sampler()
        } else {
            String::new()
        };
        browser
            .driver()
            .execute(
                format!("{WATCH_FILE} {sampler} return true;"),
                vec![json!(name), json!(receiver)],
            )
            .await?;
    }
    a.attach_file(path).await?;
    let offered = wait_value(
        alice,
        "const w = window.__fileBench; return w.offeredAt !== undefined && w.attachAt !== undefined ? w.offeredAt - w.attachAt : null;",
        PREPARE_PATIENCE,
        "Alice's file message",
    )
    .await?;
    let prepare_ms = offered.as_f64().context("prepare time")?;
    b.by_role("group", &group).await?;
    settle(bob).await?;
    let sent_before = alice.published("bytesSent").await?;
    if profile {
        for browser in [alice, bob] {
            start_profiler(browser).await?;
        }
    }
    let before = Metrics::of_both(alice, bob).await?;
    let cpu_before = chromium_cpu_seconds();
    b.click("button", "Accept").await?;
    let received = wait_value(
        bob,
        "const c = window.confab; return c && typeof c.fileReceivedAt === 'number' ? c.fileReceivedAt : null;",
        TRANSFER_PATIENCE,
        "fileReceivedAt at Bob",
    )
    .await;
    let cpu = chromium_cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    let after = Metrics::of_both(alice, bob).await?;
    let profiles = if profile {
        Some([stop_profiler(alice).await?, stop_profiler(bob).await?])
    } else {
        None
    };
    let received = match received {
        Ok(at) => at.as_f64().context("fileReceivedAt")?,
        Err(error) => {
            let shown = b
                .progress(&format!("Receiving {name}"))
                .await
                .ok()
                .flatten();
            return Err(error.context(format!("the download showed {shown:?}%")));
        }
    };
    // The last acknowledgements and receipts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_after = alice.published("bytesSent").await?;
    let bob_page = read_bench(bob).await?;
    let after_gc = heap_after_gc(bob).await?;
    let accept_at = bob_page["acceptAt"]
        .as_f64()
        .context("Bob's click on Accept was not seen")?;
    let first_at = bob_page["firstAt"]
        .as_f64()
        .context("Bob's page never showed received bytes")?;
    ensure!(
        accept_at <= first_at && first_at <= received,
        "odd times on Bob's page: accept {accept_at}, first bytes {first_at}, received {received}"
    );
    let run = ConfabRun {
        prepare_ms,
        accept_to_first_ms: first_at - accept_at,
        transfer_ms: received - accept_at,
        first_to_last_ms: received - first_at,
        wire_bytes: sent_before.zip(sent_after).map(|(b, a)| a - b),
        heap: heap(&bob_page["samples"], accept_at, received, after_gc)?,
        busy: Busy::between(&before, &after),
        cpu_s: cpu,
    };
    Ok((run, profiles))
}

async fn raw_run(alice: &Browser, bob: &Browser) -> anyhow::Result<RawRun> {
    alice
        .driver()
        .execute(
            RAW_SEND,
            vec![
                json!(FILE_BYTES),
                json!(RAW_MESSAGE_BYTES),
                json!(RAW_HIGH_WATER),
                json!(RAW_LOW_WATER),
            ],
        )
        .await?;
    bob.driver()
        .execute(
            format!("{} return true;", heap_sampler()),
            vec![json!("raw")],
        )
        .await?;
    settle(bob).await?;
    let before = Metrics::of_both(alice, bob).await?;
    let cpu_before = chromium_cpu_seconds();
    bob.driver()
        .execute(RAW_RECEIVE, vec![json!(FILE_BYTES)])
        .await?;
    let done = wait_value(
        bob,
        "const b = window.__rawBench.blast; if (b.error) throw new Error(b.error); return b.lastAt !== undefined ? true : null;",
        TRANSFER_PATIENCE,
        "the last raw byte at Bob",
    )
    .await;
    let cpu = chromium_cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    let after = Metrics::of_both(alice, bob).await?;
    if let Err(error) = done {
        let sender: Value = alice
            .driver()
            .execute(
                "const b = window.__rawBench.blast; return {sent: b.sent, error: b.error || null};",
                Vec::new(),
            )
            .await?
            .json()
            .clone();
        return Err(error.context(format!("Alice's side: {sender}")));
    }
    let page = bob
        .driver()
        .execute(
            "const b = window.__rawBench.blast; clearInterval(window.__heapSampler.timer);\
             return {goAt: b.goAt, firstAt: b.firstAt, lastAt: b.lastAt, bytes: b.bytes, samples: window.__heapSampler.samples};",
            Vec::new(),
        )
        .await?
        .json()
        .clone();
    let after_gc = heap_after_gc(bob).await?;
    let field = |key: &str| page[key].as_f64().with_context(|| format!("raw {key}"));
    let (go_at, first_at, last_at) = (field("goAt")?, field("firstAt")?, field("lastAt")?);
    ensure!(
        field("bytes")? == FILE_BYTES as f64,
        "Bob counted {} raw bytes, not {FILE_BYTES}",
        page["bytes"]
    );
    Ok(RawRun {
        transfer_ms: last_at - go_at,
        first_to_last_ms: last_at - first_at,
        heap: heap(&page["samples"], go_at, last_at, after_gc)?,
        busy: Busy::between(&before, &after),
        cpu_s: cpu,
    })
}

/// CPU seconds (user + system) used so far by every process whose name starts with
/// "chrom" (the browsers, their renderers, GPU and network services), from `/proc`.
/// Unlike wall-clock busy shares, CPU time does not stretch when other work shares the
/// machine's cores. `None` where there is no `/proc`.
fn chromium_cpu_seconds() -> Option<f64> {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let is_pid = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !comm.starts_with("chrom") {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // Fields after the ")" closing the command name: utime is the 12th, stime the 13th.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
            total += (user + system) / ticks_per_s;
        }
    }
    Some(total)
}

/// Bob's (or Alice's) `window.__fileBench`, with the heap samples; stops the sampler.
async fn read_bench(browser: &Browser) -> anyhow::Result<Value> {
    Ok(browser
        .driver()
        .execute(
            "const w = window.__fileBench; const s = window.__heapSampler; clearInterval(s.timer);\
             return {acceptAt: w.acceptAt, firstAt: w.firstAt, offeredAt: w.offeredAt, samples: s.samples};",
            Vec::new(),
        )
        .await?
        .json()
        .clone())
}

/// Bob's memory around a transfer from `start` to `end` (his clock), from the sampler's
/// `[t, usedJSHeapSize, totalJSHeapSize, wasm bytes]` rows.
fn heap(samples: &Value, start: f64, end: f64, after_gc: Option<f64>) -> anyhow::Result<Heap> {
    let rows: Vec<[Option<f64>; 4]> =
        serde_json::from_value(samples.clone()).context("heap samples")?;
    let before: Vec<&[Option<f64>; 4]> = rows
        .iter()
        .filter(|r| r[0].is_some_and(|t| t < start))
        .collect();
    let during: Vec<&[Option<f64>; 4]> = rows
        .iter()
        .filter(|r| r[0].is_some_and(|t| t >= start && t <= end))
        .collect();
    let baseline = median_of(before.iter().rev().take(BASELINE_SAMPLES).map(|r| r[1]));
    let peak = during
        .iter()
        .filter_map(|r| r[1])
        .fold(None, |max: Option<f64>, v| {
            Some(max.map_or(v, |m| m.max(v)))
        });
    let mut distinct: Vec<u64> = during
        .iter()
        .filter_map(|r| r[1])
        .map(|v| v as u64)
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    // The wasm memory only grows: its size at the end is its peak.
    let wasm_after = rows
        .iter()
        .filter(|r| r[0].is_some_and(|t| t <= end + f64::from(SAMPLE_EVERY_MS)))
        .filter_map(|r| r[3])
        .next_back();
    Ok(Heap {
        baseline,
        peak,
        after_gc,
        wasm_before: before.last().and_then(|r| r[3]),
        wasm_after,
        n_during: during.len(),
        n_distinct: distinct.len(),
        series: rows
            .iter()
            .filter_map(|r| Some((r[0]? - start, r[1]?)))
            .collect(),
    })
}

/// Collects Bob's garbage, then lets the sampler see him at rest for the baseline.
async fn settle(bob: &Browser) -> anyhow::Result<()> {
    cdp(bob, "HeapProfiler.collectGarbage", json!({})).await?;
    tokio::time::sleep(Duration::from_millis(
        u64::from(SAMPLE_EVERY_MS) * BASELINE_SAMPLES as u64 + 200,
    ))
    .await;
    Ok(())
}

/// `usedJSHeapSize` after a forced garbage collection.
async fn heap_after_gc(browser: &Browser) -> anyhow::Result<Option<f64>> {
    cdp(browser, "HeapProfiler.collectGarbage", json!({})).await?;
    // Chromium refreshes performance.memory at most every 50 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(browser
        .driver()
        .execute(
            "return performance.memory ? performance.memory.usedJSHeapSize : null;",
            Vec::new(),
        )
        .await?
        .json()
        .as_f64())
}

/// Polls `script` in the page until it returns something other than null; fails after
/// `patience` or if the script throws.
async fn wait_value(
    browser: &Browser,
    script: &str,
    patience: Duration,
    what: &str,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + patience;
    loop {
        let value = browser
            .driver()
            .execute(script, Vec::new())
            .await
            .with_context(|| format!("waiting for {what} in {}'s page", browser.name))?
            .json()
            .clone();
        if !value.is_null() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("no {what} within {patience:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A file of `len` pseudo-random bytes (xorshift, seeded by `seed`).
fn random_file(path: &Path, len: u64, seed: u64) -> anyhow::Result<()> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes()[..word.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

fn mbps(ms: f64) -> f64 {
    FILE_BYTES as f64 / 1e6 / (ms / 1000.0)
}

fn megabytes(bytes: Option<f64>) -> String {
    bytes.map_or("-".to_owned(), |b| format!("{:.1}", b / 1e6))
}

fn share(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

fn median_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let values: Vec<f64> = values.flatten().collect();
    (!values.is_empty()).then(|| median(&values))
}

/// Injected before each page's scripts: keeps the app's `WebAssembly.Memory`, which Trunk's
/// loader hands to the `TrunkApplicationStarted` event, as `window.__confabWasmMemory`.
const KEEP_WASM_MEMORY: &str = "addEventListener('TrunkApplicationStarted', event => {
      const wasm = event.detail && event.detail.wasm;
      if (wasm && wasm.memory instanceof WebAssembly.Memory) window.__confabWasmMemory = wasm.memory;
    });";

/// `arguments[0]` is the file's name. Starts `window.__fileBench` for it: when the chooser
/// changed (`attachAt`), when its card appeared (`offeredAt`), when Accept was clicked on
/// it (`acceptAt`), and, if `arguments[1]`, when the card first showed received bytes
/// (`firstAt`); forgets the last `fileReceivedAt`.
const WATCH_FILE: &str = "
    const fileName = arguments[0];
    const watchBytes = arguments[1];
    const watch = window.__fileBench = {name: fileName};
    if (window.confab) delete window.confab.fileReceivedAt;
    const card = () => document.querySelector('[role=group][aria-label=' + JSON.stringify('File ' + fileName) + ']');
    if (!window.__fileBenchListening) {
      window.__fileBenchListening = true;
      document.addEventListener('change', event => {
        const w = window.__fileBench;
        if (w && w.attachAt === undefined && event.target.matches('form.composer input[type=file]')) w.attachAt = performance.now();
      }, true);
      document.addEventListener('click', event => {
        const w = window.__fileBench;
        const button = event.target.closest && event.target.closest('button');
        const group = button && button.closest('[role=group]');
        if (w && w.acceptAt === undefined && button && button.textContent.trim() === 'Accept'
            && group && group.getAttribute('aria-label') === 'File ' + w.name) w.acceptAt = performance.now();
      }, true);
    }
    const observer = new MutationObserver(() => {
      const now = performance.now();
      const found = card();
      if (!found) return;
      if (watch.offeredAt === undefined) watch.offeredAt = now;
      if (!watchBytes) {
        observer.disconnect();
        return;
      }
      const speed = found.querySelector('.file-speed');
      if (watch.firstAt === undefined && speed && !speed.textContent.startsWith('0 B')) {
        watch.firstAt = now;
        observer.disconnect();
      }
    });
    observer.observe(document.body, {childList: true, subtree: true, characterData: true});
    setTimeout(() => observer.disconnect(), 600000);";

/// Restarts `window.__heapSampler`: `[performance.now(), usedJSHeapSize, totalJSHeapSize,
/// wasm memory bytes]` every [`SAMPLE_EVERY_MS`] ms (at most 6,000 samples).
fn heap_sampler() -> String {
    format!(
        "if (window.__heapSampler) clearInterval(window.__heapSampler.timer);
         const sampler = window.__heapSampler = {{samples: []}};
         const takeSample = () => {{
           const m = performance.memory;
           const w = window.__confabWasmMemory;
           sampler.samples.push([performance.now(), m ? m.usedJSHeapSize : null,
             m ? m.totalJSHeapSize : null, w ? w.buffer.byteLength : null]);
           if (sampler.samples.length >= 6000) clearInterval(sampler.timer);
         }};
         takeSample();
         sampler.timer = setInterval(takeSample, {SAMPLE_EVERY_MS});"
    )
}

/// Alice's side of the raw blast (`arguments`: total bytes, message size, high and low
/// water): on Bob's "go", sends the bytes in messages of that size, pausing while
/// `bufferedAmount` is at the high water and going on at `bufferedamountlow`.
const RAW_SEND: &str = "
    const [total, size, high, low] = arguments;
    const bench = window.__rawBench;
    const dc = bench.dc;
    const blast = bench.blast = {sent: 0};
    const payload = new Uint8Array(size);
    crypto.getRandomValues(payload);
    dc.bufferedAmountLowThreshold = low;
    const pump = () => {
      try {
        while (blast.sent < total) {
          if (dc.bufferedAmount >= high) return;
          const n = Math.min(size, total - blast.sent);
          dc.send(n === size ? payload : payload.subarray(0, n));
          blast.sent += n;
        }
        blast.doneAt = performance.now();
        dc.onbufferedamountlow = null;
      } catch (error) {
        blast.error = String(error);
      }
    };
    dc.onmessage = event => {
      if (event.data === 'go' && blast.startAt === undefined) {
        blast.startAt = performance.now();
        dc.onbufferedamountlow = pump;
        pump();
      }
    };
    return true;";

/// Bob's side of the raw blast (`arguments[0]`: total bytes): counts what arrives, noting
/// the first and last byte, after saying "go".
const RAW_RECEIVE: &str = "
    const total = arguments[0];
    const bench = window.__rawBench;
    if (!bench || !bench.dc || bench.dc.readyState !== 'open') throw new Error('the raw channel is not open at Bob');
    const dc = bench.dc;
    const blast = bench.blast = {bytes: 0, messages: 0};
    dc.onmessage = event => {
      const now = performance.now();
      if (blast.firstAt === undefined) blast.firstAt = now;
      blast.bytes += event.data.byteLength;
      blast.messages += 1;
      if (blast.bytes >= total) {
        blast.lastAt = now;
        dc.onmessage = null;
      }
    };
    blast.goAt = performance.now();
    dc.send('go');
    return true;";
