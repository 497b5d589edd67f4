//! Per-address limits: open WebSocket connections and mailbox deposits a minute, per
//! client address, and the address tag the mailbox counts a room's bytes against.
//! IPv4-mapped IPv6 addresses count as the IPv4 address. IPv6 connections count by their
//! /64 (one subscriber's usual smallest share, so neighbours do not share a cap); IPv6
//! deposits by their /48, the usual largest assignment to one site: a subscriber routinely
//! holds 256 to 65,536 /64s, so counting deposits by /64 would give one flooder that many
//! allowances of bytes in the store, while a /48 is one site (everyone in it shares the
//! allowance, which only matters to a site that deposits as much as a flood does).
//!
//! The client address is the TCP peer, or, with `--trust-forwarded-for`, the last address
//! in `X-Forwarded-For` (the one the operator's own reverse proxy appended).

use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::HeaderMap;
use tokio::time::Instant;

use crate::limits::TokenBucket;
use crate::mailbox::AddressTag;

/// Above this many tracked addresses, idle ones are pruned on the next use.
const PRUNE_AT: usize = 4096;

/// The table of addresses with open connections or recent deposits.
pub(crate) struct PerIp {
    inner: Mutex<Tables>,
    max_connections: usize,
    puts_per_minute: NonZeroU32,
    /// The key of [`AddressTag`]s: random per process, never stored.
    tag_key: RandomState,
}

#[derive(Default)]
struct Tables {
    /// Open connections by connection key (IPv4, IPv6 /64).
    connections: HashMap<IpAddr, usize>,
    /// Deposit allowances by deposit key (IPv4, IPv6 /48); they outlive connections.
    deposits: HashMap<IpAddr, TokenBucket>,
}

/// One open connection's place in its address's count; dropping it frees the place.
pub(crate) struct IpPermit {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// An empty table allowing `max_connections` per address and `puts_per_minute`
    /// deposits a minute per address (also the burst).
    pub(crate) fn new(max_connections: usize, puts_per_minute: NonZeroU32) -> PerIp {
        PerIp {
            inner: Mutex::new(Tables::default()),
            max_connections,
            puts_per_minute,
            tag_key: RandomState::new(),
        }
    }

    /// A place for one more connection from `ip`, or `None` if it has as many as allowed.
    pub(crate) fn try_connect(self: &Arc<PerIp>, ip: IpAddr) -> Option<IpPermit> {
        let key = connection_key(ip);
        let mut inner = self.lock();
        let n_connections = inner.connections.entry(key).or_default();
        if *n_connections >= self.max_connections {
            return None;
        }
        *n_connections += 1;
        Some(IpPermit {
            table: Arc::clone(self),
            ip,
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

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IpPermit {
    /// Takes one deposit from this address's allowance; false if it is spent.
    pub(crate) fn try_put(&self) -> bool {
        let now = Instant::now();
        let key = deposit_key(self.ip);
        let puts_per_minute = self.table.puts_per_minute;
        let mut inner = self.table.lock();
        if inner.deposits.len() >= PRUNE_AT {
            inner.deposits.retain(|_, bucket| !bucket.is_full(now));
        }
        inner
            .deposits
            .entry(key)
            .or_insert_with(|| TokenBucket::per_minute(puts_per_minute, now))
            .try_take(now, 1)
    }

    /// What the mailbox counts this address's rooms against: its deposit key (IPv4, IPv6
    /// /48) hashed under this process's random key. Never [`AddressTag::UNKNOWN`].
    pub(crate) fn tag(&self) -> AddressTag {
        let hash = self.table.tag_key.hash_one(deposit_key(self.ip));
        AddressTag(hash.max(1))
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let key = connection_key(self.ip);
        let mut inner = self.table.lock();
        if let Some(n_connections) = inner.connections.get_mut(&key) {
            *n_connections = n_connections.saturating_sub(1);
            if *n_connections == 0 {
                inner.connections.remove(&key);
            }
        }
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

/// What connections are counted by: IPv4 as is, IPv6 by its /64.
fn connection_key(ip: IpAddr) -> IpAddr {
    prefix(ip, 64)
}

/// What deposits are counted by: IPv4 as is, IPv6 by its /48.
fn deposit_key(ip: IpAddr) -> IpAddr {
    prefix(ip, 48)
}

/// IPv4 (also when mapped into IPv6) as is; IPv6 cut to its first `bits` bits.
fn prefix(ip: IpAddr, bits: u32) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = u128::MAX << (128 - bits);
                IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & mask))
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
    fn ipv6_deposits_and_tags_count_by_the_48() {
        let table = table(100, 2);
        let connect = |ip: &str| table.try_connect(ip.parse().unwrap()).unwrap();
        let (a, b) = (connect("2001:db8:1:2::1"), connect("2001:db8:1:ffff::9"));
        let other_site = connect("2001:db8:2::1");
        assert_eq!(a.tag(), b.tag());
        assert_ne!(a.tag(), other_site.tag());
        assert_ne!(a.tag(), AddressTag::UNKNOWN);
        // Two /64s of one /48 share one allowance; another /48 has its own.
        assert!(a.try_put() && b.try_put());
        assert!(!a.try_put() && !b.try_put());
        assert!(other_site.try_put());
        // IPv4 and its mapped form are one address.
        let v4 = connect("192.0.2.7");
        assert_eq!(v4.tag(), connect("::ffff:192.0.2.7").tag());
        assert_ne!(v4.tag(), connect("192.0.2.8").tag());
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
