//! The bundled booking backend (docs/DESIGN.md §9): a small, complete ticket site behind the
//! proxy. It never imports `proxy` or `room` — it could be any legacy app — and verifies
//! usher passes itself with the `pass` module.
//!
//! This first slice is the storage core: schema, inventory decisions that cannot oversell,
//! idempotency keys and the group-commit writer. The HTTP API and the web UI come next.

pub mod api;
pub mod db;
pub mod outbox;
pub mod writer;

#[cfg(test)]
mod tests;

use std::sync::Arc;

/// Serves the API on `listener` (plain HTTP/1.1 and HTTP/2) until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, api: Arc<api::Api>) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    let builder = Arc::new(builder);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "backend accept failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (api, builder) = (api.clone(), builder.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
            });
            let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
        });
    }
}

/// Why the backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// A public key file is unreadable or not an Ed25519 key.
    #[error("passes.public_keys: {0}")]
    Keys(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Seeding the demo events failed.
    #[error("seeding demo events: {0}")]
    Seed(String),
}

/// The demo's events: a KTX holiday train, a concert, and the 1,111-coupon event.
pub fn demo_events(now: i64) -> Vec<db::NewEvent> {
    let day = 86_400;
    vec![
        db::NewEvent {
            title: "KTX Seoul → Dongdaegu, Chuseok 07:00".into(),
            venue: "Seoul Station".into(),
            starts_at: now + 14 * day,
            price: 43_500,
            layout: db::Layout::Train {
                cars: 8,
                rows_per_car: 14,
            },
        },
        db::NewEvent {
            title: "Concert: Autumn Night".into(),
            venue: "Olympic Hall".into(),
            starts_at: now + 30 * day,
            price: 99_000,
            layout: db::Layout::Concert {
                rows: 20,
                seats_per_row: 30,
            },
        },
        db::NewEvent {
            title: "11,000 KRW coupon × 1,111".into(),
            venue: "Online".into(),
            starts_at: now + 7 * day,
            price: 0,
            layout: db::Layout::Coupon { count: 1111 },
        },
    ]
}

/// A started backend: its address and the tasks serving it.
pub struct Running {
    /// Bound address.
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
    outbox: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops serving (in-flight requests on open connections are cut; undelivered outbox
    /// rows stay in the database for the next start).
    pub fn stop(self) {
        self.task.abort();
        if let Some(o) = self.outbox {
            o.abort();
        }
    }
}

/// Opens the database, loads the pass keys, seeds the demo if asked, and serves.
pub async fn start(
    settings: &crate::config::backend::BackendSettings,
) -> Result<Running, StartError> {
    if let Some(dir) = settings
        .database
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        let _ = std::fs::create_dir_all(dir);
    }
    let writer = writer::Writer::start(&settings.database)?;
    let reader = db::open(&settings.database)?;
    let mut keys = Vec::new();
    for (kid, path) in &settings.public_keys {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| StartError::Keys(format!("{}: {e}", path.display())))?;
        keys.push((kid.clone(), pem));
    }
    let ring =
        crate::pass::KeyRing::verify_only(&keys).map_err(|e| StartError::Keys(e.to_string()))?;
    if settings.seed_demo && db::search(&reader, "", 1, 1, writer::now())?.total == 0 {
        for e in demo_events(writer::now()) {
            writer
                .submit(writer::Request::CreateEvent(e))
                .await
                .map_err(|e| StartError::Seed(e.to_string()))?;
        }
        tracing::info!("seeded the demo events");
    }
    let api = Arc::new(api::Api::new(
        writer,
        reader,
        crate::pass::Passes::new(ring, &settings.issuer),
        &settings.audience,
        settings.admin_token.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: settings.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(settings.listen);
    tracing::info!(%addr, "usher backend listening");
    let task = tokio::spawn(serve(listener, api));
    let outbox = settings
        .webhook
        .clone()
        .map(|hook| tokio::spawn(outbox::run(settings.database.clone(), hook)));
    Ok(Running { addr, task, outbox })
}
