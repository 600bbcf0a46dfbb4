//! `[page]`: an operator's own waiting page in place of the built-in one.

use std::path::PathBuf;

use serde::Deserialize;

use super::problems::Problems;

/// `[page]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageFile {
    /// Template replacing `static/waiting.html` (same placeholders; see static/README.md).
    pub template: String,
    /// Strings replacing `static/waiting-strings.toml`.
    pub strings: String,
}

/// Validates `[page]`; returns the (template, strings) paths, or `None` for the built-in
/// page.
pub(super) fn validate(p: &mut Problems, page: &PageFile) -> Option<(PathBuf, PathBuf)> {
    match (page.template.as_str(), page.strings.as_str()) {
        ("", "") => None,
        (t, s) if !t.is_empty() && !s.is_empty() => {
            for (field, path) in [("page.template", t), ("page.strings", s)] {
                if !std::path::Path::new(path).is_file() {
                    p.push(field, format!("{path:?} does not exist; copy static/waiting.html and static/waiting-strings.toml as a start"));
                }
            }
            Some((PathBuf::from(t), PathBuf::from(s)))
        }
        _ => {
            p.push(
                "page",
                "set both template and strings, or neither for the built-in page",
            );
            None
        }
    }
}
