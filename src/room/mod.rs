//! Rooms: the fair line and the admission engine (docs/DESIGN.md §4). Plain logic: no
//! HTTP, no sockets, no clock of its own — every call takes `now`, so tests drive time
//! directly.
//!
//! A room admits `new_per_minute` visitors at most (a token bucket) while fewer than
//! `max_active` sessions are active or called. Called visitors must claim within
//! `claim_window`; waiting visitors who stop polling for `abandon_after` are skipped; both
//! may come back within `recall_window` and are then served before the line.
//!
//! This module is the engine ([`Room`]: join, poll, claim, tick); its parts live in
//! `settings` (what the config and the operator set), [`pace`] (token bucket, ETA and
//! poll intervals, shared with the Redis store), [`draw`] (a sale's pre-queue), `saved`
//! (what survives a restart), [`line`](mod@line) (the places) and [`ticket`] (signed tickets).

pub mod draw;
mod fenwick;
pub mod line;
pub mod pace;
mod saved;
mod settings;
pub mod ticket;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use draw::DrawState;
use pace::{position, to_secs, Bucket, Rate};

pub use draw::{draw_key, permutation, Pending, PreQueue, PreQueueWait};
pub use line::{Line, Slot};
pub use pace::{poll_ms, prequeue_poll_ms, Position};
pub use saved::Saved;
pub use settings::{Event, Mode, Overrides, RoomSettings};

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

/// One room's line, sessions and admission state.
#[derive(Debug)]
pub struct Room {
    settings: RoomSettings,
    line: Line,
    /// Active sessions: session id → expiry (Unix seconds).
    sessions: HashMap<String, u32>,
    /// Admissions that may happen now.
    bucket: Bucket,
    /// Times (Unix seconds) of recent calls, for the admission-rate estimate.
    recent_calls: VecDeque<u32>,
    stats: Stats,
    /// Settings from the config file, before operator overrides.
    configured: RoomSettings,
    overrides: Overrides,
    /// A scheduled sale's pre-queue and its draw.
    draw: DrawState,
}

fn secs(d: Duration) -> u32 {
    d.as_secs().min(u32::MAX as u64) as u32
}

impl Room {
    /// A new, empty room.
    pub fn new(settings: RoomSettings, now_ms: u64) -> Self {
        Self {
            bucket: Bucket::new(&settings, now_ms),
            settings,
            line: Line::default(),
            sessions: HashMap::new(),
            recent_calls: VecDeque::new(),
            stats: Stats::default(),
            configured: settings,
            overrides: Overrides::default(),
            draw: DrawState::default(),
        }
    }

    /// Draws the pre-queue once the start has come and, when this call drew it, calls
    /// the first visitors at once: the sale opens with the first poll after the start,
    /// not at the next tick.
    fn open_sale_if_due(&mut self, now_ms: u64) {
        if self
            .draw
            .draw_if_due(self.settings.event, &mut self.line, to_secs(now_ms))
        {
            self.tick(now_ms);
        }
    }

    /// Where pre-queue entry `i` stands.
    pub fn prequeue(&mut self, i: usize, now_ms: u64) -> PreQueue {
        self.open_sale_if_due(now_ms);
        self.draw.entry(i, self.settings.event, now_ms)
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
        self.bucket.cap(&settings);
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

    fn open_session(&mut self, session: &str, now: u32) {
        let exp = now.saturating_add(secs(self.settings.session_idle));
        self.sessions.insert(session.to_string(), exp);
        self.stats.admitted_total += 1;
    }

    /// A visitor arrives. `session` is the id the pass will carry if they are let in now.
    pub fn join(&mut self, session: &str, now_ms: u64) -> Join {
        let now = to_secs(now_ms);
        self.bucket.refill(&self.settings, now_ms);
        if let Some(ev) = self.settings.event {
            let t = now as u64;
            if t < ev.prequeue_start || ev.end.is_some_and(|end| t >= end) {
                return Join::Closed;
            }
            if t < ev.start && self.settings.mode != Mode::Closed {
                return Join::PreQueued(self.draw.join());
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
                    && self.bucket.tokens() >= 1.0 =>
            {
                self.bucket.take(1.0);
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
        self.bucket.refill(&self.settings, now_ms);
        self.draw
            .draw_if_due(self.settings.event, &mut self.line, now);
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
            self.bucket.tokens().floor().max(0.0) as u32
        };
        let n = self.free().min(budget);
        if n == 0 {
            return Vec::new();
        }
        let deadline = now.saturating_add(secs(self.settings.claim_window));
        let (called, skipped) = self.line.call(n, now, deadline, stale_before);
        self.stats.abandoned_total += skipped as u64;
        if self.settings.new_per_minute > 0 {
            self.bucket.take(called.len() as f64);
        }
        for _ in &called {
            self.note_call(now);
        }
        called
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        Stats {
            waiting: self.line.waiting(),
            recalled_waiting: self.line.recalled(),
            called: self.line.called(),
            active: self.sessions.len() as u32,
            estimated_wait_seconds: self
                .eta(self.line.waiting(), to_secs(self.bucket.refilled_ms())),
            ..self.stats
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
