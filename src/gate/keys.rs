//! The gate's secrets: the pass key ring from its PEM files, and the ticket secret
//! (created on first start when it lives in the state directory).

use super::GateError;
use crate::config::WaitingRoomSettings;
use crate::room::ticket::TicketKeys;

/// The configured pass keys (`None` when no signing key is configured).
pub(super) fn load_keys(
    settings: &WaitingRoomSettings,
) -> Result<Option<crate::pass::KeyRing>, GateError> {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|source| GateError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let Some(path) = &settings.signing_key else {
        return Ok(None);
    };
    let kid = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("pass")
        .to_string();
    let mut others = Vec::new();
    for (k, p) in &settings.verify_keys {
        others.push((k.clone(), read(p)?));
    }
    Ok(Some(crate::pass::KeyRing::from_pem(
        &kid,
        &read(path)?,
        &others,
    )?))
}

/// The ticket secret from `path` (created there, 0600, first when `create` and missing):
/// the ticket keys, and the raw secret other keys are derived from.
pub(super) fn ticket_keys(
    path: &std::path::Path,
    create: bool,
) -> Result<(TicketKeys, Vec<u8>), GateError> {
    let secret = match std::fs::read(path) {
        Ok(s) => s,
        Err(e) if create && e.kind() == std::io::ErrorKind::NotFound => {
            let s = TicketKeys::random_secret()
                .ok_or_else(|| GateError::TicketSecret(path.display().to_string()))?;
            write_secret(path, &s).map_err(|source| GateError::Read {
                path: path.display().to_string(),
                source,
            })?;
            tracing::info!(path = %path.display(), "created a ticket secret");
            s
        }
        Err(source) => {
            return Err(GateError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let keys = TicketKeys::new(std::slice::from_ref(&secret))
        .ok_or_else(|| GateError::TicketSecret(path.display().to_string()))?;
    Ok((keys, secret))
}

fn write_secret(path: &std::path::Path, secret: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(secret)?;
    f.sync_all()
}
