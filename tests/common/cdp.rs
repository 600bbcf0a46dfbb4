//! Just enough of the Chrome DevTools Protocol to drive headless Chromium in a test:
//! open a page, evaluate JavaScript, take a screenshot; click and type with real input
//! events; collect the page's JavaScript errors.

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
    /// Page errors seen so far (uncaught exceptions, error-level log entries), once
    /// `watch_errors` has switched them on.
    errors: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium (Debian's `chromium`, installed by `scripts/test.sh`) with a blank page.
    pub async fn start() -> Self {
        super::require("chromium");
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
            .expect("chromium did not start");
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
            errors: Vec::new(),
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
        match self.try_call(page, method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    /// One DevTools command; its result, or the error DevTools answered with.
    async fn try_call(
        &mut self,
        page: Option<()>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
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
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
            self.note(&v);
        }
    }

    /// Records a page error carried by a DevTools event.
    fn note(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                let what = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or("?");
                self.errors.push(format!(
                    "uncaught: {what} ({})",
                    d["url"].as_str().unwrap_or("")
                ));
            }
            // Failed loads ("network") are the site's answers, not page errors; CSP
            // violations ("security") and script errors are.
            Some("Log.entryAdded")
                if p["entry"]["level"] == "error" && p["entry"]["source"] != "network" =>
            {
                self.errors.push(format!(
                    "{}: {} ({})",
                    p["entry"]["source"].as_str().unwrap_or("?"),
                    p["entry"]["text"].as_str().unwrap_or(""),
                    p["entry"]["url"].as_str().unwrap_or("")
                ));
            }
            _ => {}
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

    /// Waits until `expr` evaluates to true. An evaluation that fails because the page is
    /// between documents (a navigation the page made itself) counts as "not yet".
    pub async fn wait_for(&mut self, expr: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let r = self
                .try_call(
                    Some(()),
                    "Runtime.evaluate",
                    json!({"expression": expr, "returnByValue": true}),
                )
                .await;
            if r.is_ok_and(|r| r["result"]["value"] == Value::Bool(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {expr}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes the browser speak `lang` (e.g. `en-US`): `navigator.language`, the
    /// `Accept-Language` it sends, and `Intl`'s default locale.
    pub async fn set_language(&mut self, lang: &str) {
        let ua = self.eval("navigator.userAgent").await;
        self.call(
            Some(()),
            "Emulation.setUserAgentOverride",
            json!({"userAgent": ua, "acceptLanguage": lang}),
        )
        .await;
        self.call(
            Some(()),
            "Emulation.setLocaleOverride",
            json!({"locale": lang}),
        )
        .await;
    }

    /// From now on, records the page's uncaught exceptions and error-level log entries
    /// (CSP violations among them); `errors` returns them.
    pub async fn watch_errors(&mut self) {
        self.call(Some(()), "Runtime.enable", json!({})).await;
        self.call(Some(()), "Log.enable", json!({})).await;
    }

    /// The page errors recorded so far (see `watch_errors`).
    pub async fn errors(&mut self) -> Vec<String> {
        // A round trip first, so events already sent are read.
        self.eval("0").await;
        self.errors.clone()
    }

    /// Clicks the first element matching `selector` the way a visitor would: scrolls it
    /// into view, checks that it is what is under the pointer there (not covered by
    /// anything), then presses and releases the left mouse button at its centre.
    pub async fn click(&mut self, selector: &str) {
        let probe = format!(
            r#"(() => {{
  const e = document.querySelector({selector:?});
  if (!e) return {{ err: 'no element' }};
  e.scrollIntoView({{ block: 'center', inline: 'center' }});
  const r = e.getBoundingClientRect();
  if (!r.width || !r.height) return {{ err: 'not displayed' }};
  const x = r.left + r.width / 2, y = r.top + r.height / 2, at = document.elementFromPoint(x, y);
  if (!at || !(at === e || e.contains(at))) return {{ err: 'covered by ' + (at ? at.outerHTML.slice(0, 120) : 'nothing') }};
  if (e.disabled) return {{ err: 'disabled' }};
  return {{ x, y }};
}})()"#
        );
        let at = self.eval(&probe).await;
        assert!(
            at["err"].is_null(),
            "cannot click {selector}: {}",
            at["err"]
        );
        let (x, y) = (at["x"].as_f64().unwrap(), at["y"].as_f64().unwrap());
        for (kind, button, buttons) in [
            ("mouseMoved", "none", 0),
            ("mousePressed", "left", 1),
            ("mouseReleased", "left", 0),
        ] {
            self.call(
                Some(()),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": button, "buttons": buttons, "clickCount": 1}),
            )
            .await;
        }
    }

    /// Types `text` into the focused element, one key press per character.
    pub async fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let c = c.to_string();
            self.call(
                Some(()),
                "Input.dispatchKeyEvent",
                json!({"type": "keyDown", "key": c, "text": c, "unmodifiedText": c}),
            )
            .await;
            self.call(
                Some(()),
                "Input.dispatchKeyEvent",
                json!({"type": "keyUp", "key": c}),
            )
            .await;
        }
    }

    /// Presses Enter in the focused element (submits its form).
    pub async fn press_enter(&mut self) {
        let key = json!({"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13});
        let mut down = key.clone();
        down["type"] = json!("keyDown");
        down["text"] = json!("\r");
        down["unmodifiedText"] = json!("\r");
        self.call(Some(()), "Input.dispatchKeyEvent", down).await;
        let mut up = key;
        up["type"] = json!("keyUp");
        self.call(Some(()), "Input.dispatchKeyEvent", up).await;
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
