//! People who want to skip the line, against the real proxy over TLS: forged, tampered and
//! replayed passes and tickets, request smuggling, path tricks, spoofed headers, oversize
//! inputs and open redirects. Every attack gets its exact expected answer, and the
//! upstream's hit counter proves none of them reached the site.

mod common;

use std::time::Duration;

use base64::Engine;
use common::harness::Harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use usher::pass::Session;

/// Sends `bytes` as-is over a fresh TLS connection and reads until the server closes or
/// goes quiet; returns the status code (0 if none) and the whole answer.
async fn raw(proxy: &Harness, bytes: &[u8]) -> (u16, String, bool) {
    let mut tls = proxy.connect(&[b"http/1.1"]).await;
    // The server may answer and close before an oversize request is fully written.
    let _ = tls.write_all(bytes).await;
    let _ = tls.flush().await;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut closed = false;
    loop {
        match tokio::time::timeout(Duration::from_millis(1500), tls.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text, closed)
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Asks for `path` as an app (JSON) with `headers`; the status and body.
async fn api(proxy: &Harness, path: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut v = proxy.visitor().await;
    let mut h = vec![("accept", "application/json")];
    h.extend_from_slice(headers);
    let r = v.send("GET", path, &h).await;
    (r.status, r.json())
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_attacks_none_reaches_the_site() {
    let room = ["mode = \"paused\"", "max_active = 5"];
    let proxy = Harness::builder()
        .room(&room)
        .line("forwarding", "trusted_proxies = []")
        // An operator's bypass for an internal network: a spoofed forwarding header must
        // not put an outsider in it.
        .config_toml("[[bypass]]\ncidrs = [\"10.0.0.0/8\"]\n")
        // A room written in the operator's own script: browsers send it percent-encoded.
        .config_toml("[[rooms]]\nname = \"ticketing\"\npaths = [\"/예매\"]\nmode = \"paused\"\n")
        .start()
        .await;
    let (s, up) = (proxy.setup(), proxy.up());
    let t = now();
    let mut attacks = 0usize;
    let hits = up.hits();

    // ── Passes. Each is refused: the visitor gets the room's answer (503 "paused" for an
    // app), never the site.
    let insider = s.insider("pass-1", "usher-test");
    let session = Session {
        idle: 600,
        max: 3600,
    };
    let (good_other_room, _) = insider.mint("other", "v", session, t).unwrap();
    let (expired, _) = insider.mint("booking", "v", session, t - 7200).unwrap();
    let (future, _) = insider.mint("booking", "v", session, t + 3600).unwrap();
    let wrong_issuer = s
        .insider("pass-1", "someone-else")
        .mint("booking", "v", session, t)
        .unwrap()
        .0;
    let stranger = usher::pass::Passes::new(
        usher::pass::KeyRing::generate("pass-1").unwrap(),
        "usher-test",
    )
    .mint("booking", "v", session, t)
    .unwrap()
    .0;
    let unknown_kid = usher::pass::Passes::new(
        usher::pass::KeyRing::generate("pass-9").unwrap(),
        "usher-test",
    )
    .mint("booking", "v", session, t)
    .unwrap()
    .0;
    let (valid, _) = insider.mint("booking", "v", session, t).unwrap();
    let parts: Vec<&str> = valid.split('.').collect();
    let mut payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    payload["aud"] = "booking".into();
    payload["exp"] = (t + 86_400 * 365).into();
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        b64(payload.to_string().as_bytes()),
        parts[2]
    );
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(payload.to_string().as_bytes())
    );
    let hs256 = {
        let header = b64(br#"{"alg":"HS256","typ":"JWT","kid":"pass-1"}"#);
        let body = b64(payload.to_string().as_bytes());
        let public = std::fs::read(s.pki.dir.path().join("pass-1.pub")).unwrap();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public);
        let sig = ring::hmac::sign(&key, format!("{header}.{body}").as_bytes());
        format!("{header}.{body}.{}", b64(sig.as_ref()))
    };
    let truncated = valid[..valid.len() - 10].to_string();
    let garbage = "A".repeat(4000);
    let forged_passes: Vec<(&str, String)> = vec![
        ("pass for another room", good_other_room),
        ("expired pass", expired),
        ("pass from the future", future),
        ("pass from another issuer", wrong_issuer),
        ("pass signed by a stranger's key with our kid", stranger),
        ("pass with an unknown kid", unknown_kid),
        ("pass with an edited payload", edited),
        ("alg none", alg_none),
        ("HS256 keyed with the public key", hs256),
        ("truncated pass", truncated),
        ("4 KB of garbage", garbage),
    ];
    for (name, token) in &forged_passes {
        for how in ["cookie", "header"] {
            let cookie = format!("usher_pass={token}");
            let h = if how == "cookie" {
                ("cookie", cookie.as_str())
            } else {
                ("x-usher-pass", token.as_str())
            };
            let (status, body) = api(&proxy, "/book", &[h]).await;
            assert_eq!(
                (status, body["state"].as_str()),
                (503, Some("paused")),
                "{name} as {how}: {body}"
            );
            attacks += 1;
        }
    }

    // A pass that was valid, replayed after its session ended.
    let (replayed, claims) = insider.mint("booking", "v2", session, t).unwrap();
    let mut holder = proxy.visitor().await;
    holder.jar.insert("usher_pass".into(), replayed.clone());
    let left = holder.send("POST", "/_usher/leave", &[]).await;
    assert_eq!(left.json()["state"], "left", "{}", left.body);
    let (status, body) = api(&proxy, "/book", &[("x-usher-pass", &replayed)]).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (503, Some("paused")),
        "replayed: {body} ({claims:?})"
    );
    attacks += 1;

    // ── Tickets: a forged, tampered or foreign ticket is never a call; at best the
    // visitor is put at the back of the line.
    let mut first = proxy.visitor().await;
    first.get("/book").await;
    let real_ticket = first.jar.get("usher_ticket").unwrap().clone();
    let mut tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&real_ticket)
        .unwrap();
    tampered[12] ^= 0x01; // inside the place / visitor bytes
    let tampered = b64(&tampered);
    let tickets = [
        ("random ticket", b64(&[7u8; 60])),
        ("tampered ticket", tampered),
        ("empty ticket", String::new()),
        ("ticket of 3 KB", "B".repeat(3000)),
    ];
    for (name, ticket) in &tickets {
        let mut v = proxy.visitor().await;
        v.jar.insert("usher_ticket".into(), ticket.clone());
        // Asking for its standing with it: no such ticket, and no place is made up.
        let st = v.status().await;
        assert_eq!(st["error"]["code"], "no_ticket", "{name}: {st}");
        // Asking for the site with it: treated as a newcomer, at the back of the line.
        let r = v
            .send("GET", "/book", &[("accept", "application/json")])
            .await;
        let body = r.json();
        assert_eq!(
            (r.status, body["state"].as_str()),
            (503, Some("paused")),
            "{name}: {body}"
        );
        assert_ne!(v.jar.get("usher_ticket"), Some(ticket), "{name}: replaced");
        assert!(
            body["ahead"].as_u64().unwrap() >= 1,
            "{name} is not first: {body}"
        );
        attacks += 1;
    }
    // A ticket for the line presented as an app's bearer token for another room.
    let (status, body) = api(
        &proxy,
        "/_usher/status?room=other",
        &[("authorization", &format!("Bearer {real_ticket}"))],
    )
    .await;
    assert_eq!(
        (status, body["room"].as_str()),
        (200, Some("booking")),
        "{body}"
    );
    assert_eq!(
        body["state"], "paused",
        "the ticket stays in its own room: {body}"
    );
    attacks += 1;

    // ── Request smuggling and malformed HTTP/1.1: 400 and the connection closed.
    // Both Content-Length and Transfer-Encoding: the parser reads the body as chunked,
    // drops Content-Length, answers and closes the connection (RFC 9112 §6.1); what usher
    // forwards is re-framed by usher, so the two can never be read two ways downstream.
    let (status, text, closed) = raw(
        &proxy,
        b"POST /book HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /book HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert_eq!(status, 503, "CL + TE: {text}");
    assert!(closed, "CL + TE: the connection is closed after one answer");
    assert_eq!(
        text.matches("HTTP/1.1 ").count(),
        1,
        "the smuggled request is never read: {text}"
    );
    attacks += 1;
    let smuggling: [(&str, &[u8]); 7] = [
        ("two different Content-Lengths", b"POST /book HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
        ("obs-fold header", b"GET /book HTTP/1.1\r\nHost: localhost\r\nX-Usher-Pass: a\r\n b\r\n\r\n"),
        ("Transfer-Encoding not ending in chunked", b"POST /book HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
        ("space before the colon", b"POST /book HTTP/1.1\r\nHost: localhost\r\nContent-Length : 5\r\n\r\nabcde"),
        ("NUL in a header value", b"GET /book HTTP/1.1\r\nHost: localhost\r\nX-A: a\0b\r\n\r\n"),
        ("missing Host", b"GET /book HTTP/1.1\r\n\r\n"),
        ("two Host headers", b"GET /book HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n"),
    ];
    for (name, bytes) in smuggling {
        let (status, text, closed) = raw(&proxy, bytes).await;
        assert_eq!(status, 400, "{name}: {text}");
        assert!(closed, "{name}: the connection is closed after a 400");
        attacks += 1;
    }
    // A malformed chunk: the room answers without reading the body, and the connection
    // (its body unread) is closed rather than parsed on.
    let (status, _, closed) = raw(
        &proxy,
        b"POST /book HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!((status, closed), (503, true), "invalid chunk size");
    attacks += 1;

    // ── Path tricks: paths are normalised before anything matches on them, so usher's
    // own paths, rooms and the site all see one path; the admin API is not on the public
    // listener in any spelling; a detour through the open room ("other", /other) does
    // not walk past the line.
    let paths = [
        ("/_usher/../admin/rooms", 503),
        ("/_usher/%2e%2e/admin/rooms", 503),
        ("/_usher/%2E%2E/%2E%2E/metrics", 400),
        ("/../../etc/passwd", 400),
        // Reach usher's own status endpoint (a visitor without a ticket is told to join).
        ("//_usher//status?room=booking", 404),
        ("/_usher/./status?room=booking", 404),
        ("/%5Fusher/status?room=booking", 404),
        ("/admin/rooms", 503),
        ("/metrics", 503),
        ("/other/../book", 503),
        ("/other/%2e%2e/book", 503),
        ("/other//..//book", 503),
        ("/other%2F..%2Fbook", 400),
        ("/other/%zz", 400),
    ];
    for (path, want) in paths {
        let (status, body) = api(&proxy, path, &[]).await;
        assert_eq!(status, want, "{path}: {body}");
        match want {
            404 => assert_eq!(body["error"]["code"], "no_ticket", "{path}: {body}"),
            503 => assert_eq!(
                (body["room"].as_str(), body["state"].as_str()),
                (Some("booking"), Some("paused")),
                "{path}: {body}"
            ),
            _ => {}
        }
        attacks += 1;
    }

    // A non-ASCII room prefix in every spelling a client can send it: upper- or
    // lower-case escapes, doubled slashes, a detour, or raw UTF-8 on the wire. Each is
    // held by that room (not only by the catch-all one), and a bare `\` is refused.
    for path in [
        "/%EC%98%88%EB%A7%A4/seat",
        "/%ec%98%88%eb%a7%a4//seat",
        "/other/..//%EC%98%88%EB%A7%A4",
        "/%EC%98%88%EB%A7%A4/./seat",
    ] {
        let (status, body) = api(&proxy, path, &[]).await;
        assert_eq!(
            (status, body["room"].as_str()),
            (503, Some("ticketing")),
            "{path}: {body}"
        );
        attacks += 1;
    }
    for (raw_path, want) in [("/예매//seat", 503), ("/x\\..\\예매", 400)] {
        let request = format!(
            "GET {raw_path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n"
        );
        let (status, text, _) = raw(&proxy, request.as_bytes()).await;
        assert_eq!(status, want, "raw {raw_path}: {text}");
        if want == 503 {
            assert!(text.contains("\"ticketing\""), "raw {raw_path}: {text}");
        }
        attacks += 1;
    }

    // ── Spoofed headers from an untrusted client.
    for (name, h) in [
        (
            "X-Forwarded-For inside a bypassed network",
            ("x-forwarded-for", "10.1.2.3"),
        ),
        (
            "Forwarded inside a bypassed network",
            ("forwarded", "for=10.1.2.3"),
        ),
        (
            "X-Real-IP inside a bypassed network",
            ("x-real-ip", "10.1.2.3"),
        ),
        ("X-Usher-Admitted", ("x-usher-admitted", "1")),
        (
            "X-Usher-Complete from the client",
            ("x-usher-complete", "1"),
        ),
    ] {
        let (status, body) = api(&proxy, "/book", &[h]).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (503, Some("paused")),
            "{name}: {body}"
        );
        attacks += 1;
    }

    // ── Oversize inputs.
    let big_header = "x".repeat(100 * 1024);
    let many: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let long_uri = format!("/{}", "a".repeat(12 * 1024));
    let huge_uri = format!("/{}", "a".repeat(64 * 1024));
    let oversize: [(&str, Vec<u8>, u16); 5] = [
        (
            "a 100 KB header",
            format!("GET /book HTTP/1.1\r\nHost: localhost\r\nX-Big: {big_header}\r\n\r\n")
                .into_bytes(),
            431,
        ),
        (
            "500 headers",
            format!("GET /book HTTP/1.1\r\nHost: localhost\r\n{many}\r\n").into_bytes(),
            431,
        ),
        (
            "a 12 KB URI",
            format!("GET {long_uri} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes(),
            414,
        ),
        (
            // Past the parser's own buffer: it refuses before usher sees a request.
            "a 64 KB URI",
            format!("GET {huge_uri} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes(),
            431,
        ),
        (
            "a body over the limit",
            b"POST /book HTTP/1.1\r\nHost: localhost\r\nContent-Length: 999999999999\r\n\r\n"
                .to_vec(),
            413,
        ),
    ];
    for (name, bytes, want) in oversize {
        let (status, text, _) = raw(&proxy, &bytes).await;
        assert_eq!(status, want, "{name}: {}", &text[..text.len().min(300)]);
        attacks += 1;
    }

    // ── Open redirects: return_to is only ever a same-origin path.
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "%2F%2Fevil.example",
        "/%0d%0aLocation:%20https://evil.example",
    ] {
        let path = format!("/_usher/status?room=booking&return_to={evil}");
        let r = first
            .send("GET", &path, &[("accept", "application/json")])
            .await;
        let (status, body) = (r.status, r.json());
        assert_eq!(status, 200, "{evil}: {body}");
        let to = body["return_to"].as_str().unwrap();
        assert!(
            to.starts_with('/') && !to.starts_with("//") && !to.contains("evil") || to == "/",
            "{evil} → {to}"
        );
        attacks += 1;
    }

    assert!(attacks >= 40, "only {attacks} attacks");
    assert_eq!(up.hits(), hits, "no attack reached the site");
    println!("{attacks} attacks, 0 reached the site");
    proxy.shutdown().await;
}
