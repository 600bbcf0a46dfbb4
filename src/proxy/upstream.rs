//! The upstream side: a pooled hyper-util client, round-robin choice, and the timeouts
//! around one exchange.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::error::ProxyError;
use super::UpstreamBody;
use crate::config::UpstreamSettings;
use crate::metrics::Metrics;

/// The set of upstream servers and the client that talks to them.
pub struct Upstreams {
    servers: Vec<Authority>,
    next: AtomicUsize,
    client: Client<HttpConnector, UpstreamBody>,
    response_timeout: Duration,
}

impl Upstreams {
    /// Builds the pooled client with explicit pool and connect settings.
    pub fn new(settings: &UpstreamSettings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(settings.connect_timeout));
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            // Hop-by-hop and Host are decided by the proxy, not by the client library.
            .set_host(false)
            .build(connector);
        Self {
            servers: settings.servers.clone(),
            next: AtomicUsize::new(0),
            client,
            response_timeout: settings.response_timeout,
        }
    }

    /// The next upstream in round-robin order.
    pub fn pick(&self) -> &Authority {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.servers.len().max(1);
        &self.servers[i]
    }

    /// The absolute URI for `path` on `server`.
    pub fn uri(server: &Authority, path: Option<&PathAndQuery>) -> Result<Uri, ProxyError> {
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(server.clone())
            .path_and_query(
                path.cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/")),
            )
            .build()
            .map_err(|_| ProxyError::BadRequest("unusable request target"))
    }

    /// Sends one request and waits for the response head within the response timeout.
    pub async fn send(
        &self,
        server: &Authority,
        req: Request<UpstreamBody>,
        metrics: &Metrics,
    ) -> Result<Response<Incoming>, ProxyError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.response_timeout, self.client.request(req)).await;
        let upstream = server.as_str();
        let outcome = match result {
            Ok(Ok(resp)) => {
                metrics
                    .upstream_latency
                    .with_label_values(&[upstream])
                    .observe(started.elapsed().as_secs_f64());
                return Ok(resp);
            }
            Err(_) => ProxyError::UpstreamTimeout {
                upstream: upstream.to_string(),
                after: self.response_timeout,
            },
            Ok(Err(e)) if e.is_connect() => ProxyError::UpstreamConnect {
                upstream: upstream.to_string(),
                source: e,
            },
            Ok(Err(e)) if body_limit_exceeded(&e) => ProxyError::BodyTooLarge,
            Ok(Err(e)) => ProxyError::UpstreamProtocol {
                upstream: upstream.to_string(),
                source: e,
            },
        };
        if let Some(kind) = outcome.upstream_kind() {
            metrics
                .upstream_errors
                .with_label_values(&[upstream, kind])
                .inc();
        }
        Err(outcome)
    }
}

/// True when the client's body stream was cut by the size limit, not by the upstream.
fn body_limit_exceeded(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}
