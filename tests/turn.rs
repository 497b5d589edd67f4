//! TURN: two browsers that may only use relay candidates (`?ice=relay`, i.e.
//! `iceTransportPolicy: "relay"`) chat over a direct WebRTC link through a local coturn
//! (Debian's `turnserver`) that confab-server names in `welcome` (`--ice-server
//! turn:user:pass@host:port`). First, with coturn not running, no direct link can form and
//! they fall back to the server's relay: the policy really is "relay only". Then coturn
//! starts, they reload, and the link is direct, through coturn, whose log shows the
//! allocations.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Server, eventually};
use tokio::process::{Child, Command};

const TURNSERVER: &str = "/usr/bin/turnserver";
const USER: &str = "confab";
const PASSWORD: &str = "turn-test-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_goes_through_a_local_turn_server_when_only_relays_are_allowed() -> anyhow::Result<()>
{
    anyhow::ensure!(
        Path::new(TURNSERVER).exists(),
        "{TURNSERVER} is missing: `cargo xtask test` installs Debian's coturn"
    );
    let env = Env::from_env()?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let bob = Browser::open(&chromedriver, &env, "bob").await?;
    let turn_port = free_udp_and_tcp_port()?;
    let outcome = scenario(&env, &alice, &bob, turn_port).await;
    if outcome.is_err() {
        for browser in [&alice, &bob] {
            browser
                .screenshot(&env, &format!("turn-{}-failure.png", browser.name))
                .await
                .ok();
            for line in browser.console_all().await.unwrap_or_default() {
                eprintln!("{}: {line}", browser.name);
            }
        }
    }
    alice.quit().await.ok();
    bob.quit().await.ok();
    outcome
}

async fn scenario(env: &Env, alice: &Browser, bob: &Browser, turn_port: u16) -> anyhow::Result<()> {
    let ice = format!("turn:{USER}:{PASSWORD}@127.0.0.1:{turn_port}");
    let server = Server::start_with(env, &["--ice-server".into(), ice]).await?;

    // No TURN server yet: relay-only ICE finds no path; the server's relay carries the chat.
    let a = alice
        .open_chat(&format!("{}/?ice=relay", server.url))
        .await?;
    let invite = with_turn_only(&a.invite_link().await?);
    let b = bob.open_chat(&invite).await?;
    for page in [&a, &b] {
        wait_path(page, "via relay").await?;
    }
    a.send("over the server's relay").await?;
    b.wait_for_messages(&["over the server's relay"]).await?;

    // coturn starts; after a reload both links go direct, through it.
    let log = env.out.join("turnserver.log");
    let _turn = start_turn(turn_port, &log).await?;
    alice.driver().refresh().await?;
    bob.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    let b = bob.open_page_current().await?;
    for page in [&a, &b] {
        page.by_role("textbox", "Message").await?;
        wait_path(page, "direct").await?;
    }
    b.send("through TURN").await?;
    a.wait_for_messages(&["over the server's relay", "through TURN"])
        .await?;
    a.send("and back").await?;
    b.wait_for_messages(&["over the server's relay", "through TURN", "and back"])
        .await?;
    alice.screenshot(env, "turn-alice.png").await?;

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let allocations = text.matches("ALLOCATE processed, success").count();
    anyhow::ensure!(
        allocations >= 2,
        "coturn allocated {allocations} relays (expected one per browser at least):\n{text}"
    );
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// The invite link with `?ice=relay` before its `#fragment`.
fn with_turn_only(invite: &str) -> String {
    match invite.split_once('#') {
        Some((base, fragment)) => format!("{base}?ice=relay#{fragment}"),
        None => format!("{invite}?ice=relay"),
    }
}

/// Waits until the page's one member row says `path` ("direct" or "via relay").
async fn wait_path(page: &ChatPage<'_>, path: &str) -> anyhow::Result<()> {
    eventually(&format!("an encrypted {path} link"), || async {
        let members = page.members().await?;
        Ok(members
            .iter()
            .any(|m| m.is_online() && m.text.contains(&format!("encrypted ({path})")))
            .then_some(()))
    })
    .await
}

/// coturn on 127.0.0.1:`port` with one long-term user, relaying between loopback
/// addresses (which it refuses by default), logging to `log`.
async fn start_turn(port: u16, log: &Path) -> anyhow::Result<Child> {
    let _ = std::fs::remove_file(log);
    let child = Command::new(TURNSERVER)
        .args([
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            &format!("--listening-port={port}"),
            "--min-port=49200",
            "--max-port=49400",
            "--lt-cred-mech",
            &format!("--user={USER}:{PASSWORD}"),
            "--realm=confab.test",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",
            "--simple-log",
            "--verbose",
            &format!("--log-file={}", log.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting turnserver")?;
    eventually("coturn listening", || async {
        Ok(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ()))
    })
    .await?;
    // Its UDP socket opens with the TCP one; give it a moment all the same.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(child)
}

/// A port free for both TCP and UDP on 127.0.0.1.
fn free_udp_and_tcp_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no port free for both TCP and UDP")
}
