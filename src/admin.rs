//! The admin listener: `/metrics`, `/healthz`, `/readyz`. Plain HTTP, meant for a private
//! interface (default `127.0.0.1:9090`); never reachable through the public listener.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::metrics::{Metrics, StatusCounters};
use crate::proxy::ProxyBody;

/// Serves the admin endpoints.
pub struct Admin {
    metrics: Arc<Metrics>,
    responses: StatusCounters,
    ready: Arc<AtomicBool>,
}

impl Admin {
    /// An admin service reading `metrics` and the readiness flag.
    pub fn new(metrics: Arc<Metrics>, ready: Arc<AtomicBool>) -> Self {
        Self {
            responses: metrics.status_counters("admin"),
            metrics,
            ready,
        }
    }

    /// Routes one admin request.
    pub fn handle<B>(&self, req: Request<B>) -> Response<ProxyBody> {
        let resp = match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render(),
            ),
            (&Method::GET, "/healthz") => text(StatusCode::OK, "text/plain", "ok\n".into()),
            (&Method::GET, "/readyz") => {
                if self.ready.load(Ordering::SeqCst) {
                    text(StatusCode::OK, "text/plain", "ready\n".into())
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        "not ready\n".into(),
                    )
                }
            }
            (_, "/metrics" | "/healthz" | "/readyz") => text(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "use GET\n".into(),
            ),
            _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
        };
        self.responses.record(resp.status().as_u16());
        resp
    }
}

fn text(status: StatusCode, ctype: &'static str, body: String) -> Response<ProxyBody> {
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
