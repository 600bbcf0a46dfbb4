//! The rehearsal's HTTPS client: hyper-util's pooled client over a small rustls connector
//! (HTTP/2 or HTTP/1.1 by ALPN), the trust it is told to use, and one request helper that
//! returns status, JSON body and the cookies usher set.

use crate::protocol::{ErrorBody, StatusAnswer};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;

use super::RushError;

/// How long one TCP connect plus TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, body included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Where a system CA bundle usually is (after `SSL_CERT_FILE`).
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Which server certificates the rehearsal accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's CA bundle (`SSL_CERT_FILE`, else the usual paths).
    System,
    /// Certificates from this PEM file (e.g. a self-signed one).
    Ca(PathBuf),
    /// Any certificate at all (`--insecure`, for the demo's self-signed certificate).
    Insecure,
}

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The TCP connection failed.
    #[error("connect: {0}")]
    Tcp(std::io::Error),
    /// The TLS handshake failed (often: an untrusted certificate).
    #[error("tls: {0}")]
    Tls(std::io::Error),
    /// Connect plus handshake took too long.
    #[error("connect timed out")]
    Timeout,
    /// The target has no usable host name.
    #[error("bad host name in the target")]
    Name,
}

/// A failed request, by kind (the summary counts errors by these names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetError {
    /// `connect`, `tls`, `timeout` or `http`.
    pub kind: &'static str,
    /// The cause, for a first-request failure message.
    pub detail: String,
}

/// An HTTP answer.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// Status code.
    pub status: u16,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: serde_json::Value,
    /// The body as the waiting room's answer, when it is one.
    pub answer: Option<StatusAnswer<'static>>,
    /// The body as an error, when it is one.
    pub error: Option<ErrorBody<'static>>,
    /// `Set-Cookie` name and value pairs (an empty value clears the cookie).
    pub cookies: Vec<(String, String)>,
}

/// The rustls client configuration for `trust`, offering `h2` and `http/1.1`.
pub(crate) fn tls_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, RushError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RushError::Tls(e.to_string()))?;
    let mut cfg = match trust {
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth(),
        Trust::Ca(path) => builder
            .with_root_certificates(roots(path)?)
            .with_no_client_auth(),
        Trust::System => {
            let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
            let bundle = env
                .into_iter()
                .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    RushError::Tls(
                        "no system CA bundle found: pass --ca FILE, or --insecure for a self-signed test target".into(),
                    )
                })?;
            builder
                .with_root_certificates(roots(&bundle)?)
                .with_no_client_auth()
        }
    };
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The certificates in a PEM file as trust roots.
fn roots(path: &Path) -> Result<rustls::RootCertStore, RushError> {
    let bad = |reason: String| RushError::Ca {
        path: path.display().to_string(),
        reason,
    };
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        store
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(store)
}

/// `--insecure`: any certificate is accepted; handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// TCP + TLS for hyper-util's pooled client; tells it when ALPN chose HTTP/2.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: tokio_rustls::TlsConnector,
}

/// A TLS connection handed to hyper.
pub(crate) struct TlsConn {
    io: TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
    h2: bool,
}

impl Connection for TlsConn {
    fn connected(&self) -> Connected {
        let c = Connected::new();
        if self.h2 {
            c.negotiated_h2()
        } else {
            c
        }
    }
}

impl hyper::rt::Read for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<TlsConn, ConnectError>> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = TlsConn;
    type Error = ConnectError;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or(ConnectError::Name)?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let name = ServerName::try_from(host.clone()).map_err(|_| ConnectError::Name)?;
            let connect = async {
                let tcp = TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(ConnectError::Tcp)?;
                let _ = tcp.set_nodelay(true);
                tls.connect(name, tcp).await.map_err(ConnectError::Tls)
            };
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| ConnectError::Timeout)??;
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            Ok(TlsConn {
                io: TokioIo::new(stream),
                h2,
            })
        })
    }
}

/// A pooled HTTPS client (one pool: with HTTP/2, one multiplexed connection).
pub(crate) type Pool = Client<Connector, Full<Bytes>>;

/// Builds pools for one target and sends requests through them.
pub(crate) struct Http {
    base: String,
    connector: Connector,
}

impl Http {
    /// A client factory for `target` (`https://HOST[:PORT]`) trusting `trust`.
    pub fn new(target: &str, trust: &Trust) -> Result<Self, RushError> {
        let invalid = |reason: &str| RushError::Invalid {
            field: "target",
            reason: format!("{target:?}: {reason}"),
        };
        let uri: Uri = target
            .parse()
            .map_err(|_| invalid("not a URL (write https://HOST:PORT)"))?;
        if uri.scheme_str() != Some("https") {
            return Err(invalid("usher serves HTTPS: write https://HOST:PORT"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| invalid("no host (write https://HOST:PORT)"))?;
        Ok(Self {
            base: format!("https://{authority}"),
            connector: Connector {
                tls: tokio_rustls::TlsConnector::from(tls_config(trust)?),
            },
        })
    }

    /// A new pool: its own connections, closed when the last clone is dropped.
    pub fn pool(&self) -> Pool {
        Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(self.connector.clone())
    }

    /// Sends `method path` with `headers` and an optional JSON `body` through `pool`.
    pub async fn send(
        &self,
        pool: &Pool,
        method: Method,
        path: &str,
        headers: &[(&'static str, &str)],
        body: Option<String>,
    ) -> Result<Reply, NetError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("usher-rush/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| NetError {
                kind: "http",
                detail: e.to_string(),
            })?;
        let exchange = async {
            let resp = pool.request(req).await.map_err(classify)?;
            let status = resp.status().as_u16();
            let cookies = resp
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| v.split(';').next()?.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            let body = resp.into_body().collect().await.map_err(|e| NetError {
                kind: "http",
                detail: e.to_string(),
            })?;
            let bytes = body.to_bytes();
            Ok(Reply {
                status,
                json: serde_json::from_slice(&bytes).unwrap_or_default(),
                answer: serde_json::from_slice(&bytes).ok(),
                error: serde_json::from_slice(&bytes).ok(),
                cookies,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| NetError {
                kind: "timeout",
                detail: format!("no answer within {REQUEST_TIMEOUT:?}"),
            })?
    }
}

/// Names a client error by what failed: connecting, the handshake, or HTTP itself.
fn classify(e: hyper_util::client::legacy::Error) -> NetError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<ConnectError>() {
            let kind = match c {
                ConnectError::Tls(_) => "tls",
                ConnectError::Timeout => "timeout",
                ConnectError::Tcp(_) | ConnectError::Name => "connect",
            };
            return NetError {
                kind,
                detail: c.to_string(),
            };
        }
        source = s.source();
    }
    NetError {
        kind: if e.is_connect() { "connect" } else { "http" },
        detail: e.to_string(),
    }
}
