//! The schema and its migrations: `PRAGMA user_version` records how many ran, so opening
//! an older database brings it up to date and opening a current one changes nothing.

use rusqlite::Connection;

use super::DbError;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('train', 'concert', 'coupon')),
    title       TEXT NOT NULL,
    venue       TEXT NOT NULL,
    starts_at   INTEGER NOT NULL,
    price       INTEGER NOT NULL,
    capacity    INTEGER NOT NULL CHECK (capacity >= 0),
    remaining   INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= capacity),
    created_at  INTEGER NOT NULL
);
CREATE TABLE seats (
    event_id    INTEGER NOT NULL REFERENCES events(id),
    seat        TEXT NOT NULL,
    booking_id  INTEGER REFERENCES bookings(id),
    PRIMARY KEY (event_id, seat)
) WITHOUT ROWID;
CREATE TABLE bookings (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events(id),
    user_id     TEXT NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    seats       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    created_at  INTEGER NOT NULL,
    cancelled_at INTEGER
);
CREATE INDEX bookings_by_user ON bookings (user_id, id DESC);
CREATE TABLE idempotency (
    user_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    request     TEXT NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    topic        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_try_at  INTEGER NOT NULL DEFAULT 0,
    delivered_at INTEGER
);
CREATE INDEX outbox_pending ON outbox (delivered_at, next_try_at);
"#];

/// Applies the migrations this database has not run yet, each in its own transaction.
pub(super) fn migrate(conn: &Connection) -> Result<(), DbError> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}
