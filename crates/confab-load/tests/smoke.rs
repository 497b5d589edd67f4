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
