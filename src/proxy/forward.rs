//! Phases 5 and 6: the request the upstream gets (hop-by-hop fields, usher's own headers
//! and cookies removed; forwarding headers, the verified pass and the request id added)
//! and its sending, with one retry on another server when a bodyless request's
//! connection was refused (it never left).

use http::{header, HeaderValue, Request, Response, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as _;
use hyper::body::Incoming;

use super::context::Facts;
use super::headers;
use super::upgrade;
use super::{body, BoxError, ConnInfo, Live, ProxyError, UpstreamBody};
use crate::config::{HostHeader, Limits};
use crate::gate::Admission;
use crate::protocol::{cookies, PASS_HEADER};

/// A request ready to send, less the server it goes to.
pub struct Outbound {
    parts: http::request::Parts,
    body: UpstreamBody,
    /// A copy of the head for one retry, when there is another server to retry on.
    spare: Option<http::request::Parts>,
    path: Option<http::uri::PathAndQuery>,
}

/// Phase 5: the upstream request (the parts that do not depend on which server).
pub fn upstream_request(
    req: Request<Incoming>,
    facts: &Facts,
    conn: &ConnInfo,
    admission: &Admission,
    upgrade: Option<&upgrade::Pending>,
    live: &Live,
    limits: &Limits,
) -> Outbound {
    let (mut parts, body) = req.into_parts();
    let hop = headers::remove_hop_by_hop(&mut parts.headers);
    headers::remove_usher_headers(&mut parts.headers);
    cookies::strip(&mut parts.headers);
    if let Some(pass) = &admission.pass {
        parts.headers.insert(PASS_HEADER, pass.clone());
    }
    headers::set_forwarding(
        &mut parts.headers,
        &conn.hop,
        facts.host.as_ref(),
        &live.trusted,
    );
    headers::append_via(&mut parts.headers, parts.version);
    parts
        .headers
        .insert(headers::X_REQUEST_ID, facts.id.clone());
    if hop.te_trailers {
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if let Some(up) = upgrade {
        up.restore_request_headers(&mut parts.headers);
    }
    // The pooled connection speaks HTTP/1.1 whatever the client spoke.
    parts.version = Version::HTTP_11;
    let path = parts.uri.path_and_query().cloned();
    // A request without a body can be sent again: keep its head for one retry, when
    // there is another server to retry on.
    let spare = (live.upstreams.len() > 1 && body.is_end_stream() && upgrade.is_none())
        .then(|| head_copy(&parts));
    let body = if body.is_end_stream() {
        body.map_err(BoxError::from).boxed_unsync()
    } else {
        let idle = body::IdleTimeout::new(body, limits.client_body_timeout);
        Limited::new(idle, limits.max_body_bytes as usize)
            .map_err(BoxError::from)
            .boxed_unsync()
    };
    Outbound {
        parts,
        body,
        spare,
        path,
    }
}

/// Phase 6: sends the request to the next server; a refused connection means the request
/// never left, so a bodyless one is retried once on another live server.
pub async fn send(
    out: Outbound,
    facts: &Facts,
    live: &Live,
) -> Result<Response<Incoming>, ProxyError> {
    let Outbound {
        mut parts,
        body,
        spare,
        path,
    } = out;
    let host = facts.host.as_ref();
    let server = live.upstreams.pick();
    target(live, &mut parts, server, host, path.as_ref())?;
    let result = live
        .upstreams
        .send(server, Request::from_parts(parts, body))
        .await;
    let (Err(ProxyError::UpstreamConnect { .. }), Some(mut parts)) = (&result, spare) else {
        return result;
    };
    let Some(next) = live.upstreams.pick_other(server) else {
        return result;
    };
    tracing::info!(
        failed = %live.upstreams.authority(server),
        retry = %live.upstreams.authority(next),
        "retrying on another upstream"
    );
    target(live, &mut parts, next, host, path.as_ref())?;
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    live.upstreams
        .send(next, Request::from_parts(parts, empty))
        .await
}

/// Points a prepared request head at `server`: absolute URI and `Host`.
fn target(
    live: &Live,
    parts: &mut http::request::Parts,
    server: usize,
    client_host: Option<&HeaderValue>,
    path: Option<&http::uri::PathAndQuery>,
) -> Result<(), ProxyError> {
    let host = match &live.host_header {
        HostHeader::Preserve => client_host.cloned(),
        HostHeader::Rewrite => None,
        HostHeader::Fixed(v) => Some(v.clone()),
    };
    let authority = live.upstreams.authority(server);
    let host = match host {
        Some(h) => h,
        None => HeaderValue::from_str(authority.as_str())
            .map_err(|_| ProxyError::BadRequest("unusable upstream host"))?,
    };
    parts.headers.insert(header::HOST, host);
    parts.uri = super::Upstreams::uri(authority, path)?;
    Ok(())
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
