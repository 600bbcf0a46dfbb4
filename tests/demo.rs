//! `usher demo`: proxy and booking site together, a visitor goes from the line to a booking.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::harness::Harness;
use http_body_util::BodyExt;

type Answer = (u16, serde_json::Value, Vec<String>);

async fn call(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    cookies: &[String],
    method: &str,
    path: &str,
    body: &'static str,
    extra: &[(&str, &str)],
) -> Answer {
    let cookie = cookies.join("; ");
    let mut headers = extra.to_vec();
    if !cookies.is_empty() {
        headers.push(("cookie", &cookie));
    }
    common::tls_json(addr, cfg, method, path, &headers, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_books_through_the_waiting_room() {
    let demo = Harness::builder().demo().start().await;
    let addr = demo.public();
    // Trust the demo's self-signed certificate, and nothing else.
    let cfg = demo.client_config(&[]);
    // First request: the room has space (auto mode), so the visitor is in at once.
    let (status, page, set) = call(
        addr,
        cfg.clone(),
        &[],
        "GET",
        "/api/events?q=coupon",
        "",
        &[],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let cookies: Vec<String> = set.into_iter().filter(|c| !c.ends_with('=')).collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("usher_pass=")),
        "{cookies:?}"
    );
    let coupon = page["items"][0]["id"].as_i64().unwrap();
    // Book through the proxy: the backend verifies the proxy's pass itself.
    let path = format!("/api/events/{coupon}/bookings");
    let headers = [
        ("idempotency-key", "demo-1"),
        ("content-type", "application/json"),
    ];
    let (status, booking, _) = call(
        addr,
        cfg.clone(),
        &cookies,
        "POST",
        &path,
        r#"{"quantity":1}"#,
        &headers,
    )
    .await;
    assert_eq!(status, 201, "{booking}");
    let (_, mine, _) = call(
        addr,
        cfg.clone(),
        &cookies,
        "GET",
        "/api/me/bookings",
        "",
        &[],
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    // Going around the proxy gains nothing: the backend itself refuses without a pass.
    let tcp = tokio::net::TcpStream::connect(demo.backend_addr())
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, common::TBody>(
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    send.ready().await.unwrap();
    let req = http::Request::get("/api/events")
        .header("host", "x")
        .body(common::empty())
        .unwrap();
    assert_eq!(send.send_request(req).await.unwrap().status(), 401);
    demo.shutdown().await;
}

/// Passes for `n` visitors, signed with the demo's own key as the proxy would mint them.
fn demo_passes(dir: &std::path::Path, n: usize) -> Arc<Vec<String>> {
    use usher::pass::{KeyRing, Passes, Session};
    let key = std::fs::read_to_string(dir.join("keys/pass-demo.key")).unwrap();
    let signer = Passes::new(
        KeyRing::from_pem("pass-demo", &key, &[]).unwrap(),
        "usher-demo",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let session = Session {
        idle: 600,
        max: 3600,
    };
    Arc::new(
        (0..n)
            .map(|i| {
                signer
                    .mint("booking", &format!("visitor-{i}"), session, now)
                    .unwrap()
                    .0
            })
            .collect(),
    )
}

/// Fires every `(idempotency key, JSON body)` at `path` at once over 8 HTTP/2 connections
/// through the proxy, each attempt carrying one of `passes`; returns status and body of each.
async fn burst(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    passes: Arc<Vec<String>>,
    path: &str,
    attempts: Vec<(String, String)>,
) -> Vec<(u16, serde_json::Value)> {
    let mut conns = Vec::new();
    for _ in 0..8 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(cfg.clone())
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap();
        let (send, conn) = hyper::client::conn::http2::handshake::<_, _, common::TBody>(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        conns.push(send);
    }
    let uri = Arc::new(format!("https://localhost:{}{path}", addr.port()));
    let limit = Arc::new(tokio::sync::Semaphore::new(512));
    let mut tasks = Vec::new();
    for (i, (key, body)) in attempts.into_iter().enumerate() {
        let mut send = conns[i % conns.len()].clone();
        let (passes, uri, limit) = (passes.clone(), uri.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = limit.acquire().await.unwrap();
            let req = http::Request::post(uri.as_str())
                .header("x-usher-pass", passes[i % passes.len()].as_str())
                .header("idempotency-key", key)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(common::full(body))
                .unwrap();
            send.ready().await.expect("h2 connection ready");
            let resp = send.send_request(req).await.expect("h2 request answered");
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, serde_json::from_slice(&body).unwrap_or_default())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The id of the first event a search for `q` finds.
async fn find_event(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    pass: &str,
    q: &str,
) -> serde_json::Value {
    let cookie = [format!("usher_pass={pass}")];
    let (status, page, _) = call(
        addr,
        cfg.clone(),
        &cookie,
        "GET",
        &format!("/api/events?q={q}"),
        "",
        &[],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let id = page["items"][0]["id"].as_i64().unwrap();
    let (status, ev, _) = call(
        addr,
        cfg,
        &cookie,
        "GET",
        &format!("/api/events/{id}"),
        "",
        &[],
    )
    .await;
    assert_eq!(status, 200, "{ev}");
    ev
}

/// A demo with 200 visitors' passes and an HTTP/2 client for it: the set-up of each burst.
struct Burst {
    demo: Harness,
    addr: SocketAddr,
    passes: Arc<Vec<String>>,
    /// HTTP/2 (ALPN h2) for the burst.
    cfg: Arc<rustls::ClientConfig>,
    /// HTTP/1.1 for single calls (a connection speaks what ALPN chose).
    h1: Arc<rustls::ClientConfig>,
}

impl Burst {
    async fn start() -> Self {
        let demo = Harness::builder().demo().start().await;
        Self {
            addr: demo.public(),
            passes: demo_passes(demo.dir(), 200),
            cfg: demo.client_config(&[b"h2"]),
            h1: demo.client_config(&[]),
            demo,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_attempts_through_the_proxy_sell_exactly_1111_coupons() {
    let Burst {
        demo,
        addr,
        passes,
        cfg,
        h1,
    } = Burst::start().await;
    let coupon = find_event(addr, h1.clone(), &passes[0], "coupon").await["id"]
        .as_i64()
        .unwrap();
    let attempts = (0..20_000)
        .map(|i| (format!("attempt-{i}"), r#"{"quantity":1}"#.to_string()))
        .collect();
    let path = format!("/api/events/{coupon}/bookings");
    let (mut created, mut sold_out) = (0, 0);
    for (status, body) in burst(addr, cfg, passes, &path, attempts).await {
        match status {
            201 => created += 1,
            409 => {
                assert_eq!(body["error"]["code"], "sold_out", "{body}");
                sold_out += 1
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        (created, sold_out),
        (1111, 20_000 - 1111),
        "exactly 1,111 sold, every other attempt a clean 409"
    );
    let conn = usher::backend::db::open(&demo.dir().join("backend.db")).unwrap();
    assert_eq!(usher::backend::db::remaining(&conn, coupon).unwrap(), 0);
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM bookings WHERE event_id = ?1 AND status = 'confirmed'",
            [coupon],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1111, "0 oversold");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_proxy_no_concert_seat_is_ever_booked_twice() {
    let Burst {
        demo,
        addr,
        passes,
        cfg,
        h1,
    } = Burst::start().await;
    let concert = find_event(addr, h1.clone(), &passes[0], "concert").await;
    let id = concert["id"].as_i64().unwrap();
    let seats: Vec<String> = concert["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seat"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seats.len(), 600);
    // 6,000 visitors each want 1 to 4 seats; the picks overlap heavily (a cheap LCG,
    // seeded, so a failure reproduces) and keep coming after the hall is full.
    let mut x: u64 = 0x5eed;
    let mut next = |n: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize % n
    };
    let picks: Vec<Vec<String>> = (0..6_000)
        .map(|_| {
            let mut p: Vec<String> = (0..1 + next(4)).map(|_| seats[next(600)].clone()).collect();
            p.sort();
            p.dedup();
            p
        })
        .collect();
    let attempts = picks
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("seat-{i}"),
                serde_json::json!({ "seats": p }).to_string(),
            )
        })
        .collect();
    let path = format!("/api/events/{id}/bookings");
    let answers = burst(addr, cfg.clone(), passes.clone(), &path, attempts).await;
    let mut taken = std::collections::BTreeSet::new();
    let (mut created, mut refused) = (0, 0);
    for ((status, body), pick) in answers.iter().zip(&picks) {
        match (status, body["error"]["code"].as_str()) {
            (201, _) => {
                created += 1;
                let got: Vec<String> = serde_json::from_value(body["seats"].clone()).unwrap();
                assert_eq!(&got, pick, "booked what was asked");
                for s in got {
                    assert!(taken.insert(s.clone()), "seat {s} sold twice");
                }
            }
            (409, Some("seat_taken")) => {
                refused += 1;
                let seat = body["error"]["seat"].as_str().unwrap();
                assert!(pick.iter().any(|p| p == seat), "{body} for {pick:?}");
            }
            (409, Some("sold_out")) => refused += 1,
            _ => panic!("unexpected {status}: {body}"),
        }
    }
    assert_eq!(created + refused, 6_000);
    assert!(created > 100, "only {created} bookings went through");
    // The database agrees with what visitors were told: each booked seat belongs to the
    // one booking that claimed it, and inventory + booked seats = the hall.
    let conn = usher::backend::db::open(&demo.dir().join("backend.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT s.seat, b.seats FROM seats s JOIN bookings b ON b.id = s.booking_id
             WHERE s.event_id = ?1",
        )
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let in_db: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|(seat, of)| {
            let of: Vec<String> = serde_json::from_str(of).unwrap();
            assert!(
                of.contains(seat),
                "seat {seat} held by a booking for {of:?}"
            );
            seat.clone()
        })
        .collect();
    assert_eq!(
        in_db, taken,
        "the seats told 201 are exactly the seats held"
    );
    let remaining = usher::backend::db::remaining(&conn, id).unwrap() as usize;
    assert_eq!(
        remaining + taken.len(),
        600,
        "inventory + booked = capacity"
    );
    // And the seat map a visitor sees shows exactly those seats taken.
    let after = find_event(addr, h1, &passes[1], "concert").await;
    let shown: std::collections::BTreeSet<String> = after["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["free"] == false)
        .map(|s| s["seat"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, taken);
    demo.shutdown().await;
}
