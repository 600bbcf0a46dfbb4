//! What survives a restart of a memory room: the few numbers tickets do not carry, saved
//! in the state file. Tickets carry each visitor's place, so the line itself is not
//! saved: a restored room presumes every place not yet dealt with is waiting.

use super::draw::DrawState;
use super::pace::to_secs;
use super::settings::{Overrides, RoomSettings};
use super::{Room, Stats};

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

impl Room {
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
            prequeue_len: self.draw.len(),
            draw_seed: self.draw.seed(),
            draw_base: self.draw.base(),
        }
    }

    /// A room rebuilt from saved state: every place that was not yet dealt with is
    /// presumed waiting (so positions never jump while tickets trickle back; the sweep
    /// skips those that never return), and new joins go after the reserved range.
    pub fn restore(settings: RoomSettings, saved: &Saved, now_ms: u64) -> Self {
        let mut room = Self::new(settings, now_ms);
        room.override_settings(saved.overrides.clone());
        room.draw = DrawState::restore(saved.prequeue_len, saved.draw_seed, saved.draw_base);
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
}
