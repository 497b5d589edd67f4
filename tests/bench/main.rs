//! `confab-browser-bench`: the browser half of `cargo xtask bench`. In one run, against a
//! local `confab-server` and headless Chromium processes on 127.0.0.1, it measures:
//!
//! 1. the round trip of an encrypted ping between two browsers on the direct path, next to
//!    a raw `RTCDataChannel` echo of the same 35 bytes between the same two pages;
//! 2. the time from opening the invite link to the encrypted channel being ready, cold
//!    (fresh profile each time);
//! 3. the bytes the page downloads before it is usable, `gzip -9`;
//! 4. sealing and opening a frame in wasm (in the page) and natively (in this process);
//! 5. history (see `history.rs`): catch-up of 10,000 missed messages, and reopening a room
//!    of 10,000 messages from IndexedDB;
//! 6. file transfer (see `files.rs`): a 200 MiB file through the app next to a raw
//!    `RTCDataChannel` blast of as many bytes between the same two pages, the receiver's
//!    JS heap, and the sender's time to prepare the file.
//!
//! `CONFAB_BENCH_ONLY` runs only some parts (`calls`: call set-up, see `calls.rs`): a comma-separated list of `chat` (1 to 4),
//! `history` (5) and `files` (6); all by default. It prints a table and writes JSON (of the
//! parts that ran) to `$CONFAB_BENCH_OUT` (default `<CONFAB_E2E_OUT>/../bench/browser.json`). Run it through `cargo xtask bench`, which builds
//! the app, the server and this binary, then runs it in a loopback-only network namespace
//! with the same environment as the end-to-end tests.

mod calls;
mod files;
mod history;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use confab_core::session::{MAX_PLAINTEXT_LEN, Session};
use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Server, eventually};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

/// Round trips thrown away before measuring (JIT, SCTP congestion window, caches).
const WARMUP_ROUNDS: u32 = 300;
/// Round trips per measured block; blocks alternate confab, raw, confab, raw.
const ROUNDS_PER_BLOCK: u32 = 1000;
const BLOCKS: usize = 2;
/// Fresh Bob browsers timed from invite link to encrypted channel.
const COLD_RUNS: usize = 3;
/// Plaintext sizes for seal+open, with iterations per timed run (about 0.1 to 0.5 s in wasm).
const CRYPTO_SIZES: [(usize, u32); 2] = [(1024, 20_000), (MAX_PLAINTEXT_LEN, 600)];
/// Timed runs per size and side; the median is reported.
const CRYPTO_REPEATS: usize = 5;
/// Size of the Confab ping frame on the wire: 10-byte header, 9-byte body, 16-byte tag.
const PING_FRAME_LEN: u32 = 35;

const GOAL_RTT_RATIO: f64 = 1.15;
const GOAL_READY_MS: f64 = 1000.0;
const GOAL_PAGE_BYTES: usize = 350_000;
/// Messages in the history benches.
const HISTORY_MESSAGES: u32 = 10_000;

/// In-page waits give up after this long (below chromedriver's 30 s script timeout).
const JS_TIMEOUT_MS: u32 = 20_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("confab-browser-bench: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let started = *STARTED.get_or_init(Instant::now);
    let parts = Parts::from_env()?;
    let env = Env::from_env()?;
    let json_path = match std::env::var_os("CONFAB_BENCH_OUT") {
        Some(path) => PathBuf::from(path),
        None => env
            .out
            .parent()
            .unwrap_or(&env.out)
            .join("bench")
            .join("browser.json"),
    };

    // Native first, while no browser competes for the CPU.
    let mut native = Vec::new();
    if parts.chat {
        for (size, iterations) in CRYPTO_SIZES {
            native.push(median(&repeat_native(size, iterations)?));
        }
        progress("native seal+open done");
    }

    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let mut figures = None;
    if parts.chat {
        let alice = Browser::open(&chromedriver, &env, "bench-alice").await?;
        let outcome = with_alice(&env, &server, &chromedriver, &alice).await;
        quit(alice).await;
        figures = Some(outcome?);
    }
    let mut history = None;
    if parts.history {
        history = Some(history::measure(&env, &server, &chromedriver, HISTORY_MESSAGES).await);
    }
    let mut calls = None;
    if parts.calls {
        calls = Some(calls::measure(&env, &server, &chromedriver).await);
    }
    let mut files = None;
    if parts.files {
        // After history: it leaves 400 MiB in Bob's IndexedDB.
        files = Some(files::measure(&env, &server, &chromedriver).await);
    }
    remove_profiles(&env);
    let history = history.transpose()?;
    if history.is_some() {
        progress("history done");
    }
    let calls = calls.transpose()?;
    if calls.is_some() {
        progress("calls done");
    }
    let files = files.transpose()?;
    if files.is_some() {
        progress("files done");
    }

    let mut json = json!({});
    if let Some(figures) = figures {
        let pages = page_bytes(&env.dist, &figures.loaded)?;
        let report = Report {
            figures,
            native,
            pages,
        };
        report.print();
        json = report.json();
    }
    if let Some(history) = &history {
        history.print();
        json["history"] = history.json();
    }
    if let Some(calls) = &calls {
        calls.print();
        json["calls"] = calls.json();
    }
    if let Some(files) = &files {
        files.print();
        json["files"] = files.json();
    }
    let secs = started.elapsed().as_secs_f64();
    json["parts"] = json!(parts.names());
    json["seconds"] = json!(secs);
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!("\nwrote {} ({secs:.1} s)", json_path.display());
    Ok(())
}

/// The parts of the bench to run (`CONFAB_BENCH_ONLY`).
#[derive(Clone, Copy)]
struct Parts {
    /// Round trips, cold joins, page bytes, seal+open.
    chat: bool,
    history: bool,
    files: bool,
    calls: bool,
}

impl Parts {
    fn from_env() -> anyhow::Result<Parts> {
        let Some(only) = std::env::var_os("CONFAB_BENCH_ONLY") else {
            return Ok(Parts {
                chat: true,
                history: true,
                files: true,
                calls: true,
            });
        };
        let only = only.to_str().context("CONFAB_BENCH_ONLY is not UTF-8")?;
        let mut parts = Parts {
            chat: false,
            history: false,
            files: false,
            calls: false,
        };
        for name in only.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "chat" => parts.chat = true,
                "history" => parts.history = true,
                "files" => parts.files = true,
                "calls" => parts.calls = true,
                other => {
                    bail!("CONFAB_BENCH_ONLY: no part {other:?} (chat, history, files, calls)")
                }
            }
        }
        ensure!(
            !parts.names().is_empty(),
            "CONFAB_BENCH_ONLY names no part (chat, history, files, calls)"
        );
        Ok(parts)
    }

    fn names(self) -> Vec<&'static str> {
        [
            ("chat", self.chat),
            ("history", self.history),
            ("files", self.files),
            ("calls", self.calls),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }
}

/// Everything measured in the browsers.
struct Figures {
    user_agent: String,
    cross_origin_isolated: bool,
    /// Pooled samples, ms.
    confab_rtt: Vec<f64>,
    raw_rtt: Vec<f64>,
    member_rows: Vec<String>,
    cold: Vec<ColdRun>,
    /// ns per seal+open, median of the repeats, in the order of [`CRYPTO_SIZES`].
    wasm: Vec<f64>,
    /// What Alice's page fetched: URL path and encoded (as served) body size.
    loaded: Vec<(String, u64)>,
}

/// One cold join, all navigation-relative ms.
struct ColdRun {
    ready: f64,
    html_end: f64,
    wasm_end: Option<f64>,
    load_end: f64,
}

async fn with_alice(
    env: &Env,
    server: &Server,
    chromedriver: &Chromedriver,
    alice: &Browser,
) -> anyhow::Result<Figures> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    progress("Alice ready");
    let about: Value = alice
        .driver()
        .execute(
            "return {ua: navigator.userAgent, coi: self.crossOriginIsolated === true, loaded: [\
               ...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]\
               .filter(e => e.name.startsWith(location.origin))\
               .filter(e => !e.responseStatus || (e.responseStatus >= 200 && e.responseStatus < 300))\
               .map(e => [new URL(e.name).pathname, e.encodedBodySize])};",
            Vec::new(),
        )
        .await?
        .json()
        .clone();
    let user_agent = about["ua"].as_str().unwrap_or_default().to_owned();
    let cross_origin_isolated = about["coi"].as_bool().unwrap_or(false);
    let loaded: Vec<(String, u64)> =
        serde_json::from_value(about["loaded"].clone()).context("resource timing")?;

    let bob = Browser::open(chromedriver, env, "bench-bob").await?;
    let outcome = round_trips_and_crypto(&a, alice, &bob, &invite).await;
    quit(bob).await;
    let (confab_rtt, raw_rtt, member_rows, wasm) = outcome?;

    let mut cold = Vec::new();
    for run in 1..=COLD_RUNS {
        // No wait for Alice to see the previous Bob leave: she notices a vanished direct
        // peer only at her idle timeout (about 16 s), and his stale link does not affect
        // how soon the next Bob, to whom the server no longer lists him, is ready.
        let bob = Browser::open(chromedriver, env, &format!("bench-cold-{run}")).await?;
        let outcome = cold_join(&bob, &invite).await;
        quit(bob).await;
        cold.push(outcome.with_context(|| format!("cold join {run}"))?);
        progress(&format!("cold join {run} done"));
    }
    Ok(Figures {
        user_agent,
        cross_origin_isolated,
        confab_rtt,
        raw_rtt,
        member_rows,
        cold,
        wasm,
        loaded,
    })
}

type RoundTrips = (Vec<f64>, Vec<f64>, Vec<String>, Vec<f64>);

/// Bob joins; both sides must show the other online over the direct path. Then the
/// interleaved round-trip blocks, then seal+open in Bob's wasm.
async fn round_trips_and_crypto(
    a: &ChatPage<'_>,
    alice: &Browser,
    bob: &Browser,
    invite: &str,
) -> anyhow::Result<RoundTrips> {
    let b = bob.open_chat(invite).await?;
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
    progress("Bob joined, direct path");

    raw_connect(alice, bob)
        .await
        .context("raw RTCDataChannel between the two pages")?;
    progress("raw data channel open");
    confab_rtt(alice, WARMUP_ROUNDS).await?;
    raw_rtt(alice, WARMUP_ROUNDS).await?;
    let (mut confab, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..BLOCKS {
        confab.extend(confab_rtt(alice, ROUNDS_PER_BLOCK).await?);
        raw.extend(raw_rtt(alice, ROUNDS_PER_BLOCK).await?);
    }
    progress("round trips done");
    // Close the raw connection so the app's link is all that is left.
    alice
        .driver()
        .execute(
            "window.__rawBench && window.__rawBench.pc.close();",
            Vec::new(),
        )
        .await?;
    bob.driver()
        .execute(
            "window.__rawBench && window.__rawBench.pc.close();",
            Vec::new(),
        )
        .await?;

    let mut wasm = Vec::new();
    wasm_crypto(bob, 1024, 200).await?; // warm-up
    for (size, iterations) in CRYPTO_SIZES {
        let mut runs = Vec::new();
        for _ in 0..CRYPTO_REPEATS {
            runs.push(wasm_crypto(bob, size, iterations).await?);
        }
        wasm.push(median(&runs));
    }
    progress("wasm seal+open done");
    Ok((confab, raw, member_rows, wasm))
}

async fn cold_join(bob: &Browser, invite: &str) -> anyhow::Result<ColdRun> {
    let b = bob.open_chat(invite).await?;
    let ready = eventually("window.confab.readyAt", || async move {
        let ret = bob
            .driver()
            .execute("return (window.confab && typeof window.confab.readyAt === 'number') ? window.confab.readyAt : null;", Vec::new())
            .await?;
        Ok(ret.json().as_f64())
    })
    .await?;
    let row = b
        .wait_for_member("Alice online at Bob", |m| m.is_online())
        .await?;
    ensure!(
        row.text.contains("direct"),
        "not on the direct path: {:?}",
        row.text
    );
    let timing = bob
        .driver()
        .execute(
            "const n = performance.getEntriesByType('navigation')[0];\
             const w = performance.getEntriesByType('resource').find(e => e.name.endsWith('.wasm'));\
             return [n.responseEnd, w ? w.responseEnd : null, n.loadEventEnd];",
            Vec::new(),
        )
        .await?;
    let timing = timing.json();
    Ok(ColdRun {
        ready,
        html_end: timing[0].as_f64().unwrap_or(f64::NAN),
        wasm_end: timing[1].as_f64(),
        load_end: timing[2].as_f64().unwrap_or(f64::NAN),
    })
}

/// `rounds` sequential encrypted pings from Alice through the app's hook; RTT samples in ms.
async fn confab_rtt(alice: &Browser, rounds: u32) -> anyhow::Result<Vec<f64>> {
    let script = format!(
        "const rounds = arguments[0];
         const confab = window.confab || (window.confab = {{}});
         delete confab.benchResult; delete confab.benchError;
         window.dispatchEvent(new CustomEvent('confab-bench', {{detail: [rounds]}}));
         {WAIT_FOR}
         return waitFor(() => {{
           if (confab.benchError) throw new Error(String(confab.benchError));
           return Array.isArray(confab.benchResult) ? Array.from(confab.benchResult) : null;
         }}, 'confab benchResult');"
    );
    round_trips(alice, &script, rounds, "confab").await
}

/// A second, plain peer connection between the two pages, signalled by this process
/// (non-trickle: each side waits for ICE gathering to complete, then hands over its SDP).
async fn raw_connect(alice: &Browser, bob: &Browser) -> anyhow::Result<()> {
    let offer: String = alice
        .driver()
        .execute(
            format!(
                "{GATHERED}
                 const pc = new RTCPeerConnection({{iceServers: []}});
                 const dc = pc.createDataChannel('raw-bench', {{ordered: true}});
                 dc.binaryType = 'arraybuffer';
                 window.__rawBench = {{pc, dc, open: new Promise(resolve => dc.onopen = resolve)}};
                 return (async () => {{
                   await pc.setLocalDescription(await pc.createOffer());
                   await gathered(pc);
                   return pc.localDescription.sdp;
                 }})();"
            ),
            Vec::new(),
        )
        .await?
        .convert()?;
    let answer: String = bob
        .driver()
        .execute(
            format!(
                "{GATHERED}
                 const pc = new RTCPeerConnection({{iceServers: []}});
                 window.__rawBench = {{pc}};
                 pc.ondatachannel = event => {{
                   const dc = event.channel;
                   dc.binaryType = 'arraybuffer';
                   dc.onmessage = message => dc.send(message.data);
                   window.__rawBench.dc = dc;
                 }};
                 return (async () => {{
                   await pc.setRemoteDescription({{type: 'offer', sdp: arguments[0]}});
                   await pc.setLocalDescription(await pc.createAnswer());
                   await gathered(pc);
                   return pc.localDescription.sdp;
                 }})();"
            ),
            vec![json!(offer)],
        )
        .await?
        .convert()?;
    alice
        .driver()
        .execute(
            format!(
                "const bench = window.__rawBench;
                 return (async () => {{
                   await bench.pc.setRemoteDescription({{type: 'answer', sdp: arguments[0]}});
                   await Promise.race([bench.open, new Promise((_, reject) =>
                     setTimeout(() => reject(new Error('raw data channel did not open')), {JS_TIMEOUT_MS}))]);
                   return bench.dc.readyState;
                 }})();"
            ),
            vec![json!(answer)],
        )
        .await?;
    Ok(())
}

/// `rounds` sequential round trips of a 35-byte ArrayBuffer over the raw channel, timed in
/// Alice's page; samples in ms.
async fn raw_rtt(alice: &Browser, rounds: u32) -> anyhow::Result<Vec<f64>> {
    let script = format!(
        "const rounds = arguments[0];
         const dc = window.__rawBench.dc;
         const payload = new Uint8Array({PING_FRAME_LEN}).fill(0x5a).buffer;
         const samples = [];
         return new Promise((resolve, reject) => {{
           const timer = setTimeout(() => {{ dc.onmessage = null; reject(new Error('raw echo timed out')); }}, {JS_TIMEOUT_MS});
           let start = 0;
           dc.onmessage = () => {{
             samples.push(performance.now() - start);
             if (samples.length === rounds) {{
               clearTimeout(timer);
               dc.onmessage = null;
               resolve(samples);
               return;
             }}
             start = performance.now();
             dc.send(payload);
           }};
           start = performance.now();
           dc.send(payload);
         }});"
    );
    round_trips(alice, &script, rounds, "raw").await
}

/// Runs a round-trip script in `browser` and checks it returned one sample per round.
async fn round_trips(
    browser: &Browser,
    script: &str,
    rounds: u32,
    what: &str,
) -> anyhow::Result<Vec<f64>> {
    let samples: Vec<f64> = browser
        .driver()
        .execute(script, vec![json!(rounds)])
        .await?
        .convert()?;
    ensure!(
        samples.len() == rounds as usize,
        "asked for {rounds} {what} round trips, got {}",
        samples.len()
    );
    Ok(samples)
}

/// ns per seal+open of a `size`-byte plaintext in the page's wasm, through the app's hook.
async fn wasm_crypto(browser: &Browser, size: usize, iterations: u32) -> anyhow::Result<f64> {
    let script = format!(
        "const confab = window.confab || (window.confab = {{}});
         delete confab.cryptoResult;
         window.dispatchEvent(new CustomEvent('confab-bench-crypto', {{detail: [arguments[0], arguments[1]]}}));
         {WAIT_FOR}
         return waitFor(() => typeof confab.cryptoResult === 'number' ? confab.cryptoResult : null, 'cryptoResult');"
    );
    let ns: f64 = browser
        .driver()
        .execute(script, vec![json!(size), json!(iterations)])
        .await?
        .convert()?;
    ensure!(
        ns > 0.0,
        "the page could not seal and open a {size}-byte frame"
    );
    Ok(ns)
}

/// `waitFor(check, what)`: a promise of `check()`'s first non-null value, polled every 20 ms.
const WAIT_FOR: &str = "
    const waitFor = (check, what) => new Promise((resolve, reject) => {
      const deadline = performance.now() + 20000;
      const poll = () => {
        let value;
        try { value = check(); } catch (error) { reject(error); return; }
        if (value !== null && value !== undefined) resolve(value);
        else if (performance.now() > deadline) reject(new Error('timed out waiting for ' + what));
        else setTimeout(poll, 20);
      };
      poll();
    });";

/// `gathered(pc)`: resolves once ICE gathering is complete (non-trickle signalling).
const GATHERED: &str = "
    const gathered = pc => new Promise((resolve, reject) => {
      if (pc.iceGatheringState === 'complete') { resolve(); return; }
      const timer = setTimeout(() => reject(new Error('ICE gathering did not complete')), 20000);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
      });
    });";

/// ns per seal+open natively, [`CRYPTO_REPEATS`] timed runs after one warm-up, exactly the
/// loop the page runs.
fn repeat_native(size: usize, iterations: u32) -> anyhow::Result<Vec<f64>> {
    native_seal_open(size, iterations / 10 + 1)?;
    (0..CRYPTO_REPEATS)
        .map(|_| native_seal_open(size, iterations))
        .collect()
}

fn native_seal_open(size: usize, iterations: u32) -> anyhow::Result<f64> {
    let (mut sender, mut receiver) = Session::pair_for_testing_only(7);
    let plaintext = vec![0x5a; size];
    let mut opened = 0usize;
    let started = Instant::now();
    for _ in 0..iterations {
        let frame = sender.seal(&plaintext)?;
        opened += receiver.open(&frame)?.len();
    }
    let elapsed = started.elapsed();
    ensure!(
        std::hint::black_box(opened) == size * iterations as usize,
        "opened the wrong length"
    );
    Ok(elapsed.as_secs_f64() * 1e9 / f64::from(iterations))
}

/// One file the page loaded: name under `dist/`, raw size, `gzip -9` size, size as served.
struct PageFile {
    name: String,
    raw: usize,
    gzip9: usize,
    served: u64,
}

struct Pages {
    files: Vec<PageFile>,
    /// `dist/` files of the kinds a page loads that the page did not load.
    not_loaded: Vec<String>,
}

/// The files Alice's page fetched (by resource timing), compressed with `gzip -9`.
fn page_bytes(dist: &Path, loaded: &[(String, u64)]) -> anyhow::Result<Pages> {
    let mut files: Vec<PageFile> = Vec::new();
    for (path, served) in loaded {
        let name = match path.trim_start_matches('/') {
            "" => "index.html",
            name => name,
        };
        if files.iter().any(|f| f.name == name) {
            continue; // a preload and the fetch that used it
        }
        let bytes = std::fs::read(dist.join(name))
            .with_context(|| format!("the page loaded {path}, not in dist/"))?;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&bytes)?;
        files.push(PageFile {
            name: name.to_owned(),
            raw: bytes.len(),
            gzip9: encoder.finish()?.len(),
            served: *served,
        });
    }
    if !files.iter().any(|f| f.name.ends_with(".wasm")) {
        bail!("resource timing shows no .wasm: {loaded:?}");
    }
    let mut not_loaded = Vec::new();
    for entry in std::fs::read_dir(dist)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let page_kind = name == "index.html"
            || (name.starts_with("boot-") && name.ends_with(".js"))
            || (name.starts_with("confab-") && name.ends_with(".js"))
            || name.ends_with("_bg.wasm")
            || name.ends_with(".css");
        if page_kind && !files.iter().any(|f| f.name == name) {
            not_loaded.push(name);
        }
    }
    not_loaded.sort();
    Ok(Pages { files, not_loaded })
}

struct Report {
    figures: Figures,
    /// ns per seal+open natively, in the order of [`CRYPTO_SIZES`].
    native: Vec<f64>,
    pages: Pages,
}

#[derive(Clone, Copy)]
struct Stats {
    n: usize,
    p50: f64,
    /// The median interpolated within its clock tick (grouped-data median): the pages'
    /// clock ticks in 100 µs, so the plain p50 can only move in steps of 0.1 ms.
    p50_interpolated: f64,
    p99: f64,
    mean: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let rank = |p: f64| {
            let idx = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            sorted.get(idx).copied().unwrap_or(f64::NAN)
        };
        let p50 = rank(50.0);
        // The tick: the smallest step between distinct samples.
        let tick = sorted
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .filter(|step| *step > 1e-6)
            .fold(f64::INFINITY, f64::min);
        let p50_interpolated = if tick.is_finite() {
            let below = sorted.iter().filter(|x| **x < p50 - tick / 2.0).count();
            let at = sorted
                .iter()
                .filter(|x| (**x - p50).abs() <= tick / 2.0)
                .count();
            p50 - tick / 2.0 + tick * (n as f64 / 2.0 - below as f64) / at.max(1) as f64
        } else {
            p50
        };
        Stats {
            n,
            p50,
            p50_interpolated,
            p99: rank(99.0),
            mean: sorted.iter().sum::<f64>() / n.max(1) as f64,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
        }
    }

    fn json(&self) -> Value {
        json!({"n": self.n, "p50_ms": self.p50, "p50_interpolated_ms": self.p50_interpolated, "p99_ms": self.p99, "mean_ms": self.mean, "min_ms": self.min, "max_ms": self.max})
    }
}

impl Report {
    fn rtt(&self) -> (Stats, Stats) {
        (
            Stats::of(&self.figures.confab_rtt),
            Stats::of(&self.figures.raw_rtt),
        )
    }

    fn ready_median(&self) -> f64 {
        median(
            &self
                .figures
                .cold
                .iter()
                .map(|c| c.ready)
                .collect::<Vec<_>>(),
        )
    }

    fn gzip_total(&self) -> usize {
        self.pages.files.iter().map(|f| f.gzip9).sum()
    }

    fn print(&self) {
        let f = &self.figures;
        let (confab, raw) = self.rtt();
        println!("\nConfab browser bench: {}", f.user_agent);
        println!(
            "(loopback-only network namespace; crossOriginIsolated = {}",
            f.cross_origin_isolated
        );
        let resolution = if f.cross_origin_isolated {
            "5 µs"
        } else {
            "100 µs"
        };
        println!(" so performance.now() ticks every {resolution} in the pages)");

        println!(
            "\n1. Message round trip, Alice -> Bob -> Alice, direct data channel, {PING_FRAME_LEN}-byte frames"
        );
        println!(
            "   ({} warm-up rounds each, then {BLOCKS} interleaved blocks of {ROUNDS_PER_BLOCK}; pooled)",
            WARMUP_ROUNDS
        );
        println!(
            "   {:<22}{:>8}{:>10}{:>9}{:>9}{:>9}{:>9}{:>7}",
            "ms", "p50", "p50 int.", "p99", "mean", "min", "max", "n"
        );
        for (name, s) in [("Confab (Noise, app)", confab), ("raw RTCDataChannel", raw)] {
            println!(
                "   {name:<22}{:>8.3}{:>10.3}{:>9.3}{:>9.3}{:>9.3}{:>9.3}{:>7}",
                s.p50, s.p50_interpolated, s.p99, s.mean, s.min, s.max, s.n
            );
        }
        let ratio = confab.p50 / raw.p50;
        println!(
            "   confab/raw: p50 {ratio:.2} (goal <= {GOAL_RTT_RATIO}: {}), p50 int. {:.2}, p99 {:.2}, mean {:.2}",
            verdict(ratio <= GOAL_RTT_RATIO),
            confab.p50_interpolated / raw.p50_interpolated,
            confab.p99 / raw.p99,
            confab.mean / raw.mean
        );
        for row in &f.member_rows {
            println!("   member row: {row}");
        }

        println!(
            "\n2. Invite link -> encrypted channel ready, cold (fresh profile), ms since navigation start"
        );
        println!(
            "   {:<8}{:>10}{:>12}{:>12}{:>10}",
            "run", "html", "wasm", "load", "ready"
        );
        for (idx, run) in f.cold.iter().enumerate() {
            let wasm = run.wasm_end.map_or("-".to_owned(), |ms| format!("{ms:.0}"));
            println!(
                "   {:<8}{:>10.0}{:>12}{:>12.0}{:>10.0}",
                idx + 1,
                run.html_end,
                wasm,
                run.load_end,
                run.ready
            );
        }
        let ready = self.ready_median();
        println!(
            "   median ready {ready:.0} ms (goal < {GOAL_READY_MS:.0} ms: {})",
            verdict(ready < GOAL_READY_MS)
        );

        println!(
            "\n3. Bytes the page downloads before usable (files it fetched, from resource timing)"
        );
        println!(
            "   {:<40}{:>10}{:>10}{:>10}",
            "file", "raw", "gzip -9", "served"
        );
        for file in &self.pages.files {
            println!(
                "   {:<40}{:>10}{:>10}{:>10}",
                file.name, file.raw, file.gzip9, file.served
            );
        }
        let total = self.gzip_total();
        println!(
            "   {:<40}{:>10}{:>10}{:>10}",
            "total",
            self.pages.files.iter().map(|f| f.raw).sum::<usize>(),
            total,
            self.pages.files.iter().map(|f| f.served).sum::<u64>()
        );
        println!(
            "   gzip -9 total {total} B (goal < {GOAL_PAGE_BYTES} B: {})",
            verdict(total < GOAL_PAGE_BYTES)
        );
        if !self.pages.not_loaded.is_empty() {
            println!(
                "   note: in dist/ but not loaded: {}",
                self.pages.not_loaded.join(", ")
            );
        }

        println!("\n4. Frame seal+open, ns per frame (median of {CRYPTO_REPEATS} runs)");
        println!("   wasm: the app's release build, in Bob's page; native: this binary");
        if cfg!(debug_assertions) {
            println!("   WARNING: this binary is a debug build; the native figures mean nothing");
        }
        println!(
            "   {:<12}{:>12}{:>12}{:>12}{:>8}",
            "plaintext", "iterations", "wasm", "native", "ratio"
        );
        for ((size, iterations), (wasm, native)) in
            CRYPTO_SIZES.iter().zip(f.wasm.iter().zip(&self.native))
        {
            println!(
                "   {:<12}{:>12}{:>12.0}{:>12.0}{:>8.2}",
                format!("{size} B"),
                iterations,
                wasm,
                native,
                wasm / native
            );
        }
    }

    fn json(&self) -> Value {
        let f = &self.figures;
        let (confab, raw) = self.rtt();
        let ready = self.ready_median();
        let total = self.gzip_total();
        json!({
            "user_agent": f.user_agent,
            "cross_origin_isolated": f.cross_origin_isolated,
            "round_trip": {
                "frame_bytes": PING_FRAME_LEN,
                "warmup_rounds": WARMUP_ROUNDS,
                "blocks": BLOCKS,
                "rounds_per_block": ROUNDS_PER_BLOCK,
                "member_rows": f.member_rows,
                "confab": confab.json(),
                "raw": raw.json(),
                "ratio_p50": confab.p50 / raw.p50,
                "ratio_p50_interpolated": confab.p50_interpolated / raw.p50_interpolated,
                "ratio_p99": confab.p99 / raw.p99,
                "ratio_mean": confab.mean / raw.mean,
                "goal_ratio_p50": GOAL_RTT_RATIO,
                "goal_met": confab.p50 / raw.p50 <= GOAL_RTT_RATIO,
                "confab_samples_ms": f.confab_rtt,
                "raw_samples_ms": f.raw_rtt,
            },
            "cold_ready": {
                "runs": f.cold.iter().map(|c| json!({
                    "ready_ms": c.ready, "html_response_end_ms": c.html_end,
                    "wasm_response_end_ms": c.wasm_end, "load_event_end_ms": c.load_end,
                })).collect::<Vec<_>>(),
                "median_ms": ready,
                "goal_ms": GOAL_READY_MS,
                "goal_met": ready < GOAL_READY_MS,
            },
            "page_bytes": {
                "files": self.pages.files.iter().map(|p| json!({
                    "name": p.name, "raw": p.raw, "gzip9": p.gzip9, "served": p.served,
                })).collect::<Vec<_>>(),
                "gzip9_total": total,
                "goal_bytes": GOAL_PAGE_BYTES,
                "goal_met": total < GOAL_PAGE_BYTES,
                "in_dist_not_loaded": self.pages.not_loaded,
            },
            "seal_open": CRYPTO_SIZES.iter().zip(f.wasm.iter().zip(&self.native)).map(|((size, iterations), (wasm, native))| json!({
                "plaintext_bytes": size, "iterations": iterations, "repeats": CRYPTO_REPEATS,
                "wasm_ns": wasm, "native_ns": native, "ratio": wasm / native,
                "native_debug_build": cfg!(debug_assertions),
            })).collect::<Vec<_>>(),
        })
    }
}

static STARTED: OnceLock<Instant> = OnceLock::new();

/// A line on stderr saying how far the run got, for long or stuck runs.
fn progress(what: &str) {
    let secs = STARTED.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("confab-browser-bench: [{secs:5.1} s] {what}");
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match (sorted.get(n / 2), n % 2) {
        (Some(&upper), 1) => upper,
        (Some(&upper), _) => (upper + sorted.get(n / 2 - 1).copied().unwrap_or(upper)) / 2.0,
        (None, _) => f64::NAN,
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Deletes the browser profiles this run left in the output directory (about 3 MB each).
fn remove_profiles(env: &Env) {
    let suffix = format!("-{}", std::process::id());
    let Ok(entries) = std::fs::read_dir(&env.out) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("profile-bench-") && name.ends_with(&suffix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

async fn quit(browser: Browser) {
    let name = browser.name.clone();
    let deadline = Duration::from_secs(20);
    match tokio::time::timeout(deadline, browser.quit()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("warning: quitting {name}'s browser: {error:#}"),
        Err(_) => eprintln!("warning: {name}'s browser did not quit within {deadline:?}"),
    }
}
