//! Counters and gauges of a hub, the Prometheus text at `GET /metrics`, and the `sys.metrics`
//! JSON.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The transports a subscriber can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Ws,
    Sse,
    Poll,
}

/// Live counters, updated with relaxed atomics (each is independent).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tcp: AtomicU64,
    /// WebSocket and SSE sessions running (`Hub::run_session`), in a task of their own or in
    /// their connection's: shutdown waits for them.
    pub(crate) sessions: AtomicU64,
    pub(crate) ws: AtomicU64,
    pub(crate) sse: AtomicU64,
    pub(crate) poll: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) delivered_ws: AtomicU64,
    pub(crate) delivered_sse: AtomicU64,
    pub(crate) refused_max_connections: AtomicU64,
    pub(crate) refused_per_ip: AtomicU64,
    pub(crate) refused_max_topics: AtomicU64,
    pub(crate) auth_failures: AtomicU64,
    pub(crate) origin_refusals: AtomicU64,
    pub(crate) host_refusals: AtomicU64,
    pub(crate) tls_failed: AtomicU64,
    pub(crate) ws_h2: AtomicU64,
    pub(crate) requests_h2: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) duplicates: AtomicU64,
}

impl Counters {
    pub(crate) fn gauge(&self, t: Transport) -> &AtomicU64 {
        match t {
            Transport::Ws => &self.ws,
            Transport::Sse => &self.sse,
            Transport::Poll => &self.poll,
        }
    }
}

/// Decrements a transport gauge when a subscriber's handler ends, however it ends.
pub(crate) struct GaugeGuard<'a>(&'a AtomicU64);

impl<'a> GaugeGuard<'a> {
    pub(crate) fn new(g: &'a AtomicU64) -> GaugeGuard<'a> {
        g.fetch_add(1, Relaxed);
        GaugeGuard(g)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// A point-in-time reading of a hub's metrics ([`Hub::metrics`](crate::Hub::metrics)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Open TCP connections accepted by [`Hub::serve`](crate::Hub::serve).
    pub connections: u64,
    /// Open WebSocket subscribers.
    pub ws: u64,
    /// Open SSE streams.
    pub sse: u64,
    /// Long-poll requests being answered (parked or not).
    pub poll: u64,
    /// Parked long-poll requests.
    pub parked_polls: u64,
    /// Topics.
    pub topics: u64,
    /// Events published since start (all routes, including `sys.metrics`).
    pub events_in: u64,
    /// Events written to WebSocket subscribers since start.
    pub events_out_ws: u64,
    /// Events written to SSE subscribers since start.
    pub events_out_sse: u64,
    /// Events in long-poll answers since start (each event once per answer carrying it).
    pub events_out_poll: u64,
    /// Connections refused at the connection cap (503).
    pub refused_max_connections: u64,
    /// Connections refused at the per-IP cap (429).
    pub refused_per_ip: u64,
    /// Requests refused because the topic cap was reached (503).
    pub refused_max_topics: u64,
    /// Requests refused with 401 or 403 for their token.
    pub auth_failures: u64,
    /// Cross-origin requests refused (403).
    pub origin_refusals: u64,
    /// Requests refused for their `Host` name (403; the DNS-rebinding guard).
    pub host_refusals: u64,
    /// TLS handshakes that failed (plain HTTP on the TLS port included).
    pub tls_failures: u64,
    /// WebSocket sessions opened over HTTP/2 (RFC 8441 extended CONNECT).
    pub ws_h2: u64,
    /// Requests received over HTTP/2.
    pub requests_h2: u64,
    /// Resident memory of the process in bytes (`VmRSS` of `/proc/self/status`; 0 where
    /// unavailable).
    pub rss_bytes: u64,
    /// Store operations that failed (the store unreachable or refusing).
    pub store_errors: u64,
    /// 1 while the store answers (or there is none), 0 after a failure until it answers again.
    pub store_up: u64,
    /// Publishes answered from an earlier one with the same `Idempotency-Key` (nothing
    /// appended).
    pub idempotent_replays: u64,
}

impl MetricsSnapshot {
    /// Events written to subscribers of every transport (WebSocket, SSE, long-poll).
    #[must_use]
    pub fn events_out(&self) -> u64 {
        self.events_out_ws + self.events_out_sse + self.events_out_poll
    }

    /// The Prometheus text exposition (version 0.0.4) served at `GET /metrics`.
    #[must_use]
    pub fn prometheus(&self) -> String {
        let mut s = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        metric(
            "sluice_connections",
            "gauge",
            "Open TCP connections.",
            &[("", self.connections)],
        );
        metric(
            "sluice_subscribers",
            "gauge",
            "Open subscribers by transport (long-poll: requests in progress).",
            &[
                ("{transport=\"ws\"}", self.ws),
                ("{transport=\"sse\"}", self.sse),
                ("{transport=\"poll\"}", self.poll),
            ],
        );
        metric(
            "sluice_longpoll_parked",
            "gauge",
            "Parked long-poll requests.",
            &[("", self.parked_polls)],
        );
        metric("sluice_topics", "gauge", "Topics.", &[("", self.topics)]);
        metric(
            "sluice_events_published_total",
            "counter",
            "Events published.",
            &[("", self.events_in)],
        );
        metric(
            "sluice_events_delivered_total",
            "counter",
            "Events written to subscribers by transport.",
            &[
                ("{transport=\"ws\"}", self.events_out_ws),
                ("{transport=\"sse\"}", self.events_out_sse),
                ("{transport=\"poll\"}", self.events_out_poll),
            ],
        );
        metric(
            "sluice_refused_total",
            "counter",
            "Connections or requests refused by a limit or a policy.",
            &[
                ("{reason=\"max_connections\"}", self.refused_max_connections),
                ("{reason=\"per_ip\"}", self.refused_per_ip),
                ("{reason=\"max_topics\"}", self.refused_max_topics),
                ("{reason=\"auth\"}", self.auth_failures),
                ("{reason=\"origin\"}", self.origin_refusals),
                ("{reason=\"host\"}", self.host_refusals),
            ],
        );
        metric(
            "sluice_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed (plain HTTP on the TLS port included).",
            &[("", self.tls_failures)],
        );
        metric(
            "sluice_http2_requests_total",
            "counter",
            "Requests received over HTTP/2.",
            &[("", self.requests_h2)],
        );
        metric(
            "sluice_http2_websockets_total",
            "counter",
            "WebSocket sessions opened over HTTP/2 (RFC 8441 extended CONNECT).",
            &[("", self.ws_h2)],
        );
        metric(
            "sluice_store_errors_total",
            "counter",
            "Store operations that failed.",
            &[("", self.store_errors)],
        );
        metric(
            "sluice_store_up",
            "gauge",
            "1 while the store answers, 0 after a failure until it answers again.",
            &[("", self.store_up)],
        );
        metric(
            "sluice_idempotent_replays_total",
            "counter",
            "Publishes answered from an earlier one with the same Idempotency-Key.",
            &[("", self.idempotent_replays)],
        );
        metric(
            "sluice_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the process.",
            &[("", self.rss_bytes)],
        );
        s
    }
}

/// Resident set size from `/proc/self/status` (`VmRSS`, in kB there), or 0.
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text() {
        let m = MetricsSnapshot {
            ws: 3,
            events_in: 7,
            ..MetricsSnapshot::default()
        };
        let t = m.prometheus();
        assert!(t.contains("# TYPE sluice_subscribers gauge\n"));
        assert!(t.contains("sluice_subscribers{transport=\"ws\"} 3\n"));
        assert!(t.contains("sluice_events_published_total 7\n"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            v.parse::<u64>().unwrap();
        }
    }

    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(rss_bytes() > 0);
        }
    }
}
