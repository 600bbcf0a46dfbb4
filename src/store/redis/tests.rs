//! Tests for `redis`: the behaviours of the memory room, written once over the [`Store`]
//! trait and run on the memory store and on a real Redis alike, and a random walk that
//! checks that both answer exactly the same. (Several nodes and outages: `nodes`; the
//! throwaway `redis-server`: `server`.)

mod nodes;
mod server;

use std::collections::BTreeMap;

use self::server::RedisServer;
use super::*;
use crate::room::tests::{place, settings, T0};
use crate::room::{Event, Mode, Position};
use crate::store::MemoryStore;

/// `mode` with room for `max_active` at once.
fn sized(mode: Mode, max_active: u32) -> RoomSettings {
    RoomSettings {
        max_active,
        ..settings(mode)
    }
}

/// A queue limited by rate alone.
fn rated(new_per_minute: u32) -> RoomSettings {
    RoomSettings {
        max_active: 1000,
        new_per_minute,
        ..settings(Mode::Queue)
    }
}

fn memory(s: RoomSettings) -> MemoryStore {
    MemoryStore::new(&[("r".into(), s)], &BTreeMap::new(), T0)
}

fn pos(v: Visit) -> Position {
    match v {
        Visit::Waiting(p) | Visit::Paused(p) => p,
        other => panic!("expected waiting, got {other:?}"),
    }
}

async fn join_n<S: Store>(st: &S, n: usize, now: u64) -> Vec<usize> {
    let mut places = Vec::new();
    for i in 0..n {
        places.push(place(st.join("r", &format!("s{i}"), now).await.unwrap()));
    }
    places
}

/// A test that runs a scenario on the memory store, then on a fresh Redis.
macro_rules! on_both {
    ($test:ident, $settings:expr, $scenario:ident) => {
        #[tokio::test]
        async fn $test() {
            let s = $settings;
            $scenario(&memory(s)).await;
            let server = RedisServer::start();
            $scenario(&server.store(s).await).await;
        }
    };
}

async fn order_and_exact_positions<S: Store>(st: &S) {
    let places = join_n(st, 40, T0).await;
    let mut now = T0;
    for (i, &p) in places.iter().enumerate() {
        now += 100;
        assert_eq!(st.tick("r", now).await.unwrap(), vec![p], "step {i}");
        assert_eq!(st.poll("r", p, now).await.unwrap(), Visit::Called);
        assert!(st.claim("r", p, &format!("s{i}"), now).await.unwrap());
        assert_eq!(st.stats("r").await.unwrap().active, 1);
        assert!(
            st.tick("r", now).await.unwrap().is_empty(),
            "max_active = 1"
        );
        let rest = &places[i + 1..];
        for (k, &q) in rest.iter().enumerate() {
            let v = pos(st.poll("r", q, now).await.unwrap());
            assert_eq!((v.ahead, v.behind), (k as u32, (rest.len() - k - 1) as u32));
        }
        assert!(st.end_session("r", &format!("s{i}")).await.unwrap());
    }
    let stats = st.stats("r").await.unwrap();
    assert_eq!(
        (stats.admitted_total, stats.waiting, stats.active),
        (40, 0, 0)
    );
}

on_both!(
    visitors_are_admitted_in_join_order_with_exact_positions,
    settings(Mode::Queue),
    order_and_exact_positions
);

async fn rate_limit<S: Store>(st: &S) {
    join_n(st, 100, T0).await;
    let mut called = 0;
    for step in 1..=100 {
        called += st.tick("r", T0 + step * 100).await.unwrap().len();
    }
    // One token to start (a second's worth) plus one per second.
    assert!(
        (10..=11).contains(&called),
        "called {called} in 10 s at 60/min"
    );
}

on_both!(rate_limit_spreads_admissions, rated(60), rate_limit);

async fn lapse_then_recall<S: Store>(st: &S) {
    let [a, b, c] = join_n(st, 3, T0).await[..] else {
        panic!()
    };
    assert_eq!(st.tick("r", T0 + 100).await.unwrap(), vec![a]);
    let mut now = T0 + 100;
    for _ in 0..31 {
        now += 1000;
        st.poll("r", b, now).await.unwrap();
        st.poll("r", c, now).await.unwrap();
        st.tick("r", now).await.unwrap();
    }
    assert_eq!(st.poll("r", b, now).await.unwrap(), Visit::Called);
    assert_eq!(st.stats("r").await.unwrap().lapsed_total, 1);
    // `a` comes back within the recall window: next in, before `c`.
    assert!(matches!(
        st.poll("r", a, now).await.unwrap(),
        Visit::Waiting(_)
    ));
    assert!(st.claim("r", b, "b", now).await.unwrap());
    assert!(st.end_session("r", "b").await.unwrap());
    assert_eq!(st.tick("r", now + 100).await.unwrap(), vec![a]);
    assert_eq!(st.stats("r").await.unwrap().recalled_total, 1);
    assert_eq!(pos(st.poll("r", c, now + 100).await.unwrap()).ahead, 0);
}

on_both!(
    lapsed_call_frees_the_slot_and_recall_goes_first,
    settings(Mode::Queue),
    lapse_then_recall
);

async fn skip_then_recall<S: Store>(st: &S) {
    assert_eq!(st.join("r", "holder", T0).await.unwrap(), Join::Queued(0));
    st.tick("r", T0 + 10).await.unwrap();
    assert!(st.claim("r", 0, "holder", T0 + 10).await.unwrap());
    let [gone, stays] = join_n(st, 2, T0).await[..] else {
        panic!()
    };
    let mut now = T0;
    for _ in 0..70 {
        now += 1000;
        st.poll("r", stays, now).await.unwrap();
        st.touch_session("r", "holder", now / 1000 + 600)
            .await
            .unwrap();
        st.tick("r", now).await.unwrap();
    }
    let stats = st.stats("r").await.unwrap();
    assert_eq!((stats.abandoned_total, stats.active), (1, 1));
    assert_eq!(pos(st.poll("r", stays, now).await.unwrap()).ahead, 0);
    assert!(st.end_session("r", "holder").await.unwrap());
    assert_eq!(st.tick("r", now + 100).await.unwrap(), vec![stays]);
    // Back within the recall window: served before anyone else.
    let late = place(st.join("r", "late", now).await.unwrap());
    assert!(
        matches!(st.poll("r", gone, now + 200).await.unwrap(), Visit::Waiting(p) if p.ahead == 0)
    );
    assert_eq!(st.stats("r").await.unwrap().recalled_waiting, 1);
    assert!(st.claim("r", stays, "stays", now + 200).await.unwrap());
    st.end_session("r", "stays").await.unwrap();
    assert_eq!(st.tick("r", now + 300).await.unwrap(), vec![gone]);
    assert_eq!(pos(st.poll("r", late, now + 300).await.unwrap()).ahead, 0);
    // Past the recall window a place is gone for good.
    st.tick("r", now + 40_000).await.unwrap(); // `gone` lapses
    assert_eq!(
        st.poll("r", gone, now + 641_000).await.unwrap(),
        Visit::Gone
    );
}

on_both!(
    absent_visitor_is_skipped_then_recalled_to_the_front,
    settings(Mode::Queue),
    skip_then_recall
);

async fn auto_mode<S: Store>(st: &S) {
    assert_eq!(st.join("r", "a", T0).await.unwrap(), Join::Admitted);
    assert_eq!(st.join("r", "b", T0).await.unwrap(), Join::Admitted);
    let c = place(st.join("r", "c", T0).await.unwrap());
    assert_eq!(pos(st.poll("r", c, T0).await.unwrap()).ahead, 0);
    st.end_session("r", "a").await.unwrap();
    assert_eq!(st.tick("r", T0 + 100).await.unwrap(), vec![c]);
    // Nobody jumps the line while someone waits (or is called).
    assert!(matches!(
        st.join("r", "d", T0 + 100).await.unwrap(),
        Join::Queued(_)
    ));
}

on_both!(
    auto_mode_queues_only_when_full,
    sized(Mode::Auto, 2),
    auto_mode
);

async fn paused_then_closed<S: Store>(st: &S) {
    let mut s = st.settings("r").await.unwrap();
    let [a, b] = join_n(st, 2, T0).await[..] else {
        panic!()
    };
    assert!(st.tick("r", T0 + 100).await.unwrap().is_empty());
    assert!(matches!(st.poll("r", b, T0 + 100).await.unwrap(), Visit::Paused(p) if p.ahead == 1));
    s.mode = Mode::Queue;
    st.reconfigure("r", s).await.unwrap();
    assert_eq!(st.tick("r", T0 + 200).await.unwrap(), vec![a, b]);
    s.mode = Mode::Closed;
    st.reconfigure("r", s).await.unwrap();
    assert_eq!(st.join("r", "c", T0).await.unwrap(), Join::Closed);
    assert_eq!(st.poll("r", a, T0 + 300).await.unwrap(), Visit::Closed);
    s.mode = Mode::Open;
    st.reconfigure("r", s).await.unwrap();
    assert_eq!(st.join("r", "d", T0 + 400).await.unwrap(), Join::Admitted);
    assert_eq!(st.stats("r").await.unwrap().active, 1);
}

on_both!(
    paused_keeps_order_closed_refuses_open_admits,
    sized(Mode::Paused, 10),
    paused_then_closed
);

async fn capacity<S: Store>(st: &S) {
    let places = join_n(st, 10, T0).await;
    assert_eq!(st.tick("r", T0 + 100).await.unwrap().len(), 3);
    assert!(
        st.tick("r", T0 + 200).await.unwrap().is_empty(),
        "called count"
    );
    assert!(st.claim("r", places[0], "s0", T0 + 300).await.unwrap());
    assert!(
        !st.claim("r", places[0], "s0", T0 + 300).await.unwrap(),
        "once"
    );
    assert!(
        st.tick("r", T0 + 300).await.unwrap().is_empty(),
        "active count"
    );
    let later = T0 + 602_000;
    for &p in &places[3..] {
        st.poll("r", p, later).await.unwrap();
    }
    // The expired session and two lapsed calls free three slots.
    assert_eq!(st.tick("r", later).await.unwrap(), places[3..6].to_vec());
    let stats = st.stats("r").await.unwrap();
    assert_eq!((stats.called, stats.active, stats.lapsed_total), (3, 0, 2));
    assert!(
        st.leave("r", places[3]).await.unwrap(),
        "a called visitor leaves"
    );
    assert!(st.leave("r", places[9]).await.unwrap(), "a waiting one");
    assert!(!st.leave("r", places[9]).await.unwrap());
    assert_eq!(st.poll("r", places[9], later).await.unwrap(), Visit::Gone);
    assert_eq!(st.tick("r", later + 100).await.unwrap(), vec![places[6]]);
}

on_both!(
    capacity_counts_active_and_called,
    sized(Mode::Queue, 3),
    capacity
);

async fn eta<S: Store>(st: &S) {
    let places = join_n(st, 300, T0).await;
    let mut now = T0;
    for _ in 0..300 {
        now += 100;
        st.tick("r", now).await.unwrap();
    }
    let p = pos(st.poll("r", places[299], now).await.unwrap());
    let (eta, expected) = (p.eta_seconds.unwrap(), (p.ahead + 1).div_ceil(2));
    assert!(
        eta.abs_diff(expected) <= expected / 5 + 2,
        "eta {eta} vs {expected}"
    );
    let stats = st.stats("r").await.unwrap();
    assert!(stats.estimated_wait_seconds.is_some_and(|w| w >= eta));
}

on_both!(eta_follows_the_measured_rate, rated(120), eta);

async fn overrides<S: Store>(st: &S) {
    let change = Overrides {
        mode: Some("paused".into()),
        max_active: Some(7),
        new_per_minute: None,
        event: Some((100, 200, None)),
    };
    let s = st.override_settings("r", change).await.unwrap();
    assert_eq!((s.mode, s.max_active), (Mode::Paused, 7));
    assert_eq!(s.event.map(|e| (e.start, e.end)), Some((200, None)));
    // A config reload changes the configured values; the operator's stay on top.
    let mut reloaded = settings(Mode::Auto);
    reloaded.new_per_minute = 30;
    reloaded.claim_window = Duration::from_millis(2500);
    st.reconfigure("r", reloaded).await.unwrap();
    let s = st.settings("r").await.unwrap();
    assert_eq!(
        (s.mode, s.max_active, s.new_per_minute),
        (Mode::Paused, 7, 30)
    );
    assert_eq!(s.claim_window, Duration::from_millis(2500));
}

on_both!(
    operator_overrides_stay_on_top_of_config_reloads,
    settings(Mode::Queue),
    overrides
);

async fn prequeue<S: Store>(st: &S) {
    let start_ms = T0 + 600_000;
    assert_eq!(
        st.join("r", "early", T0 - 1000).await.unwrap(),
        Join::Closed
    );
    let mut entries = Vec::new();
    for i in 0..100 {
        match st.join("r", &format!("p{i}"), T0 + i * 1000).await.unwrap() {
            Join::PreQueued(e) => entries.push(e),
            other => panic!("{other:?}"),
        }
    }
    // Before the start each entry is told the time to it and about where the draw
    // will put it (its key's share of the entries so far).
    let mut expected = Vec::new();
    for &e in &entries {
        match st.prequeue("r", e, T0 + 200_000).await.unwrap() {
            PreQueue::Pending(p) => {
                assert_eq!(p.starts_in_ms, 400_000);
                expected.push(p.expected_ahead as usize);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(st.prequeue("r", 100, T0).await.unwrap(), PreQueue::Unknown);
    assert!(st.tick("r", T0 + 300_000).await.unwrap().is_empty());
    let called = st.tick("r", start_ms).await.unwrap();
    assert_eq!(called.len(), 100, "capacity 1000: all of the pre-queue");
    assert_eq!(
        place(st.join("r", "late", start_ms + 1000).await.unwrap()),
        100
    );
    let mut places = Vec::new();
    for &e in &entries {
        match st.prequeue("r", e, start_ms).await.unwrap() {
            PreQueue::Drawn(p) => places.push(p),
            other => panic!("{other:?}"),
        }
    }
    let mut sorted = places.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>(), "one place each");
    assert_ne!(places, sorted, "not the arrival order");
    for (e, (&want, &got)) in expected.iter().zip(&places).enumerate() {
        // A key's share of 100 entries: within a few places of its rank.
        assert!(
            want.abs_diff(got) <= 25,
            "entry {e}: expected ~{want}, drawn {got}"
        );
    }
    assert_eq!(
        st.prequeue("r", 100, start_ms).await.unwrap(),
        PreQueue::Unknown
    );
    let mut ended = st.settings("r").await.unwrap();
    ended.event = ended.event.map(|e| Event {
        end: Some(e.start + 60),
        ..e
    });
    st.reconfigure("r", ended).await.unwrap();
    assert_eq!(
        st.join("r", "too-late", start_ms + 61_000).await.unwrap(),
        Join::Closed
    );
}

fn sale() -> RoomSettings {
    let mut s = settings(Mode::Queue);
    s.max_active = 1000;
    s.event = Some(Event {
        prequeue_start: T0 / 1000,
        start: T0 / 1000 + 600,
        end: None,
    });
    s
}

on_both!(
    prequeue_is_drawn_at_random_at_start_then_fifo,
    sale(),
    prequeue
);

/// Applies the same random operations to the memory store and to Redis: every answer
/// must be the same (places, positions with ETA and poll interval, calls, counters).
#[tokio::test]
async fn redis_answers_exactly_like_the_memory_room() {
    let mut s = settings(Mode::Queue);
    s.max_active = 3;
    s.new_per_minute = 90;
    s.claim_window = Duration::from_secs(5);
    s.abandon_after = Duration::from_secs(12);
    s.recall_window = Duration::from_secs(40);
    s.session_idle = Duration::from_secs(20);
    let server = RedisServer::start();
    let (mem, red) = (memory(s), server.store(s).await);
    let mut rng = 0x5eed_u64;
    let mut next = |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let (mut now, mut len, mut sessions) = (T0, 0usize, vec!["none".to_string()]);
    let mut called = vec![0usize];
    macro_rules! same {
        ($step:expr, $($op:tt)+) => {{
            let m = mem.$($op)+.await.unwrap();
            let r = red.$($op)+.await.unwrap();
            assert_eq!(m, r, "step {}: {}", $step, stringify!($($op)+));
            m
        }};
    }
    for step in 0..5000u64 {
        now += next(900);
        // Mostly the back of the line (who keep polling) and the called; anyone at times.
        let p = match next(4) {
            0 => next(len as u64 + 3) as usize,
            1 => called[next(called.len() as u64) as usize],
            _ => len.saturating_sub(1 + next(12) as usize),
        };
        let sid = sessions[next(sessions.len() as u64) as usize].clone();
        match next(100) {
            0..=19 => match same!(step, join("r", &format!("j{step}"), now)) {
                Join::Queued(q) => len = len.max(q + 1),
                Join::Admitted => sessions.push(format!("j{step}")),
                _ => {}
            },
            20..=54 => {
                same!(step, poll("r", p, now));
            }
            55..=64 => {
                let q = called[called.len() - 1 - next(called.len().min(4) as u64) as usize];
                if same!(step, claim("r", q, &format!("c{step}"), now)) {
                    sessions.push(format!("c{step}"));
                }
            }
            65..=68 => {
                same!(step, leave("r", p));
            }
            69..=71 => {
                same!(step, end_session("r", &sid));
            }
            72..=75 => same!(step, touch_session("r", &sid, now / 1000 + 20)),
            76..=89 => {
                called.extend(same!(step, tick("r", now)));
            }
            90..=93 => {
                same!(step, stats("r"));
            }
            94..=96 => {
                let mut c = s;
                c.mode = [
                    Mode::Queue,
                    Mode::Auto,
                    Mode::Paused,
                    Mode::Open,
                    Mode::Queue,
                ][next(5) as usize];
                c.max_active = 1 + next(4) as u32;
                same!(step, reconfigure("r", c));
            }
            97 => {
                let change = Overrides {
                    mode: (next(3) == 0).then(|| "queue".to_string()),
                    max_active: (next(2) == 0).then(|| next(5) as u32),
                    new_per_minute: (next(2) == 0).then(|| next(200) as u32),
                    event: None,
                };
                same!(step, override_settings("r", change.clone()));
            }
            _ => {
                same!(step, settings("r"));
            }
        }
    }
    let stats = red.stats("r").await.unwrap();
    assert!(stats.admitted_total > 50 && stats.lapsed_total > 0 && stats.abandoned_total > 0);
    assert!(stats.recalled_total > 0, "{stats:?}");
}
