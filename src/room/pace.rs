//! Pacing: how fast a room lets visitors in and what a waiting visitor is told about it.
//!
//! The arithmetic here needs no line data, so the Redis store runs it on the node, on
//! the figures its scripts return, exactly as the memory room does: the token bucket
//! (memory only; the scripts keep theirs in Redis), the admission rate behind the ETA
//! ([`Rate`]), a waiting visitor's [`position`] and poll interval ([`poll_ms`]), and when a
//! pre-queue visitor should come back ([`prequeue_poll_ms`]).

use super::draw::{mix, Pending};
use super::settings::RoomSettings;

/// Unix milliseconds → Unix seconds, capped to `u32`.
pub fn to_secs(now_ms: u64) -> u32 {
    (now_ms / 1000).min(u32::MAX as u64) as u32
}

/// A place's standing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Live visitors in front (never grows while the visitor keeps polling).
    pub ahead: u32,
    /// Live visitors behind.
    pub behind: u32,
    /// Estimated seconds until called, from the measured admission rate.
    pub eta_seconds: Option<u32>,
    /// When to poll again, chosen by distance from the front, with jitter.
    pub poll_ms: u32,
}

/// A room's token bucket: up to one second's worth of admissions (at least one) may
/// happen back to back, then they come at `new_per_minute`; with no rate limit
/// (`new_per_minute` 0) it never runs dry.
#[derive(Debug)]
pub(super) struct Bucket {
    tokens: f64,
    refilled_ms: u64,
}

impl Bucket {
    /// A full bucket for `s` at `now_ms`.
    pub(super) fn new(s: &RoomSettings, now_ms: u64) -> Self {
        Self {
            tokens: burst(s),
            refilled_ms: now_ms,
        }
    }

    /// Admissions that may happen now (fractional; `f64::MAX` without a rate limit).
    pub(super) fn tokens(&self) -> f64 {
        self.tokens
    }

    /// Uses `n` admissions.
    pub(super) fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    /// The last refill, Unix milliseconds (the room's idea of now between calls).
    pub(super) fn refilled_ms(&self) -> u64 {
        self.refilled_ms
    }

    /// New settings: no more saved up than their burst.
    pub(super) fn cap(&mut self, s: &RoomSettings) {
        self.tokens = self.tokens.min(burst(s));
    }

    /// Adds what accrued since the last refill at `s`'s rate.
    pub(super) fn refill(&mut self, s: &RoomSettings, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.refilled_ms);
        self.refilled_ms = self.refilled_ms.max(now_ms);
        if s.new_per_minute == 0 {
            self.tokens = f64::MAX;
            return;
        }
        if self.tokens == f64::MAX {
            self.tokens = burst(s);
        }
        let rate_per_ms = s.new_per_minute as f64 / 60_000.0;
        self.tokens = (self.tokens + elapsed as f64 * rate_per_ms).min(burst(s));
    }
}

/// Admissions that may happen back to back: one second's worth, at least one.
fn burst(s: &RoomSettings) -> f64 {
    (s.new_per_minute as f64 / 60.0).max(1.0)
}

/// Recent admissions of a room, for the ETA: the calls of the last minute (as pruned when
/// a call is noted) and the configured rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Calls noted in the last minute.
    pub calls: usize,
    /// Time (Unix seconds) of the oldest of them.
    pub first_call: Option<u32>,
    /// The configured admissions per minute (used before any call was measured).
    pub new_per_minute: u32,
}

impl Rate {
    /// Seconds until `ahead` visitors are called at the rate measured over the last minute
    /// (or the configured rate before any call was measured).
    pub fn eta(&self, ahead: u32, now: u32) -> Option<u32> {
        self.eta_ms(ahead, now)
            .map(|ms| ms.div_ceil(1000).min(u32::MAX as u64) as u32)
    }

    /// [`Rate::eta`] in milliseconds.
    pub fn eta_ms(&self, ahead: u32, now: u32) -> Option<u64> {
        let window = self
            .first_call
            .map(|t| now.saturating_sub(t).max(1))
            .unwrap_or(60)
            .min(60);
        let measured = self.calls as f64 / window as f64;
        let per_sec = if measured > 0.0 {
            measured
        } else if self.new_per_minute > 0 {
            self.new_per_minute as f64 / 60.0
        } else {
            return None;
        };
        Some(((ahead as f64 + 1.0) * 1000.0 / per_sec).ceil() as u64)
    }
}

/// What a waiting visitor at `place` is shown at `now` (Unix seconds), given the live
/// visitors in front and behind.
pub fn position(ahead: u32, behind: u32, place: usize, now: u32, rate: &Rate) -> Position {
    Position {
        ahead,
        behind,
        eta_seconds: rate.eta(ahead, now),
        poll_ms: poll_ms(ahead, place as u64 ^ now as u64, rate.eta_ms(ahead, now)),
    }
}

/// When a pre-queue visitor should come back: about when the draw should call them, not
/// at the start. The draw's order is known from the keys, so visitors return in draw
/// order — the first `burst` right at the start, the rest spread at the admission rate
/// — and a sale that opens to 100,000 waiting visitors is not 100,000 polls in its
/// first second. Early rather than late (80% of the estimate). The estimate counts the
/// entries so far, so while the pre-queue may still grow a visitor checks in once more
/// in the last ten seconds before the start (spread over eight of them by share, so
/// the check-ins are no herd either); at most 30 s apart, so the page stays current.
pub fn prequeue_poll_ms(p: Pending, s: &RoomSettings) -> u32 {
    const RECHECK_MS: u64 = 10_000;
    if p.starts_in_ms > RECHECK_MS {
        let recheck = p.starts_in_ms - RECHECK_MS + p.share_ppm as u64 * 8_000 / 1_000_000;
        return recheck.clamp(50, 30_000) as u32;
    }
    let called_after_ms = if s.new_per_minute == 0 {
        // No rate limit: the first max_active are called at once, the rest as sessions end.
        if p.expected_ahead < s.max_active {
            0
        } else {
            5_000
        }
    } else {
        let per_sec = s.new_per_minute as f64 / 60.0;
        let burst = per_sec.max(1.0).min(s.max_active as f64);
        let later = (p.expected_ahead as f64 - burst).max(0.0);
        (later / per_sec * 1000.0 * 0.8) as u64
    };
    let until = p.starts_in_ms.saturating_add(called_after_ms);
    until.clamp(50, 30_000) as u32
}

/// Poll interval: short near the front (so a call is noticed fast), long at the back (so a
/// million visitors cost little), with ±20% jitter so polls do not arrive in waves. When
/// the room admits fast, the expected wait (`eta_ms`) shortens it: a visitor polls at
/// least twice before their turn, and every 250 ms in the last half second — a called
/// visitor notices within about half their wait, and polls per admission stay a few.
pub fn poll_ms(ahead: u32, seed: u64, eta_ms: Option<u64>) -> u32 {
    let tier: u32 = match ahead {
        0..=9 => 1_000,
        10..=99 => 2_000,
        100..=999 => 5_000,
        1_000..=9_999 => 10_000,
        _ => 20_000,
    };
    let base = match eta_ms {
        Some(eta) => tier.min((eta / 2).clamp(250, u32::MAX as u64) as u32),
        None => tier,
    };
    // splitmix64 of the seed: cheap, deterministic per visitor and second.
    let z = mix(seed.wrapping_add(0x9e37_79b9_7f4a_7c15));
    let jitter = (z % 401) as i64 - 200; // −20.0% … +20.0% in 0.1% steps
    (base as i64 + base as i64 * jitter / 1000) as u32
}
