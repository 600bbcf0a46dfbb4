//! The outbox worker: booking events are written in the booking's own transaction, then
//! delivered here at least once to a webhook, each with a stable `Idempotency-Key` so the
//! receiver can drop duplicates. Undelivered rows survive restarts (they are just rows).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::db::{self, DbError};
use super::writer::now;

/// Rows delivered per round.
const BATCH: usize = 100;
/// Longest wait between two attempts for one row.
const MAX_BACKOFF_SECS: i64 = 60;

/// Delivers pending outbox rows to `webhook` until the task is dropped.
pub async fn run(database: PathBuf, webhook: Uri) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    loop {
        match round(&database, &webhook, &client).await {
            Ok(0) => tokio::time::sleep(Duration::from_millis(200)).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "outbox round failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One round: delivers what is due; returns how many rows were delivered.
async fn round(
    database: &std::path::Path,
    webhook: &Uri,
    client: &Client<HttpConnector, Full<Bytes>>,
) -> Result<usize, DbError> {
    let path = database.to_path_buf();
    let due = tokio::task::spawn_blocking(move || -> Result<Vec<db::Pending>, DbError> {
        db::due(&db::open(&path)?, now(), BATCH)
    })
    .await
    .map_err(|e| DbError::Thread(std::io::Error::other(e)))??;
    if due.is_empty() {
        return Ok(0);
    }
    let mut outcomes = Vec::with_capacity(due.len());
    for row in &due {
        let req = Request::post(webhook.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", format!("usher-outbox-{}", row.id))
            .header(crate::protocol::TOPIC_HEADER, row.topic.as_str())
            .body(Full::new(Bytes::from(row.payload.clone())));
        let ok = match req {
            Ok(req) => {
                match tokio::time::timeout(Duration::from_secs(10), client.request(req)).await {
                    Ok(Ok(resp)) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        ok
                    }
                    _ => false,
                }
            }
            Err(_) => false,
        };
        outcomes.push((row.id, row.attempts, ok));
    }
    let path = database.to_path_buf();
    let delivered = outcomes.iter().filter(|o| o.2).count();
    tokio::task::spawn_blocking(move || -> Result<(), DbError> {
        let mut conn = db::open(&path)?;
        let tx = conn.transaction()?;
        let t = now();
        for (id, attempts, ok) in outcomes {
            if ok {
                db::delivered(&tx, id, attempts + 1, t)?;
            } else {
                // Exponential backoff: 1, 2, 4 … 60 s.
                let wait = (1i64 << attempts.clamp(0, 6)).min(MAX_BACKOFF_SECS);
                db::retry(&tx, id, attempts + 1, t + wait)?;
            }
        }
        tx.commit()?;
        Ok(())
    })
    .await
    .map_err(|e| DbError::Thread(std::io::Error::other(e)))??;
    Ok(delivered)
}
