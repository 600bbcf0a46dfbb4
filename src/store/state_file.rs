//! The single-node state file: each room's [`Saved`] state, written atomically (temp
//! file, fsync, rename, fsync of the directory) so a crash leaves the old or the new file,
//! never half of one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::room::Saved;

/// The state file's name inside `[state] dir`.
pub const FILE_NAME: &str = "state.json";

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not ours or is damaged.
    #[error("state file {path} is not valid: {reason}; move it away to start with empty lines")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The on-disk document.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Document {
    version: u32,
    rooms: BTreeMap<String, Saved>,
}

/// Reads saved room states; a missing file means a first start.
pub fn load(path: &Path) -> Result<BTreeMap<String, Saved>, StateFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(StateFileError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let doc: Document = serde_json::from_slice(&bytes).map_err(|e| StateFileError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if doc.version != 1 {
        return Err(StateFileError::Invalid {
            path: path.to_path_buf(),
            reason: format!("version {} is not 1", doc.version),
        });
    }
    Ok(doc.rooms)
}

/// Writes room states atomically.
pub fn save(path: &Path, rooms: &BTreeMap<String, Saved>) -> Result<(), StateFileError> {
    let io = |source| StateFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let doc = Document {
        version: 1,
        rooms: rooms.clone(),
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| StateFileError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename itself must reach the disk too.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
