//! `cargo xtask serve`: release build, then replace this process with
//! `confab-server` serving `dist/`.

use std::{ffi::OsString, path::Path, process::Command};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::{build, install};

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub(crate) fn run(
    sh: &Shell,
    root: &Path,
    listen: Option<String>,
    server_args: Vec<OsString>,
) -> Result<()> {
    install::run(sh, root, install::Browser::NotNeeded)?;
    build::run(sh, root, &root.join("dist"))?;
    // An explicit --listen wins; otherwise the server reads CONFAB_LISTEN itself.
    let listen = listen.or_else(|| {
        if sh.var_os("CONFAB_LISTEN").is_some() {
            None
        } else {
            Some(DEFAULT_LISTEN.to_owned())
        }
    });
    let server = root.join("target").join("release").join("confab-server");
    let mut command = Command::new(&server);
    command
        .current_dir(root)
        .arg("--dist")
        .arg(root.join("dist"));
    let shown = match &listen {
        Some(listen) => {
            command.arg("--listen").arg(listen);
            listen.clone()
        }
        None => sh.var("CONFAB_LISTEN").unwrap_or_default(),
    };
    command.args(&server_args);
    println!("serve: http://{shown}/  (Ctrl-C stops)");
    exec(command).with_context(|| format!("starting {}", server.display()))
}

#[cfg(unix)]
fn exec(mut command: Command) -> Result<()> {
    use std::os::unix::process::CommandExt;
    // Only returns on failure.
    Err(command.exec().into())
}

#[cfg(not(unix))]
fn exec(mut command: Command) -> Result<()> {
    let status = command.status()?;
    anyhow::ensure!(status.success(), "confab-server exited with {status}");
    Ok(())
}
