//! The sender's pacing decisions, pure so they are tested natively: the server's relay
//! byte cap as a token bucket ([`RelayBudget`]), which chunks to read next for an upload
//! ([`next_read`]), transfer speed as a moving average ([`Speed`]) and how often a
//! transfer's progress is redrawn ([`redraw_due`]). The app's driver applies them.

use std::collections::VecDeque;

use crate::{Duration, Instant};

/// Chunks read from a file in one slice for a direct link.
pub const READ_CHUNKS: usize = 16;
/// Chunks read in one slice for a relayed link: relayed chunks go at the server's pace.
pub const RELAYED_READ_CHUNKS: usize = 4;
/// Active transfers' progress is shown at most this often.
pub const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// The server's relay byte cap (rate and burst) and what we may still send now.
#[derive(Debug, Clone)]
pub struct RelayBudget {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: Option<Instant>,
}

impl RelayBudget {
    /// The budget of a cap of `per_sec` bytes a second with bursts of `burst` (at least a
    /// second's worth); `None` when the server states no cap (`per_sec` 0). Starts full.
    pub fn new(per_sec: u64, burst: u64) -> Option<RelayBudget> {
        let burst = burst.max(per_sec) as f64;
        (per_sec > 0).then_some(RelayBudget {
            per_sec: per_sec as f64,
            burst,
            tokens: burst,
            at: None,
        })
    }

    /// When `bytes` may go, or `None` if they may go now (and are then charged). More
    /// than a burst waits only for a full bucket, then overdraws it.
    pub fn take(&mut self, now: Instant, bytes: u64) -> Option<Instant> {
        let bytes = bytes as f64;
        self.refill(now);
        if self.tokens >= bytes.min(self.burst) {
            self.tokens -= bytes;
            return None;
        }
        let wait = (bytes.min(self.burst) - self.tokens) / self.per_sec;
        Some(now + Duration::from_secs_f64(wait))
    }

    fn refill(&mut self, now: Instant) {
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        }
        self.at = Some(now);
    }
}

/// The next read for an upload whose wanted chunks are `queue` (in the order core asked
/// for them): the first index and how many consecutive chunks from it, at most
/// [`READ_CHUNKS`] on a direct link and [`RELAYED_READ_CHUNKS`] on a relayed one. `None`
/// when nothing is wanted.
pub fn next_read(queue: &VecDeque<u32>, direct: bool) -> Option<(u32, usize)> {
    let first = *queue.front()?;
    let most = if direct {
        READ_CHUNKS
    } else {
        RELAYED_READ_CHUNKS
    };
    let mut count = 1;
    while count < most
        && first
            .checked_add(count as u32)
            .is_some_and(|next| queue.get(count) == Some(&next))
    {
        count += 1;
    }
    Some((first, count))
}

/// Speed as a moving average of progress samples, in bytes a second.
#[derive(Debug, Clone, Default)]
pub struct Speed {
    last: Option<(Instant, u64)>,
    bytes_per_sec: f64,
}

impl Speed {
    /// Takes the bytes `done` by `now` (a sample counts once half a second has passed
    /// since the last one) and returns the speed.
    pub fn sample(&mut self, now: Instant, done: u64) -> f64 {
        match self.last {
            Some((at, before)) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                if elapsed >= 0.5 {
                    let rate = done.saturating_sub(before) as f64 / elapsed;
                    self.bytes_per_sec = if self.bytes_per_sec == 0.0 {
                        rate
                    } else {
                        0.6 * rate + 0.4 * self.bytes_per_sec
                    };
                    self.last = Some((now, done));
                }
            }
            None => self.last = Some((now, done)),
        }
        self.bytes_per_sec
    }
}

/// Whether a transfer's progress is shown now: always, except within an active transfer
/// (`active`, not yet `finished`) whose progress was shown, active too, less than
/// [`REDRAW_EVERY`] ago (`last`: when it was shown, and whether it was active then).
/// Redrawing is work for the same thread that moves the bytes.
pub fn redraw_due(
    last: Option<(Instant, bool)>,
    now: Instant,
    active: bool,
    finished: bool,
) -> bool {
    let recent = last.is_some_and(|(at, was_active)| was_active && now < at + REDRAW_EVERY);
    !(active && !finished && recent)
}

#[cfg(test)]
// Tests start their clocks at the real now; only differences matter.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn ms(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn no_cap_means_no_budget() {
        assert!(RelayBudget::new(0, 1_000).is_none());
    }

    #[test]
    fn relay_budget_spends_its_burst_then_waits_for_the_rate() {
        let start = Instant::now();
        // 1,000 bytes a second, bursts of 2,000.
        let mut budget = RelayBudget::new(1_000, 2_000).unwrap();
        assert_eq!(budget.take(start, 1_500), None);
        // 500 left: 1,000 more need half a second.
        assert_eq!(budget.take(start, 1_000), Some(ms(start, 500)));
        // Refused takes charge nothing.
        assert_eq!(budget.take(ms(start, 500), 1_000), None);
        assert_eq!(budget.take(ms(start, 500), 1), Some(ms(start, 501)));
        // The bucket never holds more than the burst.
        assert_eq!(budget.take(ms(start, 60_000), 2_000), None);
        assert_eq!(
            budget.take(ms(start, 60_000), 1_000),
            Some(ms(start, 61_000))
        );
    }

    #[test]
    fn relay_budget_burst_is_at_least_a_second() {
        let start = Instant::now();
        let mut budget = RelayBudget::new(1_000, 10).unwrap();
        assert_eq!(budget.take(start, 1_000), None);
        assert_eq!(budget.take(start, 1), Some(ms(start, 1)));
    }

    #[test]
    fn more_than_a_burst_waits_for_a_full_bucket_then_overdraws() {
        let start = Instant::now();
        let mut budget = RelayBudget::new(1_000, 1_000).unwrap();
        assert_eq!(budget.take(start, 400), None);
        assert_eq!(budget.take(start, 5_000), Some(ms(start, 400)));
        assert_eq!(budget.take(ms(start, 400), 5_000), None);
        // 4,000 overdrawn: the next byte waits four seconds and a bit.
        assert_eq!(budget.take(ms(start, 400), 1), Some(ms(start, 4_401)));
    }

    #[test]
    fn next_read_takes_the_consecutive_run_up_to_the_link_limit() {
        let queue: VecDeque<u32> = (10..40).collect();
        assert_eq!(next_read(&queue, true), Some((10, READ_CHUNKS)));
        assert_eq!(next_read(&queue, false), Some((10, RELAYED_READ_CHUNKS)));
        let gap: VecDeque<u32> = [3, 4, 5, 9, 10].into();
        assert_eq!(next_read(&gap, true), Some((3, 3)));
        let back: VecDeque<u32> = [7, 6].into();
        assert_eq!(next_read(&back, true), Some((7, 1)));
        let end: VecDeque<u32> = [u32::MAX, 0].into();
        assert_eq!(next_read(&end, true), Some((u32::MAX, 1)));
        assert_eq!(next_read(&VecDeque::new(), true), None);
    }

    #[test]
    fn speed_averages_samples_at_least_half_a_second_apart() {
        let start = Instant::now();
        let mut speed = Speed::default();
        assert_eq!(speed.sample(start, 0), 0.0);
        // Too soon: not a sample.
        assert_eq!(speed.sample(ms(start, 100), 50_000), 0.0);
        assert_eq!(speed.sample(ms(start, 1_000), 100_000), 100_000.0);
        // 0.6 × 200,000 + 0.4 × 100,000.
        assert!((speed.sample(ms(start, 2_000), 300_000) - 160_000.0).abs() < 1e-6);
        // Stalled: decays.
        assert!((speed.sample(ms(start, 3_000), 300_000) - 64_000.0).abs() < 1e-6);
    }

    #[test]
    fn progress_redraws_at_most_every_quarter_second_while_active() {
        let start = Instant::now();
        let shown = Some((start, true));
        assert!(redraw_due(None, start, true, false));
        assert!(!redraw_due(shown, ms(start, 100), true, false));
        assert!(redraw_due(shown, ms(start, 250), true, false));
        // The last byte, a change of state, or a first active update after a pause: shown.
        assert!(redraw_due(shown, ms(start, 100), true, true));
        assert!(redraw_due(shown, ms(start, 100), false, false));
        assert!(redraw_due(
            Some((start, false)),
            ms(start, 100),
            true,
            false
        ));
    }
}
