//! The benchmark's results: `load.json`, the comparison with the better baseline against
//! the goals, and the table printed at the end.

use std::fmt::Write as _;

use serde::Serialize;

use crate::protocol::Protocol;
use crate::scenario::RunResult;

/// Goal: Confab's p99 at most this fraction of the better baseline's.
pub const P99_GOAL: f64 = 1.0 / 3.0;
/// Goal: Confab's memory per connection at most this fraction of the better baseline's.
pub const MEMORY_GOAL: f64 = 0.25;

/// Everything one benchmark invocation measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    /// The rate runs, every server and size.
    pub traffic: Vec<RunResult>,
    /// Idle connections: memory only.
    pub idle: Vec<IdleRun>,
    /// Pairs of runs: one node, then two.
    pub cluster: Vec<ClusterRun>,
    /// Medians over [`Report::cluster`].
    pub cluster_added_p50_ms_median: Option<f64>,
    pub cluster_added_p99_ms_median: Option<f64>,
    /// The abuse scenario: a real room under a mailbox and relay flood.
    pub abuse: Vec<crate::abuse::AbuseResult>,
    /// Runs that could not be made.
    pub failures: Vec<Failure>,
    /// Confab against the better baseline, per client count.
    pub comparisons: Vec<Comparison>,
}

#[derive(Debug, Default, Serialize)]
pub struct Machine {
    pub cores: usize,
    /// RLIMIT_NOFILE (soft = hard) of the generator and the servers.
    pub nofile_limit: u64,
    pub loadavg_at_start: f64,
    pub loadavg_at_end: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Settings {
    pub rate_per_sec: f64,
    pub send_secs: f64,
    pub drain_secs: f64,
    pub room_size: usize,
    pub payload_pad_chars: usize,
}

#[derive(Debug, Serialize)]
pub struct IdleRun {
    pub requested_clients: usize,
    /// Why fewer clients than requested were connected, if so.
    pub limited_by: Option<String>,
    pub result: RunResult,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterRun {
    pub one_node: RunResult,
    pub two_nodes: RunResult,
    pub added_p50_ms: f64,
    pub added_p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    pub scenario: String,
    pub server: Protocol,
    pub clients: usize,
    pub error: String,
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub clients: usize,
    pub confab_zero_loss: bool,
    pub p99_baseline: Option<Protocol>,
    /// Confab's p99 / the lower baseline p99.
    pub p99_ratio: Option<f64>,
    pub memory_baseline: Option<Protocol>,
    /// Confab's memory per connection / the lower baseline's.
    pub memory_ratio: Option<f64>,
    pub goals_met: bool,
    /// How many runs per server the medians are over.
    pub runs_per_server: usize,
}

impl Report {
    /// Fills [`Report::comparisons`] from the traffic and idle runs.
    pub fn compare(&mut self) {
        let mut comparisons = Vec::new();
        let mut sizes: Vec<usize> = self.traffic.iter().map(|run| run.clients).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for clients in sizes {
            let runs: Vec<&RunResult> = self
                .traffic
                .iter()
                .filter(|run| run.clients == clients)
                .collect();
            if let Some(comparison) = compare("traffic", clients, &runs, true) {
                comparisons.push(comparison);
            }
        }
        let idle: Vec<&RunResult> = self.idle.iter().map(|idle| &idle.result).collect();
        if let Some(first) = idle.first()
            && let Some(comparison) = compare("idle", first.clients, &idle, false)
        {
            comparisons.push(comparison);
        }
        self.comparisons = comparisons;
        let added = |key: fn(&ClusterRun) -> f64| {
            let values: Vec<f64> = self.cluster.iter().map(key).collect();
            median(&values)
        };
        self.cluster_added_p50_ms_median = added(|run| run.added_p50_ms);
        self.cluster_added_p99_ms_median = added(|run| run.added_p99_ms);
    }

    /// The human-readable summary.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let Machine {
            cores,
            nofile_limit,
            loadavg_at_start,
            loadavg_at_end,
        } = &self.machine;
        let _ = writeln!(
            out,
            "machine: {cores} cores, RLIMIT_NOFILE {nofile_limit}, load average {loadavg_at_start:.2} at start, {loadavg_at_end:.2} at end"
        );
        if !self.traffic.is_empty() {
            let _ = writeln!(
                out,
                "\ntraffic: {} messages/s for {} s, rooms of {} (one message = {} deliveries)",
                self.settings.rate_per_sec,
                self.settings.send_secs,
                self.settings.room_size,
                self.settings.room_size.saturating_sub(1)
            );
            out.push_str(&header());
            for run in &self.traffic {
                out.push_str(&row(run));
            }
        }
        if !self.idle.is_empty() {
            let _ = writeln!(out, "\nidle connections (joined, no traffic):");
            let _ = writeln!(
                out,
                "{:<9} {:>8} {:>10} {:>12} {:>10}  note",
                "server", "clients", "connect s", "RSS MiB", "KiB/conn"
            );
            for idle in &self.idle {
                let run = &idle.result;
                let _ = writeln!(
                    out,
                    "{:<9} {:>8} {:>10.1} {:>12.1} {:>10.2}  {}",
                    run.server.to_string(),
                    run.clients,
                    run.connect_secs,
                    run.rss_connected_bytes as f64 / 1048576.0,
                    run.mem_per_conn_bytes / 1024.0,
                    idle.limited_by.as_deref().unwrap_or("")
                );
            }
        }
        if !self.cluster.is_empty() {
            let _ = writeln!(out, "\nscale-out: confab, 2 nodes + NATS against 1 node:");
            out.push_str(&header());
            for cluster in &self.cluster {
                out.push_str(&row(&cluster.one_node));
                out.push_str(&row(&cluster.two_nodes));
            }
            let _ = writeln!(
                out,
                "added latency (median of {} pairs): p50 {:+.2} ms, p99 {:+.2} ms",
                self.cluster.len(),
                self.cluster_added_p50_ms_median.unwrap_or(0.0),
                self.cluster_added_p99_ms_median.unwrap_or(0.0)
            );
        }
        if !self.comparisons.is_empty() {
            let _ = writeln!(
                out,
                "\nconfab against the better baseline, medians per server (goals: zero loss in every run, p99 <= {P99_GOAL:.2}x, memory/conn <= {MEMORY_GOAL:.2}x):"
            );
            for comparison in &self.comparisons {
                let ratio = |ratio: Option<f64>, baseline: Option<Protocol>| match (ratio, baseline)
                {
                    (Some(ratio), Some(baseline)) => format!("{ratio:.3}x (vs {baseline})"),
                    _ => "n/a".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "  {:<7} {:>6} clients: zero loss {}, p99 {}, memory {} -> goals {}",
                    comparison.scenario,
                    comparison.clients,
                    if comparison.confab_zero_loss {
                        "yes"
                    } else {
                        "NO"
                    },
                    ratio(comparison.p99_ratio, comparison.p99_baseline),
                    ratio(comparison.memory_ratio, comparison.memory_baseline),
                    if comparison.goals_met {
                        "MET"
                    } else {
                        "NOT MET"
                    }
                );
            }
        }
        for failure in &self.failures {
            let _ = writeln!(
                out,
                "\nFAILED {} {} with {} clients: {}",
                failure.scenario, failure.server, failure.clients, failure.error
            );
        }
        out
    }
}

fn compare(
    scenario: &str,
    clients: usize,
    runs: &[&RunResult],
    with_latency: bool,
) -> Option<Comparison> {
    let of = |server: Protocol, key: fn(&RunResult) -> f64| {
        let values: Vec<f64> = runs
            .iter()
            .filter(|run| run.server == server)
            .map(|run| key(run))
            .collect();
        median(&values)
    };
    let confab_runs: Vec<&&RunResult> = runs
        .iter()
        .filter(|run| run.server == Protocol::Confab)
        .collect();
    if confab_runs.is_empty() {
        return None;
    }
    let mut baselines: Vec<Protocol> = Vec::new();
    for run in runs {
        if run.server != Protocol::Confab && !baselines.contains(&run.server) {
            baselines.push(run.server);
        }
    }
    let best_by = |key: fn(&RunResult) -> f64| {
        baselines
            .iter()
            .filter_map(|&server| Some((server, of(server, key)?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let ratio_to = |key: fn(&RunResult) -> f64| match (best_by(key), of(Protocol::Confab, key)) {
        (Some((server, best)), Some(confab)) if best > 0.0 => (Some(server), Some(confab / best)),
        _ => (None, None),
    };
    let (p99_baseline, p99_ratio) = if with_latency {
        ratio_to(|run| run.p99_ms)
    } else {
        (None, None)
    };
    let (memory_baseline, memory_ratio) = ratio_to(|run| run.mem_per_conn_bytes);
    let confab_zero_loss = confab_runs
        .iter()
        .all(|run| run.delivered == run.expected && run.failed_clients == 0);
    let goals_met = confab_zero_loss
        && (!with_latency || p99_ratio.is_some_and(|ratio| ratio <= P99_GOAL))
        && memory_ratio.is_some_and(|ratio| ratio <= MEMORY_GOAL);
    Some(Comparison {
        scenario: scenario.to_owned(),
        clients,
        confab_zero_loss,
        p99_baseline,
        p99_ratio,
        memory_baseline,
        memory_ratio,
        goals_met,
        runs_per_server: confab_runs.len(),
    })
}

/// The median (the mean of the middle two for an even count); `None` if empty.
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn header() -> String {
    format!(
        "{:<9} {:>5} {:>7} {:>24} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8}\n",
        "server",
        "nodes",
        "clients",
        "delivered/expected",
        "p50 ms",
        "p99 ms",
        "max ms",
        "KiB/conn",
        "srv CPU",
        "gen CPU"
    )
}

fn row(run: &RunResult) -> String {
    let share = if run.expected > 0 {
        run.delivered as f64 / run.expected as f64 * 100.0
    } else {
        0.0
    };
    let mut line = format!(
        "{:<9} {:>5} {:>7} {:>24} {:>8.2} {:>8.2} {:>8.1} {:>9.2} {:>9.2} {:>8.2}",
        run.server.to_string(),
        run.nodes,
        run.clients,
        format!("{}/{} ({share:.2}%)", run.delivered, run.expected),
        run.p50_ms,
        run.p99_ms,
        run.max_ms,
        run.mem_per_conn_bytes / 1024.0,
        run.server_cpu_cores,
        run.generator_cpu_cores
    );
    if run.server_errors > 0 || run.failed_clients > 0 || run.reordered > 0 {
        let _ = write!(
            line,
            "  [{} server errors, {} failed clients, {} reordered]",
            run.server_errors, run.failed_clients, run.reordered
        );
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_middle() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
    }
}
