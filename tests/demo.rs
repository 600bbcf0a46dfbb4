//! `usher demo`: proxy and booking site together, a visitor goes from the line to a booking.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

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
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, common::TBody>(
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    send.ready().await.unwrap();
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("accept", "application/json");
    if !cookies.is_empty() {
        req = req.header("cookie", cookies.join("; "));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = send
        .send_request(req.body(common::full(body)).unwrap())
        .await
        .unwrap();
    let set: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or_default(),
        set,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_books_through_the_waiting_room() {
    let dir = tempfile::tempdir().unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let demo = usher::demo::start(dir.path(), any, any).await.unwrap();
    let addr = demo.proxy.public_addr;
    // Trust the demo's self-signed certificate, and nothing else.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(demo.proxy.certificate.clone()).unwrap();
    let cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
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
    let tcp = tokio::net::TcpStream::connect(demo.backend.addr)
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
    demo.proxy.shutdown().await;
    demo.backend.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_attempts_through_the_proxy_sell_exactly_1111_coupons() {
    use usher::pass::{KeyRing, Passes, Session};
    let dir = tempfile::tempdir().unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let demo = usher::demo::start(dir.path(), any, any).await.unwrap();
    let addr = demo.proxy.public_addr;
    // Passes signed with the demo's own key, as the proxy would mint them.
    let key = std::fs::read_to_string(dir.path().join("keys/pass-demo.key")).unwrap();
    let signer = Passes::new(
        KeyRing::from_pem("pass-demo", &key, &[]).unwrap(),
        "usher-demo",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let passes: Vec<String> = (0..200)
        .map(|i| {
            signer
                .mint(
                    "booking",
                    &format!("visitor-{i}"),
                    Session {
                        idle: 600,
                        max: 3600,
                    },
                    now,
                )
                .unwrap()
                .0
        })
        .collect();
    let passes = Arc::new(passes);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(demo.proxy.certificate.clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let cfg = Arc::new(cfg);
    // Find the coupon event.
    let (_, page, _) = call(
        addr,
        cfg.clone(),
        &[format!("usher_pass={}", passes[0])],
        "GET",
        "/api/events?q=coupon",
        "",
        &[],
    )
    .await;
    let coupon = page["items"][0]["id"].as_i64().unwrap();
    let path = Arc::new(format!(
        "https://localhost:{}/api/events/{coupon}/bookings",
        addr.port()
    ));

    // 8 HTTP/2 connections, 20,000 concurrent attempts spread over them.
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
    let limit = Arc::new(tokio::sync::Semaphore::new(512));
    let mut tasks = Vec::new();
    for i in 0..20_000usize {
        let mut send = conns[i % conns.len()].clone();
        let (passes, path, limit) = (passes.clone(), path.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = limit.acquire().await.unwrap();
            let req = http::Request::post(path.as_str())
                .header("x-usher-pass", passes[i % passes.len()].as_str())
                .header("idempotency-key", format!("attempt-{i}"))
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(common::full(r#"{"quantity":1}"#))
                .unwrap();
            send.ready().await.unwrap();
            let resp = send.send_request(req).await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        }));
    }
    let (mut created, mut sold_out) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            409 => {
                assert!(
                    String::from_utf8_lossy(&body).contains("sold_out"),
                    "{body:?}"
                );
                sold_out += 1
            }
            other => panic!("unexpected {other}: {body:?}"),
        }
    }
    assert_eq!(
        (created, sold_out),
        (1111, 20_000 - 1111),
        "exactly 1,111 sold, every other attempt a clean 409"
    );
    let conn = usher::backend::db::open(&dir.path().join("backend.db")).unwrap();
    assert_eq!(usher::backend::db::remaining(&conn, coupon).unwrap(), 0);
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM bookings WHERE event_id = ?1 AND status = 'confirmed'",
            [coupon],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1111, "0 oversold");
    demo.proxy.shutdown().await;
    demo.backend.stop();
}
