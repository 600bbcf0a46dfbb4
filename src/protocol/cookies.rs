//! usher's own cookies: read them from a request, keep them from the site, and write them
//! with the attributes docs/DESIGN.md §6 asks for (HttpOnly, Secure, SameSite=Lax, the
//! whole site).

use http::header::{HeaderMap, HeaderValue, COOKIE};

use super::COOKIE_PREFIX;

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
            !pair.is_empty() && !name.starts_with(COOKIE_PREFIX)
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
mod tests;
