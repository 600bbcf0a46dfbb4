//! The booking backend over real HTTP on loopback, with real passes and a real SQLite file.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use usher::backend::{api::Api, db, writer::Writer};
use usher::pass::{KeyRing, Passes, Session};

struct Site {
    addr: SocketAddr,
    signer: Passes,
    _dir: tempfile::TempDir,
}

const ADMIN: &str = "backend-admin-token-0123456789";

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backend.db");
    let pair = usher::pass::keys::generate().unwrap();
    let writer = Writer::start(&path).unwrap();
    let reader = db::open(&path).unwrap();
    let verifier = Passes::new(
        KeyRing::verify_only(&[("pass-1".into(), pair.public_pem.clone())]).unwrap(),
        "usher",
    );
    let api = Arc::new(Api::new(
        writer,
        reader,
        verifier,
        "booking",
        Some(ADMIN.into()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(usher::backend::serve(listener, api));
    let signer = Passes::new(
        KeyRing::from_pem("pass-1", &pair.private_pem, &[]).unwrap(),
        "usher",
    );
    Site {
        addr,
        signer,
        _dir: dir,
    }
}

impl Site {
    fn pass(&self, user: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.signer
            .mint(
                "booking",
                user,
                Session {
                    idle: 600,
                    max: 3600,
                },
                now,
            )
            .unwrap()
            .0
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, serde_json::Value) {
        common::plain_json(self.addr, method, path, headers, body).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_end_to_end_with_passes() {
    let s = site().await;
    assert_eq!(s.call("GET", "/healthz", &[], "").await.0, 200);
    // No pass, a forged pass, a pass for another room: 401.
    assert_eq!(s.call("GET", "/api/events", &[], "").await.0, 401);
    let stranger = Passes::new(KeyRing::generate("pass-1").unwrap(), "usher");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (forged, _) = stranger
        .mint(
            "booking",
            "eve",
            Session {
                idle: 600,
                max: 3600,
            },
            now,
        )
        .unwrap();
    assert_eq!(
        s.call("GET", "/api/events", &[("x-usher-pass", &forged)], "")
            .await
            .0,
        401
    );
    let (other_room, _) = s
        .signer
        .mint(
            "other",
            "eve",
            Session {
                idle: 600,
                max: 3600,
            },
            now,
        )
        .unwrap();
    assert_eq!(
        s.call("GET", "/api/events", &[("x-usher-pass", &other_room)], "")
            .await
            .0,
        401
    );

    // Admin creates an event (token required).
    let starts = now + 86_400;
    let ev = format!(
        r#"{{"title":"11,000 KRW coupon","venue":"Online","starts_at":{starts},"price":11000,"layout":{{"kind":"coupon","count":2}}}}"#
    );
    assert_eq!(s.call("POST", "/api/admin/events", &[], &ev).await.0, 401);
    let (status, created) = s
        .call(
            "POST",
            "/api/admin/events",
            &[("authorization", &format!("Bearer {ADMIN}"))],
            &ev,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    // Admin edits it (token required; unknown fields refused).
    let admin_h = [("authorization", &*format!("Bearer {ADMIN}"))];
    let (status, _) = s
        .call(
            "PUT",
            &format!("/api/admin/events/{id}"),
            &admin_h,
            r#"{"title":"11,000 KRW coupon (Chuseok)"}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.call(
            "PUT",
            &format!("/api/admin/events/{id}"),
            &[],
            r#"{"title":"x"}"#
        )
        .await
        .0,
        401
    );
    assert_eq!(
        s.call(
            "PUT",
            &format!("/api/admin/events/{id}"),
            &admin_h,
            r#"{"capacity":5}"#
        )
        .await
        .0,
        422
    );
    assert_eq!(
        s.call("PUT", "/api/admin/events/9999", &admin_h, r#"{"price":1}"#)
            .await
            .0,
        404
    );

    let alice = s.pass("alice");
    let a = [("x-usher-pass", alice.as_str())];
    // The web UI is served from memory, to pass holders only.
    assert_eq!(s.call("GET", "/", &a, "").await.0, 200);
    assert_eq!(s.call("GET", "/app/app.js", &a, "").await.0, 200);
    assert_eq!(s.call("GET", "/app/nope.js", &a, "").await.0, 404);
    assert_eq!(s.call("GET", "/", &[], "").await.0, 401);
    let (status, page) = s
        .call("GET", "/api/events?q=coupon&page=1&per_page=5", &a, "")
        .await;
    assert_eq!((status, page["total"].as_i64()), (200, Some(1)));
    assert_eq!(page["items"][0]["title"], "11,000 KRW coupon (Chuseok)");
    let (status, detail) = s.call("GET", &format!("/api/events/{id}"), &a, "").await;
    assert_eq!((status, detail["remaining"].as_i64()), (200, Some(2)));

    // Booking needs an Idempotency-Key; the same key replays; another body is 422.
    let path = format!("/api/events/{id}/bookings");
    assert_eq!(s.call("POST", &path, &a, r#"{"quantity":1}"#).await.0, 400);
    let with_key = [("x-usher-pass", alice.as_str()), ("idempotency-key", "k-1")];
    let (status, first) = s.call("POST", &path, &with_key, r#"{"quantity":1}"#).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = s.call("POST", &path, &with_key, r#"{"quantity":1}"#).await;
    assert_eq!((status, &again), (201, &first));
    assert_eq!(
        s.call("POST", &path, &with_key, r#"{"quantity":2}"#)
            .await
            .0,
        422
    );
    assert_eq!(s.call("POST", &path, &with_key, "not json").await.0, 422);
    // Sold out: a clean 409.
    let bob = s.pass("bob");
    let b = [("x-usher-pass", bob.as_str()), ("idempotency-key", "k-2")];
    assert_eq!(s.call("POST", &path, &b, r#"{"quantity":1}"#).await.0, 201);
    let c = [("x-usher-pass", bob.as_str()), ("idempotency-key", "k-3")];
    let (status, err) = s.call("POST", &path, &c, r#"{"quantity":1}"#).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("sold_out"))
    );

    // My bookings are mine; cancel restores inventory.
    let (_, mine) = s.call("GET", "/api/me/bookings", &a, "").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let booking = first["id"].as_i64().unwrap();
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/bookings/{booking}"),
            &[("x-usher-pass", bob.as_str())],
            ""
        )
        .await
        .0,
        404
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/bookings/{booking}"), &a, "")
            .await
            .0,
        200
    );
    let (_, detail) = s.call("GET", &format!("/api/events/{id}"), &a, "").await;
    assert_eq!(detail["remaining"].as_i64(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_from_its_config_seeds_the_demo_and_checks_passes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = usher::pass::keys::generate().unwrap();
    let (_, public) = usher::pass::keys::write(dir.path(), "pass-1", &pair).unwrap();
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase = {:?}\nseed_demo = true\n[passes]\naudience = \"booking\"\npublic_keys = [{:?}]\n",
        dir.path().join("db/backend.db").display().to_string(),
        public.display().to_string()
    );
    let settings = usher::config::backend::BackendSettings::from_toml(&text).unwrap();
    let running = usher::backend::start(&settings).await.unwrap();
    let signer = Passes::new(
        KeyRing::from_pem("pass-1", &pair.private_pem, &[]).unwrap(),
        "usher",
    );
    let s = Site {
        addr: running.addr,
        signer,
        _dir: dir,
    };
    let pass = s.pass("visitor");
    let (status, page) = s
        .call("GET", "/api/events", &[("x-usher-pass", &pass)], "")
        .await;
    assert_eq!(status, 200);
    let titles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(titles.iter().any(|t| t.contains("KTX")) && titles.iter().any(|t| t.contains("1,111")));
    assert_eq!(s.call("GET", "/api/events", &[], "").await.0, 401);
    running.stop();

    // Bad backend configs name their field.
    for (text, field) in [
        (
            "listen = \"nowhere\"\n[passes]\npublic_keys = [\"x\"]\n",
            "listen",
        ),
        ("[passes]\npublic_keys = []\n", "passes.public_keys"),
        (
            "[passes]\npublic_keys = [\"/nonexistent.pub\"]\n",
            "passes.public_keys[0]",
        ),
        (
            "[passes]\naudience = \"\"\npublic_keys = [\"x\"]\n",
            "passes.audience",
        ),
        ("listn = \"x\"\n", "unknown field"),
    ] {
        let err = usher::config::backend::BackendSettings::from_toml(text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}

/// A webhook receiver: records every delivery attempt; answers 503 while `down`.
struct Hook {
    addr: SocketAddr,
    down: Arc<std::sync::atomic::AtomicBool>,
    seen: Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
}

async fn hook() -> Hook {
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (d, s) = (down.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (d, s) = (d.clone(), s.clone());
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (d, s) = (d.clone(), s.clone());
                        async move {
                            let key = req
                                .headers()
                                .get("idempotency-key")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let topic = req
                                .headers()
                                .get("x-usher-topic")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let body = String::from_utf8_lossy(
                                &req.into_body().collect().await.unwrap().to_bytes(),
                            )
                            .into_owned();
                            s.lock().unwrap().push((key, topic, body));
                            let status = if d.load(Ordering::SeqCst) { 503 } else { 200 };
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .status(status)
                                    .body(common::full(""))
                                    .unwrap(),
                            )
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Hook { addr, down, seen }
}

#[tokio::test(flavor = "multi_thread")]
async fn outbox_delivers_every_event_at_least_once_with_stable_keys_across_restarts() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let pair = usher::pass::keys::generate().unwrap();
    let (_, public) = usher::pass::keys::write(dir.path(), "pass-1", &pair).unwrap();
    let h = hook().await;
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase = {:?}\nseed_demo = true\nwebhook = \"http://{}/bookings\"\n[passes]\npublic_keys = [{:?}]\n",
        dir.path().join("backend.db").display().to_string(),
        h.addr,
        public.display().to_string()
    );
    let settings = usher::config::backend::BackendSettings::from_toml(&text).unwrap();
    let running = usher::backend::start(&settings).await.unwrap();
    let signer = Passes::new(
        KeyRing::from_pem("pass-1", &pair.private_pem, &[]).unwrap(),
        "usher",
    );
    let s = Site {
        addr: running.addr,
        signer,
        _dir: tempfile::tempdir().unwrap(),
    };
    let pass = s.pass("alice");
    let (_, page) = s
        .call(
            "GET",
            "/api/events?q=coupon",
            &[("x-usher-pass", &pass)],
            "",
        )
        .await;
    let coupon = page["items"][0]["id"].as_i64().unwrap();
    for i in 0..5 {
        let key = format!("k{i}");
        let (status, _) = s
            .call(
                "POST",
                &format!("/api/events/{coupon}/bookings"),
                &[("x-usher-pass", &pass), ("idempotency-key", &key)],
                r#"{"quantity":1}"#,
            )
            .await;
        assert_eq!(status, 201);
    }
    // The receiver is down: attempts fail and are retried. Then the backend restarts.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        !h.seen.lock().unwrap().is_empty(),
        "deliveries were attempted"
    );
    running.stop();
    let running = usher::backend::start(&settings).await.unwrap();
    h.down.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let seen = h.seen.lock().unwrap().clone();
        let conn = db::open(&dir.path().join("backend.db")).unwrap();
        let pending: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let keys: std::collections::HashSet<&str> =
            seen.iter().map(|(k, _, _)| k.as_str()).collect();
        if pending == 0 {
            assert_eq!(keys.len(), 5, "one key per booking event");
            assert!(seen.len() > 5, "events were retried after the failures");
            // Every event arrived; retries of one event carry one key and the same body.
            for (k, topic, body) in &seen {
                assert_eq!(topic, "booking.confirmed");
                assert!(seen
                    .iter()
                    .filter(|(k2, _, _)| k2 == k)
                    .all(|(_, _, b2)| b2 == body));
            }
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered: {seen:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Delivered rows are not sent again.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let n = h.seen.lock().unwrap().len();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(h.seen.lock().unwrap().len(), n);
    running.stop();
}

/// `usher backend` as a child process; returns it and its address.
fn spawn_backend(config: &std::path::Path) -> (std::process::Child, SocketAddr) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["backend", "-c"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("backend exited").unwrap();
        if let Some(i) = line.find("addr=") {
            break line[i + 5..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_dash_nine_mid_burst_loses_no_confirmed_booking() {
    let dir = tempfile::tempdir().unwrap();
    let pair = usher::pass::keys::generate().unwrap();
    let (_, public) = usher::pass::keys::write(dir.path(), "pass-1", &pair).unwrap();
    let db_path = dir.path().join("backend.db");
    let config = dir.path().join("backend.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase = {:?}\nseed_demo = true\n[passes]\npublic_keys = [{:?}]\n",
            db_path.display().to_string(),
            public.display().to_string()
        ),
    )
    .unwrap();
    let (mut child, addr) = spawn_backend(&config);
    let signer = Passes::new(
        KeyRing::from_pem("pass-1", &pair.private_pem, &[]).unwrap(),
        "usher",
    );
    let site = Arc::new(Site {
        addr,
        signer,
        _dir: tempfile::tempdir().unwrap(),
    });
    let pass = site.pass("burst");
    let (_, page) = site
        .call(
            "GET",
            "/api/events?q=coupon",
            &[("x-usher-pass", &pass)],
            "",
        )
        .await;
    let coupon = page["items"][0]["id"].as_i64().unwrap();

    // 32 clients book in a loop; the process is killed under them.
    let confirmed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for c in 0..32 {
        let (site, confirmed, pass) = (site.clone(), confirmed.clone(), pass.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("c{c}-{i}");
                let path = format!("/api/events/{coupon}/bookings");
                let tcp = match tokio::net::TcpStream::connect(site.addr).await {
                    Ok(t) => t,
                    Err(_) => return,
                };
                let Ok((mut send, conn)) =
                    hyper::client::conn::http1::handshake::<_, common::TBody>(
                        hyper_util::rt::TokioIo::new(tcp),
                    )
                    .await
                else {
                    return;
                };
                tokio::spawn(conn);
                let req = http::Request::post(path)
                    .header("host", "b")
                    .header("x-usher-pass", pass.as_str())
                    .header("idempotency-key", key.as_str())
                    .body(common::full(r#"{"quantity":1}"#))
                    .unwrap();
                let Ok(resp) = send.send_request(req).await else {
                    return;
                };
                if resp.status() == 201 {
                    let Ok(body) = resp.into_body().collect().await else {
                        return;
                    };
                    let b: serde_json::Value = serde_json::from_slice(&body.to_bytes()).unwrap();
                    confirmed
                        .lock()
                        .unwrap()
                        .push((key, b["id"].as_i64().unwrap()));
                }
            }
        }));
    }
    // Kill while the burst is well under way: some sold, many still coming.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while confirmed.lock().unwrap().len() < 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the burst did not get going"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let confirmed = confirmed.lock().unwrap().clone();
    eprintln!("{} bookings confirmed before kill -9", confirmed.len());
    assert!(
        confirmed.len() < 1111,
        "the kill came after the sale was over"
    );

    // Restart on the same file: every 201 is there, nothing doubled, the sums add up.
    let (mut child, addr) = spawn_backend(&config);
    let conn = db::open(&db_path).unwrap();
    for (_, id) in &confirmed {
        let status: String = conn
            .query_row("SELECT status FROM bookings WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap_or_else(|_| panic!("booking {id} answered 201 but is gone"));
        assert_eq!(status, "confirmed");
    }
    let (booked, rows): (i64, i64) = conn
        .query_row(
            "SELECT COALESCE(SUM(quantity), 0), COUNT(*) FROM bookings WHERE event_id = ?1 AND status = 'confirmed'",
            [coupon],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        db::remaining(&conn, coupon).unwrap() + booked,
        1111,
        "inventory + bookings = capacity"
    );
    let keys: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM idempotency WHERE status = 201",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        keys, rows,
        "one booking per idempotency key: nothing double-booked"
    );
    // A retry of a confirmed key after the crash gets the same booking back.
    let site2 = Site {
        addr,
        signer: Passes::new(
            KeyRing::from_pem("pass-1", &pair.private_pem, &[]).unwrap(),
            "usher",
        ),
        _dir: tempfile::tempdir().unwrap(),
    };
    let (key, id) = &confirmed[0];
    let (status, again) = site2
        .call(
            "POST",
            &format!("/api/events/{coupon}/bookings"),
            &[("x-usher-pass", &pass), ("idempotency-key", key)],
            r#"{"quantity":1}"#,
        )
        .await;
    assert_eq!((status, again["id"].as_i64()), (201, Some(*id)));
    child.kill().unwrap();
    child.wait().unwrap();
}
