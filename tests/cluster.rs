//! Several proxy nodes on one real `redis-server`: one fair line whichever node a visitor
//! talks to, one node at a time calling visitors (the lease), another taking over when it
//! dies, and fail-closed through a Redis outage with the order kept across its restart.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::harness::{Builder, Harness, Node};
use common::redis::Redis;
use common::visitor::Visitor;
use usher::room::Visit;
use usher::store::Store;

const TOKEN: &str = "cluster-admin-token-0123456789";

/// The cluster's config, for every node: the waiting room with `room`, the Redis store,
/// shared keys and ticket secret.
fn cluster(redis: &Redis, room: &[&str]) -> Builder {
    let b = Harness::builder().room(room);
    let secret = b.setup().state_dir.path().join("shared-ticket.key");
    let bytes: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
    std::fs::write(&secret, bytes).unwrap();
    let ticket = format!("ticket_secret = {:?}", secret.display().to_string());
    b.line("store", &format!("url = {:?}", redis.url()))
        .line("store", "lease = \"1s\"")
        .line("state", &ticket)
        .line("admin", &format!("token = {TOKEN:?}"))
}

fn rand_byte() -> u8 {
    let mut b = [0u8; 1];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    b[0]
}

/// The same visitor (same cookies) talking to another node.
async fn via(h: &Harness, addr: SocketAddr, v: &Visitor) -> Visitor {
    let mut w = h.visitor_at(addr).await;
    w.jar = v.jar.clone();
    w
}

/// Polls through `v` until called, faster near the front of the line (as the page does).
async fn until_called(v: &mut Visitor, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let st = v.status().await;
        match st["state"].as_str() {
            Some("called") => return,
            Some("waiting") => {}
            _ => panic!("unexpected standing {st}"),
        }
        assert!(
            Instant::now() < deadline,
            "not called within {within:?}: {st}"
        );
        let ahead = st["ahead"].as_u64().unwrap_or(0);
        let pause = if ahead > 20 { 400 } else { 40 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Two in-process nodes on one Redis, guarding a queued room with a single slot.
struct OneSlot {
    redis: Redis,
    h: Harness,
    addrs: [SocketAddr; 2],
}

impl OneSlot {
    async fn start() -> Self {
        let redis = Redis::start();
        let room = ["mode = \"queue\"", "max_active = 1", "new_per_minute = 0"];
        let h = cluster(&redis, &room).nodes(2).start().await;
        let addrs = [h.nodes[0].public, h.nodes[1].public];
        Self { redis, h, addrs }
    }
}

/// A new visitor through `addr`, let in (their pass in the jar) once called.
async fn let_in(h: &Harness, addr: SocketAddr) -> Visitor {
    let mut v = h.visitor_at(addr).await;
    v.get("/book").await;
    until_called(&mut v, Duration::from_secs(10)).await;
    v
}

fn gate_now() -> u64 {
    usher::gate::unix_ms()
}

fn lease(metrics: &str) -> f64 {
    common::sample(
        metrics,
        "usher_room_admission_lease",
        &[("room", "booking")],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_serve_one_line_in_one_global_order() {
    let redis = Redis::start();
    const MAX: usize = 5;
    const N: usize = 500;
    let room = [
        "mode = \"paused\"",
        "max_active = 5",
        "new_per_minute = 0",
        "abandon_after = \"5m\"",
    ];
    let h = cluster(&redis, &room).nodes(2).start().await;
    let (nodes, up) = (&h.nodes, h.up());
    let addrs = [nodes[0].public, nodes[1].public];

    // 500 visitors join, alternating between the nodes; each asks the *other* node where
    // it stands and gets the exact number of visitors who joined before it.
    let mut line = Vec::new();
    for i in 0..N {
        let mut v = h.visitor_at(addrs[i % 2]).await;
        let page = v.get("/book").await;
        assert!(
            page.body.contains("data-state=\"paused\""),
            "visitor {i}: {} {}",
            page.status,
            page.body.get(..300).unwrap_or(&page.body)
        );
        let mut w = via(&h, addrs[(i + 1) % 2], &v).await;
        let st = w.status().await;
        assert_eq!(st["state"], "paused", "{st}");
        assert_eq!(st["ahead"].as_u64(), Some(i as u64), "visitor {i}: {st}");
        line.push(w);
    }

    // The operator starts the sale on node A; the setting lives in Redis, so node B's
    // visitors see it too, and whichever node holds the lease calls them.
    let (status, _) = common::plain_json(
        nodes[0].admin,
        "PATCH",
        "/admin/rooms/booking",
        &[("authorization", &format!("Bearer {TOKEN}"))],
        r#"{"mode":"queue"}"#,
    )
    .await;
    assert_eq!(status, 200);

    let mut tasks = Vec::new();
    for (i, mut v) in line.into_iter().enumerate() {
        // Visitor i holds place i. The store itself says where place i − 1 stands, without
        // touching it (a visitor's own status call could re-join a place already used).
        let gate = nodes[(i + 1) % 2].gate();
        tasks.push(tokio::spawn(async move {
            until_called(&mut v, Duration::from_secs(180)).await;
            // Called in join order: whoever joined just before is no longer waiting.
            if i > 0 {
                let before = gate.store.poll("booking", i - 1, gate_now()).await.unwrap();
                assert!(
                    !matches!(before, Visit::Waiting(_) | Visit::Paused(_)),
                    "visitor {i} was called while visitor {} still waits: {before:?}",
                    i - 1
                );
            }
            assert_eq!(v.get("/enter").await.status, 200, "visitor {i} gets in");
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(v.get("/exit").await.status, 200);
            assert_eq!(
                v.send("POST", "/_usher/leave", &[]).await.json()["state"],
                "left"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let max = up
        .sessions
        .max_inside
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=MAX).contains(&max),
        "inside at once across both nodes: {max}"
    );
    let passes = up.sessions.passes.lock().unwrap().len();
    assert!(
        passes >= N,
        "every visitor reached the site with a pass ({passes})"
    );
    // Exactly one node calls visitors.
    let leases: Vec<f64> = [nodes[0].metrics(), nodes[1].metrics()]
        .iter()
        .map(|m| lease(m))
        .collect();
    assert_eq!(leases.iter().sum::<f64>(), 1.0, "lease gauges {leases:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_lease_holder_hands_admission_to_the_other_node() {
    let redis = Redis::start();
    let room = ["mode = \"queue\"", "max_active = 1", "new_per_minute = 0"];
    let mut h = cluster(&redis, &room).binary().nodes(2).start().await;

    // Find the node holding the lease (the one whose gauge says 1).
    let deadline = Instant::now() + Duration::from_secs(10);
    let holder = loop {
        let mut found = None;
        for (i, p) in h.nodes.iter().enumerate() {
            let (_, m) = common::admin_get(p.admin, "/metrics").await;
            if lease(&m) == 1.0 {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            break i;
        }
        assert!(Instant::now() < deadline, "no node took the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let other = h.nodes[1 - holder].public;

    // One visitor inside, ten waiting — half of them joined through the doomed node.
    let mut first = let_in(&h, other).await;
    assert_eq!(first.get("/headers").await.status, 200);
    let mut waiting = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 {
            h.nodes[holder].public
        } else {
            other
        };
        let mut v = h.visitor_at(node).await;
        v.get("/book").await;
        waiting.push(via(&h, other, &v).await);
    }
    for (i, v) in waiting.iter_mut().enumerate() {
        assert_eq!(v.status().await["ahead"].as_u64(), Some(i as u64));
    }

    // kill -9 the lease holder, then free the slot through the survivor.
    let killed = h.nodes.remove(holder);
    drop(killed);
    let freed = Instant::now();
    first.send("POST", "/_usher/leave", &[]).await;
    // The survivor takes the lease once it lapses and calls the next in line; then the
    // rest, one at a time, in the order they joined.
    for i in 0..waiting.len() {
        let v = &mut waiting[i];
        until_called(v, Duration::from_secs(10)).await;
        if i == 0 {
            println!(
                "next visitor called {:?} after the holder died",
                freed.elapsed()
            );
        }
        if let Some(next) = waiting.get_mut(i + 1) {
            let st = next.status().await;
            assert_eq!(
                (st["state"].as_str(), st["ahead"].as_u64()),
                (Some("waiting"), Some(0)),
                "{st}"
            );
        }
        assert_eq!(waiting[i].get("/headers").await.status, 200, "visitor {i}");
        waiting[i].send("POST", "/_usher/leave", &[]).await;
    }
    let (_, m) = common::admin_get(h.nodes[0].admin, "/metrics").await;
    assert_eq!(lease(&m), 1.0, "the survivor holds the lease");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_outage_fails_closed_on_both_nodes_and_the_order_survives_a_restart() {
    let OneSlot {
        mut redis,
        h,
        addrs,
    } = OneSlot::start().await;
    let (nodes, up) = (&h.nodes, h.up());
    let mut holder = let_in(&h, addrs[0]).await;
    assert_eq!(holder.get("/headers").await.status, 200);
    let mut waiting = Vec::new();
    for i in 0..3 {
        let mut v = h.visitor_at(addrs[i % 2]).await;
        v.get("/book").await;
        assert_eq!(v.status().await["ahead"].as_u64(), Some(i as u64));
        waiting.push(v);
    }

    redis.kill();
    let hits = up.hits();
    // Newcomers get the "unavailable" page from either node, never the site.
    for addr in addrs {
        let mut newcomer = h.visitor_at(addr).await;
        let r = newcomer.get("/book").await;
        assert_eq!(r.status, 503);
        assert!(r.body.contains("data-state=\"unavailable\""), "{}", r.body);
    }
    // Waiting visitors keep their ticket and are told admission is paused.
    for v in &mut waiting {
        assert_eq!(v.status().await["state"], "unavailable");
        assert!(v.jar.contains_key("usher_ticket"));
    }
    // The pass holder keeps going, through either node.
    assert_eq!(holder.get("/headers").await.status, 200);
    let mut holder_b = via(&h, addrs[1], &holder).await;
    assert_eq!(holder_b.get("/headers").await.status, 200);
    assert_eq!(up.hits(), hits + 2, "only the pass holder reached the site");
    // The holder leaves: during the outage nobody is called all the same.
    holder.send("POST", "/_usher/leave", &[]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(waiting[0].status().await["state"], "unavailable");
    for n in nodes {
        assert_eq!(common::sample(&n.metrics(), "usher_store_up", &[]), 0.0);
    }

    // Redis restarts from its AOF: the line resumes in the same order.
    redis.restart();
    for i in 0..waiting.len() {
        until_called(&mut waiting[i], Duration::from_secs(15)).await;
        for (j, w) in waiting.iter_mut().enumerate().skip(i + 1) {
            let st = w.status().await;
            assert_eq!(st["state"], "waiting", "{j} while {i} is called: {st}");
            assert_eq!(st["ahead"].as_u64(), Some((j - i - 1) as u64), "{st}");
        }
        assert_eq!(waiting[i].get("/headers").await.status, 200);
        waiting[i].send("POST", "/_usher/leave", &[]).await;
    }
    h.shutdown().await;
}

fn revoked_refusals(node: &Node) -> f64 {
    common::sample(
        &node.metrics(),
        "usher_pass_rejections_total",
        &[("reason", "revoked")],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_ended_on_one_node_is_refused_by_the_other_at_once() {
    let OneSlot {
        redis: _redis,
        h,
        addrs,
    } = OneSlot::start().await;
    let (nodes, up) = (&h.nodes, h.up());
    // The holder is let in through A and uses the site through both nodes; the next
    // visitor waits.
    let mut holder = let_in(&h, addrs[0]).await;
    let mut next = h.visitor_at(addrs[1]).await;
    assert!(next
        .get("/book")
        .await
        .body
        .contains("data-state=\"waiting\""));
    let hits = up.hits();
    assert_eq!(holder.get("/headers").await.status, 200);
    let mut holder_b = via(&h, addrs[1], &holder).await;
    assert_eq!(holder_b.get("/headers").await.status, 200);
    assert_eq!(up.hits(), hits + 2, "through both nodes");
    let refused_before = revoked_refusals(&nodes[1]);

    // They leave through A: their slot goes to the next visitor, and B refuses their pass
    // within a moment (each try on a fresh copy of their cookies, pass included).
    let left = Instant::now();
    let r = holder.send("POST", "/_usher/leave", &[]).await;
    assert_eq!(r.json()["state"], "left");
    loop {
        let mut again = via(&h, addrs[1], &holder_b).await;
        let hits = up.hits();
        let r = again.get("/headers").await;
        if up.hits() == hits {
            assert!(r.body.contains("data-state=\"waiting\""), "{}", r.body);
            break;
        }
        assert!(
            left.elapsed() < Duration::from_secs(2),
            "node B still honours the pass {:?} after the leave",
            left.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "pass refused by node B {:?} after the leave on A",
        left.elapsed()
    );
    assert!(revoked_refusals(&nodes[1]) > refused_before);
    until_called(&mut next, Duration::from_secs(10)).await;
    let hits = up.hits();
    assert_eq!(next.get("/headers").await.status, 200);
    let r = via(&h, addrs[1], &holder_b).await.get("/headers").await;
    assert!(
        r.body.contains("data-state=\"waiting\""),
        "still refused: {}",
        r.body
    );
    assert_eq!(
        up.hits(),
        hits + 1,
        "only the next visitor reached the site"
    );
    h.shutdown().await;
}
