//! `[routing]`: what happens to a request no room matches.

use serde::Deserialize;

use super::problems::Problems;

/// `[routing]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingFile {
    /// What happens to a request no room matches: `"forward"` or `"deny"`.
    pub default_action: String,
}

impl Default for RoutingFile {
    fn default() -> Self {
        Self {
            default_action: "forward".into(),
        }
    }
}

/// What to do with a request no room matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    /// Forward it.
    Forward,
    /// Refuse it (404).
    Deny,
}

/// Validates `[routing]`.
pub(super) fn validate(p: &mut Problems, routing: &RoutingFile) -> DefaultAction {
    match routing.default_action.as_str() {
        "forward" => DefaultAction::Forward,
        "deny" => DefaultAction::Deny,
        other => {
            p.push(
                "routing.default_action",
                format!("{other:?} is not an action; write \"forward\" or \"deny\""),
            );
            DefaultAction::Deny
        }
    }
}
