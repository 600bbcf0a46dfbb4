//! `[limits]`: the timeouts and sizes that protect the proxy from slow, large or many
//! clients.

use std::time::Duration;

use serde::Deserialize;

use super::problems::Problems;

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsFile {
    /// Time a client has to complete the TLS handshake.
    pub tls_handshake_timeout: String,
    /// Time a client has to send a complete request head (slowloris guard).
    pub header_read_timeout: String,
    /// Largest request head accepted, e.g. "16KiB"; larger gets 431.
    pub max_header_bytes: String,
    /// Most request header fields accepted.
    pub max_headers: usize,
    /// Longest request target (path and query), e.g. "8KiB"; longer gets 414.
    pub max_uri_bytes: String,
    /// Longest pause between two pieces of a request body; past it the request gets 408.
    pub client_body_timeout: String,
    /// Largest request body accepted, e.g. "10MiB"; larger gets 413.
    pub max_body_bytes: String,
    /// Open client connections at once across all listeners.
    pub max_connections: usize,
    /// HTTP/2 streams a client may have open on one connection.
    pub h2_max_concurrent_streams: u32,
    /// Time in-flight requests get to finish on shutdown.
    pub shutdown_grace: String,
    /// Longest a response may wait for a client that stopped reading (slow read).
    pub send_timeout: String,
}

impl Default for LimitsFile {
    fn default() -> Self {
        Self {
            tls_handshake_timeout: "10s".into(),
            header_read_timeout: "10s".into(),
            max_header_bytes: "16KiB".into(),
            max_headers: 100,
            max_uri_bytes: "8KiB".into(),
            client_body_timeout: "30s".into(),
            max_body_bytes: "10MiB".into(),
            max_connections: 20_000,
            h2_max_concurrent_streams: 128,
            shutdown_grace: "30s".into(),
            send_timeout: "30s".into(),
        }
    }
}

/// Validated `[limits]`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// TLS handshake budget.
    pub tls_handshake_timeout: Duration,
    /// Request-head budget.
    pub header_read_timeout: Duration,
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
    /// Longest request target in bytes.
    pub max_uri_bytes: usize,
    /// Longest pause between two pieces of a request body.
    pub client_body_timeout: Duration,
    /// Largest request body in bytes.
    pub max_body_bytes: u64,
    /// Open connections at once.
    pub max_connections: usize,
    /// HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Drain budget on shutdown.
    pub shutdown_grace: Duration,
    /// Stalled-write budget per client connection.
    pub send_timeout: Duration,
}

/// Validates `[limits]`.
pub(super) fn validate(p: &mut Problems, l: &LimitsFile) -> Limits {
    let max_header_bytes = p.size("limits.max_header_bytes", &l.max_header_bytes, 1024);
    if max_header_bytes > 1024 * 1024 {
        p.push(
            "limits.max_header_bytes",
            "is over 1MiB; request heads that large are an attack, use e.g. \"16KiB\"",
        );
    }
    let max_uri_bytes = p.size("limits.max_uri_bytes", &l.max_uri_bytes, 256);
    if max_uri_bytes > max_header_bytes {
        p.push(
            "limits.max_uri_bytes",
            "is larger than limits.max_header_bytes, which the request line counts towards; lower it (default \"8KiB\")",
        );
    }
    if l.max_headers == 0 || l.max_headers > 1000 {
        p.push(
            "limits.max_headers",
            format!(
                "{} is out of range; give 1 to 1000 (default 100)",
                l.max_headers
            ),
        );
    }
    if l.max_connections == 0 {
        p.push(
            "limits.max_connections",
            "0 would refuse every visitor; give a positive number (default 20000)",
        );
    }
    if l.h2_max_concurrent_streams == 0 {
        p.push(
            "limits.h2_max_concurrent_streams",
            "0 would stall every HTTP/2 client; give a positive number (default 128)",
        );
    }
    Limits {
        tls_handshake_timeout: p.duration("limits.tls_handshake_timeout", &l.tls_handshake_timeout),
        header_read_timeout: p.duration("limits.header_read_timeout", &l.header_read_timeout),
        max_header_bytes: max_header_bytes as usize,
        max_headers: l.max_headers,
        max_uri_bytes: max_uri_bytes as usize,
        client_body_timeout: p.duration("limits.client_body_timeout", &l.client_body_timeout),
        max_body_bytes: p.size("limits.max_body_bytes", &l.max_body_bytes, 0),
        max_connections: l.max_connections,
        h2_max_concurrent_streams: l.h2_max_concurrent_streams,
        shutdown_grace: p.duration("limits.shutdown_grace", &l.shutdown_grace),
        send_timeout: p.duration("limits.send_timeout", &l.send_timeout),
    }
}
