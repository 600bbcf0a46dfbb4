//! The public request path. A request goes through named phases, each its own function,
//! in this order (`Proxy::process` is the driver):
//!
//! 1. `inbound`          — read the request's facts once (`context.rs`); refuse heads and
//!    bodies over the configured sizes (431/413) and ambiguous framing (400); normalise
//!    the path every later phase matches on (`limits.rs`).
//! 2. `endpoints`        — `/_usher/…`: the waiting room's own API (`endpoints.rs`).
//! 3. `waiting_room`     — bypass rules, room match, pass check, or the room's decision
//!    (`crate::gate`); an answer instead of forwarding is built by `answer.rs`. Fails
//!    closed when the store is down.
//! 4. `upgrade`          — claim a protocol switch (WebSocket) before the request is
//!    consumed (`upgrade.rs`).
//! 5. `upstream_request` — clean hop-by-hop, `X-Usher-*` and usher cookies, add
//!    forwarding headers and the verified pass (`forward.rs`).
//! 6. `send`             — pick an upstream, rewrite the target and `Host`, the pooled
//!    client under connect and response timeouts, one retry (`forward.rs`).
//! 7. `response`         — clean the response headers (acting on `X-Usher-Complete` and
//!    `X-Usher-Sold-Out`), add `Via` and usher's cookies, tunnel upgrades.
//!
//! Errors from any phase are one `ProxyError`, answered in one place (`answer.rs`).

pub mod answer;
mod body;
mod context;
mod endpoints;
mod error;
mod forward;
pub mod headers;
mod limits;
pub mod page;
mod upgrade;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tracing::Instrument;

use context::Facts;
pub use error::ProxyError;
use headers::{Hop, RequestIds};
pub use upstream::Upstreams;

use crate::config::{HostHeader, Limits, Settings};
use crate::gate::{Admission, Credentials, Decision, Gate};
use crate::metrics::{Metrics, StatusCounters};
use crate::protocol::{cookies, COMPLETE_HEADER, ENDPOINT_PREFIX, PASS_COOKIE, SOLD_OUT_HEADER};
use crate::response::Body;
pub use crate::response::BoxError;

/// Body type of every response the proxy sends.
pub type ProxyBody = Body;
/// Body type of every request the proxy forwards.
pub type UpstreamBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>;

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
    gate: Option<Arc<Gate>>,
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
        gate: Option<Arc<Gate>>,
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
        let live = self.live.load_full();
        let facts = Facts::read(&req, conn, &live.trusted, &self.ids);
        let span = tracing::info_span!(
            "request",
            id = facts.id.to_str().unwrap_or(""),
            method = %req.method(),
            path = req.uri().path(),
            status = tracing::field::Empty,
            ms = tracing::field::Empty,
        );
        // Boxed: the process future is ~7 KB; unboxed it makes the per-request service
        // future ~14 KB, copied on every h2 stream spawn.
        let result = Box::pin(self.process(req, conn, &live, &facts))
            .instrument(span.clone())
            .await;
        let mut resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                span.in_scope(|| tracing::warn!(error = %e, "answered by proxy"));
                answer::error(&e, &facts.id, facts.wants_json)
            }
        };
        // Unique per response: keep it out of the HTTP/2 HPACK dynamic table.
        let mut rid = facts.id.clone();
        rid.set_sensitive(true);
        resp.headers_mut().insert(headers::X_REQUEST_ID, rid);
        let status = resp.status().as_u16();
        self.responses.record(status);
        span.record("status", status);
        span.record("ms", started.elapsed().as_secs_f64() * 1e3);
        span.in_scope(|| tracing::info!(target: "usher::access", "served"));
        resp
    }

    /// The phases, in order; each returns early with an answer of its own.
    async fn process(
        &self,
        mut req: Request<Incoming>,
        conn: &ConnInfo,
        live: &Live,
        facts: &Facts,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        self.inbound(&mut req)?;
        let admission = match &self.gate {
            Some(gate) => {
                let creds = Credentials::read(req.headers(), facts.client);
                if req.uri().path().starts_with(ENDPOINT_PREFIX) {
                    return Ok(endpoints::handle(gate, &req, &creds).await);
                }
                match waiting_room(gate, &req, facts, &creds, live).await {
                    Ok(admission) => admission,
                    Err(held) => return Ok(held),
                }
            }
            None => Admission::default(),
        };
        let upgrade = upgrade::Pending::take(&mut req);
        let out = forward::upstream_request(
            req,
            facts,
            conn,
            &admission,
            upgrade.as_ref(),
            live,
            &self.limits,
        );
        let resp = forward::send(out, facts, live).await?;
        Ok(self.response(resp, admission, upgrade, live).await)
    }

    /// Phase 1: sizes, framing and the path.
    fn inbound(&self, req: &mut Request<Incoming>) -> Result<(), ProxyError> {
        limits::check_limits(req, &self.limits)?;
        limits::check_framing(req)?;
        limits::normalize_path(req)
    }

    /// Phase 7: the upstream's response as the client gets it.
    async fn response(
        &self,
        mut resp: Response<Incoming>,
        admission: Admission,
        upgrade: Option<upgrade::Pending>,
        live: &Live,
    ) -> Response<ProxyBody> {
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
        let (complete, sold_out) = (said(COMPLETE_HEADER), said(SOLD_OUT_HEADER));
        headers::remove_usher_headers(resp.headers_mut());
        let mut set_cookies = admission.set_cookies;
        if let (Some(gate), Some((ri, claims))) = (&self.gate, &admission.session) {
            if sold_out {
                gate.site_sold_out(*ri).await;
            }
            if complete {
                // The site says the visitor is done (e.g. booked): the slot frees at once.
                gate.end_session(*ri, claims).await;
                set_cookies.push(cookies::clear(PASS_COOKIE));
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
        resp.map(|b| body::IdleTimeout::new(b, read_timeout).boxed_unsync())
    }
}

/// Phase 3: the waiting room decides; `Err` is the answer given instead of forwarding.
async fn waiting_room(
    gate: &Gate,
    req: &Request<Incoming>,
    facts: &Facts,
    creds: &Credentials<'_>,
    live: &Live,
) -> Result<Admission, Response<ProxyBody>> {
    let decision = gate
        .decide(
            req.method(),
            facts.host_str(),
            req.uri().path(),
            creds,
            req.headers(),
        )
        .await;
    let held = match decision {
        Decision::Forward(admission) => return Ok(admission),
        Decision::Answer(held) => held,
    };
    let policy = gate.policy();
    let room = held
        .room
        .map(|ri| policy.routes[ri].name.as_str())
        .unwrap_or("");
    let challenge = held.challenge.as_deref();
    let mut resp = if facts.page_load {
        let return_to =
            crate::protocol::query::safe_return_to(req.uri().path_and_query().map(|p| p.as_str()));
        let page = answer::PageRequest {
            lang: facts.lang,
            gzip: facts.gzip,
            return_to: &return_to,
        };
        answer::page(&live.pages, held.standing, room, &page, challenge)
    } else {
        let body = answer::status_answer(held.standing, room, "/", challenge);
        answer::json(held.standing, answer::Asked::Held, &body)
    };
    for c in held.set_cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Err(resp)
}
