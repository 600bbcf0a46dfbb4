//! What the visitors observed, gathered while they run: outcome counters, latency
//! histograms per step, and a time series sampled each second for the report's charts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::summary::{EventInfo, Percentiles, Sample, Summary};

/// A step of a visit whose latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Arrival until a place in line (or straight in), challenge included.
    Join,
    /// In line until holding a pass.
    Wait,
    /// Reading the event (search and detail) with the pass.
    Detail,
    /// The booking request, retries included.
    Book,
}

/// Every step, in report order.
const STEPS: [Step; 4] = [Step::Join, Step::Wait, Step::Detail, Step::Book];

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Join => "join",
            Step::Wait => "wait",
            Step::Detail => "detail",
            Step::Book => "book",
        }
    }
}

/// How one visit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// Booked this many units.
    Booked(u64),
    /// Told `409 sold_out`.
    SoldOut,
    /// Every pick of seats was taken by others.
    SeatTaken,
    /// Stopped polling while in line.
    Abandoned,
    /// The room was closed.
    Closed,
    /// The run's time limit came first.
    TimedOut,
    /// Gave up on an error of this kind.
    Failed(String),
}

/// Counters the visitors move (all monotonic except `in_line`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Visitors who arrived.
    pub arrived: AtomicU64,
    /// Visitors who got a place in line or straight in.
    pub joined: AtomicU64,
    /// Visitors who were put in line.
    pub waited: AtomicU64,
    /// Visitors who got a pass.
    pub admitted: AtomicU64,
    /// Visitors who booked.
    pub booked: AtomicU64,
    /// Units (coupons, seats) booked.
    pub units: AtomicU64,
    /// Visitors told sold out.
    pub sold_out: AtomicU64,
    /// Visitors whose seats were all taken.
    pub seat_taken: AtomicU64,
    /// Visitors who left the line.
    pub abandoned: AtomicU64,
    /// Visitors turned away by a closed room.
    pub closed: AtomicU64,
    /// Visitors cut off by the time limit.
    pub timed_out: AtomicU64,
    /// Visitors who dropped their connection and came back.
    pub reconnected: AtomicU64,
    /// Visitors polling from two tabs.
    pub tabs: AtomicU64,
    /// HTTP requests sent.
    pub requests: AtomicU64,
    /// Status polls sent.
    pub polls: AtomicU64,
    /// Requests repeated after a network error or a 5xx.
    pub retries: AtomicU64,
    /// Join challenges solved.
    pub challenges: AtomicU64,
    /// Visits over.
    pub finished: AtomicU64,
    /// Visitors in line right now.
    pub in_line: AtomicI64,
}

/// Everything gathered during one run.
pub(crate) struct Stats {
    start: Instant,
    /// The counters.
    pub c: Counters,
    /// Longest reported line this second, plus one (0: none reported).
    line_seen: AtomicU64,
    /// When the last booking was made (ms since start).
    last_booking_ms: AtomicU64,
    /// The first arrival, Unix milliseconds (to place the sale's start on the run's clock).
    start_unix_ms: u64,
    /// When the sale opened, Unix ms, as pre-queue answers gave it (`u64::MAX`: none did,
    /// the room was open from the first arrival).
    opens_unix_ms: AtomicU64,
    event: Mutex<Option<EventInfo>>,
    errors: Mutex<BTreeMap<String, u64>>,
    latency: Vec<Mutex<Histogram<u64>>>,
    samples: Mutex<Vec<Sample>>,
    /// Counter values at the previous sample: admitted, booked, sold out.
    previous: Mutex<[u64; 3]>,
}

fn add(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl Stats {
    /// Empty stats for a run whose first arrival is at `start`.
    pub fn new(start: Instant) -> Self {
        // 1 ms to 1 hour at 3 significant digits; a failed constructor (it cannot fail for
        // these bounds) falls back to an auto-resizing histogram.
        let histogram = || {
            Histogram::new_with_bounds(1, 3_600_000, 3)
                .or_else(|_| Histogram::new(3))
                .map(|mut h| {
                    h.auto(true);
                    h
                })
        };
        Self {
            start,
            c: Counters::default(),
            line_seen: AtomicU64::new(0),
            last_booking_ms: AtomicU64::new(0),
            start_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .saturating_sub(u64::try_from(start.elapsed().as_millis()).unwrap_or(0)),
            opens_unix_ms: AtomicU64::new(u64::MAX),
            event: Mutex::new(None),
            errors: Mutex::new(BTreeMap::new()),
            latency: STEPS
                .iter()
                .filter_map(|_| histogram().ok().map(Mutex::new))
                .collect(),
            samples: Mutex::new(Vec::new()),
            previous: Mutex::new([0; 3]),
        }
    }

    /// When the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records how long `step` took.
    pub fn record(&self, step: Step, took: Duration) {
        let i = STEPS.iter().position(|s| *s == step).unwrap_or(0);
        if let Some(h) = self.latency.get(i) {
            let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX).max(1);
            let _ = lock(h).record(ms);
        }
    }

    /// Notes a line length reported by a status answer.
    pub fn saw_line(&self, len: u64) {
        self.line_seen
            .fetch_max(len.saturating_add(1), Ordering::Relaxed);
    }

    /// Notes the sale's start (Unix ms) as a pre-queue answer gave it.
    pub fn saw_start(&self, unix_ms: u64) {
        self.opens_unix_ms.fetch_min(unix_ms, Ordering::Relaxed);
    }

    /// Notes the event as a visitor read it (the first reading wins).
    pub fn saw_event(&self, info: EventInfo) {
        lock(&self.event).get_or_insert(info);
    }

    /// Counts one error of `kind` that a visitor recovered from or gave up on.
    pub fn error(&self, kind: &str) {
        *lock(&self.errors).entry(kind.to_string()).or_default() += 1;
    }

    /// A visitor got a pass.
    pub fn admitted(&self) {
        add(&self.c.admitted);
    }

    /// Records how a visit ended.
    pub fn finish(&self, end: &End) {
        let c = &self.c;
        match end {
            End::Booked(units) => {
                add(&c.booked);
                c.units.fetch_add(*units, Ordering::Relaxed);
                let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.last_booking_ms.fetch_max(now, Ordering::Relaxed);
            }
            End::SoldOut => add(&c.sold_out),
            End::SeatTaken => add(&c.seat_taken),
            End::Abandoned => add(&c.abandoned),
            End::Closed => add(&c.closed),
            End::TimedOut => add(&c.timed_out),
            End::Failed(kind) => self.error(kind),
        }
        add(&c.finished);
    }

    /// Takes this second's sample (called once a second, and once at the end).
    pub fn sample(&self) {
        let now = [
            get(&self.c.admitted),
            get(&self.c.booked),
            get(&self.c.sold_out),
        ];
        let before = std::mem::replace(&mut *lock(&self.previous), now);
        let line = self.line_seen.swap(0, Ordering::Relaxed);
        let s = Sample {
            t: u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX),
            waiting: u64::try_from(self.c.in_line.load(Ordering::Relaxed)).unwrap_or(0),
            line: line.checked_sub(1),
            admitted: now[0] - before[0],
            booked: now[1] - before[1],
            sold_out: now[2] - before[2],
        };
        lock(&self.samples).push(s);
    }

    /// The summary of the run so far, `visitors` having been planned.
    pub fn summary(&self, visitors: u64, took: Duration) -> Summary {
        let c = &self.c;
        let errors = lock(&self.errors).clone();
        let event = lock(&self.event).clone();
        let units = get(&c.units);
        let sold_out_seen =
            get(&c.sold_out) > 0 || event.as_ref().is_some_and(|e| units >= e.capacity);
        let opened_after_ms = match get(&self.opens_unix_ms) {
            u64::MAX => None,
            at => Some(at.saturating_sub(self.start_unix_ms)),
        };
        let latency = STEPS
            .iter()
            .zip(&self.latency)
            .map(|(step, h)| (step.name().to_string(), percentiles(&lock(h))))
            .collect();
        Summary {
            visitors,
            arrived: get(&c.arrived),
            joined: get(&c.joined),
            waited: get(&c.waited),
            admitted: get(&c.admitted),
            booked: get(&c.booked),
            units,
            sold_out: get(&c.sold_out),
            seat_taken: get(&c.seat_taken),
            abandoned: get(&c.abandoned),
            closed: get(&c.closed),
            timed_out: get(&c.timed_out),
            errors_total: errors.values().sum(),
            errors,
            oversold: event.as_ref().map(|e| units.saturating_sub(e.capacity)),
            event,
            reconnected: get(&c.reconnected),
            tabs: get(&c.tabs),
            requests: get(&c.requests),
            polls: get(&c.polls),
            retries: get(&c.retries),
            challenges: get(&c.challenges),
            latency,
            sold_out_after_ms: sold_out_seen.then(|| get(&self.last_booking_ms)),
            opened_after_ms,
            sold_out_after_open_ms: sold_out_seen
                .then(|| get(&self.last_booking_ms).saturating_sub(opened_after_ms.unwrap_or(0))),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            timeline: lock(&self.samples).clone(),
            ..Summary::default()
        }
    }
}

/// p50/p90/p99/max of a histogram in ms.
fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let q = |q: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(q)
        }
    };
    Percentiles {
        count: h.len(),
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        max: if h.is_empty() { 0 } else { h.max() },
    }
}

/// Locks a mutex, taking the value even if a visitor panicked while holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
