//! Listeners and connection lifecycles: accept loops that survive accept errors, a global
//! connection cap, TLS handshake and header-read timeouts, HTTP/1.1 and HTTP/2 chosen by
//! ALPN, and a graceful shutdown that drains in-flight requests.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

mod guard_io;

use guard_io::Guarded;

use crate::admin::Admin;
use crate::config::{Limits, Settings};
use crate::gate::Gate;
use crate::metrics::{Metrics, OpenConnection};
use crate::proxy::{ConnInfo, Proxy, ProxyBody};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listening socket could not be bound.
    #[error("cannot listen on {field} = {addr}: {source}")]
    Bind {
        /// Which config field named the address.
        field: &'static str,
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Metric registration failed.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The waiting room could not be set up (keys, state file).
    #[error(transparent)]
    Gate(#[from] crate::gate::GateError),
    /// The waiting page template is unusable.
    #[error(transparent)]
    Page(#[from] crate::proxy::page::PageError),
}

/// A running server: its bound addresses and the way to stop it.
pub struct Running {
    /// Bound public (TLS) address.
    pub public_addr: SocketAddr,
    /// Bound redirect address, when configured.
    pub plain_addr: Option<SocketAddr>,
    /// Bound admin address.
    pub admin_addr: SocketAddr,
    /// Shared metrics (tests read them directly).
    pub metrics: Arc<Metrics>,
    /// The public listener's leaf certificate (DER), e.g. to trust a self-signed one.
    pub certificate: rustls::pki_types::CertificateDer<'static>,
    /// The waiting room, when rooms are configured (tests switch its store off).
    pub gate: Option<Arc<Gate>>,
    /// What a config reload swaps.
    pub reloadable: Arc<crate::reload::Reloadable>,
    state_file: Option<std::path::PathBuf>,
    stop: watch::Sender<bool>,
    ready: Arc<AtomicBool>,
    tasks: JoinSet<()>,
    graceful: Arc<GracefulShutdown>,
    grace: Duration,
}

/// Binds every listener and starts serving.
pub async fn start(settings: &Settings) -> Result<Running, StartError> {
    let metrics = Arc::new(Metrics::new()?);
    let tls = crate::tls::load(&settings.tls)?;
    if tls.self_signed {
        tracing::warn!(
            "no tls.cert/tls.key configured: serving a self-signed certificate (browsers will warn; fine for a demo, not for production)"
        );
    }
    let public = bind("listen.public", settings.listen.public).await?;
    let admin_l = bind("listen.admin", settings.listen.admin).await?;
    let plain = match settings.listen.plain {
        Some(a) => Some(bind("listen.plain", a).await?),
        None => None,
    };
    let public_addr = local(&public, settings.listen.public);
    let admin_addr = local(&admin_l, settings.listen.admin);
    let plain_addr = plain.as_ref().map(|l| local(l, settings.listen.public));

    let (stop, stop_rx) = watch::channel(false);
    let ready = Arc::new(AtomicBool::new(false));
    let graceful = Arc::new(GracefulShutdown::new());
    let limits = Arc::new(settings.limits.clone());
    let slots = Arc::new(Semaphore::new(settings.limits.max_connections));
    let builders = Builders::new(&settings.limits);
    let mut tasks = JoinSet::new();

    // Public listener: TLS, then the proxy.
    let gate = if settings.waiting_room.rooms.is_empty() {
        None
    } else {
        Some(Arc::new(
            Gate::new(&settings.waiting_room, metrics.clone()).await?,
        ))
    };
    let pages = crate::proxy::page::Pages::load(settings.page.as_ref())?;
    let proxy = Arc::new(Proxy::new(settings, &metrics, gate.clone(), pages));
    let state_file = gate.as_ref().filter(|g| g.store.saves_to_file()).map(|_| {
        settings
            .waiting_room
            .state_dir
            .join(crate::store::state_file::FILE_NAME)
    });
    if let Some(g) = gate.as_ref().filter(|g| g.store.redis().is_some()) {
        tasks.spawn(follow_revocations(g.clone(), stop_rx.clone()));
    }
    if let Some(g) = &gate {
        tasks.spawn(admission_loop(
            g.clone(),
            state_file.clone(),
            settings.waiting_room.save_interval,
            stop_rx.clone(),
        ));
    }
    let certificate = tls.leaf.clone();
    let tls_config = Arc::new(arc_swap::ArcSwap::new(tls.config));
    let reloadable = Arc::new(crate::reload::Reloadable {
        tls: tls_config.clone(),
        proxy: proxy.clone(),
        gate: gate.clone(),
        metrics: metrics.clone(),
        applied: std::sync::Mutex::new(settings.clone()),
    });
    {
        let ctx = Accept::new("public", &stop_rx, &slots, &graceful, &metrics);
        let builders = builders.clone();
        let limits = limits.clone();
        tasks.spawn(ctx.run(public, move |tcp, peer, conn| {
            // Each handshake takes the certificate in force now (a reload may rotate it).
            let acceptor = TlsAcceptor::from(tls_config.load_full());
            let proxy = proxy.clone();
            let builders = builders.clone();
            let limits = limits.clone();
            async move {
                let metrics = conn.metrics.clone();
                let tls =
                    match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(tcp))
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            metrics.tls_handshakes.with_label_values(&["error"]).inc();
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            metrics.tls_handshakes.with_label_values(&["timeout"]).inc();
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                metrics.tls_handshakes.with_label_values(&["ok"]).inc();
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                // HTTP/2 must open with its 24-byte preface; HTTP/1.1 with anything, after
                // which hyper's header timer runs.
                let opening = if h2 { 24 } else { 1 };
                let io = TokioIo::new(Guarded::new(
                    tls,
                    limits.send_timeout,
                    opening,
                    limits.header_read_timeout,
                ));
                let info = Arc::new(ConnInfo::new(peer, "https"));
                let svc = service_fn(move |req: Request<Incoming>| {
                    let proxy = proxy.clone();
                    let info = info.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(req, &info).await) }
                });
                // The protocol is what ALPN chose: no sniffing, each with its own limits.
                if h2 {
                    conn.serve(builders.h2.serve_connection(io, svc)).await;
                } else {
                    conn.serve(builders.h1.serve_connection_with_upgrades(io, svc))
                        .await;
                }
            }
        }));
    }

    // Admin listener: plain HTTP/1.1.
    {
        let admin = Arc::new(Admin::new(
            metrics.clone(),
            ready.clone(),
            settings.admin_token.clone(),
            gate.clone(),
        ));
        let ctx = Accept::new("admin", &stop_rx, &slots, &graceful, &metrics);
        let builders = builders.clone();
        tasks.spawn(ctx.run(admin_l, move |tcp, _peer, conn| {
            let admin = admin.clone();
            let builders = builders.clone();
            async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.handle(req).await) }
                });
                let served = builders.h1.serve_connection(TokioIo::new(tcp), svc);
                conn.serve(served).await;
            }
        }));
    }

    // Optional plain listener: everything is redirected to HTTPS.
    if let Some(plain) = plain {
        let https_port = settings.listen.https_port.unwrap_or(public_addr.port());
        let ctx = Accept::new("plain", &stop_rx, &slots, &graceful, &metrics);
        let builders = builders.clone();
        tasks.spawn(ctx.run(plain, move |tcp, _peer, conn| {
            let builders = builders.clone();
            let responses = conn.metrics.status_counters("plain");
            async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let resp = redirect_to_https(&req, https_port);
                    responses.record(resp.status().as_u16());
                    async move { Ok::<_, Infallible>(resp) }
                });
                let served = builders.h1.serve_connection(TokioIo::new(tcp), svc);
                conn.serve(served).await;
            }
        }));
    }

    ready.store(true, Ordering::SeqCst);
    tracing::info!(public = %public_addr, admin = %admin_addr, plain = ?plain_addr, "usher proxy listening");
    Ok(Running {
        public_addr,
        plain_addr,
        admin_addr,
        metrics,
        certificate,
        gate,
        reloadable,
        state_file,
        stop,
        ready,
        tasks,
        graceful,
        grace: settings.limits.shutdown_grace,
    })
}

impl Running {
    /// Reloads the config from `path` on SIGHUP (caught by `hup`, installed before the
    /// server started) and whenever it (or a certificate or key it names) changes, until
    /// shutdown.
    pub fn watch(&mut self, path: std::path::PathBuf, hup: crate::reload::Hangup) {
        self.tasks.spawn(crate::reload::watch(
            self.reloadable.clone(),
            path,
            hup,
            self.stop.subscribe(),
        ));
    }

    /// Stops accepting, then waits up to `limits.shutdown_grace` for in-flight requests.
    pub async fn shutdown(mut self) {
        self.ready.store(false, Ordering::SeqCst);
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let (Some(g), Some(path)) = (&self.gate, &self.state_file) {
            save_state(g, path).await;
        }
        tracing::info!("listeners closed; draining in-flight requests");
        // The accept loops held the only other references; they have ended.
        let Ok(graceful) = Arc::try_unwrap(self.graceful) else {
            tracing::warn!("connections could not be drained: shutdown handle still shared");
            return;
        };
        match tokio::time::timeout(self.grace, graceful.shutdown()).await {
            Ok(()) => tracing::info!("all connections drained"),
            Err(_) => {
                tracing::warn!(grace = ?self.grace, "shutdown grace ran out; closing remaining connections")
            }
        }
    }
}

/// Runs admission every 100 ms (so a freed slot is filled within 100 ms) and, for the
/// memory store, saves the rooms' state to `path` every `save_every`, until stopped.
async fn admission_loop(
    gate: Arc<Gate>,
    path: Option<std::path::PathBuf>,
    save_every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut save = tokio::time::interval(save_every);
    save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => gate.tick().await,
            _ = save.tick(), if path.is_some() => {
                if let Some(p) = &path {
                    save_state(&gate, p).await;
                }
            }
        }
    }
}

/// Refuses passes of sessions ended on other nodes as soon as Redis tells, until stopped.
async fn follow_revocations(gate: Arc<Gate>, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        _ = stop.changed() => {}
        _ = gate.follow_revocations() => {}
    }
}

/// Writes the state file off the async threads (it fsyncs).
async fn save_state(gate: &Arc<Gate>, path: &std::path::Path) {
    let (g, p) = (gate.clone(), path.to_path_buf());
    match tokio::task::spawn_blocking(move || g.store.save(&p)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "cannot save queue state"),
        Err(e) => tracing::error!(error = %e, "queue state saver failed"),
    }
}

async fn bind(field: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            field,
            addr,
            source,
        })
}

fn local(l: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    l.local_addr().unwrap_or(fallback)
}

/// HTTP/1.1 and HTTP/2 connection builders, configured once from the limits. HTTP/2 is
/// hyper's own server (the protocol ALPN chose, nothing sniffed); HTTP/1.1 goes through
/// hyper-util's builder, whose connection type supports upgrades under graceful shutdown.
#[derive(Clone)]
struct Builders {
    h1: Arc<auto::Builder<TokioExecutor>>,
    h2: Arc<http2::Builder<TokioExecutor>>,
}

impl Builders {
    fn new(limits: &Limits) -> Self {
        // hyper's own buffer limit is a backstop above the exact check in the proxy phase;
        // both answer 431.
        let buf = (limits.max_header_bytes * 2).max(8192);
        let mut h1 = auto::Builder::new(TokioExecutor::new());
        h1.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(buf)
            .max_headers(limits.max_headers);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_concurrent_streams)
            // Rapid-reset (CVE-2023-44487) guards.
            .max_pending_accept_reset_streams(Some(32))
            .max_local_error_reset_streams(Some(256))
            .max_header_list_size(buf as u32)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(10));
        Self {
            h1: Arc::new(h1.http1_only()),
            h2: Arc::new(h2),
        }
    }
}

/// What every accepted connection shares: stop signal, connection slots, graceful watcher.
struct Accept {
    listener: &'static str,
    stop: watch::Receiver<bool>,
    slots: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    metrics: Arc<Metrics>,
}

/// Handed to a connection task: tracks it and serves it under graceful shutdown.
struct ConnCtx {
    metrics: Arc<Metrics>,
    graceful: hyper_util::server::graceful::Watcher,
    _open: OpenConnection,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl ConnCtx {
    async fn serve<C>(self, conn: C)
    where
        C: hyper_util::server::graceful::GracefulConnection,
        C::Error: std::fmt::Display,
    {
        if let Err(e) = self.graceful.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

impl Accept {
    fn new(
        listener: &'static str,
        stop: &watch::Receiver<bool>,
        slots: &Arc<Semaphore>,
        graceful: &Arc<GracefulShutdown>,
        metrics: &Arc<Metrics>,
    ) -> Self {
        Self {
            listener,
            stop: stop.clone(),
            slots: slots.clone(),
            graceful: graceful.clone(),
            metrics: metrics.clone(),
        }
    }

    /// Accepts until stopped. Accept errors (EMFILE, ECONNABORTED…) are logged and
    /// retried after a pause: a listener must never die from one.
    async fn run<F, Fut>(mut self, listener: TcpListener, on_conn: F)
    where
        F: Fn(TcpStream, SocketAddr, ConnCtx) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        loop {
            let accepted = tokio::select! {
                _ = self.stop.changed() => break,
                r = listener.accept() => r,
            };
            let (tcp, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(listener = self.listener, error = %e, "accept failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                self.metrics.connections_refused.inc();
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let ctx = ConnCtx {
                metrics: self.metrics.clone(),
                graceful: self.graceful.watcher(),
                _open: OpenConnection::track(&self.metrics, self.listener),
                _slot: slot,
            };
            tokio::spawn(on_conn(tcp, peer, ctx));
        }
    }
}

/// The plain listener's only answer: a permanent redirect to the same URL over HTTPS.
fn redirect_to_https(req: &Request<Incoming>, https_port: u16) -> Response<ProxyBody> {
    use http_body_util::{BodyExt, Empty};
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok());
    let empty = || Empty::new().map_err(|never| match never {}).boxed_unsync();
    let Some(host) = host else {
        let mut r = Response::new(empty());
        *r.status_mut() = http::StatusCode::BAD_REQUEST;
        return r;
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = format!("https://{}{port}{path}", host.host());
    let mut r = Response::new(empty());
    *r.status_mut() = http::StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}
