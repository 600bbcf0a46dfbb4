//! The outbox table: booking events are written in the booking's own transaction (so one
//! exists exactly when its booking does), and the worker in `backend::outbox` reads them
//! back and records each delivery attempt here.

use rusqlite::{params, Connection};
use serde::Serialize;

use super::{exec, DbError};

/// Queues `payload` under `topic` inside the caller's transaction.
pub(super) fn enqueue<T: Serialize>(
    tx: &Connection,
    topic: &str,
    payload: &T,
    now: i64,
) -> Result<(), DbError> {
    exec(
        tx,
        "INSERT INTO outbox (topic, payload, created_at) VALUES (?1, ?2, ?3)",
        params![topic, serde_json::to_string(payload)?, now],
    )?;
    Ok(())
}

/// An outbox row not yet delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Row id; the receiver's idempotency key is made from it.
    pub id: i64,
    /// What happened, e.g. `booking.confirmed`.
    pub topic: String,
    /// The JSON body to deliver.
    pub payload: String,
    /// Delivery attempts so far.
    pub attempts: i64,
}

/// Up to `limit` undelivered rows whose next try is due at `now`, oldest first.
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<Pending>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, topic, payload, attempts FROM outbox
         WHERE delivered_at IS NULL AND next_try_at <= ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now, limit as i64], |r| {
            Ok(Pending {
                id: r.get(0)?,
                topic: r.get(1)?,
                payload: r.get(2)?,
                attempts: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Records that row `id` was delivered at `at`, on its `attempts`-th try.
pub fn delivered(tx: &Connection, id: i64, attempts: i64, at: i64) -> Result<(), DbError> {
    exec(
        tx,
        "UPDATE outbox SET delivered_at = ?1, attempts = ?2 WHERE id = ?3",
        params![at, attempts, id],
    )?;
    Ok(())
}

/// Records that the `attempts`-th try of row `id` failed and the next is due at `next_try_at`.
pub fn retry(tx: &Connection, id: i64, attempts: i64, next_try_at: i64) -> Result<(), DbError> {
    exec(
        tx,
        "UPDATE outbox SET attempts = ?1, next_try_at = ?2 WHERE id = ?3",
        params![attempts, next_try_at, id],
    )?;
    Ok(())
}
