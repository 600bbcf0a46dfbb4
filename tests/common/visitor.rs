//! A browser-like visitor of the waiting room: one connection, its own cookie jar.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::TlsClient;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;

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
    pub async fn new(client: &TlsClient, addr: SocketAddr) -> Self {
        Self {
            conn: client.h1(addr).await,
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
