//! `cargo xtask bench`: the benchmark suites, as steps. Add a suite by adding
//! a `steps.run(..)` call; browser benches come later.

use std::path::Path;

use anyhow::Result;
use xshell::{Shell, cmd};

use crate::{
    install::{self, Browser},
    steps::{Outcome, Steps},
};

pub(crate) fn run(sh: &Shell, root: &Path) -> Result<()> {
    // Browser benches will need chromium; install it now so adding them later
    // changes nothing here.
    install::run(sh, root, Browser::Needed)?;
    let mut steps = Steps::new("bench", 2);
    steps.run(
        "confab-core (criterion): cargo bench -p confab-core",
        || {
            cmd!(sh, "cargo bench -p confab-core").run()?;
            Ok(Outcome::Passed)
        },
    );
    steps.run("browser benches", || {
        Ok(Outcome::Skipped(
            "not written yet; they are added separately".to_owned(),
        ))
    });
    steps.finish()
}
