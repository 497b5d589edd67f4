//! Command-line and environment configuration, and parsing of `--ice-server` URLs.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use confab_core::mailbox::{ENTRY_OVERHEAD, MAX_ENTRY_LEN};
use confab_core::signal::IceServer;
use confab_core::wire::relay::MAX_ENVELOPE_LEN;

/// Default `--listen`: loopback only, so a bare `confab-server` is not exposed by accident.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
/// Default `--dist`.
pub const DEFAULT_DIST: &str = "dist";
/// Default `--max-rooms-per-connection`.
pub const DEFAULT_MAX_ROOMS_PER_CONNECTION: NonZeroUsize = non_zero_usize(16);
/// Default `--room-capacity`.
pub const DEFAULT_ROOM_CAPACITY: NonZeroUsize = non_zero_usize(256);
/// Default `--messages-per-second`.
pub const DEFAULT_MESSAGES_PER_SECOND: NonZeroU32 = match NonZeroU32::new(200) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
/// Default `--relay-bytes-per-sec`: 2 MiB/s.
pub const DEFAULT_RELAY_BYTES_PER_SEC: NonZeroU64 = match NonZeroU64::new(2 << 20) {
    Some(n) => n,
    None => NonZeroU64::MIN,
};
/// Default `--relay-burst-bytes`: 8 MiB.
pub const DEFAULT_RELAY_BURST_BYTES: u64 = 8 << 20;
/// Default `--data-dir`: beside the working directory.
pub const DEFAULT_DATA_DIR: &str = "confab-data";
/// Default `--mailbox-ttl`: 7 days.
pub const DEFAULT_MAILBOX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default `--push-interval`.
pub const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(30);
/// Default `--push-services`: the push services of Chrome and the browsers built on it
/// (Firebase Cloud Messaging, and its older name), Edge (Windows Notification Services),
/// Firefox (Mozilla's autopush) and Safari (Apple's).
pub const DEFAULT_PUSH_SERVICES: &str = "fcm.googleapis.com,android.googleapis.com,\
*.notify.windows.com,*.push.services.mozilla.com,*.push.apple.com";
/// Default `--mailbox-max-entry-bytes`: the protocol's largest sealed entry, 64 KiB.
pub const DEFAULT_MAILBOX_MAX_ENTRY_BYTES: u64 = MAX_ENTRY_LEN as u64;
/// Default `--mailbox-room-max-entries`.
pub const DEFAULT_MAILBOX_ROOM_MAX_ENTRIES: u64 = 10_000;
/// Default `--mailbox-room-max-bytes`: 64 MiB.
pub const DEFAULT_MAILBOX_ROOM_MAX_BYTES: u64 = 64 << 20;
/// Default `--mailbox-max-bytes`: 1 GiB for the whole store.
pub const DEFAULT_MAILBOX_MAX_BYTES: u64 = 1 << 30;
/// Default `--mailbox-max-bytes-per-ip`: 64 MiB, a sixteenth of the default store.
pub const DEFAULT_MAILBOX_MAX_BYTES_PER_IP: u64 = 64 << 20;
/// Default `--memory-budget`: 512 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 512 << 20;
/// Smallest `--memory-budget`: 16 MiB.
pub const MIN_MEMORY_BUDGET: u64 = 16 << 20;
/// Default `--queue-stall`: a queue that holds messages and has none written for this
/// long belongs to a stuck reader.
pub const DEFAULT_QUEUE_STALL: Duration = Duration::from_secs(30);
/// Default `--queue-bytes-per-connection`: 1 MiB, sixteen largest relay envelopes.
pub const DEFAULT_QUEUE_BYTES_PER_CONNECTION: u64 = 1 << 20;
/// Default `--mailbox-puts-per-minute` (per connection; also the burst).
pub const DEFAULT_MAILBOX_PUTS_PER_MINUTE: NonZeroU32 = match NonZeroU32::new(120) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
/// Default `--mailbox-puts-per-connection`.
pub const DEFAULT_MAILBOX_PUTS_PER_CONNECTION: u64 = 2_000;
/// Default `--max-connections-per-ip`: a tab keeps one socket per open room (up to 13), and
/// a household or office may share one address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: NonZeroUsize = non_zero_usize(64);
/// Default `--mailbox-puts-per-ip-per-minute` (also the burst).
pub const DEFAULT_MAILBOX_PUTS_PER_IP_PER_MINUTE: NonZeroU32 = match NonZeroU32::new(600) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
/// Default `--mailbox-page-entries`.
pub const DEFAULT_MAILBOX_PAGE_ENTRIES: NonZeroUsize = non_zero_usize(100);
/// Default `--mailbox-page-bytes`: 512 KiB of entries per page.
pub const DEFAULT_MAILBOX_PAGE_BYTES: usize = 512 << 10;
/// Smallest `--relay-burst-bytes`: one largest relay envelope, so every valid envelope can
/// pass once the bucket is full.
pub const MIN_RELAY_BURST_BYTES: u64 = MAX_ENVELOPE_LEN as u64;

/// How the server runs. Every flag can also be set through the environment variable named
/// in `--help`.
#[derive(Clone, Parser)]
#[command(
    name = "confab-server",
    version,
    about = "Confab's signalling and relay server; also serves the built app"
)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "CONFAB_LISTEN", value_name = "ADDR", default_value_t = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// The built app directory, served as static files.
    #[arg(long, env = "CONFAB_DIST", value_name = "DIR", default_value = DEFAULT_DIST)]
    pub dist: PathBuf,

    /// A STUN or TURN server handed to clients, e.g. `stun:stun.example.org:3478` or
    /// `turn:user:pass@turn.example.org:3478` (percent-encode `:`/`@`/`%`/`,` inside
    /// the username or password). Repeat the flag or separate with commas.
    #[arg(
        long = "ice-server",
        env = "CONFAB_ICE_SERVERS",
        value_name = "URL",
        value_delimiter = ',',
        value_parser = parse_ice_server,
        hide_env_values = true
    )]
    pub ice_servers: Vec<IceServer>,

    /// How many rooms one WebSocket connection may be in at once.
    #[arg(long, env = "CONFAB_MAX_ROOMS_PER_CONNECTION", value_name = "N", default_value_t = DEFAULT_MAX_ROOMS_PER_CONNECTION)]
    pub max_rooms_per_connection: NonZeroUsize,

    /// How many connections one room may hold.
    #[arg(long, env = "CONFAB_ROOM_CAPACITY", value_name = "N", default_value_t = DEFAULT_ROOM_CAPACITY)]
    pub room_capacity: NonZeroUsize,

    /// WebSocket connections one client address may hold open (IPv6: per /64). More are
    /// answered `rate-limited` and closed with 1008.
    #[arg(long, env = "CONFAB_MAX_CONNECTIONS_PER_IP", value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: NonZeroUsize,

    /// Take the client address from the last `X-Forwarded-For` entry (set this only behind
    /// a reverse proxy that appends it, and that clients cannot bypass).
    #[arg(long, env = "CONFAB_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// Sustained messages per second per connection; bursts of twice this are allowed.
    #[arg(long, env = "CONFAB_MESSAGES_PER_SECOND", value_name = "N", default_value_t = DEFAULT_MESSAGES_PER_SECOND)]
    pub messages_per_second: NonZeroU32,

    /// Sustained relayed bytes per second per connection (whole binary messages). Envelopes
    /// beyond it are dropped and answered `relay-cap`; clients learn it from the welcome.
    #[arg(long, env = "CONFAB_RELAY_BYTES_PER_SEC", value_name = "BYTES", default_value_t = DEFAULT_RELAY_BYTES_PER_SEC)]
    pub relay_bytes_per_sec: NonZeroU64,

    /// Relayed bytes one connection may send at once above the sustained rate; at least one
    /// largest envelope (65,555 bytes).
    #[arg(
        long,
        env = "CONFAB_RELAY_BURST_BYTES",
        value_name = "BYTES",
        default_value_t = DEFAULT_RELAY_BURST_BYTES,
        value_parser = clap::value_parser!(u64).range(MIN_RELAY_BURST_BYTES..)
    )]
    pub relay_burst_bytes: u64,

    /// Directory for the server's data (the mailbox database, `mailbox.redb`); created if
    /// missing.
    #[arg(long, env = "CONFAB_DATA_DIR", value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// How long mailbox entries are kept: a whole number with a unit, ms, s, m, h or d.
    #[arg(long, env = "CONFAB_MAILBOX_TTL", value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub mailbox_ttl: Duration,

    /// Largest mailbox entry accepted (sealed bytes; 41 to 65,536).
    #[arg(
        long,
        env = "CONFAB_MAILBOX_MAX_ENTRY_BYTES",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAILBOX_MAX_ENTRY_BYTES,
        value_parser = clap::value_parser!(u64).range(ENTRY_OVERHEAD as u64..=MAX_ENTRY_LEN as u64)
    )]
    pub mailbox_max_entry_bytes: u64,

    /// Entries one room's mailbox may hold; beyond it deposits are refused `mailbox-full`.
    #[arg(long, env = "CONFAB_MAILBOX_ROOM_MAX_ENTRIES", value_name = "N", default_value_t = DEFAULT_MAILBOX_ROOM_MAX_ENTRIES)]
    pub mailbox_room_max_entries: u64,

    /// Entry bytes one room's mailbox may hold.
    #[arg(long, env = "CONFAB_MAILBOX_ROOM_MAX_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAILBOX_ROOM_MAX_BYTES)]
    pub mailbox_room_max_bytes: u64,

    /// Entry bytes the whole mailbox store may hold. When it is full, a deposit deletes the
    /// oldest entries of the address holding the most bytes.
    #[arg(long, env = "CONFAB_MAILBOX_MAX_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAILBOX_MAX_BYTES)]
    pub mailbox_max_bytes: u64,

    /// Entry bytes the rooms created from one client address (IPv6: per /48) may hold;
    /// beyond it a deposit deletes that address's oldest entries.
    #[arg(long, env = "CONFAB_MAILBOX_MAX_BYTES_PER_IP", value_name = "BYTES", default_value_t = DEFAULT_MAILBOX_MAX_BYTES_PER_IP)]
    pub mailbox_max_bytes_per_ip: u64,

    /// Deposits per minute per connection (also the burst); beyond it `rate-limited`.
    #[arg(long, env = "CONFAB_MAILBOX_PUTS_PER_MINUTE", value_name = "N", default_value_t = DEFAULT_MAILBOX_PUTS_PER_MINUTE)]
    pub mailbox_puts_per_minute: NonZeroU32,

    /// Deposits per minute from one client address, all its connections together (also
    /// the burst); beyond it `rate-limited`.
    #[arg(long, env = "CONFAB_MAILBOX_PUTS_PER_IP_PER_MINUTE", value_name = "N", default_value_t = DEFAULT_MAILBOX_PUTS_PER_IP_PER_MINUTE)]
    pub mailbox_puts_per_ip_per_minute: NonZeroU32,

    /// Deposits one connection may make in all; beyond it `mailbox-full`.
    #[arg(long, env = "CONFAB_MAILBOX_PUTS_PER_CONNECTION", value_name = "N", default_value_t = DEFAULT_MAILBOX_PUTS_PER_CONNECTION)]
    pub mailbox_puts_per_connection: u64,

    /// Entries in one fetched page.
    #[arg(long, env = "CONFAB_MAILBOX_PAGE_ENTRIES", value_name = "N", default_value_t = DEFAULT_MAILBOX_PAGE_ENTRIES)]
    pub mailbox_page_entries: NonZeroUsize,

    /// Entry bytes in one fetched page (one entry is always served, however large).
    #[arg(long, env = "CONFAB_MAILBOX_PAGE_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAILBOX_PAGE_BYTES)]
    pub mailbox_page_bytes: usize,

    /// Memory the server may use (bytes): half for messages queued to connections, an
    /// eighth for the mailbox database's cache, a sixteenth for mailbox deposits waiting to
    /// be written, the rest for connections themselves.
    #[arg(
        long,
        env = "CONFAB_MEMORY_BUDGET",
        value_name = "BYTES",
        default_value_t = DEFAULT_MEMORY_BUDGET,
        value_parser = clap::value_parser!(u64).range(MIN_MEMORY_BUDGET..)
    )]
    pub memory_budget: u64,

    /// Bytes queued for one connection (messages it has not read yet). A relay envelope or
    /// signal that does not fit is dropped and its sender told; a server notice that does
    /// not fit disconnects the connection as too slow (close 1008).
    #[arg(
        long,
        env = "CONFAB_QUEUE_BYTES_PER_CONNECTION",
        value_name = "BYTES",
        default_value_t = DEFAULT_QUEUE_BYTES_PER_CONNECTION,
        value_parser = clap::value_parser!(u64).range(MIN_RELAY_BURST_BYTES..)
    )]
    pub queue_bytes_per_connection: u64,

    /// How long a connection's queue may hold messages with none written to it before the
    /// connection counts as stuck and is disconnected (close 1008); a ms/s/m/h/d duration.
    #[arg(long, env = "CONFAB_QUEUE_STALL", value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub queue_stall: Duration,

    /// Scale out: the NATS server(s) this node shares rooms through with other nodes
    /// (e.g. `nats://127.0.0.1:4222`, comma-separated for several). The mailbox then needs
    /// JetStream. Without it the node serves alone.
    #[arg(long, env = "CONFAB_NATS_URL", value_name = "URL")]
    pub nats_url: Option<String>,

    /// Send no Web Push: the welcome carries no push key and subscriptions are refused
    /// `push-unavailable`.
    #[arg(long, env = "CONFAB_NO_PUSH")]
    pub no_push: bool,

    /// Who runs this server, for push services (the VAPID `sub` claim), e.g.
    /// `mailto:ops@example.org`; some services (Apple's) refuse pushes without it.
    #[arg(long, env = "CONFAB_PUSH_CONTACT", value_name = "URI")]
    pub push_contact: Option<String>,

    /// At most one push per subscription in this long (a ms/s/m/h/d duration); deposits
    /// within it are pushed once at its end.
    #[arg(long, env = "CONFAB_PUSH_INTERVAL", value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub push_interval: Duration,

    /// The push services whose endpoints this server calls: host names, `*.domain` for
    /// every host under a domain, comma-separated; or `any`. A subscription naming another
    /// host is refused, so clients cannot make the server POST to sites of their choosing
    /// (a reflector). The default names the push services of Chrome, Edge, Firefox and
    /// Safari.
    #[arg(long, env = "CONFAB_PUSH_SERVICES", value_name = "HOSTS", default_value = DEFAULT_PUSH_SERVICES, value_parser = parse_push_services)]
    pub push_services: PushServices,

    /// TEST ONLY: accept push endpoints over plain http and on loopback or private
    /// addresses (without it only https endpoints on public addresses are called: an SSRF
    /// guard). Never use in production.
    #[arg(long, env = "CONFAB_DANGEROUSLY_ALLOW_ANY_PUSH_ENDPOINT")]
    pub dangerously_allow_any_push_endpoint: bool,

    /// Log lines as human-readable text or as one JSON object per line (for collectors).
    /// `RUST_LOG` sets the level (default `info`).
    #[arg(long, env = "CONFAB_LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// TEST ONLY: append the payload of every relay envelope clients send (the bytes after
    /// the 10-byte header, concatenated without framing) to FILE, and the data of every
    /// signal they send to FILE.signals, so end-to-end tests can check the server only ever
    /// sees ciphertext. Never use in production.
    #[arg(long, env = "CONFAB_DANGEROUSLY_RECORD_RELAY", value_name = "FILE")]
    pub dangerously_record_relay: Option<PathBuf>,
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` fields after the message.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// An `--ice-server` value that is not a usable STUN/TURN URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IceServerError {
    /// The scheme is not one WebRTC knows.
    #[error("expected a stun:, stuns:, turn: or turns: URL")]
    Scheme,
    /// Nothing after the scheme (and credentials).
    #[error("missing host")]
    Host,
    /// `user:pass@` on a STUN URL.
    #[error("STUN URLs take no credentials")]
    StunCredentials,
    /// `user@` without a password, or an empty username.
    #[error("TURN credentials need a username and a password: turn:user:pass@host:port")]
    Credentials,
    /// A `%` not followed by two hex digits, or decoding to invalid UTF-8.
    #[error("bad percent-encoding in the credentials")]
    PercentEncoding,
}

/// A `--mailbox-ttl` that is not a whole number with a unit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected a whole number with a unit: ms, s, m, h or d (e.g. 7d, 90s, 250ms)")]
pub struct DurationError;

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: DEFAULT_LISTEN,
            dist: PathBuf::from(DEFAULT_DIST),
            ice_servers: Vec::new(),
            max_rooms_per_connection: DEFAULT_MAX_ROOMS_PER_CONNECTION,
            room_capacity: DEFAULT_ROOM_CAPACITY,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            trust_forwarded_for: false,
            messages_per_second: DEFAULT_MESSAGES_PER_SECOND,
            relay_bytes_per_sec: DEFAULT_RELAY_BYTES_PER_SEC,
            relay_burst_bytes: DEFAULT_RELAY_BURST_BYTES,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            mailbox_ttl: DEFAULT_MAILBOX_TTL,
            no_push: false,
            push_contact: None,
            push_interval: DEFAULT_PUSH_INTERVAL,
            // The default parses (a unit test says so); were it ever broken, no service.
            push_services: parse_push_services(DEFAULT_PUSH_SERVICES)
                .unwrap_or_else(|_| PushServices::Hosts(Vec::new())),
            dangerously_allow_any_push_endpoint: false,
            mailbox_max_entry_bytes: DEFAULT_MAILBOX_MAX_ENTRY_BYTES,
            mailbox_room_max_entries: DEFAULT_MAILBOX_ROOM_MAX_ENTRIES,
            mailbox_room_max_bytes: DEFAULT_MAILBOX_ROOM_MAX_BYTES,
            mailbox_max_bytes: DEFAULT_MAILBOX_MAX_BYTES,
            mailbox_max_bytes_per_ip: DEFAULT_MAILBOX_MAX_BYTES_PER_IP,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            queue_bytes_per_connection: DEFAULT_QUEUE_BYTES_PER_CONNECTION,
            queue_stall: DEFAULT_QUEUE_STALL,
            mailbox_puts_per_minute: DEFAULT_MAILBOX_PUTS_PER_MINUTE,
            mailbox_puts_per_ip_per_minute: DEFAULT_MAILBOX_PUTS_PER_IP_PER_MINUTE,
            mailbox_puts_per_connection: DEFAULT_MAILBOX_PUTS_PER_CONNECTION,
            mailbox_page_entries: DEFAULT_MAILBOX_PAGE_ENTRIES,
            mailbox_page_bytes: DEFAULT_MAILBOX_PAGE_BYTES,
            nats_url: None,
            log_format: LogFormat::Text,
            dangerously_record_relay: None,
        }
    }
}

impl fmt::Debug for Config {
    /// Shows ICE server URLs but never TURN credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Config {
            listen,
            dist,
            ice_servers,
            max_rooms_per_connection,
            room_capacity,
            max_connections_per_ip,
            trust_forwarded_for,
            messages_per_second,
            relay_bytes_per_sec,
            relay_burst_bytes,
            data_dir,
            mailbox_ttl,
            mailbox_max_entry_bytes,
            mailbox_room_max_entries,
            mailbox_room_max_bytes,
            mailbox_max_bytes,
            mailbox_max_bytes_per_ip,
            memory_budget,
            queue_bytes_per_connection,
            queue_stall,
            mailbox_puts_per_minute,
            mailbox_puts_per_ip_per_minute,
            mailbox_puts_per_connection,
            mailbox_page_entries,
            mailbox_page_bytes,
            no_push,
            push_contact,
            push_interval,
            push_services,
            dangerously_allow_any_push_endpoint,
            nats_url,
            log_format,
            dangerously_record_relay,
        } = self;
        let ice_urls: Vec<&[String]> = ice_servers
            .iter()
            .map(|server| server.urls.as_slice())
            .collect();
        f.debug_struct("Config")
            .field("listen", listen)
            .field("dist", dist)
            .field("ice_servers", &ice_urls)
            .field("max_rooms_per_connection", max_rooms_per_connection)
            .field("room_capacity", room_capacity)
            .field("max_connections_per_ip", max_connections_per_ip)
            .field("trust_forwarded_for", trust_forwarded_for)
            .field("messages_per_second", messages_per_second)
            .field("relay_bytes_per_sec", relay_bytes_per_sec)
            .field("relay_burst_bytes", relay_burst_bytes)
            .field("data_dir", data_dir)
            .field("mailbox_ttl", mailbox_ttl)
            .field("mailbox_max_entry_bytes", mailbox_max_entry_bytes)
            .field("mailbox_room_max_entries", mailbox_room_max_entries)
            .field("mailbox_room_max_bytes", mailbox_room_max_bytes)
            .field("mailbox_max_bytes", mailbox_max_bytes)
            .field("mailbox_max_bytes_per_ip", mailbox_max_bytes_per_ip)
            .field("memory_budget", memory_budget)
            .field("queue_bytes_per_connection", queue_bytes_per_connection)
            .field("queue_stall", queue_stall)
            .field("mailbox_puts_per_minute", mailbox_puts_per_minute)
            .field(
                "mailbox_puts_per_ip_per_minute",
                mailbox_puts_per_ip_per_minute,
            )
            .field("mailbox_puts_per_connection", mailbox_puts_per_connection)
            .field("mailbox_page_entries", mailbox_page_entries)
            .field("mailbox_page_bytes", mailbox_page_bytes)
            .field("no_push", no_push)
            .field("push_contact", push_contact)
            .field("push_interval", push_interval)
            .field("push_services", push_services)
            .field(
                "dangerously_allow_any_push_endpoint",
                dangerously_allow_any_push_endpoint,
            )
            // The URL may carry credentials (nats://user:pass@host).
            .field("nats_url", &nats_url.as_ref().map(|_| "(set)"))
            .field("log_format", log_format)
            .field("dangerously_record_relay", dangerously_record_relay)
            .finish()
    }
}

/// Parses `stun:host[:port]` or `turn[s]:[user:pass@]host[:port][?transport=..]` into the
/// `RTCIceServer` shape: credentials move out of the URL into `username`/`credential`.
pub fn parse_ice_server(url: &str) -> Result<IceServer, IceServerError> {
    let url = url.trim();
    let (scheme, rest) = url.split_once(':').ok_or(IceServerError::Scheme)?;
    let scheme = scheme.to_ascii_lowercase();
    let is_turn = match scheme.as_str() {
        "stun" | "stuns" => false,
        "turn" | "turns" => true,
        _ => return Err(IceServerError::Scheme),
    };
    let (credentials, host) = match rest.rsplit_once('@') {
        Some((credentials, host)) => (Some(credentials), host),
        None => (None, rest),
    };
    if host.is_empty() || host.starts_with(':') || host.starts_with('?') {
        return Err(IceServerError::Host);
    }
    let (username, credential) = match credentials {
        None => (None, None),
        Some(_) if !is_turn => return Err(IceServerError::StunCredentials),
        Some(credentials) => {
            let (user, pass) = credentials
                .split_once(':')
                .ok_or(IceServerError::Credentials)?;
            if user.is_empty() {
                return Err(IceServerError::Credentials);
            }
            (Some(percent_decode(user)?), Some(percent_decode(pass)?))
        }
    };
    Ok(IceServer {
        urls: vec![format!("{scheme}:{host}")],
        username,
        credential,
    })
}

/// Which hosts push endpoints may name (`--push-services`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushServices {
    /// Any host (`any`); the SSRF guard still applies.
    Any,
    /// These host names (lowercase, no trailing dot); `*.domain` matches every host under
    /// `domain`, not `domain` itself.
    Hosts(Vec<String>),
}

impl PushServices {
    /// Whether an endpoint on `host` may be called.
    pub fn allows(&self, host: &str) -> bool {
        let Self::Hosts(patterns) = self else {
            return true;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        patterns
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => host == *pattern,
            })
    }
}

/// A `--push-services` list with an empty or malformed entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected host names or *.domain, comma-separated, or `any`: {0:?}")]
pub struct PushServicesError(String);

/// Parses `--push-services`: `any`, or host names and `*.domain` entries, comma-separated.
pub fn parse_push_services(text: &str) -> Result<PushServices, PushServicesError> {
    if text.trim().eq_ignore_ascii_case("any") {
        return Ok(PushServices::Any);
    }
    let hosts = text
        .split(',')
        .map(|entry| {
            let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
            let name = entry.strip_prefix("*.").unwrap_or(&entry);
            let valid = !name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if valid {
                Ok(entry)
            } else {
                Err(PushServicesError(entry))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PushServices::Hosts(hosts))
}

/// Parses `7d`, `12h`, `30m`, `90s` or `250ms` (a whole number and a unit).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or(DurationError)?;
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number.parse().map_err(|_| DurationError)?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(DurationError),
    };
    let millis = number.checked_mul(millis_per_unit).ok_or(DurationError)?;
    Ok(Duration::from_millis(millis))
}

const fn non_zero_usize(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

fn percent_decode(text: &str) -> Result<String, IceServerError> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let (hex, tail) = tail
                .split_at_checked(2)
                .ok_or(IceServerError::PercentEncoding)?;
            let hex = std::str::from_utf8(hex).map_err(|_| IceServerError::PercentEncoding)?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| IceServerError::PercentEncoding)?);
            rest = tail;
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| IceServerError::PercentEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, expected: Result<(&str, Option<&str>, Option<&str>), IceServerError>) {
        let got = parse_ice_server(url);
        let expected = expected.map(|(url, username, credential)| IceServer {
            urls: vec![url.to_owned()],
            username: username.map(str::to_owned),
            credential: credential.map(str::to_owned),
        });
        assert_eq!(got, expected, "{url}");
    }

    #[test]
    fn ice_server_urls_parse_into_rtc_ice_server_shape() {
        check(
            "stun:stun.example.org:3478",
            Ok(("stun:stun.example.org:3478", None, None)),
        );
        check(
            "stun:stun.example.org",
            Ok(("stun:stun.example.org", None, None)),
        );
        check(
            "turn:user:pass@turn.example.org:3478",
            Ok(("turn:turn.example.org:3478", Some("user"), Some("pass"))),
        );
        check(
            "turns:u:p@turn.example.org:5349?transport=tcp",
            Ok((
                "turns:turn.example.org:5349?transport=tcp",
                Some("u"),
                Some("p"),
            )),
        );
        // The password may contain ':' and '@'; the username ':' only percent-encoded.
        check(
            "turn:1700000000%3Aalice:p:a@ss@h:1",
            Ok(("turn:h:1", Some("1700000000:alice"), Some("p:a@ss"))),
        );
        check("turn:u:@h", Ok(("turn:h", Some("u"), Some(""))));
        check(" STUN:h ", Ok(("stun:h", None, None)));
    }

    #[test]
    fn bad_ice_server_urls_are_refused() {
        check("http://example.org", Err(IceServerError::Scheme));
        check("stun.example.org", Err(IceServerError::Scheme));
        check("stun:", Err(IceServerError::Host));
        check("turn:u:p@", Err(IceServerError::Host));
        check("turn::3478", Err(IceServerError::Host));
        check("stun:u:p@h", Err(IceServerError::StunCredentials));
        check("turn:user@h", Err(IceServerError::Credentials));
        check("turn::p@h", Err(IceServerError::Credentials));
        check("turn:u:%zz@h", Err(IceServerError::PercentEncoding));
        check("turn:u:%4@h", Err(IceServerError::PercentEncoding));
        check("turn:u:%ff@h", Err(IceServerError::PercentEncoding));
    }

    #[test]
    fn flags_parse_with_defaults_and_comma_separated_ice_servers() {
        let config = Config::try_parse_from(["confab-server"]).unwrap();
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.max_rooms_per_connection.get(), 16);
        assert_eq!(config.room_capacity.get(), 256);
        assert_eq!(config.messages_per_second.get(), 200);
        assert_eq!(config.relay_bytes_per_sec.get(), 2_097_152);
        assert_eq!(config.relay_burst_bytes, 8_388_608);
        assert!(config.dangerously_record_relay.is_none());

        let config = Config::try_parse_from([
            "confab-server",
            "--listen=0.0.0.0:9000",
            "--ice-server=stun:a.example,turn:u:p@b.example:3478",
            "--ice-server",
            "stun:c.example",
            "--messages-per-second=5",
            "--relay-bytes-per-sec=65536",
            "--relay-burst-bytes",
            "131072",
        ])
        .unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        let urls: Vec<&str> = config
            .ice_servers
            .iter()
            .map(|server| server.urls[0].as_str())
            .collect();
        assert_eq!(
            urls,
            ["stun:a.example", "turn:b.example:3478", "stun:c.example"]
        );
        assert_eq!(config.messages_per_second.get(), 5);
        assert_eq!(config.relay_bytes_per_sec.get(), 65_536);
        assert_eq!(config.relay_burst_bytes, 131_072);

        assert!(Config::try_parse_from(["confab-server", "--room-capacity=0"]).is_err());
        assert!(Config::try_parse_from(["confab-server", "--ice-server=ftp:x"]).is_err());
        assert!(Config::try_parse_from(["confab-server", "--relay-bytes-per-sec=0"]).is_err());
        // A burst below one largest envelope would refuse such envelopes forever.
        let too_small = format!("--relay-burst-bytes={}", MIN_RELAY_BURST_BYTES - 1);
        assert!(Config::try_parse_from(["confab-server", too_small.as_str()]).is_err());
        let smallest = format!("--relay-burst-bytes={MIN_RELAY_BURST_BYTES}");
        let config = Config::try_parse_from(["confab-server", smallest.as_str()]).unwrap();
        assert_eq!(config.relay_burst_bytes, MIN_RELAY_BURST_BYTES);
    }

    #[test]
    fn mailbox_flags_parse_with_defaults_and_units() {
        let config = Config::try_parse_from(["confab-server"]).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("confab-data"));
        assert_eq!(config.mailbox_ttl, Duration::from_secs(604_800));
        assert_eq!(config.mailbox_max_entry_bytes, 65_536);
        assert_eq!(config.mailbox_room_max_entries, 10_000);
        assert_eq!(config.mailbox_room_max_bytes, 67_108_864);
        assert_eq!(config.mailbox_puts_per_minute.get(), 120);
        let config = Config::try_parse_from([
            "confab-server",
            "--data-dir=/var/lib/confab",
            "--mailbox-ttl=250ms",
            "--mailbox-max-entry-bytes=1000",
            "--mailbox-room-max-entries=3",
        ])
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/confab"));
        assert_eq!(config.mailbox_ttl, Duration::from_millis(250));
        assert_eq!(config.mailbox_max_entry_bytes, 1000);
        assert_eq!(config.mailbox_room_max_entries, 3);
        for bad in [
            "--mailbox-ttl=7",
            "--mailbox-ttl=d",
            "--mailbox-ttl=7w",
            "--mailbox-max-entry-bytes=65537",
            "--mailbox-max-entry-bytes=40",
            "--mailbox-puts-per-minute=0",
        ] {
            assert!(
                Config::try_parse_from(["confab-server", bad]).is_err(),
                "{bad}"
            );
        }
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("99999999999999999999d"), Err(DurationError));
        assert_eq!(parse_duration("999999999999999d"), Err(DurationError));
    }

    #[test]
    fn per_address_flags_and_their_environment() {
        let config = Config::try_parse_from(["confab-server"]).unwrap();
        assert_eq!(config.max_connections_per_ip.get(), 64);
        assert_eq!(config.mailbox_puts_per_ip_per_minute.get(), 600);
        assert_eq!(config.mailbox_max_bytes_per_ip, 64 << 20);
        assert!(!config.trust_forwarded_for);
        let config = Config::try_parse_from([
            "confab-server",
            "--max-connections-per-ip=3",
            "--mailbox-puts-per-ip-per-minute=7",
            "--trust-forwarded-for",
            "--log-format=json",
        ])
        .unwrap();
        assert_eq!(config.max_connections_per_ip.get(), 3);
        assert_eq!(config.mailbox_puts_per_ip_per_minute.get(), 7);
        assert!(config.trust_forwarded_for);
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(Config::try_parse_from(["confab-server", "--max-connections-per-ip=0"]).is_err());
    }

    #[test]
    fn memory_flags_parse_with_their_floors() {
        let config = Config::try_parse_from(["confab-server"]).unwrap();
        assert_eq!(config.memory_budget, 512 << 20);
        assert_eq!(config.queue_bytes_per_connection, 1 << 20);
        let config = Config::try_parse_from([
            "confab-server",
            "--memory-budget=33554432",
            "--queue-bytes-per-connection=200000",
            "--mailbox-max-bytes-per-ip=5",
        ])
        .unwrap();
        assert_eq!(config.memory_budget, 32 << 20);
        assert_eq!(config.queue_bytes_per_connection, 200_000);
        assert_eq!(config.mailbox_max_bytes_per_ip, 5);
        // A queue must hold one largest envelope, a budget a few connections' worth.
        for bad in ["--memory-budget=1000", "--queue-bytes-per-connection=65554"] {
            assert!(
                Config::try_parse_from(["confab-server", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_shows_turn_credentials() {
        let config = Config {
            ice_servers: vec![parse_ice_server("turn:alice:hunter2@h").unwrap()],
            ..Config::default()
        };
        let debug = format!("{config:?}");
        assert!(debug.contains("turn:h"), "{debug}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("alice"),
            "{debug}"
        );
    }
}
