//! Rooms: the fair line and the admission engine (DESIGN §4). Plain logic: no HTTP, no
//! sockets, no clock of its own — every call takes `now`, so tests drive time directly.
//!
//! A room admits `new_per_minute` visitors at most (a token bucket) while fewer than
//! `max_active` sessions are active or called. Called visitors must claim within
//! `claim_window`; waiting visitors who stop polling for `abandon_after` are skipped; both
//! may come back within `recall_window` and are then served before the line.

mod fenwick;
pub mod line;
pub mod ticket;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

pub use line::{Line, Slot};

/// How a room lets visitors in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No line: everyone in at once (sessions are still counted).
    Open,
    /// A line only while capacity or rate would be exceeded.
    Auto,
    /// Everyone joins the line (a sale that must start fair).
    Queue,
    /// Nobody new is called; the line keeps its order; pass holders continue.
    Paused,
    /// Over: nobody joins, nobody is called.
    Closed,
}

impl Mode {
    /// The config/API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Open => "open",
            Mode::Auto => "auto",
            Mode::Queue => "queue",
            Mode::Paused => "paused",
            Mode::Closed => "closed",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Mode::Open),
            "auto" => Ok(Mode::Auto),
            "queue" => Ok(Mode::Queue),
            "paused" => Ok(Mode::Paused),
            "closed" => Ok(Mode::Closed),
            other => Err(format!(
                "{other:?} is not a mode; write \"open\", \"auto\", \"queue\", \"paused\" or \"closed\""
            )),
        }
    }
}

/// A room's admission settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoomSettings {
    /// Sessions inside (plus called-unclaimed) at once.
    pub max_active: u32,
    /// Admissions per minute; 0 means capacity alone limits.
    pub new_per_minute: u32,
    /// Pass idle timeout (sliding).
    pub session_idle: Duration,
    /// Hard session maximum.
    pub session_max: Duration,
    /// Time a called visitor has to come in.
    pub claim_window: Duration,
    /// Missed-poll time after which a waiting visitor is skipped.
    pub abandon_after: Duration,
    /// Time after a skip or lapse during which a returning visitor goes to the front.
    pub recall_window: Duration,
    /// How visitors are let in.
    pub mode: Mode,
    /// A sale with a pre-queue, if scheduled.
    pub event: Option<Event>,
}

/// A scheduled sale: visitors who arrive between `prequeue_start` and `start` are put in
/// a random order at `start` (the second they clicked does not matter); after `start`,
/// first come first served; from `end` on the room is closed. Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The pre-queue opens.
    pub prequeue_start: u64,
    /// The sale starts: the pre-queue is drawn.
    pub start: u64,
    /// The sale is over.
    pub end: Option<u64>,
}

/// Where a pre-queue ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreQueue {
    /// Before the draw.
    Pending(Pending),
    /// Drawn: the place in line it was given.
    Drawn(usize),
    /// No such pre-queue entry.
    Unknown,
}

/// A pre-queue entry before the draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Milliseconds until the start, when the order is drawn.
    pub starts_in_ms: u64,
    /// About how many entries the draw will put in front of this one: the draw orders
    /// entries by a seeded key ([`draw_key`]), so an entry's share of the key space is
    /// known before the start (times the entries joined so far).
    pub expected_ahead: u32,
    /// The entry's share of the key space, in millionths (its place in the draw as a
    /// fraction of the pre-queue, whatever its final length).
    pub share_ppm: u32,
}

impl Pending {
    /// Entry `i` of `len` in a pre-queue drawn with `seed`, `starts_in_ms` before the start.
    pub fn of(i: usize, seed: u64, len: usize, starts_in_ms: u64) -> Self {
        let share = if seed == 0 {
            0.0
        } else {
            draw_key(i, seed) as f64 / 18_446_744_073_709_551_616.0 // 2^64
        };
        Self {
            starts_in_ms,
            expected_ahead: (share * len as f64).min(u32::MAX as f64) as u32,
            share_ppm: (share * 1e6) as u32,
        }
    }

    /// Seconds until the start, rounded up.
    pub fn starts_in(&self) -> u32 {
        self.starts_in_ms.div_ceil(1000).min(u32::MAX as u64) as u32
    }
}

/// What a pre-queue visitor is told before the draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreQueueWait {
    /// Seconds until the start.
    pub starts_in: u32,
    /// The start, Unix milliseconds (for a countdown that does not depend on polls).
    pub starts_at_ms: u64,
    /// When to poll again ([`prequeue_poll_ms`]).
    pub poll_ms: u32,
}

/// What a join gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// In at once (open, or auto with room to spare): the session is registered.
    Admitted,
    /// A place in line.
    Queued(usize),
    /// A place in the pre-queue (its order is drawn at the start).
    PreQueued(usize),
    /// The room is closed.
    Closed,
}

/// What a polling visitor is told.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Visit {
    /// Still in line.
    Waiting(Position),
    /// Paused: in line, nobody is being called.
    Paused(Position),
    /// It is your turn: claim within the claim window.
    Called,
    /// Already claimed.
    Admitted,
    /// The room is closed.
    Closed,
    /// In the pre-queue, before the draw.
    PreQueue(PreQueueWait),
    /// The place was lost (skipped/lapsed longer ago than the recall window, or left).
    Gone,
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

/// Counters and gauges for metrics and the admin view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Waiting in the main line.
    pub waiting: u32,
    /// Waiting in the recall lane.
    pub recalled_waiting: u32,
    /// Called, not yet claimed.
    pub called: u32,
    /// Active sessions.
    pub active: u32,
    /// Admitted since start.
    pub admitted_total: u64,
    /// Calls that lapsed since start.
    pub lapsed_total: u64,
    /// Waiting visitors skipped for not polling since start.
    pub abandoned_total: u64,
    /// Visitors recalled to the front since start.
    pub recalled_total: u64,
    /// Estimated wait for a visitor joining now (as of the last tick), in seconds.
    pub estimated_wait_seconds: Option<u32>,
}

/// How far past the known end of the line a returning ticket may be re-placed (places
/// handed out after the last persisted state); bounds memory for a stale ticket.
pub(crate) const RESTORE_SLACK: usize = 1_000_000;

/// Places swept for abandonment per tick: bounds tick cost for very long lines.
pub(crate) const SWEEP_BUDGET: usize = 20_000;

/// Changes an operator made through the admin API; they outlive restarts and sit on top
/// of the configured settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Overrides {
    /// Mode (`open`, `auto`, `queue`, `paused`, `closed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Sessions inside at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active: Option<u32>,
    /// Admissions per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_per_minute: Option<u32>,
    /// A scheduled sale (replaces the configured one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<(u64, u64, Option<u64>)>,
}

impl Overrides {
    /// These changes on top of `s`.
    pub(crate) fn apply(&self, mut s: RoomSettings) -> RoomSettings {
        if let Some(m) = self.mode.as_deref().and_then(|m| m.parse().ok()) {
            s.mode = m;
        }
        if let Some(n) = self.max_active {
            s.max_active = n;
        }
        if let Some(n) = self.new_per_minute {
            s.new_per_minute = n;
        }
        if let Some((prequeue_start, start, end)) = self.event {
            s.event = Some(Event {
                prequeue_start,
                start,
                end,
            });
        }
        s
    }
}

/// The little per-room state that tickets do not carry, saved so a restart loses nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// First place not yet dealt with.
    pub head: usize,
    /// Places handed out.
    pub len: usize,
    /// No place below this is handed out after a restart (covers joins after the save).
    pub reserved: usize,
    /// Active sessions: (session id, expiry in Unix seconds).
    pub sessions: Vec<(String, u32)>,
    /// Totals since the room was created.
    pub admitted_total: u64,
    /// Lapsed calls since the room was created.
    pub lapsed_total: u64,
    /// Abandoned visitors since the room was created.
    pub abandoned_total: u64,
    /// Recalls since the room was created.
    pub recalled_total: u64,
    /// Operator changes made through the admin API.
    #[serde(default)]
    pub overrides: Overrides,
    /// Pre-queue entries joined.
    #[serde(default)]
    pub prequeue_len: usize,
    /// Seed of the pre-queue draw (0: not drawn yet).
    #[serde(default)]
    pub draw_seed: u64,
    /// First place of the drawn pre-queue, once drawn.
    #[serde(default)]
    pub draw_base: Option<usize>,
}

/// Places reserved beyond the saved length for joins that happen between two saves.
const RESERVE_AHEAD: usize = 100_000;

/// One room's line, sessions and admission state.
#[derive(Debug)]
pub struct Room {
    settings: RoomSettings,
    line: Line,
    /// Active sessions: session id → expiry (Unix seconds).
    sessions: HashMap<String, u32>,
    tokens: f64,
    refilled_ms: u64,
    /// Times (Unix seconds) of recent calls, for the admission-rate estimate.
    recent_calls: VecDeque<u32>,
    stats: Stats,
    /// Settings from the config file, before operator overrides.
    configured: RoomSettings,
    overrides: Overrides,
    /// Pre-queue entries joined so far (their order is drawn at the start).
    prequeue_len: usize,
    /// After the draw: pre-queue entry → place in line.
    drawn: Option<Vec<u32>>,
    /// Seed of the draw (random, saved so a restart draws the same order).
    draw_seed: u64,
    /// First place in line given to the pre-queue at the draw.
    draw_base: Option<usize>,
}

fn secs(d: Duration) -> u32 {
    d.as_secs().min(u32::MAX as u64) as u32
}

/// Unix milliseconds → Unix seconds, capped to `u32`.
pub(crate) fn to_secs(now_ms: u64) -> u32 {
    (now_ms / 1000).min(u32::MAX as u64) as u32
}

impl Room {
    /// A new, empty room.
    pub fn new(settings: RoomSettings, now_ms: u64) -> Self {
        Self {
            tokens: Self::burst(&settings),
            settings,
            line: Line::default(),
            sessions: HashMap::new(),
            refilled_ms: now_ms,
            recent_calls: VecDeque::new(),
            stats: Stats::default(),
            configured: settings,
            overrides: Overrides::default(),
            prequeue_len: 0,
            drawn: None,
            draw_seed: 0,
            draw_base: None,
        }
    }

    /// Draws the pre-queue's order once the start has come: a uniformly random
    /// permutation (Fisher–Yates over a seeded splitmix64), appended to the line.
    /// Draws the pre-queue once the start has come and, when this call drew it, calls
    /// the first visitors at once: the sale opens with the first poll after the start,
    /// not at the next tick.
    fn open_sale_if_due(&mut self, now_ms: u64) {
        let drawn = self.drawn.is_some();
        self.draw_if_due(to_secs(now_ms));
        if !drawn && self.drawn.is_some() {
            self.tick(now_ms);
        }
    }

    fn draw_if_due(&mut self, now: u32) {
        let Some(ev) = self.settings.event else {
            return;
        };
        if self.drawn.is_some() || (now as u64) < ev.start {
            return;
        }
        self.ensure_draw_seed();
        let base = self.line.len();
        for _ in 0..self.prequeue_len {
            self.line.join(now);
        }
        self.drawn = Some(self.places_of_draw(base));
        self.draw_base = Some(base);
    }

    /// Picks the draw's seed at the first pre-queue join (or at the draw, for entries
    /// saved before seeds were picked early): every entry's key is fixed from then on.
    fn ensure_draw_seed(&mut self) {
        if self.draw_seed == 0 {
            let mut b = [0u8; 8];
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
            self.draw_seed = u64::from_le_bytes(b) | 1;
        }
    }

    /// Pre-queue entry → place, for a draw whose first place is `base`.
    fn places_of_draw(&self, base: usize) -> Vec<u32> {
        draw_offsets(self.prequeue_len, self.draw_seed)
            .into_iter()
            .map(|k| (base + k as usize) as u32)
            .collect()
    }

    /// Where pre-queue entry `i` stands.
    pub fn prequeue(&mut self, i: usize, now_ms: u64) -> PreQueue {
        self.open_sale_if_due(now_ms);
        match (&self.drawn, self.settings.event) {
            (Some(places), _) => places
                .get(i)
                .map_or(PreQueue::Unknown, |&p| PreQueue::Drawn(p as usize)),
            (None, Some(ev)) if i < self.prequeue_len => PreQueue::Pending(Pending::of(
                i,
                self.draw_seed,
                self.prequeue_len,
                (ev.start * 1000).saturating_sub(now_ms),
            )),
            _ => PreQueue::Unknown,
        }
    }

    /// Admissions that may happen back to back: one second's worth, at least one.
    fn burst(s: &RoomSettings) -> f64 {
        (s.new_per_minute as f64 / 60.0).max(1.0)
    }

    /// The settings in force.
    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    /// New configured settings (a config reload), without touching the line; operator
    /// overrides stay on top.
    pub fn reconfigure(&mut self, settings: RoomSettings) {
        self.configured = settings;
        self.apply_settings(self.overrides.apply(settings));
    }

    /// An operator's change (admin API): merged into the overrides, which outlive restarts.
    pub fn override_settings(&mut self, change: Overrides) {
        if change.mode.is_some() {
            self.overrides.mode = change.mode;
        }
        if change.max_active.is_some() {
            self.overrides.max_active = change.max_active;
        }
        if change.new_per_minute.is_some() {
            self.overrides.new_per_minute = change.new_per_minute;
        }
        if change.event.is_some() {
            self.overrides.event = change.event;
        }
        self.apply_settings(self.overrides.apply(self.configured));
    }

    fn apply_settings(&mut self, settings: RoomSettings) {
        self.tokens = self.tokens.min(Self::burst(&settings));
        self.settings = settings;
    }

    /// The line (read-only), e.g. for persistence.
    pub fn line(&self) -> &Line {
        &self.line
    }

    /// Free capacity: `max_active − active − called`.
    fn free(&self) -> u32 {
        self.settings
            .max_active
            .saturating_sub(self.sessions.len() as u32 + self.line.called())
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.refilled_ms);
        self.refilled_ms = self.refilled_ms.max(now_ms);
        if self.settings.new_per_minute == 0 {
            self.tokens = f64::MAX;
            return;
        }
        if self.tokens == f64::MAX {
            self.tokens = Self::burst(&self.settings);
        }
        let rate_per_ms = self.settings.new_per_minute as f64 / 60_000.0;
        self.tokens = (self.tokens + elapsed as f64 * rate_per_ms).min(Self::burst(&self.settings));
    }

    fn open_session(&mut self, session: &str, now: u32) {
        let exp = now.saturating_add(secs(self.settings.session_idle));
        self.sessions.insert(session.to_string(), exp);
        self.stats.admitted_total += 1;
    }

    /// A visitor arrives. `session` is the id the pass will carry if they are let in now.
    pub fn join(&mut self, session: &str, now_ms: u64) -> Join {
        let now = to_secs(now_ms);
        self.refill(now_ms);
        if let Some(ev) = self.settings.event {
            let t = now as u64;
            if t < ev.prequeue_start || ev.end.is_some_and(|end| t >= end) {
                return Join::Closed;
            }
            if t < ev.start && self.settings.mode != Mode::Closed {
                self.ensure_draw_seed();
                self.prequeue_len += 1;
                return Join::PreQueued(self.prequeue_len - 1);
            }
            self.open_sale_if_due(now_ms);
        }
        match self.settings.mode {
            Mode::Closed => Join::Closed,
            Mode::Open => {
                self.open_session(session, now);
                Join::Admitted
            }
            Mode::Auto
                if self.line.waiting() == 0
                    && self.line.recalled() == 0
                    && self.free() > 0
                    && self.tokens >= 1.0 =>
            {
                self.tokens -= 1.0;
                self.note_call(now);
                self.open_session(session, now);
                Join::Admitted
            }
            Mode::Auto | Mode::Queue | Mode::Paused => Join::Queued(self.line.join(now)),
        }
    }

    /// A visitor holding a ticket for `place` polls.
    pub fn poll(&mut self, place: usize, now_ms: u64) -> Visit {
        let now = to_secs(now_ms);
        if self.settings.mode == Mode::Closed {
            return Visit::Closed;
        }
        if self.line.slot(place) == Slot::Unknown && place < self.line.len() + RESTORE_SLACK {
            // A ticket this node has not seen (a restart lost the places handed out after
            // the last persisted state): put its holder back at the same place.
            self.line.restore(place, now);
        }
        if self
            .line
            .recall(place, now, secs(self.settings.recall_window))
        {
            self.stats.recalled_total += 1;
        }
        match self.line.slot(place) {
            Slot::Waiting(_) | Slot::Recalled => {
                self.line.seen(place, now);
                let pos = self.position(place, now);
                if self.settings.mode == Mode::Paused {
                    Visit::Paused(pos)
                } else {
                    Visit::Waiting(pos)
                }
            }
            Slot::Called(_) => Visit::Called,
            Slot::Admitted => Visit::Admitted,
            Slot::Left | Slot::Skipped(_) | Slot::Lapsed(_) | Slot::Unknown => Visit::Gone,
        }
    }

    fn position(&self, place: usize, now: u32) -> Position {
        let (ahead, behind) = match self.line.slot(place) {
            // In the recall lane: only earlier recalls are in front.
            Slot::Recalled => (0, self.line.waiting()),
            // The recall lane is not counted: a recall must never push anyone back.
            _ => (self.line.ahead(place), self.line.behind(place)),
        };
        position(ahead, behind, place, now, &self.rate())
    }

    fn rate(&self) -> Rate {
        Rate {
            calls: self.recent_calls.len(),
            first_call: self.recent_calls.front().copied(),
            new_per_minute: self.settings.new_per_minute,
        }
    }

    fn note_call(&mut self, now: u32) {
        self.recent_calls.push_back(now);
        while self.recent_calls.front().is_some_and(|&t| t + 60 < now) {
            self.recent_calls.pop_front();
        }
    }

    fn eta(&self, ahead: u32, now: u32) -> Option<u32> {
        self.rate().eta(ahead, now)
    }

    /// A called visitor comes in: the call becomes a session. False if not (or no longer)
    /// called.
    pub fn claim(&mut self, place: usize, session: &str, now_ms: u64) -> bool {
        if self.line.claim(place) {
            self.open_session(session, to_secs(now_ms));
            true
        } else {
            false
        }
    }

    /// A session showed activity; its pass now expires at `exp` (Unix seconds).
    pub fn touch_session(&mut self, session: &str, exp: u64) {
        if let Some(e) = self.sessions.get_mut(session) {
            *e = (*e).max(exp.min(u32::MAX as u64) as u32);
        }
    }

    /// A session ended (left, completed, revoked): its slot is free at once.
    pub fn end_session(&mut self, session: &str) -> bool {
        self.sessions.remove(session).is_some()
    }

    /// A waiting or called visitor gives up their place.
    pub fn leave(&mut self, place: usize) -> bool {
        self.line.leave(place)
    }

    /// Runs admission: expire sessions and calls, skip the absent, then call as many as
    /// capacity and rate allow. Returns the places called.
    pub fn tick(&mut self, now_ms: u64) -> Vec<usize> {
        let now = to_secs(now_ms);
        self.refill(now_ms);
        self.draw_if_due(now);
        if let Some(ev) = self.settings.event {
            if (now as u64) < ev.start || ev.end.is_some_and(|end| now as u64 >= end) {
                return Vec::new();
            }
        }
        self.sessions.retain(|_, exp| *exp >= now);
        self.stats.lapsed_total += self.line.lapse(now) as u64;
        let stale_before = now.saturating_sub(secs(self.settings.abandon_after));
        self.stats.abandoned_total += self.line.sweep(now, stale_before, SWEEP_BUDGET) as u64;
        if matches!(self.settings.mode, Mode::Paused | Mode::Closed) {
            return Vec::new();
        }
        let budget = if self.settings.new_per_minute == 0 {
            u32::MAX
        } else {
            self.tokens.floor().max(0.0) as u32
        };
        let n = self.free().min(budget);
        if n == 0 {
            return Vec::new();
        }
        let deadline = now.saturating_add(secs(self.settings.claim_window));
        let (called, skipped) = self.line.call(n, now, deadline, stale_before);
        self.stats.abandoned_total += skipped as u64;
        if self.settings.new_per_minute > 0 {
            self.tokens -= called.len() as f64;
        }
        for _ in &called {
            self.note_call(now);
        }
        called
    }

    /// What must survive a restart.
    pub fn save(&self) -> Saved {
        let len = self.line.len();
        Saved {
            head: self.line.head(),
            len,
            reserved: len + RESERVE_AHEAD,
            sessions: self.sessions.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            admitted_total: self.stats.admitted_total,
            lapsed_total: self.stats.lapsed_total,
            abandoned_total: self.stats.abandoned_total,
            recalled_total: self.stats.recalled_total,
            overrides: self.overrides.clone(),
            prequeue_len: self.prequeue_len,
            draw_seed: self.draw_seed,
            draw_base: self.draw_base,
        }
    }

    /// A room rebuilt from saved state: every place that was not yet dealt with is
    /// presumed waiting (so positions never jump while tickets trickle back; the sweep
    /// skips those that never return), and new joins go after the reserved range.
    pub fn restore(settings: RoomSettings, saved: &Saved, now_ms: u64) -> Self {
        let mut room = Self::new(settings, now_ms);
        room.override_settings(saved.overrides.clone());
        room.prequeue_len = saved.prequeue_len;
        room.draw_seed = saved.draw_seed;
        if let Some(base) = saved.draw_base {
            room.draw_base = Some(base);
            room.drawn = Some(room.places_of_draw(base));
        }
        let now = to_secs(now_ms);
        room.line.presume_waiting(saved.head, saved.len, now);
        room.line.reserve(saved.reserved.max(saved.len));
        room.sessions = saved.sessions.iter().cloned().collect();
        room.stats = Stats {
            admitted_total: saved.admitted_total,
            lapsed_total: saved.lapsed_total,
            abandoned_total: saved.abandoned_total,
            recalled_total: saved.recalled_total,
            ..Stats::default()
        };
        room
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        Stats {
            waiting: self.line.waiting(),
            recalled_waiting: self.line.recalled(),
            called: self.line.called(),
            active: self.sessions.len() as u32,
            estimated_wait_seconds: self.eta(self.line.waiting(), to_secs(self.refilled_ms)),
            ..self.stats
        }
    }
}

/// Recent admissions of a room, for the ETA: the calls of the last minute (as pruned when
/// a call is noted) and the configured rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Calls noted in the last minute.
    pub(crate) calls: usize,
    /// Time (Unix seconds) of the oldest of them.
    pub(crate) first_call: Option<u32>,
    /// The configured admissions per minute (used before any call was measured).
    pub(crate) new_per_minute: u32,
}

impl Rate {
    /// Seconds until `ahead` visitors are called at the rate measured over the last minute
    /// (or the configured rate before any call was measured).
    pub(crate) fn eta(&self, ahead: u32, now: u32) -> Option<u32> {
        self.eta_ms(ahead, now)
            .map(|ms| ms.div_ceil(1000).min(u32::MAX as u64) as u32)
    }

    /// [`Rate::eta`] in milliseconds.
    pub(crate) fn eta_ms(&self, ahead: u32, now: u32) -> Option<u64> {
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
pub(crate) fn position(ahead: u32, behind: u32, place: usize, now: u32, rate: &Rate) -> Position {
    Position {
        ahead,
        behind,
        eta_seconds: rate.eta(ahead, now),
        poll_ms: poll_ms(ahead, place as u64 ^ now as u64, rate.eta_ms(ahead, now)),
    }
}

/// The pre-queue draw for `n` entries and `seed`: entry → offset from the first drawn
/// place (the inverse of [`permutation`]).
pub(crate) fn draw_offsets(n: usize, seed: u64) -> Vec<u32> {
    let mut offset_of = vec![0u32; n];
    for (k, &entry) in permutation(n, seed).iter().enumerate() {
        offset_of[entry] = k as u32;
    }
    offset_of
}

/// A permutation of `0..n` from `seed`: the entries in order of their [`draw_key`], so
/// the same seed gives the same order after a restart, and an entry's place can be
/// estimated before the draw from its key alone.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<(u64, usize)> = (0..n).map(|i| (draw_key(i, seed), i)).collect();
    v.sort_unstable();
    v.into_iter().map(|(_, i)| i).collect()
}

/// Pre-queue entry `i`'s key in the draw: splitmix64 of the seed and the entry, distinct
/// for distinct entries (both steps are bijections), uniform, unknowable without the seed.
pub fn draw_key(i: usize, seed: u64) -> u64 {
    mix(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// splitmix64's finaliser: a bijection on `u64` that scatters every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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

#[cfg(test)]
pub(crate) mod tests;
