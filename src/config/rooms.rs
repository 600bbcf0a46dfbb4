//! `[[rooms]]`: the waiting rooms — which hosts and paths each guards, how fast it lets
//! visitors in, and the event (pre-queue, start, end) it may run.

use serde::Deserialize;

use super::problems::Problems;
use crate::room::{Mode, RoomSettings};

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

/// Validates every `[[rooms]]` entry.
pub(super) fn validate(p: &mut Problems, rooms: &[RoomFile]) -> Vec<RoomRoute> {
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
                Ok(normal)
                    if normal.starts_with(crate::protocol::ENDPOINT_PREFIX)
                        || normal == "/_usher" =>
                {
                    p.push(
                        &field,
                        format!("{path:?} is under /_usher/, which usher answers itself"),
                    )
                }
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
    out_rooms
}
