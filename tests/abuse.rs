//! Skipping and hoarding made expensive: a join challenge (proof of work) before a place
//! in line, harder for a network that asks too fast, and a cap on places per network —
//! against the real proxy over TLS, with a scripted bot farm and a real browser.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::harness::Harness;
use usher::protocol::challenge::{leading_zero_bits, solve};
use usher::store::Store;

/// A client behind the trusted front proxy (loopback): its address is `ip`.
struct Client {
    ip: String,
    cfg: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
}

impl Client {
    async fn call(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
    ) -> (u16, serde_json::Value, Vec<String>) {
        let mut headers = vec![("x-forwarded-for", self.ip.as_str())];
        headers.extend_from_slice(extra);
        common::tls_json(self.addr, self.cfg.clone(), method, path, &headers, "").await
    }

    /// Asks for the site; solves the challenge it is given (when `solve_it`) and joins.
    async fn try_join(&self, solve_it: bool) -> (u16, serde_json::Value, Vec<String>) {
        let (status, body, set) = self.call("GET", "/book", &[]).await;
        if status != 428 || !solve_it {
            return (status, body, set);
        }
        let challenge = body["challenge"].as_str().unwrap().to_string();
        let bits = body["difficulty"].as_u64().unwrap() as u8;
        let solution = solve(&challenge, bits);
        self.call(
            "POST",
            "/_usher/join?room=booking",
            &[
                ("x-usher-challenge", &challenge),
                ("x-usher-solution", &solution),
            ],
        )
        .await
    }
}

/// The proxy behind a trusted front proxy (loopback), so test clients can come from any
/// address; `room` and `abuse` lines are added to the booking room and `[abuse]`.
async fn start(room: &[&str], abuse: &[&str]) -> Harness {
    Harness::builder()
        .room(room)
        .line("forwarding", "trusted_proxies = [\"127.0.0.1/32\"]")
        .lines("abuse", abuse)
        .start()
        .await
}

const QUEUE: [&str; 2] = ["mode = \"queue\"", "max_active = 1"];

fn has_ticket(set: &[String]) -> bool {
    set.iter()
        .any(|c| c.starts_with("usher_ticket=") && c.len() > "usher_ticket=".len())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_farm_that_does_not_solve_the_challenge_gets_no_place() {
    let proxy = start(&QUEUE, &["challenge_bits = 12"]).await;
    let (addr, cfg) = (proxy.public(), proxy.client_config(&[]));
    let (gate, up) = (proxy.gate(), proxy.up());
    let hits = up.hits();

    // 1,000 scripted clients from 1,000 addresses, 50 at a time: asking for the site, for
    // a place without an answer, with a made-up answer, or replaying one challenge with a
    // guessed solution. None of them does the work.
    let limit = Arc::new(tokio::sync::Semaphore::new(50));
    let mut tasks = Vec::new();
    for i in 0..1000u32 {
        let c = Client {
            ip: format!("198.18.{}.{}", i / 250, i % 250 + 1),
            cfg: cfg.clone(),
            addr,
        };
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = limit.acquire().await.unwrap();
            let (status, body, set) = match i % 4 {
                0 => c.call("GET", "/book", &[]).await,
                1 => c.call("POST", "/_usher/join?room=booking", &[]).await,
                2 => {
                    // A guess, made sure to be wrong (a lucky guess is the work itself).
                    let (_, first, _) = c.call("GET", "/book", &[]).await;
                    let ch = first["challenge"].as_str().unwrap_or("x").to_string();
                    let guess = (0u64..)
                        .map(|n| n.to_string())
                        .find(|n| leading_zero_bits(&ch, n) < 12)
                        .unwrap();
                    c.call(
                        "POST",
                        "/_usher/join?room=booking",
                        &[("x-usher-challenge", &ch), ("x-usher-solution", &guess)],
                    )
                    .await
                }
                _ => {
                    c.call(
                        "POST",
                        "/_usher/join?room=booking",
                        &[
                            ("x-usher-challenge", "forged.challenge"),
                            ("x-usher-solution", "0"),
                        ],
                    )
                    .await
                }
            };
            (status, body, set)
        }));
    }
    let mut challenged = 0;
    for t in tasks {
        let (status, body, set) = t.await.unwrap();
        assert!(!has_ticket(&set), "a bot got a ticket: {body}");
        if status == 428 {
            assert_eq!(body["state"], "challenge", "{body}");
            challenged += 1;
        } else {
            panic!("unexpected answer {status}: {body}");
        }
    }
    assert_eq!(challenged, 1000);
    let stats = gate.store.stats("booking").await.unwrap();
    assert_eq!(
        (stats.waiting, stats.active),
        (0, 0),
        "no bot holds a place"
    );
    assert_eq!(up.hits(), hits, "no bot reached the site");
    let m = proxy.metrics();
    assert!(common::sample(&m, "usher_abuse_total", &[("event", "challenge_issued")]) >= 1000.0);
    assert!(common::sample(&m, "usher_abuse_total", &[("event", "challenge_failed")]) >= 500.0);

    // A visitor who does the work gets a place; the same answer cannot be used twice.
    let honest = Client {
        ip: "192.0.2.10".into(),
        cfg: cfg.clone(),
        addr,
    };
    let (status, body, _) = honest.call("GET", "/book", &[]).await;
    assert_eq!(status, 428);
    let ch = body["challenge"].as_str().unwrap().to_string();
    let sol = solve(&ch, body["difficulty"].as_u64().unwrap() as u8);
    let answer = [
        ("x-usher-challenge", ch.as_str()),
        ("x-usher-solution", sol.as_str()),
    ];
    let (status, body, set) = honest
        .call("POST", "/_usher/join?room=booking", &answer)
        .await;
    assert!(has_ticket(&set), "{status} {body}");
    assert_eq!(body["state"], "waiting", "{body}");
    let (status, _, set) = honest
        .call("POST", "/_usher/join?room=booking", &answer)
        .await;
    assert_eq!(status, 428, "a replayed answer buys nothing");
    assert!(!has_ticket(&set));
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_network_that_solves_every_challenge_gets_no_more_than_its_share() {
    let proxy = start(
        &QUEUE,
        &[
            "challenge_bits = 8",
            "challenge_max_bits = 14",
            "challenge_raise_above = 3",
            "tickets_per_network = 5",
            "tickets_window = \"10m\"",
        ],
    )
    .await;
    let (addr, cfg) = (proxy.public(), proxy.client_config(&[]));
    let hoarder = Client {
        ip: "203.0.113.66".into(),
        cfg: cfg.clone(),
        addr,
    };
    let (mut places, mut refused) = (0, 0);
    for _ in 0..20 {
        let (status, body, set) = hoarder.try_join(true).await;
        if has_ticket(&set) {
            places += 1;
        } else if status == 429 {
            assert_eq!(body["state"], "too_many", "{body}");
            assert!(body["retry_after"].as_u64().unwrap() > 0);
            refused += 1;
        } else {
            panic!("unexpected {status}: {body}");
        }
    }
    assert_eq!(
        (places, refused),
        (5, 15),
        "the cap is 5 places per network"
    );
    // Its neighbours on other networks are not affected.
    let neighbour = Client {
        ip: "203.0.113.67".into(),
        cfg,
        addr,
    };
    let (status, body, set) = neighbour.try_join(true).await;
    assert!(has_ticket(&set), "{status} {body}");

    // A visitor in line who opens more tabs (same cookies) keeps one place.
    let ticket = set
        .iter()
        .find(|c| c.starts_with("usher_ticket="))
        .unwrap()
        .clone();
    let before = proxy.gate().store.stats("booking").await.unwrap();
    let mut aheads = Vec::new();
    for _ in 0..5 {
        let (status, body, _) = neighbour.call("GET", "/book", &[("cookie", &ticket)]).await;
        assert_eq!(status, 503, "{body}");
        aheads.push(body["ahead"].as_u64().unwrap());
    }
    assert!(
        aheads.windows(2).all(|w| w[0] == w[1]),
        "one place: {aheads:?}"
    );
    let after = proxy.gate().store.stats("booking").await.unwrap();
    // Every place handed out, wherever it is now: the room may call the head of the line
    // meanwhile (waiting → called), which moves a place but makes none.
    let places = |s: &usher::room::Stats| {
        u64::from(s.waiting + s.recalled_waiting + s.called)
            + s.admitted_total
            + s.lapsed_total
            + s.abandoned_total
    };
    assert_eq!(
        places(&after),
        places(&before),
        "no new place for a new tab: {before:?} → {after:?}"
    );

    // Asking fast makes the challenge harder for that network only.
    let burst = Client {
        ip: "203.0.113.99".into(),
        cfg: proxy.client_config(&[]),
        addr,
    };
    let mut bits = Vec::new();
    for _ in 0..12 {
        let (status, body, _) = burst.call("GET", "/book", &[]).await;
        assert_eq!(status, 428);
        bits.push(body["difficulty"].as_u64().unwrap());
    }
    assert_eq!(bits[0], 8, "{bits:?}");
    assert!(
        *bits.last().unwrap() > 8,
        "difficulty rose under a burst: {bits:?}"
    );
    assert!(bits.iter().all(|b| *b <= 14), "{bits:?}");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_waiting_page_solves_the_challenge_in_the_browser() {
    let proxy = start(&["mode = \"paused\""], &["challenge_bits = 14"]).await;
    let addr = proxy.public();
    // Someone is inside, so the browser must wait in line.
    let inside = Client {
        ip: "192.0.2.1".into(),
        cfg: proxy.client_config(&[]),
        addr,
    };
    let (_, _, set) = inside.try_join(true).await;
    assert!(has_ticket(&set));

    let mut b = common::cdp::Browser::start().await;
    let started = Instant::now();
    b.goto(&format!("https://localhost:{}/book/7", addr.port()))
        .await;
    b.wait_for(
        "document.documentElement.dataset.state === 'paused'",
        Duration::from_secs(20),
    )
    .await;
    let took = started.elapsed();
    println!("the page solved a 14-bit challenge and joined in {took:?}");
    let ahead = b.eval("document.getElementById('a').textContent").await;
    assert_eq!(ahead, "1", "one visitor ahead");
    // The ticket cookie is HttpOnly; the store says the browser joined:
    let stats = proxy.gate().store.stats("booking").await.unwrap();
    assert_eq!(stats.waiting, 2, "{stats:?}");
    proxy.shutdown().await;
}

/// A visitor from `ip` who joins the line and polls until called; returns their pass.
async fn admitted(c: &Client) -> String {
    let (_, _, set) = c.call("GET", "/book", &[]).await;
    let ticket = set
        .iter()
        .find(|v| v.starts_with("usher_ticket="))
        .expect("a place in line")
        .clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body, set) = c
            .call("GET", "/_usher/status?room=booking", &[("cookie", &ticket)])
            .await;
        if let Some(p) = set.iter().find(|v| v.starts_with("usher_pass=")) {
            return p["usher_pass=".len()..].to_string();
        }
        assert!(Instant::now() < deadline, "never called: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_copied_to_twenty_clients_is_revoked_and_its_owner_told_why() {
    let room = ["mode = \"queue\"", "max_active = 5", "new_per_minute = 0"];
    let proxy = start(&room, &["pass_max_networks = 3"]).await;
    let (addr, cfg) = (proxy.public(), proxy.client_config(&[]));
    let client = |ip: String| Client {
        ip,
        cfg: cfg.clone(),
        addr,
    };
    let owner = client("192.0.2.50".into());
    let pass = admitted(&owner).await;
    let header = [("x-usher-pass", pass.as_str())];
    assert_eq!(owner.call("GET", "/headers", &header).await.0, 200);
    let gate = proxy.gate();
    assert_eq!(gate.store.stats("booking").await.unwrap().active, 1);

    // Twenty other clients on twenty networks use the copied pass. The owner's network
    // plus two others are tolerated (a phone moving between networks); the fourth
    // network revokes it, for everyone.
    let up = proxy.up();
    let hits = up.hits();
    let mut answers = Vec::new();
    for i in 0..20 {
        let (status, body, _) = client(format!("203.0.113.{}", i + 1))
            .call("GET", "/headers", &header)
            .await;
        answers.push((status, body));
    }
    let through = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(through, 2, "{answers:?}");
    for (status, body) in &answers[2..] {
        assert_eq!(*status, 403, "{body}");
        assert_eq!(body["error"]["code"], "pass_shared", "{body}");
    }
    assert_eq!(up.hits(), hits + 2);
    // The owner's next request is told why, and the slot is free for the next visitor.
    let (status, body, set) = owner.call("GET", "/headers", &header).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (403, Some("shared")),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    assert!(
        set.iter().any(|c| c == "usher_pass="),
        "the pass cookie is cleared: {set:?}"
    );
    assert_eq!(gate.store.stats("booking").await.unwrap().active, 0);
    let m = proxy.metrics();
    assert_eq!(
        common::sample(&m, "usher_abuse_total", &[("event", "pass_shared")]),
        1.0
    );
    assert!(common::sample(&m, "usher_pass_rejections_total", &[("reason", "revoked")]) >= 18.0);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_bound_to_its_network_does_not_work_from_another() {
    let room = ["mode = \"queue\"", "max_active = 5", "new_per_minute = 0"];
    let proxy = start(&room, &["bind_pass_to_network = true"]).await;
    let (addr, cfg) = (proxy.public(), proxy.client_config(&[]));
    let owner = Client {
        ip: "2001:db8:5:6::1".into(),
        cfg: cfg.clone(),
        addr,
    };
    let pass = admitted(&owner).await;
    let header = [("x-usher-pass", pass.as_str())];
    // The same /64 (another device at home) is the same network; elsewhere it is refused
    // (treated as no pass: the room answers), and the owner keeps going.
    let home = Client {
        ip: "2001:db8:5:6::99".into(),
        cfg: cfg.clone(),
        addr,
    };
    assert_eq!(home.call("GET", "/headers", &header).await.0, 200);
    let thief = Client {
        ip: "2001:db8:7:8::1".into(),
        cfg,
        addr,
    };
    let (status, body, _) = thief.call("GET", "/headers", &header).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (503, Some("waiting")),
        "{body}"
    );
    assert_eq!(owner.call("GET", "/headers", &header).await.0, 200);
    let m = proxy.metrics();
    assert_eq!(
        common::sample(
            &m,
            "usher_pass_rejections_total",
            &[("reason", "wrong_network")]
        ),
        1.0
    );
    proxy.shutdown().await;
}
