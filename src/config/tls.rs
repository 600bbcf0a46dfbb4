//! `[tls]`: where the public listener's certificate comes from — PEM files, or a
//! self-signed certificate made at start — and the lowest TLS version accepted.

use std::path::PathBuf;

use serde::Deserialize;

use super::problems::Problems;

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

/// Validates `[tls]`.
pub(super) fn validate(p: &mut Problems, t: &TlsFile) -> TlsSettings {
    let min_version = match t.min_version.as_str() {
        "1.2" => TlsVersion::V1_2,
        "1.3" => TlsVersion::V1_3,
        other => {
            p.push(
                "tls.min_version",
                format!("{other:?} is not supported; write \"1.2\" or \"1.3\""),
            );
            TlsVersion::V1_2
        }
    };
    match (&t.cert, &t.key) {
        (Some(cert), Some(key)) => {
            for (field, path) in [("tls.cert", cert), ("tls.key", key)] {
                if !std::path::Path::new(path).is_file() {
                    p.push(field, format!("{path:?} does not exist or is not a file; give the path of a PEM file, or remove tls.cert and tls.key for a self-signed certificate"));
                }
            }
            TlsSettings::Files {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
                min_version,
            }
        }
        (cert, key) => {
            if cert.is_some() {
                p.push(
                    "tls.key",
                    "missing while tls.cert is set; give the private key's PEM file too",
                );
            }
            if key.is_some() {
                p.push(
                    "tls.cert",
                    "missing while tls.key is set; give the certificate chain's PEM file too",
                );
            }
            if t.self_signed_names.is_empty() {
                p.push("tls.self_signed_names", "is empty; give at least one name (e.g. [\"localhost\"]) or set tls.cert and tls.key");
            }
            TlsSettings::SelfSigned {
                names: t.self_signed_names.clone(),
                min_version,
            }
        }
    }
}
