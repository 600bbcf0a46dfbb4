//! `[upstream]`: the servers admitted requests go to, what `Host` they get, and the
//! client's timeouts and connection pool.

use std::time::Duration;

use serde::Deserialize;

use super::problems::Problems;

/// `[upstream]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamFile {
    /// `host:port` or `http://host:port` of each upstream server (round-robin).
    pub servers: Vec<String>,
    /// `"preserve"`, `"rewrite"` or a literal host name to send as `Host`.
    pub host_header: String,
    /// Time allowed to open a TCP connection to an upstream.
    pub connect_timeout: String,
    /// Time allowed from sending the request to receiving response headers.
    pub response_timeout: String,
    /// Longest pause between two pieces of an upstream response body.
    pub read_timeout: String,
    /// After a failed connect, how long a server is skipped.
    pub fail_timeout: String,
    /// How long an idle pooled upstream connection is kept.
    pub pool_idle_timeout: String,
    /// Idle pooled connections kept per upstream.
    pub pool_max_idle_per_host: usize,
}

impl Default for UpstreamFile {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            host_header: "preserve".into(),
            connect_timeout: "3s".into(),
            response_timeout: "30s".into(),
            read_timeout: "60s".into(),
            fail_timeout: "10s".into(),
            pool_idle_timeout: "90s".into(),
            pool_max_idle_per_host: 256,
        }
    }
}

/// Validated `[upstream]`.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// `host:port` authorities, tried round-robin.
    pub servers: Vec<http::uri::Authority>,
    /// What to send as `Host`.
    pub host: HostHeader,
    /// TCP connect budget.
    pub connect_timeout: Duration,
    /// Budget until response headers arrive.
    pub response_timeout: Duration,
    /// Longest pause between two pieces of a response body.
    pub read_timeout: Duration,
    /// How long a server that refused a connection is skipped.
    pub fail_timeout: Duration,
    /// Idle pooled connection lifetime.
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections per upstream.
    pub pool_max_idle_per_host: usize,
}

/// How the `Host` header reaches the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostHeader {
    /// The client's host, unchanged.
    Preserve,
    /// The upstream server's own `host:port`.
    Rewrite,
    /// A fixed value.
    Fixed(http::HeaderValue),
}

/// Validates `[upstream]`.
pub(super) fn validate(p: &mut Problems, u: &UpstreamFile) -> UpstreamSettings {
    if u.servers.is_empty() {
        p.push(
            "upstream.servers",
            "is empty; list at least one upstream such as [\"127.0.0.1:8000\"]",
        );
    }
    let mut servers = Vec::new();
    for (i, raw) in u.servers.iter().enumerate() {
        match parse_upstream(raw) {
            Ok(a) => servers.push(a),
            Err(msg) => p.push(&format!("upstream.servers[{i}]"), msg),
        }
    }
    let host = match u.host_header.as_str() {
        "preserve" => HostHeader::Preserve,
        "rewrite" => HostHeader::Rewrite,
        literal => match literal.parse::<http::uri::Authority>() {
            Ok(a) if !literal.is_empty() && a.as_str() == literal => {
                match http::HeaderValue::from_str(literal) {
                    Ok(v) => HostHeader::Fixed(v),
                    Err(_) => HostHeader::Preserve,
                }
            }
            _ => {
                p.push("upstream.host_header", format!("{literal:?} is neither \"preserve\", \"rewrite\" nor a host name like \"backend.internal\""));
                HostHeader::Preserve
            }
        },
    };
    UpstreamSettings {
        servers,
        host,
        connect_timeout: p.duration("upstream.connect_timeout", &u.connect_timeout),
        response_timeout: p.duration("upstream.response_timeout", &u.response_timeout),
        read_timeout: p.duration("upstream.read_timeout", &u.read_timeout),
        fail_timeout: p.duration("upstream.fail_timeout", &u.fail_timeout),
        pool_idle_timeout: p.duration("upstream.pool_idle_timeout", &u.pool_idle_timeout),
        pool_max_idle_per_host: u.pool_max_idle_per_host,
    }
}

/// Accepts `host:port` or `http://host:port` (no path); returns the authority.
fn parse_upstream(raw: &str) -> Result<http::uri::Authority, String> {
    let rest = if let Some(r) = raw.strip_prefix("http://") {
        r
    } else if raw.starts_with("https://") {
        return Err(format!("{raw:?}: TLS to upstreams is not supported yet; use \"http://host:port\" on a private network"));
    } else if raw.contains("://") {
        return Err(format!(
            "{raw:?} has an unknown scheme; write \"host:port\" or \"http://host:port\""
        ));
    } else {
        raw
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(format!(
            "{raw:?} has a path; give only \"host:port\" (paths are passed through unchanged)"
        ));
    }
    match rest.parse::<http::uri::Authority>() {
        Ok(a) if a.port_u16().is_some() && !a.host().is_empty() => Ok(a),
        Ok(_) => Err(format!(
            "{raw:?} has no port; write \"host:port\", e.g. \"127.0.0.1:8000\""
        )),
        Err(_) => Err(format!(
            "{raw:?} is not host:port; write e.g. \"127.0.0.1:8000\""
        )),
    }
}

#[cfg(test)]
mod tests;
