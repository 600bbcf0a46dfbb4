//! Everything that can stop a request, and the one place that maps it to a status code
//! and a small page.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::ProxyBody;

/// The page shown when the proxy answers with an error; placeholders are filled in.
/// The request id is safe to insert: ids are validated to `[A-Za-z0-9._:-]`.
const ERROR_PAGE: &str = include_str!("../../static/error.html");

/// Why the proxy answered instead of the upstream.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The request head is larger than `limits.max_header_bytes` or has too many fields.
    #[error("request head too large")]
    HeadersTooLarge,
    /// The request target is longer than `limits.max_uri_bytes`.
    #[error("request target too long")]
    UriTooLong,
    /// The body is larger than `limits.max_body_bytes`.
    #[error("request body too large")]
    BodyTooLarge,
    /// The client stopped sending its body for `limits.client_body_timeout`.
    #[error("request body stalled")]
    ClientBodyTimeout,
    /// The request is malformed in a way hyper let through (e.g. no usable host).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// No TCP connection to the upstream could be opened in time.
    #[error("upstream {upstream} unreachable: {source}")]
    UpstreamConnect {
        /// Which upstream.
        upstream: String,
        /// The client error.
        source: hyper_util::client::legacy::Error,
    },
    /// The upstream did not send a response head within `upstream.response_timeout`.
    #[error("upstream {upstream} gave no response within {after:?}")]
    UpstreamTimeout {
        /// Which upstream.
        upstream: String,
        /// The budget that ran out.
        after: Duration,
    },
    /// The upstream connection failed after it was opened (reset, bad response…).
    #[error("upstream {upstream} failed: {source}")]
    UpstreamProtocol {
        /// Which upstream.
        upstream: String,
        /// The client error.
        source: hyper_util::client::legacy::Error,
    },
}

impl ProxyError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ClientBodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UpstreamConnect { .. } | Self::UpstreamProtocol { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The `kind` label for `usher_upstream_errors_total`, or `None` when the client erred.
    pub fn upstream_kind(&self) -> Option<&'static str> {
        match self {
            Self::UpstreamConnect { .. } => Some("connect"),
            Self::UpstreamTimeout { .. } => Some("timeout"),
            Self::UpstreamProtocol { .. } => Some("protocol"),
            _ => None,
        }
    }

    /// Short text for visitors: never internal details.
    fn visitor_message(&self) -> &'static str {
        match self {
            Self::HeadersTooLarge => "The request headers are too large.",
            Self::UriTooLong => "The address is too long.",
            Self::BodyTooLarge => "The request body is too large.",
            Self::ClientBodyTimeout => "The request body stopped arriving. Please try again.",
            Self::BadRequest(_) => "The request is malformed.",
            Self::UpstreamConnect { .. } | Self::UpstreamProtocol { .. } => {
                "The site is not answering right now. Please try again in a moment."
            }
            Self::UpstreamTimeout { .. } => {
                "The site is taking too long to answer. Please try again in a moment."
            }
        }
    }

    /// A small HTML page, or JSON when the client prefers it.
    pub fn into_response(self, request_id: &HeaderValue, wants_json: bool) -> Response<ProxyBody> {
        let status = self.status();
        let id = request_id.to_str().unwrap_or("");
        let (ctype, body) = if wants_json {
            (
                "application/json",
                format!(
                    "{{\"error\":{{\"code\":{},\"message\":\"{}\",\"request_id\":\"{}\"}}}}",
                    status.as_u16(),
                    self.visitor_message(),
                    id
                ),
            )
        } else {
            (
                "text/html; charset=utf-8",
                ERROR_PAGE
                    .replace("{code}", &status.as_u16().to_string())
                    .replace("{reason}", status.canonical_reason().unwrap_or(""))
                    .replace("{message}", self.visitor_message())
                    .replace("{request_id}", id),
            )
        };
        let mut resp = Response::new(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(
            self,
            Self::HeadersTooLarge
                | Self::UriTooLong
                | Self::BodyTooLarge
                | Self::ClientBodyTimeout
                | Self::BadRequest(_)
        ) {
            // The rest of the request may still be in flight; do not reuse the connection.
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status.is_server_error() {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

/// True when the client's `Accept` prefers JSON over HTML (API clients, mobile apps).
pub fn wants_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}
