//! A room's settings: the mode, capacity, rate and windows from the config file, the
//! scheduled sale, and the operator's overrides on top of them.

use std::time::Duration;

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
