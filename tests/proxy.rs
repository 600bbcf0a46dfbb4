//! The real proxy, in-process, over real TLS, in front of a real upstream on loopback.

mod common;

use std::time::{Duration, Instant};

use common::harness::Harness;
use common::{empty, full, get, upstream};
use futures_util::StreamExt;
use http_body_util::BodyExt;

fn lines_with<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
    body.lines()
        .filter(|l| l.starts_with(&format!("{name}: ")))
        .map(|l| &l[name.len() + 2..])
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn http1_through_tls_with_forwarding_headers() {
    let proxy = Harness::start().await;
    let mut c = proxy.h1().await;
    let (status, headers, body) = get(&mut c, "/headers", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(lines_with(&body, "version"), ["HTTP/1.1"]);
    assert_eq!(lines_with(&body, "host"), ["localhost"], "Host preserved");
    assert_eq!(lines_with(&body, "x-forwarded-proto"), ["https"]);
    assert_eq!(lines_with(&body, "x-forwarded-host"), ["localhost"]);
    assert_eq!(lines_with(&body, "via"), ["1.1 usher"]);
    assert_eq!(
        lines_with(&body, "forwarded"),
        ["for=127.0.0.1;proto=https;host=\"localhost\""]
    );
    // The id sent upstream is the one echoed to the client.
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(lines_with(&body, "x-request-id"), [id]);
    assert_eq!(headers["via"], "1.1 usher");
    // A client-chosen, well-formed request id is kept end to end.
    let (_, headers, body) = get(&mut c, "/headers", &[("x-request-id", "trace-42")]).await;
    assert_eq!(headers["x-request-id"], "trace-42");
    assert_eq!(lines_with(&body, "x-request-id"), ["trace-42"]);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_through_tls_reaches_http1_upstream() {
    let proxy = Harness::start().await;
    let mut c = proxy.h2().await;
    let uri = format!("https://localhost:{}/headers", proxy.public().port());
    let resp = c
        .send_request(http::Request::get(&uri).body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert_eq!(lines_with(&body, "version"), ["HTTP/1.1"]);
    assert_eq!(lines_with(&body, "via"), ["2 usher"]);
    assert_eq!(
        lines_with(&body, "host"),
        [format!("localhost:{}", proxy.public().port()).as_str()],
        "HTTP/2 :authority becomes Host"
    );
    // Many concurrent streams on one connection.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let mut c = c.clone();
        let uri = format!("https://localhost:{}/echo", proxy.public().port());
        tasks.push(tokio::spawn(async move {
            let resp = c
                .send_request(
                    http::Request::post(&uri)
                        .body(full(format!("stream {i}")))
                        .unwrap(),
                )
                .await
                .unwrap();
            let b = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(b, format!("stream {i}").as_bytes());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hop_by_hop_and_usher_headers_are_removed_both_ways() {
    let proxy = Harness::start().await;
    let mut c = proxy.h1().await;
    let (status, headers, body) = get(
        &mut c,
        "/headers",
        &[
            ("connection", "keep-alive, X-Secret, X-Other"),
            ("x-secret", "listed in Connection"),
            ("x-other", "also listed"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("x-usher-pass", "forged"),
            ("X-Usher-Whatever", "forged"),
            ("x-kept", "end-to-end"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    for gone in [
        "connection",
        "x-secret",
        "x-other",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "x-usher-pass",
        "x-usher-whatever",
    ] {
        assert!(
            lines_with(&body, gone).is_empty(),
            "{gone} reached the upstream:\n{body}"
        );
    }
    assert_eq!(lines_with(&body, "x-kept"), ["end-to-end"]);
    assert_eq!(
        lines_with(&body, "te"),
        ["trailers"],
        "TE: trailers is re-added (gRPC)"
    );
    // The upstream's Connection-listed, Keep-Alive and X-Usher-* response headers are gone.
    assert!(!headers.contains_key("x-up-secret"), "{headers:?}");
    assert!(!headers.contains_key("keep-alive"), "{headers:?}");
    assert!(!headers.contains_key("x-usher-complete"), "{headers:?}");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn x_forwarded_for_is_replaced_unless_peer_is_trusted() {
    let untrusting = Harness::start().await;
    let trusting = Harness::builder()
        .line("forwarding", "trusted_proxies = [\"127.0.0.0/8\"]")
        .start()
        .await;
    let spoof = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "http"),
    ];
    let mut c = untrusting.h1().await;
    let (_, _, body) = get(&mut c, "/headers", &spoof).await;
    assert_eq!(lines_with(&body, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(lines_with(&body, "x-forwarded-proto"), ["https"]);
    let mut c = trusting.h1().await;
    let (_, _, body) = get(&mut c, "/headers", &spoof).await;
    assert_eq!(
        lines_with(&body, "x-forwarded-for"),
        ["203.0.113.9, 127.0.0.1"]
    );
    assert_eq!(lines_with(&body, "x-forwarded-proto"), ["http"]);
    untrusting.shutdown().await;
    trusting.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_down_is_502_within_connect_timeout() {
    // A port that was just free: nothing listens there.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let proxy = Harness::builder()
        .upstream(dead)
        .line("upstream", "connect_timeout = \"1s\"")
        .start()
        .await;
    let mut c = proxy.h1().await;
    let t = Instant::now();
    let (status, headers, body) = get(&mut c, "/", &[]).await;
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(status, 502);
    assert!(body.contains("not answering"), "{body}");
    assert_eq!(headers["retry-after"], "5");
    // The same error as JSON for API clients.
    let (status, headers, body) = get(&mut c, "/api", &[("accept", "application/json")]).await;
    assert_eq!(status, 502);
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        body.starts_with("{\"error\":{\"code\":\"upstream_unreachable\""),
        "{body}"
    );
    let m = proxy.metrics();
    assert_eq!(
        common::sample(&m, "usher_upstream_errors_total", &[("kind", "connect")]),
        2.0
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_upstream_is_504() {
    let proxy = Harness::builder()
        .line("upstream", "response_timeout = \"300ms\"")
        .start()
        .await;
    let mut c = proxy.h1().await;
    let t = Instant::now();
    let (status, _, body) = get(&mut c, "/slow/3000", &[]).await;
    assert_eq!(status, 504);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        t.elapsed()
    );
    assert!(body.contains("taking too long"), "{body}");
    // A fast request on a fresh connection still works afterwards.
    let mut c = proxy.h1().await;
    assert_eq!(get(&mut c, "/slow/10", &[]).await.0, 200);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_client_is_dropped_and_never_reaches_upstream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let proxy = Harness::builder()
        .line("limits", "header_read_timeout = \"1s\"")
        .start()
        .await;
    let mut tls = proxy.connect(&[b"http/1.1"]).await;
    let started = Instant::now();
    tls.write_all(b"GET /headers HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let slow =
        b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut closed_after = None;
    for b in slow.iter() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if tls.write_all(&[*b]).await.is_err() || tls.flush().await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    if closed_after.is_none() {
        // Writes can succeed into the socket buffer after the peer closed; a read tells.
        let mut buf = [0u8; 256];
        let r = tokio::time::timeout(Duration::from_secs(3), tls.read(&mut buf)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_))),
            "connection still open: {r:?}"
        );
        closed_after = Some(started.elapsed());
    }
    let closed_after = closed_after.unwrap();
    assert!(
        closed_after < Duration::from_secs(4),
        "closed after {closed_after:?}"
    );
    assert_eq!(proxy.up().hits(), 0);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_reader_is_cut_off_after_send_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let proxy = Harness::builder()
        .line("limits", "send_timeout = \"1s\"")
        .start()
        .await;
    let open = |m: &str| common::sample(m, "usher_open_connections", &[("listener", "public")]);
    // Asks for 200 MiB, reads the first bytes, then stops reading.
    let mut tls = proxy.connect(&[b"http/1.1"]).await;
    tls.write_all(b"GET /big/200 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(tls.read(&mut buf).await.unwrap() > 0);
    assert_eq!(open(&proxy.metrics()), 1.0);
    // Once the socket buffers are full the proxy's writes stall; a second later the
    // connection is gone on the proxy's side, while this client still holds its socket.
    let deadline = Instant::now() + Duration::from_secs(15);
    while open(&proxy.metrics()) > 0.0 {
        assert!(
            Instant::now() < deadline,
            "the slow reader still holds its connection"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the client can still read is what was buffered, then the end.
    let mut got = 0usize;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("the connection was not closed"),
        }
    }
    assert!(
        got < 200 * 1024 * 1024,
        "the whole body arrived ({got} bytes)"
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_headers_get_431_on_http1_and_http2() {
    let proxy = Harness::builder()
        .line("limits", "max_header_bytes = \"8KiB\"")
        .start()
        .await;
    let big = "a".repeat(10 * 1024);
    let mut c = proxy.h1().await;
    let (status, _, _) = get(&mut c, "/headers", &[("x-big", &big)]).await;
    assert_eq!(status, 431);
    // Far past hyper's buffer: still 431, from hyper itself.
    let huge = "a".repeat(40 * 1024);
    let mut c = proxy.h1().await;
    let (status, _, _) = get(&mut c, "/headers", &[("x-huge", &huge)]).await;
    assert_eq!(status, 431);
    // Too many fields.
    let mut c = proxy.h1().await;
    let names: Vec<String> = (0..150).map(|i| format!("x-h{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let (status, _, _) = get(&mut c, "/headers", &many).await;
    assert_eq!(status, 431);
    // HTTP/2.
    let mut c = proxy.h2().await;
    let uri = format!("https://localhost:{}/headers", proxy.public().port());
    let resp = c
        .send_request(
            http::Request::get(&uri)
                .header("x-big", &big)
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 431);
    assert_eq!(proxy.up().hits(), 0);
    // A normal request on HTTP/2 still works.
    let mut c = proxy.h2().await;
    let resp = c
        .send_request(http::Request::get(&uri).body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_get_413() {
    let proxy = Harness::builder()
        .line("limits", "max_body_bytes = \"4KiB\"")
        .start()
        .await;
    // Declared too large: refused before the upstream is contacted.
    let mut c = proxy.h1().await;
    let req = http::Request::post("/sink")
        .header("host", "localhost")
        .body(full(vec![b'x'; 8192]))
        .unwrap();
    let resp = c.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(proxy.up().hits(), 0);
    // Streamed (chunked, no length) past the limit: cut off and answered 413.
    let mut c = proxy.h1().await;
    let chunks = futures_util::stream::iter((0..16).map(|_| {
        Ok::<_, common::BoxError>(hyper::body::Frame::data(bytes::Bytes::from(vec![
            b'y';
            1024
        ])))
    }));
    let req = http::Request::post("/sink")
        .header("host", "localhost")
        .body(BodyExt::boxed(http_body_util::StreamBody::new(chunks)))
        .unwrap();
    let resp = c.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 413);
    // Within the limit: fine.
    let mut c = proxy.h1().await;
    let req = http::Request::post("/sink")
        .header("host", "localhost")
        .body(full(vec![b'x'; 4000]))
        .unwrap();
    let resp = c.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(b, "4000");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_echo_through_the_proxy() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let proxy = Harness::start().await;
    let tls = proxy.connect(&[b"http/1.1"]).await;
    let url = format!("wss://localhost:{}/ws", proxy.public().port());
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..20 {
        ws.send(Message::text(format!("ping {i}"))).await.unwrap();
        let got = ws.next().await.unwrap().unwrap();
        assert_eq!(got, Message::text(format!("ping {i}")));
    }
    ws.send(Message::binary(vec![7u8; 100_000])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![7u8; 100_000])
    );
    ws.close(None).await.unwrap();
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_and_move() {
    let proxy = Harness::start().await;
    let (status, text) = common::admin_get(proxy.admin(), "/metrics").await;
    assert_eq!(status, 200);
    let before = common::sample(
        &text,
        "usher_requests_total",
        &[("listener", "public"), ("class", "2xx")],
    );
    let mut c = proxy.h1().await;
    for _ in 0..5 {
        assert_eq!(get(&mut c, "/", &[]).await.0, 200);
    }
    let (_, text) = common::admin_get(proxy.admin(), "/metrics").await;
    let after = common::sample(
        &text,
        "usher_requests_total",
        &[("listener", "public"), ("class", "2xx")],
    );
    assert_eq!(after - before, 5.0);
    assert_eq!(
        common::sample(&text, "usher_tls_handshakes_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        common::sample(&text, "usher_open_connections", &[("listener", "public")]),
        1.0
    );
    assert_eq!(
        common::sample(&text, "usher_upstream_response_seconds_count", &[]),
        5.0
    );
    // A failed handshake is counted too.
    {
        use tokio::io::AsyncWriteExt;
        let mut tcp = tokio::net::TcpStream::connect(proxy.public())
            .await
            .unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut buf).await;
    }
    let (_, text) = common::admin_get(proxy.admin(), "/metrics").await;
    assert_eq!(
        common::sample(&text, "usher_tls_handshakes_total", &[("result", "error")]),
        1.0
    );
    assert_eq!(common::admin_get(proxy.admin(), "/healthz").await.0, 200);
    assert_eq!(common::admin_get(proxy.admin(), "/readyz").await.0, 200);
    assert_eq!(common::admin_get(proxy.admin(), "/nope").await.0, 404);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let proxy = Harness::start().await;
    let addr = proxy.public();
    let mut c = proxy.h1().await;
    let in_flight = tokio::spawn(async move { get(&mut c, "/slow/800", &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    proxy.shutdown().await;
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "slow done");
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "shutdown did not wait: {:?}",
        t.elapsed()
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_listener_redirects_to_https() {
    let proxy = Harness::builder()
        .line("listen", "plain = \"127.0.0.1:0\"")
        .start()
        .await;
    let plain = proxy.plain();
    let tcp = tokio::net::TcpStream::connect(plain).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, common::TBody>(
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let (status, headers, _) = get(&mut send, "/events?q=ktx", &[]).await;
    assert_eq!(status, 308);
    assert_eq!(
        headers["location"],
        format!("https://localhost:{}/events?q=ktx", proxy.public().port()).as_str()
    );
    assert_eq!(proxy.up().hits(), 0);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_across_upstreams() {
    let a = upstream::spawn().await;
    let b = upstream::spawn().await;
    let proxy = Harness::builder()
        .servers(&[a.addr.to_string(), format!("http://{}", b.addr)])
        .start()
        .await;
    let mut c = proxy.h1().await;
    for _ in 0..10 {
        assert_eq!(get(&mut c, "/", &[]).await.0, 200);
    }
    assert_eq!((a.hits(), b.hits()), (5, 5));
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_upstream_is_skipped_and_bodyless_requests_retried() {
    let live = upstream::spawn().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let proxy = Harness::builder()
        .servers(&[dead.to_string(), live.addr.to_string()])
        .line("upstream", "fail_timeout = \"30s\"")
        .start()
        .await;
    let mut c = proxy.h1().await;
    // Every GET succeeds: the first one that meets the dead server is retried on the live
    // one, and the dead server is then skipped for fail_timeout.
    for _ in 0..10 {
        assert_eq!(get(&mut c, "/", &[]).await.0, 200);
    }
    assert_eq!(live.hits(), 10);
    let m = proxy.metrics();
    assert_eq!(
        common::sample(&m, "usher_upstream_errors_total", &[("kind", "connect")]),
        1.0,
        "the dead server was tried once"
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_certificate_when_none_is_configured() {
    let proxy = Harness::builder().self_signed().start().await;
    // Trust exactly the generated certificate (the harness's client trusts what the proxy
    // serves), for the name it was generated for.
    let tcp = tokio::net::TcpStream::connect(proxy.public())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = proxy
        .client()
        .connector(&[])
        .connect(name, tcp)
        .await
        .expect("the self-signed certificate verifies for localhost");
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (status, _, body) = get(&mut send, "/", &[]).await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "hello from upstream")
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_upstream_body_is_cut_after_read_timeout() {
    let proxy = Harness::builder()
        .line("upstream", "read_timeout = \"500ms\"")
        .start()
        .await;
    let mut c = proxy.h1().await;
    let req = http::Request::get("/stall")
        .header("host", "localhost")
        .body(empty())
        .unwrap();
    let resp = c.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let t = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect()).await;
    assert!(
        matches!(result, Ok(Err(_))),
        "body should fail, got {result:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_upload_gets_408_after_client_body_timeout() {
    let proxy = Harness::builder()
        .line("limits", "client_body_timeout = \"500ms\"")
        .start()
        .await;
    let mut c = proxy.h1().await;
    let trickle = futures_util::stream::once(async {
        Ok::<_, common::BoxError>(hyper::body::Frame::data(bytes::Bytes::from_static(
            b"start",
        )))
    })
    .chain(futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, common::BoxError>(hyper::body::Frame::data(bytes::Bytes::from_static(b"end")))
    }));
    let req = http::Request::post("/sink")
        .header("host", "localhost")
        .body(BodyExt::boxed(http_body_util::StreamBody::new(trickle)))
        .unwrap();
    let t = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(5), c.send_request(req))
        .await
        .expect("answered before the client finished")
        .unwrap();
    assert_eq!(resp.status(), 408);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_header_preserved_rewritten_or_fixed() {
    let up = upstream::spawn().await;
    let cases = [
        ("preserve", "localhost".to_string()),
        ("rewrite", up.addr.to_string()),
        ("shop.internal", "shop.internal".to_string()),
    ];
    for (mode, want) in cases {
        let line = format!("host_header = \"{mode}\"");
        let proxy = Harness::builder()
            .upstream(up.addr)
            .line("upstream", &line)
            .start()
            .await;
        let mut c = proxy.h1().await;
        let (_, _, body) = get(&mut c, "/headers", &[]).await;
        assert_eq!(lines_with(&body, "host"), [want.as_str()], "mode {mode}");
        // X-Forwarded-Host always carries what the visitor asked for.
        assert_eq!(
            lines_with(&body, "x-forwarded-host"),
            ["localhost"],
            "mode {mode}"
        );
        proxy.shutdown().await;
    }
}
