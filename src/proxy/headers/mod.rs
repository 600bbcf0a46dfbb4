//! Header hygiene in one place: hop-by-hop removal (RFC 9110 §7.6.1), forwarding headers,
//! `Via`, request ids, and the client-supplied headers usher never lets through.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

use crate::protocol::HEADER_PREFIX;

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
        .filter(|n| n.as_str().starts_with(HEADER_PREFIX))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}

/// What the proxy knows about the hop a request arrived on, prepared once per connection
/// so that forwarding headers cost no formatting per request.
#[derive(Debug, Clone)]
pub struct Hop {
    /// Immediate peer.
    pub peer: IpAddr,
    /// `https` or `http`.
    pub proto: &'static str,
    /// The peer address as a header value (`X-Forwarded-For`).
    peer_value: HeaderValue,
    /// `for=<peer>;proto=<proto>` (`Forwarded`, RFC 7239; IPv6 quoted and bracketed).
    forwarded: String,
}

impl Hop {
    /// Prepares the forwarding values for a connection from `peer` over `proto`.
    pub fn new(peer: IpAddr, proto: &'static str) -> Self {
        let text = peer.to_string();
        let forwarded = match peer {
            IpAddr::V4(_) => format!("for={text};proto={proto}"),
            IpAddr::V6(_) => format!("for=\"[{text}]\";proto={proto}"),
        };
        Self {
            peer,
            proto,
            peer_value: value(text.into_bytes()),
            forwarded,
        }
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy. An untrusted peer's
/// forwarding headers are never believed.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let chain: Vec<IpAddr> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|s| s.trim().parse().ok())
        .collect();
    chain
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// Sets `X-Forwarded-For/Proto/Host` and `Forwarded`; `host` is what the client asked for.
///
/// A trusted peer's chain is extended; anyone else's is replaced, because the waiting room
/// keys decisions on the client address and a client could otherwise claim any address.
pub fn set_forwarding(
    headers: &mut HeaderMap,
    hop: &Hop,
    host: Option<&HeaderValue>,
    trusted: &[IpNet],
) {
    let trust = !trusted.is_empty() && trusted.iter().any(|n| n.contains(&hop.peer));

    let mut fwd = Vec::with_capacity(hop.forwarded.len() + 40);
    fwd.extend_from_slice(hop.forwarded.as_bytes());
    if let Some(h) = host {
        fwd.extend_from_slice(b";host=\"");
        fwd.extend(h.as_bytes().iter().filter(|b| !matches!(b, b'"' | b'\\')));
        fwd.push(b'"');
    }
    if trust {
        let xff = match joined(headers, &X_FORWARDED_FOR) {
            Some(prev) => value(format!("{prev}, {}", hop.peer).into_bytes()),
            None => hop.peer_value.clone(),
        };
        if let Some(prev) = joined(headers, &header::FORWARDED) {
            let mut chain = prev.into_bytes();
            chain.extend_from_slice(b", ");
            chain.extend_from_slice(&fwd);
            fwd = chain;
        }
        headers.insert(X_FORWARDED_FOR, xff);
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(hop.proto));
        }
        if !headers.contains_key(&X_FORWARDED_HOST) {
            if let Some(h) = host {
                headers.insert(X_FORWARDED_HOST, h.clone());
            }
        }
    } else {
        headers.insert(X_FORWARDED_FOR, hop.peer_value.clone());
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(hop.proto));
        match host {
            Some(h) => headers.insert(X_FORWARDED_HOST, h.clone()),
            None => headers.remove(&X_FORWARDED_HOST),
        };
    }
    headers.insert(header::FORWARDED, value(fwd));
}

/// Appends this proxy to `Via` (RFC 9110 §7.6.3) for a message received as `version`.
pub fn append_via(headers: &mut HeaderMap, version: http::Version) {
    let ours = match version {
        http::Version::HTTP_10 => "1.0 usher",
        http::Version::HTTP_2 => "2 usher",
        http::Version::HTTP_3 => "3 usher",
        _ => "1.1 usher",
    };
    let via = match joined(headers, &header::VIA) {
        Some(prev) => value(format!("{prev}, {ours}").into_bytes()),
        None => HeaderValue::from_static(ours),
    };
    headers.insert(header::VIA, via);
}

/// A header value from bytes we assembled from valid header values and IP addresses;
/// takes the buffer without copying it.
fn value(bytes: Vec<u8>) -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(bytes))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
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
        value(format!("{:08x}-{n:x}", self.prefix).into_bytes())
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
