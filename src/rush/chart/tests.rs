use super::*;

#[test]
fn axes_are_round_and_gaps_lift_the_pen() {
    assert_eq!(nice(0.0), 1.0);
    assert_eq!(nice(3.0), 3.0);
    assert_eq!(nice(2700.0), 3000.0);
    assert_eq!(nice(1111.0), 1500.0);
    assert_eq!(nice(50.0), 50.0);
    let t: Vec<Sample> = (0..4)
        .map(|t| Sample {
            t,
            waiting: 0,
            line: None,
            admitted: 0,
            booked: 0,
            sold_out: 0,
        })
        .collect();
    let svg = chart(
        "c",
        &t,
        &[("s", "#000", vec![Some(1.0), None, Some(2.0), Some(3.0)])],
    );
    assert_eq!(svg.matches('M').count(), 2, "two runs of points: {svg}");
    assert_eq!(svg.matches('L').count(), 1, "{svg}");
}
