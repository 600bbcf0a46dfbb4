//! Everything that can stop a request. How each is answered (status, code, page) is
//! `answer.rs`'s.

use std::time::Duration;

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
    pub fn visitor_message(&self) -> &'static str {
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
}
