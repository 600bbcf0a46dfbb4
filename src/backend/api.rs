//! The backend's HTTP API (docs/DESIGN.md §9): JSON in and out, errors in the one shape
//! of `protocol::ErrorBody` (`{"error": {"code", "message"}}`), and a valid usher pass on every request but
//! `/healthz` — talking to the backend directly, around the proxy, gains nothing.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use rusqlite::Connection;

use super::db;
use super::writer::{now, Reply, Request as Write, Writer};
use crate::pass::Passes;
use crate::protocol::query::query_param as query;
use crate::protocol::{ErrorBody, PASS_HEADER, SOLD_OUT_HEADER};

/// Response body of the backend.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// The web UI (static/app/), served from memory.
const UI: [(&str, &str, &str); 3] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../static/app/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app/app.css"),
    ),
];

fn ui(file: &str) -> Option<Response<Body>> {
    let (_, ctype, text) = UI.iter().find(|(name, _, _)| *name == file)?;
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed_unsync());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    Some(r)
}

/// Largest request body the API reads.
const MAX_BODY: usize = 64 * 1024;

/// The booking site's request handler.
pub struct Api {
    writer: Writer,
    reader: Arc<Mutex<Connection>>,
    passes: Passes,
    audience: String,
    admin_token: Option<String>,
    /// Event pages as last rendered.
    pages: Mutex<Pages>,
}

/// Rendered event pages: event id → (when, JSON), and a generation bumped by every write
/// so a page rendered before a booking is never kept after it.
#[derive(Default)]
struct Pages {
    generation: u64,
    rendered: std::collections::HashMap<i64, (std::time::Instant, Bytes)>,
}

/// How long a rendered event page (with its seat map) is reused. In a rush thousands of
/// visitors open the same seat map within a second, and rendering each under the one
/// reader lock queued them (bench/rush.sh, KTX: 2 s median to read the seat map). The
/// seats shown may be this much older than the database; a booking decides.
const PAGE_FRESH: std::time::Duration = std::time::Duration::from_millis(250);

fn respond(status: u16, body: String) -> Response<Body> {
    respond_bytes(status, Bytes::from(body))
}

fn respond_bytes(status: u16, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body).boxed_unsync());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    let mut r = respond(status, ErrorBody::new(code, message).to_json());
    if status == 503 {
        // The writer is briefly unable to store; say when a retry (same key) makes sense.
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    r
}

fn reply(r: Reply) -> Response<Body> {
    let sold_out = r.sold_out;
    let mut resp = respond(r.status, r.body);
    if sold_out {
        // Tells usher (when the room is set to listen) that this event's line is over.
        resp.headers_mut()
            .insert(SOLD_OUT_HEADER, HeaderValue::from_static("1"));
    }
    resp
}

impl Api {
    /// An API writing through `writer`, reading with `reader`, trusting passes `passes`
    /// verifies for `audience` (the proxy room guarding this site).
    pub fn new(
        writer: Writer,
        reader: Connection,
        passes: Passes,
        audience: &str,
        admin_token: Option<String>,
    ) -> Self {
        Self {
            writer,
            reader: Arc::new(Mutex::new(reader)),
            passes,
            audience: audience.to_string(),
            admin_token,
            pages: Mutex::new(Pages::default()),
        }
    }

    /// The event page for `id`, rendered at most once per [`PAGE_FRESH`].
    async fn event_page(&self, id: i64) -> Response<Body> {
        let generation = {
            let pages = self.pages();
            if let Some((_, body)) = pages
                .rendered
                .get(&id)
                .filter(|(at, _)| at.elapsed() < PAGE_FRESH)
            {
                return respond_bytes(200, body.clone());
            }
            pages.generation
        };
        let now = now();
        match self.read(move |c| db::event_detail(c, id, now)).await {
            Ok(Some((ev, seats))) => {
                let seats: Vec<_> = seats
                    .into_iter()
                    .map(|(s, free)| serde_json::json!({"seat": s, "free": free}))
                    .collect();
                let mut v = serde_json::to_value(&ev).unwrap_or_default();
                v["seats"] = serde_json::Value::Array(seats);
                let body = Bytes::from(v.to_string());
                let mut pages = self.pages();
                if pages.generation == generation {
                    pages
                        .rendered
                        .retain(|_, (at, _)| at.elapsed() < PAGE_FRESH);
                    pages
                        .rendered
                        .insert(id, (std::time::Instant::now(), body.clone()));
                }
                drop(pages);
                respond_bytes(200, body)
            }
            Ok(None) => error(404, "no_event", "no such event"),
            Err(r) => r,
        }
    }

    /// A read on the reader connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, db::DbError> + Send + 'static,
    ) -> Result<T, Response<Body>> {
        let reader = self.reader.clone();
        match tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "read failed");
                Err(error(500, "internal", "the request could not be processed"))
            }
            Err(_) => Err(error(500, "internal", "the request could not be processed")),
        }
    }

    /// Serves one request.
    pub async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        if path == "/healthz" {
            return respond(200, r#"{"status":"ok"}"#.into());
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        // Admin routes use their own token, not a pass.
        if let ["api", "admin", "events", rest @ ..] = segments.as_slice() {
            return self.admin(req, rest.first().copied()).await;
        }
        let Some(user) = self.user(req.headers()) else {
            return error(
                401,
                "no_pass",
                "a valid usher pass is required (X-Usher-Pass)",
            );
        };
        let q = req.uri().query().map(str::to_owned);
        match (req.method().clone(), segments.as_slice()) {
            (Method::GET, [""]) => {
                ui("index.html").unwrap_or_else(|| error(404, "not_found", "no UI"))
            }
            (Method::GET, ["app", file]) => {
                ui(file).unwrap_or_else(|| error(404, "not_found", "no such file"))
            }
            (Method::GET, ["api", "events"]) => {
                let term = query(q.as_deref(), "q").unwrap_or_default();
                let page = query(q.as_deref(), "page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1);
                let per = query(q.as_deref(), "per_page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(20);
                let now = now();
                match self
                    .read(move |c| db::search(c, &term, page, per, now))
                    .await
                {
                    Ok(p) => respond(200, serde_json::to_string(&p).unwrap_or_default()),
                    Err(r) => r,
                }
            }
            (Method::GET, ["api", "events", id]) => {
                let Ok(id) = id.parse::<i64>() else {
                    return error(404, "no_event", "no such event");
                };
                self.event_page(id).await
            }
            (Method::POST, ["api", "events", id, "bookings"]) => {
                let Ok(event) = id.parse::<i64>() else {
                    return error(404, "no_event", "no such event");
                };
                let Some(key) = req
                    .headers()
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .filter(|k| !k.is_empty() && k.len() <= 128)
                    .map(str::to_owned)
                else {
                    return error(
                        400,
                        "no_idempotency_key",
                        "send an Idempotency-Key header (1 to 128 characters)",
                    );
                };
                let order = match read_json::<db::Order>(req).await {
                    Ok(o) => o,
                    Err(r) => return r,
                };
                self.write(Write::Book {
                    user,
                    event,
                    order,
                    key,
                })
                .await
            }
            (Method::GET, ["api", "me", "bookings"]) => {
                match self.read(move |c| db::my_bookings(c, &user, 200)).await {
                    Ok(b) => respond(200, serde_json::json!({ "items": b }).to_string()),
                    Err(r) => r,
                }
            }
            (Method::DELETE, ["api", "bookings", id]) => {
                let Ok(booking) = id.parse::<i64>() else {
                    return error(404, "no_booking", "no such booking");
                };
                self.write(Write::Cancel { user, booking }).await
            }
            _ => error(404, "not_found", "no such endpoint"),
        }
    }

    fn pages(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn write(&self, w: Write) -> Response<Body> {
        let result = self.writer.submit(w).await;
        // Whatever changed (a booking, a cancel, an event change; or an outcome unknown),
        // no page rendered before it is shown after it. A refusal changed nothing.
        if !result
            .as_ref()
            .is_ok_and(|r| !(200..300).contains(&r.status))
        {
            let mut pages = self.pages();
            pages.generation += 1;
            pages.rendered.clear();
        }
        match result {
            Ok(r) => reply(r),
            Err(e) => {
                tracing::error!(error = %e, "write failed");
                error(
                    503,
                    "unavailable",
                    "the booking could not be stored; try again with the same Idempotency-Key",
                )
            }
        }
    }

    /// The visitor id from a valid pass.
    fn user(&self, headers: &http::HeaderMap) -> Option<String> {
        let token = headers.get(PASS_HEADER)?.to_str().ok()?;
        self.passes
            .verify(token, &self.audience, now() as u64)
            .ok()
            .map(|c| c.sub.clone())
    }

    async fn admin(&self, req: Request<hyper::body::Incoming>, id: Option<&str>) -> Response<Body> {
        let ok = self.admin_token.as_deref().is_some_and(|t| {
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|g| {
                    g.len() == t.len()
                        && g.bytes().zip(t.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
                })
        });
        if !ok {
            return error(401, "admin", "send Authorization: Bearer <admin token>");
        }
        match (req.method().clone(), id) {
            (Method::POST, None) => match read_json::<db::NewEvent>(req).await {
                Ok(e) => self.write(Write::CreateEvent(e)).await,
                Err(r) => r,
            },
            (Method::PUT, Some(id)) => {
                let Ok(id) = id.parse::<i64>() else {
                    return error(404, "no_event", "no such event");
                };
                match read_json::<db::EventChange>(req).await {
                    Ok(c) => self.write(Write::UpdateEvent(id, c)).await,
                    Err(r) => r,
                }
            }
            _ => error(
                404,
                "not_found",
                "POST /api/admin/events, PUT /api/admin/events/ID",
            ),
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<hyper::body::Incoming>,
) -> Result<T, Response<Body>> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| error(413, "too_large", "the request body is too large"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| {
        error(
            422,
            "invalid_json",
            &format!("the body is not what this endpoint takes: {e}"),
        )
    })
}
