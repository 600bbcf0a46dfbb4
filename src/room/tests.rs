//! Admission tests on a fake clock: time is a number the test moves.

use std::time::Duration;

use super::*;

pub(crate) const T0: u64 = 1_800_000_000_000; // ms

/// Queue settings for tests: one at a time, no rate limit.
pub(crate) fn settings(mode: Mode) -> RoomSettings {
    RoomSettings {
        max_active: 1,
        new_per_minute: 0,
        session_idle: Duration::from_secs(600),
        session_max: Duration::from_secs(3600),
        claim_window: Duration::from_secs(30),
        abandon_after: Duration::from_secs(60),
        recall_window: Duration::from_secs(600),
        mode,
        event: None,
    }
}

pub(crate) fn place(j: Join) -> usize {
    match j {
        Join::Queued(p) => p,
        other => panic!("expected a place, got {other:?}"),
    }
}

fn ahead(v: Visit) -> u32 {
    match v {
        Visit::Waiting(p) | Visit::Paused(p) => p.ahead,
        other => panic!("expected waiting, got {other:?}"),
    }
}

#[test]
fn two_hundred_visitors_are_admitted_in_join_order() {
    let mut room = Room::new(settings(Mode::Queue), T0);
    let places: Vec<usize> = (0..200)
        .map(|i| place(room.join(&format!("s{i}"), T0)))
        .collect();
    let mut now = T0;
    let mut order = Vec::new();
    for (i, &p) in places.iter().enumerate() {
        // Everyone keeps polling; each checks their `ahead` never grows.
        now += 100;
        let called = room.tick(now);
        assert_eq!(called, vec![p], "step {i}");
        assert_eq!(room.poll(p, now), Visit::Called);
        assert!(room.claim(p, &format!("s{i}"), now));
        order.push(p);
        assert_eq!(room.stats().active, 1);
        assert!(room.tick(now).is_empty(), "max_active = 1 holds");
        for &q in &places[i + 1..] {
            assert_eq!(ahead(room.poll(q, now)), (q - p - 1) as u32);
        }
        assert!(room.end_session(&format!("s{i}")));
    }
    assert_eq!(order, places);
    assert_eq!(room.stats().admitted_total, 200);
}

#[test]
fn rate_limit_spreads_admissions() {
    let mut s = settings(Mode::Queue);
    s.max_active = 1000;
    s.new_per_minute = 60; // one per second
    let mut room = Room::new(s, T0);
    for i in 0..100 {
        room.join(&format!("s{i}"), T0);
    }
    let mut called = 0;
    let mut now = T0;
    for _ in 0..100 {
        now += 100; // 10 s in 100 ms ticks
        called += room.tick(now).len();
    }
    // One token to start (burst of one second's worth) plus one per second.
    assert!(
        (10..=11).contains(&called),
        "called {called} in 10 s at 60/min"
    );
}

#[test]
fn lapsed_call_frees_the_slot_and_recall_goes_first() {
    let mut room = Room::new(settings(Mode::Queue), T0);
    let a = place(room.join("a", T0));
    let b = place(room.join("b", T0));
    let c = place(room.join("c", T0));
    assert_eq!(room.tick(T0 + 100), vec![a]);
    // `a` never claims; after the claim window the call lapses and `b` is called.
    let mut now = T0 + 100;
    for _ in 0..31 {
        now += 1000;
        room.poll(b, now);
        room.poll(c, now);
        room.tick(now);
    }
    assert_eq!(room.poll(b, now), Visit::Called);
    assert_eq!(room.stats().lapsed_total, 1);
    // `a` comes back within the recall window: next in, before `c`.
    assert!(matches!(room.poll(a, now), Visit::Waiting(_)));
    assert!(room.claim(b, "b", now));
    assert!(room.end_session("b"));
    assert_eq!(room.tick(now + 100), vec![a]);
    assert_eq!(room.stats().recalled_total, 1);
    // `c` was never pushed back: its `ahead` stayed 0.
    assert_eq!(ahead(room.poll(c, now + 100)), 0);
}

#[test]
fn absent_visitor_is_skipped_then_recalled_to_the_front() {
    let mut s = settings(Mode::Queue);
    s.max_active = 1;
    let mut room = Room::new(s, T0);
    let holder = "holder";
    assert_eq!(room.join(holder, T0), Join::Queued(0));
    room.tick(T0 + 10);
    assert!(room.claim(0, holder, T0 + 10));
    let gone = place(room.join("gone", T0));
    let stays = place(room.join("stays", T0));
    // `gone` stops polling; `stays` keeps polling. Capacity is full the whole time.
    let mut now = T0;
    for _ in 0..70 {
        now += 1000;
        room.poll(stays, now);
        room.touch_session(holder, now / 1000 + 600);
        room.tick(now);
    }
    assert_eq!(
        room.stats().abandoned_total,
        1,
        "skipped after abandon_after"
    );
    assert_eq!(
        ahead(room.poll(stays, now)),
        0,
        "the absent visitor no longer counts"
    );
    // The slot frees: `stays` is called, not the absent one.
    room.end_session(holder);
    assert_eq!(room.tick(now + 100), vec![stays]);
    // The absent visitor returns within the recall window: served before anyone else.
    let late = place(room.join("late", now));
    assert!(matches!(room.poll(gone, now + 200), Visit::Waiting(_)));
    assert!(room.claim(stays, "stays", now + 200));
    room.end_session("stays");
    assert_eq!(room.tick(now + 300), vec![gone]);
    room.poll(late, now + 300);
    // Past the recall window, a place is gone for good.
    let mut room2 = Room::new(settings(Mode::Queue), T0);
    let p = place(room2.join("x", T0));
    room2.tick(T0 + 100); // called
    room2.tick(T0 + 40_000); // lapsed
    assert_eq!(room2.poll(p, T0 + 40_000 + 601_000), Visit::Gone);
}

#[test]
fn auto_mode_queues_only_when_full() {
    let mut s = settings(Mode::Auto);
    s.max_active = 2;
    let mut room = Room::new(s, T0);
    assert_eq!(room.join("a", T0), Join::Admitted);
    assert_eq!(room.join("b", T0), Join::Admitted);
    let c = place(room.join("c", T0));
    assert_eq!(ahead(room.poll(c, T0)), 0);
    room.end_session("a");
    assert_eq!(room.tick(T0 + 100), vec![c]);
    // Nobody jumps the line while someone waits.
    let d = room.join("d", T0 + 100);
    assert!(matches!(d, Join::Queued(_)));
}

#[test]
fn paused_keeps_order_and_closed_refuses() {
    let mut s = settings(Mode::Paused);
    s.max_active = 10;
    let mut room = Room::new(s, T0);
    let a = place(room.join("a", T0));
    let b = place(room.join("b", T0));
    assert!(room.tick(T0 + 100).is_empty());
    assert!(matches!(room.poll(b, T0 + 100), Visit::Paused(p) if p.ahead == 1));
    s.mode = Mode::Queue;
    room.reconfigure(s);
    assert_eq!(room.tick(T0 + 200), vec![a, b]);
    s.mode = Mode::Closed;
    room.reconfigure(s);
    assert_eq!(room.join("c", T0), Join::Closed);
    assert_eq!(room.poll(a, T0 + 300), Visit::Closed);
}

#[test]
fn capacity_counts_active_and_called() {
    let mut s = settings(Mode::Queue);
    s.max_active = 3;
    let mut room = Room::new(s, T0);
    let places: Vec<usize> = (0..10)
        .map(|i| place(room.join(&format!("s{i}"), T0)))
        .collect();
    assert_eq!(room.tick(T0 + 100).len(), 3);
    assert!(
        room.tick(T0 + 200).is_empty(),
        "called-unclaimed occupy capacity"
    );
    assert!(room.claim(places[0], "s0", T0 + 300));
    assert!(room.tick(T0 + 300).is_empty(), "active occupies capacity");
    // Sessions expire after the idle timeout without activity; unclaimed calls lapse.
    let later = T0 + 602_000;
    for &p in &places[3..] {
        room.poll(p, later); // the rest of the line is still here
    }
    assert_eq!(
        room.tick(later),
        places[3..6].to_vec(),
        "the expired session and two lapsed calls free three slots"
    );
}

#[test]
fn restart_replaces_ticket_holders_in_order() {
    // Before the crash: 5 in line, 2 called.
    let mut room = Room::new(settings(Mode::Queue), T0);
    let places: Vec<usize> = (0..5)
        .map(|i| place(room.join(&format!("s{i}"), T0)))
        .collect();
    room.tick(T0 + 100);
    let saved = room.save();
    // After: a room rebuilt from the saved state; tickets come back in any order and each
    // sees the same `ahead` as before.
    let mut after = Room::restore(settings(Mode::Queue), &saved, T0 + 5_000);
    for &p in places[1..].iter().rev() {
        assert_eq!(ahead(after.poll(p, T0 + 6_000)), (p - 1) as u32);
    }
    // The one called before the crash is recalled first.
    assert!(matches!(
        after.poll(places[0], T0 + 6_000),
        Visit::Waiting(_)
    ));
    let mut order = Vec::new();
    let mut now = T0 + 6_000;
    while order.len() < 5 {
        now += 100;
        for p in after.tick(now) {
            assert!(after.claim(p, &format!("s{p}"), now));
            after.end_session(&format!("s{p}"));
            order.push(p);
        }
    }
    assert_eq!(order, places);
}

#[test]
fn poll_interval_grows_with_distance_and_is_jittered() {
    let near: Vec<u32> = (0..50).map(|s| poll_ms(0, s, None)).collect();
    let far: Vec<u32> = (0..50).map(|s| poll_ms(100_000, s, None)).collect();
    assert!(near.iter().all(|&m| (800..=1200).contains(&m)));
    assert!(far.iter().all(|&m| (16_000..=24_000).contains(&m)));
    assert!(near.iter().any(|&m| m != near[0]), "jittered");
    // A slow room: the tier decides. A fast one: at most half the expected wait, never
    // under 250 ms (±20%).
    assert!((16_000..=24_000).contains(&poll_ms(100_000, 1, Some(3_600_000))));
    assert!((800..=1200).contains(&poll_ms(1_500, 1, Some(2_000))));
    assert!((200..=300).contains(&poll_ms(500, 1, Some(100))));
}

#[test]
fn the_draw_is_known_from_the_keys_before_the_start() {
    let (n, seed) = (10_000, 0x1234_5678_9abc_def1);
    let order = permutation(n, seed);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "a permutation");
    // Each entry's estimate from its key alone is close to the place it is drawn.
    let worst = order
        .iter()
        .enumerate()
        .map(|(rank, &entry)| {
            (Pending::of(entry, seed, n, 0).expected_ahead as usize).abs_diff(rank)
        })
        .max()
        .unwrap();
    assert!(worst <= 300, "worst estimate off by {worst} of {n}");
    assert_eq!(
        Pending::of(5, 0, n, 0).expected_ahead,
        0,
        "no seed yet: come at the start"
    );
}

#[test]
fn prequeue_visitors_come_back_in_draw_order_not_all_at_the_start() {
    let mut s = settings(Mode::Queue);
    s.max_active = 2_000;
    s.new_per_minute = 120_000; // 2,000 a second
    let at = |starts_in_ms, expected_ahead, share_ppm| {
        let p = Pending {
            starts_in_ms,
            expected_ahead,
            share_ppm,
        };
        prequeue_poll_ms(p, &s)
    };
    // The first second's admissions come right at the start...
    assert_eq!(at(3_000, 0, 0), 3_000);
    assert_eq!(at(3_000, 1_999, 0), 3_000);
    // ...the rest a little before the rate reaches them (80% of the estimate)...
    assert_eq!(at(3_000, 12_000, 0), 3_000 + 4_000);
    // ...and nobody waits more than 30 s between polls.
    assert_eq!(at(3_000, 99_000, 0), 30_000);
    // Just before the start: not sooner than 50 ms.
    assert_eq!(at(10, 0, 0), 50);
    // Further than 10 s from the start, the pre-queue may still grow: come back once in
    // the last 10 s (by share, over 8 s) to hear a fresh estimate.
    assert_eq!(at(25_000, 10, 0), 15_000);
    assert_eq!(at(25_000, 10, 500_000), 19_000);
    assert_eq!(at(600_000, 10, 0), 30_000);
}

#[test]
fn eta_follows_the_measured_rate() {
    let mut s = settings(Mode::Queue);
    s.max_active = 1000;
    s.new_per_minute = 120; // 2/s
    let mut room = Room::new(s, T0);
    let places: Vec<usize> = (0..300)
        .map(|i| place(room.join(&format!("s{i}"), T0)))
        .collect();
    let mut now = T0;
    for _ in 0..300 {
        now += 100;
        room.tick(now);
        for &p in &places[200..] {
            room.poll(p, now);
        }
    }
    let last = places[299];
    let Visit::Waiting(pos) = room.poll(last, now) else {
        panic!()
    };
    let eta = pos.eta_seconds.unwrap();
    let expected = (pos.ahead + 1).div_ceil(2);
    assert!(
        eta.abs_diff(expected) <= expected / 5 + 2,
        "eta {eta} vs {expected}"
    );
}

#[test]
fn joins_after_a_restart_go_behind_places_issued_before_it() {
    let mut room = Room::new(settings(Mode::Queue), T0);
    let early = place(room.join("a", T0));
    let saved = room.save();
    // Joined after the save, before the crash: not in the saved length.
    let unsaved = place(room.join("b", T0 + 10));
    let mut after = Room::restore(settings(Mode::Queue), &saved, T0 + 1_000);
    let fresh = place(after.join("c", T0 + 1_000));
    assert!(
        fresh > unsaved,
        "a new join never takes a place issued before the crash"
    );
    // The unsaved ticket comes back and is put back in front of the new joiner.
    assert_eq!(ahead(after.poll(unsaved, T0 + 1_100)), 1);
    assert_eq!(ahead(after.poll(fresh, T0 + 1_100)), 2);
    assert_eq!(ahead(after.poll(early, T0 + 1_100)), 0);
    let mut order = Vec::new();
    let mut now = T0 + 1_100;
    while order.len() < 3 {
        now += 100;
        for p in after.tick(now) {
            assert!(after.claim(p, &format!("s{p}"), now));
            after.end_session(&format!("s{p}"));
            order.push(p);
        }
    }
    assert_eq!(order, vec![early, unsaved, fresh]);
}

#[test]
fn operator_overrides_survive_restart_and_config_changes() {
    let mut room = Room::new(settings(Mode::Queue), T0);
    room.override_settings(Overrides {
        mode: Some("paused".into()),
        max_active: Some(7),
        new_per_minute: None,
        event: None,
    });
    assert_eq!(room.settings().mode, Mode::Paused);
    // A config reload changes the configured values; the operator's stay on top.
    let mut reloaded = settings(Mode::Auto);
    reloaded.new_per_minute = 30;
    room.reconfigure(reloaded);
    assert_eq!(
        (
            room.settings().mode,
            room.settings().max_active,
            room.settings().new_per_minute
        ),
        (Mode::Paused, 7, 30)
    );
    let after = Room::restore(settings(Mode::Queue), &room.save(), T0 + 1000);
    assert_eq!(
        (after.settings().mode, after.settings().max_active),
        (Mode::Paused, 7)
    );
}

#[test]
fn permutation_is_a_permutation_and_depends_on_the_seed() {
    let a = permutation(1000, 42);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    assert_eq!(a, permutation(1000, 42), "same seed, same order");
    assert_ne!(a, permutation(1000, 43));
    // Roughly uniform: each entry lands in the first half about half of the time.
    let firsts = (1..=2000u64)
        .filter(|s| permutation(10, *s)[..5].contains(&0))
        .count();
    assert!((850..=1150).contains(&firsts), "{firsts}");
}

#[test]
fn prequeue_is_drawn_at_random_at_start_then_fifo() {
    let start_ms = T0 + 600_000;
    let mut s = settings(Mode::Queue);
    s.max_active = 1000;
    s.event = Some(Event {
        prequeue_start: T0 / 1000,
        start: start_ms / 1000,
        end: None,
    });
    let mut room = Room::new(s, T0 - 1000);
    assert_eq!(
        room.join("early", T0 - 1000),
        Join::Closed,
        "before the pre-queue opens"
    );
    let pre: Vec<usize> = (0..100)
        .map(|i| match room.join(&format!("p{i}"), T0 + i * 1000) {
            Join::PreQueued(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(matches!(
        room.prequeue(pre[0], T0 + 200_000),
        PreQueue::Pending(Pending {
            starts_in_ms: 400_000,
            ..
        })
    ));
    assert!(
        room.tick(T0 + 300_000).is_empty(),
        "nobody is called before the start"
    );
    // At the start the order is drawn; newcomers go after the whole pre-queue.
    let called = room.tick(start_ms);
    let after = place(room.join("late", start_ms + 1000));
    let places: Vec<usize> = pre
        .iter()
        .map(|&i| match room.prequeue(i, start_ms) {
            PreQueue::Drawn(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut sorted = places.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..100).collect::<Vec<_>>(),
        "every pre-queue visitor got one place"
    );
    assert_ne!(places, sorted, "the order is not the arrival order");
    assert_eq!(after, 100, "after the start: first come, first served");
    assert_eq!(
        called.len(),
        100,
        "capacity 1000: the whole pre-queue is called at the start"
    );
    // A restart draws the same order.
    let again = Room::restore(s, &room.save(), start_ms + 5000);
    let mut again = again;
    for (&i, &p) in pre.iter().zip(&places) {
        assert_eq!(again.prequeue(i, start_ms + 5000), PreQueue::Drawn(p));
    }
    // After the end the room is closed.
    let mut ended = s;
    ended.event = Some(Event {
        prequeue_start: T0 / 1000,
        start: start_ms / 1000,
        end: Some(start_ms / 1000 + 60),
    });
    room.reconfigure(ended);
    assert_eq!(room.join("too-late", start_ms + 61_000), Join::Closed);
}

#[test]
fn the_sale_opens_with_the_first_poll_after_the_start_not_the_next_tick() {
    let start_ms = T0 + 60_000;
    let mut s = settings(Mode::Queue);
    s.max_active = 5;
    s.new_per_minute = 600;
    s.event = Some(Event {
        prequeue_start: T0 / 1000,
        start: start_ms / 1000,
        end: None,
    });
    let mut room = Room::new(s, T0);
    let entries: Vec<usize> = (0..20)
        .map(|i| match room.join(&format!("p{i}"), T0 + 1000) {
            Join::PreQueued(e) => e,
            other => panic!("{other:?}"),
        })
        .collect();
    // No tick at all: the first poll after the start draws the order and calls the first
    // max_active visitors at once.
    let places: Vec<usize> = entries
        .iter()
        .map(|&e| match room.prequeue(e, start_ms + 5) {
            PreQueue::Drawn(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    let called = places
        .iter()
        .filter(|&&p| room.poll(p, start_ms + 5) == Visit::Called)
        .count();
    assert_eq!(called, 5);
}
