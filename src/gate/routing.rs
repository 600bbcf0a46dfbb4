//! Which room, if any, guards a request: bypass rules, host and longest path prefix.

use std::net::IpAddr;

use http::{HeaderMap, Method};

use super::Gate;
use crate::config::rooms::RoomRoute;
use crate::config::{BypassRule, DefaultAction, WaitingRoomSettings};

/// The parts of the waiting room a config reload replaces. Rooms keep their index: a
/// reload may change a room's settings and paths, not which rooms exist.
pub struct Policy {
    /// The rooms, in configured order.
    pub routes: Vec<RoomRoute>,
    pub(super) bypass: Vec<BypassRule>,
    pub(super) default_action: DefaultAction,
    pub(super) fail_open: bool,
    /// The join challenge and per-network caps.
    pub(super) abuse: crate::config::abuse::AbuseSettings,
}

impl Policy {
    pub(super) fn new(settings: &WaitingRoomSettings) -> Self {
        if settings.fail_open {
            tracing::warn!("state.on_store_failure = \"open\": if the queue store fails, everyone is let in unqueued");
        }
        Self {
            routes: settings.rooms.clone(),
            bypass: settings.bypass.clone(),
            default_action: settings.default_action,
            fail_open: settings.fail_open,
            abuse: settings.abuse.clone(),
        }
    }
}

impl Gate {
    /// Index of the room guarding `host` + `path`: the longest matching prefix wins.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<usize> {
        let host = host.map(|h| {
            let h = h
                .rsplit_once(':')
                .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                .map_or(h, |(h, _)| h);
            h.to_ascii_lowercase()
        });
        let mut best: Option<(usize, usize)> = None;
        for (i, r) in self.policy().routes.iter().enumerate() {
            if !r.hosts.is_empty()
                && !host
                    .as_ref()
                    .is_some_and(|h| r.hosts.iter().any(|x| x == h))
            {
                continue;
            }
            for prefix in &r.paths {
                let hit = path == prefix
                    || (path.starts_with(prefix.as_str())
                        && (prefix.ends_with('/')
                            || path.as_bytes().get(prefix.len()) == Some(&b'/')));
                if hit && best.is_none_or(|(len, _)| prefix.len() > len) {
                    best = Some((prefix.len(), i));
                }
            }
        }
        best.map(|(_, i)| i)
    }

    pub(super) fn bypassed(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> bool {
        self.policy().bypass.iter().any(|b| {
            b.paths.as_ref().is_none_or(|g| g.is_match(path))
                && (b.methods.is_empty() || b.methods.contains(method))
                && (b.cidrs.is_empty() || b.cidrs.iter().any(|n| n.contains(&peer)))
                && b.headers.iter().all(|(k, v)| headers.get(k) == Some(v))
        })
    }
}
