//! Tests for `redis` with several nodes on one Redis (one line, one lease holder, a
//! takeover) and with Redis killed, restarted, emptied or frozen (fail closed, fast;
//! recover without a rebuild).

use std::sync::Arc;
use std::time::Instant;

use super::server::RedisServer;
use super::{join_n, pos, sale, sized};
use crate::room::tests::{place, settings, T0};
use crate::room::Mode;
use crate::store::redis::*;

#[tokio::test]
async fn every_node_derives_the_same_draw() {
    let server = RedisServer::start();
    let a = server.store(sale()).await;
    for i in 0..50 {
        a.join("r", &format!("p{i}"), T0 + i).await.unwrap();
    }
    let start_ms = T0 + 600_000;
    let b = server.store(sale()).await;
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    for i in 0..50 {
        on_b.push(b.prequeue("r", i, start_ms).await.unwrap());
        on_a.push(a.prequeue("r", i, start_ms + 5000).await.unwrap());
    }
    assert_eq!(on_a, on_b);
    assert!(on_a.iter().all(|p| matches!(p, PreQueue::Drawn(_))));
}

#[tokio::test]
async fn two_nodes_share_one_line() {
    let server = RedisServer::start();
    let s = sized(Mode::Queue, 2);
    let (a, b) = (server.store(s).await, server.store(s).await);
    assert_ne!(a.node_id(), b.node_id());
    let places = join_n(&a, 5, T0).await;
    for (i, &p) in places.iter().enumerate() {
        let v = pos(b.poll("r", p, T0).await.unwrap());
        assert_eq!((v.ahead, v.behind), (i as u32, 4 - i as u32));
    }
    assert!(b.leave("r", places[1]).await.unwrap());
    assert_eq!(pos(a.poll("r", places[4], T0).await.unwrap()).ahead, 3);
    // Whoever ticks first holds the lease: the other calls nobody.
    assert_eq!(
        b.tick("r", T0 + 100).await.unwrap(),
        vec![places[0], places[2]]
    );
    assert!(b.holds_lease("r") && !a.holds_lease("r"));
    assert!(a.tick("r", T0 + 200).await.unwrap().is_empty());
    assert!(a.claim("r", places[0], "x", T0 + 200).await.unwrap());
    assert!(!b.claim("r", places[0], "x", T0 + 200).await.unwrap());
    assert_eq!(b.stats("r").await.unwrap(), a.stats("r").await.unwrap());
    assert!(b.end_session("r", "x").await.unwrap());
    assert_eq!(b.tick("r", T0 + 300).await.unwrap(), vec![places[3]]);
}

/// Ticks `node` every few milliseconds until `stop`, noting whom it called.
fn ticker(
    node: Arc<RedisStore>,
    calls: Arc<std::sync::Mutex<Vec<(String, usize)>>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let now = T0 + node.operations();
            if let Ok(called) = node.tick("r", now).await {
                let id = node.node_id().to_string();
                lock(&calls).extend(called.into_iter().map(|p| (id.clone(), p)));
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_calls_and_capacity_holds() {
    let server = RedisServer::start();
    let s = sized(Mode::Queue, 4);
    // A long lease: a starved ticker on a busy machine must not lose it in this test.
    let a = Arc::new(server.node(s, Duration::from_secs(5)).await);
    let b = Arc::new(server.node(s, Duration::from_secs(5)).await);
    let places = join_n(&*a, 120, T0).await;
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tickers = [
        ticker(a.clone(), calls.clone(), stop.clone()),
        ticker(b.clone(), calls.clone(), stop.clone()),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut admitted = Vec::new();
    while admitted.len() < places.len() && Instant::now() < deadline {
        let stats = b.stats("r").await.unwrap();
        assert!(stats.called + stats.active <= 4, "{stats:?}");
        let called: Vec<(String, usize)> = std::mem::take(&mut *lock(&calls));
        for (i, (_, p)) in called.iter().enumerate() {
            let node = if i % 2 == 0 { &a } else { &b };
            assert!(node.claim("r", *p, &format!("s{p}"), T0).await.unwrap());
            admitted.push(called[i].clone());
        }
        for (_, p) in admitted.iter().rev().take(called.len()) {
            b.end_session("r", &format!("s{p}")).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tickers {
        t.await.unwrap();
    }
    let order: Vec<usize> = admitted.iter().map(|(_, p)| *p).collect();
    assert_eq!(order, places, "everyone, in order");
    let callers: std::collections::HashSet<&str> =
        admitted.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(callers.len(), 1, "one node called everybody");
    assert_eq!(a.holds_lease("r"), callers.contains(a.node_id()));
}

#[tokio::test]
async fn another_node_takes_over_when_the_holder_stops() {
    let server = RedisServer::start();
    let lease = Duration::from_millis(1000);
    let s = sized(Mode::Queue, 3);
    let a = server.node(s, lease).await;
    let b = server.node(s, lease).await;
    let places = join_n(&a, 3, T0).await;
    assert_eq!(
        a.tick("r", T0).await.unwrap(),
        vec![places[0], places[1], places[2]]
    );
    let stopped = Instant::now();
    drop(a); // the holder dies: it stops ticking
    assert!(b.leave("r", places[0]).await.unwrap());
    let more = join_n(&b, 1, T0).await;
    assert!(
        b.tick("r", T0).await.unwrap().is_empty(),
        "the lease is still taken"
    );
    loop {
        let called = b.tick("r", T0).await.unwrap();
        if !called.is_empty() {
            assert_eq!(called, more);
            break;
        }
        assert!(
            stopped.elapsed() < lease * 2,
            "no takeover within twice the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(b.holds_lease("r"));
}

/// The operation fails closed within 2 s.
macro_rules! down {
    ($op:expr) => {{
        let t = Instant::now();
        let r = $op.await;
        assert!(
            matches!(r, Err(StoreError::Unavailable)),
            "{}",
            stringify!($op)
        );
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "{}: {took:?}",
            stringify!($op)
        );
    }};
}

/// Every operation fails closed, fast.
async fn all_fail_fast(st: &RedisStore) {
    let s = settings(Mode::Queue);
    down!(st.join("r", "x", T0));
    down!(st.poll("r", 0, T0));
    down!(st.prequeue("r", 0, T0));
    down!(st.claim("r", 0, "x", T0));
    down!(st.leave("r", 0));
    down!(st.touch_session("r", "x", 1));
    down!(st.end_session("r", "x"));
    down!(st.tick("r", T0));
    down!(st.stats("r"));
    down!(st.override_settings("r", Overrides::default()));
    down!(st.settings("r"));
    down!(st.reconfigure("r", s));
    assert!(!st.is_up());
}

/// Retries `join` until Redis answers again (the store must recover by itself).
async fn join_when_back(st: &RedisStore, now: u64) -> Join {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match st.join("r", "back", now).await {
            Ok(j) => return j,
            Err(e) if Instant::now() > deadline => panic!("not back: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn redis_killed_fails_closed_fast_then_recovers_with_aof() {
    let mut server = RedisServer::start_with(true);
    let st = server.store(settings(Mode::Queue)).await;
    let places = join_n(&st, 3, T0).await;
    assert_eq!(st.tick("r", T0).await.unwrap(), vec![places[0]]);
    server.kill();
    all_fail_fast(&st).await;
    server.restart();
    // The same store, no rebuild: the line resumes where it was.
    assert_eq!(join_when_back(&st, T0).await, Join::Queued(3));
    assert!(st.is_up());
    assert_eq!(st.poll("r", places[0], T0).await.unwrap(), Visit::Called);
    assert_eq!(pos(st.poll("r", places[2], T0).await.unwrap()).ahead, 1);
}

#[tokio::test]
async fn redis_that_lost_its_data_gets_the_settings_and_tickets_back() {
    let mut server = RedisServer::start();
    let s = sized(Mode::Queue, 7);
    let st = server.store(s).await;
    join_n(&st, 5, T0).await;
    server.kill();
    server.restart();
    // Settings are pushed again on first use; a ticket returns to its place and new
    // joins go behind it.
    let _ = join_when_back(&st, T0).await;
    assert_eq!(st.settings("r").await.unwrap(), s);
    assert_eq!(pos(st.poll("r", 3, T0).await.unwrap()).ahead, 1);
    assert_eq!(st.join("r", "new", T0).await.unwrap(), Join::Queued(4));
}

#[tokio::test]
async fn frozen_redis_times_out_then_recovers() {
    let server = RedisServer::start();
    let st = server.store(settings(Mode::Queue)).await;
    join_n(&st, 1, T0).await;
    server.signal("-STOP");
    // Each waits for the response timeout; after a few the connection is replaced.
    down!(st.poll("r", 0, T0));
    down!(st.tick("r", T0));
    down!(st.stats("r"));
    down!(st.leave("r", 0));
    down!(st.claim("r", 0, "x", T0));
    server.signal("-CONT");
    // A command sent during the freeze may still run after it (`leave` did here).
    assert_eq!(join_when_back(&st, T0).await, Join::Queued(1));
    assert!(st.is_up());
}

#[tokio::test]
async fn one_round_trip_per_operation() {
    let server = RedisServer::start();
    let st = server.store(settings(Mode::Queue)).await;
    for round in 0..2 {
        let (ops, cmds) = (st.operations(), st.commands_sent());
        let p = place(st.join("r", "a", T0).await.unwrap());
        st.poll("r", p, T0).await.unwrap();
        st.prequeue("r", 0, T0).await.unwrap();
        st.tick("r", T0).await.unwrap();
        st.claim("r", p, "a", T0).await.unwrap();
        st.leave("r", p).await.unwrap();
        st.touch_session("r", "a", 1).await.unwrap();
        st.end_session("r", "a").await.unwrap();
        st.stats("r").await.unwrap();
        st.settings("r").await.unwrap();
        st.override_settings("r", Overrides::default())
            .await
            .unwrap();
        st.reconfigure("r", settings(Mode::Queue)).await.unwrap();
        let (ops, cmds) = (st.operations() - ops, st.commands_sent() - cmds);
        assert_eq!(ops, 12);
        if round == 1 {
            assert_eq!(cmds, ops, "one EVALSHA each once the scripts are loaded");
        }
    }
}

#[tokio::test]
async fn unknown_rooms_and_bad_urls_are_errors() {
    let server = RedisServer::start();
    let st = server.store(settings(Mode::Queue)).await;
    assert!(matches!(
        st.poll("nope", 0, T0).await,
        Err(StoreError::NoRoom(_))
    ));
    let err = RedisStore::connect("http://x", &[], RedisOptions::default()).await;
    assert!(err
        .err()
        .is_some_and(|e| e.to_string().contains("redis://")));
}

/// Follows `node`'s revocations into a channel, as the gate does into its passes.
fn follower(
    node: Arc<RedisStore>,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<Revocation>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        node.follow_revocations(move |r| {
            let _ = tx.send(r);
        })
        .await
    });
    (task, rx)
}

/// Waits (up to `within`) until `session` is heard; others heard meanwhile are skipped.
async fn hear(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Revocation>,
    session: &str,
    within: Duration,
) -> Revocation {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) if r.session == session => return r,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the follower stopped"),
            Err(_) => panic!("{session} not heard within {within:?}"),
        }
    }
}

/// How many connections listen for revocations.
async fn subscribers(node: &RedisStore) -> u64 {
    let (_, n): (String, u64) = redis::cmd("PUBSUB")
        .arg(&["NUMSUB", "usher:revoked"])
        .query_async(&mut node.conn())
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn an_ended_session_reaches_every_node_which_catches_up_after_a_disconnection() {
    let mut server = RedisServer::start_with(true);
    let s = settings(Mode::Queue);
    let a = server.store(s).await;
    let b = Arc::new(server.store(s).await);
    let (task, mut heard) = follower(b.clone());

    // Live: ended on A, heard by B at once, until its last pass has surely expired.
    let t = Instant::now();
    assert!(!a.end_session("r", "s0").await.unwrap());
    let r = hear(&mut heard, "s0", Duration::from_secs(3)).await;
    println!("heard by the other node after {:?}", t.elapsed());
    assert!(r.until >= revocations::unix_secs() + s.session_idle.as_secs());

    // B's subscription is dropped and cannot come back (Redis now wants a password;
    // connections already open keep working): nobody hears what A ends meanwhile…
    let mut conn = a.conn();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "sesame"])
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: Value = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(subscribers(&a).await, 0);
    assert!(!a.end_session("r", "s1").await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(subscribers(&a).await, 0, "B tried again, and was refused");
    while let Ok(r) = heard.try_recv() {
        assert_ne!(r.session, "s1", "heard while disconnected");
    }
    // …but once B subscribes again, it reads s1 from the set.
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", ""])
        .query_async(&mut conn)
        .await
        .unwrap();
    hear(&mut heard, "s1", Duration::from_secs(3)).await;

    // Redis killed and restarted from its AOF: B resubscribes by itself and hears the
    // next one; a node that starts now reads all three from the set.
    server.kill();
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.end_session("r", "s2").await.is_err() {
        assert!(Instant::now() < deadline, "Redis not back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hear(&mut heard, "s2", Duration::from_secs(3)).await;
    let (late, mut late_heard) = follower(Arc::new(server.store(s).await));
    for session in ["s0", "s1", "s2"] {
        hear(&mut late_heard, session, Duration::from_secs(3)).await;
    }
    let count: u64 = redis::cmd("ZCARD")
        .arg("usher:{r}:revoked")
        .query_async(&mut a.conn())
        .await
        .unwrap();
    assert_eq!(count, 3);
    task.abort();
    late.abort();
}
