//! Per-connection limits: the token bucket and the fixed sizes and timeouts.

use std::num::NonZeroU32;
use std::time::Duration;

use confab_core::wire::relay::MAX_ENVELOPE_LEN;
use tokio::time::Instant;

/// What the WebSocket transport itself accepts. Frames up to this size are read and, if
/// larger than the protocol allows, answered with `too-large`; larger ones fail the
/// connection (close 1009) because the transport stops reading mid-frame.
pub(crate) const TRANSPORT_MAX_LEN: usize = 2 * MAX_ENVELOPE_LEN;
/// Messages queued for one connection before it counts as too slow and is disconnected.
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

/// A token bucket: `rate` tokens per second, holding at most twice that.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last_refill: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(per_second: NonZeroU32, now: Instant) -> TokenBucket {
        let rate = f64::from(per_second.get());
        let capacity = 2.0 * rate;
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last_refill: now,
        }
    }

    /// Takes one token if there is one. A `now` earlier than a previous one adds nothing.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last_refill);
        if now > self.last_refill {
            self.last_refill = now;
        }
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_n(bucket: &mut TokenBucket, now: Instant, n: usize) -> usize {
        (0..n).filter(|_| bucket.try_take(now)).count()
    }

    #[test]
    fn bucket_allows_a_burst_of_twice_the_rate_then_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(NonZeroU32::new(5).unwrap(), start);
        assert_eq!(take_n(&mut bucket, start, 20), 10);
        assert!(!bucket.try_take(start + Duration::from_millis(100)));
        assert_eq!(take_n(&mut bucket, start + Duration::from_secs(1), 20), 5);
        // Long idle refills to the burst, not beyond.
        assert_eq!(take_n(&mut bucket, start + Duration::from_secs(60), 20), 10);
    }

    #[test]
    fn bucket_ignores_time_going_backwards() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(NonZeroU32::new(1).unwrap(), start);
        assert_eq!(take_n(&mut bucket, start, 5), 2);
        assert_eq!(take_n(&mut bucket, start - Duration::from_secs(5), 5), 0);
        assert_eq!(take_n(&mut bucket, start + Duration::from_secs(1), 5), 1);
    }
}
