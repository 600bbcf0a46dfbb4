//! The waiting page's query helpers on arbitrary input: `unpercent` and `query_param`
//! never panic; `percent` output is plain and `unpercent` undoes it, also through
//! `query_param`; and `safe_return_to` — on raw strings and on a decoded `return_to`
//! parameter — only ever yields a same-origin path: it starts with `/`, never with `//`
//! or `/\`, and a browser (WHATWG URL parsing, `url` crate) resolves it on the site's
//! own origin.
//!
//! Input: the query string, a NUL byte, then a free string.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use usher::protocol::query::{percent, query_param, safe_return_to, unpercent};

static SITE: LazyLock<url::Url> =
    LazyLock::new(|| url::Url::parse("https://tickets.example/waiting").expect("url"));

fn check_return_to(raw: Option<&str>) {
    let r = safe_return_to(raw);
    assert!(r.starts_with('/'), "{raw:?} → {r:?}");
    assert!(
        !r.starts_with("//") && !r.starts_with("/\\"),
        "{raw:?} → {r:?}"
    );
    assert!(!r.contains(['\r', '\n']), "{raw:?} → {r:?}");
    if raw.is_some_and(|raw| raw != r) {
        assert_eq!(r, "/", "{raw:?} was changed instead of refused");
    }
    match SITE.join(&r) {
        Ok(u) => assert_eq!(
            u.origin(),
            SITE.origin(),
            "{raw:?} → {r:?} leaves the site: {u}"
        ),
        Err(e) => panic!("{raw:?} → {r:?} is not a URL a browser can follow: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (Ok(query), Ok(free)) = (
        std::str::from_utf8(&data[..split]),
        std::str::from_utf8(data.get(split + 1..).unwrap_or(&[])),
    ) else {
        return;
    };
    let _ = unpercent(query);
    let _ = query_param(Some(query), "room");
    check_return_to(query_param(Some(query), "return_to").as_deref());
    check_return_to(Some(query));
    check_return_to(Some(free));

    let encoded = percent(free);
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)),
        "percent({free:?}) = {encoded:?}"
    );
    assert_eq!(unpercent(&encoded), free, "unpercent(percent(x)) != x");
    let q = format!("room=a&return_to={encoded}&x");
    assert_eq!(query_param(Some(&q), "return_to").as_deref(), Some(free));
});
