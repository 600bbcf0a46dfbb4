//! The waiting page: one template, filled per request, with a strict
//! Content-Security-Policy built from hashes of its own inline style and script. Which
//! page a visitor gets, and with which status, is `answer.rs`'s; its JSON twin is
//! `protocol::StatusAnswer`.

use std::collections::HashMap;

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use crate::gate::Standing;
use crate::protocol::query::percent;
use crate::protocol::STATUS_PATH;
use crate::response::{respond, respond_bytes, Body};

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
            let tag = tag.split(';').next().unwrap_or("").trim();
            // Read on every request: compared in place, without lower-casing a copy.
            let lang = tag.get(..2).unwrap_or("");
            if lang.eq_ignore_ascii_case("ko") {
                return Lang::Ko;
            }
            if lang.eq_ignore_ascii_case("en") {
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

    /// The waiting page for `standing`, answered with `status`, gzipped when the client
    /// accepts it (the page carries live numbers for browsers without JavaScript, so it is
    /// compressed per response: ~6 KB becomes ~2.5 KB in a few microseconds).
    #[allow(clippy::too_many_arguments)]
    pub fn html(
        &self,
        lang: Lang,
        standing: Standing,
        status: StatusCode,
        room: &str,
        return_to: &str,
        gzip: bool,
        challenge: Option<&str>,
    ) -> Response<Body> {
        let (msg_key, pos) = describe(standing);
        let state = standing.state().as_str();
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
        let status_url = format!("{STATUS_PATH}?room={room}&return_to={}", percent(return_to));
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

/// The message key and position for a standing.
fn describe(s: Standing) -> (&'static str, Option<crate::room::Position>) {
    match s {
        Standing::Waiting(p, false) => ("T_WAITING", Some(p)),
        Standing::Waiting(p, true) => ("T_PAUSED", Some(p)),
        Standing::PreQueue(_) => ("T_WAITING", None),
        Standing::Closed => ("T_CLOSED", None),
        Standing::Unavailable | Standing::NotFound => ("T_UNAVAILABLE", None),
        Standing::Challenge(_) => ("T_CHALLENGE", None),
        Standing::TooMany(_) => ("T_TOO_MANY", None),
        Standing::Shared => ("T_SHARED", None),
    }
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

#[cfg(test)]
mod tests;
