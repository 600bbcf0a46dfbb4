//! usher's own cookies: read them from the request, keep them from the upstream, and
//! write them with the attributes DESIGN §6 asks for.

use http::header::{HeaderMap, HeaderValue, COOKIE};

/// The ticket cookie (place in line).
pub const TICKET: &str = "usher_ticket";
/// The pass cookie (admission).
pub const PASS: &str = "usher_pass";

/// The value of cookie `name`, if the request carries it.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Removes usher's cookies from the `Cookie` header(s) so the site never sees them.
pub fn strip(headers: &mut HeaderMap) {
    if !headers.contains_key(COOKIE) {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !pair.is_empty() && !name.starts_with("usher_")
        })
        .map(str::to_owned)
        .collect();
    headers.remove(COOKIE);
    if !kept.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(COOKIE, v);
        }
    }
}

/// A `Set-Cookie` value: HttpOnly, Secure, SameSite=Lax, whole site.
pub fn set(name: &str, value: &str, max_age_secs: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Lax"
    ))
    .ok()
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn clear(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    ))
    .unwrap_or(HeaderValue::from_static("usher_=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_strip() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; usher_ticket=T; b=2"));
        h.append(COOKIE, HeaderValue::from_static("usher_pass=P"));
        assert_eq!(get(&h, TICKET), Some("T"));
        assert_eq!(get(&h, PASS), Some("P"));
        assert_eq!(get(&h, "c"), None);
        strip(&mut h);
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
        assert_eq!(h[COOKIE], "a=1; b=2");
        let mut only = HeaderMap::new();
        only.insert(COOKIE, HeaderValue::from_static("usher_pass=P"));
        strip(&mut only);
        assert!(!only.contains_key(COOKIE));
    }
}
