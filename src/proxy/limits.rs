//! Phase 1's checks: sizes, message framing and the path. A request that fails one is
//! answered here, before anything else reads it.

use http::{header, HeaderValue, Request, Version};
use hyper::body::Incoming;

use super::ProxyError;
use crate::config::Limits;
use crate::path;

/// Phase 1: message framing that two parsers could read differently (request smuggling,
/// RFC 9112 §6.1, §6.3, §3.2) is refused with 400, and the connection closed, rather than
/// repaired: a transfer coding that does not end in `chunked` (or any on HTTP/1.0),
/// conflicting `Content-Length`s, or a missing or repeated `Host`. (The parser refuses
/// most of these itself; this is the check that does not depend on it.)
pub fn check_framing(req: &Request<Incoming>) -> Result<(), ProxyError> {
    if req.version() >= Version::HTTP_2 {
        // The h2 codec enforces its own framing rules (no TE, no connection headers).
        return Ok(());
    }
    let h = req.headers();
    let te: Vec<&HeaderValue> = h.get_all(header::TRANSFER_ENCODING).iter().collect();
    let cl: Vec<&HeaderValue> = h.get_all(header::CONTENT_LENGTH).iter().collect();
    if !te.is_empty() {
        // (With Content-Length too, the parser has already dropped it, reads the body as
        // chunked and closes the connection after the answer: RFC 9112 §6.1.)
        let last = te
            .last()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|c| c.trim().to_ascii_lowercase());
        if req.version() == Version::HTTP_10 || last.as_deref() != Some("chunked") {
            return Err(ProxyError::BadRequest("unsupported Transfer-Encoding"));
        }
    }
    let mut lengths = cl
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("x").split(','))
        .map(str::trim);
    if let Some(first) = lengths.next() {
        if lengths.any(|l| l != first) {
            return Err(ProxyError::BadRequest("conflicting Content-Length"));
        }
    }
    if req.version() == Version::HTTP_11 {
        let hosts = h.get_all(header::HOST).iter().count();
        if hosts != 1 {
            return Err(ProxyError::BadRequest("an HTTP/1.1 request needs one Host"));
        }
    }
    Ok(())
}

/// Phase 1: the path every later phase matches on (and the site receives), normalised.
pub fn normalize_path<B>(req: &mut Request<B>) -> Result<(), ProxyError> {
    let normal = path::normalize(req.uri().path()).map_err(|e| {
        ProxyError::BadRequest(match e {
            path::PathError::AboveRoot => "the path climbs above the root",
            path::PathError::EncodedSeparator => "an encoded / or \\ in the path",
            path::PathError::BadEscape => "a malformed %-escape in the path",
        })
    })?;
    let Some(normal) = normal else {
        return Ok(());
    };
    let target = match req.uri().query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        target
            .parse()
            .map_err(|_| ProxyError::BadRequest("unusable path"))?,
    );
    *req.uri_mut() =
        http::Uri::from_parts(parts).map_err(|_| ProxyError::BadRequest("unusable path"))?;
    Ok(())
}

/// Phase 1: sizes. hyper enforces its own buffer limits too; this is the exact one.
pub fn check_limits(req: &Request<Incoming>, limits: &Limits) -> Result<(), ProxyError> {
    let h = req.headers();
    if h.len() > limits.max_headers {
        return Err(ProxyError::HeadersTooLarge);
    }
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + req.uri().authority().map_or(0, |a| a.as_str().len());
    if target > limits.max_uri_bytes {
        return Err(ProxyError::UriTooLong);
    }
    let head_bytes: usize = target
        + h.iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head_bytes > limits.max_header_bytes {
        return Err(ProxyError::HeadersTooLarge);
    }
    let declared = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return Err(ProxyError::BodyTooLarge);
    }
    Ok(())
}
