//! Rust values to script arguments and script replies to Rust values, for `redis`.
//! The replies are flat arrays (see each script's header); anything else is an error
//! (and so `Unavailable` to the caller).

use std::time::Duration;

use redis::{ErrorKind, RedisError, RedisResult, Value};

use crate::room::pace::{position, to_secs, Rate};
use crate::room::{Event, Join, Overrides, Pending, PreQueue, RoomSettings, Stats, Visit};

fn u32_of(x: i64) -> u32 {
    x.clamp(0, u32::MAX as i64) as u32
}

fn u64_of(x: i64) -> u64 {
    x.max(0) as u64
}

fn bad_reply(what: &'static str) -> RedisError {
    RedisError::from((ErrorKind::UnexpectedReturnType, what))
}

/// An integer reply (or a decimal string).
pub(super) fn int(v: &Value) -> RedisResult<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_reply("not an integer")),
        _ => Err(bad_reply("not an integer")),
    }
}

/// A reply as integers.
pub(super) fn ints(v: &Value) -> RedisResult<Vec<i64>> {
    match v {
        Value::Array(items) => items.iter().map(int).collect(),
        _ => Err(bad_reply("not an array")),
    }
}

/// A reply as strings.
fn strings(v: &Value) -> RedisResult<Vec<String>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
                Value::Int(n) => Ok(n.to_string()),
                _ => Err(bad_reply("not a string")),
            })
            .collect(),
        _ => Err(bad_reply("not an array")),
    }
}

/// A draw seed as the scripts keep it: the u64's bits as a signed decimal (Lua numbers
/// are doubles, so Lua only stores and returns it as a string).
pub(super) fn seed_arg(seed: u64) -> String {
    (seed as i64).to_string()
}

/// An event as three fields ('' for none; `end` alone may be '').
fn event_fields(event: Option<(u64, u64, Option<u64>)>) -> [String; 3] {
    match event {
        Some((pre, start, end)) => [
            pre.to_string(),
            start.to_string(),
            end.map(|t| t.to_string()).unwrap_or_default(),
        ],
        None => Default::default(),
    }
}

fn event_of(pre: &str, start: &str, end: &str) -> Option<(u64, u64, Option<u64>)> {
    Some((pre.parse().ok()?, start.parse().ok()?, end.parse().ok()))
}

/// `settings.lua set` arguments: the configured settings.
pub(super) fn settings_args(s: &RoomSettings) -> Vec<String> {
    let ms = |d: Duration| d.as_millis().to_string();
    let event = s.event.map(|e| (e.prequeue_start, e.start, e.end));
    let mut args = vec![
        "set".to_string(),
        s.mode.as_str().into(),
        s.max_active.to_string(),
        s.new_per_minute.to_string(),
        ms(s.session_idle),
        ms(s.session_max),
        ms(s.claim_window),
        ms(s.abandon_after),
        ms(s.recall_window),
    ];
    args.extend(event_fields(event));
    args
}

/// `settings.lua override` arguments: an operator's change ('' where unchanged).
pub(super) fn override_args(change: Overrides) -> Vec<String> {
    let text = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    let mut args = vec![
        "override".to_string(),
        change.mode.unwrap_or_default(),
        text(change.max_active),
        text(change.new_per_minute),
    ];
    args.extend(event_fields(change.event));
    args
}

/// The settings in force from `settings.lua`'s reply (configured fields, then the
/// overrides), applied exactly as the memory room applies them.
pub(super) fn settings(v: &Value) -> RedisResult<RoomSettings> {
    let f = strings(v)?;
    let [mode, max_active, npm, idle, max, claim, abandon, recall, pre, start, end, o_mode, o_max, o_npm, o_pre, o_start, o_end] =
        &f[..]
    else {
        return Err(bad_reply("settings: wrong field count"));
    };
    let n = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| bad_reply("settings: not a number"))
    };
    let ms = |s: &str| n(s).map(Duration::from_millis);
    let configured = RoomSettings {
        max_active: n(max_active)? as u32,
        new_per_minute: n(npm)? as u32,
        session_idle: ms(idle)?,
        session_max: ms(max)?,
        claim_window: ms(claim)?,
        abandon_after: ms(abandon)?,
        recall_window: ms(recall)?,
        mode: mode.parse().map_err(|_| bad_reply("settings: bad mode"))?,
        event: event_of(pre, start, end).map(|(prequeue_start, start, end)| Event {
            prequeue_start,
            start,
            end,
        }),
    };
    let overrides = Overrides {
        mode: (!o_mode.is_empty()).then(|| o_mode.clone()),
        max_active: o_max.parse().ok(),
        new_per_minute: o_npm.parse().ok(),
        event: event_of(o_pre, o_start, o_end),
    };
    Ok(overrides.apply(configured))
}

/// The ETA inputs at the end of a poll or stats reply.
fn rate_of(r: &[i64]) -> Rate {
    let (calls, first, npm) = match r {
        [.., calls, first, npm] => (*calls, *first, *npm),
        _ => (0, -1, 0),
    };
    Rate {
        calls: calls.max(0) as usize,
        first_call: (first >= 0).then(|| u32_of(first)),
        new_per_minute: u32_of(npm),
    }
}

/// `join.lua`'s reply.
pub(super) fn join(v: &Value) -> RedisResult<Join> {
    Ok(match ints(v)?[..] {
        [0] => Join::Admitted,
        [1, p] => Join::Queued(p as usize),
        [2, i] => Join::PreQueued(i as usize),
        [3] => Join::Closed,
        _ => return Err(bad_reply("join")),
    })
}

/// `poll.lua`'s reply for `place` at `now_ms`.
pub(super) fn visit(v: &Value, place: usize, now_ms: u64) -> RedisResult<Visit> {
    let r = ints(v)?;
    Ok(match r[..] {
        [kind @ (0 | 1), ahead, behind, _, _, _] => {
            let now = to_secs(now_ms);
            let pos = position(u32_of(ahead), u32_of(behind), place, now, &rate_of(&r));
            if kind == 1 {
                Visit::Paused(pos)
            } else {
                Visit::Waiting(pos)
            }
        }
        [2] => Visit::Called,
        [3] => Visit::Admitted,
        [4] => Visit::Closed,
        [5] => Visit::Gone,
        _ => return Err(bad_reply("poll")),
    })
}

/// `prequeue.lua`'s reply.
pub(super) struct Draw {
    /// The draw happened: (first drawn place, entries drawn, seed).
    pub(super) drawn: Option<(usize, usize, u64)>,
    /// Entries joined.
    pub(super) len: usize,
    /// The draw's seed (0: none picked yet), picked at the first pre-queue join.
    pub(super) seed: u64,
    /// The start (Unix seconds), if there is an event.
    pub(super) start: Option<u64>,
    /// This call drew the order (the sale just opened).
    pub(super) now_drawn: bool,
}

/// Reads `prequeue.lua`'s reply.
pub(super) fn draw(v: &Value) -> RedisResult<Draw> {
    let [drawn, base, n, seed, len, start, now_drawn] = ints(v)?[..] else {
        return Err(bad_reply("prequeue"));
    };
    Ok(Draw {
        drawn: (drawn == 1).then(|| (u64_of(base) as usize, u64_of(n) as usize, seed as u64)),
        len: u64_of(len) as usize,
        seed: seed as u64,
        now_drawn: now_drawn == 1,
        start: (start >= 0).then_some(start as u64),
    })
}

impl Draw {
    /// Where entry `i` stands, given the draw's entry → offset table when drawn.
    pub(super) fn entry(&self, i: usize, now_ms: u64, offsets: Option<&[u32]>) -> PreQueue {
        match (self.drawn, offsets, self.start) {
            (Some((base, _, _)), Some(o), _) => o
                .get(i)
                .map_or(PreQueue::Unknown, |&k| PreQueue::Drawn(base + k as usize)),
            (None, _, Some(start)) if i < self.len => PreQueue::Pending(Pending::of(
                i,
                self.seed,
                self.len,
                (start * 1000).saturating_sub(now_ms),
            )),
            _ => PreQueue::Unknown,
        }
    }
}

/// `stats.lua`'s reply.
pub(super) fn stats(v: &Value) -> RedisResult<Stats> {
    let r = ints(v)?;
    let [waiting, recalled, called, active, admitted, lapsed, abandoned, recalls, refilled_ms, _, _, _] =
        r[..]
    else {
        return Err(bad_reply("stats"));
    };
    Ok(Stats {
        waiting: u32_of(waiting),
        recalled_waiting: u32_of(recalled),
        called: u32_of(called),
        active: u32_of(active),
        admitted_total: u64_of(admitted),
        lapsed_total: u64_of(lapsed),
        abandoned_total: u64_of(abandoned),
        recalled_total: u64_of(recalls),
        estimated_wait_seconds: rate_of(&r).eta(u32_of(waiting), to_secs(u64_of(refilled_ms))),
    })
}
