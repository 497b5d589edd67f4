//! Child processes the tests need: the Confab server, chromedriver and geckodriver, all on
//! 127.0.0.1 with ports picked by the OS, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

use crate::{Env, eventually};

/// A running `confab-server`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
    /// Where it records relayed payloads, if asked to.
    pub relay_record: Option<PathBuf>,
}

/// The data directory (the mailbox) of the server on `port`.
fn data_dir(env: &Env, port: u16) -> PathBuf {
    env.out.join(format!("server-data-{port}"))
}

impl Server {
    /// Starts the server on a free port, optionally recording relayed payloads.
    pub async fn start(env: &Env, record_relay: bool) -> anyhow::Result<Server> {
        let port = free_port()?;
        // A new server starts with an empty mailbox; a restarted one keeps its own.
        let _ = std::fs::remove_dir_all(data_dir(env, port));
        Server::start_on(env, port, record_relay).await
    }

    /// Starts the server on a free port with more command-line arguments (e.g.
    /// `--ice-server`).
    pub async fn start_with(env: &Env, args: &[String]) -> anyhow::Result<Server> {
        let port = free_port()?;
        let _ = std::fs::remove_dir_all(data_dir(env, port));
        Server::launch(env, port, false, args).await
    }

    /// Starts one node of a scaled-out set: a server on a free port that shares rooms and
    /// the mailbox with the others through `nats`.
    pub async fn start_node(env: &Env, nats: &Nats) -> anyhow::Result<Server> {
        Server::start_with(env, &["--nats-url".to_owned(), nats.url()]).await
    }

    /// Starts the server on `port` (to restart it where clients expect it), with the data
    /// directory it had there.
    pub async fn start_on(env: &Env, port: u16, record_relay: bool) -> anyhow::Result<Server> {
        Server::launch(env, port, record_relay, &[]).await
    }

    async fn launch(
        env: &Env,
        port: u16,
        record_relay: bool,
        args: &[String],
    ) -> anyhow::Result<Server> {
        let relay_record = record_relay.then(|| env.out.join(format!("relay-{port}.bin")));
        let mut command = Command::new(&env.server_bin);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--dist")
            .arg(&env.dist)
            .arg("--data-dir")
            .arg(data_dir(env, port))
            // More detail with `CONFAB_E2E_SERVER_LOG=confab_server=debug`.
            .env(
                "RUST_LOG",
                std::env::var("CONFAB_E2E_SERVER_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .stdout(Stdio::null())
            .stderr(log_file(&env.out, &format!("server-{port}.log"))?)
            .kill_on_drop(true);
        command.args(args);
        if let Some(path) = &relay_record {
            let _ = std::fs::remove_file(path);
            command.arg("--dangerously-record-relay").arg(path);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", env.server_bin.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        wait_for_port(port)
            .await
            .context("confab-server did not start listening")?;
        Ok(Server {
            child,
            url,
            port,
            relay_record,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (SIGKILL: as abrupt as a crash).
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Everything the server relayed, concatenated.
    pub fn relayed_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let path = self
            .relay_record
            .as_ref()
            .context("server was not started with relay recording")?;
        Ok(std::fs::read(path).unwrap_or_default())
    }

    /// The data of every signal clients sent through the server, concatenated.
    pub fn signalled_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let path = self
            .relay_record
            .as_ref()
            .context("server was not started with relay recording")?;
        let mut signals = path.as_os_str().to_owned();
        signals.push(".signals");
        Ok(std::fs::read(signals).unwrap_or_default())
    }
}

/// A running `nats-server` with JetStream (Debian's package; `cargo xtask install` puts
/// it there), its store in the tests' output directory.
pub struct Nats {
    _child: Child,
    port: u16,
}

impl Nats {
    /// Starts one on a free port.
    pub async fn start(env: &Env) -> anyhow::Result<Nats> {
        let port = free_port()?;
        let store = env.out.join(format!("nats-{port}"));
        let _ = std::fs::remove_dir_all(&store);
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|path| Path::new(path).is_file())
            .unwrap_or("nats-server");
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(log_file(&env.out, &format!("nats-{port}.log"))?)
            .kill_on_drop(true)
            .spawn()
            .context(
                "starting nats-server (cargo xtask install, or apt-get install nats-server)",
            )?;
        wait_for_port(port)
            .await
            .context("nats-server did not start listening")?;
        Ok(Nats {
            _child: child,
            port,
        })
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// A value from the `/metrics` of the server on `port` (the first sample of `name`, which
/// may carry labels).
pub async fn metric(port: u16, name: &str) -> anyhow::Result<u64> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    response
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = rest.rsplit_once(' ')?.1;
            (rest.starts_with(' ') || rest.starts_with('{')).then(|| value.parse().ok())?
        })
        .with_context(|| format!("no {name} in the /metrics of :{port}"))
}

/// A running chromedriver.
pub struct Chromedriver {
    _child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Chromedriver {
    /// Starts `/usr/bin/chromedriver` on a free port.
    pub async fn start(env: &Env) -> anyhow::Result<Chromedriver> {
        let port = free_port()?;
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(log_file(&env.out, "chromedriver.log")?)
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting /usr/bin/chromedriver (apt-get install chromium-driver)")?;
        wait_for_port(port)
            .await
            .context("chromedriver did not start listening")?;
        Ok(Chromedriver {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

/// A running `geckodriver`: one per Firefox (it drives a single session at a time).
pub struct Geckodriver {
    _child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Where its output goes, Firefox's console included (see `Browser::open_firefox`).
    pub log: PathBuf,
}

impl Geckodriver {
    /// Starts `geckodriver` (from `PATH`, else `~/.cargo/bin`) on a free port, logging to
    /// `<out>/geckodriver-<name>.log`.
    pub async fn start(env: &Env, name: &str) -> anyhow::Result<Geckodriver> {
        Geckodriver::start_with(env, name, &[]).await
    }

    /// [`Geckodriver::start`] with more arguments (`--allow-system-access`).
    pub async fn start_with(env: &Env, name: &str, args: &[&str]) -> anyhow::Result<Geckodriver> {
        let port = free_port()?;
        let log_name = format!("geckodriver-{name}-{}.log", std::process::id());
        let log = env.out.join(&log_name);
        let _ = std::fs::remove_file(&log);
        let child = Command::new(geckodriver_bin())
            .arg(format!("--port={port}"))
            .arg("--host=127.0.0.1")
            .args(args)
            .stdout(log_file(&env.out, &log_name)?)
            .stderr(log_file(&env.out, &log_name)?)
            .kill_on_drop(true)
            .spawn()
            .context("starting geckodriver (cargo xtask install --browser)")?;
        wait_for_port(port)
            .await
            .context("geckodriver did not start listening")?;
        Ok(Geckodriver {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        })
    }
}

/// `geckodriver` on `PATH`, else where `cargo install` puts it.
fn geckodriver_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("geckodriver"))
            .find(|file| file.is_file())
    });
    on_path.unwrap_or_else(|| {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
            .unwrap_or_default();
        cargo_home.join("bin").join("geckodriver")
    })
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    eventually(
        &format!("127.0.0.1:{port} to accept connections"),
        || async move {
            Ok(tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<Stdio> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))?;
    Ok(Stdio::from(file))
}
