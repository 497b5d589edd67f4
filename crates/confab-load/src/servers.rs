//! The servers under test, as child processes on 127.0.0.1 with ports picked by the OS,
//! killed when dropped: `confab-server` (one node, or two sharing rooms through a
//! `nats-server`), and the npm packages y-webrtc and peer (PeerJS), which
//! [`npm_install`] puts in a directory of their own at pinned versions.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

use crate::protocol::Protocol;
use crate::scenario::Target;

/// The npm packages, pinned. `ws` is y-webrtc's server's (optional) dependency.
pub const NPM_PACKAGES: &[&str] = &["y-webrtc@10.3.0", "peer@1.0.2", "ws@8.23.0"];

/// How long a server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Loaded before the node servers: a listen without a host binds 127.0.0.1, not every
/// interface (y-webrtc's server.js calls `server.listen(port)`).
const LOOPBACK_PRELOAD: &str = r#"// Written by confab-load: bind to loopback when no host is given.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if ((typeof args[0] === 'number' || /^\d+$/.test(String(args[0]))) && typeof args[1] !== 'string') {
    args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
"#;

/// Where the server programs are.
#[derive(Clone, Debug)]
pub struct Programs {
    pub confab_server: PathBuf,
    /// The `--prefix` of [`npm_install`]: holds `node_modules/`.
    pub node_dir: PathBuf,
    pub node: PathBuf,
    pub nats_server: PathBuf,
    /// Server logs go here.
    pub log_dir: PathBuf,
}

/// Running server processes, killed on drop.
pub struct Running {
    pub target: Target,
    children: Vec<Child>,
    _dirs: Vec<TempDir>,
}

/// Installs [`NPM_PACKAGES`] into `dir/node_modules` unless they are there already.
/// Needs the npm registry (run it outside the benchmark's network namespace).
pub fn npm_install(dir: &Path) -> anyhow::Result<()> {
    if npm_installed(dir) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let status = std::process::Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(dir)
        .args(["--no-audit", "--no-fund", "--save-exact"])
        .args(NPM_PACKAGES)
        .status()
        .context("running npm (is node installed?)")?;
    if !status.success() {
        bail!("npm install {} failed: {status}", NPM_PACKAGES.join(" "));
    }
    if !npm_installed(dir) {
        bail!(
            "npm install finished but {} lacks the packages",
            dir.display()
        );
    }
    Ok(())
}

/// Whether `dir/node_modules` holds every package at its pinned version.
pub fn npm_installed(dir: &Path) -> bool {
    NPM_PACKAGES.iter().all(|spec| {
        let Some((name, version)) = spec.rsplit_once('@') else {
            return false;
        };
        let manifest = dir.join("node_modules").join(name).join("package.json");
        std::fs::read_to_string(manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|json| json["version"] == version)
    })
}

impl Programs {
    /// One server for `protocol`.
    pub async fn start(&self, protocol: Protocol) -> anyhow::Result<Running> {
        match protocol {
            Protocol::Confab => self.start_confab(None, &[]).await,
            Protocol::YWebrtc => {
                let script = self.node_dir.join("node_modules/y-webrtc/bin/server.js");
                self.start_node(protocol, &script, |_| Vec::new(), true)
                    .await
            }
            Protocol::Peerjs => {
                let script = self.node_dir.join("node_modules/peer/dist/bin/peerjs.js");
                let args = |port: u16| {
                    [
                        "--port",
                        &port.to_string(),
                        "--host",
                        "127.0.0.1",
                        // The default refuses clients beyond 5,000.
                        "--concurrent_limit",
                        "1000000",
                        // Heartbeats are not part of the load; keep silent clients.
                        "--alive_timeout",
                        "3600000",
                    ]
                    .map(String::from)
                    .to_vec()
                };
                self.start_node(protocol, &script, args, false).await
            }
        }
    }

    /// `n_nodes` confab-server nodes sharing rooms through one `nats-server` (JetStream
    /// on, for the mailbox). Only the confab nodes are measured.
    pub async fn start_confab_cluster(&self, n_nodes: usize) -> anyhow::Result<Running> {
        let store = tempfile::tempdir()?;
        let port = free_port()?;
        let log = self.log_file("nats-server.log")?;
        let nats = Command::new(&self.nats_server)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.nats_server.display()))?;
        wait_for_port(port).await.context("nats-server")?;
        let url = format!("nats://127.0.0.1:{port}");
        let mut cluster = Running {
            target: Target {
                addrs: Vec::new(),
                pids: Vec::new(),
            },
            children: vec![nats],
            _dirs: vec![store],
        };
        for _ in 0..n_nodes {
            let node = self.start_confab(Some(&url), &[]).await?;
            wait_nats_connected(node.target.addrs[0]).await?;
            cluster.absorb(node);
        }
        Ok(cluster)
    }

    /// One confab-server with `extra` flags (the abuse scenario's).
    pub async fn start_confab_with(&self, extra: &[String]) -> anyhow::Result<Running> {
        self.start_confab(None, extra).await
    }

    async fn start_confab(
        &self,
        nats_url: Option<&str>,
        extra: &[String],
    ) -> anyhow::Result<Running> {
        let dir = tempfile::tempdir()?;
        let dist = dir.path().join("dist");
        std::fs::create_dir_all(&dist)?;
        std::fs::write(dist.join("index.html"), "<!doctype html>")?;
        let port = free_port()?;
        let mut command = Command::new(&self.confab_server);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--dist")
            .arg(&dist)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            // Every client comes from a few loopback addresses; the per-address cap
            // (64) is for the internet, not this benchmark.
            .arg("--max-connections-per-ip=1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(self.log_file(&format!("confab-server-{port}.log"))?)
            .kill_on_drop(true);
        if let Some(url) = nats_url {
            command.arg("--nats-url").arg(url);
        }
        command.args(extra);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.confab_server.display()))?;
        Running::listening(child, port, vec![dir]).await
    }

    async fn start_node(
        &self,
        protocol: Protocol,
        script: &Path,
        args: impl FnOnce(u16) -> Vec<String>,
        port_from_env: bool,
    ) -> anyhow::Result<Running> {
        if !script.is_file() {
            bail!(
                "{} is missing: run `confab-load-bench --install-only` (npm) first",
                script.display()
            );
        }
        let dir = tempfile::tempdir()?;
        let preload = dir.path().join("loopback.cjs");
        std::fs::write(&preload, LOOPBACK_PRELOAD)?;
        let port = free_port()?;
        let mut command = Command::new(&self.node);
        command
            .arg("--require")
            .arg(&preload)
            .arg(script)
            .args(args(port))
            .current_dir(&self.node_dir)
            // PeerJS logs every connection on stdout; that cost is part of it as shipped,
            // but the text is not wanted.
            .stdout(Stdio::null())
            .stderr(self.log_file(&format!("{protocol}-{port}.log"))?)
            .kill_on_drop(true);
        if port_from_env {
            command.env("PORT", port.to_string());
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.node.display()))?;
        Running::listening(child, port, vec![dir]).await
    }

    fn log_file(&self, name: &str) -> anyhow::Result<std::fs::File> {
        std::fs::create_dir_all(&self.log_dir)?;
        let path = self.log_dir.join(name);
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))
    }
}

impl Running {
    async fn listening(mut child: Child, port: u16, dirs: Vec<TempDir>) -> anyhow::Result<Running> {
        let pid = child.id().context("the server exited at once")?;
        if let Err(err) = wait_for_port(port).await {
            let _ = child.kill().await;
            return Err(err);
        }
        // Memory is read from /proc: the process must be the server itself, not a wrapper.
        Ok(Running {
            target: Target {
                addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
                pids: vec![pid],
            },
            children: vec![child],
            _dirs: dirs,
        })
    }

    fn absorb(&mut self, other: Running) {
        self.target.addrs.extend(other.target.addrs);
        self.target.pids.extend(other.target.pids);
        self.children.extend(other.children);
        self._dirs.extend(other._dirs);
    }

    /// Fails if a server process has exited (crashed under load).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for child in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("a server process exited: {status}");
            }
        }
        Ok(())
    }

    /// Kills every process and waits for them.
    pub async fn stop(mut self) {
        for child in &mut self.children {
            let _ = child.kill().await;
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() >= deadline {
            bail!("nothing listens on 127.0.0.1:{port} after {START_TIMEOUT:?}");
        }
        sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Waits until the node's `/metrics` says `confab_nats_connected 1`.
async fn wait_nats_connected(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Ok(body)) = timeout(Duration::from_secs(2), http_get(addr, "/metrics")).await
            && body.contains("\nconfab_nats_connected 1\n")
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("confab-server on {addr} never connected to NATS");
        }
        sleep(Duration::from_millis(100)).await;
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}
