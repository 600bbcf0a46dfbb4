//! A real HTTP/1.1 origin on loopback with the behaviours the proxy tests need.
//!
//! Routes: `/headers` (echo request head as text), `/echo` (stream body back), `/sink`
//! (count body bytes), `/big/{mib}` (stream MiB of data), `/slow/{ms}`, `/stall` (a first
//! piece of body, then silence), `/ws` (WebSocket
//! echo). Every request increments `hits`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{full, TBody};

/// A running upstream and its request counter.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub sessions: Arc<Sessions>,
}

/// What the upstream saw of usher passes: every pass in arrival order, and the visitors
/// between `/enter` and `/exit` (the site's view of "inside at once").
#[derive(Default)]
pub struct Sessions {
    pub passes: std::sync::Mutex<Vec<String>>,
    pub inside: std::sync::Mutex<std::collections::HashSet<String>>,
    pub max_inside: AtomicUsize,
}

impl Upstream {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub async fn spawn() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let sessions = Arc::new(Sessions::default());
    let h = hits.clone();
    let sess = sessions.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let h = h.clone();
            let sess = sess.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    h.fetch_add(1, Ordering::SeqCst);
                    let sess = sess.clone();
                    async move {
                        if let Some(p) = req
                            .headers()
                            .get("x-usher-pass")
                            .and_then(|v| v.to_str().ok())
                        {
                            let p = p.to_string();
                            sess.passes.lock().unwrap().push(p.clone());
                            let mut inside = sess.inside.lock().unwrap();
                            match req.uri().path() {
                                "/enter" => {
                                    inside.insert(p);
                                    sess.max_inside.fetch_max(inside.len(), Ordering::SeqCst);
                                }
                                "/exit" => {
                                    inside.remove(&p);
                                }
                                _ => {}
                            }
                        }
                        route(req).await
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Upstream {
        addr,
        hits,
        sessions,
    }
}

async fn route(req: Request<Incoming>) -> Result<Response<TBody>, Infallible> {
    let path = req.uri().path().to_string();
    let resp = if path == "/headers" {
        let mut text = format!("version: {:?}\n", req.version());
        for (k, v) in req.headers() {
            text.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("?")));
        }
        Response::builder()
            .header("connection", "x-up-secret")
            .header("x-up-secret", "1")
            .header("keep-alive", "timeout=5")
            .header("x-usher-complete", "forged-by-upstream-test")
            .body(full(text))
            .unwrap()
    } else if path == "/echo" {
        Response::new(req.into_body().map_err(|e| e.into()).boxed())
    } else if path == "/sink" {
        let mut body = req.into_body();
        let mut n = 0usize;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => n += f.data_ref().map(|d| d.len()).unwrap_or(0),
                Err(_) => break,
            }
        }
        Response::new(full(n.to_string()))
    } else if let Some(mib) = path.strip_prefix("/big/") {
        let mib: usize = mib.parse().unwrap_or(1);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let stream = futures_util::stream::iter(
            (0..mib * 16).map(move |_| Ok::<_, super::BoxError>(Frame::data(chunk.clone()))),
        );
        Response::new(BodyExt::boxed(StreamBody::new(stream)))
    } else if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(1000))).await;
        Response::new(full("slow done"))
    } else if path == "/stall" {
        // Headers and a first piece, then nothing for a long time.
        let stream = futures_util::stream::once(async {
            Ok::<_, super::BoxError>(Frame::data(Bytes::from_static(b"first piece")))
        })
        .chain(futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, super::BoxError>(Frame::data(Bytes::from_static(b"too late")))
        }));
        Response::new(BodyExt::boxed(StreamBody::new(stream)))
    } else if path == "/ws" {
        websocket(req)
    } else {
        Response::new(full("hello from upstream"))
    };
    Ok(resp)
}

fn websocket(mut req: Request<Incoming>) -> Response<TBody> {
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::Role;
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(full("not a websocket request"))
            .unwrap();
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .body(full(""))
        .unwrap()
}
