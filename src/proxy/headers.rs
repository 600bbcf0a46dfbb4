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
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    /// (headers sent, names kept, names removed)
    type HopCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);

    #[test]
    fn hop_by_hop_table() {
        let cases: &[HopCase] = &[
            (
                &[("connection", "close"), ("x-a", "1")],
                &["x-a"],
                &["connection"],
            ),
            (
                &[
                    ("connection", "keep-alive, X-Secret"),
                    ("x-secret", "s"),
                    ("keep-alive", "timeout=5"),
                ],
                &[],
                &["x-secret", "keep-alive", "connection"],
            ),
            (
                &[
                    ("connection", "x-one"),
                    ("connection", "x-two"),
                    ("x-one", "1"),
                    ("x-two", "2"),
                    ("x-three", "3"),
                ],
                &["x-three"],
                &["x-one", "x-two"],
            ),
            (
                &[
                    ("te", "trailers"),
                    ("transfer-encoding", "chunked"),
                    ("trailer", "x"),
                    ("upgrade", "h2c"),
                ],
                &[],
                &["te", "transfer-encoding", "trailer", "upgrade"],
            ),
            (
                &[
                    ("proxy-authorization", "Basic x"),
                    ("proxy-authenticate", "Basic"),
                    ("proxy-connection", "keep-alive"),
                ],
                &[],
                &[
                    "proxy-authorization",
                    "proxy-authenticate",
                    "proxy-connection",
                ],
            ),
            (
                &[("connection", "bad header name!, x-ok"), ("x-ok", "1")],
                &[],
                &["x-ok"],
            ),
        ];
        for (sent, kept, removed) in cases {
            let mut h = map(sent);
            remove_hop_by_hop(&mut h);
            for k in *kept {
                assert!(h.contains_key(*k), "{k} should be kept in {sent:?}");
            }
            for r in *removed {
                assert!(!h.contains_key(*r), "{r} should be removed in {sent:?}");
            }
        }
    }

    #[test]
    fn te_trailers_is_reported() {
        assert!(remove_hop_by_hop(&mut map(&[("te", "gzip, trailers")])).te_trailers);
        assert!(!remove_hop_by_hop(&mut map(&[("te", "gzip")])).te_trailers);
    }

    #[test]
    fn upgrade_needs_both_headers() {
        assert!(
            upgrade_protocol(&map(&[("connection", "Upgrade"), ("upgrade", "websocket")]))
                .is_some()
        );
        assert!(upgrade_protocol(&map(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_protocol(&map(&[("connection", "keep-alive, upgrade")])).is_none());
    }

    #[test]
    fn forwarding_table() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // (peer, incoming xff, expected xff)
        let cases = [
            ("203.0.113.5", None, "203.0.113.5"),
            ("203.0.113.5", Some("1.2.3.4"), "203.0.113.5"),
            ("10.1.2.3", Some("1.2.3.4"), "1.2.3.4, 10.1.2.3"),
            ("10.1.2.3", None, "10.1.2.3"),
        ];
        for (peer, xff, want) in cases {
            let mut h = HeaderMap::new();
            if let Some(x) = xff {
                h.insert(X_FORWARDED_FOR, HeaderValue::from_str(x).unwrap());
            }
            h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
            let hop = Hop {
                peer: peer.parse().unwrap(),
                proto: "https",
                host: Some("shop.example"),
            };
            set_forwarding(&mut h, hop, &trusted);
            assert_eq!(h[&X_FORWARDED_FOR], want, "peer {peer} xff {xff:?}");
            let trusted_peer = peer.starts_with("10.");
            assert_eq!(
                h[&X_FORWARDED_PROTO],
                if trusted_peer { "http" } else { "https" }
            );
            assert!(h[header::FORWARDED]
                .to_str()
                .unwrap()
                .ends_with(&format!("for={peer};proto=https;host=\"shop.example\"")));
        }
    }

    #[test]
    fn forwarded_quotes_ipv6() {
        let mut h = HeaderMap::new();
        set_forwarding(
            &mut h,
            Hop {
                peer: "::1".parse().unwrap(),
                proto: "https",
                host: None,
            },
            &[],
        );
        assert_eq!(h[header::FORWARDED], "for=\"[::1]\";proto=https");
    }

    #[test]
    fn via_appends() {
        let mut h = map(&[("via", "1.1 cdn")]);
        append_via(&mut h, http::Version::HTTP_2);
        assert_eq!(h[header::VIA], "1.1 cdn, 2 usher");
    }

    #[test]
    fn usher_headers_are_dropped() {
        let mut h = map(&[
            ("x-usher-pass", "forged"),
            ("X-Usher-Anything", "1"),
            ("x-user", "ok"),
        ]);
        remove_usher_headers(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-user"));
    }

    #[test]
    fn request_ids() {
        let ids = RequestIds::new();
        let a = ids.for_request(&HeaderMap::new());
        let b = ids.for_request(&HeaderMap::new());
        assert_ne!(a, b);
        assert_eq!(
            ids.for_request(&map(&[("x-request-id", "abc-123")])),
            "abc-123"
        );
        let evil = ids.for_request(&map(&[("x-request-id", "a b\"<script>")]));
        assert_ne!(evil, "a b\"<script>");
    }
}
