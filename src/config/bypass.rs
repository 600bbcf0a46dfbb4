//! `[[bypass]]`: requests that skip the waiting room (static files, health checks,
//! partners' networks).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::problems::Problems;

/// One `[[bypass]]` rule: a request matching every listed criterion skips the room.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BypassFile {
    /// Path globs (`/static/*`).
    pub paths: Vec<String>,
    /// Methods (`OPTIONS`).
    pub methods: Vec<String>,
    /// Client networks.
    pub cidrs: Vec<String>,
    /// Header name → exact value.
    pub headers: BTreeMap<String, String>,
}

/// A validated bypass rule.
#[derive(Debug, Clone)]
pub struct BypassRule {
    /// Path globs (any matches), none = any path.
    pub paths: Option<globset::GlobSet>,
    /// Methods (any matches), empty = any.
    pub methods: Vec<http::Method>,
    /// Networks (any matches), empty = any.
    pub cidrs: Vec<ipnet::IpNet>,
    /// Headers that must all be present with these values.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// Validates every `[[bypass]]` rule.
pub(super) fn validate(p: &mut Problems, bypass: &[BypassFile]) -> Vec<BypassRule> {
    let mut rules = Vec::new();
    for (i, b) in bypass.iter().enumerate() {
        let f = |name: &str| format!("bypass[{i}].{name}");
        let paths = if b.paths.is_empty() {
            None
        } else {
            let mut set = globset::GlobSetBuilder::new();
            for (j, g) in b.paths.iter().enumerate() {
                match globset::Glob::new(g) {
                    Ok(glob) => {
                        set.add(glob);
                    }
                    Err(e) => p.push(
                        &format!("bypass[{i}].paths[{j}]"),
                        format!("{g:?} is not a glob: {e}"),
                    ),
                }
            }
            set.build().ok()
        };
        let mut methods = Vec::new();
        for m in &b.methods {
            match http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
                Ok(m) => methods.push(m),
                Err(_) => p.push(&f("methods"), format!("{m:?} is not an HTTP method")),
            }
        }
        let mut cidrs = Vec::new();
        for c in &b.cidrs {
            match c
                .parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            {
                Ok(n) => cidrs.push(n),
                Err(_) => p.push(&f("cidrs"), format!("{c:?} is not an IP address or CIDR")),
            }
        }
        let mut headers = Vec::new();
        for (k, v) in &b.headers {
            match (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                (Ok(k), Ok(v)) => headers.push((k, v)),
                _ => p.push(
                    &f("headers"),
                    format!("{k:?} = {v:?} is not a valid header"),
                ),
            }
        }
        if b.paths.is_empty() && b.methods.is_empty() && b.cidrs.is_empty() && b.headers.is_empty()
        {
            p.push(
                &format!("bypass[{i}]"),
                "matches every request; give paths, methods, cidrs or headers",
            );
        }
        rules.push(BypassRule {
            paths,
            methods,
            cidrs,
            headers,
        });
    }
    rules
}
