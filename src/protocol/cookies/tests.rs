use http::header::{HeaderMap, HeaderValue, COOKIE};

use super::{get, strip};
use crate::protocol::{PASS_COOKIE, TICKET_COOKIE};

#[test]
fn read_and_strip() {
    let mut h = HeaderMap::new();
    h.append(COOKIE, HeaderValue::from_static("a=1; usher_ticket=T; b=2"));
    h.append(COOKIE, HeaderValue::from_static("usher_pass=P"));
    assert_eq!(get(&h, TICKET_COOKIE), Some("T"));
    assert_eq!(get(&h, PASS_COOKIE), Some("P"));
    assert_eq!(get(&h, "c"), None);
    strip(&mut h);
    assert_eq!(h.get_all(COOKIE).iter().count(), 1);
    assert_eq!(h[COOKIE], "a=1; b=2");
    let mut only = HeaderMap::new();
    only.insert(COOKIE, HeaderValue::from_static("usher_pass=P"));
    strip(&mut only);
    assert!(!only.contains_key(COOKIE));
}
