//! `path::normalize` on arbitrary paths: never panics; its output starts with `/`
//! and holds no `//`, `/./` or `/../` (nor a final dot segment) and no escape left
//! undecided; it is idempotent (a normal path is left alone); it agrees with an
//! independent byte-wise statement of RFC 3986 §6.2.2 (`reference_normalize`); and
//! every equivalent spelling of a path (escapes, doubled slashes, dot segments)
//! normalises to the same path — else a room could be walked past.
//!
//! Input: the path, a NUL byte, then respelling steps (see `respell`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher::path::normalize;
use usher_fuzz::{looks_normal, reference_normalize, respell};

/// `normalize` as a whole path (it returns `None` for "already normal").
fn normal(path: &str) -> Result<String, usher::path::PathError> {
    normalize(path).map(|n| n.unwrap_or_else(|| path.to_string()))
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(path) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let ops = data.get(split + 1..).unwrap_or(&[]);
    let got = normalize(path);
    if let Ok(Some(n)) = &got {
        assert_ne!(n, path, "Some(..) for a path that was already normal");
        if let Err(why) = looks_normal(n) {
            panic!("normalize({path:?}) = {n:?}: {why}");
        }
        assert_eq!(normalize(n), Ok(None), "not idempotent: {path:?} → {n:?}");
    }
    if !path.starts_with('/') {
        return;
    }
    let got = got.map(|n| n.unwrap_or_else(|| path.to_string()));
    if let Ok(n) = &got {
        if let Err(why) = looks_normal(n) {
            panic!("{path:?} was left as is but is not normal: {why}");
        }
    }
    assert_eq!(
        got,
        reference_normalize(path),
        "disagrees with the reference on {path:?}"
    );
    if let Ok(n) = got {
        let other = respell(path, ops);
        assert_eq!(
            normal(&other),
            Ok(n),
            "{other:?} is another spelling of {path:?}"
        );
    }
});
