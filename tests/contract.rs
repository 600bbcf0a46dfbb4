//! The wire contract's one JSON error shape, `{"error": {"code": "<string>", "message"}}`
//! (`usher::protocol::ErrorBody`), as each part of usher answers it: the proxy's own
//! error, a waiting-room refusal, the admin API and the bundled backend.

mod common;

use std::sync::Arc;

use common::harness::Harness;
use serde_json::Value;
use usher::protocol::ErrorBody;

/// `body` is the one error shape: `error.code` a non-empty snake_case string, `error.message`
/// a non-empty string, and it reads back as `protocol::ErrorBody`.
fn assert_error_shape(body: &Value, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    let c = error["code"].as_str().unwrap_or_default();
    assert!(
        !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "{body}"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let parsed: ErrorBody<'static> = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(parsed.error.code, code);
}

#[tokio::test]
async fn a_proxy_error_has_the_one_error_shape() {
    // A port that was just free: nothing listens there.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let proxy = Harness::builder().upstream(dead).start().await;
    let mut v = proxy.visitor().await;
    let r = v
        .send("GET", "/api/x", &[("accept", "application/json")])
        .await;
    assert_eq!(r.status, 502);
    assert_error_shape(&r.json(), "upstream_unreachable");
    assert!(r.json()["error"]["request_id"].as_str().is_some());
}

#[tokio::test]
async fn a_waiting_room_refusal_has_the_one_error_shape() {
    // One place per network: the second new place from the same address is refused.
    let proxy = Harness::builder()
        .room(&["mode = \"queue\"", "max_active = 1"])
        .lines(
            "abuse",
            &["tickets_per_network = 1", "tickets_window = \"10m\""],
        )
        .start()
        .await;
    let json = [("accept", "application/json")];
    let first = proxy.visitor().await.send("GET", "/book", &json).await;
    assert_eq!(first.status, 503, "{}", first.body);
    assert_eq!(first.json()["state"], "waiting");
    let second = proxy.visitor().await.send("GET", "/book", &json).await;
    assert_eq!(second.status, 429, "{}", second.body);
    assert_eq!(second.json()["state"], "too_many");
    assert_error_shape(&second.json(), "too_many");
    // The room's own endpoints refuse in the same shape.
    let mut v = proxy.visitor().await;
    let r = v.send("GET", "/_usher/status?room=nope", &[]).await;
    assert_eq!(r.status, 404);
    assert_error_shape(&r.json(), "no_room");
}

#[tokio::test]
async fn an_admin_api_error_has_the_one_error_shape() {
    const TOKEN: &str = "contract-admin-token-0123456789";
    let proxy = Harness::builder()
        .room(&[])
        .line("admin", &format!("token = \"{TOKEN}\""))
        .start()
        .await;
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = common::plain_json(
        proxy.admin(),
        "GET",
        "/admin/rooms/nope",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_error_shape(&body, "no_room");
}

#[tokio::test]
async fn a_backend_error_has_the_one_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backend.db");
    let pair = usher::pass::keys::generate().unwrap();
    let verifier = usher::pass::Passes::new(
        usher::pass::KeyRing::verify_only(&[("pass-1".into(), pair.public_pem)]).unwrap(),
        "usher",
    );
    let api = Arc::new(usher::backend::api::Api::new(
        usher::backend::writer::Writer::start(&path).unwrap(),
        usher::backend::db::open(&path).unwrap(),
        verifier,
        "booking",
        None,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(usher::backend::serve(listener, api));
    let (status, body) = common::plain_json(addr, "GET", "/api/events", &[], "").await;
    assert_eq!(status, 401, "{body}");
    assert_error_shape(&body, "no_pass");
}
