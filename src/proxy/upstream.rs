//! The upstream side: a pooled hyper-util client, round-robin choice, and the timeouts
//! around one exchange.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body;
use super::error::ProxyError;
use super::UpstreamBody;
use crate::config::UpstreamSettings;
use crate::metrics::{Metrics, UpstreamMetrics};

/// The set of upstream servers and the client that talks to them.
pub struct Upstreams {
    servers: Vec<Server>,
    next: AtomicUsize,
    client: Client<HttpConnector, UpstreamBody>,
    response_timeout: Duration,
    fail_timeout: Duration,
    epoch: Instant,
}

/// One upstream server and, after a failed connect, when it may be tried again.
struct Server {
    authority: Authority,
    metrics: UpstreamMetrics,
    /// Milliseconds since `epoch`; the server is skipped until then.
    down_until: AtomicU64,
}

impl Upstreams {
    /// Builds the pooled client with explicit pool and connect settings.
    pub fn new(settings: &UpstreamSettings, metrics: &Metrics) -> Self {
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
            servers: settings
                .servers
                .iter()
                .map(|a| Server {
                    authority: a.clone(),
                    metrics: metrics.upstream(a.as_str()),
                    down_until: AtomicU64::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            client,
            response_timeout: settings.response_timeout,
            fail_timeout: settings.fail_timeout,
            epoch: Instant::now(),
        }
    }

    /// How many upstream servers are configured.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// True when no server is configured (validation forbids it).
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The next upstream (an index) in round-robin order, skipping servers that failed
    /// to connect within `fail_timeout`. When all are down, the plain round-robin choice
    /// is tried: one of them may be back.
    pub fn pick(&self) -> usize {
        let start = self.next.fetch_add(1, Ordering::Relaxed) % self.servers.len().max(1);
        self.first_up(start, None).unwrap_or(start)
    }

    /// Another live upstream than `tried`, for a retry; `None` when there is none.
    pub fn pick_other(&self, tried: usize) -> Option<usize> {
        let start = self.next.fetch_add(1, Ordering::Relaxed) % self.servers.len().max(1);
        self.first_up(start, Some(tried))
    }

    /// The `host:port` of upstream `i`.
    pub fn authority(&self, i: usize) -> &Authority {
        &self.servers[i].authority
    }

    fn first_up(&self, start: usize, except: Option<usize>) -> Option<usize> {
        let n = self.servers.len();
        let now = self.now_ms();
        (0..n).map(|k| (start + k) % n).find(|&i| {
            Some(i) != except && self.servers[i].down_until.load(Ordering::Relaxed) <= now
        })
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

    /// Sends one request to upstream `i` and waits for the response head within the
    /// response timeout. A refused connection takes the server out for `fail_timeout`.
    pub async fn send(
        &self,
        i: usize,
        req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let server = &self.servers[i];
        let started = Instant::now();
        let result = tokio::time::timeout(self.response_timeout, self.client.request(req)).await;
        let upstream = || server.authority.as_str().to_string();
        let outcome = match result {
            Ok(Ok(resp)) => {
                server
                    .metrics
                    .latency
                    .observe(started.elapsed().as_secs_f64());
                return Ok(resp);
            }
            Err(_) => {
                server.metrics.timeouts.inc();
                ProxyError::UpstreamTimeout {
                    upstream: upstream(),
                    after: self.response_timeout,
                }
            }
            Ok(Err(e)) if e.is_connect() => {
                server.metrics.connect_errors.inc();
                let until = self.now_ms() + self.fail_timeout.as_millis() as u64;
                server.down_until.store(until, Ordering::Relaxed);
                tracing::warn!(upstream = %server.authority, fail_timeout = ?self.fail_timeout, "upstream unreachable; skipping it for fail_timeout");
                ProxyError::UpstreamConnect {
                    upstream: upstream(),
                    source: e,
                }
            }
            Ok(Err(e)) if body::find::<http_body_util::LengthLimitError>(&e) => {
                ProxyError::BodyTooLarge
            }
            Ok(Err(e)) if body::is_idle(&e) => ProxyError::ClientBodyTimeout,
            Ok(Err(e)) => {
                server.metrics.protocol_errors.inc();
                ProxyError::UpstreamProtocol {
                    upstream: upstream(),
                    source: e,
                }
            }
        };
        Err(outcome)
    }
}
