//! Per-connection limits: the token bucket and the fixed sizes and timeouts (per-address
//! limits are in `per_ip`).

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use confab_core::wire::relay::MAX_ENVELOPE_LEN;
use tokio::time::Instant;

/// What the WebSocket transport itself accepts. Frames up to this size are read and, if
/// larger than the protocol allows, answered with `too-large`; larger ones fail the
/// connection (close 1009) because the transport stops reading mid-frame.
pub(crate) const TRANSPORT_MAX_LEN: usize = 2 * MAX_ENVELOPE_LEN;
/// Messages queued for one connection; beyond, what others send it is dropped (bytes are
/// bounded too: `--queue-bytes-per-connection`; see `inbox`).
pub(crate) const OUTBOUND_QUEUE_LEN: usize = 1024;
/// Consecutive rate-limited messages after which a connection is closed with 1008.
pub(crate) const FLOOD_STRIKES: u32 = 10;
/// Longest a single WebSocket write may block before the connection is dropped.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// After we send a close frame, how long we keep reading for the peer's close reply, so
/// unread input does not turn our TCP close into a reset that swallows the close frame.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// On shutdown, how long HTTP connections and then WebSockets get to finish.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Rooms whose acknowledged mailbox cursor one connection keeps; acknowledgements for
/// more rooms are accepted but not remembered.
pub(crate) const MAILBOX_ACKED_ROOMS: usize = 64;
/// Mailbox deposits one connection may have waiting to be stored; more are refused
/// `rate-limited` (the connection keeps reading meanwhile, see `ws`).
pub(crate) const DEPOSITS_IN_FLIGHT: usize = 8;
/// Entry bytes one connection may have waiting to be stored (a deposit always fits alone).
pub(crate) const DEPOSIT_BYTES_IN_FLIGHT: usize = 1 << 20;
/// Answers one connection may have waiting behind its deposits; with this many it is not
/// read until they go.
pub(crate) const ANSWERS_WAITING: usize = 64;
/// At most one `relay-cap` error per this interval per connection; further drops are silent.
pub(crate) const RELAY_CAP_ERROR_INTERVAL: Duration = Duration::from_secs(1);

/// How `--memory-budget` is shared out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemoryBudget {
    /// Bytes queued to connections, all together: half.
    pub(crate) queues: usize,
    /// The mailbox database's page cache: an eighth.
    pub(crate) database_cache: usize,
    /// Mailbox deposits waiting to be written, all together: a sixteenth.
    pub(crate) deposits: usize,
}

impl MemoryBudget {
    /// The shares of `total` bytes; the rest (five sixteenths) is for the connections
    /// themselves (about 1.5 KiB each idle), the cluster's queues and the runtime.
    pub(crate) fn new(total: u64) -> MemoryBudget {
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        MemoryBudget {
            queues: total / 2,
            database_cache: total / 8,
            deposits: total / 16,
        }
    }
}

/// A token bucket: `rate` tokens per second, holding at most `capacity`. A take costs any
/// number of tokens (one per message, or one per byte).
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last_refill: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilling at `per_second`.
    pub(crate) fn new(per_second: NonZeroU64, capacity: u64, now: Instant) -> TokenBucket {
        // f64 is exact for integers up to 2^53, far beyond any sane rate, burst or cost.
        let (rate, capacity) = (per_second.get() as f64, capacity as f64);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last_refill: now,
        }
    }

    /// The message bucket: `per_second` messages a second, bursts of twice that.
    pub(crate) fn messages(per_second: NonZeroU32, now: Instant) -> TokenBucket {
        let per_second = NonZeroU64::from(per_second);
        TokenBucket::new(per_second, 2 * per_second.get(), now)
    }

    /// `per_minute` tokens a minute, holding at most that many (mailbox deposits).
    pub(crate) fn per_minute(per_minute: NonZeroU32, now: Instant) -> TokenBucket {
        let capacity = f64::from(per_minute.get());
        TokenBucket {
            rate: capacity / 60.0,
            capacity,
            tokens: capacity,
            last_refill: now,
        }
    }

    /// Whether the bucket is full at `now` (it would be the same if made anew).
    pub(crate) fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }

    /// Takes `cost` tokens if there are that many; otherwise takes none. A `now` earlier
    /// than a previous one adds nothing. A cost above the capacity never fits.
    pub(crate) fn try_take(&mut self, now: Instant, cost: u64) -> bool {
        self.refill(now);
        let cost = cost as f64;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last_refill);
        if now > self.last_refill {
            self.last_refill = now;
        }
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_n(bucket: &mut TokenBucket, now: Instant, n: usize) -> usize {
        (0..n).filter(|_| bucket.try_take(now, 1)).count()
    }

    fn bytes(per_second: u64, burst: u64, now: Instant) -> TokenBucket {
        TokenBucket::new(NonZeroU64::new(per_second).unwrap(), burst, now)
    }

    #[test]
    fn bucket_allows_a_burst_of_twice_the_rate_then_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::messages(NonZeroU32::new(5).unwrap(), start);
        assert_eq!(take_n(&mut bucket, start, 20), 10);
        assert!(!bucket.try_take(start + Duration::from_millis(100), 1));
        assert_eq!(take_n(&mut bucket, start + Duration::from_secs(1), 20), 5);
        // Long idle refills to the burst, not beyond.
        assert_eq!(take_n(&mut bucket, start + Duration::from_secs(60), 20), 10);
    }

    #[test]
    fn bucket_ignores_time_going_backwards() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::messages(NonZeroU32::new(1).unwrap(), start);
        assert_eq!(take_n(&mut bucket, start, 5), 2);
        assert_eq!(take_n(&mut bucket, start - Duration::from_secs(5), 5), 0);
        assert_eq!(take_n(&mut bucket, start + Duration::from_secs(1), 5), 1);
    }

    #[test]
    fn byte_bucket_charges_the_cost_and_refuses_without_taking() {
        let start = Instant::now();
        let mut bucket = bytes(1000, 3000, start);
        assert!(bucket.try_take(start, 2000));
        // 1000 left: a 1500-byte take fails and takes nothing, so 1000 still fits.
        assert!(!bucket.try_take(start, 1500));
        assert!(bucket.try_take(start, 1000));
        assert!(!bucket.try_take(start, 1));
        // Half a second refills 500 bytes.
        let later = start + Duration::from_millis(500);
        assert!(!bucket.try_take(later, 501));
        assert!(bucket.try_take(later, 500));
        // Long idle refills to the burst, not beyond; more than the burst never fits.
        let idle = later + Duration::from_secs(60);
        assert!(!bucket.try_take(idle, 3001));
        assert!(bucket.try_take(idle, 3000));
        assert!(bucket.try_take(idle, 0));
    }

    #[test]
    fn byte_bucket_passes_at_most_burst_plus_rate_times_elapsed() {
        let start = Instant::now();
        let (rate, burst, frame) = (64 * 1024, 128 * 1024, 16 * 1024 + 10);
        let mut bucket = bytes(rate, burst, start);
        // An eager sender offers a frame every millisecond for two seconds.
        let mut n_passed = 0u64;
        for ms in 0..2000u64 {
            if bucket.try_take(start + Duration::from_millis(ms), frame) {
                n_passed += 1;
            }
        }
        let passed = n_passed * frame;
        assert!(passed <= burst + 2 * rate, "{passed}");
        assert!(passed + frame > burst + 2 * rate - frame, "{passed}");
    }

    #[test]
    fn per_minute_bucket_allows_its_burst_then_one_per_interval() {
        let start = Instant::now();
        let mut bucket = TokenBucket::per_minute(NonZeroU32::new(6).unwrap(), start);
        assert_eq!(take_n(&mut bucket, start, 10), 6);
        assert_eq!(take_n(&mut bucket, start + Duration::from_secs(9), 10), 0);
        assert_eq!(take_n(&mut bucket, start + Duration::from_secs(10), 10), 1);
    }

    #[test]
    fn byte_bucket_ignores_time_going_backwards() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut bucket = bytes(100, 100, start);
        assert!(bucket.try_take(start, 100));
        assert!(!bucket.try_take(start - Duration::from_secs(5), 1));
        assert!(!bucket.try_take(start + Duration::from_millis(500), 51));
        assert!(bucket.try_take(start + Duration::from_millis(500), 50));
    }
}
