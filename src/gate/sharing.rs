//! Pass sharing: a pass is one visitor's. One used from more client networks than
//! `abuse.pass_max_networks`, or faster than `abuse.pass_max_rps`, has been handed
//! around (or scripted) and is revoked; its owner is told why on the next request.

use dashmap::DashMap;

use super::abuse::Network;
use crate::config::abuse::AbuseSettings;

/// How one session's pass has been used.
#[derive(Debug, Default)]
struct Use {
    nets: Vec<Network>,
    second: u64,
    in_second: u32,
}

/// Why a pass was found shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// Used from too many networks.
    Networks,
    /// Used too fast.
    Rate,
}

impl Shared {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Shared::Networks => "used from too many networks",
            Shared::Rate => "used too fast",
        }
    }
}

/// Sessions tracked at most before idle ones are dropped.
const TRACKED_MAX: usize = 200_000;

/// Pass use per session, and the sessions revoked for sharing.
#[derive(Default)]
pub struct Sharing {
    uses: DashMap<Box<str>, Use>,
    /// Session id → when its passes expire anyway (then it can be forgotten).
    revoked: DashMap<Box<str>, u64>,
}

impl Sharing {
    /// Records one use of session `jti`'s pass from `net`; says if that made it shared.
    pub fn record(&self, jti: &str, net: Network, a: &AbuseSettings, now: u64) -> Option<Shared> {
        if a.pass_max_networks == 0 && a.pass_max_rps == 0 {
            return None;
        }
        if self.uses.len() >= TRACKED_MAX && !self.uses.contains_key(jti) {
            self.uses.retain(|_, u| u.second + 3600 >= now);
        }
        let mut u = self.uses.entry(jti.into()).or_default();
        if !u.nets.contains(&net) && u.nets.len() <= a.pass_max_networks as usize {
            u.nets.push(net);
        }
        if u.second != now {
            u.second = now;
            u.in_second = 0;
        }
        u.in_second += 1;
        if a.pass_max_networks > 0 && u.nets.len() > a.pass_max_networks as usize {
            Some(Shared::Networks)
        } else if a.pass_max_rps > 0 && u.in_second > a.pass_max_rps {
            Some(Shared::Rate)
        } else {
            None
        }
    }

    /// Remembers that session `jti` was revoked for sharing, until `until`.
    pub fn mark(&self, jti: &str, until: u64, now: u64) {
        if self.revoked.len() >= TRACKED_MAX {
            self.revoked.retain(|_, u| *u >= now);
        }
        self.revoked.insert(jti.into(), until);
        self.uses.remove(jti);
    }

    /// True when session `jti` was revoked for sharing.
    pub fn was_shared(&self, jti: &str) -> bool {
        self.revoked.contains_key(jti)
    }
}

#[cfg(test)]
mod tests;
