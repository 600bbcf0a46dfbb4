//! The facts of a request that later phases need, read once from its head when it
//! arrives (Pingora's per-request context): who sent it, for which host, what it accepts
//! and in which language. The waiting room's credentials are `gate::Credentials`, read
//! from the same head once the path is normalised.

use std::net::IpAddr;

use http::{header, HeaderMap, HeaderValue, Method, Request};

use super::headers::{self, RequestIds};
use super::page::{self, Lang};
use super::ConnInfo;

/// A request's facts, read once.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The request id (the client's when short and plain, else generated).
    pub id: HeaderValue,
    /// The client: the peer, or the nearest untrusted address a trusted proxy forwarded.
    pub client: IpAddr,
    /// The host asked for: `Host` (HTTP/1.1) or the URI authority (HTTP/2).
    pub host: Option<HeaderValue>,
    /// The client's `Accept` prefers JSON over HTML (apps, API calls).
    pub wants_json: bool,
    /// A browser loading a page: `GET`/`HEAD` not preferring JSON.
    pub page_load: bool,
    /// The client takes gzip.
    pub gzip: bool,
    /// The language of any page usher shows it.
    pub lang: Lang,
}

impl Facts {
    /// Reads the facts of `req`, which arrived on `conn`; forwarding headers count only
    /// from `trusted` peers.
    pub fn read<B>(
        req: &Request<B>,
        conn: &ConnInfo,
        trusted: &[ipnet::IpNet],
        ids: &RequestIds,
    ) -> Self {
        let h = req.headers();
        let wants_json = wants_json(h);
        Self {
            id: ids.for_request(h),
            client: headers::client_ip(h, conn.peer.ip(), trusted),
            host: host_of(h, req.uri()),
            wants_json,
            page_load: matches!(*req.method(), Method::GET | Method::HEAD) && !wants_json,
            gzip: page::accepts_gzip(h),
            lang: Lang::from_headers(h),
        }
    }

    /// The host as text, when it is text.
    pub fn host_str(&self) -> Option<&str> {
        self.host.as_ref().and_then(|h| h.to_str().ok())
    }
}

/// True when the client's `Accept` prefers JSON over HTML (API clients, mobile apps).
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

fn host_of(headers: &HeaderMap, uri: &http::Uri) -> Option<HeaderValue> {
    headers.get(header::HOST).cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}
