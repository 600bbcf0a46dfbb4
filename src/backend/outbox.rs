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
use rusqlite::params;

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

struct Row {
    id: i64,
    topic: String,
    payload: String,
    attempts: i64,
}

/// One round: delivers what is due; returns how many rows were delivered.
async fn round(
    database: &std::path::Path,
    webhook: &Uri,
    client: &Client<HttpConnector, Full<Bytes>>,
) -> Result<usize, DbError> {
    let path = database.to_path_buf();
    let due = tokio::task::spawn_blocking(move || -> Result<Vec<Row>, DbError> {
        let conn = db::open(&path)?;
        let mut stmt = conn.prepare(
            "SELECT id, topic, payload, attempts FROM outbox
             WHERE delivered_at IS NULL AND next_try_at <= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![now(), BATCH as i64], |r| {
                Ok(Row {
                    id: r.get(0)?,
                    topic: r.get(1)?,
                    payload: r.get(2)?,
                    attempts: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
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
                tx.execute(
                    "UPDATE outbox SET delivered_at = ?1, attempts = ?2 WHERE id = ?3",
                    params![t, attempts + 1, id],
                )?;
            } else {
                // Exponential backoff: 1, 2, 4 … 60 s.
                let wait = (1i64 << attempts.clamp(0, 6)).min(MAX_BACKOFF_SECS);
                tx.execute(
                    "UPDATE outbox SET attempts = ?1, next_try_at = ?2 WHERE id = ?3",
                    params![attempts + 1, t + wait, id],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    })
    .await
    .map_err(|e| DbError::Thread(std::io::Error::other(e)))??;
    Ok(delivered)
}
