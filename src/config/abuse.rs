//! `[abuse]`: what skipping the line costs — a proof-of-work challenge before a place is
//! given, and a cap on places per client network.

use std::time::Duration;

use serde::Deserialize;

use super::problems::Problems;

/// `[abuse]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbuseFile {
    /// Leading zero bits of SHA-256 a visitor must find before joining a line; 0: no
    /// challenge.
    pub challenge_bits: u8,
    /// The most the difficulty rises to for a network joining too fast.
    pub challenge_max_bits: u8,
    /// Joins per second from one network above which its difficulty rises (0: never).
    pub challenge_raise_above: u32,
    /// Places in line one client network may take per window (0: no cap).
    pub tickets_per_network: u32,
    /// The window for `tickets_per_network`.
    pub tickets_window: String,
    /// A pass used from more client networks than this is revoked (0: no limit).
    pub pass_max_networks: u32,
    /// A pass used more often than this per second is revoked (0: no limit).
    pub pass_max_rps: u32,
    /// Refuse a pass from any network but the one it was issued to.
    pub bind_pass_to_network: bool,
}

impl Default for AbuseFile {
    fn default() -> Self {
        let d = AbuseSettings::default();
        Self {
            challenge_bits: d.challenge_bits,
            challenge_max_bits: d.challenge_max_bits,
            challenge_raise_above: d.challenge_raise_above,
            tickets_per_network: d.tickets_per_network,
            tickets_window: humantime::format_duration(d.tickets_window).to_string(),
            pass_max_networks: d.pass_max_networks,
            pass_max_rps: d.pass_max_rps,
            bind_pass_to_network: d.bind_pass_to_network,
        }
    }
}

/// The validated `[abuse]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseSettings {
    /// Base difficulty (0: off).
    pub challenge_bits: u8,
    /// Ceiling for the raised difficulty.
    pub challenge_max_bits: u8,
    /// Joins/s per network before raising.
    pub challenge_raise_above: u32,
    /// Places per network per window (0: no cap).
    pub tickets_per_network: u32,
    /// The window.
    pub tickets_window: Duration,
    /// Networks one pass may be used from (0: any number).
    pub pass_max_networks: u32,
    /// Requests per second one pass may make (0: any number).
    pub pass_max_rps: u32,
    /// Passes only work from the network they were issued to.
    pub bind_pass_to_network: bool,
}

impl Default for AbuseSettings {
    fn default() -> Self {
        Self {
            challenge_bits: 0,
            challenge_max_bits: 20,
            challenge_raise_above: 5,
            tickets_per_network: 0,
            tickets_window: Duration::from_secs(600),
            pass_max_networks: 0,
            pass_max_rps: 0,
            bind_pass_to_network: false,
        }
    }
}

/// The most a challenge may ask: 2^24 hashes is already seconds on a fast phone.
const MAX_BITS: u8 = 24;

/// Validates `[abuse]`.
pub(super) fn validate(p: &mut Problems, a: &AbuseFile) -> AbuseSettings {
    if a.challenge_bits > MAX_BITS {
        p.push(
            "abuse.challenge_bits",
            format!(
                "{} is too hard for a phone; give 0 (off) to {MAX_BITS} (12–16 is typical)",
                a.challenge_bits
            ),
        );
    }
    if a.challenge_max_bits > MAX_BITS || a.challenge_max_bits < a.challenge_bits {
        p.push(
            "abuse.challenge_max_bits",
            format!(
                "{} must be between abuse.challenge_bits ({}) and {MAX_BITS}",
                a.challenge_max_bits, a.challenge_bits
            ),
        );
    }
    AbuseSettings {
        challenge_bits: a.challenge_bits,
        challenge_max_bits: a.challenge_max_bits,
        challenge_raise_above: a.challenge_raise_above,
        tickets_per_network: a.tickets_per_network,
        tickets_window: p.duration("abuse.tickets_window", &a.tickets_window),
        pass_max_networks: a.pass_max_networks,
        pass_max_rps: a.pass_max_rps,
        bind_pass_to_network: a.bind_pass_to_network,
    }
}
