//! The admin API (`/admin/*`, bearer token): rooms with live counters, and live changes
//! to mode, capacity and rate that never touch anyone's place in line.

use std::sync::Arc;

use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;

use crate::gate::Gate;
use crate::response::{error, respond, Body as ProxyBody};
use crate::room::Overrides;
use crate::store::{Store, StoreError};

/// Largest admin request body.
const MAX_BODY: usize = 16 * 1024;

/// A change to a room, as sent by an operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    mode: Option<String>,
    max_active: Option<u32>,
    new_per_minute: Option<u32>,
    /// RFC 3339 times; `prequeue_start` and `start` together schedule a sale.
    prequeue_start: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

/// True when the request carries the admin token (compared in constant time).
fn authorised<B>(req: &Request<B>, token: &str) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves `/admin/…`.
pub async fn handle(
    req: Request<hyper::body::Incoming>,
    token: Option<&str>,
    gate: Option<&Arc<Gate>>,
) -> Response<ProxyBody> {
    let Some(token) = token else {
        return error(
            StatusCode::FORBIDDEN,
            "disabled",
            "the admin API is off: set admin.token or USHER_ADMIN_TOKEN",
        );
    };
    if !authorised(&req, token) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "unauthorised",
            "send Authorization: Bearer <admin token>",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    let Some(gate) = gate else {
        return error(StatusCode::NOT_FOUND, "no_rooms", "no rooms are configured");
    };
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.strip_prefix("/admin/rooms")) {
        (Method::GET, Some("" | "/")) => {
            let mut rooms = Vec::new();
            for r in &gate.policy().routes {
                rooms.push(room_view(gate, &r.name).await);
            }
            json(serde_json::json!({ "rooms": rooms }))
        }
        (Method::GET, Some(name)) if name.starts_with('/') => {
            let name = &name[1..];
            match gate.room_index(name) {
                Some(_) => json(room_view(gate, name).await),
                None => error(StatusCode::NOT_FOUND, "no_room", "no such room"),
            }
        }
        (Method::PATCH | Method::POST, Some(name)) if name.starts_with('/') => {
            let name = name[1..].to_string();
            if gate.room_index(&name).is_none() {
                return error(StatusCode::NOT_FOUND, "no_room", "no such room");
            }
            let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        "the body is too large or broken",
                    )
                }
            };
            let change: Change = match serde_json::from_slice(&body) {
                Ok(c) => c,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "bad_json",
                        &format!("expected {{\"mode\", \"max_active\", \"new_per_minute\"}}: {e}"),
                    )
                }
            };
            if let Some(Err(msg)) = change.mode.as_deref().map(str::parse::<crate::room::Mode>) {
                return error(StatusCode::BAD_REQUEST, "mode", &msg);
            }
            if change.max_active == Some(0) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "max_active",
                    "0 would let nobody in; use mode \"paused\" to stop admissions",
                );
            }
            // A bad time names its field.
            let time =
                |field: &'static str, v: &Option<String>| -> Result<Option<u64>, &'static str> {
                    match v.as_deref() {
                        None => Ok(None),
                        Some(t) => crate::config::rooms::parse_time(t).map(Some).ok_or(field),
                    }
                };
            let parsed = time("prequeue_start", &change.prequeue_start)
                .and_then(|a| Ok((a, time("start", &change.start)?, time("end", &change.end)?)));
            let (pre, start, end) = match parsed {
                Ok(t) => t,
                Err(field) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        field,
                        "not an RFC 3339 time like \"2026-09-14T07:00:00+09:00\"",
                    )
                }
            };
            let event = match (pre, start) {
                (Some(p), Some(s)) if p <= s && end.is_none_or(|e| e > s) => Some((p, s, end)),
                (None, None) if end.is_none() => None,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "event",
                        "give prequeue_start ≤ start (and end after start)",
                    )
                }
            };
            let overrides = Overrides {
                mode: change.mode,
                max_active: change.max_active,
                new_per_minute: change.new_per_minute,
                event,
            };
            match gate.store.override_settings(&name, overrides.clone()).await {
                Ok(_) => {
                    tracing::warn!(room = %name, change = ?overrides, "room changed through the admin API");
                    json(room_view(gate, &name).await)
                }
                Err(StoreError::Unavailable) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store",
                    "the queue store is unavailable",
                ),
                Err(e) => error(StatusCode::NOT_FOUND, "no_room", &e.to_string()),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "GET /admin/rooms, GET or PATCH /admin/rooms/NAME",
        ),
    }
}

fn json(v: serde_json::Value) -> Response<ProxyBody> {
    respond(StatusCode::OK, "application/json", v.to_string())
}

async fn room_view(gate: &Gate, name: &str) -> serde_json::Value {
    let settings = gate.store.settings(name).await;
    let stats = gate.store.stats(name).await;
    match (settings, stats) {
        (Ok(s), Ok(st)) => serde_json::json!({
            "name": name,
            "mode": s.mode.as_str(),
            "max_active": s.max_active,
            "new_per_minute": s.new_per_minute,
            "session_idle_seconds": s.session_idle.as_secs(),
            "session_max_seconds": s.session_max.as_secs(),
            "event": s.event.map(|e| serde_json::json!({
                "prequeue_start": e.prequeue_start, "start": e.start, "end": e.end,
            })),
            "waiting": st.waiting,
            "recalled_waiting": st.recalled_waiting,
            "called": st.called,
            "active": st.active,
            "admitted_total": st.admitted_total,
            "lapsed_total": st.lapsed_total,
            "abandoned_total": st.abandoned_total,
            "recalled_total": st.recalled_total,
            "estimated_wait_seconds": st.estimated_wait_seconds,
            "store": "up",
        }),
        _ => serde_json::json!({ "name": name, "store": "unavailable" }),
    }
}
