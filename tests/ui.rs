//! The ticket site's web UI in headless Chromium, through `usher demo`. One visitor's
//! journey: the room is full, so they wait in line on the waiting page until the page
//! itself lets them in; then they search, open the coupon event, book, find the booking
//! in my bookings and cancel it, and book a concert seat on the seat map. Every step uses
//! real clicks and key presses and is checked on screen; the end state is checked in the
//! database.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cdp::Browser;
use common::harness::Harness;
use serde_json::Value;
use usher::store::Store;

/// How long one UI step may take on a slow, busy machine.
const STEP: Duration = Duration::from_secs(15);

/// A visitor without a browser: a fresh TLS connection per request, cookies kept the way
/// a browser keeps them.
struct Visitor {
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    jar: BTreeMap<String, String>,
}

impl Visitor {
    fn new(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>) -> Self {
        Self {
            addr,
            tls: tls.clone(),
            jar: BTreeMap::new(),
        }
    }

    /// One request through the proxy; the status and the body as JSON (`Null` if not).
    async fn send(&mut self, method: &str, path: &str) -> (u16, Value) {
        let cookie = self
            .jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let headers: &[(&str, &str)] = if self.jar.is_empty() {
            &[]
        } else {
            &[("cookie", &cookie)]
        };
        let (status, body, set) =
            common::tls_json(self.addr, self.tls.clone(), method, path, headers, "").await;
        for pair in set {
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_string(), value.to_string());
            }
        }
        (status, body)
    }

    /// Asks for the site. `None` when let in; else the waiting room's answer (a place in
    /// line, with the ticket cookie kept).
    async fn arrive(&mut self) -> Option<Value> {
        let (status, body) = self.send("GET", "/api/events").await;
        if status == 200 {
            assert!(self.jar.contains_key("usher_pass"), "{:?}", self.jar);
            return None;
        }
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["state"], "waiting", "{body}");
        assert!(self.jar.contains_key("usher_ticket"), "{:?}", self.jar);
        Some(body)
    }

    /// Polls its place until called; the call gives it a pass, which lets it through.
    async fn wait_until_called(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (_, st) = self.send("GET", "/_usher/status").await;
            if st["state"] == "called" {
                break;
            }
            assert_eq!(st["state"], "waiting", "{st}");
            assert!(
                Instant::now() < deadline,
                "not called within {within:?}: {st}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (status, body) = self.send("GET", "/api/events").await;
        assert_eq!(status, 200, "the pass lets it through: {body}");
        assert_eq!(body["total"], 3, "{body}");
    }

    /// Comes in, at once or after waiting; it then holds one of the room's slots.
    async fn enter(&mut self) {
        if self.arrive().await.is_some() {
            self.wait_until_called(Duration::from_secs(30)).await;
        }
    }

    /// Ends its session (`POST /_usher/leave` with its pass): the slot is free at once.
    async fn leave(&mut self) {
        let (status, body) = self.send("POST", "/_usher/leave").await;
        assert_eq!(
            (status, &body["state"]),
            (200, &Value::from("left")),
            "{body}"
        );
    }
}

async fn room(demo: &Harness) -> usher::room::Stats {
    demo.gate().store.stats("booking").await.unwrap()
}

/// JavaScript: the visible text of the first element matching `selector`, whitespace
/// collapsed ("" when there is none).
fn js_text(selector: &str) -> String {
    format!("(document.querySelector({selector:?})?.innerText ?? '').replace(/\\s+/g, ' ').trim()")
}

/// The visible text of `selector`, as `js_text`.
async fn text(b: &mut Browser, selector: &str) -> String {
    let v = b.eval(&js_text(selector)).await;
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_waits_then_searches_books_and_cancels_in_the_web_ui() {
    let demo = Harness::builder().demo().start().await;
    let (addr, tls) = (demo.public(), demo.client_config(&[]));
    let db = usher::backend::db::open(&demo.dir().join("backend.db")).unwrap();
    let event_id = |kind: &str| -> i64 {
        db.query_row("SELECT id FROM events WHERE kind = ?1", [kind], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let (coupon, concert) = (event_id("coupon"), event_id("concert"));
    let mut b = Browser::start().await;
    b.set_language("en-US").await;
    b.watch_errors().await;

    // ── The line. Three visitors fill the room (auto, max_active = 3; the rate lets one
    // in every 2 s, so the second and third wait briefly), a fourth waits in line.
    let mut inside = Vec::new();
    for _ in 0..3 {
        let mut v = Visitor::new(addr, &tls);
        v.enter().await;
        inside.push(v);
    }
    let s = room(&demo).await;
    assert_eq!((s.active, s.called, s.waiting), (3, 0, 0), "{s:?}");
    let mut ahead = Visitor::new(addr, &tls);
    let place = ahead.arrive().await.expect("the room is full");
    assert_eq!(place["ahead"], 0, "{place}");

    // The browser opens the site and gets the waiting page, one visitor ahead of it.
    b.goto(&format!("https://localhost:{}/", addr.port())).await;
    b.wait_for(
        "document.documentElement.dataset.state === 'waiting' && !!document.getElementById('a')",
        STEP,
    )
    .await;
    let page = text(&mut b, "body").await;
    assert!(page.contains("People ahead of you"), "{page}");
    assert_eq!(text(&mut b, "#a").await, "1", "one visitor ahead: {page}");
    assert!(
        b.eval("document.getElementById('main') === null").await == Value::Bool(true),
        "the site is not shown while waiting"
    );
    let s = room(&demo).await;
    assert_eq!((s.active, s.waiting), (3, 2), "{s:?}");

    // One visitor inside leaves: the one ahead is called and comes in; the page, still
    // waiting (the room is full again), now shows nobody ahead.
    inside.pop().unwrap().leave().await;
    ahead.wait_until_called(Duration::from_secs(30)).await;
    b.wait_for(&format!("{} === '0'", js_text("#a")), STEP)
        .await;
    assert_eq!(
        b.eval("document.documentElement.dataset.state").await,
        "waiting"
    );
    let s = room(&demo).await;
    assert_eq!((s.active, s.waiting), (3, 1), "{s:?}");

    // A second one leaves: the page's own poll is called, gets the pass and goes back to
    // `/` — nobody navigates the browser — where the site lists every event.
    inside.pop().unwrap().leave().await;
    b.wait_for(
        &format!(
            "location.pathname === '/' && !!document.querySelector('form[role=search] #q') && {} === '3 events'",
            js_text("main > p[aria-live]")
        ),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        b.eval("document.querySelectorAll('a.card').length").await,
        3
    );
    let s = room(&demo).await;
    assert_eq!((s.active, s.waiting, s.called), (3, 0, 0), "{s:?}");

    // ── Search: type into the box, press Enter. Only the coupon event matches.
    b.click("#q").await;
    b.type_text("coupon").await;
    b.press_enter().await;
    b.wait_for(
        &format!(
            "location.hash === '#/?q=coupon' && {} === '1 event' && document.querySelectorAll('a.card').length === 1",
            js_text("main > p[aria-live]")
        ),
        STEP,
    )
    .await;
    let card = text(&mut b, "a.card").await;
    for want in [
        "Coupon",
        "1,111 left",
        "11,000 KRW coupon × 1,111",
        "Online",
        "Free",
    ] {
        assert!(card.contains(want), "{want:?} in {card:?}");
    }
    for not in ["Concert", "KTX"] {
        assert!(!card.contains(not), "{not:?} in {card:?}");
    }

    // ── The coupon event: its page shows what is left.
    b.click("a.card").await;
    let coupon_page = format!(
        "location.hash === '#/events/{coupon}' && {} === '11,000 KRW coupon × 1,111' && !!document.querySelector('form.qty button')",
        js_text("main h1")
    );
    b.wait_for(&coupon_page, STEP).await;
    assert_eq!(text(&mut b, ".tags").await, "Coupon 1,111 left");
    assert_eq!(b.eval("document.getElementById('qty').value").await, "1");
    assert_eq!(text(&mut b, "form.qty .sum").await, "× 1 · Free");

    // ── Book one: a success message with the booking number, and one fewer left.
    b.click("form.qty button").await;
    b.wait_for(
        &format!(
            "{}.startsWith('Booked!') && {}.includes('1,110 left')",
            js_text(".msg.ok"),
            js_text(".tags")
        ),
        STEP,
    )
    .await;
    let said = text(&mut b, ".msg.ok").await;
    let booking: i64 = said
        .strip_prefix("Booked! Booking #")
        .and_then(|r| r.split_once(": × 1."))
        .and_then(|(id, _)| id.parse().ok())
        .unwrap_or_else(|| panic!("success message: {said:?}"));
    assert!(said.ends_with("See my bookings"), "{said:?}");
    assert_eq!(
        usher::backend::db::remaining(&db, coupon).unwrap(),
        1110,
        "booked in the database"
    );

    // ── My bookings: it is there, confirmed, with the event's title.
    b.click("nav a[href='#/me']").await;
    b.wait_for(
        &format!(
            "location.hash === '#/me' && {} === '1 booking' && {}.includes('11,000 KRW coupon × 1,111')",
            js_text("main > p[aria-live]"),
            js_text("li.card")
        ),
        STEP,
    )
    .await;
    let mine = text(&mut b, "li.card").await;
    for want in [
        format!("#{booking}"),
        "Confirmed".into(),
        "× 1".into(),
        "Cancel".into(),
    ] {
        assert!(mine.contains(&want), "{want:?} in {mine:?}");
    }
    // The event's start, under its title.
    let starts = text(&mut b, "li.card > span.muted").await;
    assert!(starts.ends_with(" KST") && starts.len() > 10, "{starts:?}");

    // ── Cancel: the first tap asks again, the second cancels.
    b.click("li.card button").await;
    b.wait_for(
        &format!("{} === 'Tap again to cancel'", js_text("li.card button")),
        STEP,
    )
    .await;
    b.click("li.card button").await;
    b.wait_for(
        &format!(
            "{} === 'Booking #{booking} is cancelled.' && {} === 'Cancelled' && !document.querySelector('li.card button')",
            js_text(".msg.ok"),
            js_text("li.card .tag")
        ),
        STEP,
    )
    .await;
    // The list as the server now has it (a fresh load): cancelled, nothing to cancel.
    b.click("nav a[href='#/']").await;
    b.wait_for(
        &format!("{} === '3 events'", js_text("main > p[aria-live]")),
        STEP,
    )
    .await;
    b.click("nav a[href='#/me']").await;
    b.wait_for(
        &format!(
            "location.hash === '#/me' && {} === 'Cancelled' && {}.includes('11,000 KRW coupon × 1,111')",
            js_text("li.card .tag"),
            js_text("li.card")
        ),
        STEP,
    )
    .await;
    assert_eq!(
        b.eval("document.querySelectorAll('li.card button').length")
            .await,
        0
    );

    // ── The event page, from the booking's title: the coupon is back.
    b.click("li.card strong a").await;
    b.wait_for(
        &format!(
            "{coupon_page} && {} === 'Coupon 1,111 left'",
            js_text(".tags")
        ),
        STEP,
    )
    .await;

    // ── A concert seat on the seat map: pick it, book it, it shows taken.
    b.click("nav a[href='#/']").await;
    let card = format!("a.card[href='#/events/{concert}']");
    b.wait_for(&format!("!!document.querySelector({card:?})"), STEP)
        .await;
    b.click(&card).await;
    let seat = "button.seat[title='R5-15']";
    b.wait_for(
        &format!(
            "location.hash === '#/events/{concert}' && {} === 'Concert: Autumn Night' && !!document.querySelector(\"{seat}:not([disabled])\")",
            js_text("main h1")
        ),
        STEP,
    )
    .await;
    assert_eq!(text(&mut b, ".tags").await, "Concert 600 left");
    assert_eq!(
        b.eval("document.querySelectorAll('.hall button.seat:not([disabled])').length")
            .await,
        600
    );
    b.click(seat).await;
    b.wait_for(
        &format!(
            "document.querySelector(\"{seat}\").getAttribute('aria-pressed') === 'true' && {}.startsWith('1 selected · ₩99,000')",
            js_text(".bar .sum")
        ),
        STEP,
    )
    .await;
    b.eval("scrollTo(0, 0)").await;
    // The sticky booking bar floats over the seat map: nothing of the map (the sticky
    // row labels) may show through it.
    let bar_on_top = "(() => { const bar = document.querySelector('.bar'), r = bar.getBoundingClientRect(); \
        return [0.03, 0.1, 0.25, 0.5, 0.75, 0.97].every(f => bar.contains(document.elementFromPoint(r.left + r.width * f, r.top + r.height / 2))); })()";
    assert_eq!(
        b.eval(bar_on_top).await,
        true,
        "the seat map shows through the bar"
    );
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ui-event.png"),
        b.screenshot().await,
    )
    .unwrap();
    b.click(".bar button").await;
    b.wait_for(
        &format!(
            "{}.startsWith('Booked!') && {}.includes('599 left') && document.querySelector(\"{seat}\").disabled",
            js_text(".msg.ok"),
            js_text(".tags")
        ),
        STEP,
    )
    .await;
    let said = text(&mut b, ".msg.ok").await;
    let seat_booking: i64 = said
        .strip_prefix("Booked! Booking #")
        .and_then(|r| r.split_once(": R5-15."))
        .and_then(|(id, _)| id.parse().ok())
        .unwrap_or_else(|| panic!("success message: {said:?}"));
    assert_eq!(
        b.eval(&format!(
            "document.querySelector(\"{seat}\").getAttribute('aria-label')"
        ))
        .await,
        "Seat R5-15, taken"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('.hall button.seat:not([disabled])').length")
            .await,
        599
    );

    // No script error and no CSP violation on any page of the journey.
    let errors = b.errors().await;
    assert!(errors.is_empty(), "page errors: {errors:#?}");

    // ── The database: the coupon booking is cancelled and its coupon came back exactly
    // once; the seat is the concert booking's.
    let (status, cancelled_at, quantity): (String, Option<i64>, i64) = db
        .query_row(
            "SELECT status, cancelled_at, quantity FROM bookings WHERE id = ?1 AND event_id = ?2",
            [booking, coupon],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), quantity), ("cancelled", 1));
    assert!(cancelled_at.is_some());
    let (capacity, remaining): (i64, i64) = db
        .query_row(
            "SELECT capacity, remaining FROM events WHERE id = ?1",
            [coupon],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((capacity, remaining), (1111, 1111), "restored, not twice");
    let mut topics = db
        .prepare("SELECT topic, payload FROM outbox ORDER BY id")
        .unwrap();
    let topics: Vec<(String, i64)> = topics
        .query_map([], |r| {
            let payload: String = r.get(1)?;
            let v: Value = serde_json::from_str(&payload).unwrap();
            Ok((r.get(0)?, v["id"].as_i64().unwrap()))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        topics,
        [
            ("booking.confirmed".to_string(), booking),
            ("booking.cancelled".to_string(), booking),
            ("booking.confirmed".to_string(), seat_booking),
        ],
        "one confirmation and one cancellation for the coupon, one seat booking"
    );
    let (status, seats, owner): (String, String, i64) = db
        .query_row(
            "SELECT b.status, b.seats, (SELECT COUNT(DISTINCT user_id) FROM bookings)
             FROM bookings b WHERE b.id = ?1 AND b.event_id = ?2",
            [seat_booking, concert],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), seats.as_str()),
        ("confirmed", r#"["R5-15"]"#)
    );
    assert_eq!(owner, 1, "both bookings are the browser visitor's");
    let holder: Option<i64> = db
        .query_row(
            "SELECT booking_id FROM seats WHERE event_id = ?1 AND seat = 'R5-15'",
            [concert],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(holder, Some(seat_booking));
    assert_eq!(usher::backend::db::remaining(&db, concert).unwrap(), 599);

    drop(b);
    demo.shutdown().await;
}
