use super::*;

#[test]
fn a_status_answer_round_trips_and_keeps_its_null_fields() {
    let mut a = StatusAnswer::new("booking", State::Waiting);
    a.ahead = Some(3);
    a.behind = Some(0);
    a.ticket = Some("T".into());
    let text = String::from_utf8(a.to_vec()).unwrap();
    assert!(text.contains(r#""eta_seconds":null"#), "{text}");
    assert!(!text.contains("pass"), "{text}");
    let back: StatusAnswer<'static> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, a);
}

#[test]
fn every_state_has_its_wire_spelling() {
    for s in [
        State::Waiting,
        State::Paused,
        State::Called,
        State::Admitted,
        State::Closed,
        State::Unavailable,
        State::Challenge,
        State::TooMany,
        State::Shared,
    ] {
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
    }
}

#[test]
fn a_site_answer_is_not_a_status_answer() {
    // rush tells usher's answers from the site's by whether they parse.
    let booking = r#"{"id":"b1","state":"confirmed","room":"x"}"#;
    assert!(serde_json::from_str::<StatusAnswer<'static>>(booking).is_err());
}

#[test]
fn the_error_shape_has_a_string_code() {
    let e = ErrorBody::new("not_found", "no such thing").to_json();
    assert_eq!(
        e,
        r#"{"error":{"code":"not_found","message":"no such thing"}}"#
    );
}
