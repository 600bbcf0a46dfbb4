//! `config/backend.toml`: the bundled booking backend's settings, validated like the
//! proxy's (every problem reported with its field and the fix).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::problems::{ConfigError, Problems};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct BackendFile {
    /// Plain-HTTP listener (the proxy talks to it on a private network).
    listen: String,
    /// SQLite database file.
    database: String,
    /// Pass checking.
    passes: PassesSection,
    /// Admin token for `/api/admin/*` (`USHER_BACKEND_ADMIN_TOKEN` wins).
    admin_token: String,
    /// Create the demo events when the database has none.
    seed_demo: bool,
    /// Where booking events are delivered (at least once); empty: kept in the outbox.
    webhook: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PassesSection {
    issuer: String,
    audience: String,
    public_keys: Vec<String>,
}

impl Default for PassesSection {
    fn default() -> Self {
        Self {
            issuer: "usher".into(),
            audience: "booking".into(),
            public_keys: Vec::new(),
        }
    }
}

impl Default for BackendFile {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8000".into(),
            database: "data/backend.db".into(),
            passes: PassesSection::default(),
            admin_token: String::new(),
            seed_demo: false,
            webhook: String::new(),
        }
    }
}

/// Validated backend settings.
#[derive(Debug, Clone)]
pub struct BackendSettings {
    /// Listener.
    pub listen: SocketAddr,
    /// Database file.
    pub database: PathBuf,
    /// Pass issuer to accept.
    pub issuer: String,
    /// Pass audience (the proxy room guarding this site).
    pub audience: String,
    /// Public keys: (kid = file stem, PEM path).
    pub public_keys: Vec<(String, PathBuf)>,
    /// Admin token (`None`: admin API off).
    pub admin_token: Option<String>,
    /// Seed demo events into an empty database.
    pub seed_demo: bool,
    /// Outbox webhook (`http://…`).
    pub webhook: Option<http::Uri>,
}

impl BackendSettings {
    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let f: BackendFile = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let mut p = Problems::default();
        let listen = f.listen.parse().unwrap_or_else(|_| {
            p.push(
                "listen",
                format!(
                    "{:?} is not a socket address (write IP:PORT, e.g. \"127.0.0.1:8000\")",
                    f.listen
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        if f.database.is_empty() {
            p.push(
                "database",
                "is empty; give a file path such as \"data/backend.db\"",
            );
        }
        if f.passes.audience.is_empty() {
            p.push(
                "passes.audience",
                "is empty; give the name of the proxy room that guards this site",
            );
        }
        if f.passes.public_keys.is_empty() {
            p.push(
                "passes.public_keys",
                "is empty; list the proxy's pass public key files (usher keygen writes NAME.pub)",
            );
        }
        let public_keys = f
            .passes
            .public_keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                p.key_file(
                    &format!("passes.public_keys[{i}]"),
                    k,
                    "its name without extension is the kid",
                )
            })
            .collect();
        let admin_token = p.token(
            "admin_token",
            "USHER_BACKEND_ADMIN_TOKEN",
            &f.admin_token,
            "is shorter than 16 characters; use a long random token",
        );
        let webhook = match f.webhook.as_str() {
            "" => None,
            w => {
                match w.parse::<http::Uri>() {
                    Ok(u) if u.scheme_str() == Some("http") && u.authority().is_some() => Some(u),
                    _ => {
                        p.push("webhook", format!("{w:?} is not an http:// URL (e.g. \"http://127.0.0.1:9000/bookings\")"));
                        None
                    }
                }
            }
        };
        p.finish()?;
        Ok(Self {
            listen,
            database: PathBuf::from(f.database),
            issuer: f.passes.issuer,
            audience: f.passes.audience,
            public_keys,
            admin_token,
            seed_demo: f.seed_demo,
            webhook,
        })
    }

    /// Reads and validates a file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text)
    }
}
