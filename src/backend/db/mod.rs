//! The booking database: schema, migrations, and the operations that decide inventory.
//!
//! Every inventory decision is one conditional statement on the primary inside the
//! writer's transaction (`remaining >= n`, `booking_id IS NULL`), so overselling is
//! impossible by construction — there is no read-then-write window and no replica.

mod bookings;
mod events;
mod idempotency;
mod outbox;
mod schema;

pub use bookings::{book, cancel, get_booking, my_bookings, Booking, MyBooking, Order, Refusal};
pub use events::{
    create_event, event_detail, remaining, search, update_event, EventChange, EventView, Layout,
    NewEvent, Page, SeatMap,
};
pub use idempotency::{idempotent, remember, Stored};
pub use outbox::{delivered, due, retry, Pending};

use std::path::Path;

use rusqlite::Connection;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite said no.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON value did not parse.
    #[error("stored data: {0}")]
    Json(#[from] serde_json::Error),
    /// The writer thread could not be started.
    #[error("cannot start the database writer: {0}")]
    Thread(std::io::Error),
}

/// Opens (creating if needed) the database with WAL and full durability, and migrates it.
///
/// `synchronous = FULL` with WAL: every commit is fsynced before it is acknowledged. The
/// cost is paid once per *batch* by the group-commit writer, not once per booking.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Every statement the site runs stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(64);
    schema::migrate(&conn)?;
    Ok(conn)
}

/// `execute` through the connection's statement cache: the booking path runs the same
/// few statements thousands of times a second, and preparing each time cost about a
/// third of the writer's time (bench/booking.sh profile).
fn exec<P: rusqlite::Params>(c: &Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// `query_row` through the statement cache (see [`exec`]).
fn row<T, P, F>(c: &Connection, sql: &str, params: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    c.prepare_cached(sql)?.query_row(params, f)
}
