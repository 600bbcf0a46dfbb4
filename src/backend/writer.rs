//! The single writer with group commit: bookings that arrive together are decided one by
//! one (each in its own savepoint) inside one transaction, and one fsynced commit makes
//! them all durable. Nobody hears "201" before that commit.

use std::path::Path;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::db::{self, Booking, DbError, NewEvent, Order, Refusal, Stored};
use crate::protocol::{ErrorBody, ErrorDetail};

/// Most requests folded into one transaction.
const MAX_BATCH: usize = 512;

/// A write the backend needs.
#[derive(Debug, Clone)]
pub enum Request {
    /// Book with an idempotency key.
    Book {
        /// Pass holder.
        user: String,
        /// Event id.
        event: i64,
        /// What.
        order: Order,
        /// `Idempotency-Key`.
        key: String,
    },
    /// Cancel a booking.
    Cancel {
        /// Pass holder.
        user: String,
        /// Booking id.
        booking: i64,
    },
    /// Create an event (admin).
    CreateEvent(NewEvent),
    /// Edit an event (admin).
    UpdateEvent(i64, db::EventChange),
}

/// The answer to a write: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// The event is sold out: the site tells the waiting room (`X-Usher-Sold-Out`).
    pub sold_out: bool,
}

/// Why a write got no answer.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The writer thread is gone.
    #[error("the database writer stopped")]
    Stopped,
    /// The batch could not be committed; nothing in it happened.
    #[error("commit failed: {0}")]
    Commit(String),
}

type Job = (Request, oneshot::Sender<Result<Reply, WriterError>>);

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply {
        status,
        body: ErrorBody::new(code, message).to_json(),
        sold_out: false,
    }
}

fn refusal(r: &Refusal) -> Reply {
    match r {
        Refusal::NoEvent => error(404, "no_event", &r.to_string()),
        Refusal::NoBooking => error(404, "no_booking", &r.to_string()),
        Refusal::Started => error(409, "started", &r.to_string()),
        Refusal::SoldOut => Reply {
            sold_out: true,
            ..error(409, "sold_out", &r.to_string())
        },
        // The seat is named in its own field so a UI can mark it without parsing prose.
        Refusal::SeatTaken(seat) => Reply {
            status: 409,
            body: ErrorBody {
                error: ErrorDetail {
                    seat: Some(seat.as_str().into()),
                    ..ErrorDetail::new("seat_taken", r.to_string())
                },
            }
            .to_json(),
            sold_out: false,
        },
        Refusal::Invalid(_) => error(422, "invalid", &r.to_string()),
    }
}

fn booked(b: &Booking, status: u16) -> Result<Reply, DbError> {
    Ok(Reply {
        status,
        body: serde_json::to_string(b)?,
        sold_out: false,
    })
}

impl Writer {
    /// Opens the database and starts the writer thread.
    pub fn start(path: &Path) -> Result<Self, DbError> {
        let conn = db::open(path)?;
        let (tx, rx) = mpsc::channel::<Job>(16 * 1024);
        std::thread::Builder::new()
            .name("usher-db-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(DbError::Thread)?;
        Ok(Self { jobs: tx })
    }

    /// Submits a write and waits until it is committed (or refused).
    pub async fn submit(&self, req: Request) -> Result<Reply, WriterError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send((req, tx))
            .await
            .map_err(|_| WriterError::Stopped)?;
        rx.await.map_err(|_| WriterError::Stopped)?
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let now = now();
        match commit_batch(&mut conn, &jobs, now) {
            Ok(replies) => {
                for ((_, reply_to), reply) in jobs.into_iter().zip(replies) {
                    let _ = reply_to.send(Ok(reply));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = jobs.len(), "booking batch not committed");
                for (_, reply_to) in jobs {
                    let _ = reply_to.send(Err(WriterError::Commit(e.to_string())));
                }
            }
        }
    }
}

fn commit_batch(conn: &mut Connection, jobs: &[Job], now: i64) -> Result<Vec<Reply>, DbError> {
    let mut tx = conn.transaction()?;
    let mut replies = Vec::with_capacity(jobs.len());
    for (req, _) in jobs {
        let sp = tx.savepoint()?;
        match apply(&sp, req, now) {
            Ok(Outcome::Keep(reply)) => {
                sp.commit()?;
                replies.push(reply);
            }
            Ok(Outcome::Undo(reply, remember)) => {
                drop(sp); // rolls this request's writes back
                if let Some((user, key, stored)) = remember {
                    db::remember(&tx, &user, &key, &stored, now)?;
                }
                replies.push(reply);
            }
            Err(e) => {
                drop(sp);
                tracing::error!(error = %e, "booking request failed");
                replies.push(error(500, "internal", "the booking could not be processed"));
            }
        }
    }
    tx.commit()?;
    Ok(replies)
}

enum Outcome {
    /// Keep this request's writes.
    Keep(Reply),
    /// Roll them back; optionally remember the answer for an idempotency key.
    Undo(Reply, Option<(String, String, Stored)>),
}

fn apply(conn: &Connection, req: &Request, now: i64) -> Result<Outcome, DbError> {
    match req {
        Request::Book {
            user,
            event,
            order,
            key,
        } => {
            let request = format!("{event}:{}", serde_json::to_string(order)?);
            if let Some(stored) = db::idempotent(conn, user, key)? {
                return Ok(Outcome::Keep(if stored.request == request {
                    Reply {
                        status: stored.status,
                        body: stored.body,
                        sold_out: false,
                    }
                } else {
                    error(
                        422,
                        "key_reused",
                        "this Idempotency-Key was used with another request",
                    )
                }));
            }
            match db::book(conn, user, *event, order, now)? {
                Ok(b) => {
                    let reply = booked(&b, 201)?;
                    let stored = Stored {
                        request,
                        status: 201,
                        body: reply.body.clone(),
                    };
                    db::remember(conn, user, key, &stored, now)?;
                    Ok(Outcome::Keep(reply))
                }
                Err(r) => {
                    let reply = refusal(&r);
                    // A final answer (409) is replayed for the same key; a 422/404 is not
                    // worth keeping.
                    let remember = (reply.status == 409).then(|| {
                        (
                            user.clone(),
                            key.clone(),
                            Stored {
                                request,
                                status: reply.status,
                                body: reply.body.clone(),
                            },
                        )
                    });
                    Ok(Outcome::Undo(reply, remember))
                }
            }
        }
        Request::Cancel { user, booking } => match db::cancel(conn, user, *booking, now)? {
            Ok(b) => Ok(Outcome::Keep(booked(&b, 200)?)),
            Err(r) => Ok(Outcome::Undo(refusal(&r), None)),
        },
        Request::UpdateEvent(id, change) => Ok(if db::update_event(conn, *id, change)? {
            Outcome::Keep(Reply {
                status: 200,
                body: serde_json::json!({ "id": id }).to_string(),
                sold_out: false,
            })
        } else {
            Outcome::Undo(error(404, "no_event", "no such event"), None)
        }),
        Request::CreateEvent(e) => {
            let id = db::create_event(conn, e, now)?;
            Ok(Outcome::Keep(Reply {
                status: 201,
                body: serde_json::json!({ "id": id }).to_string(),
                sold_out: false,
            }))
        }
    }
}
