//! `[passes]`: how the passes that let admitted visitors in are signed, and which older
//! keys still verify during a rotation.

use std::path::PathBuf;

use serde::Deserialize;

use super::problems::Problems;

/// `[passes]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassesFile {
    /// `iss` of every pass.
    pub issuer: String,
    /// PKCS#8 PEM signing key (`usher keygen`); empty: a key generated at start.
    pub signing_key: String,
    /// Extra public keys that still verify (rotation), as PEM paths; kid = file stem.
    pub verify_keys: Vec<String>,
}

impl Default for PassesFile {
    fn default() -> Self {
        Self {
            issuer: "usher".into(),
            signing_key: String::new(),
            verify_keys: Vec::new(),
        }
    }
}

/// Validated `[passes]`, spread into the waiting-room settings.
pub(super) struct PassesSettings {
    /// Pass issuer.
    pub(super) issuer: String,
    /// Signing key path (None: generate).
    pub(super) signing_key: Option<PathBuf>,
    /// Extra verify keys: (kid, path).
    pub(super) verify_keys: Vec<(String, PathBuf)>,
}

/// Validates `[passes]`.
pub(super) fn validate(p: &mut Problems, passes: &PassesFile) -> PassesSettings {
    if passes.issuer.is_empty() {
        p.push(
            "passes.issuer",
            "is empty; name this deployment, e.g. \"usher\"",
        );
    }
    let signing_key = (!passes.signing_key.is_empty()).then(|| PathBuf::from(&passes.signing_key));
    if let Some(k) = &signing_key {
        if !k.is_file() {
            p.push("passes.signing_key", format!("{k:?} does not exist; create one with `usher keygen`, or leave it empty to generate a key at start"));
        }
    }
    let verify_keys = passes
        .verify_keys
        .iter()
        .enumerate()
        .map(|(i, v)| {
            p.key_file(
                &format!("passes.verify_keys[{i}]"),
                v,
                "the kid is its file name without extension",
            )
        })
        .collect();
    PassesSettings {
        issuer: passes.issuer.clone(),
        signing_key,
        verify_keys,
    }
}
