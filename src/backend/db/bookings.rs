//! Bookings: the conditional statements that decide inventory (book, cancel) and what a
//! visitor reads back (one booking, their list).

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::outbox::enqueue;
use super::{exec, row, DbError};

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
    enqueue(tx, "booking.confirmed", &booking, now)?;
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
        enqueue(tx, "booking.cancelled", &b, now)?;
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
