//! Configuration: parse the operator's TOML, validate every field, and hand each module
//! its own immutable part.
//!
//! Each section of `usher.toml` has a module of its own holding what is written (a
//! `…File` struct that denies unknown fields, so a typo is an error, not a silent
//! default), what the server runs with, and the validation between the two. Validation
//! collects *all* problems at once (`problems`) and names each field with the fix, so
//! an operator fixes a file in one round instead of one error per restart. This module
//! reads the file and assembles [`Settings`] from the sections.

pub mod abuse;
mod admin;
pub mod backend;
mod bypass;
mod forwarding;
mod limits;
mod listen;
mod log;
mod page;
mod passes;
mod problems;
pub mod rooms;
mod routing;
mod runtime;
mod state;
pub mod store;
#[cfg(test)]
mod tests;
mod tls;
mod upstream;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use bypass::BypassRule;
pub use forwarding::ForwardingSettings;
pub use limits::Limits;
pub use listen::ListenSettings;
pub use log::{LogFormat, LogSettings};
pub use problems::{ConfigError, FieldError};
pub use routing::DefaultAction;
pub use tls::{TlsSettings, TlsVersion};
pub use upstream::{HostHeader, UpstreamSettings};

use problems::Problems;

/// The whole `usher.toml` as written: plain strings and numbers, no meaning yet.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Listening sockets.
    pub listen: listen::ListenFile,
    /// Public listener certificate.
    pub tls: tls::TlsFile,
    /// Where admitted requests go.
    pub upstream: upstream::UpstreamFile,
    /// Timeouts and size limits that protect the proxy.
    pub limits: limits::LimitsFile,
    /// Forwarding headers and trust.
    pub forwarding: forwarding::ForwardingFile,
    /// Runtime sizing.
    pub runtime: runtime::RuntimeFile,
    /// Logging.
    pub log: log::LogFile,
    /// Pass signing.
    pub passes: passes::PassesFile,
    /// Queue state on disk.
    pub state: state::StateFileSection,
    /// Where rooms live: memory or Redis.
    pub store: store::StoreFile,
    /// What skipping the line costs.
    pub abuse: abuse::AbuseFile,
    /// Requests no room matches.
    pub routing: routing::RoutingFile,
    /// Requests that skip the waiting room.
    pub bypass: Vec<bypass::BypassFile>,
    /// Rooms.
    pub rooms: Vec<rooms::RoomFile>,
    /// The admin API.
    pub admin: admin::AdminFile,
    /// An operator's own waiting page.
    pub page: page::PageFile,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listening sockets.
    pub listen: ListenSettings,
    /// Certificate source for the public listener.
    pub tls: TlsSettings,
    /// Upstream servers and client behaviour.
    pub upstream: UpstreamSettings,
    /// Protective limits.
    pub limits: Limits,
    /// Forwarding-header trust.
    pub forwarding: ForwardingSettings,
    /// Worker threads (0 = one per core).
    pub workers: usize,
    /// Logging choices.
    pub log: LogSettings,
    /// Rooms, bypass rules, passes and queue state.
    pub waiting_room: WaitingRoomSettings,
    /// Bearer token for the admin API (`None`: the API is off).
    pub admin_token: Option<String>,
    /// The operator's waiting page: (template, strings) paths, or the built-in one.
    pub page: Option<(PathBuf, PathBuf)>,
}

/// Validated waiting-room settings: rooms, bypass rules, routing, passes, queue state,
/// the store and abuse limits.
#[derive(Debug, Clone)]
pub struct WaitingRoomSettings {
    /// Rooms in config order.
    pub rooms: Vec<rooms::RoomRoute>,
    /// Bypass rules.
    pub bypass: Vec<BypassRule>,
    /// Unmatched requests.
    pub default_action: DefaultAction,
    /// Pass issuer.
    pub issuer: String,
    /// Signing key path (None: generate).
    pub signing_key: Option<PathBuf>,
    /// Extra verify keys: (kid, path).
    pub verify_keys: Vec<(String, PathBuf)>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Save interval.
    pub save_interval: Duration,
    /// Let everyone in while the store is down (explicit, logged, discouraged).
    pub fail_open: bool,
    /// The ticket secret file (None: `<state_dir>/ticket.key`, created if missing).
    pub ticket_secret: Option<PathBuf>,
    /// Where rooms live.
    pub store: store::StoreSettings,
    /// Join challenge and per-network caps.
    pub abuse: abuse::AbuseSettings,
}

impl Settings {
    /// Parse and validate TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        validate(file)
    }

    /// Read, parse and validate a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text)
    }
}

/// Validate every section; all problems are reported together, in file order.
fn validate(file: FileConfig) -> Result<Settings, ConfigError> {
    let mut p = Problems::default();
    let listen = listen::validate(&mut p, &file.listen);
    let tls = tls::validate(&mut p, &file.tls);
    let upstream = upstream::validate(&mut p, &file.upstream);
    let limits = limits::validate(&mut p, &file.limits);
    let forwarding = forwarding::validate(&mut p, &file.forwarding);
    let workers = runtime::validate(&mut p, &file.runtime);
    let log = log::validate(&mut p, &file.log);
    let waiting_room = waiting_room(&mut p, &file);
    let admin_token = admin::validate(&mut p, &file.admin);
    let page = page::validate(&mut p, &file.page);
    // The placeholder values used after a problem never escape: any problem fails here.
    p.finish()?;
    Ok(Settings {
        listen,
        tls,
        upstream,
        limits,
        forwarding,
        workers,
        log,
        waiting_room,
        admin_token,
        page,
    })
}

/// The waiting-room sections, validated together: a Redis store needs the passes' signing
/// key and the state's ticket secret.
fn waiting_room(p: &mut Problems, file: &FileConfig) -> WaitingRoomSettings {
    let rooms = rooms::validate(p, &file.rooms);
    let bypass = bypass::validate(p, &file.bypass);
    let default_action = routing::validate(p, &file.routing);
    let passes = passes::validate(p, &file.passes);
    let state = state::validate(p, &file.state);
    let store = store::validate(p, &file.store, &passes.signing_key, &state.ticket_secret);
    let save_interval = state::save_interval(p, &file.state);
    let abuse = abuse::validate(p, &file.abuse);
    WaitingRoomSettings {
        rooms,
        bypass,
        default_action,
        issuer: passes.issuer,
        signing_key: passes.signing_key,
        verify_keys: passes.verify_keys,
        state_dir: state.dir,
        save_interval,
        fail_open: state.fail_open,
        ticket_secret: state.ticket_secret,
        store,
        abuse,
    }
}
