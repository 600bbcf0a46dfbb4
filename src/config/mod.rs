//! Configuration: parse the operator's TOML, validate every field, and hand each module
//! its own immutable part.
//!
//! Validation collects *all* problems at once and names each field with the fix, so an
//! operator fixes a file in one round instead of one error per restart.

pub mod abuse;
pub mod backend;
mod file;
pub mod rooms;
pub mod store;
#[cfg(test)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

pub use file::FileConfig;

/// Everything that can be wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path we tried.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML for our schema (syntax, type, or unknown field).
    #[error("config is not valid: {0}")]
    Parse(String),
    /// The file parsed but some values are unusable.
    #[error("config has {} problem(s):\n{}", .0.len(), render_problems(.0))]
    Invalid(Vec<FieldError>),
}

fn render_problems(problems: &[FieldError]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One unusable value: which field, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `listen.public`.
    pub field: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listening sockets.
    pub listen: ListenSettings,
    /// Certificate source for the public listener.
    pub tls: TlsSettings,
    /// Upstream servers and client behaviour.
    pub upstream: UpstreamSettings,
    /// Protective limits.
    pub limits: Limits,
    /// Forwarding-header trust.
    pub forwarding: ForwardingSettings,
    /// Worker threads (0 = one per core).
    pub workers: usize,
    /// Logging choices.
    pub log: LogSettings,
    /// Rooms, bypass rules, passes and queue state.
    pub waiting_room: rooms::WaitingRoomSettings,
    /// Bearer token for the admin API (`None`: the API is off).
    pub admin_token: Option<String>,
    /// The operator's waiting page: (template, strings) paths, or the built-in one.
    pub page: Option<(PathBuf, PathBuf)>,
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

/// Where the public certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSettings {
    /// PEM files on disk.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
        /// Lowest version.
        min_version: TlsVersion,
    },
    /// Generate a self-signed certificate at start.
    SelfSigned {
        /// Subject alternative names.
        names: Vec<String>,
        /// Lowest version.
        min_version: TlsVersion,
    },
}

/// Lowest TLS protocol version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

/// Validated `[upstream]`.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// `host:port` authorities, tried round-robin.
    pub servers: Vec<http::uri::Authority>,
    /// What to send as `Host`.
    pub host: HostHeader,
    /// TCP connect budget.
    pub connect_timeout: Duration,
    /// Budget until response headers arrive.
    pub response_timeout: Duration,
    /// Longest pause between two pieces of a response body.
    pub read_timeout: Duration,
    /// How long a server that refused a connection is skipped.
    pub fail_timeout: Duration,
    /// Idle pooled connection lifetime.
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections per upstream.
    pub pool_max_idle_per_host: usize,
}

/// How the `Host` header reaches the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostHeader {
    /// The client's host, unchanged.
    Preserve,
    /// The upstream server's own `host:port`.
    Rewrite,
    /// A fixed value.
    Fixed(http::HeaderValue),
}

/// Validated `[limits]`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// TLS handshake budget.
    pub tls_handshake_timeout: Duration,
    /// Request-head budget.
    pub header_read_timeout: Duration,
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
    /// Longest request target in bytes.
    pub max_uri_bytes: usize,
    /// Longest pause between two pieces of a request body.
    pub client_body_timeout: Duration,
    /// Largest request body in bytes.
    pub max_body_bytes: u64,
    /// Open connections at once.
    pub max_connections: usize,
    /// HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Drain budget on shutdown.
    pub shutdown_grace: Duration,
    /// Stalled-write budget per client connection.
    pub send_timeout: Duration,
}

/// Validated `[forwarding]`.
#[derive(Debug, Clone, Default)]
pub struct ForwardingSettings {
    /// Peers whose forwarding headers are extended rather than replaced.
    pub trusted_proxies: Vec<IpNet>,
}

/// Validated `[log]`.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// `tracing` filter directive.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people at a terminal.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

impl Settings {
    /// Parse and validate TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        validate::validate(file)
    }

    /// Read, parse and validate a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text)
    }
}
