//! `[runtime]`: how many worker threads serve requests.

use serde::Deserialize;

use super::problems::Problems;

/// `[runtime]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeFile {
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
}

/// Validates `[runtime]`; returns the worker threads (0 = one per core).
pub(super) fn validate(p: &mut Problems, r: &RuntimeFile) -> usize {
    if r.workers > 1024 {
        p.push(
            "runtime.workers",
            format!(
                "{} threads is too many; use 0 (one per core) or a small number",
                r.workers
            ),
        );
    }
    r.workers
}
