//! Header hygiene in one place: hop-by-hop removal (RFC 9110 §7.6.1), forwarding headers,
//! `Via`, request ids, and the client-supplied headers usher never lets through.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

/// Hop-by-hop fields that never cross a proxy, besides those listed in `Connection`.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TRAILER,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// The request's own id, echoed to the client and sent upstream.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What hop-by-hop removal found that the caller may need to re-add.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HopInfo {
    /// The client sent `TE: trailers` (gRPC needs it re-added upstream).
    pub te_trailers: bool,
}

/// Removes the `Connection`-listed fields, then every standard hop-by-hop field.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) -> HopInfo {
    let mut listed: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        if let Ok(s) = value.to_str() {
            for token in s.split(',') {
                if let Ok(name) = HeaderName::from_bytes(token.trim().as_bytes()) {
                    listed.push(name);
                }
            }
        }
    }
    for name in listed {
        headers.remove(&name);
    }
    let te_trailers = headers.get_all(header::TE).iter().any(|v| {
        v.to_str()
            .map(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
            })
            .unwrap_or(false)
    });
    for name in HOP_BY_HOP.iter() {
        headers.remove(name);
    }
    HopInfo { te_trailers }
}

/// True when the request asks to switch protocols (`Connection: upgrade` plus `Upgrade`).
pub fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let wants = headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str()
            .map(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
            .unwrap_or(false)
    });
    if wants {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Removes every header whose name starts with `x-usher-`: only usher itself may set them.
pub fn remove_usher_headers(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-usher-"))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}

/// What the proxy knows about the hop the request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    /// Immediate peer.
    pub peer: IpAddr,
    /// `https` or `http`.
    pub proto: &'static str,
    /// The host the client asked for.
    pub host: Option<&'a str>,
}

/// Sets `X-Forwarded-For/Proto/Host` and `Forwarded`.
///
/// A trusted peer's chain is extended; anyone else's is replaced, because the waiting room
/// keys decisions on the client address and a client could otherwise claim any address.
pub fn set_forwarding(headers: &mut HeaderMap, hop: Hop<'_>, trusted: &[IpNet]) {
    let trust = trusted.iter().any(|n| n.contains(&hop.peer));
    let peer = hop.peer.to_string();

    let xff = match (trust, joined(headers, &X_FORWARDED_FOR)) {
        (true, Some(prev)) => format!("{prev}, {peer}"),
        _ => peer.clone(),
    };
    let node = match hop.peer {
        IpAddr::V4(_) => peer.clone(),
        IpAddr::V6(_) => format!("\"[{peer}]\""),
    };
    let mut fwd = format!("for={node};proto={}", hop.proto);
    if let Some(h) = hop.host {
        fwd.push_str(";host=\"");
        fwd.push_str(&h.replace(['"', '\\'], ""));
        fwd.push('"');
    }
    let forwarded = match (trust, joined(headers, &header::FORWARDED)) {
        (true, Some(prev)) => format!("{prev}, {fwd}"),
        _ => fwd,
    };
    if !trust || !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(hop.proto));
    }
    if !trust || !headers.contains_key(&X_FORWARDED_HOST) {
        headers.remove(&X_FORWARDED_HOST);
        if let Some(v) = hop.host.and_then(|h| HeaderValue::from_str(h).ok()) {
            headers.insert(X_FORWARDED_HOST, v);
        }
    }
    put(headers, X_FORWARDED_FOR, &xff);
    put(headers, header::FORWARDED, &forwarded);
}

/// Appends this proxy to `Via` (RFC 9110 §7.6.3) for a message received as `version`.
pub fn append_via(headers: &mut HeaderMap, version: http::Version) {
    let proto = match version {
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    };
    let via = match joined(headers, &header::VIA) {
        Some(prev) => format!("{prev}, {proto} usher"),
        None => format!("{proto} usher"),
    };
    put(headers, header::VIA, &via);
}

/// All values of a header joined with ", ", if any are valid text.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let parts: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn put(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    // Every piece we build from is already a valid header value or an IP address.
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Makes unique request ids cheaply: a per-process random prefix and a counter.
pub struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl RequestIds {
    /// A generator whose prefix differs between processes.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        Self {
            prefix: h.finish() as u32,
            next: AtomicU64::new(1),
        }
    }

    /// The client's id when it is short and plain, otherwise a fresh one.
    pub fn for_request(&self, headers: &HeaderMap) -> HeaderValue {
        if let Some(v) = headers.get(&X_REQUEST_ID) {
            let b = v.as_bytes();
            if !b.is_empty()
                && b.len() <= 128
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
            {
                return v.clone();
            }
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}-{n:x}", self.prefix);
        HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid"))
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
