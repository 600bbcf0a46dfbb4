//! What one run measured: the numbers `stats.rs` gathers and `report.rs` tells.

use std::collections::BTreeMap;

use serde::Serialize;

/// The event the visitors booked, as its detail page described it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    /// Event id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// `coupon`, `train` or `concert`.
    pub kind: String,
    /// Units in all (coupons or seats).
    pub capacity: u64,
}

/// Latency percentiles of one step, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest.
    pub max: u64,
}

/// What a rehearsal found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The target (`https://HOST:PORT`).
    pub target: String,
    /// The arrival profile (`spike:2s`, `ramp:60s`).
    pub arrival: String,
    /// Shares of visitors who abandon, reconnect and open two tabs.
    pub shares: BTreeMap<String, f64>,
    /// The event booked, once a visitor read it.
    pub event: Option<EventInfo>,
    /// Visitors planned.
    pub visitors: u64,
    /// Visitors who arrived.
    pub arrived: u64,
    /// Visitors who got a place in line or straight in.
    pub joined: u64,
    /// Visitors who were put in line.
    pub waited: u64,
    /// Visitors who got a pass.
    pub admitted: u64,
    /// Bookings made.
    pub booked: u64,
    /// Units booked (coupons or seats).
    pub units: u64,
    /// Visitors told `sold_out`.
    pub sold_out: u64,
    /// Visitors whose every pick of seats was taken.
    pub seat_taken: u64,
    /// Visitors who left the line.
    pub abandoned: u64,
    /// Visitors turned away by a closed room.
    pub closed: u64,
    /// Visitors cut off by `--timeout`.
    pub timed_out: u64,
    /// Errors visitors gave up on, by kind.
    pub errors: BTreeMap<String, u64>,
    /// All errors.
    pub errors_total: u64,
    /// Units booked beyond the capacity (must be 0), when the capacity is known.
    pub oversold: Option<u64>,
    /// Visitors who dropped their connection and came back.
    pub reconnected: u64,
    /// Visitors who polled from two tabs.
    pub tabs: u64,
    /// HTTP requests sent.
    pub requests: u64,
    /// Status polls sent.
    pub polls: u64,
    /// Requests repeated after a network error or a 5xx.
    pub retries: u64,
    /// Join challenges solved.
    pub challenges: u64,
    /// Latency by step: join, wait, detail, book.
    pub latency: BTreeMap<String, Percentiles>,
    /// From the first arrival to the last booking, when the event sold out.
    pub sold_out_after_ms: Option<u64>,
    /// When the sale opened, after the first arrival (a scheduled sale whose visitors
    /// arrived in its pre-queue); `None`: it was open from the first arrival.
    pub opened_after_ms: Option<u64>,
    /// From the sale's opening (the first arrival, or the scheduled start) to the last
    /// booking, when the event sold out: the number to compare with the seed's 1.89 s.
    pub sold_out_after_open_ms: Option<u64>,
    /// How long the run took.
    pub duration_ms: u64,
    /// One sample per second.
    pub timeline: Vec<Sample>,
}

/// One second of the run, as the visitors saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Seconds since the first arrival.
    pub t: u32,
    /// Rehearsal visitors in line at the end of the second.
    pub waiting: u64,
    /// The longest line a status answer reported during the second (ahead + 1 + behind).
    pub line: Option<u64>,
    /// Visitors who got a pass during the second.
    pub admitted: u64,
    /// Bookings made during the second.
    pub booked: u64,
    /// Sold-out answers during the second.
    pub sold_out: u64,
}
