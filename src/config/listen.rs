//! `[listen]`: the sockets usher listens on — the public TLS listener, an optional
//! redirect listener and the admin listener.

use std::net::SocketAddr;

use serde::Deserialize;

use super::problems::Problems;

/// `[listen]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenFile {
    /// TLS listener for visitors.
    pub public: String,
    /// Optional plain-HTTP listener that redirects to HTTPS.
    pub plain: Option<String>,
    /// Port put in HTTPS redirects (defaults to the public listener's port).
    pub https_port: Option<u16>,
    /// Plain-HTTP admin listener (metrics, health).
    pub admin: String,
}

impl Default for ListenFile {
    fn default() -> Self {
        Self {
            public: "0.0.0.0:8443".into(),
            plain: None,
            https_port: None,
            admin: "127.0.0.1:9090".into(),
        }
    }
}

/// Validated `[listen]`.
#[derive(Debug, Clone)]
pub struct ListenSettings {
    /// TLS listener.
    pub public: SocketAddr,
    /// Optional HTTP→HTTPS redirect listener.
    pub plain: Option<SocketAddr>,
    /// Port advertised in redirects; `None` means "the public listener's bound port".
    pub https_port: Option<u16>,
    /// Admin listener.
    pub admin: SocketAddr,
}

/// Validates `[listen]`.
pub(super) fn validate(p: &mut Problems, l: &ListenFile) -> ListenSettings {
    let public = p.addr("listen.public", &l.public);
    let admin = p.addr("listen.admin", &l.admin);
    let plain = l.plain.as_deref().map(|v| p.addr("listen.plain", v));
    if public == admin && public.port() != 0 {
        p.push("listen.admin", format!("{admin} is also listen.public; give the admin listener its own port (default \"127.0.0.1:9090\")"));
    }
    if plain == Some(public) && public.port() != 0 {
        p.push("listen.plain", format!("{public} is also listen.public; the redirect listener needs its own port (usually 80)"));
    }
    if l.https_port == Some(0) {
        p.push("listen.https_port", "0 is not a port visitors can reach; give the public HTTPS port (usually 443) or remove the line");
    }
    ListenSettings {
        public,
        plain,
        https_port: l.https_port,
        admin,
    }
}
