//! Which spellings of an upstream server are accepted.

use super::parse_upstream;

#[test]
fn upstream_forms() {
    assert!(parse_upstream("http://10.0.0.1:80").is_ok());
    assert!(parse_upstream("http://backend:8080/").is_ok());
    assert!(parse_upstream("backend").is_err());
    assert!(parse_upstream("https://backend:443").is_err());
    assert!(parse_upstream("http://backend:80/api").is_err());
}
