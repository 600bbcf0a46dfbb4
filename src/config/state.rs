//! `[state]`: where queue state and the ticket secret are kept, how often state is saved,
//! and what happens while the store is down.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::problems::Problems;

/// `[state]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateFileSection {
    /// Directory for the state file and the ticket secret.
    pub dir: String,
    /// How often room state is saved.
    pub save_interval: String,
    /// `"closed"` (default, safe) or `"open"` (let everyone in while the store is down).
    pub on_store_failure: String,
    /// File with the secret tickets are signed with (at least 32 bytes); empty:
    /// `<dir>/ticket.key`, created at first start. Several nodes must share one.
    pub ticket_secret: String,
}

impl Default for StateFileSection {
    fn default() -> Self {
        Self {
            dir: "data".into(),
            save_interval: "1s".into(),
            on_store_failure: "closed".into(),
            ticket_secret: String::new(),
        }
    }
}

/// Validated `[state]` but for `save_interval` (see [`save_interval`]), spread into the
/// waiting-room settings.
pub(super) struct StateSettings {
    /// State directory.
    pub(super) dir: PathBuf,
    /// Let everyone in while the store is down.
    pub(super) fail_open: bool,
    /// The ticket secret file (None: `<dir>/ticket.key`).
    pub(super) ticket_secret: Option<PathBuf>,
}

/// Validates `[state]` but for `save_interval`.
pub(super) fn validate(p: &mut Problems, state: &StateFileSection) -> StateSettings {
    let fail_open = match state.on_store_failure.as_str() {
        "closed" => false,
        "open" => true,
        other => {
            p.push("state.on_store_failure", format!("{other:?} is not a choice; write \"closed\" (safe) or \"open\" (everyone in while the store is down)"));
            false
        }
    };
    let ticket_secret =
        (!state.ticket_secret.is_empty()).then(|| PathBuf::from(&state.ticket_secret));
    if let Some(t) = &ticket_secret {
        if !t.is_file() {
            p.push("state.ticket_secret", format!("{t:?} does not exist; write at least 32 random bytes to it (e.g. `head -c 32 /dev/urandom > ticket.key`), or leave it empty for one node"));
        }
    }
    StateSettings {
        dir: PathBuf::from(&state.dir),
        fail_open,
        ticket_secret,
    }
}

/// `state.save_interval`. Checked apart from the rest of `[state]` because its problem has
/// always been listed after `[store]`'s, and `[store]` needs the ticket secret first.
pub(super) fn save_interval(p: &mut Problems, state: &StateFileSection) -> Duration {
    p.duration("state.save_interval", &state.save_interval)
}
