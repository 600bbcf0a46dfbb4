//! `usher rush` (docs/DESIGN.md §9): a load rehearsal over HTTP only. N simulated visitors walk
//! the real flow through a running usher — arrive, join the line, poll at the server's
//! pace, take the pass, read the event, book with an idempotency key — and the run ends
//! with a summary (oversold must be 0) and a self-contained HTML report.
//!
//! `client.rs` is the pooled HTTPS client, `visitor.rs` one visitor's way in (join, line,
//! tabs, reconnects), `shop.rs` what they do with the pass, `stats.rs` what they observe,
//! `report.rs` the summary, JSON and HTML, `chart.rs` its SVG charts.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod chart;
mod client;
mod report;
mod shop;
mod stats;
mod summary;
mod visitor;

pub use client::Trust;
pub use summary::{EventInfo, Percentiles, Sample, Summary};

use client::{Http, Pool};
use stats::Stats;
use visitor::Plan;

/// How long unfinished visitors get after `--timeout` before they are cut off.
const GRACE: Duration = Duration::from_secs(2);

/// Why a rehearsal could not run.
#[derive(Debug, thiserror::Error)]
pub enum RushError {
    /// A setting is unusable.
    #[error("{field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The `--ca` file is unusable.
    #[error("--ca {path}: {reason}")]
    Ca {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS client could not be set up.
    #[error("tls: {0}")]
    Tls(String),
    /// The target did not answer a first request.
    #[error("cannot reach {target}: {reason}")]
    Unreachable {
        /// The target.
        target: String,
        /// What failed (an untrusted certificate: pass --ca FILE or --insecure).
        reason: String,
    },
    /// The report could not be written.
    #[error("writing the report {path}: {source}")]
    Report {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// How visitors arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// All within this long, uniformly at random.
    Spike(Duration),
    /// At a rate rising linearly from zero over this long.
    Ramp(Duration),
}

impl Arrival {
    /// The arrival time for a uniform random draw `u` in `[0, 1)`.
    pub fn at(&self, u: f64) -> Duration {
        let u = u.clamp(0.0, 1.0);
        match self {
            Arrival::Spike(t) => t.mul_f64(u),
            // A linearly rising rate: the cumulative share at t is (t/T)², so t = T·√u.
            Arrival::Ramp(t) => t.mul_f64(u.sqrt()),
        }
    }
}

impl std::str::FromStr for Arrival {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?}: write spike:T or ramp:T with T a duration (\"2s\", \"1m\")");
        let (kind, t) = s.split_once(':').ok_or_else(bad)?;
        let t = match t.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => humantime::parse_duration(t).map_err(|_| bad())?,
        };
        match kind {
            "spike" => Ok(Arrival::Spike(t)),
            "ramp" => Ok(Arrival::Ramp(t)),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Arrival {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, t) = match self {
            Arrival::Spike(t) => ("spike", t),
            Arrival::Ramp(t) => ("ramp", t),
        };
        write!(f, "{kind}:{}", humantime::format_duration(*t))
    }
}

/// Which event the visitors book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventChoice {
    /// This event id: visitors arrive at its page.
    Id(i64),
    /// The first event a search for this finds: visitors arrive at the search.
    Query(String),
}

impl EventChoice {
    /// The site path a visitor arrives at.
    pub fn entry_path(&self) -> String {
        match self {
            EventChoice::Id(id) => format!("/api/events/{id}"),
            EventChoice::Query(q) => {
                format!("/api/events?q={}", crate::protocol::query::percent(q))
            }
        }
    }
}

/// A rehearsal's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The proxy, `https://HOST:PORT`.
    pub target: String,
    /// How many visitors.
    pub visitors: u64,
    /// How they arrive.
    pub arrival: Arrival,
    /// What they book.
    pub event: EventChoice,
    /// Coupons or seats per booking (1 to 10).
    pub quantity: u32,
    /// Share of visitors who abandon the line (0 to 1).
    pub abandon: f64,
    /// Share who drop their connection while waiting and come back.
    pub reconnect: f64,
    /// Share who poll from two tabs.
    pub tabs: f64,
    /// Which certificates to trust.
    pub trust: Trust,
    /// Connection pools the visitors share (with HTTP/2, one connection each).
    pub connections: usize,
    /// The longest the run may take from the first arrival.
    pub timeout: Duration,
    /// Show a progress bar.
    pub progress: bool,
}

impl Config {
    /// `visitors` against `target` with the defaults: a 10 s spike at the first event a
    /// search for "coupon" finds, 1 each, 5% abandon, 5% reconnect, 2% two tabs.
    pub fn new(target: impl Into<String>, visitors: u64) -> Self {
        Self {
            target: target.into(),
            visitors,
            arrival: Arrival::Spike(Duration::from_secs(10)),
            event: EventChoice::Query("coupon".into()),
            quantity: 1,
            abandon: 0.05,
            reconnect: 0.05,
            tabs: 0.02,
            trust: Trust::System,
            connections: 8,
            timeout: Duration::from_secs(120),
            progress: false,
        }
    }

    fn validate(&self) -> Result<(), RushError> {
        let invalid = |field, reason: &str| {
            Err(RushError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        if self.visitors == 0 {
            return invalid("visitors", "give at least 1");
        }
        if !(1..=10).contains(&self.quantity) {
            return invalid("quantity", "the site sells 1 to 10 per booking");
        }
        for (field, share) in [
            ("abandon", self.abandon),
            ("reconnect", self.reconnect),
            ("tabs", self.tabs),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return invalid(field, "a share from 0 to 1 (0.05 is 5%)");
            }
        }
        if self.connections == 0 {
            return invalid("connections", "give at least 1");
        }
        if self.timeout.is_zero() {
            return invalid("timeout", "give a duration such as \"120s\"");
        }
        Ok(())
    }
}

/// A small fast generator (xorshift64*) for the visitors' choices; not for secrets.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A generator seeded by the OS.
    fn from_os() -> Self {
        let mut b = [0u8; 8];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
        Self::new(u64::from_le_bytes(b))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }
}

/// What every visitor shares.
pub(crate) struct Ctx {
    /// Builds pools and sends requests.
    pub http: Http,
    /// The shared pools.
    pub pools: Vec<Pool>,
    /// What the visitors observe.
    pub stats: Stats,
    /// The settings.
    pub config: Config,
    /// When visitors stop.
    pub deadline: Instant,
    /// This run's id, in every idempotency key.
    pub run: String,
}

/// Each visitor's arrival and behaviour.
fn plan(config: &Config, rng: &mut Rng) -> Vec<Plan> {
    (0..config.visitors)
        .map(|id| {
            let arrive = config.arrival.at(rng.unit());
            let mut pick = |share: f64, polls: u64| {
                (rng.unit() < share).then(|| 1 + u32::try_from(rng.below(polls)).unwrap_or(0))
            };
            let abandon_at = pick(config.abandon, 4);
            let reconnect_at = pick(config.reconnect, 3);
            let tabs = pick(config.tabs, 1).is_some();
            Plan {
                id,
                arrive,
                abandon_at,
                reconnect_at,
                tabs,
                seed: rng.next_u64(),
            }
        })
        .collect()
}

/// Runs the rehearsal and returns what it found.
pub async fn run(config: Config) -> Result<Summary, RushError> {
    config.validate()?;
    let http = Http::new(&config.target, &config.trust)?;
    let pools: Vec<Pool> = (0..config.connections).map(|_| http.pool()).collect();
    // One request per pool before anyone arrives: a wrong address or an untrusted
    // certificate is one clear error instead of N failed visitors, and with HTTP/2 each
    // pool's connection is open when the rush starts.
    for pool in &pools {
        let reply = http
            .send(
                pool,
                http::Method::GET,
                crate::protocol::JWKS_PATH,
                &[],
                None,
            )
            .await;
        if let Err(e) = reply {
            let hint = match e.kind {
                "tls" => " (a self-signed certificate? pass --ca FILE, or --insecure)",
                _ => "",
            };
            return Err(RushError::Unreachable {
                target: config.target.clone(),
                reason: format!("{}{hint}", e.detail),
            });
        }
    }
    let mut rng = Rng::from_os();
    let plans = plan(&config, &mut rng);
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        http,
        pools,
        stats: Stats::new(start),
        deadline: start + config.timeout,
        run: format!("{:08x}", rng.next_u64() as u32),
        config,
    });
    let sampler = tokio::spawn(sample_each_second(ctx.clone()));
    let bar = progress(&ctx);
    let mut visits = tokio::task::JoinSet::new();
    for p in plans {
        visits.spawn(visitor::visit(ctx.clone(), p));
    }
    let cut_off = tokio::time::sleep_until((ctx.deadline + GRACE).into());
    tokio::pin!(cut_off);
    loop {
        tokio::select! {
            next = visits.join_next() => match next {
                None => break,
                Some(Err(e)) if e.is_panic() => ctx.stats.finish(&stats::End::Failed("panic".into())),
                Some(_) => {}
            },
            _ = &mut cut_off => {
                visits.abort_all();
                break;
            }
        }
    }
    let c = &ctx.stats.c;
    let visitors = ctx.config.visitors;
    let unfinished = visitors.saturating_sub(c.finished.load(Ordering::Relaxed));
    c.timed_out.fetch_add(unfinished, Ordering::Relaxed);
    c.finished.fetch_add(unfinished, Ordering::Relaxed);
    sampler.abort();
    ctx.stats.sample();
    if let Some((bar, task)) = bar {
        task.abort();
        bar.finish_and_clear();
    }
    let mut summary = ctx.stats.summary(visitors, start.elapsed());
    let cfg = &ctx.config;
    summary.target = cfg.target.clone();
    summary.arrival = cfg.arrival.to_string();
    summary.shares = BTreeMap::from([
        ("abandon".to_string(), cfg.abandon),
        ("reconnect".to_string(), cfg.reconnect),
        ("tabs".to_string(), cfg.tabs),
    ]);
    Ok(summary)
}

/// Writes `summary`'s HTML report to `path`.
pub fn write_report(summary: &Summary, path: &std::path::Path) -> Result<(), RushError> {
    std::fs::write(path, summary.html()).map_err(|source| RushError::Report {
        path: path.display().to_string(),
        source,
    })
}

/// Samples the run once a second for the report's charts.
async fn sample_each_second(ctx: Arc<Ctx>) {
    let mut tick = tokio::time::interval_at(
        (ctx.stats.start() + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        ctx.stats.sample();
    }
}

/// A progress bar (visits over, and who is where), refreshed five times a second.
fn progress(ctx: &Arc<Ctx>) -> Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)> {
    if !ctx.config.progress {
        return None;
    }
    let bar = indicatif::ProgressBar::new(ctx.config.visitors);
    let style =
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    let (ctx, shown) = (ctx.clone(), bar.clone());
    let task = tokio::spawn(async move {
        let c = &ctx.stats.c;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        loop {
            shown.set_position(get(&c.finished));
            shown.set_message(format!(
                "in line {} · admitted {} · booked {} · sold out {}",
                c.in_line.load(Ordering::Relaxed).max(0),
                get(&c.admitted),
                get(&c.booked),
                get(&c.sold_out)
            ));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Some((bar, task))
}

#[cfg(test)]
mod tests;
