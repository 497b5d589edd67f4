//! `confab-load-bench`: the server load benchmark. Starts each server on 127.0.0.1, runs
//! the scenarios against it, writes `load.json` and prints a table. Run through
//! `cargo xtask bench` (it builds the release server, installs the npm baselines and
//! runs this in a loopback-only network namespace), or directly for one scenario:
//!
//! ```text
//! confab-load-bench --install-only                      # npm packages (needs the registry)
//! confab-load-bench --only traffic --servers confab --clients 200 --secs 5
//! CONFAB_LOAD_ONLY=idle confab-load-bench --idle-clients 10000
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use confab_load::protocol::{PAYLOAD_PAD, Protocol};
use confab_load::report::{ClusterRun, Failure, IdleRun, Machine, Report, Settings};
use confab_load::scenario::{self, RunConfig};
use confab_load::servers::{self, Programs};
use confab_load::{RunResult, proc_stats};

/// What `--only` may name.
const SCENARIOS: &[&str] = &["traffic", "idle", "cluster", "abuse"];

/// File descriptors kept free for everything but client connections.
const FD_MARGIN: u64 = 300;

#[derive(Parser, Debug)]
#[command(
    name = "confab-load-bench",
    about = "Confab's server load benchmark (loopback only)"
)]
struct Args {
    /// Only install the npm baselines into --node-dir, then exit.
    #[arg(long)]
    install_only: bool,
    /// Scenarios to run: traffic, idle, cluster, abuse (comma-separated). Not CONFAB_BENCH_ONLY:
    /// that one picks parts of the browser bench, which refuses names it does not know.
    #[arg(
        long,
        env = "CONFAB_LOAD_ONLY",
        value_delimiter = ',',
        default_value = "traffic,idle,cluster,abuse"
    )]
    only: Vec<String>,
    /// Attacking clients of the abuse scenario (each from an address of its own).
    #[arg(long, default_value_t = 100)]
    abuse_flooders: usize,
    /// Servers for the traffic runs.
    #[arg(long, value_delimiter = ',', default_value = "confab,y-webrtc,peerjs")]
    servers: Vec<Protocol>,
    /// Client counts for the traffic runs.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    clients: Vec<usize>,
    /// Messages per second, all clients together.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20.0)]
    secs: f64,
    /// Seconds to wait for late deliveries after the last send.
    #[arg(long, default_value_t = 10.0)]
    drain_secs: f64,
    #[arg(long, default_value_t = 5)]
    room_size: usize,
    /// Idle connections (fewer if the open-file limit does not allow them; then it says so).
    #[arg(long, default_value_t = 50_000)]
    idle_clients: usize,
    /// Servers for the idle run.
    #[arg(long, value_delimiter = ',', default_value = "confab,y-webrtc,peerjs")]
    idle_servers: Vec<Protocol>,
    /// Runs of each traffic and cluster configuration, interleaved (A B C A B C ..); the
    /// comparison uses each server's median, so one run disturbed by other work on the
    /// machine does not decide it.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Clients of the 2-node against 1-node comparison.
    #[arg(long, default_value_t = 1000)]
    cluster_clients: usize,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    #[arg(
        long,
        env = "CONFAB_SERVER_BIN",
        default_value = "target/release/confab-server"
    )]
    confab_server: PathBuf,
    /// Where the npm packages are (installed there if missing).
    #[arg(long, env = "CONFAB_BENCH_NODE_DIR", default_value = "target/bench")]
    node_dir: PathBuf,
    #[arg(long, env = "CONFAB_NODE", default_value = "node")]
    node: PathBuf,
    #[arg(long, env = "CONFAB_NATS_SERVER", default_value = "nats-server")]
    nats_server: PathBuf,
    /// The results file.
    #[arg(
        long,
        env = "CONFAB_BENCH_OUT",
        default_value = "target/bench/load.json"
    )]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.install_only {
        return servers::npm_install(&args.node_dir);
    }
    let nofile_limit = proc_stats::raise_nofile_limit()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // On Ctrl-C or SIGTERM the bench future is dropped, and with it every server process
    // (kill on drop); a signal's default action would leave them running.
    let report = runtime.block_on(async {
        tokio::select! {
            report = bench(&args, nofile_limit) => report,
            signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
        }
    })?;
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("\n{}", report.table());
    println!("results: {}", args.out.display());
    // Kill stragglers' sockets without waiting for every task's cleanup.
    runtime.shutdown_timeout(Duration::from_secs(5));
    anyhow::ensure!(
        report.failures.is_empty(),
        "{} run(s) could not be made",
        report.failures.len()
    );
    Ok(())
}

async fn bench(args: &Args, nofile_limit: u64) -> anyhow::Result<Report> {
    for only in &args.only {
        anyhow::ensure!(
            SCENARIOS.contains(&only.as_str()),
            "no scenario {only:?} ({})",
            SCENARIOS.join(", ")
        );
    }
    let wants = |scenario: &str| args.only.iter().any(|only| only == scenario);
    let programs = Programs {
        confab_server: args.confab_server.clone(),
        node_dir: args.node_dir.clone(),
        node: find_program(&args.node),
        nats_server: find_program(&args.nats_server),
        log_dir: args.out.with_file_name("load-logs"),
    };
    let needs_node = (wants("traffic") && args.servers.iter().any(|s| *s != Protocol::Confab))
        || (wants("idle") && args.idle_servers.iter().any(|s| *s != Protocol::Confab));
    if needs_node && !servers::npm_installed(&args.node_dir) {
        println!(
            "installing {} into {}",
            servers::NPM_PACKAGES.join(" "),
            args.node_dir.display()
        );
        servers::npm_install(&args.node_dir)?;
    }
    let mut report = Report {
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            nofile_limit,
            loadavg_at_start: scenario::loadavg(),
            loadavg_at_end: 0.0,
        },
        settings: Settings {
            rate_per_sec: args.rate,
            send_secs: args.secs,
            drain_secs: args.drain_secs,
            room_size: args.room_size,
            payload_pad_chars: PAYLOAD_PAD,
        },
        ..Report::default()
    };
    let max_clients = usize::try_from(nofile_limit.saturating_sub(FD_MARGIN)).unwrap_or(usize::MAX);
    let mut run_id = std::process::id();
    let mut config = |protocol: Protocol, clients: usize, rate: f64| {
        run_id = run_id.wrapping_add(1);
        RunConfig {
            protocol,
            clients,
            room_size: args.room_size,
            rate,
            send_for: Duration::from_secs_f64(args.secs),
            drain: Duration::from_secs_f64(args.drain_secs),
            run: run_id,
            connect_concurrency: args.connect_concurrency,
        }
    };

    if wants("traffic") {
        for &clients in &args.clients {
            for _ in 0..args.repeat {
                for &server in &args.servers {
                    let run = config(server, clients, args.rate);
                    let result = if clients > max_clients {
                        Err(anyhow::anyhow!(
                            "{clients} clients need more file descriptors than RLIMIT_NOFILE {nofile_limit} allows"
                        ))
                    } else {
                        one_run(&programs, &run, 1).await
                    };
                    record(
                        &mut report.traffic,
                        &mut report.failures,
                        "traffic",
                        &run,
                        result,
                    );
                }
            }
        }
    }
    if wants("idle") {
        let clients = args.idle_clients.min(max_clients) / args.room_size * args.room_size;
        let limited_by = (clients < args.idle_clients).then(|| {
            format!(
                "{} requested; RLIMIT_NOFILE is {nofile_limit} (hard) for the server process and the generator",
                args.idle_clients
            )
        });
        for &server in &args.idle_servers {
            let run = config(server, clients, 0.0);
            match one_run(&programs, &run, 1).await {
                Ok(result) => {
                    println!("{}", summary("idle", &result));
                    report.idle.push(IdleRun {
                        requested_clients: args.idle_clients,
                        limited_by: limited_by.clone(),
                        result,
                    });
                }
                Err(err) => report.failures.push(failure("idle", &run, &err)),
            }
        }
    }
    if wants("cluster") {
        for _ in 0..args.repeat {
            let one = config(Protocol::Confab, args.cluster_clients, args.rate);
            let two = config(Protocol::Confab, args.cluster_clients, args.rate);
            match (
                one_run(&programs, &one, 1).await,
                one_run(&programs, &two, 2).await,
            ) {
                (Ok(one_node), Ok(two_nodes)) => {
                    println!(
                        "{}\n{}",
                        summary("cluster", &one_node),
                        summary("cluster", &two_nodes)
                    );
                    report.cluster.push(ClusterRun {
                        added_p50_ms: two_nodes.p50_ms - one_node.p50_ms,
                        added_p99_ms: two_nodes.p99_ms - one_node.p99_ms,
                        one_node,
                        two_nodes,
                    });
                }
                (one_result, two_result) => {
                    if let Err(err) = one_result {
                        report
                            .failures
                            .push(failure("cluster (1 node)", &one, &err));
                    }
                    if let Err(err) = two_result {
                        report
                            .failures
                            .push(failure("cluster (2 nodes)", &two, &err));
                    }
                }
            }
        }
    }
    if wants("abuse") {
        match abuse_run(&programs, args.abuse_flooders).await {
            Ok(result) => {
                println!(
                    "    abuse confab {} flooders: real room deposits {}/{} stored ({} kept), chat p50/p99 {:.2}/{:.2} ms alone, {:.2}/{:.2} ms attacked, its deposits answered in p50/p99 {:.2}/{:.2} ms, server peak RSS {:.1} MiB of a {:.0} MiB budget",
                    args.abuse_flooders,
                    result.real_deposits_accepted,
                    result.real_deposits_attempted,
                    result.real_entries_fetched,
                    result.chat_p50_ms_alone,
                    result.chat_p99_ms_alone,
                    result.chat_p50_ms_attacked,
                    result.chat_p99_ms_attacked,
                    result.deposit_p50_ms_attacked,
                    result.deposit_p99_ms_attacked,
                    result.server_peak_rss_bytes as f64 / 1048576.0,
                    result.memory_budget_bytes as f64 / 1048576.0,
                );
                report.abuse.push(result);
            }
            Err(err) => {
                let run = config(Protocol::Confab, args.abuse_flooders, 0.0);
                println!("abuse FAILED: {err:#}");
                report.failures.push(failure("abuse", &run, &err));
            }
        }
    }
    report.machine.loadavg_at_end = scenario::loadavg();
    report.compare();
    Ok(report)
}

/// Resolves on SIGINT or SIGTERM, naming it (never, if neither can be listened for).
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        },
        _ => std::future::pending().await,
    }
}

/// The abuse scenario against a release server of its own: a 256 MiB mailbox, 16 MiB per
/// address, the default memory budget; fails if the real room was denied anything or the
/// server went over its budget.
async fn abuse_run(
    programs: &Programs,
    flooders: usize,
) -> anyhow::Result<confab_load::abuse::AbuseResult> {
    use confab_load::abuse::{self, AbuseConfig};
    println!("--> confab abuse: {flooders} flooders");
    let budget = confab_server_default_budget();
    let extra = [
        "--trust-forwarded-for".to_owned(),
        format!("--mailbox-max-bytes={}", 256u64 << 20),
        format!("--mailbox-max-bytes-per-ip={}", 16u64 << 20),
        format!("--memory-budget={budget}"),
    ];
    let mut running = programs.start_confab_with(&extra).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let config = AbuseConfig {
        flooders,
        flood_deposits: 40,
        flood_entry_bytes: 64 * 1024 - 64,
        flood_envelopes: 400,
        slow_read_every: Duration::from_millis(100),
        chat_messages: 200,
        real_deposits: 100,
        chat_every: Duration::from_millis(25),
        memory_budget: budget,
    };
    let result = abuse::run(running.target.addrs[0], running.target.pids[0], &config).await;
    let alive = running.check_alive();
    running.stop().await;
    let result = result?;
    alive?;
    anyhow::ensure!(
        result.real_deposits_accepted == result.real_deposits_attempted
            && result.real_entries_fetched == result.real_deposits_accepted,
        "the real room was denied: {result:?}"
    );
    anyhow::ensure!(
        result.server_peak_rss_bytes < budget,
        "the server went over its memory budget: {result:?}"
    );
    Ok(result)
}

/// The server's default `--memory-budget` (512 MiB), stated here for the run.
fn confab_server_default_budget() -> u64 {
    512 << 20
}

/// Starts the server(s), runs, stops them.
async fn one_run(
    programs: &Programs,
    run: &RunConfig,
    n_nodes: usize,
) -> anyhow::Result<RunResult> {
    println!(
        "--> {} x{n_nodes}: {} clients, {} msg/s",
        run.protocol, run.clients, run.rate
    );
    let mut running = if n_nodes > 1 {
        programs.start_confab_cluster(n_nodes).await?
    } else {
        programs.start(run.protocol).await?
    };
    // Let the server finish starting up before its baseline memory is read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let result = scenario::run(run, &running.target).await;
    let alive = running.check_alive();
    running.stop().await;
    let result = result?;
    alive?;
    Ok(result)
}

/// A bare program name looked up on PATH, then in /usr/sbin and /usr/bin (Debian's
/// nats-server lives in /usr/sbin, which a user's PATH may lack).
fn find_program(name: &std::path::Path) -> PathBuf {
    if name.components().count() > 1 {
        return name.to_owned();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| name.to_owned())
}

fn record(
    results: &mut Vec<RunResult>,
    failures: &mut Vec<Failure>,
    scenario: &str,
    run: &RunConfig,
    result: anyhow::Result<RunResult>,
) {
    match result {
        Ok(result) => {
            println!("{}", summary(scenario, &result));
            results.push(result);
        }
        Err(err) => {
            println!(
                "{scenario} {} {} clients FAILED: {err:#}",
                run.protocol, run.clients
            );
            failures.push(failure(scenario, run, &err));
        }
    }
}

fn failure(scenario: &str, run: &RunConfig, err: &anyhow::Error) -> Failure {
    Failure {
        scenario: scenario.to_owned(),
        server: run.protocol,
        clients: run.clients,
        error: format!("{err:#}"),
    }
}

fn summary(scenario: &str, run: &RunResult) -> String {
    format!(
        "    {scenario} {} x{} {} clients: {}/{} delivered, p50 {:.2} ms, p99 {:.2} ms, {:.2} KiB/conn, server CPU {:.2}, connect {:.1} s",
        run.server,
        run.nodes,
        run.clients,
        run.delivered,
        run.expected,
        run.p50_ms,
        run.p99_ms,
        run.mem_per_conn_bytes / 1024.0,
        run.server_cpu_cores,
        run.connect_secs
    )
}
