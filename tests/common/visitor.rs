//! Waiting-room test fixtures: a browser-like visitor with a cookie jar, and a proxy
//! config with one queued room and a pass key on disk.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use usher::pass::{KeyRing, Passes};

use super::Pki;

/// A browser-like visitor: one connection, its own cookie jar.
pub struct Visitor {
    pub conn: SendRequest<super::TBody>,
    pub jar: HashMap<String, String>,
}

/// One answer a visitor got.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Visitor {
    pub async fn new(pki: &Pki, addr: SocketAddr) -> Self {
        Self {
            conn: pki.h1(addr).await,
            jar: HashMap::new(),
        }
    }

    pub async fn send(&mut self, method: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if !self.jar.is_empty() {
            let cookie: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", cookie.join("; "));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        self.conn.ready().await.unwrap();
        let resp = self
            .conn
            .send_request(req.body(super::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        for sc in parts.headers.get_all("set-cookie") {
            let sc = sc.to_str().unwrap();
            let (pair, attrs) = sc.split_once(';').unwrap_or((sc, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_string(), v.to_string());
            }
        }
        let body = String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).into_owned();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, &[]).await
    }

    pub async fn status(&mut self) -> serde_json::Value {
        self.send("GET", "/_usher/status?room=booking", &[])
            .await
            .json()
    }

    /// Polls until called (the pass cookie is then in the jar).
    pub async fn wait_until_called(&mut self, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status().await;
            if s["state"] == "called" {
                return s;
            }
            assert!(Instant::now() < deadline, "not called in time: {s}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A waiting-room config with a pass key on disk, so tests can forge with the real key.
pub struct Setup {
    pub pki: Pki,
    pub key_pem: String,
    pub state_dir: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Self {
        let pki = Pki::new();
        let pair = usher::pass::keys::generate().unwrap();
        usher::pass::keys::write(pki.dir.path(), "pass-1", &pair).unwrap();
        Self {
            pki,
            key_pem: pair.private_pem,
            state_dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn config(&self, upstream: SocketAddr, room: &[&str]) -> String {
        self.config_with(upstream, room, &[])
    }

    /// The config with `extra` `(table, line)` pairs, e.g. `("store", "url = …")`.
    pub fn config_with(
        &self,
        upstream: SocketAddr,
        room: &[&str],
        extra: &[(&str, &str)],
    ) -> String {
        let key = self.pki.dir.path().join("pass-1.key");
        let key = format!("signing_key = {:?}", key.display().to_string());
        let dir = format!("dir = {:?}", self.state_dir.path().display().to_string());
        let mut lines = vec![
            ("passes", key.as_str()),
            ("passes", "issuer = \"usher-test\""),
            ("state", dir.as_str()),
        ];
        lines.extend_from_slice(extra);
        let mut text = super::config(&self.pki, upstream, &lines);
        text.push_str("[[rooms]]\nname = \"booking\"\npaths = [\"/\"]\n");
        for line in room {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str("[[rooms]]\nname = \"other\"\npaths = [\"/other\"]\nmode = \"open\"\n");
        text
    }

    pub async fn start(&self, upstream: SocketAddr, room: &[&str]) -> usher::server::Running {
        let settings = usher::config::Settings::from_toml(&self.config(upstream, room)).unwrap();
        usher::server::start(&settings).await.unwrap()
    }

    /// A pass service holding the proxy's own signing key (for forgeries that only
    /// someone with the key could make — expired, wrong room, future).
    pub fn insider(&self, kid: &str, issuer: &str) -> Passes {
        Passes::new(KeyRing::from_pem(kid, &self.key_pem, &[]).unwrap(), issuer)
    }
}
