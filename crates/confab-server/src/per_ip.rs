//! Per-address limits: open WebSocket connections and mailbox deposits a minute, per
//! client address. IPv6 addresses count by their /64 (one subscriber's usual share), and
//! IPv4-mapped IPv6 addresses as the IPv4 address.
//!
//! The client address is the TCP peer, or, with `--trust-forwarded-for`, the last address
//! in `X-Forwarded-For` (the one the operator's own reverse proxy appended).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::HeaderMap;
use tokio::time::Instant;

use crate::limits::TokenBucket;

/// Above this many tracked addresses, idle ones are pruned on the next connection.
const PRUNE_AT: usize = 4096;

/// The table of addresses with open connections or recent deposits.
pub(crate) struct PerIp {
    inner: Mutex<HashMap<IpAddr, Usage>>,
    max_connections: usize,
    puts_per_minute: NonZeroU32,
}

/// One open connection's place in its address's count; dropping it frees the place.
pub(crate) struct IpPermit {
    table: Arc<PerIp>,
    key: IpAddr,
}

struct Usage {
    n_connections: usize,
    puts: TokenBucket,
}

impl PerIp {
    /// An empty table allowing `max_connections` per address and `puts_per_minute`
    /// deposits a minute per address (also the burst).
    pub(crate) fn new(max_connections: usize, puts_per_minute: NonZeroU32) -> PerIp {
        PerIp {
            inner: Mutex::new(HashMap::new()),
            max_connections,
            puts_per_minute,
        }
    }

    /// A place for one more connection from `ip`, or `None` if it has as many as allowed.
    pub(crate) fn try_connect(self: &Arc<PerIp>, ip: IpAddr) -> Option<IpPermit> {
        let key = address_key(ip);
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.len() >= PRUNE_AT {
            inner.retain(|_, usage| !usage.is_idle(now));
        }
        let puts_per_minute = self.puts_per_minute;
        let usage = inner.entry(key).or_insert_with(|| Usage {
            n_connections: 0,
            puts: TokenBucket::per_minute(puts_per_minute, now),
        });
        if usage.n_connections >= self.max_connections {
            return None;
        }
        usage.n_connections += 1;
        Some(IpPermit {
            table: Arc::clone(self),
            key,
        })
    }

    /// The most connections one address may hold.
    pub(crate) fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// The deposits a minute one address may make.
    pub(crate) fn puts_per_minute(&self) -> NonZeroU32 {
        self.puts_per_minute
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Usage>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IpPermit {
    /// Takes one deposit from this address's allowance; false if it is spent.
    pub(crate) fn try_put(&self) -> bool {
        let mut inner = self.table.lock();
        match inner.get_mut(&self.key) {
            Some(usage) => usage.puts.try_take(Instant::now(), 1),
            None => true,
        }
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut inner = self.table.lock();
        if let Some(usage) = inner.get_mut(&self.key) {
            usage.n_connections = usage.n_connections.saturating_sub(1);
            if usage.is_idle(now) {
                inner.remove(&self.key);
            }
        }
    }
}

impl Usage {
    /// No connections, and a full deposit allowance (forgetting it loses nothing).
    fn is_idle(&mut self, now: Instant) -> bool {
        self.n_connections == 0 && self.puts.is_full(now)
    }
}

/// The client's address: the last `X-Forwarded-For` entry if `trust_forwarded_for` and it
/// parses, else the TCP peer's.
pub(crate) fn client_ip(
    peer: SocketAddr,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
) -> IpAddr {
    if trust_forwarded_for {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .next_back()
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.ip()
}

/// What addresses are counted by: IPv4 as is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = v6.to_bits() & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from_bits(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max_connections: usize, puts: u32) -> Arc<PerIp> {
        Arc::new(PerIp::new(max_connections, NonZeroU32::new(puts).unwrap()))
    }

    #[test]
    fn connections_are_capped_per_address_and_freed_on_drop() {
        let table = table(2, 10);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = table.try_connect(a).unwrap();
        let _second = table.try_connect(a).unwrap();
        assert!(table.try_connect(a).is_none());
        assert!(table.try_connect(b).is_some());
        drop(first);
        assert!(table.try_connect(a).is_some());
    }

    #[test]
    fn deposits_are_shared_by_an_address_and_outlive_its_connections() {
        let table = table(4, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let one = table.try_connect(ip).unwrap();
        let two = table.try_connect(ip).unwrap();
        assert!(one.try_put() && two.try_put() && one.try_put());
        assert!(!two.try_put());
        drop((one, two));
        // Reconnecting does not refill the allowance.
        let three = table.try_connect(ip).unwrap();
        assert!(!three.try_put());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let table = table(1, 1);
        let _a = table
            .try_connect("2001:db8:1:2::1".parse().unwrap())
            .unwrap();
        assert!(
            table
                .try_connect("2001:db8:1:2:ffff::9".parse().unwrap())
                .is_none()
        );
        assert!(
            table
                .try_connect("2001:db8:1:3::1".parse().unwrap())
                .is_some()
        );
        let _v4 = table.try_connect("192.0.2.7".parse().unwrap()).unwrap();
        assert!(
            table
                .try_connect("::ffff:192.0.2.7".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn forwarded_for_is_read_only_when_trusted_and_the_last_entry_wins() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "10.9.9.9, 198.51.100.4".parse().unwrap());
        assert_eq!(client_ip(peer, &headers, false), peer.ip());
        assert_eq!(
            client_ip(peer, &headers, true),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        headers.insert("x-forwarded-for", "nonsense".parse().unwrap());
        assert_eq!(client_ip(peer, &headers, true), peer.ip());
        assert_eq!(client_ip(peer, &HeaderMap::new(), true), peer.ip());
    }
}
