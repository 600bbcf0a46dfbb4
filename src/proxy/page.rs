//! The waiting page and its JSON twin: one template, filled per request, with a strict
//! Content-Security-Policy built from hashes of its own inline style and script.

use std::collections::HashMap;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::gate::Standing;
use super::ProxyBody;

const TEMPLATE: &str = include_str!("../../static/waiting.html");
const STRINGS: &str = include_str!("../../static/waiting-strings.toml");

/// Why the page could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The strings file is not valid TOML of `[lang] KEY = "text"`.
    #[error("waiting page strings: {0}")]
    Strings(String),
    /// The operator's files could not be read.
    #[error("waiting page {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The template lacks its single `<style>` or `<script>`.
    #[error("waiting page template: {0}")]
    Template(&'static str),
}

/// The prepared waiting page.
pub struct Pages {
    template: String,
    strings: HashMap<String, HashMap<String, String>>,
    csp: HeaderValue,
}

/// The page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Korean.
    Ko,
    /// English.
    En,
}

impl Lang {
    /// The first of Korean or English the client's `Accept-Language` names; English if none.
    pub fn from_headers(h: &HeaderMap) -> Self {
        let accept = h
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for tag in accept.split(',') {
            let tag = tag
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("ko") {
                return Lang::Ko;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    fn key(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

fn sha256_b64(s: &str) -> String {
    use base64::Engine;
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Pages {
    /// The built-in page.
    pub fn builtin() -> Result<Self, PageError> {
        Self::new(TEMPLATE, STRINGS)
    }

    /// The operator's page from files, or the built-in one.
    pub fn load(
        files: Option<&(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Result<Self, PageError> {
        let Some((t, s)) = files else {
            return Self::builtin();
        };
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| PageError::Read {
                path: p.display().to_string(),
                reason: e.to_string(),
            })
        };
        let template = read(t)?;
        if template.len() > 8192 {
            return Err(PageError::Read {
                path: t.display().to_string(),
                reason: format!("{} bytes; the waiting page budget is 8192", template.len()),
            });
        }
        Self::new(&template, &read(s)?)
    }

    /// A page from a template and its strings (an operator's replacement).
    pub fn new(template: &str, strings: &str) -> Result<Self, PageError> {
        let strings: HashMap<String, HashMap<String, String>> =
            toml::from_str(strings).map_err(|e| PageError::Strings(e.to_string()))?;
        for lang in ["ko", "en"] {
            if !strings.contains_key(lang) {
                return Err(PageError::Strings(format!("no [{lang}] table")));
            }
        }
        let style = between(template, "<style>", "</style>").ok_or(PageError::Template(
            "needs one <style> element without attributes",
        ))?;
        let script = between(template, "<script>", "</script>").ok_or(PageError::Template(
            "needs one <script> element without attributes",
        ))?;
        if style.contains("{{") || script.contains("{{") {
            return Err(PageError::Template(
                "placeholders inside <style> or <script> would break its CSP hash",
            ));
        }
        let csp = format!(
            "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            sha256_b64(style),
            sha256_b64(script)
        );
        Ok(Self {
            template: template.to_string(),
            strings,
            csp: HeaderValue::from_str(&csp).map_err(|_| PageError::Template("bad CSP"))?,
        })
    }

    fn text(&self, lang: Lang, key: &str) -> &str {
        self.strings
            .get(lang.key())
            .and_then(|t| t.get(key))
            .map(String::as_str)
            .unwrap_or("")
    }

    fn eta_text(&self, lang: Lang, eta: Option<u32>) -> String {
        match eta {
            None => self.text(lang, "ETA_UNKNOWN").to_string(),
            Some(s) if s < 90 => self
                .text(lang, "T_SEC")
                .replace("{n}", &s.max(1).to_string()),
            Some(s) => self
                .text(lang, "T_MIN")
                .replace("{n}", &s.div_ceil(60).to_string()),
        }
    }

    /// The waiting page for `standing`, gzipped when the client accepts it (the page
    /// carries live numbers for browsers without JavaScript, so it is compressed per
    /// response: ~6 KB becomes ~2.5 KB in a few microseconds).
    pub fn html(
        &self,
        lang: Lang,
        standing: Standing,
        room: &str,
        return_to: &str,
        gzip: bool,
        challenge: Option<&str>,
    ) -> Response<ProxyBody> {
        let (state, msg_key, pos) = describe(standing);
        let bits = match standing {
            Standing::Challenge(b) => b,
            _ => 0,
        };
        let (ahead, behind, eta, poll_ms) = match (pos, standing) {
            (_, Standing::PreQueue(w)) => (
                "—".into(),
                "—".into(),
                self.eta_text(lang, Some(w.starts_in)),
                w.poll_ms,
            ),
            (Some(p), _) => (
                p.ahead.to_string(),
                p.behind.to_string(),
                self.eta_text(lang, p.eta_seconds),
                p.poll_ms,
            ),
            (None, _) => (
                "—".into(),
                "—".into(),
                self.text(lang, "ETA_UNKNOWN").into(),
                5_000,
            ),
        };
        let status_url = format!(
            "/_usher/status?room={room}&return_to={}",
            percent(return_to)
        );
        let dynamic: [(&str, String); 11] = [
            ("LANG", lang.key().into()),
            ("STATE", state.into()),
            ("MESSAGE", self.text(lang, msg_key).into()),
            ("AHEAD", ahead),
            ("BEHIND", behind),
            ("ETA", eta),
            ("POLL_MS", poll_ms.to_string()),
            ("REFRESH_SECS", (poll_ms / 1000).clamp(2, 30).to_string()),
            ("RETURN_TO", return_to.into()),
            ("CHALLENGE", challenge.unwrap_or_default().into()),
            ("BITS", bits.to_string()),
        ];
        let mut out = self.template.clone();
        for (k, v) in dynamic.iter() {
            out = out.replace(&format!("{{{{{k}}}}}"), &escape(v));
        }
        out = out.replace("{{STATUS_URL}}", &escape(&status_url));
        if let Some(table) = self.strings.get(lang.key()) {
            for (k, v) in table {
                out = out.replace(&format!("{{{{{k}}}}}"), &escape(v));
            }
        }
        let status = match standing {
            Standing::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Standing::NotFound => StatusCode::NOT_FOUND,
            Standing::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Standing::Shared => StatusCode::FORBIDDEN,
            _ => StatusCode::OK,
        };
        let compressed = gzip.then(|| compress(out.as_bytes())).flatten();
        let mut r = match compressed {
            Some(z) => {
                let mut r = respond_bytes(status, "text/html; charset=utf-8", z);
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            None => respond(status, "text/html; charset=utf-8", out),
        };
        r.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        r.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static("Accept-Language, Accept-Encoding"),
        );
        r
    }
}

/// The state name, message key and position for a standing.
fn describe(s: Standing) -> (&'static str, &'static str, Option<crate::room::Position>) {
    match s {
        Standing::Waiting(p, false) => ("waiting", "T_WAITING", Some(p)),
        Standing::Waiting(p, true) => ("paused", "T_PAUSED", Some(p)),
        Standing::PreQueue(_) => ("waiting", "T_WAITING", None),
        Standing::Closed => ("closed", "T_CLOSED", None),
        Standing::Unavailable | Standing::NotFound => ("unavailable", "T_UNAVAILABLE", None),
        Standing::Challenge(_) => ("challenge", "T_CHALLENGE", None),
        Standing::TooMany(_) => ("too_many", "T_TOO_MANY", None),
        Standing::Shared => ("shared", "T_SHARED", None),
    }
}

/// What a JSON answer hands an app to keep: its signed ticket or, once called, its pass.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// The visitor's signed ticket (its place in line).
    Ticket(&'a str),
    /// The pass that lets it in.
    Pass(&'a str),
}

/// The JSON answer for apps and for the page's script (`/_usher/status`, API requests).
pub fn json(
    state: &str,
    room: &str,
    pos: Option<crate::room::Position>,
    return_to: &str,
    credential: Option<Credential<'_>>,
) -> Response<ProxyBody> {
    // Same keys, same (sorted) order as the json! map it replaces, without building a Value.
    #[derive(serde::Serialize)]
    struct Body<'a> {
        ahead: Option<u32>,
        behind: Option<u32>,
        eta_seconds: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pass: Option<&'a str>,
        poll_ms: u32,
        return_to: &'a str,
        room: &'a str,
        state: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        ticket: Option<&'a str>,
    }
    let (ticket, pass) = match credential {
        Some(Credential::Ticket(t)) => (Some(t), None),
        Some(Credential::Pass(p)) => (None, Some(p)),
        None => (None, None),
    };
    let body = Body {
        ahead: pos.map(|p| p.ahead),
        behind: pos.map(|p| p.behind),
        eta_seconds: pos.and_then(|p| p.eta_seconds),
        pass,
        poll_ms: pos.map_or(5_000, |p| p.poll_ms),
        return_to,
        room,
        state,
        ticket,
    };
    let mut out = Vec::with_capacity(256);
    let _ = serde_json::to_writer(&mut out, &body);
    let status = match state {
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    respond_bytes(status, "application/json", out)
}

/// The pre-queue answer: before the start nobody has a position (the order is drawn
/// then), so it says when the start is and when to come back.
pub fn prequeue_json(
    room: &str,
    w: crate::room::PreQueueWait,
    return_to: &str,
    ticket: Option<&str>,
) -> Response<ProxyBody> {
    let v = serde_json::json!({
        "room": room, "state": "waiting", "phase": "prequeue",
        "ahead": null, "behind": null, "eta_seconds": w.starts_in,
        "starts_in": w.starts_in, "starts_at_ms": w.starts_at_ms,
        "poll_ms": w.poll_ms, "return_to": return_to, "ticket": ticket,
    });
    respond(StatusCode::OK, "application/json", v.to_string())
}

/// A join challenge for an app or the page's script (`428`): solve it, then send
/// `POST /_usher/join` with `X-Usher-Challenge` and `X-Usher-Solution`.
pub fn challenge_json(
    room: &str,
    challenge: &str,
    bits: u8,
    return_to: &str,
) -> Response<ProxyBody> {
    let v = serde_json::json!({
        "room": room,
        "state": "challenge",
        "challenge": challenge,
        "difficulty": bits,
        "join": format!("/_usher/join?room={room}"),
        "return_to": return_to,
    });
    respond(
        StatusCode::PRECONDITION_REQUIRED,
        "application/json",
        v.to_string(),
    )
}

/// This network took its share of places (`429` with `Retry-After`).
pub fn too_many_json(room: &str, retry_after: u64) -> Response<ProxyBody> {
    let v = serde_json::json!({
        "room": room,
        "state": "too_many",
        "retry_after": retry_after,
        "poll_ms": retry_after.clamp(1, 3600) * 1000,
    });
    let mut r = respond(
        StatusCode::TOO_MANY_REQUESTS,
        "application/json",
        v.to_string(),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The standing as JSON, for a request that is not a page load (API calls, non-GET):
/// `503` with `Retry-After` so clients back off, never an HTML page; a challenge to
/// solve (`428`) or a network over its cap (`429`).
pub fn api_wait(standing: Standing, room: &str, challenge: Option<&str>) -> Response<ProxyBody> {
    match standing {
        Standing::Challenge(bits) => {
            return challenge_json(room, challenge.unwrap_or_default(), bits, "/")
        }
        Standing::TooMany(secs) => return too_many_json(room, secs.into()),
        Standing::PreQueue(w) => {
            let mut r = prequeue_json(room, w, "/", None);
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            if let Ok(v) = HeaderValue::from_str(&(w.poll_ms / 1000).max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        Standing::Shared => {
            let v = serde_json::json!({
                "room": room,
                "state": "shared",
                "reason": "pass_shared",
                "message": "this pass was used from too many places or too fast and has been revoked; join the line again",
                "poll_ms": 10_000,
            });
            return respond(StatusCode::FORBIDDEN, "application/json", v.to_string());
        }
        _ => {}
    }
    let (state, _, pos) = describe(standing);
    let mut r = json(state, room, pos, "/", None);
    *r.status_mut() = match standing {
        Standing::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let retry = pos.map_or(5, |p| (p.poll_ms / 1000).max(1));
    if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// True when the client accepts gzip.
pub fn accepts_gzip(h: &HeaderMap) -> bool {
    h.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::default(),
    );
    z.write_all(bytes).ok()?;
    z.finish().ok()
}

/// A small response with no caching.
pub fn respond(status: StatusCode, ctype: &'static str, body: String) -> Response<ProxyBody> {
    respond_bytes(status, ctype, body.into_bytes())
}

/// A small response with no caching, from bytes.
pub fn respond_bytes(
    status: StatusCode,
    ctype: &'static str,
    body: Vec<u8>,
) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `return_to` is honoured only as a same-origin relative path (no open redirect).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                // Browsers drop tabs and newlines from URLs (`/\t/evil` is `//evil`),
                // so no control character at all, and no backslash (read as `/`).
                && !p.chars().any(|c| c.is_control() || c == '\\')
                && p.len() <= 2048 =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Percent-encodes a path for use as a query value.
pub fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded query value (invalid escapes are kept literally).
pub fn unpercent(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of query parameter `name`.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| unpercent(v))
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
