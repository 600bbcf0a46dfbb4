use super::{percent, query_param, safe_return_to, unpercent};

#[test]
fn query_round_trip() {
    let q = format!("room=r&return_to={}", percent("/a b?c=d&e"));
    assert_eq!(
        query_param(Some(&q), "return_to").as_deref(),
        Some("/a b?c=d&e")
    );
    assert_eq!(query_param(Some(&q), "room").as_deref(), Some("r"));
    assert_eq!(unpercent("%zz%4"), "%zz%4");
}

#[test]
fn return_to_only_same_origin_paths() {
    for bad in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/x\r\nSet-Cookie: a=b",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\u{7f}/evil.example",
        "",
    ] {
        assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
    }
    assert_eq!(safe_return_to(Some("/book/42?seat=3A")), "/book/42?seat=3A");
    assert_eq!(safe_return_to(None), "/");
}
