//! One measured run: N clients in rooms against running server processes. Connect and
//! join everyone, measure the servers' memory, send at the planned rate for the planned
//! time, drain, and measure delivery, latency and CPU. With a rate of zero it is the idle
//! run: connect, join, measure memory, disconnect.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};

use crate::client::{self, ClientPlan, ClientStats, Shared, Stage};
use crate::proc_stats::{self, CpuMeter};
use crate::protocol::Protocol;

/// How one run is shaped.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub protocol: Protocol,
    pub clients: usize,
    pub room_size: usize,
    /// Messages per second, all clients together (0: the idle run).
    pub rate: f64,
    pub send_for: Duration,
    /// How long to wait, after the last send, for deliveries still under way.
    pub drain: Duration,
    /// Distinguishes one run's rooms and ids from another's.
    pub run: u32,
    /// Connections being set up at once.
    pub connect_concurrency: usize,
}

/// The servers under test: where client `i` connects (`addrs[i % addrs.len()]`) and which
/// processes to measure.
#[derive(Clone, Debug)]
pub struct Target {
    pub addrs: Vec<SocketAddr>,
    pub pids: Vec<u32>,
}

/// What one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    pub server: Protocol,
    pub nodes: usize,
    pub clients: usize,
    pub room_size: usize,
    pub source_addresses: usize,
    pub rate_per_sec: f64,
    pub send_secs: f64,
    pub connect_secs: f64,
    pub messages_sent: u64,
    pub frames_sent: u64,
    pub expected: u64,
    pub delivered: u64,
    pub reordered: u64,
    pub server_errors: u64,
    pub first_server_error: Option<String>,
    pub failed_clients: usize,
    pub first_failure: Option<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Server memory (all measured processes) before any client connected.
    pub rss_before_bytes: u64,
    /// ... with every client connected and in its room.
    pub rss_connected_bytes: u64,
    /// ... after the traffic and drain.
    pub rss_after_bytes: u64,
    /// Sum of the processes' peak RSS.
    pub peak_rss_bytes: u64,
    /// (connected - before) / clients.
    pub mem_per_conn_bytes: f64,
    /// Server CPU during sending and drain, in cores.
    pub server_cpu_cores: f64,
    /// The load generator's own CPU over the same time (it shares the machine).
    pub generator_cpu_cores: f64,
    /// 1-minute load average when the run started.
    pub loadavg_at_start: f64,
}

/// Longest wait for every client to connect and join.
fn setup_timeout(clients: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(20) * u32::try_from(clients).unwrap_or(u32::MAX)
}

/// Runs `config` against `target`. Fails only if the run could not be made (clients that
/// could not connect, a server that vanished); loss and latency are results.
pub async fn run(config: &RunConfig, target: &Target) -> anyhow::Result<RunResult> {
    ensure!(config.room_size >= 2, "rooms need at least two members");
    ensure!(
        config.clients > 0 && config.clients.is_multiple_of(config.room_size),
        "{} clients do not fill rooms of {}",
        config.clients,
        config.room_size
    );
    ensure!(!target.addrs.is_empty(), "no server address");
    let loadavg_at_start = loadavg();
    let n_per_client = if config.rate > 0.0 {
        (config.rate * config.send_for.as_secs_f64() / config.clients as f64).round() as u32
    } else {
        0
    };
    let period = if config.rate > 0.0 {
        Duration::from_secs_f64(config.clients as f64 / config.rate)
    } else {
        Duration::ZERO
    };
    // ~28k ephemeral ports per source address; stay well below.
    let source_addresses = config.clients.div_ceil(10_000).clamp(1, 250);

    let rss_before = proc_stats::total_rss(&target.pids)?;
    let shared = Arc::new(Shared::new(config.connect_concurrency));
    let (stage_tx, stage_rx) = watch::channel(Stage::Setup);
    let started = Instant::now();
    let total_timeout =
        setup_timeout(config.clients) + config.send_for + config.drain + Duration::from_secs(60);
    let deadline = started + total_timeout;
    let mut tasks = Vec::with_capacity(config.clients);
    for idx in 0..config.clients {
        let plan = ClientPlan {
            idx,
            protocol: config.protocol,
            run: config.run,
            room: idx / config.room_size,
            room_size: config.room_size,
            server: target.addrs[idx % target.addrs.len()],
            source: Ipv4Addr::new(127, 0, 0, 1 + (idx % source_addresses) as u8),
            n_messages: n_per_client,
            offset: Duration::from_secs_f64(if config.rate > 0.0 {
                idx as f64 / config.rate
            } else {
                0.0
            }),
            period,
            deadline,
        };
        tasks.push(tokio::spawn(client::run(
            plan,
            Arc::clone(&shared),
            stage_rx.clone(),
        )));
    }
    drop(stage_rx);

    // Wait for everyone to be connected and in their rooms (or to have failed).
    let setup_deadline = started + setup_timeout(config.clients);
    loop {
        let n_ready = shared.n_ready.load(Ordering::Relaxed);
        let n_failed = shared.n_failed.load(Ordering::Relaxed);
        if n_ready + n_failed >= config.clients {
            break;
        }
        if Instant::now() >= setup_deadline {
            let _ = stage_tx.send(Stage::Stop);
            let first = collect(tasks, Duration::from_secs(30)).await.first_failure;
            bail!(
                "{}: only {n_ready} of {} clients ready after {:.0?} ({n_failed} failed){}",
                config.protocol,
                config.clients,
                setup_deadline - started,
                first
                    .map(|f| format!("; first failure: {f}"))
                    .unwrap_or_default()
            );
        }
        sleep(Duration::from_millis(50)).await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    if shared.n_failed.load(Ordering::Relaxed) > 0 {
        let _ = stage_tx.send(Stage::Stop);
        let merged = collect(tasks, Duration::from_secs(30)).await;
        bail!(
            "{}: {} of {} clients could not connect or join; first: {}",
            config.protocol,
            merged.failed_clients,
            config.clients,
            merged.first_failure.unwrap_or_default()
        );
    }
    // Let the servers settle (allocations, pending writes) before reading memory.
    sleep(Duration::from_secs(1)).await;
    let rss_connected = proc_stats::total_rss(&target.pids)?;

    let server_cpu = CpuMeter::start(&target.pids)?;
    let generator_cpu = CpuMeter::start(&[std::process::id()])?;
    let expected = n_per_client as u64 * config.clients as u64 * (config.room_size as u64 - 1);
    if n_per_client > 0 {
        let send_start = Instant::now() + Duration::from_millis(200);
        stage_tx
            .send(Stage::Send(send_start))
            .context("every client is gone")?;
        // The last message leaves at send_start + offset(last) + period * (n - 1) < send_for.
        sleep_until_instant(send_start + config.send_for).await;
        let drain_end = Instant::now() + config.drain;
        while shared.n_delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_end {
            sleep(Duration::from_millis(20)).await;
        }
    }
    let server_cpu_cores = server_cpu.cores()?;
    let generator_cpu_cores = generator_cpu.cores()?;
    let rss_after = proc_stats::total_rss(&target.pids)?;
    let peak_rss = target
        .pids
        .iter()
        .map(|&pid| proc_stats::peak_rss_bytes(pid))
        .sum::<anyhow::Result<u64>>()?;
    let _ = stage_tx.send(Stage::Stop);
    let merged = collect(tasks, Duration::from_secs(60)).await;
    let mut latencies = merged.latencies_us;
    latencies.sort_unstable();
    Ok(RunResult {
        server: config.protocol,
        nodes: target.addrs.len(),
        clients: config.clients,
        room_size: config.room_size,
        source_addresses,
        rate_per_sec: config.rate,
        send_secs: if n_per_client > 0 {
            config.send_for.as_secs_f64()
        } else {
            0.0
        },
        connect_secs,
        messages_sent: merged.messages_sent,
        frames_sent: merged.frames_sent,
        expected,
        delivered: merged.delivered,
        reordered: merged.reordered,
        server_errors: merged.server_errors,
        first_server_error: merged.first_error,
        failed_clients: merged.failed_clients,
        first_failure: merged.first_failure,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |&us| f64::from(us) / 1000.0),
        rss_before_bytes: rss_before,
        rss_connected_bytes: rss_connected,
        rss_after_bytes: rss_after,
        peak_rss_bytes: peak_rss,
        mem_per_conn_bytes: rss_connected.saturating_sub(rss_before) as f64 / config.clients as f64,
        server_cpu_cores,
        generator_cpu_cores,
        loadavg_at_start,
    })
}

/// Every client's stats, merged.
#[derive(Default)]
struct Merged {
    messages_sent: u64,
    frames_sent: u64,
    delivered: u64,
    reordered: u64,
    server_errors: u64,
    first_error: Option<String>,
    failed_clients: usize,
    first_failure: Option<String>,
    latencies_us: Vec<u32>,
}

/// Waits for the client tasks (at most `within` in all; stragglers are aborted and count
/// as failed).
async fn collect(tasks: Vec<tokio::task::JoinHandle<ClientStats>>, within: Duration) -> Merged {
    let deadline = Instant::now() + within;
    let mut merged = Merged::default();
    for mut task in tasks {
        let stats = match timeout(
            deadline.saturating_duration_since(Instant::now()),
            &mut task,
        )
        .await
        {
            Ok(Ok(stats)) => stats,
            Ok(Err(err)) => ClientStats {
                failed: Some(format!("client task: {err}")),
                ..ClientStats::default()
            },
            Err(_) => {
                task.abort();
                ClientStats {
                    failed: Some("client did not stop in time".into()),
                    ..ClientStats::default()
                }
            }
        };
        merged.messages_sent += stats.messages_sent;
        merged.frames_sent += stats.frames_sent;
        merged.delivered += stats.delivered;
        merged.reordered += stats.reordered;
        merged.server_errors += stats.server_errors;
        if merged.first_error.is_none() {
            merged.first_error = stats.first_error;
        }
        if let Some(failure) = stats.failed {
            merged.failed_clients += 1;
            merged.first_failure.get_or_insert(failure);
        }
        merged.latencies_us.extend(stats.latencies_us);
    }
    merged
}

async fn sleep_until_instant(at: Instant) {
    tokio::time::sleep_until(at).await;
}

fn percentile_ms(sorted_us: &[u32], fraction: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64 * fraction).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

/// The 1-minute load average (0 if unreadable).
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&sorted, 0.50), 50.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.99), 0.0);
        assert_eq!(percentile_ms(&[7000], 0.01), 7.0);
    }
}
