//! The waiting room end to end: the real proxy over TLS, a real upstream, real passes.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use common::harness::Harness;
use common::visitor::Visitor;
use common::TlsClient;
use usher::pass::{KeyRing, Passes, Session};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_skips_the_line() {
    // Paused: nobody is called, so any request that reaches the upstream skipped the line.
    let proxy = Harness::builder()
        .room(&["mode = \"paused\""])
        .start()
        .await;
    let (s, up) = (proxy.setup(), proxy.up());
    let sess = Session {
        idle: 600,
        max: 3600,
    };
    let t = now();

    let genuine_other_room = {
        let mut v = proxy.visitor().await;
        let r = v.get("/other/x").await; // open room: admitted at once
        assert_eq!(r.status, 200);
        v.jar["usher_pass"].clone()
    };
    let insider = s.insider("pass-1", "usher-test");
    let (expired, _) = insider.mint("booking", "v", sess, t - 4000).unwrap();
    let (future, _) = insider.mint("booking", "v", sess, t + 3600).unwrap();
    let (wrong_issuer, _) = s
        .insider("pass-1", "someone-else")
        .mint("booking", "v", sess, t)
        .unwrap();
    let (unknown_kid, _) = s
        .insider("pass-9", "usher-test")
        .mint("booking", "v", sess, t)
        .unwrap();
    let stranger = Passes::new(KeyRing::generate("pass-1").unwrap(), "usher-test");
    let (other_key, _) = stranger.mint("booking", "v", sess, t).unwrap();
    let (good, claims) = insider.mint("booking", "v", sess, t).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let mut edited = claims.clone();
    edited.exp += 86_400;
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&edited).unwrap()),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"pass-1"}"#),
        parts[1]
    );
    let jwks: serde_json::Value = serde_json::from_str(&proxy.gate().passes.jwks()).unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_string();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("pass-1".into());
    let hs256 = jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
    )
    .unwrap();
    // A revoked pass: genuine, then its session ends.
    let revoked = {
        let (p, c) = insider.mint("booking", "v2", sess, t).unwrap();
        proxy.gate().passes.revoke(&c.jti, c.send, t);
        p
    };
    let forged_ticket = format!("{}AAAA", b64(&[1u8; 40]));

    let attempts: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no pass", vec![]),
        (
            "any Referer",
            vec![("referer", "https://localhost/_usher/status".into())],
        ),
        ("I waited header", vec![("x-usher-waited", "true".into())]),
        (
            "pass for another room",
            vec![("cookie", format!("usher_pass={genuine_other_room}"))],
        ),
        ("expired", vec![("cookie", format!("usher_pass={expired}"))]),
        (
            "not yet valid",
            vec![("cookie", format!("usher_pass={future}"))],
        ),
        (
            "wrong issuer",
            vec![("cookie", format!("usher_pass={wrong_issuer}"))],
        ),
        (
            "unknown kid",
            vec![("cookie", format!("usher_pass={unknown_kid}"))],
        ),
        (
            "other key",
            vec![("cookie", format!("usher_pass={other_key}"))],
        ),
        (
            "edited payload",
            vec![("cookie", format!("usher_pass={edited}"))],
        ),
        ("alg none", vec![("cookie", format!("usher_pass={none}"))]),
        (
            "HS256 with the public key",
            vec![("cookie", format!("usher_pass={hs256}"))],
        ),
        ("revoked", vec![("cookie", format!("usher_pass={revoked}"))]),
        (
            "app header, forged",
            vec![("x-usher-pass", other_key.clone())],
        ),
        (
            "forged ticket",
            vec![("cookie", format!("usher_ticket={forged_ticket}"))],
        ),
    ];
    let before = up.hits();
    for (what, headers) in &attempts {
        let mut v = proxy.visitor().await;
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for method in ["GET", "POST"] {
            let r = v.send(method, "/book/1", &hs).await;
            if method == "GET" {
                assert_eq!(r.status, 200, "{what}: the waiting page");
                assert!(
                    r.body.contains("data-state=\"paused\""),
                    "{what}: {}",
                    &r.body[..200.min(r.body.len())]
                );
                assert!(r.headers["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("default-src 'none'"));
            } else {
                assert_eq!(r.status, 503, "{what}: API gets 503");
                assert!(r.headers.contains_key("retry-after"));
                assert_eq!(r.json()["state"], "paused", "{what}");
            }
        }
    }
    assert_eq!(
        up.hits(),
        before,
        "a request without a valid pass reached the upstream"
    );
    let m = proxy.metrics();
    for reason in [
        "expired",
        "not_yet_valid",
        "wrong_issuer",
        "unknown_key",
        "bad_signature",
        "bad_algorithm",
        "revoked",
        "wrong_audience",
    ] {
        assert!(
            common::sample(&m, "usher_pass_rejections_total", &[("reason", reason)]) >= 1.0,
            "no rejection counted for {reason}"
        );
    }
    // The genuine pass does get through, and the upstream sees it as X-Usher-Pass.
    let mut v = proxy.visitor().await;
    let r = v
        .send(
            "GET",
            "/headers",
            &[("cookie", &format!("usher_pass={good}"))],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains(&format!("x-usher-pass: {good}")),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("usher_pass="),
        "usher cookies never reach the site"
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_visitors_are_admitted_in_join_order() {
    let proxy = Harness::builder()
        .room(&["mode = \"queue\"", "max_active = 1"])
        .start()
        .await;
    let mut visitors = Vec::new();
    for i in 0..200 {
        let mut v = proxy.visitor().await;
        let r = v.get(&format!("/book?visitor={i}")).await;
        assert_eq!(r.status, 200);
        assert!(v.jar.contains_key("usher_ticket"));
        visitors.push(v);
    }
    for i in 0..200 {
        visitors[i].wait_until_called(Duration::from_secs(5)).await;
        // Those behind see exactly how many are ahead of them.
        for (j, w) in visitors.iter_mut().enumerate().skip(i + 1).take(3) {
            let st = w.status().await;
            assert_eq!(st["state"], "waiting", "{j} while {i} is called");
            assert_eq!(st["ahead"], (j - i - 1) as u64, "{j} while {i} is called");
        }
        let r = visitors[i].get(&format!("/headers?visitor={i}")).await;
        assert_eq!(r.status, 200, "visitor {i} with their pass");
        let left = visitors[i].send("POST", "/_usher/leave", &[]).await;
        assert_eq!(left.json()["state"], "left");
    }
    // The site saw the visitors in join order.
    let passes = proxy.up().sessions.passes.lock().unwrap().clone();
    assert_eq!(passes.len(), 200);
    let subs: Vec<String> = passes
        .iter()
        .map(|p| {
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.split('.').nth(1).unwrap())
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&payload).unwrap()["sub"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let unique: std::collections::HashSet<_> = subs.iter().collect();
    assert_eq!(unique.len(), 200, "one pass per visitor");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn capacity_is_never_exceeded_at_the_site() {
    let proxy = Harness::builder()
        .room(&["mode = \"queue\"", "max_active = 3"])
        .start()
        .await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let mut v = proxy.visitor().await;
        v.get("/book").await;
        tasks.push(tokio::spawn(async move {
            v.wait_until_called(Duration::from_secs(20)).await;
            assert_eq!(v.get("/enter").await.status, 200);
            tokio::time::sleep(Duration::from_millis(30)).await;
            assert_eq!(v.get("/exit").await.status, 200);
            v.send("POST", "/_usher/leave", &[]).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let max = proxy
        .up()
        .sessions
        .max_inside
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=3).contains(&max), "max inside at once: {max}");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn store_outage_fails_closed_and_pass_holders_keep_going() {
    let proxy = Harness::builder()
        .room(&["mode = \"queue\"", "max_active = 1"])
        .start()
        .await;
    let (gate, up) = (proxy.gate(), proxy.up());
    let mut holder = proxy.visitor().await;
    holder.get("/book").await;
    holder.wait_until_called(Duration::from_secs(2)).await;
    let mut waiter = proxy.visitor().await;
    waiter.get("/book").await;
    assert_eq!(waiter.status().await["ahead"], 0);

    gate.store.memory().unwrap().set_available(false);
    let hits = up.hits();
    // A newcomer is not let in, and is told why (503 page, never the site).
    let mut newcomer = proxy.visitor().await;
    let r = newcomer.get("/book").await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("data-state=\"unavailable\""));
    // The waiting visitor keeps their ticket and is told admission is paused.
    let st = waiter.status().await;
    assert_eq!(st["state"], "unavailable");
    assert!(waiter.jar.contains_key("usher_ticket"));
    // Even when the holder leaves, nobody new is called during the outage.
    holder.get("/book").await; // the pass holder still gets through
    assert_eq!(up.hits(), hits + 1);
    holder.send("POST", "/_usher/leave", &[]).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(waiter.status().await["state"], "unavailable");
    assert_eq!(common::sample(&proxy.metrics(), "usher_store_up", &[]), 0.0);

    gate.store.memory().unwrap().set_available(true);
    // Admission resumes where it was: the waiter is next.
    waiter.wait_until_called(Duration::from_secs(2)).await;
    assert_eq!(waiter.get("/book").await.status, 200);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn absent_visitor_is_skipped_then_recalled_first() {
    let proxy = Harness::builder()
        .room(&[
            "mode = \"queue\"",
            "max_active = 1",
            "abandon_after = \"1s\"",
        ])
        .start()
        .await;
    let mut holder = proxy.visitor().await;
    holder.get("/book").await;
    holder.wait_until_called(Duration::from_secs(2)).await;
    let mut absent = proxy.visitor().await;
    absent.get("/book").await;
    let mut present = proxy.visitor().await;
    present.get("/book").await;
    let mut late = proxy.visitor().await;
    // `absent` stops polling; `present` keeps polling past abandon_after.
    for _ in 0..12 {
        assert_eq!(present.status().await["state"], "waiting");
        holder.get("/book").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        present.status().await["ahead"],
        0,
        "the absent visitor was skipped"
    );
    late.get("/book").await;
    holder.send("POST", "/_usher/leave", &[]).await;
    present.wait_until_called(Duration::from_secs(2)).await;
    // The absent visitor comes back within the recall window: next in, before `late`.
    assert_eq!(absent.status().await["state"], "waiting");
    present.send("POST", "/_usher/leave", &[]).await;
    absent.wait_until_called(Duration::from_secs(2)).await;
    assert_eq!(late.status().await["state"], "waiting");
    let m = proxy.metrics();
    assert_eq!(
        common::sample(&m, "usher_room_events_total", &[("event", "abandoned")]),
        1.0
    );
    proxy.shutdown().await;
}

impl Visitor {
    /// The same visitor (same cookies) on a new connection, e.g. after a restart.
    async fn reconnect(&mut self, client: &TlsClient, addr: SocketAddr) {
        self.conn = client.h1(addr).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_dash_nine_loses_nobody_and_keeps_the_order() {
    let mut proxy = Harness::builder()
        .room(&["mode = \"queue\"", "max_active = 1"])
        .line("state", "save_interval = \"100ms\"")
        .binary()
        .start()
        .await;
    let mut holder = proxy.visitor().await;
    holder.get("/book").await;
    holder.wait_until_called(Duration::from_secs(3)).await;
    let mut line = Vec::new();
    for i in 0..20 {
        let mut v = proxy.visitor().await;
        v.get("/book").await;
        assert_eq!(v.status().await["ahead"], i, "before the crash");
        line.push(v);
    }
    tokio::time::sleep(Duration::from_millis(400)).await; // a save happens
    proxy.kill_and_restart().await; // SIGKILL: no shutdown hook runs

    holder.reconnect(proxy.client(), proxy.public()).await;
    // Tickets come back in reverse order; each holder sees the same place as before.
    for (i, v) in line.iter_mut().enumerate().rev() {
        v.reconnect(proxy.client(), proxy.public()).await;
        let st = v.status().await;
        assert_eq!(st["state"], "waiting", "{i}: {st}");
        assert_eq!(st["ahead"], i as u64, "{i} after the restart");
    }
    // The pass from before the crash still works (same key) and still holds the slot.
    assert_eq!(holder.get("/book").await.status, 200);
    assert_eq!(line[0].status().await["state"], "waiting");
    holder.send("POST", "/_usher/leave", &[]).await;
    // Admission resumes in the old order.
    for i in 0..line.len() {
        line[i].wait_until_called(Duration::from_secs(3)).await;
        if let Some(next) = line.get_mut(i + 1) {
            assert_eq!(
                next.status().await["state"],
                "waiting",
                "{} overtook {i}",
                i + 1
            );
        }
        line[i].send("POST", "/_usher/leave", &[]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn waiting_page_in_chromium_counts_down_and_lands_on_the_original_url() {
    let proxy = Harness::builder()
        .room(&["mode = \"queue\"", "max_active = 1"])
        .start()
        .await;
    let addr = proxy.public();
    // One visitor inside, one waiting ahead of the browser.
    let mut holder = proxy.visitor().await;
    holder.get("/book").await;
    holder.wait_until_called(Duration::from_secs(2)).await;
    let mut ahead = proxy.visitor().await;
    ahead.get("/book").await;

    let mut b = common::cdp::Browser::start().await;
    let page = format!("https://localhost:{}/book/42?seat=3A", addr.port());
    b.goto(&page).await;
    b.wait_for(
        "document.documentElement.dataset.state === 'waiting'",
        Duration::from_secs(10),
    )
    .await;
    let text = b.eval("document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(text.contains('1'), "one visitor ahead: {text}");
    assert!(
        text.contains("Reloading") || text.contains("reload"),
        "says reloading keeps the place: {text}"
    );
    let size = b.eval("document.documentElement.outerHTML.length").await;
    assert!(size.as_u64().unwrap() <= 8192, "page is {size} characters");
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/docs/waiting-page.png"),
        b.screenshot().await,
    )
    .unwrap();

    // The line moves: the holder leaves, the visitor ahead is called; the page updates.
    holder.send("POST", "/_usher/leave", &[]).await;
    ahead.wait_until_called(Duration::from_secs(3)).await;
    b.wait_for(
        "[...document.querySelectorAll('*')].some(e => e.children.length === 0 && e.textContent.trim() === '0')",
        Duration::from_secs(10),
    )
    .await;
    // Then it is the browser's turn: the page goes to the URL it was opened with.
    ahead.send("POST", "/_usher/leave", &[]).await;
    b.wait_for(
        &format!(
            "location.href === {page:?} && document.body.innerText.includes('hello from upstream')"
        ),
        Duration::from_secs(10),
    )
    .await;
    proxy.shutdown().await;
}

async fn admin(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    common::plain_json(addr, method, path, &headers, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_api_changes_rooms_live_without_touching_the_line() {
    const TOKEN: &str = "test-admin-token-0123456789";
    let proxy = Harness::builder()
        .room(&["mode = \"queue\"", "max_active = 1"])
        .line("admin", &format!("token = \"{TOKEN}\""))
        .start()
        .await;
    let adm = proxy.admin();

    assert_eq!(admin(adm, "GET", "/admin/rooms", None, "").await.0, 401);
    assert_eq!(
        admin(
            adm,
            "GET",
            "/admin/rooms",
            Some("wrong-token-wrong-token"),
            ""
        )
        .await
        .0,
        401
    );

    let mut line = Vec::new();
    for _ in 0..4 {
        let mut v = proxy.visitor().await;
        v.get("/book").await;
        line.push(v);
    }
    line[0].wait_until_called(Duration::from_secs(2)).await;
    let (status, rooms) = admin(adm, "GET", "/admin/rooms", Some(TOKEN), "").await;
    assert_eq!(status, 200);
    let booking = &rooms["rooms"][0];
    assert_eq!(booking["name"], "booking");
    assert_eq!(booking["mode"], "queue");
    assert_eq!(booking["active"], 1);
    assert_eq!(booking["waiting"], 3);

    // Bad changes are refused and name the field.
    let (status, err) = admin(
        adm,
        "PATCH",
        "/admin/rooms/booking",
        Some(TOKEN),
        r#"{"mode":"fast"}"#,
    )
    .await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("mode")));
    let (status, _) = admin(
        adm,
        "PATCH",
        "/admin/rooms/booking",
        Some(TOKEN),
        r#"{"max_actve":3}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        admin(adm, "PATCH", "/admin/rooms/nope", Some(TOKEN), "{}")
            .await
            .0,
        404
    );

    // Pause: nobody else is called even when the slot frees; the order is kept.
    let (status, view) = admin(
        adm,
        "PATCH",
        "/admin/rooms/booking",
        Some(TOKEN),
        r#"{"mode":"paused"}"#,
    )
    .await;
    assert_eq!((status, view["mode"].as_str()), (200, Some("paused")));
    line[0].send("POST", "/_usher/leave", &[]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let st = line[1].status().await;
    assert_eq!(
        (st["state"].as_str(), st["ahead"].as_u64()),
        (Some("paused"), Some(0))
    );
    // Resume with room for two: the next two are called, in order.
    let (status, view) = admin(
        adm,
        "PATCH",
        "/admin/rooms/booking",
        Some(TOKEN),
        r#"{"mode":"queue","max_active":2}"#,
    )
    .await;
    assert_eq!((status, view["max_active"].as_u64()), (200, Some(2)));
    line[1].wait_until_called(Duration::from_secs(2)).await;
    line[2].wait_until_called(Duration::from_secs(2)).await;
    assert_eq!(line[3].status().await["ahead"], 0);
    // The admin API is never reachable on the public listener.
    let mut v = proxy.visitor().await;
    let r = v
        .send(
            "GET",
            "/admin/rooms",
            &[("authorization", &format!("Bearer {TOKEN}"))],
        )
        .await;
    assert!(
        !r.body.contains("\"rooms\""),
        "admin API answered on the public listener"
    );
    // Schedule a sale: newcomers go to the pre-queue.
    let in_an_hour =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(3600));
    let an_hour_ago =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() - Duration::from_secs(3600));
    let body = format!(r#"{{"prequeue_start":"{an_hour_ago}","start":"{in_an_hour}"}}"#);
    let (status, view) = admin(adm, "PATCH", "/admin/rooms/booking", Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{view}");
    assert!(view["event"]["start"].as_u64().is_some(), "{view}");
    let (status, _) = admin(
        adm,
        "PATCH",
        "/admin/rooms/booking",
        Some(TOKEN),
        r#"{"start":"tomorrow"}"#,
    )
    .await;
    assert_eq!(status, 400);
    let mut newcomer = proxy.visitor().await;
    newcomer.get("/book").await;
    assert_eq!(newcomer.status().await["phase"], "prequeue");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prequeue_is_ordered_at_random_at_the_start_then_first_come_first_served() {
    let at = |secs_from_now: i64| {
        let t = std::time::SystemTime::now() + Duration::from_secs(secs_from_now.max(0) as u64)
            - Duration::from_secs((-secs_from_now).max(0) as u64);
        humantime::format_rfc3339_seconds(t).to_string()
    };
    let prequeue = format!("prequeue_start = \"{}\"", at(-60));
    let start = format!("start = \"{}\"", at(3));
    let proxy = Harness::builder()
        .room(&["mode = \"queue\"", "max_active = 1", &prequeue, &start])
        .start()
        .await;
    let up = proxy.up();
    let hits = up.hits();
    let mut early = Vec::new();
    for i in 0..20 {
        let mut v = proxy.visitor().await;
        let r = v.get(&format!("/book?early={i}")).await;
        assert_eq!(r.status, 200);
        let st = v.status().await;
        assert_eq!(
            (st["state"].as_str(), st["phase"].as_str()),
            (Some("waiting"), Some("prequeue")),
            "{st}"
        );
        assert!(st["ahead"].is_null(), "no position before the draw: {st}");
        early.push((i, v));
    }
    assert_eq!(up.hits(), hits, "nobody enters before the start");
    // Wait for the start, then a late visitor joins.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut late = proxy.visitor().await;
    late.get("/book?late").await;
    // Admit everyone one at a time and record the order.
    let mut order = Vec::new();
    while !early.is_empty() {
        let mut next = None;
        for (k, (_, v)) in early.iter_mut().enumerate() {
            if v.status().await["state"] == "called" {
                next = Some(k);
                break;
            }
        }
        let Some(k) = next else {
            assert_eq!(
                late.status().await["state"],
                "waiting",
                "the late visitor overtook the pre-queue"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (i, mut v) = early.remove(k);
        assert_eq!(v.get("/book").await.status, 200);
        v.send("POST", "/_usher/leave", &[]).await;
        order.push(i);
    }
    assert_ne!(
        order,
        (0..20).collect::<Vec<_>>(),
        "the pre-queue was served in arrival order"
    );
    late.wait_until_called(Duration::from_secs(3)).await;
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admission_rate_is_never_exceeded_at_the_site() {
    // 120 a minute = 2 a second (burst of one second's worth), capacity to spare.
    let proxy = Harness::builder()
        .room(&[
            "mode = \"queue\"",
            "max_active = 1000",
            "new_per_minute = 120",
        ])
        .start()
        .await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let mut v = proxy.visitor().await;
        v.get("/book").await;
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_millis(3000);
            while Instant::now() < deadline {
                if v.status().await["state"] == "called" {
                    assert_eq!(v.get("/enter").await.status, 200);
                    return Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        }));
    }
    let mut admitted = Vec::new();
    for t in tasks {
        if let Some(at) = t.await.unwrap() {
            admitted.push(at.duration_since(started));
        }
    }
    // In any span of t seconds at most 2 + 2·t are admitted (one second's burst).
    admitted.sort();
    for (i, a) in admitted.iter().enumerate() {
        for b in &admitted[i..] {
            let span = (*b - *a).as_secs_f64();
            let n = admitted.iter().filter(|x| **x >= *a && **x <= *b).count() as f64;
            assert!(
                n <= 2.0 + 2.0 * span + 1.0,
                "{n} admitted within {span:.2} s"
            );
        }
    }
    let n = admitted.len();
    assert!((4..=10).contains(&n), "{n} admitted in 3 s at 2/s");
    proxy.shutdown().await;
}
