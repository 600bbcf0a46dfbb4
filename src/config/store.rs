//! `[store]`: where the rooms live — this process's memory (one node, the default) or a
//! Redis shared by several nodes (docs/DESIGN.md §8).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::problems::Problems;

/// How to reach Redis and share rooms there.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prefix of every key (`<prefix>:{<room>}:<part>`).
    pub prefix: String,
    /// How long a node keeps the admission lease without renewing it.
    pub lease: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for one command's answer.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "usher".into(),
            lease: Duration::from_millis(1000),
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(500),
        }
    }
}

/// `[store]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreFile {
    /// `"memory"`, or `"redis://HOST:PORT/DB"` for several nodes sharing one line.
    pub url: String,
    /// Prefix of every Redis key.
    pub key_prefix: String,
    /// How long a node holds the admission lease without renewing it.
    pub lease: String,
    /// Limit for connecting to Redis.
    pub connect_timeout: String,
    /// Limit for one Redis answer.
    pub response_timeout: String,
}

impl Default for StoreFile {
    fn default() -> Self {
        let d = RedisOptions::default();
        let ms = |t: Duration| format!("{}ms", t.as_millis());
        Self {
            url: "memory".into(),
            key_prefix: d.prefix,
            lease: ms(d.lease),
            connect_timeout: ms(d.connect_timeout),
            response_timeout: ms(d.response_timeout),
        }
    }
}

/// The validated store choice.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// Rooms in memory, saved to `state.dir/state.json`.
    Memory,
    /// Rooms in Redis.
    Redis {
        /// The Redis URL.
        url: String,
        /// Keys, lease and timeouts.
        options: RedisOptions,
    },
}

/// Validates `[store]`. Several nodes must verify each other's passes and tickets, so a
/// Redis store needs a configured signing key and a shared ticket secret.
pub(super) fn validate(
    p: &mut Problems,
    store: &StoreFile,
    signing_key: &Option<PathBuf>,
    ticket_secret: &Option<PathBuf>,
) -> StoreSettings {
    if store.url == "memory" {
        return StoreSettings::Memory;
    }
    if !(store.url.starts_with("redis://") || store.url.starts_with("redis+unix://")) {
        p.push(
            "store.url",
            format!(
                "{:?} is not a store; write \"memory\" (one node) or a Redis URL such as \"redis://127.0.0.1:6379/0\"",
                store.url
            ),
        );
    } else if let Err(e) = redis::Client::open(store.url.as_str()) {
        p.push(
            "store.url",
            format!(
                "{:?} is not a usable Redis URL ({e}); write it like \"redis://127.0.0.1:6379/0\"",
                store.url
            ),
        );
    }
    if store.key_prefix.is_empty()
        || !store
            .key_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
    {
        p.push(
            "store.key_prefix",
            format!(
                "{:?} is not a key prefix; use letters, digits and - _ : . (e.g. \"usher\")",
                store.key_prefix
            ),
        );
    }
    if signing_key.is_none() {
        p.push("passes.signing_key", "is empty but store.url is Redis: every node must sign and verify with the same key; create one with `usher keygen` and give each node the file");
    }
    if ticket_secret.is_none() {
        p.push("state.ticket_secret", "is empty but store.url is Redis: every node must honour the same tickets; point every node at one file of at least 32 random bytes (e.g. `head -c 32 /dev/urandom > ticket.key`)");
    }
    let options = RedisOptions {
        prefix: store.key_prefix.clone(),
        lease: p.duration("store.lease", &store.lease),
        connect_timeout: p.duration("store.connect_timeout", &store.connect_timeout),
        response_timeout: p.duration("store.response_timeout", &store.response_timeout),
    };
    StoreSettings::Redis {
        url: store.url.clone(),
        options,
    }
}
