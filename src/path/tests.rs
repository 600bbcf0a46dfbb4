use super::{normalize, PathError};

#[test]
fn normal_paths_are_left_alone() {
    for p in [
        "/",
        "/book",
        "/api/events/3/bookings",
        "/a/b/",
        "/a.b/c..d/.e",
    ] {
        assert_eq!(normalize(p), Ok(None), "{p}");
    }
}

#[test]
fn dot_segments_slashes_and_unreserved_escapes_are_resolved() {
    let cases = [
        ("/open/../book", "/book"),
        ("/open/%2e%2e/book", "/book"),
        ("/open/%2E%2E/book/", "/book/"),
        ("//_usher//status", "/_usher/status"),
        ("/_usher/./status", "/_usher/status"),
        ("/%5Fusher/status", "/_usher/status"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/%7euser", "/~user"),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize(raw), Ok(Some(want.to_string())), "{raw}");
    }
}

#[test]
fn climbing_above_the_root_encoded_separators_and_bad_escapes_are_refused() {
    assert_eq!(normalize("/../etc/passwd"), Err(PathError::AboveRoot));
    assert_eq!(normalize("/a/../../b"), Err(PathError::AboveRoot));
    assert_eq!(normalize("/%2e%2e/x"), Err(PathError::AboveRoot));
    assert_eq!(
        normalize("/open%2F..%2Fbook"),
        Err(PathError::EncodedSeparator)
    );
    assert_eq!(normalize("/a%5cb"), Err(PathError::EncodedSeparator));
    assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
    assert_eq!(normalize("/a%2"), Err(PathError::BadEscape));
}

#[test]
fn characters_a_browser_encodes_are_encoded_the_same_way() {
    let korean = "/%EC%98%88%EB%A7%A4";
    assert_eq!(normalize("/예매"), Ok(Some(korean.to_string())));
    assert_eq!(
        normalize("/%ec%98%88%eb%a7%a4"),
        Ok(Some(korean.to_string()))
    );
    assert_eq!(normalize(korean), Ok(None));
    assert_eq!(normalize("/예매//seat"), Ok(Some(format!("{korean}/seat"))));
    assert_eq!(normalize("/café/%41"), Ok(Some("/caf%C3%A9/A".to_string())));
    assert_eq!(
        normalize("/a b/\"{x}"),
        Ok(Some("/a%20b/%22%7Bx%7D".to_string()))
    );
    assert_eq!(normalize("/a:b@c/!$&'()*+,;="), Ok(None));
}
