//! The booking database: schema, migrations, and the operations that decide inventory.
//!
//! Every inventory decision is one conditional statement on the primary inside the
//! writer's transaction (`remaining >= n`, `booking_id IS NULL`), so overselling is
//! impossible by construction — there is no read-then-write window and no replica.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

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
    migrate(&conn)?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), DbError> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
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

/// What is sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Layout {
    /// Train cars with numbered seats: seat ids like `3-12A`.
    Train {
        /// Cars.
        cars: u32,
        /// Seat rows per car (4 seats A–D per row).
        rows_per_car: u32,
    },
    /// Concert hall: seat ids like `R12-7`.
    Concert {
        /// Rows.
        rows: u32,
        /// Seats per row.
        seats_per_row: u32,
    },
    /// First-come coupons: a count, no seats.
    Coupon {
        /// How many.
        count: u32,
    },
}

impl Layout {
    fn kind(&self) -> &'static str {
        match self {
            Layout::Train { .. } => "train",
            Layout::Concert { .. } => "concert",
            Layout::Coupon { .. } => "coupon",
        }
    }

    /// Every seat id, in order (empty for coupons).
    pub fn seats(&self) -> Vec<String> {
        match *self {
            Layout::Train { cars, rows_per_car } => (1..=cars)
                .flat_map(|c| {
                    (1..=rows_per_car)
                        .flat_map(move |r| ['A', 'B', 'C', 'D'].map(|s| format!("{c}-{r}{s}")))
                })
                .collect(),
            Layout::Concert {
                rows,
                seats_per_row,
            } => (1..=rows)
                .flat_map(|r| (1..=seats_per_row).map(move |s| format!("R{r}-{s}")))
                .collect(),
            Layout::Coupon { .. } => Vec::new(),
        }
    }

    fn capacity(&self) -> u32 {
        match *self {
            Layout::Coupon { count } => count,
            _ => self.seats().len() as u32,
        }
    }
}

/// A new event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewEvent {
    /// Title, e.g. "KTX Seoul → Dongdaegu, Chuseok 07:00".
    pub title: String,
    /// Venue or route.
    pub venue: String,
    /// Start, Unix seconds (bookable and cancellable before it).
    pub starts_at: i64,
    /// Price in KRW.
    pub price: i64,
    /// Seats or count.
    pub layout: Layout,
}

/// Inserts an event (and its seats) and returns its id.
pub fn create_event(tx: &Connection, e: &NewEvent, now: i64) -> Result<i64, DbError> {
    let cap = e.layout.capacity();
    exec(
        tx,
        "INSERT INTO events (kind, title, venue, starts_at, price, capacity, remaining, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
        params![
            e.layout.kind(),
            e.title,
            e.venue,
            e.starts_at,
            e.price,
            cap,
            now
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut insert = tx.prepare_cached("INSERT INTO seats (event_id, seat) VALUES (?1, ?2)")?;
    for seat in e.layout.seats() {
        insert.execute(params![id, seat])?;
    }
    Ok(id)
}

/// Changes an admin may make to an event (its layout and inventory are fixed once sold).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventChange {
    /// New title.
    pub title: Option<String>,
    /// New venue.
    pub venue: Option<String>,
    /// New start (Unix seconds).
    pub starts_at: Option<i64>,
    /// New price.
    pub price: Option<i64>,
}

/// Applies `change` to event `id`; false if there is no such event.
pub fn update_event(conn: &Connection, id: i64, change: &EventChange) -> Result<bool, DbError> {
    let n = exec(
        conn,
        "UPDATE events SET title = COALESCE(?1, title), venue = COALESCE(?2, venue),
         starts_at = COALESCE(?3, starts_at), price = COALESCE(?4, price) WHERE id = ?5",
        params![
            change.title,
            change.venue,
            change.starts_at,
            change.price,
            id
        ],
    )?;
    Ok(n == 1)
}

/// What a visitor asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Order {
    /// Specific seats.
    Seats {
        /// Seat ids.
        seats: Vec<String>,
    },
    /// A number of coupons (or unassigned seats).
    Quantity {
        /// How many.
        quantity: u32,
    },
}

/// A booking as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// Id.
    pub id: i64,
    /// Event.
    pub event_id: i64,
    /// The pass holder (visitor id from the pass).
    pub user_id: String,
    /// Count.
    pub quantity: u32,
    /// Seat ids (empty for coupons).
    pub seats: Vec<String>,
    /// `confirmed` or `cancelled`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Why a booking was refused; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such event (404).
    #[error("no such event")]
    NoEvent,
    /// The event has started (409).
    #[error("the event has already started")]
    Started,
    /// Not enough left (409).
    #[error("sold out")]
    SoldOut,
    /// A seat is taken or does not exist (409).
    #[error("seat {0} is not available")]
    SeatTaken(String),
    /// The order makes no sense (422).
    #[error("{0}")]
    Invalid(String),
    /// No such booking of this user (404).
    #[error("no such booking")]
    NoBooking,
}

/// Books `order` on `event` for `user`, deciding inventory in this transaction.
pub fn book(
    tx: &Connection,
    user: &str,
    event: i64,
    order: &Order,
    now: i64,
) -> Result<Result<Booking, Refusal>, DbError> {
    let row: Option<(String, i64)> = row(
        tx,
        "SELECT kind, starts_at FROM events WHERE id = ?1",
        [event],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?;
    let Some((kind, starts_at)) = row else {
        return Ok(Err(Refusal::NoEvent));
    };
    if starts_at <= now {
        return Ok(Err(Refusal::Started));
    }
    let (quantity, seats) = match order {
        Order::Quantity { quantity } if *quantity == 0 || *quantity > 10 => {
            return Ok(Err(Refusal::Invalid("quantity must be 1 to 10".into())))
        }
        Order::Quantity { .. } if kind != "coupon" => {
            return Ok(Err(Refusal::Invalid(
                "this event has seats: send {\"seats\": [...]}".into(),
            )))
        }
        Order::Quantity { quantity } => (*quantity, Vec::new()),
        Order::Seats { .. } if kind == "coupon" => {
            return Ok(Err(Refusal::Invalid(
                "coupons have no seats: send {\"quantity\": n}".into(),
            )));
        }
        Order::Seats { seats } => {
            let mut unique = seats.clone();
            unique.sort();
            unique.dedup();
            if unique.is_empty() || unique.len() != seats.len() || unique.len() > 10 {
                return Ok(Err(Refusal::Invalid(
                    "seats: 1 to 10 distinct seat ids".into(),
                )));
            }
            (seats.len() as u32, unique)
        }
    };
    // The decision: one conditional decrement. Zero rows changed means not enough left.
    let taken = exec(
        tx,
        "UPDATE events SET remaining = remaining - ?1 WHERE id = ?2 AND remaining >= ?1",
        params![quantity, event],
    )?;
    if taken != 1 {
        return Ok(Err(Refusal::SoldOut));
    }
    exec(
        tx,
        "INSERT INTO bookings (event_id, user_id, quantity, seats, status, created_at)
         VALUES (?1, ?2, ?3, ?4, 'confirmed', ?5)",
        params![event, user, quantity, serde_json::to_string(&seats)?, now],
    )?;
    let id = tx.last_insert_rowid();
    let mut claim = tx.prepare_cached(
        "UPDATE seats SET booking_id = ?1 WHERE event_id = ?2 AND seat = ?3 AND booking_id IS NULL",
    )?;
    for seat in &seats {
        if claim.execute(params![id, event, seat])? != 1 {
            // The caller rolls this booking's savepoint back: decrement and insert vanish.
            return Ok(Err(Refusal::SeatTaken(seat.clone())));
        }
    }
    let booking = Booking {
        id,
        event_id: event,
        user_id: user.to_string(),
        quantity,
        seats,
        status: "confirmed".into(),
        created_at: now,
    };
    outbox(tx, "booking.confirmed", &booking, now)?;
    Ok(Ok(booking))
}

/// Cancels `user`'s booking before its event starts; inventory comes back exactly once.
pub fn cancel(
    tx: &Connection,
    user: &str,
    booking: i64,
    now: i64,
) -> Result<Result<Booking, Refusal>, DbError> {
    let Some(mut b) = get_booking(tx, user, booking)? else {
        return Ok(Err(Refusal::NoBooking));
    };
    let starts_at: i64 = row(
        tx,
        "SELECT starts_at FROM events WHERE id = ?1",
        [b.event_id],
        |r| r.get(0),
    )?;
    if starts_at <= now {
        return Ok(Err(Refusal::Started));
    }
    // Only a confirmed booking flips; a second cancel changes nothing and restores nothing.
    let flipped = exec(tx,
        "UPDATE bookings SET status = 'cancelled', cancelled_at = ?1 WHERE id = ?2 AND status = 'confirmed'",
        params![now, booking],
    )?;
    if flipped == 1 {
        exec(
            tx,
            "UPDATE events SET remaining = remaining + ?1 WHERE id = ?2",
            params![b.quantity, b.event_id],
        )?;
        exec(
            tx,
            "UPDATE seats SET booking_id = NULL WHERE booking_id = ?1",
            [booking],
        )?;
        b.status = "cancelled".into();
        outbox(tx, "booking.cancelled", &b, now)?;
    }
    b.status = "cancelled".into();
    Ok(Ok(b))
}

/// One of `user`'s bookings.
pub fn get_booking(conn: &Connection, user: &str, id: i64) -> Result<Option<Booking>, DbError> {
    let row = row(
        conn,
        "SELECT id, event_id, user_id, quantity, seats, status, created_at FROM bookings
             WHERE id = ?1 AND user_id = ?2",
        params![id, user],
        row_to_booking,
    )
    .optional()?;
    row.map(|(b, seats)| {
        Ok(Booking {
            seats: serde_json::from_str(&seats)?,
            ..b
        })
    })
    .transpose()
}

fn row_to_booking(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Booking, String)> {
    Ok((
        Booking {
            id: r.get(0)?,
            event_id: r.get(1)?,
            user_id: r.get(2)?,
            quantity: r.get(3)?,
            seats: Vec::new(),
            status: r.get(5)?,
            created_at: r.get(6)?,
        },
        r.get(4)?,
    ))
}

fn outbox<T: Serialize>(
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

/// Remaining inventory of an event.
pub fn remaining(conn: &Connection, event: i64) -> Result<i64, DbError> {
    Ok(row(
        conn,
        "SELECT remaining FROM events WHERE id = ?1",
        [event],
        |r| r.get(0),
    )?)
}

/// An event as listed and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// Id.
    pub id: i64,
    /// `train`, `concert` or `coupon`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Venue or route.
    pub venue: String,
    /// Start, Unix seconds.
    pub starts_at: i64,
    /// Price in KRW.
    pub price: i64,
    /// Total.
    pub capacity: i64,
    /// Left now.
    pub remaining: i64,
    /// True while it can be booked (not started, something left).
    pub bookable: bool,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The events on this page.
    pub items: Vec<EventView>,
    /// Matches in all.
    pub total: i64,
    /// 1-based page number.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

const EVENT_COLUMNS: &str = "id, kind, title, venue, starts_at, price, capacity, remaining";

fn row_to_event(now: i64) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<EventView> {
    move |r| {
        let starts_at: i64 = r.get(4)?;
        let remaining: i64 = r.get(7)?;
        Ok(EventView {
            id: r.get(0)?,
            kind: r.get(1)?,
            title: r.get(2)?,
            venue: r.get(3)?,
            starts_at,
            price: r.get(5)?,
            capacity: r.get(6)?,
            remaining,
            bookable: starts_at > now && remaining > 0,
        })
    }
}

/// Searches titles and venues for every word of `q` (case-insensitive), bookable events
/// first, then by date; `page` is 1-based.
pub fn search(
    conn: &Connection,
    q: &str,
    page: u32,
    per_page: u32,
    now: i64,
) -> Result<Page, DbError> {
    let words: Vec<String> = q
        .split_whitespace()
        .take(8)
        .map(|w| {
            // LIKE wildcards in the query are literal text.
            let escaped = w
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{}%", escaped.to_lowercase())
        })
        .collect();
    let mut filter = String::from("1 = 1");
    for i in 0..words.len() {
        filter.push_str(&format!(
            " AND (lower(title) LIKE ?{n} ESCAPE '\\' OR lower(venue) LIKE ?{n} ESCAPE '\\')",
            n = i + 2
        ));
    }
    let page = page.max(1);
    let per_page = per_page.clamp(1, 100);
    let mut args: Vec<rusqlite::types::Value> = vec![now.into()];
    args.extend(
        words
            .iter()
            .map(|w| rusqlite::types::Value::from(w.clone())),
    );
    // ?1 is `now` in both queries so the words keep their parameter numbers (?2…).
    let total: i64 = row(
        conn,
        &format!("SELECT COUNT(*) FROM events WHERE {filter} AND ?1 = ?1"),
        rusqlite::params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE {filter}
         ORDER BY (starts_at > ?1 AND remaining > 0) DESC, starts_at ASC, id ASC
         LIMIT {per_page} OFFSET {}",
        (page as i64 - 1) * per_page as i64
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let items = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), row_to_event(now))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        total,
        page,
        per_page,
    })
}

/// Every seat of an event and whether it is free, in seat order.
pub type SeatMap = Vec<(String, bool)>;

/// One event with, for seated events, every seat and whether it is free.
pub fn event_detail(
    conn: &Connection,
    id: i64,
    now: i64,
) -> Result<Option<(EventView, SeatMap)>, DbError> {
    let Some(ev) = row(
        conn,
        &format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"),
        [id],
        row_to_event(now),
    )
    .optional()?
    else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare_cached("SELECT seat, booking_id IS NULL FROM seats WHERE event_id = ?1")?;
    let mut seats = stmt
        .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    seats.sort_by_cached_key(|s| natural(&s.0));
    Ok(Some((ev, seats)))
}

/// Sort key for seat ids so that `1-2A` comes before `1-10A`.
fn natural(s: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut num = String::new();
    let mut text = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !text.is_empty() {
                out.push((0, std::mem::take(&mut text)));
            }
            num.push(c);
        } else {
            if !num.is_empty() {
                out.push((num.parse().unwrap_or(0), String::new()));
                num.clear();
            }
            text.push(c);
        }
    }
    if !num.is_empty() {
        out.push((num.parse().unwrap_or(0), String::new()));
    }
    if !text.is_empty() {
        out.push((0, text));
    }
    out
}

/// A booking as its owner lists it: with the event's title and start, so a list of
/// bookings reads on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MyBooking {
    /// The booking.
    #[serde(flatten)]
    pub booking: Booking,
    /// The event's title.
    pub event_title: String,
    /// The event's start, Unix seconds.
    pub starts_at: i64,
}

/// `user`'s bookings, newest first.
pub fn my_bookings(conn: &Connection, user: &str, limit: u32) -> Result<Vec<MyBooking>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.id, b.event_id, b.user_id, b.quantity, b.seats, b.status, b.created_at,
                e.title, e.starts_at
         FROM bookings b JOIN events e ON e.id = b.event_id
         WHERE b.user_id = ?1 ORDER BY b.id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![user, limit.clamp(1, 500)], |r| {
            Ok((
                row_to_booking(r)?,
                r.get::<_, String>(7)?,
                r.get::<_, i64>(8)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|((b, seats), event_title, starts_at)| {
            Ok(MyBooking {
                booking: Booking {
                    seats: serde_json::from_str(&seats)?,
                    ..b
                },
                event_title,
                starts_at,
            })
        })
        .collect()
}
