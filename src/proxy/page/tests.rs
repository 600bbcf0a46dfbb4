//! Tests for `page`.

use http_body_util::BodyExt;

use super::*;

#[test]
fn builtin_page_is_small_and_has_a_strict_csp() {
    assert!(TEMPLATE.len() <= 8192, "{} bytes", TEMPLATE.len());
    let pages = Pages::builtin().unwrap();
    let pos = crate::room::Position {
        ahead: 41,
        behind: 7,
        eta_seconds: Some(125),
        poll_ms: 2000,
    };
    let r = pages.html(
        Lang::Ko,
        Standing::Waiting(pos, false),
        StatusCode::OK,
        "booking",
        "/book?x=<1>",
        false,
        None,
    );
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
    assert!(!csp.contains("unsafe"));
    let plain = body(r);
    assert!(plain.contains("&lt;1&gt;"), "values are escaped");
    // gzip: same page, smaller.
    let z = pages.html(
        Lang::Ko,
        Standing::Waiting(pos, false),
        StatusCode::OK,
        "booking",
        "/book?x=<1>",
        true,
        None,
    );
    assert_eq!(z.headers()[header::CONTENT_ENCODING], "gzip");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let zipped = rt.block_on(z.into_body().collect()).unwrap().to_bytes();
    assert!(
        zipped.len() * 2 < plain.len(),
        "{} vs {}",
        zipped.len(),
        plain.len()
    );
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&zipped[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain);
}

#[test]
fn gzip_only_when_accepted() {
    let mut h = HeaderMap::new();
    assert!(!accepts_gzip(&h));
    h.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, deflate, br"),
    );
    assert!(accepts_gzip(&h));
    h.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("br, gzip;q=0"),
    );
    assert!(!accepts_gzip(&h));
}

#[test]
fn operator_template_replaces_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("w.html");
    let st = dir.path().join("s.toml");
    std::fs::write(&t, "<html lang={{LANG}}><style>b{}</style><h1>Acme {{HEADING}}</h1><p>{{AHEAD}}<script>1</script>").unwrap();
    std::fs::write(
        &st,
        "[ko]\nHEADING = \"대기\"\n[en]\nHEADING = \"Waiting\"\n",
    )
    .unwrap();
    let pages = Pages::load(Some(&(t.clone(), st.clone()))).unwrap();
    let pos = crate::room::Position {
        ahead: 3,
        behind: 0,
        eta_seconds: None,
        poll_ms: 1000,
    };
    let r = pages.html(
        Lang::En,
        Standing::Waiting(pos, false),
        StatusCode::OK,
        "r",
        "/",
        false,
        None,
    );
    let body = body(r);
    assert!(body.contains("<h1>Acme Waiting</h1><p>3"), "{body}");
    // Placeholders inside <script> would break the CSP hash: refused.
    std::fs::write(&t, "<style></style><script>{{AHEAD}}</script>").unwrap();
    assert!(Pages::load(Some(&(t.clone(), st.clone()))).is_err());
    std::fs::write(&t, "x".repeat(9000)).unwrap();
    assert!(Pages::load(Some(&(t, st))).is_err());
}

fn body(r: Response<Body>) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bytes = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn language_from_accept_language() {
    let mut h = HeaderMap::new();
    assert_eq!(Lang::from_headers(&h), Lang::En);
    h.insert(
        header::ACCEPT_LANGUAGE,
        HeaderValue::from_static("ko-KR,ko;q=0.9,en;q=0.8"),
    );
    assert_eq!(Lang::from_headers(&h), Lang::Ko);
    h.insert(
        header::ACCEPT_LANGUAGE,
        HeaderValue::from_static("fr, en-GB;q=0.5"),
    );
    assert_eq!(Lang::from_headers(&h), Lang::En);
}
