//! A browser-like visitor of the waiting room: one connection, its own cookie jar.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::TlsClient;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;

/// A browser-like visitor: one connection (opened again, as a browser does, when the
/// server closed it while idle), its own cookie jar.
pub struct Visitor {
    pub conn: SendRequest<super::TBody>,
    pub jar: HashMap<String, String>,
    client: TlsClient,
    addr: SocketAddr,
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
            client: client.clone(),
            addr,
        }
    }

    /// The connection, ready for a request: a keep-alive connection the server closed
    /// while it sat idle (`limits.header_read_timeout`) is replaced by a new one.
    async fn ready(&mut self) {
        if self.conn.is_closed() || self.conn.ready().await.is_err() {
            self.conn = self.client.h1(self.addr).await;
        }
    }

    pub async fn send(&mut self, method: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
        let cookie: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let build = || {
            let mut req = http::Request::builder()
                .method(method)
                .uri(path)
                .header("host", "localhost");
            if !cookie.is_empty() {
                req = req.header("cookie", cookie.join("; "));
            }
            for (k, v) in extra {
                req = req.header(*k, *v);
            }
            req.body(super::empty()).unwrap()
        };
        self.ready().await;
        let resp = match self.conn.send_request(build()).await {
            Ok(resp) => resp,
            // The server closed the idle connection just as the request went out: it was
            // never read, so a browser sends it again on a new connection.
            Err(e) if e.is_canceled() || e.is_closed() => {
                self.conn = self.client.h1(self.addr).await;
                self.conn.send_request(build()).await.unwrap()
            }
            Err(e) => panic!("{method} {path}: {e}"),
        };
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
