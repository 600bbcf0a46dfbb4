//! The one map from outcomes to responses: every waiting-room standing and every
//! `ProxyError` becomes its status, headers and body here, and nowhere else.
//!
//! A standing is answered three ways, by who asked: a page load gets the waiting page
//! (`page.rs`); a status poll (`/_usher/status`, `/_usher/join`) gets its standing as JSON
//! with 200 while the visitor is in line; any other request the room holds (an API call,
//! a form post) gets the same JSON with a status that makes clients back off (503 +
//! `Retry-After`). JSON is `protocol::StatusAnswer`; errors are `protocol::ErrorBody`.

use std::borrow::Cow;

use http::{header, HeaderValue, Response, StatusCode};

use super::error::ProxyError;
use super::page::{Lang, Pages};
use crate::gate::Standing;
use crate::protocol::{ErrorDetail, Phase, State, StatusAnswer, JOIN_PATH};
use crate::response::{self, Body};

/// The page shown when the proxy answers with an error; placeholders are filled in.
/// The request id is safe to insert: ids are validated to `[A-Za-z0-9._:-]`.
const ERROR_PAGE: &str = include_str!("../../static/error.html");

/// Who asked, which decides how a standing is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// A browser loading a page (`GET`/`HEAD` not preferring JSON): the waiting page.
    Page,
    /// The waiting page's script or an app polling its standing.
    Poll,
    /// Any other request the room holds: JSON with a status that makes clients back off.
    Held,
}

/// The status a standing is answered with.
pub fn status_of(standing: Standing, asked: Asked) -> StatusCode {
    match (standing, asked) {
        (Standing::Challenge(_), Asked::Page) => StatusCode::OK,
        (Standing::Challenge(_), _) => StatusCode::PRECONDITION_REQUIRED,
        (Standing::TooMany(_), _) => StatusCode::TOO_MANY_REQUESTS,
        (Standing::Shared, _) => StatusCode::FORBIDDEN,
        (Standing::NotFound, _) => StatusCode::NOT_FOUND,
        (Standing::Unavailable, _) => StatusCode::SERVICE_UNAVAILABLE,
        (_, Asked::Held) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    }
}

/// The `Retry-After` (seconds) a standing is answered with, if any.
pub fn retry_after_of(standing: Standing, asked: Asked) -> Option<u64> {
    match (standing, asked) {
        (Standing::TooMany(secs), Asked::Held | Asked::Poll) => Some(u64::from(secs).max(1)),
        (_, Asked::Page | Asked::Poll) => None,
        (Standing::Challenge(_) | Standing::Shared, Asked::Held) => None,
        (Standing::PreQueue(w), Asked::Held) => Some(u64::from(w.poll_ms / 1000).max(1)),
        (Standing::Waiting(p, _), Asked::Held) => Some(u64::from(p.poll_ms / 1000).max(1)),
        (_, Asked::Held) => Some(5),
    }
}

/// The JSON of a standing in `room`; `challenge` goes with `Standing::Challenge`.
pub fn status_answer<'a>(
    standing: Standing,
    room: &'a str,
    return_to: &'a str,
    challenge: Option<&'a str>,
) -> StatusAnswer<'a> {
    let mut a = StatusAnswer::new(room, standing.state());
    a.return_to = Some(Cow::Borrowed(return_to));
    match standing {
        Standing::Waiting(p, _) => {
            a.ahead = Some(p.ahead);
            a.behind = Some(p.behind);
            a.eta_seconds = p.eta_seconds;
            a.poll_ms = p.poll_ms;
        }
        Standing::PreQueue(w) => {
            // Before the start nobody has a position (the order is drawn then): it says
            // when the start is and when to come back.
            a.phase = Some(Phase::Prequeue);
            a.eta_seconds = Some(w.starts_in);
            a.starts_in = Some(w.starts_in);
            a.starts_at_ms = Some(w.starts_at_ms);
            a.poll_ms = w.poll_ms;
        }
        Standing::Challenge(bits) => {
            // Solve it, then `POST /_usher/join` with `X-Usher-Challenge` and
            // `X-Usher-Solution`.
            a.challenge = Some(Cow::Borrowed(challenge.unwrap_or_default()));
            a.difficulty = Some(bits);
            a.join = Some(Cow::Owned(format!("{JOIN_PATH}?room={room}")));
        }
        Standing::TooMany(secs) => {
            a.retry_after = Some(secs.into());
            a.poll_ms = secs.clamp(1, 3600) * 1000;
            a.error = Some(ErrorDetail::new(
                "too_many",
                "this network took its share of places; try again later",
            ));
        }
        Standing::Shared => {
            a.poll_ms = 10_000;
            a.error = Some(ErrorDetail::new(
                "pass_shared",
                "this pass was used from too many places or too fast and has been revoked; join the line again",
            ));
        }
        Standing::Closed | Standing::Unavailable | Standing::NotFound => {}
    }
    a
}

/// A JSON answer (`StatusAnswer`) with the status and `Retry-After` of `standing`.
pub fn json(standing: Standing, asked: Asked, answer: &StatusAnswer<'_>) -> Response<Body> {
    let mut r = response::respond_bytes(
        status_of(standing, asked),
        "application/json",
        answer.to_vec(),
    );
    if let Some(secs) = retry_after_of(standing, asked) {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// The answer to a visitor who is already in (`admitted`) or was just called (`called`).
pub fn inside(state: State, room: &str, return_to: &str, pass: Option<&str>) -> Response<Body> {
    let mut a = StatusAnswer::new(room, state);
    a.return_to = Some(Cow::Borrowed(return_to));
    a.pass = pass.map(Cow::Borrowed);
    response::respond_bytes(StatusCode::OK, "application/json", a.to_vec())
}

/// What a browser loading a page is shown: the waiting page for its standing.
pub struct PageRequest<'a> {
    /// The page's language.
    pub lang: Lang,
    /// Whether the client takes gzip.
    pub gzip: bool,
    /// Where to go once in.
    pub return_to: &'a str,
}

/// The waiting page for `standing` in `room`.
pub fn page(
    pages: &Pages,
    standing: Standing,
    room: &str,
    req: &PageRequest<'_>,
    challenge: Option<&str>,
) -> Response<Body> {
    let status = status_of(standing, Asked::Page);
    pages.html(
        req.lang,
        standing,
        status,
        room,
        req.return_to,
        req.gzip,
        challenge,
    )
}

/// How a `ProxyError` is answered: status, stable code, and whether the connection
/// must close (the rest of a refused request may still be in flight).
pub fn error_shape(e: &ProxyError) -> (StatusCode, &'static str, bool) {
    match e {
        ProxyError::HeadersTooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            true,
        ),
        ProxyError::UriTooLong => (StatusCode::URI_TOO_LONG, "uri_too_long", true),
        ProxyError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", true),
        ProxyError::ClientBodyTimeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout", true),
        ProxyError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", true),
        ProxyError::UpstreamConnect { .. } => {
            (StatusCode::BAD_GATEWAY, "upstream_unreachable", false)
        }
        ProxyError::UpstreamProtocol { .. } => (StatusCode::BAD_GATEWAY, "upstream_failed", false),
        ProxyError::UpstreamTimeout { .. } => {
            (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", false)
        }
    }
}

/// A `ProxyError` as a small HTML page, or JSON when the client prefers it.
pub fn error(e: &ProxyError, request_id: &HeaderValue, wants_json: bool) -> Response<Body> {
    let (status, code, close) = error_shape(e);
    let id = request_id.to_str().unwrap_or("");
    let message = e.visitor_message();
    let mut resp = if wants_json {
        let mut detail = ErrorDetail::new(code, message);
        detail.request_id = Some(Cow::Borrowed(id));
        response::json(status, &crate::protocol::ErrorBody { error: detail })
    } else {
        let page = ERROR_PAGE
            .replace("{code}", &status.as_u16().to_string())
            .replace("{reason}", status.canonical_reason().unwrap_or(""))
            .replace("{message}", message)
            .replace("{request_id}", id);
        response::respond(status, "text/html; charset=utf-8", page)
    };
    let h = resp.headers_mut();
    if close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if status.is_server_error() {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    resp
}

#[cfg(test)]
mod tests;
