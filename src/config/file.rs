//! The TOML file as written by an operator: plain strings and numbers, no meaning yet.
//!
//! Every struct denies unknown fields so a typo is an error, not a silent default.

use serde::Deserialize;

/// The whole `usher.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Listening sockets.
    pub listen: ListenFile,
    /// Public listener certificate.
    pub tls: TlsFile,
    /// Where admitted requests go.
    pub upstream: UpstreamFile,
    /// Timeouts and size limits that protect the proxy.
    pub limits: LimitsFile,
    /// Forwarding headers and trust.
    pub forwarding: ForwardingFile,
    /// Runtime sizing.
    pub runtime: RuntimeFile,
    /// Logging.
    pub log: LogFile,
    /// Pass signing.
    pub passes: super::rooms::PassesFile,
    /// Queue state on disk.
    pub state: super::rooms::StateFileSection,
    /// Where rooms live: memory or Redis.
    pub store: super::store::StoreFile,
    /// What skipping the line costs.
    pub abuse: super::abuse::AbuseFile,
    /// Requests no room matches.
    pub routing: super::rooms::RoutingFile,
    /// Requests that skip the waiting room.
    pub bypass: Vec<super::rooms::BypassFile>,
    /// Rooms.
    pub rooms: Vec<super::rooms::RoomFile>,
    /// The admin API.
    pub admin: AdminFile,
    /// An operator's own waiting page.
    pub page: PageFile,
}

/// `[page]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageFile {
    /// Template replacing `static/waiting.html` (same placeholders; see static/README.md).
    pub template: String,
    /// Strings replacing `static/waiting-strings.toml`.
    pub strings: String,
}

/// `[admin]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminFile {
    /// Bearer token for `/admin/*`; `USHER_ADMIN_TOKEN` in the environment wins. Empty and
    /// unset: the admin API is off (metrics and health stay on).
    pub token: String,
}

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

/// `[tls]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFile {
    /// PEM certificate chain; with `key`, or neither for a self-signed certificate.
    pub cert: Option<String>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<String>,
    /// Names put in the self-signed certificate.
    pub self_signed_names: Vec<String>,
    /// Lowest TLS version accepted: "1.2" or "1.3".
    pub min_version: String,
}

impl Default for TlsFile {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            self_signed_names: vec!["localhost".into(), "127.0.0.1".into()],
            min_version: "1.2".into(),
        }
    }
}

/// `[upstream]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamFile {
    /// `host:port` or `http://host:port` of each upstream server (round-robin).
    pub servers: Vec<String>,
    /// `"preserve"`, `"rewrite"` or a literal host name to send as `Host`.
    pub host_header: String,
    /// Time allowed to open a TCP connection to an upstream.
    pub connect_timeout: String,
    /// Time allowed from sending the request to receiving response headers.
    pub response_timeout: String,
    /// Longest pause between two pieces of an upstream response body.
    pub read_timeout: String,
    /// After a failed connect, how long a server is skipped.
    pub fail_timeout: String,
    /// How long an idle pooled upstream connection is kept.
    pub pool_idle_timeout: String,
    /// Idle pooled connections kept per upstream.
    pub pool_max_idle_per_host: usize,
}

impl Default for UpstreamFile {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            host_header: "preserve".into(),
            connect_timeout: "3s".into(),
            response_timeout: "30s".into(),
            read_timeout: "60s".into(),
            fail_timeout: "10s".into(),
            pool_idle_timeout: "90s".into(),
            pool_max_idle_per_host: 256,
        }
    }
}

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsFile {
    /// Time a client has to complete the TLS handshake.
    pub tls_handshake_timeout: String,
    /// Time a client has to send a complete request head (slowloris guard).
    pub header_read_timeout: String,
    /// Largest request head accepted, e.g. "16KiB"; larger gets 431.
    pub max_header_bytes: String,
    /// Most request header fields accepted.
    pub max_headers: usize,
    /// Longest request target (path and query), e.g. "8KiB"; longer gets 414.
    pub max_uri_bytes: String,
    /// Longest pause between two pieces of a request body; past it the request gets 408.
    pub client_body_timeout: String,
    /// Largest request body accepted, e.g. "10MiB"; larger gets 413.
    pub max_body_bytes: String,
    /// Open client connections at once across all listeners.
    pub max_connections: usize,
    /// HTTP/2 streams a client may have open on one connection.
    pub h2_max_concurrent_streams: u32,
    /// Time in-flight requests get to finish on shutdown.
    pub shutdown_grace: String,
    /// Longest a response may wait for a client that stopped reading (slow read).
    pub send_timeout: String,
}

impl Default for LimitsFile {
    fn default() -> Self {
        Self {
            tls_handshake_timeout: "10s".into(),
            header_read_timeout: "10s".into(),
            max_header_bytes: "16KiB".into(),
            max_headers: 100,
            max_uri_bytes: "8KiB".into(),
            client_body_timeout: "30s".into(),
            max_body_bytes: "10MiB".into(),
            max_connections: 20_000,
            h2_max_concurrent_streams: 128,
            shutdown_grace: "30s".into(),
            send_timeout: "30s".into(),
        }
    }
}

/// `[forwarding]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardingFile {
    /// CIDRs whose `X-Forwarded-*` / `Forwarded` headers are believed and extended.
    pub trusted_proxies: Vec<String>,
}

/// `[runtime]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeFile {
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFile {
    /// `"human"` or `"json"`.
    pub format: String,
    /// A `tracing` filter such as `"info"` or `"usher=debug,info"`.
    pub level: String,
}

impl Default for LogFile {
    fn default() -> Self {
        Self {
            format: "human".into(),
            level: "info".into(),
        }
    }
}
