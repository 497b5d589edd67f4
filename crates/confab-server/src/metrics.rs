//! Counters for operators and `GET /metrics` in the Prometheus text format (0.0.4).
//!
//! Every series is a plain number for the whole server: no room ids, peer ids or
//! addresses ever become labels. The only labels are fixed reasons (an error code, why a
//! connection ended), so the number of series is bounded by the code, not by traffic.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use confab_core::signal::ErrorCode;

use crate::mailbox::MailboxCounts;
use crate::push::PushCounts;

/// Counters since start, shared by every connection task.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// WebSocket connections accepted.
    pub(crate) connections_opened: AtomicU64,
    /// WebSocket upgrades refused because the client's address has as many open as allowed.
    pub(crate) connections_refused_per_ip: AtomicU64,
    /// Connections that ended, by [`CloseReason`].
    connections_closed: [AtomicU64; CloseReason::ALL.len()],
    /// Frames refused with an `error` answer, by [`Rejection`].
    rejected: [AtomicU64; Rejection::ALL.len()],
    /// Relay envelopes delivered (to a local connection or to another node).
    pub(crate) relayed_frames: AtomicU64,
    /// Bytes of those envelopes (as the sender sent them, header included).
    pub(crate) relayed_bytes: AtomicU64,
    /// Relay envelopes dropped over the per-connection byte cap (answered or not).
    pub(crate) relay_cap_drops: AtomicU64,
    /// Relay envelopes and signals dropped because the recipient's queue was full.
    pub(crate) recipient_busy_drops: AtomicU64,
    /// Signals delivered.
    pub(crate) signals: AtomicU64,
}

/// Why a connection ended, as a metrics label: the connection's own reason (`ws::End`).
pub(crate) use crate::ws::End as CloseReason;

/// Why a frame was refused, as a metrics label: the error code sent back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    BadRequest,
    TooLarge,
    RateLimited,
    TooManyRooms,
    RoomFull,
    UnknownPeer,
    BadEnvelope,
    RelayCap,
    MailboxFull,
    MailboxDenied,
    MailboxUnavailable,
    Other,
}

/// Numbers read at scrape time rather than counted.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Gauges {
    /// Open WebSocket connections.
    pub(crate) connections: u64,
    /// Rooms with at least one member on this node.
    pub(crate) rooms: u64,
    /// Memberships on this node (a connection in two rooms counts twice).
    pub(crate) members: u64,
    /// Members of shared rooms known to be on other nodes.
    pub(crate) remote_members: u64,
    /// Entries in the mailbox store (expired ones until swept).
    pub(crate) mailbox_entries: u64,
    /// Entry bytes in the mailbox store.
    pub(crate) mailbox_bytes: u64,
    /// Whether the node has a working store.
    pub(crate) mailbox_available: bool,
    /// Bytes queued to connections now (payloads and per-message overhead).
    pub(crate) queued_bytes: u64,
    /// Messages refused because all queues were at the budget.
    pub(crate) queue_budget_refusals: u64,
    /// Whether `--nats-url` is set.
    pub(crate) nats_configured: bool,
    /// Whether the node is connected to NATS now.
    pub(crate) nats_connected: bool,
}

/// What the NATS link counted, copied for rendering.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NatsCounts {
    pub(crate) published: u64,
    pub(crate) publish_failures: u64,
    pub(crate) received: u64,
    pub(crate) received_invalid: u64,
    pub(crate) reconnects: u64,
}

impl Metrics {
    /// Counts a connection that ended.
    pub(crate) fn count_close(&self, reason: CloseReason) {
        self.connections_closed[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a frame answered with an error `code`.
    pub(crate) fn count_rejection(&self, code: ErrorCode) {
        let rejection = Rejection::from_code(code);
        self.rejected[rejection as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many frames were refused with `rejection` so far.
    #[cfg(test)]
    pub(crate) fn rejected(&self, rejection: Rejection) -> u64 {
        self.rejected[rejection as usize].load(Ordering::Relaxed)
    }

    /// Everything in the Prometheus text exposition format.
    pub(crate) fn render(
        &self,
        gauges: Gauges,
        mailbox: MailboxCounts,
        nats: NatsCounts,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "confab_connections",
            "Open WebSocket connections.",
            gauges.connections,
        );
        counter(
            &mut out,
            "confab_connections_opened_total",
            "WebSocket connections accepted.",
            load(&self.connections_opened),
        );
        counter(
            &mut out,
            "confab_connections_refused_per_ip_total",
            "WebSocket upgrades refused: the client address had as many connections open as allowed.",
            load(&self.connections_refused_per_ip),
        );
        header(
            &mut out,
            "confab_connections_closed_total",
            "counter",
            "Connections that ended, by reason.",
        );
        for reason in CloseReason::ALL {
            let value = load(&self.connections_closed[reason as usize]);
            let _ = writeln!(
                out,
                "confab_connections_closed_total{{reason=\"{}\"}} {value}",
                reason.label()
            );
        }
        gauge(
            &mut out,
            "confab_rooms",
            "Rooms with at least one member on this node.",
            gauges.rooms,
        );
        gauge(
            &mut out,
            "confab_room_members",
            "Room memberships on this node (a connection in two rooms counts twice).",
            gauges.members,
        );
        gauge(
            &mut out,
            "confab_remote_room_members",
            "Members on other nodes of rooms that have members here.",
            gauges.remote_members,
        );
        counter(
            &mut out,
            "confab_signals_total",
            "Signals forwarded.",
            load(&self.signals),
        );
        counter(
            &mut out,
            "confab_relayed_frames_total",
            "Relay envelopes forwarded.",
            load(&self.relayed_frames),
        );
        counter(
            &mut out,
            "confab_relayed_bytes_total",
            "Bytes of relay envelopes forwarded, as sent (header included).",
            load(&self.relayed_bytes),
        );
        counter(
            &mut out,
            "confab_relay_cap_drops_total",
            "Relay envelopes dropped over the per-connection byte cap.",
            load(&self.relay_cap_drops),
        );
        counter(
            &mut out,
            "confab_recipient_busy_drops_total",
            "Relay envelopes and signals dropped because the recipient's queue was full.",
            load(&self.recipient_busy_drops),
        );
        gauge(
            &mut out,
            "confab_queued_bytes",
            "Bytes queued to connections that have not read them yet.",
            gauges.queued_bytes,
        );
        counter(
            &mut out,
            "confab_queue_budget_refusals_total",
            "Messages that found every queue together at the memory budget (the largest queue's connection was disconnected).",
            gauges.queue_budget_refusals,
        );
        header(
            &mut out,
            "confab_rejected_frames_total",
            "counter",
            "Frames refused with an error, by error code.",
        );
        for rejection in Rejection::ALL {
            let value = load(&self.rejected[rejection as usize]);
            let _ = writeln!(
                out,
                "confab_rejected_frames_total{{reason=\"{}\"}} {value}",
                rejection.label()
            );
        }
        gauge(
            &mut out,
            "confab_mailbox_available",
            "1 if the mailbox store is open.",
            u64::from(gauges.mailbox_available),
        );
        gauge(
            &mut out,
            "confab_mailbox_entries",
            "Entries in the mailbox store.",
            gauges.mailbox_entries,
        );
        gauge(
            &mut out,
            "confab_mailbox_bytes",
            "Entry bytes in the mailbox store.",
            gauges.mailbox_bytes,
        );
        counter(
            &mut out,
            "confab_mailbox_puts_total",
            "Deposits stored.",
            mailbox.puts_stored,
        );
        counter(
            &mut out,
            "confab_mailbox_replicated_puts_total",
            "Deposits stored here that were made on another node.",
            mailbox.replicated_in,
        );
        counter(
            &mut out,
            "confab_mailbox_puts_refused_full_total",
            "Deposits refused: a room, the store or a connection's allowance was full.",
            mailbox.puts_refused_full,
        );
        counter(
            &mut out,
            "confab_mailbox_entries_evicted_total",
            "Entries deleted before expiry to make room: their address's share or the store was full.",
            mailbox.entries_evicted,
        );
        counter(
            &mut out,
            "confab_mailbox_denied_total",
            "Mailbox requests refused for a wrong deposit key or proof.",
            mailbox.requests_denied,
        );
        counter(
            &mut out,
            "confab_mailbox_fetches_total",
            "Pages served.",
            mailbox.fetches,
        );
        counter(
            &mut out,
            "confab_mailbox_entries_served_total",
            "Entries served in pages.",
            mailbox.entries_served,
        );
        counter(
            &mut out,
            "confab_mailbox_acks_total",
            "Acknowledgements accepted.",
            mailbox.acks,
        );
        counter(
            &mut out,
            "confab_mailbox_entries_expired_total",
            "Entries deleted at expiry.",
            mailbox.entries_expired,
        );
        counter(
            &mut out,
            "confab_mailbox_store_errors_total",
            "Mailbox store operations that failed.",
            mailbox.store_errors,
        );
        counter(
            &mut out,
            "confab_mailbox_commits_total",
            "Write transactions of deposits: each stores a batch of them (group commit).",
            mailbox.commits,
        );
        gauge(
            &mut out,
            "confab_mailbox_waiting_bytes",
            "Bytes of deposits waiting to be written.",
            mailbox.waiting_bytes,
        );
        gauge(
            &mut out,
            "confab_nats_configured",
            "1 if --nats-url is set.",
            u64::from(gauges.nats_configured),
        );
        gauge(
            &mut out,
            "confab_nats_connected",
            "1 while connected to NATS.",
            u64::from(gauges.nats_connected),
        );
        counter(
            &mut out,
            "confab_nats_published_total",
            "Messages published to NATS.",
            nats.published,
        );
        counter(
            &mut out,
            "confab_nats_publish_failures_total",
            "Messages that could not be published to NATS.",
            nats.publish_failures,
        );
        counter(
            &mut out,
            "confab_nats_received_total",
            "Messages received from NATS.",
            nats.received,
        );
        counter(
            &mut out,
            "confab_nats_received_invalid_total",
            "Messages from NATS that did not decode and were dropped.",
            nats.received_invalid,
        );
        counter(
            &mut out,
            "confab_nats_reconnects_total",
            "Times the NATS connection came back after a loss.",
            nats.reconnects,
        );
        out
    }
}

impl CloseReason {
    const ALL: [CloseReason; 10] = [
        CloseReason::ClientClosed,
        CloseReason::TransportFailed,
        CloseReason::SendTimedOut,
        CloseReason::Shutdown,
        CloseReason::TooSlow,
        CloseReason::Flood,
        CloseReason::FrameTooBig,
        CloseReason::ProtocolViolation,
        CloseReason::InvalidUtf8,
        CloseReason::TooManyFromAddress,
    ];

    fn label(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client-closed",
            CloseReason::TransportFailed => "transport-failed",
            CloseReason::SendTimedOut => "send-timed-out",
            CloseReason::Shutdown => "shutdown",
            CloseReason::TooSlow => "too-slow",
            CloseReason::Flood => "flood",
            CloseReason::FrameTooBig => "frame-too-big",
            CloseReason::ProtocolViolation => "protocol-violation",
            CloseReason::InvalidUtf8 => "invalid-utf8",
            CloseReason::TooManyFromAddress => "too-many-from-address",
        }
    }
}

impl Rejection {
    const ALL: [Rejection; 12] = [
        Rejection::BadRequest,
        Rejection::TooLarge,
        Rejection::RateLimited,
        Rejection::TooManyRooms,
        Rejection::RoomFull,
        Rejection::UnknownPeer,
        Rejection::BadEnvelope,
        Rejection::RelayCap,
        Rejection::MailboxFull,
        Rejection::MailboxDenied,
        Rejection::MailboxUnavailable,
        Rejection::Other,
    ];

    fn from_code(code: ErrorCode) -> Rejection {
        match code {
            ErrorCode::BadRequest => Rejection::BadRequest,
            ErrorCode::TooLarge => Rejection::TooLarge,
            ErrorCode::RateLimited => Rejection::RateLimited,
            ErrorCode::TooManyRooms => Rejection::TooManyRooms,
            ErrorCode::RoomFull => Rejection::RoomFull,
            ErrorCode::UnknownPeer => Rejection::UnknownPeer,
            ErrorCode::BadEnvelope => Rejection::BadEnvelope,
            ErrorCode::RelayCap => Rejection::RelayCap,
            ErrorCode::MailboxFull => Rejection::MailboxFull,
            ErrorCode::MailboxDenied => Rejection::MailboxDenied,
            ErrorCode::MailboxUnavailable => Rejection::MailboxUnavailable,
            _ => Rejection::Other,
        }
    }

    /// The error code's wire name.
    fn label(self) -> &'static str {
        match self {
            Rejection::BadRequest => "bad-request",
            Rejection::TooLarge => "too-large",
            Rejection::RateLimited => "rate-limited",
            Rejection::TooManyRooms => "too-many-rooms",
            Rejection::RoomFull => "room-full",
            Rejection::UnknownPeer => "unknown-peer",
            Rejection::BadEnvelope => "bad-envelope",
            Rejection::RelayCap => "relay-cap",
            Rejection::MailboxFull => "mailbox-full",
            Rejection::MailboxDenied => "mailbox-denied",
            Rejection::MailboxUnavailable => "mailbox-unavailable",
            Rejection::Other => "other",
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The Web Push series (`push/`), appended to [`Metrics::render`]'s.
pub(crate) fn render_push(out: &mut String, push: PushCounts) {
    gauge(
        out,
        "confab_push_enabled",
        "1 if this server sends Web Push (not --no-push, and its VAPID key loaded).",
        u64::from(push.enabled),
    );
    gauge(
        out,
        "confab_push_subscriptions",
        "Push subscriptions kept.",
        push.subscriptions,
    );
    counter(
        out,
        "confab_pushes_sent_total",
        "Pushes a push service accepted.",
        push.sent,
    );
    counter(
        out,
        "confab_pushes_failed_total",
        "Pushes refused by a push service or not delivered to it.",
        push.failed,
    );
    counter(
        out,
        "confab_push_subscriptions_gone_total",
        "Subscriptions forgotten because their push service answered 404 or 410.",
        push.gone,
    );
    counter(
        out,
        "confab_pushes_coalesced_total",
        "Deposits not pushed at once because their subscription was pushed within --push-interval.",
        push.coalesced,
    );
    counter(
        out,
        "confab_push_notices_dropped_total",
        "Deposits not pushed because the push queue was full.",
        push.notices_dropped,
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_its_wire_name_as_label() {
        for rejection in Rejection::ALL {
            if rejection == Rejection::Other {
                continue;
            }
            let code: ErrorCode =
                serde_json::from_value(serde_json::Value::String(rejection.label().into()))
                    .unwrap();
            assert_eq!(Rejection::from_code(code), rejection);
        }
    }

    #[test]
    fn exposition_is_well_formed() {
        let metrics = Metrics::default();
        metrics.count_rejection(ErrorCode::RateLimited);
        metrics.count_rejection(ErrorCode::RateLimited);
        metrics.count_close(CloseReason::Flood);
        assert_eq!(metrics.rejected(Rejection::RateLimited), 2);
        let text = metrics.render(
            Gauges {
                rooms: 3,
                ..Gauges::default()
            },
            MailboxCounts::default(),
            NatsCounts::default(),
        );
        assert!(text.contains("\nconfab_rooms 3\n"), "{text}");
        assert!(text.contains("confab_rejected_frames_total{reason=\"rate-limited\"} 2\n"));
        assert!(text.contains("confab_connections_closed_total{reason=\"flood\"} 1\n"));
        for line in text.lines() {
            if line.starts_with('#') {
                assert!(line.starts_with("# HELP confab_") || line.starts_with("# TYPE confab_"));
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(series.starts_with("confab_"), "{line}");
            value.parse::<u64>().unwrap();
        }
    }
}
