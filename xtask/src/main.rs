//! `cargo xtask`: Confab's build, test, tidy and bench automation, in Rust so a
//! fresh machine needs only cargo. Run `cargo xtask --help` for the commands.

mod bench;
mod boot_script;
mod build;
mod flags;
mod fuzz;
mod icons;
mod install;
mod lanes;
mod serve;
mod service_worker;
mod sim;
mod steps;
mod test;
mod tidy;
mod wasm_imports;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Result;
use xshell::{Shell, cmd};

use crate::flags::XtaskCmd;

/// Prints errors with their causes but without a backtrace, which only
/// shows xtask's own frames.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let flags = flags::Xtask::from_env_or_exit();
    let sh = Shell::new()?;
    let root = project_root();
    sh.change_dir(&root);
    match flags.subcommand {
        XtaskCmd::Install(cmd) => {
            let browser = if cmd.browser {
                install::Browser::Needed
            } else {
                install::Browser::NotNeeded
            };
            install::run(&sh, &root, browser)
        }
        XtaskCmd::Build(cmd) => {
            install::run(&sh, &root, install::Browser::NotNeeded)?;
            if cmd.check_reproducible {
                return build::check_reproducible(&sh, &root, None);
            }
            let dist = match cmd.dist {
                Some(dist) => std::env::current_dir()?.join(dist),
                None => root.join("dist"),
            };
            build::run(&sh, &root, &dist)
        }
        XtaskCmd::Icons(_) => icons::run(&root),
        XtaskCmd::Serve(cmd) => serve::run(&sh, &root, cmd.listen, cmd.server_args),
        XtaskCmd::Test(cmd) => test::run(&sh, &root, cmd.fast),
        XtaskCmd::Tidy(_) => tidy::run(&sh, &root),
        XtaskCmd::Sim(cmd) if cmd.governance => sim::governance(&sh, cmd.seeds.unwrap_or(1_000)),
        XtaskCmd::Sim(cmd) => {
            let seeds = cmd.seeds.unwrap_or(10_000).to_string();
            cmd!(sh, "cargo test -p confab-core --test sim room::")
                .env("CONFAB_SIM_SEEDS", seeds)
                .run()?;
            Ok(())
        }
        XtaskCmd::Bench(_) => bench::run(&sh, &root),
        XtaskCmd::Fuzz(cmd) => fuzz::run(
            &sh,
            &root,
            &cmd.target,
            fuzz::Budget {
                secs: cmd.secs.unwrap_or(if cmd.runs.is_some() { 0 } else { 60 }),
                runs: cmd.runs,
            },
            fuzz::Options {
                cmin: cmd.cmin,
                sanitizer: !cmd.no_sanitizer,
            },
        ),
    }
}

/// The workspace root: the parent of `xtask/`.
fn project_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}
