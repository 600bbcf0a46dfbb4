//! Per-network join accounting, for the join challenge and the cap on places: how fast a
//! client network is asking for places (the challenge gets harder past a threshold) and
//! how many it took in the current window (past the cap: 429).

use std::net::IpAddr;

use dashmap::DashMap;

use crate::config::abuse::AbuseSettings;

/// A client network: an IPv4 address, or an IPv6 /64 (one household or phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// One IPv4 address.
    V4([u8; 4]),
    /// One IPv6 /64.
    V6([u8; 8]),
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Network::V4(o) => write!(f, "{}", std::net::Ipv4Addr::from(*o)),
            Network::V6(p) => {
                let mut full = [0u8; 16];
                full[..8].copy_from_slice(p);
                write!(f, "{}/64", std::net::Ipv6Addr::from(full))
            }
        }
    }
}

impl Network {
    /// The network `ip` belongs to (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Network::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Network::V4(v4.octets()),
                None => {
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&v6.octets()[..8]);
                    Network::V6(p)
                }
            },
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    /// The second `this_second` counts.
    second: u64,
    this_second: u32,
    last_second: u32,
    /// Start of the cap window and places taken in it.
    window_start: u64,
    places: u32,
}

/// Networks tracked at most before stale entries are dropped.
const TRACKED_MAX: usize = 100_000;

/// Join accounting for every network seen recently.
#[derive(Default)]
pub struct Guard {
    nets: DashMap<Network, Counter>,
}

impl Guard {
    fn with<T>(&self, net: Network, now: u64, f: impl FnOnce(&mut Counter) -> T) -> T {
        if self.nets.len() >= TRACKED_MAX && !self.nets.contains_key(&net) {
            // Spraying addresses must not grow memory: forget networks quiet for a minute.
            self.nets.retain(|_, c| c.second + 60 >= now);
        }
        let mut c = self.nets.entry(net).or_default();
        if c.second != now {
            c.last_second = if c.second + 1 == now {
                c.this_second
            } else {
                0
            };
            c.this_second = 0;
            c.second = now;
        }
        f(&mut c)
    }

    /// Notes a request for a place from `net` (solved or not) and returns the difficulty
    /// its next challenge gets: the base, plus two bits per doubling of its join rate over
    /// the threshold, up to the ceiling.
    pub fn attempt(&self, net: Network, a: &AbuseSettings, now: u64) -> u8 {
        let rate = self.with(net, now, |c| {
            c.this_second += 1;
            c.this_second.max(c.last_second)
        });
        difficulty(a, rate)
    }

    /// Seconds until `net` may take another place, if it is at the cap.
    pub fn over_cap(&self, net: Network, a: &AbuseSettings, now: u64) -> Option<u64> {
        if a.tickets_per_network == 0 {
            return None;
        }
        let window = a.tickets_window.as_secs().max(1);
        self.with(net, now, |c| {
            if now >= c.window_start + window {
                c.window_start = now;
                c.places = 0;
            }
            (c.places >= a.tickets_per_network).then(|| c.window_start + window - now)
        })
    }

    /// Counts a place taken by `net`.
    pub fn took_place(&self, net: Network, a: &AbuseSettings, now: u64) {
        let window = a.tickets_window.as_secs().max(1);
        self.with(net, now, |c| {
            if now >= c.window_start + window {
                c.window_start = now;
                c.places = 0;
            }
            c.places += 1;
        });
    }
}

/// The difficulty for a network asking `rate` times a second.
pub fn difficulty(a: &AbuseSettings, rate: u32) -> u8 {
    if a.challenge_bits == 0 {
        return 0;
    }
    let mut bits = a.challenge_bits;
    if a.challenge_raise_above > 0 {
        let mut over = rate / a.challenge_raise_above.max(1);
        while over > 0 && bits < a.challenge_max_bits {
            bits = (bits + 2).min(a.challenge_max_bits);
            over /= 2;
        }
    }
    bits
}

#[cfg(test)]
mod tests;
