//! What can be wrong with a config file, and the collector every section reports into:
//! each problem names its field and the fix, and all of them are reported together so an
//! operator fixes a file in one round.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

/// Collects field errors while values are converted.
///
/// The converters return a placeholder after recording a problem so that validation goes
/// on and finds the rest; [`Problems::finish`] fails on any problem, so a placeholder
/// never runs.
#[derive(Default)]
pub(super) struct Problems(Vec<FieldError>);

impl Problems {
    /// Records that `field` is unusable, with what is wrong and the fix.
    pub(super) fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Every problem recorded, as one error; `Ok` when there is none.
    pub(super) fn finish(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self.0))
        }
    }

    /// A public key file, named by its kid: the file name without extension. `hint`, in
    /// the section's own words, ends the problem's message.
    pub(super) fn key_file(&mut self, field: &str, raw: &str, hint: &str) -> (String, PathBuf) {
        let path = PathBuf::from(raw);
        let kid = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        if !path.is_file() || kid.is_empty() {
            self.push(field, format!("{raw:?} is not a public key file ({hint})"));
        }
        (kid, path)
    }

    /// A bearer token: the environment variable `env` wins over what is `written`; both
    /// empty means none. A token shorter than 16 characters is recorded as `too_short`.
    pub(super) fn token(
        &mut self,
        field: &str,
        env: &str,
        written: &str,
        too_short: &str,
    ) -> Option<String> {
        let token = std::env::var(env)
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| (!written.is_empty()).then(|| written.to_string()));
        if token.as_ref().is_some_and(|t| t.len() < 16) {
            self.push(field, too_short);
        }
        token
    }

    /// A socket address.
    pub(super) fn addr(&mut self, field: &str, value: &str) -> SocketAddr {
        value.parse().unwrap_or_else(|_| {
            self.push(field, format!("{value:?} is not a socket address (write IP:PORT with a port from 0 to 65535, e.g. \"0.0.0.0:8443\" or \"[::]:8443\")"));
            SocketAddr::from(([0, 0, 0, 0], 0))
        })
    }

    /// A positive duration of at most a day, written with a unit.
    pub(super) fn duration(&mut self, field: &str, value: &str) -> Duration {
        let problem = match humantime::parse_duration(value) {
            Ok(d) if d.is_zero() => format!("{value:?} is zero; give a positive duration such as \"5s\""),
            Ok(d) if d > Duration::from_secs(24 * 3600) => {
                format!("{value:?} is longer than a day; give a duration such as \"30s\"")
            }
            Ok(d) => return d,
            Err(_) => format!("{value:?} is not a duration (write a number with a unit: \"250ms\", \"10s\", \"5m\")"),
        };
        self.push(field, problem);
        Duration::from_secs(1)
    }

    /// A byte size of at least `min`, written with a unit.
    pub(super) fn size(&mut self, field: &str, value: &str, min: u64) -> u64 {
        let problem = match value.parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() < min => format!("{value:?} is below the minimum of {min} bytes"),
            Ok(b) => return b.as_u64(),
            Err(_) => format!(
                "{value:?} is not a size (write a number with a unit: \"16KiB\", \"10MiB\")"
            ),
        };
        self.push(field, problem);
        min
    }
}
