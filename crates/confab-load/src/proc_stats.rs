//! What the benchmark reads about processes from `/proc`: resident memory and CPU time,
//! and the open-file limit it raises for itself and the servers it starts.

use std::time::Instant;

use anyhow::{Context as _, bail};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Resident memory (`VmRSS`) of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident memory (`VmHWM`) of `pid`, in bytes.
pub fn peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM:").map(|kib| kib * 1024)
}

/// User plus system CPU time `pid` has used, in seconds (`/proc/PID/stat` fields 14, 15).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may hold spaces; it ends at the last ')'.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} has no ')'"))?;
    // after_name starts with field 3 (state); utime and stime are fields 14 and 15.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .with_context(|| format!("{path} is too short"))?
            .parse::<u64>()
            .with_context(|| format!("{path}: field {}", index + 3))
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(total as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// CPU used by a set of processes over a stretch of wall time.
pub struct CpuMeter {
    pids: Vec<u32>,
    started: Instant,
    cpu_at_start: f64,
}

impl CpuMeter {
    pub fn start(pids: &[u32]) -> anyhow::Result<CpuMeter> {
        Ok(CpuMeter {
            pids: pids.to_vec(),
            started: Instant::now(),
            cpu_at_start: total_cpu(pids)?,
        })
    }

    /// Average cores used since [`CpuMeter::start`] (1.0 = one core busy all the time).
    pub fn cores(&self) -> anyhow::Result<f64> {
        let wall = self.started.elapsed().as_secs_f64();
        Ok((total_cpu(&self.pids)? - self.cpu_at_start) / wall.max(1e-9))
    }
}

/// Sum of [`rss_bytes`] over `pids`.
pub fn total_rss(pids: &[u32]) -> anyhow::Result<u64> {
    pids.iter().map(|&pid| rss_bytes(pid)).sum()
}

fn total_cpu(pids: &[u32]) -> anyhow::Result<f64> {
    pids.iter().map(|&pid| cpu_seconds(pid)).sum()
}

/// Raises this process's soft open-file limit to its hard limit (children inherit it);
/// returns the new limit.
pub fn raise_nofile_limit() -> anyhow::Result<u64> {
    let limit = getrlimit(Resource::Nofile);
    let Some(hard) = limit.maximum else {
        // Unlimited: ask for plenty.
        let wanted = 1 << 20;
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(wanted),
                maximum: None,
            },
        )
        .context("setrlimit(RLIMIT_NOFILE)")?;
        return Ok(wanted);
    };
    if limit.current != Some(hard) {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        )
        .context("setrlimit(RLIMIT_NOFILE)")?;
    }
    Ok(hard)
}

fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(key) {
            let number = rest.trim().trim_end_matches("kB").trim();
            return number
                .parse()
                .with_context(|| format!("{path}: bad {key} {rest:?}"));
        }
    }
    bail!("{path} has no {key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_cpu() {
        let pid = std::process::id();
        let rss = rss_bytes(pid).unwrap();
        assert!(rss > 100 * 1024, "{rss}");
        assert!(peak_rss_bytes(pid).unwrap() >= rss);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(raise_nofile_limit().unwrap() >= 1024);
    }
}
