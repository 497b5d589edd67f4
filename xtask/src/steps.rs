//! A list of named steps for `test` and `bench`: each prints a header, runs
//! even if an earlier one failed, and ends up in a one-line-per-step summary.

use std::time::Instant;

use anyhow::{Result, bail};

pub(crate) struct Steps {
    command: &'static str,
    n_planned: usize,
    results: Vec<(String, f64, Result<()>)>,
}

impl Steps {
    /// `n_planned` only numbers the headers (`[2/4]`).
    pub(crate) fn new(command: &'static str, n_planned: usize) -> Steps {
        Steps {
            command,
            n_planned,
            results: Vec::new(),
        }
    }

    pub(crate) fn run(&mut self, name: &str, step: impl FnOnce() -> Result<()>) {
        let number = self.results.len() + 1;
        println!(
            "\n==> {} [{number}/{}] {name}",
            self.command, self.n_planned
        );
        let started = Instant::now();
        let result = step();
        let secs = started.elapsed().as_secs_f64();
        match &result {
            Ok(()) => println!("==> {name}: ok ({secs:.1}s)"),
            Err(err) => println!("==> {name}: FAILED ({secs:.1}s): {err:#}"),
        }
        self.results.push((name.to_owned(), secs, result));
    }

    /// Prints the summary; errors if any step failed.
    pub(crate) fn finish(self) -> Result<()> {
        println!("\n{} summary:", self.command);
        let mut n_failed = 0;
        for (name, secs, result) in &self.results {
            match result {
                Ok(()) => println!("  ok       {name} ({secs:.1}s)"),
                Err(err) => {
                    n_failed += 1;
                    println!("  FAILED   {name} ({secs:.1}s): {err:#}");
                }
            }
        }
        if n_failed > 0 {
            bail!(
                "{n_failed} of {} {} steps failed",
                self.results.len(),
                self.command
            );
        }
        Ok(())
    }
}
