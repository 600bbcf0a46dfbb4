//! The waiting-room sections of the config: rooms, bypass rules, routing, passes and the
//! state store. File structs and their validation live together here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::validate::Problems;
use crate::room::{Mode, RoomSettings};

/// `[passes]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassesFile {
    /// `iss` of every pass.
    pub issuer: String,
    /// PKCS#8 PEM signing key (`usher keygen`); empty: a key generated at start.
    pub signing_key: String,
    /// Extra public keys that still verify (rotation), as PEM paths; kid = file stem.
    pub verify_keys: Vec<String>,
}

impl Default for PassesFile {
    fn default() -> Self {
        Self {
            issuer: "usher".into(),
            signing_key: String::new(),
            verify_keys: Vec::new(),
        }
    }
}

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

/// `[routing]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingFile {
    /// What happens to a request no room matches: `"forward"` or `"deny"`.
    pub default_action: String,
}

impl Default for RoutingFile {
    fn default() -> Self {
        Self {
            default_action: "forward".into(),
        }
    }
}

/// One `[[bypass]]` rule: a request matching every listed criterion skips the room.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BypassFile {
    /// Path globs (`/static/*`).
    pub paths: Vec<String>,
    /// Methods (`OPTIONS`).
    pub methods: Vec<String>,
    /// Client networks.
    pub cidrs: Vec<String>,
    /// Header name → exact value.
    pub headers: BTreeMap<String, String>,
}

/// One `[[rooms]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomFile {
    /// Name (letters, digits, `-`, `_`; used in tickets, passes and metrics).
    pub name: String,
    /// Hosts this room guards; empty means any host.
    pub hosts: Vec<String>,
    /// Path prefixes this room guards.
    pub paths: Vec<String>,
    /// `open`, `auto`, `queue`, `paused` or `closed`.
    pub mode: String,
    /// Sessions inside at once.
    pub max_active: u32,
    /// Admissions per minute; 0 = capacity alone limits.
    pub new_per_minute: u32,
    /// Pass idle timeout (sliding).
    pub session_idle: String,
    /// Hard session maximum.
    pub session_max: String,
    /// Time a called visitor has to come in.
    pub claim_window: String,
    /// Missed-poll time after which a waiting visitor is skipped.
    pub abandon_after: String,
    /// Time a skipped or lapsed visitor may come back to the front.
    pub recall_window: String,
    /// When the pre-queue opens (RFC 3339, e.g. "2026-09-14T06:00:00+09:00").
    pub prequeue_start: Option<String>,
    /// When the sale starts: the pre-queue is put in a random order.
    pub start: Option<String>,
    /// When the sale ends: the room closes.
    pub end: Option<String>,
    /// Close the room when the site answers with `X-Usher-Sold-Out: 1` (a room that
    /// guards one event): the line is told "sold out" at once instead of each waiter
    /// being let in to find out.
    pub close_when_sold_out: bool,
}

impl Default for RoomFile {
    fn default() -> Self {
        Self {
            name: String::new(),
            hosts: Vec::new(),
            paths: vec!["/".into()],
            mode: "auto".into(),
            max_active: 100,
            new_per_minute: 0,
            session_idle: "10m".into(),
            session_max: "1h".into(),
            claim_window: "60s".into(),
            abandon_after: "60s".into(),
            recall_window: "10m".into(),
            prequeue_start: None,
            start: None,
            end: None,
            close_when_sold_out: false,
        }
    }
}

/// Unix seconds from an RFC 3339 time with `Z` or a `±HH:MM` offset.
pub fn parse_time(s: &str) -> Option<u64> {
    let (local, offset_secs): (&str, i64) = if let Some(l) = s.strip_suffix('Z') {
        (l, 0)
    } else if s.len() > 6 && matches!(s.as_bytes()[s.len() - 6], b'+' | b'-') {
        let (l, off) = s.split_at(s.len() - 6);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let h: i64 = off.get(1..3)?.parse().ok()?;
        let m: i64 = off.get(4..6)?.parse().ok()?;
        (l, sign * (h * 3600 + m * 60))
    } else {
        return None;
    };
    let t = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    u64::try_from(secs - offset_secs).ok()
}

/// The room's event, if it names one; problems are recorded.
fn event(p: &mut Problems, i: usize, r: &RoomFile) -> Option<crate::room::Event> {
    let mut time = |name: &str, v: &Option<String>| -> Option<u64> {
        let v = v.as_deref()?;
        let t = parse_time(v);
        if t.is_none() {
            p.push(
                &format!("rooms[{i}].{name}"),
                format!("{v:?} is not a time; write RFC 3339 like \"2026-09-14T06:00:00+09:00\""),
            );
        }
        t
    };
    let pre = time("prequeue_start", &r.prequeue_start);
    let start = time("start", &r.start);
    let end = time("end", &r.end);
    match (r.prequeue_start.is_some(), r.start.is_some()) {
        (false, false) if r.end.is_none() => return None,
        (true, true) => {}
        _ => {
            p.push(
                &format!("rooms[{i}].start"),
                "an event needs both prequeue_start and start (end is optional)",
            );
            return None;
        }
    }
    let (pre, start) = (pre?, start?);
    if pre > start {
        p.push(
            &format!("rooms[{i}].prequeue_start"),
            "is after start; the pre-queue must open before the sale starts",
        );
    }
    if end.is_some_and(|e| e <= start) {
        p.push(&format!("rooms[{i}].end"), "is not after start");
    }
    Some(crate::room::Event {
        prequeue_start: pre,
        start,
        end,
    })
}

/// A validated room with where it applies.
#[derive(Debug, Clone)]
pub struct RoomRoute {
    /// Room name.
    pub name: String,
    /// Hosts (lower case, no port); empty = any.
    pub hosts: Vec<String>,
    /// Path prefixes.
    pub paths: Vec<String>,
    /// Admission settings.
    pub settings: RoomSettings,
    /// Close on the site's `X-Usher-Sold-Out`.
    pub close_when_sold_out: bool,
}

/// A validated bypass rule.
#[derive(Debug, Clone)]
pub struct BypassRule {
    /// Path globs (any matches), none = any path.
    pub paths: Option<globset::GlobSet>,
    /// Methods (any matches), empty = any.
    pub methods: Vec<http::Method>,
    /// Networks (any matches), empty = any.
    pub cidrs: Vec<ipnet::IpNet>,
    /// Headers that must all be present with these values.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// What to do with a request no room matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    /// Forward it.
    Forward,
    /// Refuse it (404).
    Deny,
}

/// Validated waiting-room settings.
#[derive(Debug, Clone)]
pub struct WaitingRoomSettings {
    /// Rooms in config order.
    pub rooms: Vec<RoomRoute>,
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
    pub store: super::store::StoreSettings,
    /// Join challenge and per-network caps.
    pub abuse: super::abuse::AbuseSettings,
}

/// Validates the waiting-room sections.
pub(super) fn validate(
    p: &mut Problems,
    rooms: &[RoomFile],
    bypass: &[BypassFile],
    routing: &RoutingFile,
    passes: &PassesFile,
    state: &StateFileSection,
    store: &super::store::StoreFile,
) -> WaitingRoomSettings {
    let mut out_rooms = Vec::new();
    for (i, r) in rooms.iter().enumerate() {
        let f = |name: &str| format!("rooms[{i}].{name}");
        if r.name.is_empty()
            || r.name.len() > crate::room::ticket::MAX_ROOM_LEN
            || !r
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            p.push(&f("name"), format!("{:?} is not a room name; use 1 to 64 letters, digits, '-' or '_' (e.g. \"booking\")", r.name));
        }
        if rooms[..i].iter().any(|o| o.name == r.name) {
            p.push(
                &f("name"),
                format!(
                    "{:?} is used by an earlier room; every room needs its own name",
                    r.name
                ),
            );
        }
        if r.paths.is_empty() {
            p.push(
                &f("paths"),
                "is empty; list the path prefixes this room guards, e.g. [\"/book\"]",
            );
        }
        let mut paths = Vec::with_capacity(r.paths.len());
        for (j, path) in r.paths.iter().enumerate() {
            let field = format!("rooms[{i}].paths[{j}]");
            if !path.starts_with('/') {
                p.push(&field, format!("{path:?} must start with '/'"));
                continue;
            }
            // Requests are matched in normal form, so the prefix must be too: written
            // any other way (`/예매`, `//book`, `%7e`) it would never guard anything.
            match crate::path::normalize(path).map(|n| n.unwrap_or_else(|| path.clone())) {
                Ok(normal) if normal.starts_with("/_usher/") || normal == "/_usher" => p.push(
                    &field,
                    format!("{path:?} is under /_usher/, which usher answers itself"),
                ),
                Ok(normal) => paths.push(normal),
                Err(why) => p.push(
                    &field,
                    format!("{path:?} is not a usable path prefix: {}", why.describe()),
                ),
            }
        }
        let mode = r.mode.parse::<Mode>().unwrap_or_else(|msg| {
            p.push(&f("mode"), msg);
            Mode::Closed
        });
        if r.max_active == 0 {
            p.push(
                &f("max_active"),
                "0 would let nobody in; give the number of visitors the site can serve at once",
            );
        }
        let event = event(p, i, r);
        let settings = RoomSettings {
            event,
            max_active: r.max_active,
            new_per_minute: r.new_per_minute,
            session_idle: p.duration(&f("session_idle"), &r.session_idle),
            session_max: p.duration(&f("session_max"), &r.session_max),
            claim_window: p.duration(&f("claim_window"), &r.claim_window),
            abandon_after: p.duration(&f("abandon_after"), &r.abandon_after),
            recall_window: p.duration(&f("recall_window"), &r.recall_window),
            mode,
        };
        if settings.session_max < settings.session_idle {
            p.push(
                &f("session_max"),
                "is shorter than session_idle; the hard maximum must be at least the idle timeout",
            );
        }
        out_rooms.push(RoomRoute {
            name: r.name.clone(),
            hosts: r.hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            paths,
            settings,
            close_when_sold_out: r.close_when_sold_out,
        });
    }

    let mut rules = Vec::new();
    for (i, b) in bypass.iter().enumerate() {
        let f = |name: &str| format!("bypass[{i}].{name}");
        let paths = if b.paths.is_empty() {
            None
        } else {
            let mut set = globset::GlobSetBuilder::new();
            for (j, g) in b.paths.iter().enumerate() {
                match globset::Glob::new(g) {
                    Ok(glob) => {
                        set.add(glob);
                    }
                    Err(e) => p.push(
                        &format!("bypass[{i}].paths[{j}]"),
                        format!("{g:?} is not a glob: {e}"),
                    ),
                }
            }
            set.build().ok()
        };
        let mut methods = Vec::new();
        for m in &b.methods {
            match http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
                Ok(m) => methods.push(m),
                Err(_) => p.push(&f("methods"), format!("{m:?} is not an HTTP method")),
            }
        }
        let mut cidrs = Vec::new();
        for c in &b.cidrs {
            match c
                .parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            {
                Ok(n) => cidrs.push(n),
                Err(_) => p.push(&f("cidrs"), format!("{c:?} is not an IP address or CIDR")),
            }
        }
        let mut headers = Vec::new();
        for (k, v) in &b.headers {
            match (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                (Ok(k), Ok(v)) => headers.push((k, v)),
                _ => p.push(
                    &f("headers"),
                    format!("{k:?} = {v:?} is not a valid header"),
                ),
            }
        }
        if b.paths.is_empty() && b.methods.is_empty() && b.cidrs.is_empty() && b.headers.is_empty()
        {
            p.push(
                &format!("bypass[{i}]"),
                "matches every request; give paths, methods, cidrs or headers",
            );
        }
        rules.push(BypassRule {
            paths,
            methods,
            cidrs,
            headers,
        });
    }

    let default_action = match routing.default_action.as_str() {
        "forward" => DefaultAction::Forward,
        "deny" => DefaultAction::Deny,
        other => {
            p.push(
                "routing.default_action",
                format!("{other:?} is not an action; write \"forward\" or \"deny\""),
            );
            DefaultAction::Deny
        }
    };
    if passes.issuer.is_empty() {
        p.push(
            "passes.issuer",
            "is empty; name this deployment, e.g. \"usher\"",
        );
    }
    let signing_key = (!passes.signing_key.is_empty()).then(|| PathBuf::from(&passes.signing_key));
    if let Some(k) = &signing_key {
        if !k.is_file() {
            p.push("passes.signing_key", format!("{k:?} does not exist; create one with `usher keygen`, or leave it empty to generate a key at start"));
        }
    }
    let mut verify_keys = Vec::new();
    for (i, v) in passes.verify_keys.iter().enumerate() {
        let path = PathBuf::from(v);
        let kid = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        if !path.is_file() || kid.is_empty() {
            p.push(
                &format!("passes.verify_keys[{i}]"),
                format!(
                    "{v:?} is not a public key file (the kid is its file name without extension)"
                ),
            );
        }
        verify_keys.push((kid, path));
    }
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
    let store = super::store::validate(p, store, &signing_key, &ticket_secret);
    WaitingRoomSettings {
        rooms: out_rooms,
        bypass: rules,
        default_action,
        issuer: passes.issuer.clone(),
        signing_key,
        verify_keys,
        state_dir: PathBuf::from(&state.dir),
        save_interval: p.duration("state.save_interval", &state.save_interval),
        fail_open,
        ticket_secret,
        store,
        abuse: Default::default(),
    }
}
