//! Table-driven tests for header hygiene.

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
        upgrade_protocol(&map(&[("connection", "Upgrade"), ("upgrade", "websocket")])).is_some()
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
        let hop = Hop::new(peer.parse().unwrap(), "https");
        let host = HeaderValue::from_static("shop.example");
        set_forwarding(&mut h, &hop, Some(&host), &trusted);
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
        &Hop::new("::1".parse().unwrap(), "https"),
        None,
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
        (crate::protocol::PASS_HEADER, "forged"),
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
