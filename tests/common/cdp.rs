//! Just enough of the Chrome DevTools Protocol to drive headless Chromium in a test:
//! open a page, evaluate JavaScript, take a screenshot.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium and one page in it.
pub struct Browser {
    child: Child,
    ws: Ws,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium (Debian's `chromium`, installed by `.ci/run`) with a blank page.
    pub async fn start() -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--ignore-certificate-errors",
                "--window-size=390,844",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("chromium must be installed (apt-get install chromium); .ci/run does it");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines.next().expect("chromium exited").unwrap();
            if let Some(i) = line.find("ws://") {
                break line[i..].trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut b = Self {
            child,
            ws,
            next_id: 1,
            session: String::new(),
            _profile: profile,
        };
        let target = b
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = b
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await;
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.call(Some(()), "Page.enable", json!({})).await;
        b
    }

    async fn call(&mut self, page: Option<()>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if page.is_some() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("devtools did not answer")
                .unwrap()
                .unwrap();
            let Ok(text) = m.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Navigates the page.
    pub async fn goto(&mut self, url: &str) {
        self.call(Some(()), "Page.navigate", json!({"url": url}))
            .await;
    }

    /// Evaluates `expr` in the page and returns its JSON value.
    pub async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                Some(()),
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Waits until `expr` evaluates to true.
    pub async fn wait_for(&mut self, expr: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.eval(expr).await == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {expr}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG screenshot of the page.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let r = self
            .call(Some(()), "Page.captureScreenshot", json!({"format": "png"}))
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap()
    }
}
