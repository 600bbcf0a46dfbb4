//! usher's own responses: the body type every response of the proxy and the admin
//! listener has, and the builders of the answers usher writes itself (never cached, JSON
//! in the one error shape of `protocol::ErrorBody`).

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::protocol::ErrorBody;

/// Boxed error for bodies assembled from several sources.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body type of every response the proxy and the admin listener send.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A small response with no caching.
pub fn respond(status: StatusCode, ctype: &'static str, body: String) -> Response<Body> {
    respond_bytes(status, ctype, body.into_bytes())
}

/// A small response with no caching, from bytes.
pub fn respond_bytes(status: StatusCode, ctype: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A JSON response of `value`.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let mut out = Vec::with_capacity(256);
    // Serialising plain data into a Vec cannot fail; an empty body would be the symptom.
    let _ = serde_json::to_writer(&mut out, value);
    respond_bytes(status, "application/json", out)
}

/// A JSON error: `{"error": {"code", "message"}}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(status, &ErrorBody::new(code, message))
}
