//! Idempotency keys: the answer given to `(user, key)` is stored in the same transaction
//! as the write it answers, so a retried request gets that answer instead of a second write.

use rusqlite::{params, Connection, OptionalExtension};

use super::{exec, row, DbError};

/// A stored answer for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The request it answered (canonical form).
    pub request: String,
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

/// The answer stored for `(user, key)`, if any.
pub fn idempotent(tx: &Connection, user: &str, key: &str) -> Result<Option<Stored>, DbError> {
    Ok(row(
        tx,
        "SELECT request, status, body FROM idempotency WHERE user_id = ?1 AND key = ?2",
        params![user, key],
        |r| {
            Ok(Stored {
                request: r.get(0)?,
                status: r.get(1)?,
                body: r.get(2)?,
            })
        },
    )
    .optional()?)
}

/// Remembers the answer for `(user, key)`.
pub fn remember(
    tx: &Connection,
    user: &str,
    key: &str,
    s: &Stored,
    now: i64,
) -> Result<(), DbError> {
    exec(tx,
        "INSERT INTO idempotency (user_id, key, request, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![user, key, s.request, s.status, s.body, now],
    )?;
    Ok(())
}
