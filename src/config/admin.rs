//! `[admin]`: the bearer token that turns the admin API on.

use serde::Deserialize;

use super::problems::Problems;

/// `[admin]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminFile {
    /// Bearer token for `/admin/*`; `USHER_ADMIN_TOKEN` in the environment wins. Empty and
    /// unset: the admin API is off (metrics and health stay on).
    pub token: String,
}

/// Validates `[admin]`; returns the token (`None`: the API is off).
pub(super) fn validate(p: &mut Problems, a: &AdminFile) -> Option<String> {
    p.token(
        "admin.token",
        "USHER_ADMIN_TOKEN",
        &a.token,
        "is shorter than 16 characters; use a long random token (e.g. `openssl rand -hex 24`)",
    )
}
