//! Protocol upgrades (WebSocket): both sides are claimed, then bytes are copied both ways.

use http::{header, HeaderMap, HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// A client that asked to switch protocols, waiting for the upstream's answer.
pub struct Pending {
    protocol: HeaderValue,
    client: OnUpgrade,
}

impl Pending {
    /// Claims the client side when the request asks for an upgrade over HTTP/1.1.
    pub fn take(req: &mut Request<Incoming>) -> Option<Self> {
        if req.version() != http::Version::HTTP_11 {
            return None;
        }
        let protocol = super::headers::upgrade_protocol(req.headers())?;
        Some(Self {
            protocol,
            client: hyper::upgrade::on(req),
        })
    }

    /// Re-adds the upgrade fields that hop-by-hop cleaning removed.
    pub fn restore_request_headers(&self, headers: &mut HeaderMap) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, self.protocol.clone());
    }

    /// On a `101` from upstream: spawns the byte tunnel and returns the agreed protocol.
    pub fn tunnel(self, resp: &mut Response<Incoming>) -> HeaderValue {
        let protocol = resp
            .headers()
            .get(header::UPGRADE)
            .cloned()
            .unwrap_or(self.protocol);
        let upstream = hyper::upgrade::on(resp);
        let client = self.client;
        tokio::spawn(async move {
            match tokio::try_join!(client, upstream) {
                Ok((c, u)) => {
                    let (mut c, mut u) = (TokioIo::new(c), TokioIo::new(u));
                    if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut u).await {
                        tracing::debug!(error = %e, "upgraded connection ended");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "upgrade did not complete"),
            }
        });
        protocol
    }
}
