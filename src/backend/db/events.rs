//! Events and their seats: what is sold, creating and editing it, and the read side
//! (inventory left, search, one event with its seat map).

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{exec, row, DbError};

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
