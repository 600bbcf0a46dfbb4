use super::*;

#[test]
fn percentiles_and_samples_follow_the_visitors() {
    let stats = Stats::new(Instant::now());
    for ms in 1..=100 {
        stats.record(Step::Book, Duration::from_millis(ms));
    }
    stats.admitted();
    stats.admitted();
    stats.finish(&End::Booked(2));
    stats.finish(&End::SoldOut);
    stats.finish(&End::Failed("http 502".into()));
    stats.saw_line(41);
    stats.sample();
    stats.admitted();
    stats.sample();
    stats.saw_event(EventInfo {
        id: 3,
        title: "coupons".into(),
        kind: "coupon".into(),
        capacity: 1,
    });
    let s = stats.summary(5, Duration::from_secs(1));
    let book = &s.latency["book"];
    assert_eq!(
        (book.count, book.p50, book.p90, book.max),
        (100, 50, 90, 100)
    );
    assert_eq!(s.latency["join"].count, 0);
    assert_eq!(
        (s.booked, s.units, s.sold_out, s.errors_total),
        (1, 2, 1, 1)
    );
    assert_eq!(s.oversold, Some(1), "2 units booked of a capacity of 1");
    let t = &s.timeline;
    assert_eq!((t[0].admitted, t[0].booked, t[0].line), (2, 1, Some(41)));
    assert_eq!((t[1].admitted, t[1].booked, t[1].line), (1, 0, None));
}
