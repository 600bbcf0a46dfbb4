//! Storage tests: real SQLite files, the real writer, many concurrent requests.

use std::sync::Arc;

use super::db::{self, Layout, NewEvent, Order};
use super::writer::{now, Request, Writer};

async fn setup() -> (tempfile::TempDir, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let w = Writer::start(&dir.path().join("backend.db")).unwrap();
    (dir, w)
}

async fn event(w: &Writer, layout: Layout) -> i64 {
    let e = NewEvent {
        title: "t".into(),
        venue: "v".into(),
        starts_at: now() + 86_400,
        price: 11_000,
        layout,
    };
    let r = w.submit(Request::CreateEvent(e)).await.unwrap();
    assert_eq!(r.status, 201);
    serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_attempts_for_1111_coupons_sell_exactly_1111() {
    let (dir, w) = setup().await;
    let ev = event(&w, Layout::Coupon { count: 1111 }).await;
    let w = Arc::new(w);
    let mut tasks = Vec::new();
    for i in 0..20_000 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let req = Request::Book {
                user: format!("u{i}"),
                event: ev,
                order: Order::Quantity { quantity: 1 },
                key: format!("k{i}"),
            };
            w.submit(req).await.unwrap().status
        }));
    }
    let mut created = 0;
    let mut sold_out = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => created += 1,
            409 => sold_out += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, sold_out), (1111, 20_000 - 1111));
    let conn = db::open(&dir.path().join("backend.db")).unwrap();
    assert_eq!(db::remaining(&conn, ev).unwrap(), 0);
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM bookings WHERE status = 'confirmed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        n, 1111,
        "durable after the answers: a fresh connection sees them all"
    );
    let outbox: i64 = conn
        .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        outbox, 1111,
        "one outbox event per booking, in the same transaction"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_seat_is_ever_booked_twice() {
    let (dir, w) = setup().await;
    let ev = event(
        &w,
        Layout::Train {
            cars: 2,
            rows_per_car: 5,
        },
    )
    .await; // 40 seats
    let seats = Layout::Train {
        cars: 2,
        rows_per_car: 5,
    }
    .seats();
    let w = Arc::new(w);
    let mut tasks = Vec::new();
    for i in 0..400usize {
        let w = w.clone();
        // Overlapping pairs of seats, many visitors per pair.
        let pick = vec![seats[i % 40].clone(), seats[(i * 7 + 1) % 40].clone()];
        tasks.push(tokio::spawn(async move {
            let mut pick = pick;
            pick.dedup();
            let req = Request::Book {
                user: format!("u{i}"),
                event: ev,
                order: Order::Seats { seats: pick },
                key: format!("k{i}"),
            };
            w.submit(req).await.unwrap()
        }));
    }
    let mut taken = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 201 {
            let b: db::Booking = serde_json::from_str(&r.body).unwrap();
            for s in b.seats {
                assert!(taken.insert(s.clone()), "seat {s} sold twice");
            }
        } else {
            assert_eq!(r.status, 409, "{}", r.body);
        }
    }
    let conn = db::open(&dir.path().join("backend.db")).unwrap();
    let booked: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM seats WHERE event_id = ?1 AND booking_id IS NOT NULL",
            [ev],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(booked as usize, taken.len());
    assert_eq!(
        db::remaining(&conn, ev).unwrap() as usize + taken.len(),
        40,
        "inventory + booked = capacity"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_replay_and_refuse_other_bodies() {
    let (_dir, w) = setup().await;
    let ev = event(&w, Layout::Coupon { count: 100 }).await;
    let w = Arc::new(w);
    let book = |q: u32| Request::Book {
        user: "alice".into(),
        event: ev,
        order: Order::Quantity { quantity: q },
        key: "same-key".into(),
    };
    // Concurrent duplicates: one booking, the same answer for all.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let w = w.clone();
        let req = book(2);
        tasks.push(tokio::spawn(async move { w.submit(req).await.unwrap() }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers
        .iter()
        .all(|a| a.status == 201 && a.body == answers[0].body));
    // Another body with the same key: refused.
    let other = w.submit(book(3)).await.unwrap();
    assert_eq!(other.status, 422);
    assert!(other.body.contains("key_reused"));
    // The same key for another user is that user's own key.
    let bob = w
        .submit(Request::Book {
            user: "bob".into(),
            event: ev,
            order: Order::Quantity { quantity: 2 },
            key: "same-key".into(),
        })
        .await
        .unwrap();
    assert_eq!(bob.status, 201);
    assert_ne!(bob.body, answers[0].body);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_restores_inventory_exactly_once_and_only_before_the_start() {
    let (dir, w) = setup().await;
    let ev = event(
        &w,
        Layout::Concert {
            rows: 2,
            seats_per_row: 5,
        },
    )
    .await;
    let r = w
        .submit(Request::Book {
            user: "a".into(),
            event: ev,
            order: Order::Seats {
                seats: vec!["R1-1".into(), "R1-2".into()],
            },
            key: "k".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    let b: db::Booking = serde_json::from_str(&r.body).unwrap();
    let conn = db::open(&dir.path().join("backend.db")).unwrap();
    assert_eq!(db::remaining(&conn, ev).unwrap(), 8);
    for _ in 0..3 {
        let c = w
            .submit(Request::Cancel {
                user: "a".into(),
                booking: b.id,
            })
            .await
            .unwrap();
        assert_eq!(c.status, 200);
    }
    assert_eq!(
        db::remaining(&conn, ev).unwrap(),
        10,
        "restored once, not three times"
    );
    // Someone else's booking is not yours to cancel; the seats are free again.
    assert_eq!(
        w.submit(Request::Cancel {
            user: "mallory".into(),
            booking: b.id
        })
        .await
        .unwrap()
        .status,
        404
    );
    let again = w
        .submit(Request::Book {
            user: "c".into(),
            event: ev,
            order: Order::Seats {
                seats: vec!["R1-1".into()],
            },
            key: "k2".into(),
        })
        .await
        .unwrap();
    assert_eq!(again.status, 201);
    // After the start: no booking, no cancelling.
    conn.execute(
        "UPDATE events SET starts_at = ?1 WHERE id = ?2",
        rusqlite::params![now() - 10, ev],
    )
    .unwrap();
    let late = w
        .submit(Request::Book {
            user: "d".into(),
            event: ev,
            order: Order::Seats {
                seats: vec!["R2-1".into()],
            },
            key: "k3".into(),
        })
        .await
        .unwrap();
    assert_eq!(late.status, 409);
    let again: db::Booking = serde_json::from_str(&again.body).unwrap();
    assert_eq!(
        w.submit(Request::Cancel {
            user: "c".into(),
            booking: again.id
        })
        .await
        .unwrap()
        .status,
        409
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_orders_are_refused_without_side_effects() {
    let (dir, w) = setup().await;
    let coupon = event(&w, Layout::Coupon { count: 5 }).await;
    let seated = event(
        &w,
        Layout::Concert {
            rows: 1,
            seats_per_row: 3,
        },
    )
    .await;
    let cases = [
        (coupon, Order::Quantity { quantity: 0 }, 422),
        (coupon, Order::Quantity { quantity: 11 }, 422),
        (
            coupon,
            Order::Seats {
                seats: vec!["R1-1".into()],
            },
            422,
        ),
        (seated, Order::Quantity { quantity: 1 }, 422),
        (
            seated,
            Order::Seats {
                seats: vec!["R1-1".into(), "R1-1".into()],
            },
            422,
        ),
        (
            seated,
            Order::Seats {
                seats: vec!["R9-9".into()],
            },
            409,
        ),
        (9999, Order::Quantity { quantity: 1 }, 404),
    ];
    for (i, (ev, order, want)) in cases.into_iter().enumerate() {
        let r = w
            .submit(Request::Book {
                user: "u".into(),
                event: ev,
                order,
                key: format!("k{i}"),
            })
            .await
            .unwrap();
        assert_eq!(r.status, want, "case {i}: {}", r.body);
    }
    let conn = db::open(&dir.path().join("backend.db")).unwrap();
    assert_eq!(db::remaining(&conn, coupon).unwrap(), 5);
    assert_eq!(
        db::remaining(&conn, seated).unwrap(),
        3,
        "a missing seat rolls the decrement back"
    );
}
