//! `[forwarding]`: which peers' `X-Forwarded-*` / `Forwarded` headers are believed.

use ipnet::IpNet;
use serde::Deserialize;

use super::problems::Problems;

/// `[forwarding]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardingFile {
    /// CIDRs whose `X-Forwarded-*` / `Forwarded` headers are believed and extended.
    pub trusted_proxies: Vec<String>,
}

/// Validated `[forwarding]`.
#[derive(Debug, Clone, Default)]
pub struct ForwardingSettings {
    /// Peers whose forwarding headers are extended rather than replaced.
    pub trusted_proxies: Vec<IpNet>,
}

/// Validates `[forwarding]`.
pub(super) fn validate(p: &mut Problems, f: &ForwardingFile) -> ForwardingSettings {
    let mut trusted_proxies = Vec::new();
    for (i, raw) in f.trusted_proxies.iter().enumerate() {
        match raw
            .parse::<IpNet>()
            .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        {
            Ok(n) => trusted_proxies.push(n),
            Err(_) => p.push(
                &format!("forwarding.trusted_proxies[{i}]"),
                format!(
                    "{raw:?} is not an IP address or CIDR (e.g. \"10.0.0.0/8\" or \"192.0.2.7\")"
                ),
            ),
        }
    }
    ForwardingSettings { trusted_proxies }
}
