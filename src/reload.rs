//! Live config reload (docs/DESIGN.md §8): on SIGHUP or when the config file (or a certificate or
//! key it names) changes, the file is read and validated again and, if good, swapped in —
//! room settings, bypass rules, routes, upstreams, pass keys, the waiting page and the TLS
//! certificate — without dropping a connection or touching a line. A bad edit is refused:
//! the error is logged, `usher_config_reloads_total{result="error"}` moves, and the old
//! config keeps serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use crate::config::{Settings, TlsSettings};
use crate::gate::Gate;
use crate::metrics::Metrics;
use crate::proxy::Proxy;

/// Why a reload was refused (the running config stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The waiting page template is unusable.
    #[error(transparent)]
    Page(#[from] crate::proxy::page::PageError),
    /// Keys, rooms or the store refused the change.
    #[error(transparent)]
    Gate(#[from] crate::gate::GateError),
    /// Rooms were configured where there were none, or removed entirely.
    #[error("the waiting room was switched on or off: restart usher for that")]
    RoomsToggled,
}

/// The running server's swappable parts, shared with the reload task.
pub struct Reloadable {
    /// The public listener's TLS configuration; each new handshake takes the current one.
    pub tls: Arc<ArcSwap<rustls::ServerConfig>>,
    /// The proxy (upstreams, forwarding, page).
    pub proxy: Arc<Proxy>,
    /// The waiting room (routes, rules, keys, room settings).
    pub gate: Option<Arc<Gate>>,
    /// Metrics (the reload counter).
    pub metrics: Arc<Metrics>,
    /// The settings now in force.
    pub applied: Mutex<Settings>,
}

impl Reloadable {
    /// Swaps in `new`; on error nothing changes.
    pub async fn apply(&self, new: Settings) -> Result<(), ReloadError> {
        let old = self
            .applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // Build everything that can fail before swapping anything.
        let tls = match (&old.tls, &new.tls) {
            // A generated certificate stays: a new one would change under every visitor.
            (TlsSettings::SelfSigned { .. }, TlsSettings::SelfSigned { .. }) => None,
            _ => Some(crate::tls::load(&new.tls)?.config),
        };
        let pages = crate::proxy::page::Pages::load(new.page.as_ref())?;
        match (&self.gate, new.waiting_room.rooms.is_empty()) {
            (Some(gate), false) => gate.reload(&new.waiting_room).await?,
            (None, true) => {}
            _ => return Err(ReloadError::RoomsToggled),
        }
        self.proxy.reload(&new, &self.metrics, pages);
        if let Some(tls) = tls {
            self.tls.store(tls);
        }
        for field in needs_restart(&old, &new) {
            tracing::warn!(
                field,
                "changed in the file but only takes effect after a restart"
            );
        }
        *self.applied.lock().unwrap_or_else(|p| p.into_inner()) = new;
        Ok(())
    }

    /// Reads `path` and applies it; logs and counts the result either way.
    pub async fn from_file(&self, path: &Path) -> Result<(), ReloadError> {
        let result = match Settings::load(path) {
            Ok(s) => self.apply(s).await,
            Err(e) => Err(e.into()),
        };
        match &result {
            Ok(()) => {
                self.metrics.config_reloads.with_label_values(&["ok"]).inc();
                tracing::info!(path = %path.display(), "config reloaded");
            }
            Err(e) => {
                self.metrics
                    .config_reloads
                    .with_label_values(&["error"])
                    .inc();
                tracing::error!(path = %path.display(), error = %e, "config reload refused; the running config stays");
            }
        }
        result
    }

    /// Files whose change triggers a reload: the config and what it names.
    fn watched_files(&self, config: &Path) -> Vec<PathBuf> {
        let s = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let mut files = vec![config.to_path_buf()];
        if let TlsSettings::Files { cert, key, .. } = &s.tls {
            files.extend([cert.clone(), key.clone()]);
        }
        files.extend(s.waiting_room.signing_key.clone());
        files.extend(s.waiting_room.verify_keys.iter().map(|(_, p)| p.clone()));
        if let Some((template, strings)) = &s.page {
            files.extend([template.clone(), strings.clone()]);
        }
        files
    }
}

/// Settings that are read once at start.
fn needs_restart(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let differs =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    let mut out = Vec::new();
    if differs(&old.listen, &new.listen) {
        out.push("listen");
    }
    if differs(&old.limits, &new.limits) {
        out.push("limits");
    }
    if old.workers != new.workers {
        out.push("runtime.workers");
    }
    if differs(&old.log, &new.log) {
        out.push("log");
    }
    if old.admin_token != new.admin_token {
        out.push("admin.token");
    }
    if old.waiting_room.state_dir != new.waiting_room.state_dir {
        out.push("state.dir");
    }
    out
}

/// How long file events are gathered before one reload (editors write in several steps).
const SETTLE: Duration = Duration::from_millis(200);

/// Reloads from `path` on SIGHUP (from `hup`, see [`hangup`]) and whenever a watched file
/// changes, until `stop`.
pub async fn watch(
    r: Arc<Reloadable>,
    path: PathBuf,
    mut hup: Hangup,
    mut stop: watch::Receiver<bool>,
) {
    let (tx, mut rx) = mpsc::channel::<()>(16);
    // The watcher lives as long as this task; it is dropped (and stops) with it.
    let _watcher = match file_watcher(&r.watched_files(&path), tx) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; reload with SIGHUP");
            None
        }
    };
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(()) = rx.recv() => {
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
            }
            _ = next_hangup(&mut hup) => tracing::info!("SIGHUP: reloading the config"),
        }
        let _ = r.from_file(&path).await;
    }
}

/// Watches the directories of `files` (editors replace files by renaming) and sends a
/// note when one of `files` changes.
fn file_watcher(
    files: &[PathBuf],
    tx: mpsc::Sender<()>,
) -> Result<notify::RecommendedWatcher, notify::Error> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let files: Vec<PathBuf> = files.iter().map(absolute).collect();
    let names = files.clone();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if matches!(ev.kind, EventKind::Access(_)) {
            return;
        }
        // Kubernetes updates a mounted ConfigMap or Secret by swapping its `..data` link,
        // so the files' own names never appear in an event.
        let kubelet_swap = |p: &PathBuf| p.file_name().is_some_and(|n| n == "..data");
        if ev
            .paths
            .iter()
            .any(|p| names.contains(p) || kubelet_swap(p))
        {
            let _ = tx.try_send(());
        }
    })?;
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        watcher.watch(&d, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

/// SIGHUP, caught. Install it before serving: until it is installed, SIGHUP's default
/// action ends the process.
#[cfg(unix)]
pub type Hangup = Option<tokio::signal::unix::Signal>;
/// No SIGHUP off Unix.
#[cfg(not(unix))]
pub type Hangup = ();

/// Starts catching SIGHUP (must run inside the runtime).
#[cfg(unix)]
pub fn hangup() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    }
}

/// No SIGHUP off Unix.
#[cfg(not(unix))]
pub fn hangup() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(h: &mut Hangup) {
    match h {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}
