//! `cookies::get` and `cookies::strip` on arbitrary `Cookie` header values: never panic;
//! after `strip` no pair usher or a site would read as `usher_*` is left, every other
//! cookie reads as before, and a second `strip` changes nothing.
//!
//! Input: a cookie name to look up, then one `Cookie` header value per line (raw bytes:
//! values a client could not send are skipped, as hyper would refuse them).
#![no_main]

use http::header::{HeaderMap, HeaderValue, COOKIE};
use libfuzzer_sys::fuzz_target;
use usher::protocol::cookies::{get, strip};
use usher::protocol::{PASS_COOKIE as PASS, TICKET_COOKIE as TICKET};

/// Every cookie name in readable `Cookie` values, as `get` splits them.
fn names(h: &HeaderMap) -> Vec<String> {
    h.get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(|pair| {
            let pair = pair.trim();
            pair.split_once('=').map_or(pair, |(k, _)| k).to_string()
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let name = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let mut h = HeaderMap::new();
    for v in lines.take(8) {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            h.append(COOKIE, v);
        }
    }
    for name in [TICKET, PASS, &*name] {
        if let Some(v) = get(&h, name) {
            assert!(!v.contains(';'), "a value spans pairs: {v:?}");
        }
    }
    let before = names(&h);
    let mut stripped = h.clone();
    strip(&mut stripped);
    assert!(stripped.get_all(COOKIE).iter().count() <= 1);
    for n in names(&stripped) {
        assert!(!n.starts_with("usher_"), "{n:?} survived strip of {h:?}");
    }
    assert_eq!(get(&stripped, TICKET), None);
    assert_eq!(get(&stripped, PASS), None);
    for n in before.iter().filter(|n| !n.starts_with("usher_")) {
        assert_eq!(
            get(&h, n),
            get(&stripped, n),
            "cookie {n:?} changed by strip"
        );
    }
    let mut twice = stripped.clone();
    strip(&mut twice);
    assert_eq!(twice, stripped, "strip is not idempotent");
});
