use super::*;

#[test]
fn numbers_are_grouped() {
    assert_eq!(n(0), "0");
    assert_eq!(n(1111), "1,111");
    assert_eq!(n(1_234_567), "1,234,567");
}

#[test]
fn the_report_is_one_page_with_its_numbers_and_three_charts() {
    let s = Summary {
        target: "https://a<b".into(),
        visitors: 3000,
        booked: 1111,
        units: 1111,
        oversold: Some(0),
        timeline: vec![Sample {
            t: 0,
            waiting: 5,
            line: None,
            admitted: 1,
            booked: 1,
            sold_out: 0,
        }],
        ..Summary::default()
    };
    let html = s.html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<td id=\"booked\">1,111</td>"));
    assert!(html.contains("https://a&lt;b"), "text is escaped");
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(
        !html.contains("<script"),
        "no script, nothing from the network"
    );
    assert!(s.text().contains("oversold"));
    assert!(s.json().contains("\"oversold\": 0"));
}
