//! The load generator against an in-process `confab-server`, small and fast, so the tool
//! keeps working between benchmark runs: 50 clients in rooms of 5, 2 s of messages,
//! every one delivered, latencies sane.

use std::time::Duration;

use confab_load::{Protocol, RunConfig, Target, scenario};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_lose_nothing_against_confab() {
    confab_load::proc_stats::raise_nofile_limit().unwrap();
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), "<!doctype html>").unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = confab_server::Config {
        dist: dist.path().to_owned(),
        data_dir: data.path().to_owned(),
        max_connections_per_ip: 1000.try_into().unwrap(),
        ..confab_server::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(confab_server::run(config, listener, async move {
        let _ = stopped.await;
    }));

    let run = RunConfig {
        protocol: Protocol::Confab,
        clients: 50,
        room_size: 5,
        rate: 100.0,
        send_for: Duration::from_secs(2),
        drain: Duration::from_secs(5),
        run: 1,
        connect_concurrency: 50,
    };
    // The server runs in this process, so memory and CPU include the generator's.
    let target = Target {
        addrs: vec![addr],
        pids: vec![std::process::id()],
    };
    let result = tokio::time::timeout(Duration::from_secs(60), scenario::run(&run, &target))
        .await
        .expect("the run ends by itself")
        .unwrap();

    // 100 messages/s for 2 s over 50 clients: 4 each, to 4 members each.
    assert_eq!(result.messages_sent, 200, "{result:#?}");
    assert_eq!(result.frames_sent, 800, "{result:#?}");
    assert_eq!(result.expected, 800, "{result:#?}");
    assert_eq!(result.delivered, result.expected, "{result:#?}");
    assert_eq!(result.failed_clients, 0, "{result:#?}");
    assert_eq!(result.server_errors, 0, "{result:#?}");
    assert_eq!(result.reordered, 0, "{result:#?}");
    assert!(
        result.p50_ms > 0.0 && result.p50_ms <= result.p99_ms,
        "{result:#?}"
    );
    assert!(result.p99_ms < 1000.0, "{result:#?}");
    assert!(result.rss_connected_bytes > 0, "{result:#?}");
    assert!(result.server_cpu_cores >= 0.0, "{result:#?}");

    drop(stop);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// The abuse scenario, small: 20 flooders from addresses of their own fill a 1 MiB
/// mailbox from fresh room ids and relay to slow readers while a real room deposits and
/// chats; every deposit of the real room is stored and kept, every chat message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_does_not_deny_a_real_room() {
    use confab_load::abuse::{self, AbuseConfig};
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), "<!doctype html>").unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = confab_server::Config {
        dist: dist.path().to_owned(),
        data_dir: data.path().to_owned(),
        trust_forwarded_for: true,
        mailbox_max_bytes: 1 << 20,
        mailbox_max_bytes_per_ip: 128 << 10,
        ..confab_server::Config::default()
    };
    let memory_budget = config.memory_budget;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(confab_server::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let run = AbuseConfig {
        flooders: 20,
        flood_deposits: 10,
        flood_entry_bytes: 16 * 1024,
        flood_envelopes: 40,
        slow_read_every: Duration::from_millis(50),
        chat_messages: 20,
        real_deposits: 10,
        chat_every: Duration::from_millis(20),
        memory_budget,
    };
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        abuse::run(addr, std::process::id(), &run),
    )
    .await
    .expect("the run ends by itself")
    .unwrap();
    eprintln!("{result:#?}");
    assert_eq!(result.real_deposits_accepted, 10, "{result:#?}");
    assert_eq!(result.real_entries_fetched, 10, "{result:#?}");
    assert_eq!(result.chat_delivered_attacked, 20, "{result:#?}");
    assert_eq!(result.chat_delivered_alone, 20, "{result:#?}");
    // 200 flood deposits of 16 KiB: more than the store holds, and all stored (pushing
    // out only flood entries).
    assert_eq!(result.flood_deposits_stored, 200, "{result:#?}");
    // In-process, the RSS is the test's and the server's together.
    assert!(result.server_peak_rss_bytes < memory_budget, "{result:#?}");
    drop(stop);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
