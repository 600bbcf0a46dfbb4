//! `usher rush` against `usher demo` in-process: thousands of simulated visitors walk the
//! real flow over real TLS (line, polls, passes, bookings), and the run's own report must
//! show 0 oversold — checked against the database too — and render in Chromium.

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::harness::{Builder, Harness};
use usher::demo::DemoOptions;
use usher::room::Mode;
use usher::rush::{Arrival, Config, EventChoice, Summary, Trust};

/// Confirmed bookings of `event` in the demo's database.
fn confirmed(dir: &Path, event: i64) -> i64 {
    let conn = usher::backend::db::open(&dir.join("backend.db")).unwrap();
    conn.query_row(
        "SELECT COALESCE(SUM(quantity), 0) FROM bookings WHERE event_id = ?1 AND status = 'confirmed'",
        [event],
        |r| r.get(0),
    )
    .unwrap()
}

/// Every visitor is accounted for, once.
fn assert_accounted(s: &Summary) {
    assert_eq!(s.arrived, s.visitors, "{}", s.text());
    let ended = s.booked
        + s.sold_out
        + s.seat_taken
        + s.abandoned
        + s.closed
        + s.timed_out
        + s.errors_total;
    assert_eq!(
        ended,
        s.visitors,
        "each visit ends exactly once\n{}",
        s.text()
    );
    assert_eq!(
        s.admitted,
        s.booked + s.sold_out + s.seat_taken,
        "everyone who got in either booked or was told sold out\n{}",
        s.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn three_thousand_visitors_rush_1111_coupons_and_none_is_oversold() {
    // The report is checked in Chromium at the end: say at once if it is missing.
    common::require("chromium");
    // The demo room lets 3 in at 30 a minute; a rehearsal of 3,000 needs a wider door to
    // finish in seconds — still narrow enough that most visitors wait in line.
    let options = DemoOptions {
        max_active: 300,
        new_per_minute: 60_000,
        mode: Mode::Auto,
    };
    let demo = Harness::builder().demo_with(options).start().await;
    let mut config = Config::new(format!("https://localhost:{}", demo.public().port()), 3_000);
    config.arrival = Arrival::Spike(Duration::from_secs(2));
    config.event = EventChoice::Query("coupon".into());
    config.trust = Trust::Ca(demo.certificate_file().to_path_buf());
    config.timeout = Duration::from_secs(90);
    let summary = usher::rush::run(config).await.unwrap();
    let text = summary.text();
    println!("{text}");

    let event = summary.event.clone().expect("a visitor read the event");
    assert_eq!(event.capacity, 1111, "{text}");
    assert_eq!(summary.oversold, Some(0), "{text}");
    assert_eq!(
        summary.booked, 1111,
        "every coupon sold, none twice\n{text}"
    );
    assert_eq!(summary.errors_total, 0, "{:?}\n{text}", summary.errors);
    assert_eq!(summary.timed_out, 0, "{text}");
    assert!(summary.sold_out > 0, "{text}");
    assert!(
        summary.waited > 1_000,
        "most visitors waited in line\n{text}"
    );
    assert!(summary.abandoned > 0 && summary.reconnected > 0 && summary.tabs > 0);
    assert_accounted(&summary);
    assert!(summary.sold_out_after_ms.is_some(), "{text}");
    assert_eq!(summary.latency["book"].count, summary.admitted);
    assert!(!summary.timeline.is_empty());
    assert!(summary.timeline.iter().any(|s| s.line.is_some()));
    // The site agrees: 1,111 coupons held by confirmed bookings.
    assert_eq!(confirmed(demo.dir(), event.id), 1111);

    // The report: one self-contained page with the numbers and three charts.
    let report = demo.dir().join("rush-report.html");
    usher::rush::write_report(&summary, &report).unwrap();
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for (id, value) in [("booked", "1,111"), ("oversold", "0"), ("errors", "0")] {
        assert!(
            html.contains(&format!("<td id=\"{id}\">{value}</td>")),
            "{id} = {value} in the report"
        );
    }
    assert!(!html.contains("<script") && !html.contains("http://"));

    let mut b = common::cdp::Browser::start().await;
    b.watch_errors().await;
    b.goto(&format!("file://{}", report.display())).await;
    b.wait_for(
        "document.readyState === 'complete' && document.querySelectorAll('svg').length === 3",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        b.eval("document.getElementById('booked').textContent")
            .await,
        "1,111"
    );
    assert_eq!(
        b.eval("document.getElementById('verdict').textContent.startsWith('0 oversold')")
            .await,
        true
    );
    let drawn = b
        .eval(
            "[...document.querySelectorAll('svg path')].filter(p => p.getTotalLength() > 0).length",
        )
        .await;
    assert!(drawn.as_u64().unwrap() >= 4, "lines drawn: {drawn}");
    assert_eq!(b.errors().await, Vec::<String>::new());
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rush-report.png"),
        b.screenshot().await,
    )
    .unwrap();
    demo.shutdown().await;
}

/// A second proxy in front of the demo's site, with a self-signed certificate, signing
/// passes with the demo's key (the site checks them) and keeping its state in `state`
/// under the demo's directory; its rooms are the caller's.
fn in_front_of(demo: &Harness, state: &str) -> Builder {
    let q = |p: PathBuf| format!("{:?}", p.display().to_string());
    let key = q(demo.dir().join("keys/pass-demo.key"));
    Harness::builder()
        .self_signed()
        .line("tls", "self_signed_names = [\"localhost\"]")
        .upstream(demo.backend_addr())
        .line("passes", "issuer = \"usher-demo\"")
        .line("passes", &format!("signing_key = {key}"))
        .line("state", &format!("dir = {}", q(demo.dir().join(state))))
}

#[tokio::test(flavor = "multi_thread")]
async fn visitors_solve_join_challenges_and_book_an_event_by_id() {
    let demo = Harness::builder().demo().start().await;
    let dir = demo.dir();
    // A second proxy in front of the demo's site, signing with the demo's key: a strict
    // room (everyone queues) that asks for a proof of work before a place in line.
    let strict = in_front_of(&demo, "strict-state")
        .lines(
            "abuse",
            &["challenge_bits = 8", "challenge_raise_above = 0"],
        )
        .config_toml(
            r#"[[rooms]]
name = "booking"
paths = ["/"]
mode = "queue"
max_active = 40
new_per_minute = 60000
"#,
        )
        .start()
        .await;
    let mut config = Config::new(format!("https://127.0.0.1:{}", strict.public().port()), 200);
    config.arrival = Arrival::Ramp(Duration::from_secs(1));
    config.event = EventChoice::Id(3);
    config.trust = Trust::Insecure;
    config.abandon = 0.0;
    config.reconnect = 0.1;
    config.tabs = 0.1;
    config.connections = 2;
    config.timeout = Duration::from_secs(60);
    let summary = usher::rush::run(config).await.unwrap();
    let text = summary.text();
    println!("{text}");
    // Every visitor did the work once; a visitor polling from two tabs may do it once more
    // when its second tab's poll crosses the first tab's admission (the place is claimed,
    // so that poll is a newcomer's) — never more than that.
    assert!(
        (200..=200 + summary.tabs).contains(&summary.challenges),
        "one proof of work per visitor (+ at most one per second tab)\n{text}"
    );
    assert_eq!(
        summary.waited, 200,
        "a queue room puts everyone in line\n{text}"
    );
    assert_eq!(summary.booked, 200, "{text}");
    assert_eq!(summary.oversold, Some(0), "{text}");
    assert_eq!(summary.errors_total, 0, "{:?}\n{text}", summary.errors);
    assert_accounted(&summary);
    assert_eq!(confirmed(dir, 3), 200);
    strict.shutdown().await;
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_site_says_sold_out_the_line_is_told_at_once() {
    let demo = Harness::builder().demo().start().await;
    let dir = demo.dir();
    // A room for the coupon event alone (the demo's third), listening to the site's
    // X-Usher-Sold-Out: once the last coupon is gone, nobody else is let in to find out.
    let proxy = in_front_of(&demo, "coupon-state")
        .config_toml(
            r#"[[rooms]]
# The pass audience the site checks.
name = "booking"
paths = ["/api/events/3"]
mode = "queue"
max_active = 200
new_per_minute = 30000
close_when_sold_out = true
"#,
        )
        .start()
        .await;
    let target = format!("https://127.0.0.1:{}", proxy.public().port());
    let mut config = Config::new(target.clone(), 4_000);
    config.arrival = Arrival::Spike(Duration::from_secs(2));
    config.event = EventChoice::Id(3);
    config.trust = Trust::Insecure;
    config.connections = 4;
    config.timeout = Duration::from_secs(90);
    let summary = usher::rush::run(config).await.unwrap();
    let text = summary.text();
    println!("{text}");
    assert_eq!(summary.booked, 1111, "{text}");
    assert_eq!(summary.oversold, Some(0), "{text}");
    assert_eq!(summary.errors_total, 0, "{:?}\n{text}", summary.errors);
    assert_accounted(&summary);
    assert_eq!(confirmed(dir, 3), 1111);
    // At 500 a second, letting everyone in to read "sold out" would have taken the whole
    // line; most of it heard "closed" instead, without ever reaching the site.
    assert!(
        summary.closed >= 1_500,
        "{} told closed, {} let in only to find it sold out\n{text}",
        summary.closed,
        summary.sold_out
    );
    // The room stays closed for newcomers: a clear answer, not a place in a dead line.
    let (status, body, _) = common::tls_json(
        proxy.public(),
        proxy.client_config(&[]),
        "GET",
        "/api/events/3",
        &[],
        "",
    )
    .await;
    assert_eq!(body["state"], "closed", "{status} {body}");
    proxy.shutdown().await;
    demo.shutdown().await;
}

/// A child process, killed when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The commands as an operator types them: `usher demo` with a wider door, then `usher
/// rush` against it, trusting the certificate file the demo wrote.
#[test]
fn the_rush_command_against_the_demo_command_sells_1111_coupons_once_each() {
    const BIN: &str = env!("CARGO_BIN_EXE_usher");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut demo = Running(
        Command::new(BIN)
            .arg("demo")
            .arg("--dir")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .args(["--max-active", "300", "--per-minute", "60000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The demo says where it listens (port 0: the OS picked one). Its stdout stays open
    // until the end: a closed pipe would fail its next print.
    let mut lines = std::io::BufReader::new(demo.0.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the demo exited").unwrap();
        if let Some(url) = line
            .trim()
            .strip_prefix("site (through the waiting room): ")
        {
            break url.trim_end_matches('/').to_string();
        }
    };
    let report = dir.path().join("report.html");
    let out = Command::new(BIN)
        .args(["rush", "--target", &url, "--visitors", "3000"])
        .args(["--arrival", "spike:2s", "--event-query", "coupon"])
        .args(["--timeout", "90s", "--json"])
        .arg("--ca")
        .arg(data.join("demo-cert.pem"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "usher rush: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(s["event"]["capacity"], 1111, "{text}");
    assert_eq!(s["booked"], 1111, "{text}");
    assert_eq!(s["oversold"], 0, "{text}");
    assert_eq!(s["errors_total"], 0, "{text}");
    assert_eq!(s["timed_out"], 0, "{text}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<td id=\"booked\">1,111</td>"));
    let event = s["event"]["id"].as_i64().unwrap();
    assert_eq!(confirmed(&data, event), 1111);
}
