//! People who want to skip the line, against the real proxy over TLS: forged, tampered and
//! replayed passes and tickets, request smuggling, path tricks, spoofed headers, oversize
//! inputs and open redirects. Every attack is its own test against its own proxy and gets
//! its exact expected answer; the upstream's hit counter proves it did not reach the site,
//! and a health probe after it proves the proxy still serves (a normal request through
//! the same proxy gets its 200 from the upstream).

mod common;

use std::time::Duration;

use base64::Engine;
use common::harness::{Harness, Setup};
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

/// The proxy one attack is made against, and the upstream's hits before the attack.
struct Target {
    proxy: Harness,
    hits: usize,
}

impl Target {
    /// The booking room paused (nobody is called, so whatever reaches the upstream
    /// skipped the line), no trusted front proxy, an operator's bypass for an internal
    /// network, and a room with a non-ASCII path.
    async fn start() -> Self {
        let room = ["mode = \"paused\"", "max_active = 5"];
        let proxy = Harness::builder()
            .room(&room)
            .line("forwarding", "trusted_proxies = []")
            // An operator's bypass for an internal network: a spoofed forwarding header
            // must not put an outsider in it.
            .config_toml("[[bypass]]\ncidrs = [\"10.0.0.0/8\"]\n")
            // A room written in the operator's own script: browsers send it
            // percent-encoded.
            .config_toml(
                "[[rooms]]\nname = \"ticketing\"\npaths = [\"/예매\"]\nmode = \"paused\"\n",
            )
            .start()
            .await;
        let hits = proxy.up().hits();
        Self { proxy, hits }
    }

    /// After the attack: it did not reach the site, and the health probe — a normal
    /// request through the same proxy (the open room's path) — gets its 200 from the
    /// upstream.
    async fn still_serves(self) {
        assert_eq!(
            self.proxy.up().hits(),
            self.hits,
            "no attack reached the site"
        );
        self.proxy.assert_serves("/other/after-the-attack").await;
        self.proxy.shutdown().await;
    }
}

/// One `#[tokio::test]` per attack (`name => the attack;`), and [`ATTACKS`], their names.
macro_rules! attacks {
    ($($name:ident => $attack:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                $attack.await
            }
        )*
        /// Every attack above, by name.
        const ATTACKS: &[&str] = &[$(stringify!($name)),*];
    };
}

attacks! {
    pass_for_another_room_as_cookie => forged_pass("pass for another room", "cookie");
    pass_for_another_room_as_header => forged_pass("pass for another room", "header");
    expired_pass_as_cookie => forged_pass("expired pass", "cookie");
    expired_pass_as_header => forged_pass("expired pass", "header");
    pass_from_the_future_as_cookie => forged_pass("pass from the future", "cookie");
    pass_from_the_future_as_header => forged_pass("pass from the future", "header");
    pass_from_another_issuer_as_cookie => forged_pass("pass from another issuer", "cookie");
    pass_from_another_issuer_as_header => forged_pass("pass from another issuer", "header");
    pass_signed_by_a_strangers_key_with_our_kid_as_cookie =>
        forged_pass("pass signed by a stranger's key with our kid", "cookie");
    pass_signed_by_a_strangers_key_with_our_kid_as_header =>
        forged_pass("pass signed by a stranger's key with our kid", "header");
    pass_with_an_unknown_kid_as_cookie => forged_pass("pass with an unknown kid", "cookie");
    pass_with_an_unknown_kid_as_header => forged_pass("pass with an unknown kid", "header");
    pass_with_an_edited_payload_as_cookie => forged_pass("pass with an edited payload", "cookie");
    pass_with_an_edited_payload_as_header => forged_pass("pass with an edited payload", "header");
    pass_with_alg_none_as_cookie => forged_pass("alg none", "cookie");
    pass_with_alg_none_as_header => forged_pass("alg none", "header");
    pass_hs256_keyed_with_the_public_key_as_cookie =>
        forged_pass("HS256 keyed with the public key", "cookie");
    pass_hs256_keyed_with_the_public_key_as_header =>
        forged_pass("HS256 keyed with the public key", "header");
    truncated_pass_as_cookie => forged_pass("truncated pass", "cookie");
    truncated_pass_as_header => forged_pass("truncated pass", "header");
    garbage_pass_of_4_kb_as_cookie => forged_pass("4 KB of garbage", "cookie");
    garbage_pass_of_4_kb_as_header => forged_pass("4 KB of garbage", "header");
    pass_replayed_after_its_session_ended => replayed_pass();

    random_ticket => forged_ticket("random ticket");
    tampered_ticket => forged_ticket("tampered ticket");
    empty_ticket => forged_ticket("empty ticket");
    ticket_of_3_kb => forged_ticket("ticket of 3 KB");
    line_ticket_as_a_bearer_token_for_another_room => ticket_as_bearer_for_another_room();

    smuggling_content_length_with_transfer_encoding => content_length_with_transfer_encoding();
    smuggling_two_different_content_lengths => smuggling("two different Content-Lengths");
    smuggling_obs_fold_header => smuggling("obs-fold header");
    smuggling_transfer_encoding_not_ending_in_chunked =>
        smuggling("Transfer-Encoding not ending in chunked");
    smuggling_space_before_the_colon => smuggling("space before the colon");
    smuggling_nul_in_a_header_value => smuggling("NUL in a header value");
    smuggling_missing_host => smuggling("missing Host");
    smuggling_two_host_headers => smuggling("two Host headers");
    smuggling_invalid_chunk_size => invalid_chunk_size();

    path_dotdot_from_usher_to_the_admin_api => path_trick("/_usher/../admin/rooms");
    path_escaped_dotdot_from_usher_to_the_admin_api => path_trick("/_usher/%2e%2e/admin/rooms");
    path_escaped_dotdot_above_the_root_to_metrics => path_trick("/_usher/%2E%2E/%2E%2E/metrics");
    path_dotdot_above_the_root_to_etc_passwd => path_trick("/../../etc/passwd");
    path_doubled_slashes_to_usher_status => path_trick("//_usher//status?room=booking");
    path_dot_segment_to_usher_status => path_trick("/_usher/./status?room=booking");
    path_escaped_underscore_to_usher_status => path_trick("/%5Fusher/status?room=booking");
    path_admin_api_on_the_public_listener => path_trick("/admin/rooms");
    path_metrics_on_the_public_listener => path_trick("/metrics");
    path_detour_through_the_open_room => path_trick("/other/../book");
    path_escaped_detour_through_the_open_room => path_trick("/other/%2e%2e/book");
    path_detour_with_doubled_slashes => path_trick("/other//..//book");
    path_detour_with_escaped_slashes => path_trick("/other%2F..%2Fbook");
    path_with_an_invalid_escape => path_trick("/other/%zz");

    non_ascii_room_in_upper_case_escapes => non_ascii_room("/%EC%98%88%EB%A7%A4/seat");
    non_ascii_room_in_lower_case_escapes_with_a_doubled_slash =>
        non_ascii_room("/%ec%98%88%eb%a7%a4//seat");
    non_ascii_room_through_a_detour => non_ascii_room("/other/..//%EC%98%88%EB%A7%A4");
    non_ascii_room_with_a_dot_segment => non_ascii_room("/%EC%98%88%EB%A7%A4/./seat");
    non_ascii_room_in_raw_utf8 => raw_non_ascii_path("/예매//seat", 503);
    backslash_detour_to_the_non_ascii_room => raw_non_ascii_path("/x\\..\\예매", 400);

    spoofed_x_forwarded_for_inside_a_bypassed_network =>
        spoofed_header("X-Forwarded-For inside a bypassed network");
    spoofed_forwarded_inside_a_bypassed_network =>
        spoofed_header("Forwarded inside a bypassed network");
    spoofed_x_real_ip_inside_a_bypassed_network =>
        spoofed_header("X-Real-IP inside a bypassed network");
    spoofed_x_usher_admitted => spoofed_header("X-Usher-Admitted");
    spoofed_x_usher_complete_from_the_client => spoofed_header("X-Usher-Complete from the client");

    oversize_header_of_100_kb => oversize("a 100 KB header");
    oversize_500_headers => oversize("500 headers");
    oversize_uri_of_12_kb => oversize("a 12 KB URI");
    oversize_uri_of_64_kb => oversize("a 64 KB URI");
    oversize_body_over_the_limit => oversize("a body over the limit");

    open_redirect_to_another_origin => open_redirect("https://evil.example/");
    open_redirect_protocol_relative => open_redirect("//evil.example/");
    open_redirect_with_a_backslash => open_redirect("/\\evil.example/");
    open_redirect_to_javascript => open_redirect("javascript:alert(1)");
    open_redirect_escaped_protocol_relative => open_redirect("%2F%2Fevil.example");
    open_redirect_with_a_header_injection =>
        open_redirect("/%0d%0aLocation:%20https://evil.example");
}

#[test]
fn at_least_forty_attacks() {
    let attacks = ATTACKS.len();
    assert!(attacks >= 40, "only {attacks} attacks");
    println!("{attacks} attacks, each its own test");
}

// ── Passes. Each is refused: the visitor gets the room's answer (503 "paused" for an
// app), never the site.

/// Every forged pass by name: made with the proxy's own key where only an insider could
/// (another room, expired, future), or by a stranger, or edited, or not a pass at all.
fn forged_passes(s: &Setup, t: u64) -> Vec<(&'static str, String)> {
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
    vec![
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
    ]
}

/// The forged pass `name`, sent `how`: as the pass cookie or as the app's header.
async fn forged_pass(name: &str, how: &str) {
    let target = Target::start().await;
    let proxy = &target.proxy;
    let forged_passes = forged_passes(proxy.setup(), now());
    let (name, token) = forged_passes.iter().find(|(n, _)| *n == name).unwrap();
    let cookie = format!("usher_pass={token}");
    let h = if how == "cookie" {
        ("cookie", cookie.as_str())
    } else {
        ("x-usher-pass", token.as_str())
    };
    let (status, body) = api(proxy, "/book", &[h]).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (503, Some("paused")),
        "{name} as {how}: {body}"
    );
    target.still_serves().await;
}

/// A pass that was valid, replayed after its session ended.
async fn replayed_pass() {
    let target = Target::start().await;
    let proxy = &target.proxy;
    let insider = proxy.setup().insider("pass-1", "usher-test");
    let session = Session {
        idle: 600,
        max: 3600,
    };
    let (replayed, claims) = insider.mint("booking", "v2", session, now()).unwrap();
    let mut holder = proxy.visitor().await;
    holder.jar.insert("usher_pass".into(), replayed.clone());
    let left = holder.send("POST", "/_usher/leave", &[]).await;
    assert_eq!(left.json()["state"], "left", "{}", left.body);
    let (status, body) = api(proxy, "/book", &[("x-usher-pass", &replayed)]).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (503, Some("paused")),
        "replayed: {body} ({claims:?})"
    );
    target.still_serves().await;
}

// ── Tickets: a forged, tampered or foreign ticket is never a call; at best the visitor
// is put at the back of the line.

/// A visitor in line (so every newcomer is behind someone) and their genuine ticket.
async fn first_in_line(proxy: &Harness) -> (common::visitor::Visitor, String) {
    let mut first = proxy.visitor().await;
    first.get("/book").await;
    let real_ticket = first.jar.get("usher_ticket").unwrap().clone();
    (first, real_ticket)
}

/// The forged ticket `name`, made from a genuine one where it is tampered with.
async fn forged_ticket(name: &str) {
    let target = Target::start().await;
    let proxy = &target.proxy;
    let (_first, real_ticket) = first_in_line(proxy).await;
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
    let (name, ticket) = tickets.iter().find(|(n, _)| *n == name).unwrap();
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
    target.still_serves().await;
}

/// A ticket for the line presented as an app's bearer token for another room.
async fn ticket_as_bearer_for_another_room() {
    let target = Target::start().await;
    let proxy = &target.proxy;
    let (_first, real_ticket) = first_in_line(proxy).await;
    let (status, body) = api(
        proxy,
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
    target.still_serves().await;
}

// ── Request smuggling and malformed HTTP/1.1: 400 and the connection closed.

/// Both Content-Length and Transfer-Encoding: the parser reads the body as chunked,
/// drops Content-Length, answers and closes the connection (RFC 9112 §6.1); what usher
/// forwards is re-framed by usher, so the two can never be read two ways downstream.
async fn content_length_with_transfer_encoding() {
    let target = Target::start().await;
    let (status, text, closed) = raw(
        &target.proxy,
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
    target.still_serves().await;
}

/// Malformed requests, by name.
const SMUGGLING: [(&str, &[u8]); 7] = [
    ("two different Content-Lengths", b"POST /book HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
    ("obs-fold header", b"GET /book HTTP/1.1\r\nHost: localhost\r\nX-Usher-Pass: a\r\n b\r\n\r\n"),
    ("Transfer-Encoding not ending in chunked", b"POST /book HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("space before the colon", b"POST /book HTTP/1.1\r\nHost: localhost\r\nContent-Length : 5\r\n\r\nabcde"),
    ("NUL in a header value", b"GET /book HTTP/1.1\r\nHost: localhost\r\nX-A: a\0b\r\n\r\n"),
    ("missing Host", b"GET /book HTTP/1.1\r\n\r\n"),
    ("two Host headers", b"GET /book HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n"),
];

/// The malformed request `name` from [`SMUGGLING`].
async fn smuggling(name: &str) {
    let target = Target::start().await;
    let (name, bytes) = SMUGGLING.into_iter().find(|(n, _)| *n == name).unwrap();
    let (status, text, closed) = raw(&target.proxy, bytes).await;
    assert_eq!(status, 400, "{name}: {text}");
    assert!(closed, "{name}: the connection is closed after a 400");
    target.still_serves().await;
}

/// A malformed chunk: the room answers without reading the body, and the connection (its
/// body unread) is closed rather than parsed on.
async fn invalid_chunk_size() {
    let target = Target::start().await;
    let (status, _, closed) = raw(
        &target.proxy,
        b"POST /book HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!((status, closed), (503, true), "invalid chunk size");
    target.still_serves().await;
}

// ── Path tricks: paths are normalised before anything matches on them, so usher's own
// paths, rooms and the site all see one path; the admin API is not on the public
// listener in any spelling; a detour through the open room ("other", /other) does not
// walk past the line.

/// Each path trick and its answer.
const PATHS: [(&str, u16); 14] = [
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

/// The path trick `path` from [`PATHS`].
async fn path_trick(path: &str) {
    let target = Target::start().await;
    let (path, want) = PATHS.into_iter().find(|(p, _)| *p == path).unwrap();
    let (status, body) = api(&target.proxy, path, &[]).await;
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
    target.still_serves().await;
}

// A non-ASCII room prefix in every spelling a client can send it: upper- or lower-case
// escapes, doubled slashes, a detour, or raw UTF-8 on the wire. Each is held by that room
// (not only by the catch-all one), and a bare `\` is refused.

/// The non-ASCII room's prefix, escaped as `path`.
async fn non_ascii_room(path: &str) {
    let target = Target::start().await;
    let (status, body) = api(&target.proxy, path, &[]).await;
    assert_eq!(
        (status, body["room"].as_str()),
        (503, Some("ticketing")),
        "{path}: {body}"
    );
    target.still_serves().await;
}

/// `raw_path` as raw UTF-8 on the wire, answered `want`.
async fn raw_non_ascii_path(raw_path: &str, want: u16) {
    let target = Target::start().await;
    let request =
        format!("GET {raw_path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n");
    let (status, text, _) = raw(&target.proxy, request.as_bytes()).await;
    assert_eq!(status, want, "raw {raw_path}: {text}");
    if want == 503 {
        assert!(text.contains("\"ticketing\""), "raw {raw_path}: {text}");
    }
    target.still_serves().await;
}

// ── Spoofed headers from an untrusted client.

/// Each spoofed header, by name.
const SPOOFED: [(&str, (&str, &str)); 5] = [
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
];

/// The spoofed header `name` from [`SPOOFED`].
async fn spoofed_header(name: &str) {
    let target = Target::start().await;
    let (name, h) = SPOOFED.into_iter().find(|(n, _)| *n == name).unwrap();
    let (status, body) = api(&target.proxy, "/book", &[h]).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (503, Some("paused")),
        "{name}: {body}"
    );
    target.still_serves().await;
}

// ── Oversize inputs.

/// The oversize request `name` and its answer.
async fn oversize(name: &str) {
    let target = Target::start().await;
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
    let (name, bytes, want) = oversize.into_iter().find(|(n, _, _)| *n == name).unwrap();
    let (status, text, _) = raw(&target.proxy, &bytes).await;
    assert_eq!(status, want, "{name}: {}", &text[..text.len().min(300)]);
    target.still_serves().await;
}

// ── Open redirects: return_to is only ever a same-origin path.

/// Asks for its standing with `return_to={evil}`, from a visitor in line.
async fn open_redirect(evil: &str) {
    let target = Target::start().await;
    let (mut first, _) = first_in_line(&target.proxy).await;
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
    target.still_serves().await;
}
