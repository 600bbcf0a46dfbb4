//! The bundled booking backend (DESIGN §9): a small, complete ticket site behind the
//! proxy. It never imports `proxy` or `room` — it could be any legacy app — and verifies
//! usher passes itself with the `pass` module.
//!
//! This first slice is the storage core: schema, inventory decisions that cannot oversell,
//! idempotency keys and the group-commit writer. The HTTP API and the web UI come next.

pub mod api;
pub mod db;
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
