//! Shared test fixtures: a throwaway PKI, TLS clients speaking HTTP/1.1 or HTTP/2, a real
//! upstream on loopback, and the real proxy started through one [`harness::Harness`].
#![allow(dead_code)]

pub mod cdp;
pub mod h2raw;
pub mod harness;
pub mod process;
pub mod redis;
pub mod upstream;
pub mod visitor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

pub fn full(b: impl Into<Bytes>) -> TBody {
    Full::new(b.into()).map_err(|n| match n {}).boxed()
}

pub fn empty() -> TBody {
    Empty::new().map_err(|n| match n {}).boxed()
}

/// A CA and a `localhost` / `127.0.0.1` leaf certificate written to a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// TLS clients trusting only this CA.
    pub client: TlsClient,
}

impl Pki {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, leaf.pem()).unwrap();
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
        Self {
            dir,
            cert,
            key,
            client: TlsClient::trusting(ca_cert.der().clone()),
        }
    }
}

/// Makes TLS clients that trust one root certificate (a test CA, or the self-signed
/// certificate a proxy serves) and ask for the server `localhost`.
#[derive(Clone)]
pub struct TlsClient {
    root: CertificateDer<'static>,
}

impl TlsClient {
    /// Clients trusting `root` and nothing else.
    pub fn trusting(root: CertificateDer<'static>) -> Self {
        Self { root }
    }

    /// The rustls client config, offering `alpn`.
    pub fn config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.root.clone()).unwrap();
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }

    /// A connector with [`TlsClient::config`].
    pub fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        TlsConnector::from(self.config(alpn))
    }

    /// A TLS connection to `addr` (SNI `localhost`), offering `alpn`.
    pub async fn connect(&self, addr: SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        self.connector(alpn)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    }

    /// An HTTP/1.1 connection over TLS.
    pub async fn h1(&self, addr: SocketAddr) -> http1::SendRequest<TBody> {
        let tls = self.connect(addr, &[b"http/1.1"]).await;
        let (send, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn.with_upgrades());
        let mut send = send;
        send.ready().await.unwrap();
        send
    }

    /// An HTTP/2 connection over TLS.
    pub async fn h2(&self, addr: SocketAddr) -> http2::SendRequest<TBody> {
        let tls = self.connect(addr, &[b"h2"]).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut send = send;
        send.ready().await.unwrap();
        send
    }
}

/// Fails the test at once, saying how to install it, when `program` (`redis-server`,
/// `chromium`) is not on PATH: one clear message instead of a panic deep inside a
/// start-up.
#[track_caller]
pub fn require(program: &str) {
    use std::os::unix::fs::PermissionsExt;
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    assert!(
        on_path,
        "this test needs `{program}`, which is not installed (not on PATH). Install it with \
         `apt-get update && apt-get install -y {program}` (Debian's package of that name), \
         or run the tests with `bash scripts/test.sh`, which installs it"
    );
}

/// GET over HTTP/1.1 with a Host header; returns status, headers and the whole body.
pub async fn get(
    send: &mut http1::SendRequest<TBody>,
    path: &str,
    headers: &[(&str, &str)],
) -> (http::StatusCode, http::HeaderMap, String) {
    let mut req = http::Request::get(path).header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send.ready().await.unwrap();
    let resp = send.send_request(req.body(empty()).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// A plain HTTP/1.1 GET to the admin listener.
pub async fn admin_get(addr: SocketAddr, path: &str) -> (http::StatusCode, String) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = http1::handshake::<_, TBody>(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", "admin")
        .body(empty())
        .unwrap();
    send.ready().await.unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The value of one sample in Prometheus text, matched by name and exact label set.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("metrics parse as Prometheus text");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// One plain-HTTP request on a fresh connection; the status and the body as JSON (`Null`
/// when it is not JSON).
pub async fn plain_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (status, json, _) = json_over(tcp, method, path, headers, body).await;
    (status, json)
}

/// One HTTP/1.1 request over TLS (SNI `localhost`) on a fresh connection, asking for JSON:
/// the status, the body as JSON (`Null` when it is not JSON) and each Set-Cookie's
/// `name=value` part.
pub async fn tls_json(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value, Vec<String>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(cfg)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let headers = [&[("accept", "application/json")], headers].concat();
    json_over(tls, method, path, &headers, body).await
}

/// One HTTP/1.1 request on `io`: status, body as JSON, Set-Cookie `name=value` parts.
async fn json_over<IO>(
    io: IO,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value, Vec<String>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = http1::handshake::<_, TBody>(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send.ready().await.unwrap();
    let resp = send
        .send_request(req.body(full(body.to_string())).unwrap())
        .await
        .unwrap();
    let set = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        set,
    )
}
