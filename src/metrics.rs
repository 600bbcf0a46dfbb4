//! Prometheus metrics: one registry per server so in-process tests do not share counters.
//!
//! Names follow Prometheus conventions: `usher_` prefix, base units, `_total` counters.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every metric the proxy records.
pub struct Metrics {
    registry: Registry,
    /// Responses sent to clients, by listener and status class (`2xx`…`5xx`).
    pub requests: IntCounterVec,
    /// Time from sending a request upstream to receiving its response head.
    pub upstream_latency: HistogramVec,
    /// Failed upstream exchanges by kind (`connect`, `timeout`, `protocol`).
    pub upstream_errors: IntCounterVec,
    /// Client connections open now, by listener.
    pub open_connections: IntGaugeVec,
    /// Client connections accepted, by listener.
    pub connections: IntCounterVec,
    /// Connections refused because `limits.max_connections` was reached.
    pub connections_refused: IntCounter,
    /// TLS handshakes by result (`ok`, `error`, `timeout`).
    pub tls_handshakes: IntCounterVec,
    /// Passes refused, by reason (`bad_signature`, `expired`…).
    pub pass_rejections: IntCounterVec,
    /// Per-room gauges: `state` is `waiting`, `called`, `active` or `recalled_waiting`.
    pub room_visitors: IntGaugeVec,
    /// Per-room totals: `event` is `admitted`, `lapsed`, `abandoned` or `recalled`.
    pub room_events: IntCounterVec,
    /// Per-room estimated wait for a visitor joining now, in seconds.
    pub room_wait: prometheus::GaugeVec,
    /// 1 while the queue store answers, 0 during an outage.
    pub store_up: prometheus::IntGauge,
    /// Config reloads by result (`ok`, `error`).
    pub config_reloads: IntCounterVec,
    /// Abuse defences at work: `event` is `challenge_issued`, `challenge_solved`,
    /// `challenge_failed`, `too_many_places` or `pass_shared`.
    pub abuse: IntCounterVec,
    /// Per room: 1 while this node calls visitors (holds the admission lease), else 0.
    pub room_lease: IntGaugeVec,
}

impl Metrics {
    /// Creates and registers all metrics (fails only on a duplicate name: a programming error).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("usher_requests_total", "Responses sent to clients."),
            &["listener", "class"],
        )?;
        let upstream_latency = HistogramVec::new(
            HistogramOpts::new(
                "usher_upstream_response_seconds",
                "Time from forwarding a request to receiving the upstream response head.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ]),
            &["upstream"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new("usher_upstream_errors_total", "Failed upstream exchanges."),
            &["upstream", "kind"],
        )?;
        let open_connections = IntGaugeVec::new(
            Opts::new("usher_open_connections", "Client connections open now."),
            &["listener"],
        )?;
        let connections = IntCounterVec::new(
            Opts::new("usher_connections_total", "Client connections accepted."),
            &["listener"],
        )?;
        let connections_refused = IntCounter::new(
            "usher_connections_refused_total",
            "Connections closed at once because limits.max_connections was reached.",
        )?;
        let tls_handshakes = IntCounterVec::new(
            Opts::new(
                "usher_tls_handshakes_total",
                "TLS handshakes on the public listener.",
            ),
            &["result"],
        )?;
        let pass_rejections = IntCounterVec::new(
            Opts::new("usher_pass_rejections_total", "Passes refused, by reason."),
            &["reason"],
        )?;
        let room_visitors = IntGaugeVec::new(
            Opts::new("usher_room_visitors", "Visitors per room and state."),
            &["room", "state"],
        )?;
        let room_events = IntCounterVec::new(
            Opts::new("usher_room_events_total", "Admission events per room."),
            &["room", "event"],
        )?;
        let room_wait = prometheus::GaugeVec::new(
            Opts::new(
                "usher_room_estimated_wait_seconds",
                "Estimated wait for a visitor joining now.",
            ),
            &["room"],
        )?;
        let store_up = prometheus::IntGauge::new(
            "usher_store_up",
            "1 while the queue store answers, 0 during an outage.",
        )?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "usher_config_reloads_total",
                "Config reloads (file change or SIGHUP), by result.",
            ),
            &["result"],
        )?;
        let room_lease = IntGaugeVec::new(
            Opts::new(
                "usher_room_admission_lease",
                "1 while this node calls the room's visitors (holds its admission lease; always 1 on the memory store).",
            ),
            &["room"],
        )?;
        let abuse = IntCounterVec::new(
            Opts::new(
                "usher_abuse_total",
                "Abuse defences at work: challenges issued/solved/failed, places refused to a network over its cap, passes revoked for sharing.",
            ),
            &["event"],
        )?;
        for c in [
            Box::new(config_reloads.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(abuse.clone()),
            Box::new(room_lease.clone()),
            Box::new(pass_rejections.clone()),
            Box::new(room_visitors.clone()),
            Box::new(room_events.clone()),
            Box::new(room_wait.clone()),
            Box::new(store_up.clone()),
        ] {
            registry.register(c)?;
        }
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(upstream_latency.clone()),
            Box::new(upstream_errors.clone()),
            Box::new(open_connections.clone()),
            Box::new(connections.clone()),
            Box::new(connections_refused.clone()),
            Box::new(tls_handshakes.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Self {
            registry,
            requests,
            upstream_latency,
            upstream_errors,
            open_connections,
            connections,
            connections_refused,
            tls_handshakes,
            pass_rejections,
            room_visitors,
            room_events,
            room_wait,
            store_up,
            config_reloads,
            room_lease,
            abuse,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::with_capacity(8 * 1024);
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// `usher_requests_total` children for one listener, resolved once so that counting a
/// response is one atomic add rather than a labelled lookup.
#[derive(Clone)]
pub struct StatusCounters([IntCounter; 5]);

impl StatusCounters {
    /// Counts one response with this status code.
    pub fn record(&self, status: u16) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
        self.0[i].inc();
    }
}

/// One upstream server's metric children, resolved once.
#[derive(Clone)]
pub struct UpstreamMetrics {
    /// Response-head latency.
    pub latency: prometheus::Histogram,
    /// Connect failures.
    pub connect_errors: IntCounter,
    /// Response timeouts.
    pub timeouts: IntCounter,
    /// Other exchange failures.
    pub protocol_errors: IntCounter,
}

impl Metrics {
    /// The response counters for `listener`.
    pub fn status_counters(&self, listener: &str) -> StatusCounters {
        let c = |class| self.requests.with_label_values(&[listener, class]);
        StatusCounters([c("1xx"), c("2xx"), c("3xx"), c("4xx"), c("5xx")])
    }

    /// The metric children for the upstream `authority`.
    pub fn upstream(&self, authority: &str) -> UpstreamMetrics {
        let e = |kind| self.upstream_errors.with_label_values(&[authority, kind]);
        UpstreamMetrics {
            latency: self.upstream_latency.with_label_values(&[authority]),
            connect_errors: e("connect"),
            timeouts: e("timeout"),
            protocol_errors: e("protocol"),
        }
    }
}

/// Keeps `usher_open_connections{listener}` right even when a connection task is cancelled.
pub struct OpenConnection(prometheus::IntGauge);

impl OpenConnection {
    /// Counts a new connection on `listener` until the guard is dropped.
    pub fn track(metrics: &Metrics, listener: &str) -> Self {
        metrics.connections.with_label_values(&[listener]).inc();
        let g = metrics.open_connections.with_label_values(&[listener]);
        g.inc();
        Self(g)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
