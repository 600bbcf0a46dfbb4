//! `usher demo`: the proxy and the bundled booking site in one process, with embedded
//! defaults — a self-signed certificate, a pass key pair and SQLite under `./data`, demo
//! events, and one room in `auto` mode with a small capacity so the line is easy to see.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Files under the data directory.
    #[error("demo data in {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Key generation.
    #[error(transparent)]
    Keys(#[from] crate::pass::keys::KeyError),
    /// The generated configuration was refused (a bug).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The backend did not start.
    #[error(transparent)]
    Backend(#[from] crate::backend::StartError),
    /// The proxy did not start.
    #[error(transparent)]
    Proxy(#[from] crate::server::StartError),
}

/// A running demo.
pub struct Demo {
    /// The proxy (visitors go here).
    pub proxy: crate::server::Running,
    /// The booking site behind it.
    pub backend: crate::backend::Running,
    /// The proxy's self-signed certificate as a PEM file (new at every start), so clients
    /// can trust it: `curl --cacert`, `usher rush --ca`.
    pub certificate_file: PathBuf,
}

/// The demo room's admission settings (`usher rush` tests raise them to stay fast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    /// Visitors inside at once.
    pub max_active: u32,
    /// Visitors let in per minute at most.
    pub new_per_minute: u32,
    /// How the room lets visitors in.
    pub mode: crate::room::Mode,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            max_active: 3,
            new_per_minute: 30,
            mode: crate::room::Mode::Auto,
        }
    }
}

/// Starts the demo with its data under `dir`, the proxy on `public` and admin on `admin`.
pub async fn start(dir: &Path, public: SocketAddr, admin: SocketAddr) -> Result<Demo, DemoError> {
    start_with(dir, public, admin, DemoOptions::default()).await
}

/// [`start`] with the room's admission settings given.
pub async fn start_with(
    dir: &Path,
    public: SocketAddr,
    admin: SocketAddr,
    options: DemoOptions,
) -> Result<Demo, DemoError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| DemoError::Io { path, source }
    };
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).map_err(io(&keys))?;
    let (private, public_key) = (keys.join("pass-demo.key"), keys.join("pass-demo.pub"));
    if !private.is_file() {
        let pair = crate::pass::keys::generate()?;
        crate::pass::keys::write(&keys, "pass-demo", &pair)?;
    }
    let q = |p: &Path| format!("{:?}", p.display().to_string());

    let backend_toml = format!(
        "listen = \"127.0.0.1:0\"\ndatabase = {}\nseed_demo = true\n[passes]\nissuer = \"usher-demo\"\naudience = \"booking\"\npublic_keys = [{}]\n",
        q(&dir.join("backend.db")),
        q(&public_key)
    );
    let backend_settings = crate::config::backend::BackendSettings::from_toml(&backend_toml)?;
    let backend = crate::backend::start(&backend_settings).await?;

    let proxy_toml = format!(
        r#"
[listen]
public = "{public}"
admin = "{admin}"
[tls]
self_signed_names = ["localhost", "127.0.0.1"]
[upstream]
servers = ["{backend}"]
[passes]
issuer = "usher-demo"
signing_key = {key}
[state]
dir = {state}
[[rooms]]
name = "booking"
paths = ["/"]
mode = "{mode}"
max_active = {max_active}
new_per_minute = {new_per_minute}
session_idle = "2m"
session_max = "15m"
claim_window = "30s"
abandon_after = "30s"
recall_window = "5m"
"#,
        backend = backend.addr,
        key = q(&private),
        state = q(&dir.join("state")),
        mode = options.mode.as_str(),
        max_active = options.max_active,
        new_per_minute = options.new_per_minute,
    );
    let settings = crate::config::Settings::from_toml(&proxy_toml)?;
    let proxy = crate::server::start(&settings).await?;
    let certificate_file = dir.join("demo-cert.pem");
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", proxy.certificate.as_ref()));
    std::fs::write(&certificate_file, pem).map_err(io(&certificate_file))?;
    Ok(Demo {
        proxy,
        backend,
        certificate_file,
    })
}
