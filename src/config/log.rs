//! `[log]`: the log line format and which events are logged.

use serde::Deserialize;

use super::problems::Problems;

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

/// Validates `[log]`.
pub(super) fn validate(p: &mut Problems, l: &LogFile) -> LogSettings {
    let format = match l.format.as_str() {
        "human" => LogFormat::Human,
        "json" => LogFormat::Json,
        other => {
            p.push(
                "log.format",
                format!("{other:?} is not a log format; write \"human\" or \"json\""),
            );
            LogFormat::Human
        }
    };
    if tracing_subscriber::EnvFilter::try_new(&l.level).is_err() {
        p.push(
            "log.level",
            format!(
                "{:?} is not a log filter; write e.g. \"info\" or \"usher=debug,info\"",
                l.level
            ),
        );
    }
    LogSettings {
        format,
        level: l.level.clone(),
    }
}
