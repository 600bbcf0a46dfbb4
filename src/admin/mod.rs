//! The admin listener: `/metrics`, `/healthz`, `/readyz`, and the admin API under
//! `/admin/` (`api.rs`). Plain HTTP, meant for a private interface (default
//! `127.0.0.1:9090`); never reachable through the public listener.

mod api;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

use crate::metrics::{Metrics, StatusCounters};
use crate::response::respond as text;
use crate::response::Body as ProxyBody;

/// Serves the admin endpoints.
pub struct Admin {
    metrics: Arc<Metrics>,
    responses: StatusCounters,
    ready: Arc<AtomicBool>,
    token: Option<String>,
    gate: Option<Arc<crate::gate::Gate>>,
}

impl Admin {
    /// An admin service reading `metrics` and the readiness flag.
    pub fn new(
        metrics: Arc<Metrics>,
        ready: Arc<AtomicBool>,
        token: Option<String>,
        gate: Option<Arc<crate::gate::Gate>>,
    ) -> Self {
        Self {
            responses: metrics.status_counters("admin"),
            metrics,
            ready,
            token,
            gate,
        }
    }

    /// Routes one admin request.
    pub async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<ProxyBody> {
        if req.uri().path().starts_with("/admin/") {
            let resp = api::handle(req, self.token.as_deref(), self.gate.as_ref()).await;
            self.responses.record(resp.status().as_u16());
            return resp;
        }
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
