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
        let mut pick = vec![seats[i % 40].clone(), seats[(i * 7 + 1) % 40].clone()];
        pick.dedup();
        tasks.push(tokio::spawn(async move {
            let req = Request::Book {
                user: format!("u{i}"),
                event: ev,
                order: Order::Seats {
                    seats: pick.clone(),
                },
                key: format!("k{i}"),
            };
            (pick, w.submit(req).await.unwrap())
        }));
    }
    let mut taken = std::collections::HashSet::new();
    for t in tasks {
        let (pick, r) = t.await.unwrap();
        if r.status == 201 {
            let b: db::Booking = serde_json::from_str(&r.body).unwrap();
            for s in b.seats {
                assert!(taken.insert(s.clone()), "seat {s} sold twice");
            }
        } else {
            assert_eq!(r.status, 409, "{}", r.body);
            // The refusal names one of the seats asked for, in its own field.
            let e: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            match e["error"]["code"].as_str() {
                Some("sold_out") => {}
                Some("seat_taken") => {
                    let seat = e["error"]["seat"].as_str().unwrap_or_default();
                    assert!(pick.iter().any(|p| p == seat), "{} for {pick:?}", r.body);
                }
                _ => panic!("{}", r.body),
            }
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

#[tokio::test(flavor = "multi_thread")]
async fn search_detail_and_my_bookings() {
    let (dir, w) = setup().await;
    let mk = |title: &str, venue: &str, starts_in: i64, layout: Layout| NewEvent {
        title: title.into(),
        venue: venue.into(),
        starts_at: now() + starts_in,
        price: 1000,
        layout,
    };
    let create = |e: NewEvent| {
        let w = w.clone();
        async move {
            let r = w.submit(Request::CreateEvent(e)).await.unwrap();
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"]
                .as_i64()
                .unwrap()
        }
    };
    let ktx = create(mk(
        "KTX Seoul → Dongdaegu, Chuseok 07:00",
        "Seoul Station",
        7200,
        Layout::Train {
            cars: 1,
            rows_per_car: 3,
        },
    ))
    .await;
    let later = create(mk(
        "KTX Seoul → Busan 09:00",
        "Seoul Station",
        9000,
        Layout::Train {
            cars: 1,
            rows_per_car: 1,
        },
    ))
    .await;
    let coupon = create(mk(
        "11,000 KRW coupon",
        "Online",
        3600,
        Layout::Coupon { count: 1 },
    ))
    .await;
    let _concert = create(mk(
        "Concert 100% live",
        "Olympic Hall",
        1800,
        Layout::Concert {
            rows: 1,
            seats_per_row: 2,
        },
    ))
    .await;
    // Sell the coupon out: it drops behind the bookable ones.
    assert_eq!(
        w.submit(Request::Book {
            user: "u1".into(),
            event: coupon,
            order: Order::Quantity { quantity: 1 },
            key: "a".into()
        })
        .await
        .unwrap()
        .status,
        201
    );
    assert_eq!(
        w.submit(Request::Book {
            user: "u1".into(),
            event: ktx,
            order: Order::Seats {
                seats: vec!["1-2A".into()]
            },
            key: "b".into()
        })
        .await
        .unwrap()
        .status,
        201
    );

    let conn = db::open(&dir.path().join("backend.db")).unwrap();
    let t = now();
    let all = db::search(&conn, "", 1, 10, t).unwrap();
    assert_eq!(all.total, 4);
    let titles: Vec<&str> = all.items.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Concert 100% live",
            "KTX Seoul → Dongdaegu, Chuseok 07:00",
            "KTX Seoul → Busan 09:00",
            "11,000 KRW coupon"
        ],
        "bookable first, then by date"
    );
    // Several words, any case, title or venue.
    let ktx_hits = db::search(&conn, "ktx  SEOUL", 1, 10, t).unwrap();
    assert_eq!(ktx_hits.total, 2);
    assert_eq!(
        db::search(&conn, "station busan", 1, 10, t).unwrap().items[0].id,
        later
    );
    // Wildcards are literal.
    assert_eq!(db::search(&conn, "100%", 1, 10, t).unwrap().total, 1);
    assert_eq!(db::search(&conn, "%", 1, 10, t).unwrap().total, 1);
    // Pagination.
    let p2 = db::search(&conn, "", 2, 3, t).unwrap();
    assert_eq!((p2.items.len(), p2.total, p2.page), (1, 4, 2));
    // Detail with the seat map in seat order.
    let (ev, seats) = db::event_detail(&conn, ktx, t).unwrap().unwrap();
    assert_eq!((ev.remaining, ev.bookable), (11, true));
    assert_eq!(seats.len(), 12);
    assert_eq!(seats[0], ("1-1A".to_string(), true));
    assert!(seats.contains(&("1-2A".to_string(), false)));
    assert!(db::event_detail(&conn, 424242, t).unwrap().is_none());
    // My bookings, newest first.
    let mine = db::my_bookings(&conn, "u1", 50).unwrap();
    assert_eq!(
        mine.iter().map(|b| b.booking.event_id).collect::<Vec<_>>(),
        [ktx, coupon]
    );
    // Each entry names its event, so the list reads without another lookup.
    assert!(mine[0].event_title.starts_with("KTX"), "{:?}", mine[0]);
    assert!(mine[0].starts_at > t);
    assert!(db::my_bookings(&conn, "nobody", 50).unwrap().is_empty());
}
