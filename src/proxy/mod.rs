//! The public request path. A request goes through named phases, in order:
//!
//! 1. `limits`    — refuse heads and bodies over the configured sizes (431/413), ambiguous
//!    framing (400), and normalise the path (`path.rs`) that every later phase matches.
//! 2. `endpoints` — `/_usher/…`: the waiting room's own API (`endpoints.rs`).
//! 3. `gate`      — bypass rules, room match, pass check, or the room's decision: in now,
//!    or the waiting page / 503 (`gate.rs`). Fails closed when the store is down.
//! 4. `upgrade`   — note a protocol switch (WebSocket) before headers are cleaned.
//! 5. `upstream_request` — clean hop-by-hop, `X-Usher-*` and usher cookies, add forwarding
//!    headers and the verified pass, pick an upstream, rewrite the target and `Host`.
//! 6. `send`      — the pooled client, under connect and response timeouts.
//! 7. `response`  — clean the response headers (acting on `X-Usher-Complete` and
//!    `X-Usher-Sold-Out`), add `Via`, `X-Request-Id` and usher's cookies, tunnel upgrades.

mod body;
pub mod challenge;
pub mod cookies;
mod endpoints;
mod error;
pub mod gate;
pub mod headers;
pub mod page;
mod upgrade;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as _;
use hyper::body::Incoming;
use tracing::Instrument;

pub use error::ProxyError;
use headers::{Hop, RequestIds};
pub use upstream::Upstreams;

use crate::config::{HostHeader, Limits, Settings};
use crate::metrics::{Metrics, StatusCounters};
use crate::path;

/// Boxed error for bodies assembled from several sources.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body type of every response the proxy sends.
pub type ProxyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
/// Body type of every request the proxy forwards.
pub type UpstreamBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Facts about the client connection a request arrived on, prepared once per connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The immediate peer.
    pub peer: SocketAddr,
    /// Forwarding-header values for this peer.
    hop: Hop,
}

impl ConnInfo {
    /// A connection from `peer` over `scheme` (`https` or `http`).
    pub fn new(peer: SocketAddr, scheme: &'static str) -> Self {
        Self {
            peer,
            hop: Hop::new(peer.ip(), scheme),
        }
    }
}

/// The reverse proxy: shared by every connection on the public listener.
pub struct Proxy {
    live: ArcSwap<Live>,
    limits: Limits,
    ids: RequestIds,
    responses: StatusCounters,
    gate: Option<Arc<gate::Gate>>,
}

/// The parts of the proxy a config reload replaces. A request takes one snapshot when it
/// starts and keeps it to the end, so a reload never changes a request midway.
struct Live {
    upstreams: Upstreams,
    host_header: HostHeader,
    read_timeout: std::time::Duration,
    trusted: Vec<ipnet::IpNet>,
    pages: page::Pages,
}

impl Live {
    fn new(settings: &Settings, metrics: &Metrics, pages: page::Pages) -> Self {
        Self {
            upstreams: Upstreams::new(&settings.upstream, metrics),
            host_header: settings.upstream.host.clone(),
            read_timeout: settings.upstream.read_timeout,
            trusted: settings.forwarding.trusted_proxies.clone(),
            pages,
        }
    }
}

impl Proxy {
    /// Builds the proxy from its parts of the configuration.
    pub fn new(
        settings: &Settings,
        metrics: &Metrics,
        gate: Option<Arc<gate::Gate>>,
        pages: page::Pages,
    ) -> Self {
        Self {
            live: ArcSwap::from_pointee(Live::new(settings, metrics, pages)),
            gate,
            limits: settings.limits.clone(),
            ids: RequestIds::new(),
            responses: metrics.status_counters("public"),
        }
    }

    /// Takes new upstreams, forwarding and page settings; requests in flight finish with
    /// the old ones. (Limits belong to the listeners and need a restart.)
    pub fn reload(&self, settings: &Settings, metrics: &Metrics, pages: page::Pages) {
        self.live
            .store(Arc::new(Live::new(settings, metrics, pages)));
    }

    /// Serves one request; never fails — every error becomes a response.
    pub async fn handle(&self, req: Request<Incoming>, conn: &ConnInfo) -> Response<ProxyBody> {
        let started = Instant::now();
        let request_id = self.ids.for_request(req.headers());
        let wants_json = error::wants_json(req.headers());
        let span = tracing::info_span!(
            "request",
            id = request_id.to_str().unwrap_or(""),
            method = %req.method(),
            path = req.uri().path(),
            status = tracing::field::Empty,
            ms = tracing::field::Empty,
        );
        // Boxed: the process future is ~7 KB; unboxed it makes the per-request service
        // future ~14 KB, copied on every h2 stream spawn.
        let result = Box::pin(self.process(req, conn, &request_id))
            .instrument(span.clone())
            .await;
        let mut resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                span.in_scope(|| tracing::warn!(error = %e, "answered by proxy"));
                e.into_response(&request_id, wants_json)
            }
        };
        // Unique per response: keep it out of the HTTP/2 HPACK dynamic table.
        let mut rid = request_id.clone();
        rid.set_sensitive(true);
        resp.headers_mut().insert(headers::X_REQUEST_ID, rid);
        let status = resp.status().as_u16();
        self.responses.record(status);
        span.record("status", status);
        span.record("ms", started.elapsed().as_secs_f64() * 1e3);
        span.in_scope(|| tracing::info!(target: "usher::access", "served"));
        resp
    }

    async fn process(
        &self,
        mut req: Request<Incoming>,
        conn: &ConnInfo,
        request_id: &HeaderValue,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        // Phase 1: limits and framing.
        check_limits(&req, &self.limits)?;
        check_framing(&req)?;
        normalize_path(&mut req)?;
        let live = self.live.load_full();

        // Phases 2 and 3: the waiting room.
        let admission = match &self.gate {
            Some(gate) if req.uri().path().starts_with("/_usher/") => {
                let client = headers::client_ip(req.headers(), conn.peer.ip(), &live.trusted);
                return Ok(endpoints::handle(gate, &req, client).await);
            }
            Some(gate) => {
                let client = headers::client_ip(req.headers(), conn.peer.ip(), &live.trusted);
                let host = client_host_of(req.headers(), req.uri());
                let host = host.as_ref().and_then(|h| h.to_str().ok());
                match gate
                    .decide(req.method(), host, req.uri().path(), req.headers(), client)
                    .await
                {
                    gate::Decision::Forward(a) => a,
                    gate::Decision::Answer(answer) => return Ok(live.answer(&req, gate, answer)),
                }
            }
            None => gate::Admission::default(),
        };

        // Phase 4: upgrade. The client side must be claimed before the request is consumed.
        let upgrade = upgrade::Pending::take(&mut req);

        // Phase 5: upstream request (the parts that do not depend on which server).
        let (mut parts, body) = req.into_parts();
        let client_host = client_host(&parts);
        let hop = headers::remove_hop_by_hop(&mut parts.headers);
        headers::remove_usher_headers(&mut parts.headers);
        cookies::strip(&mut parts.headers);
        if let Some(pass) = &admission.pass {
            parts.headers.insert(gate::PASS_HEADER, pass.clone());
        }
        headers::set_forwarding(
            &mut parts.headers,
            &conn.hop,
            client_host.as_ref(),
            &live.trusted,
        );
        headers::append_via(&mut parts.headers, parts.version);
        parts
            .headers
            .insert(headers::X_REQUEST_ID, request_id.clone());
        if hop.te_trailers {
            parts
                .headers
                .insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if let Some(up) = &upgrade {
            up.restore_request_headers(&mut parts.headers);
        }
        // The pooled connection speaks HTTP/1.1 whatever the client spoke.
        parts.version = Version::HTTP_11;
        let path = parts.uri.path_and_query().cloned();
        // A request without a body can be sent again: keep its head for one retry, when
        // there is another server to retry on.
        let spare = (live.upstreams.len() > 1 && body.is_end_stream() && upgrade.is_none())
            .then(|| head_copy(&parts));
        let limit = self.limits.max_body_bytes as usize;
        let body = if body.is_end_stream() {
            body.map_err(BoxError::from).boxed_unsync()
        } else {
            let idle = body::IdleTimeout::new(body, self.limits.client_body_timeout);
            Limited::new(idle, limit)
                .map_err(BoxError::from)
                .boxed_unsync()
        };

        // Phase 4: send. A refused connection means the request never left, so a bodyless
        // one is retried once on another live server.
        let server = live.upstreams.pick();
        live.target(&mut parts, server, client_host.as_ref(), path.as_ref())?;
        let mut result = live
            .upstreams
            .send(server, Request::from_parts(parts, body))
            .await;
        if let (Err(ProxyError::UpstreamConnect { .. }), Some(mut parts)) = (&result, spare) {
            if let Some(next) = live.upstreams.pick_other(server) {
                tracing::info!(
                    failed = %live.upstreams.authority(server),
                    retry = %live.upstreams.authority(next),
                    "retrying on another upstream"
                );
                live.target(&mut parts, next, client_host.as_ref(), path.as_ref())?;
                let empty = http_body_util::Empty::new()
                    .map_err(|never| match never {})
                    .boxed_unsync();
                result = live
                    .upstreams
                    .send(next, Request::from_parts(parts, empty))
                    .await;
            }
        }
        let mut resp = result?;

        // Phase 7: response.
        let upgraded = match upgrade {
            Some(up) if resp.status() == StatusCode::SWITCHING_PROTOCOLS => {
                Some(up.tunnel(&mut resp))
            }
            _ => None,
        };
        headers::remove_hop_by_hop(resp.headers_mut());
        let said = |name: &str| {
            resp.headers()
                .get(name)
                .is_some_and(|v| v.as_bytes() == b"1")
        };
        let (complete, sold_out) = (said("x-usher-complete"), said("x-usher-sold-out"));
        headers::remove_usher_headers(resp.headers_mut());
        if sold_out {
            if let (Some(gate), Some((ri, _))) = (&self.gate, &admission.session) {
                gate.site_sold_out(*ri).await;
            }
        }
        let mut set_cookies = admission.set_cookies;
        if complete {
            // The site says the visitor is done (e.g. booked): the slot frees at once.
            if let (Some(gate), Some((ri, claims))) = (&self.gate, &admission.session) {
                gate.end_session(*ri, claims).await;
                set_cookies.push(cookies::clear(cookies::PASS));
            }
        }
        for c in set_cookies {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
        let version = resp.version();
        headers::append_via(resp.headers_mut(), version);
        if let Some(proto) = upgraded {
            let h = resp.headers_mut();
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(header::UPGRADE, proto);
        }
        let read_timeout = live.read_timeout;
        Ok(resp.map(|b| body::IdleTimeout::new(b, read_timeout).boxed_unsync()))
    }
}

impl Live {
    /// Points a prepared request head at `server`: absolute URI and `Host`.
    fn target(
        &self,
        parts: &mut http::request::Parts,
        server: usize,
        client_host: Option<&HeaderValue>,
        path: Option<&http::uri::PathAndQuery>,
    ) -> Result<(), ProxyError> {
        let host = match &self.host_header {
            HostHeader::Preserve => client_host.cloned(),
            HostHeader::Rewrite => None,
            HostHeader::Fixed(v) => Some(v.clone()),
        };
        let authority = self.upstreams.authority(server);
        let host = match host {
            Some(h) => h,
            None => HeaderValue::from_str(authority.as_str())
                .map_err(|_| ProxyError::BadRequest("unusable upstream host"))?,
        };
        parts.headers.insert(header::HOST, host);
        parts.uri = Upstreams::uri(authority, path)?;
        Ok(())
    }
}

/// A copy of a request head (method, target, version, headers) for a retry.
fn head_copy(parts: &http::request::Parts) -> http::request::Parts {
    let mut req = Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req.into_parts().0
}

/// The host the client asked for: `Host` (HTTP/1.1) or the URI authority (HTTP/2).
fn client_host(parts: &http::request::Parts) -> Option<HeaderValue> {
    client_host_of(&parts.headers, &parts.uri)
}

fn client_host_of(headers: &http::HeaderMap, uri: &http::Uri) -> Option<HeaderValue> {
    headers.get(header::HOST).cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}

impl Live {
    /// The gate's answer: the waiting page for a page load, JSON + 503 for anything else.
    fn answer<B>(
        &self,
        req: &Request<B>,
        gate: &gate::Gate,
        answer: gate::Answer,
    ) -> Response<ProxyBody> {
        let policy = gate.policy();
        let room = answer
            .room
            .map(|ri| policy.routes[ri].name.as_str())
            .unwrap_or("");
        let page_load = matches!(*req.method(), http::Method::GET | http::Method::HEAD)
            && !error::wants_json(req.headers());
        let mut resp = if page_load {
            let return_to = page::safe_return_to(req.uri().path_and_query().map(|p| p.as_str()));
            self.pages.html(
                page::Lang::from_headers(req.headers()),
                answer.standing,
                room,
                &return_to,
                page::accepts_gzip(req.headers()),
                answer.challenge.as_deref(),
            )
        } else {
            page::api_wait(answer.standing, room, answer.challenge.as_deref())
        };
        for c in answer.set_cookies {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
        resp
    }
}

/// Phase 1: message framing that two parsers could read differently (request smuggling,
/// RFC 9112 §6.1, §6.3, §3.2) is refused with 400, and the connection closed, rather than
/// repaired: a transfer coding that does not end in `chunked` (or any on HTTP/1.0),
/// conflicting `Content-Length`s, or a missing or repeated `Host`. (The parser refuses
/// most of these itself; this is the check that does not depend on it.)
fn check_framing(req: &Request<Incoming>) -> Result<(), ProxyError> {
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
fn normalize_path<B>(req: &mut Request<B>) -> Result<(), ProxyError> {
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
fn check_limits(req: &Request<Incoming>, limits: &Limits) -> Result<(), ProxyError> {
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
