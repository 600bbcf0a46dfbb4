//! Building the gate from the config, and taking a reloaded config.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::keys::{load_keys, ticket_keys};
use super::{abuse, challenge::Challenges, sharing, unix_ms, Gate, Policy};
use crate::config::rooms::RoomRoute;
use crate::config::WaitingRoomSettings;
use crate::metrics::Metrics;
use crate::pass::Passes;
use crate::store::{QueueStore, Store, StoreError};

/// Why the gate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A pass key could not be loaded.
    #[error(transparent)]
    Keys(#[from] crate::pass::keys::KeyLoadError),
    /// A key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The ticket secret is unusable.
    #[error("ticket secret {0}: needs at least 32 bytes")]
    TicketSecret(String),
    /// The queue store could not be opened (state file, Redis).
    #[error(transparent)]
    Open(#[from] crate::store::StoreOpenError),
    /// A reload tried to add, remove or reorder rooms.
    #[error("rooms cannot be added, removed or reordered by a reload (was {was:?}, now {now:?}): restart usher for that")]
    RoomsChanged {
        /// Room names before.
        was: Vec<String>,
        /// Room names in the new file.
        now: Vec<String>,
    },
    /// The store refused the new room settings.
    #[error("queue store: {0}")]
    Store(StoreError),
}

impl Gate {
    /// Builds the gate: loads or generates keys, opens the store (the state file, or
    /// Redis — which may be down now: the gate then fails closed until it answers).
    pub async fn new(
        settings: &WaitingRoomSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, GateError> {
        let keys = match load_keys(settings)? {
            Some(keys) => keys,
            None => {
                tracing::warn!("passes.signing_key is empty: generated a pass key for this run (passes will not survive a restart)");
                crate::pass::KeyRing::generate("generated")?
            }
        };
        std::fs::create_dir_all(&settings.state_dir).map_err(|source| GateError::Read {
            path: settings.state_dir.display().to_string(),
            source,
        })?;
        let (tickets, secret) = match &settings.ticket_secret {
            Some(path) => ticket_keys(path, false)?,
            None => ticket_keys(&settings.state_dir.join("ticket.key"), true)?,
        };
        let rooms: Vec<(String, crate::room::RoomSettings)> = settings
            .rooms
            .iter()
            .map(|r| (r.name.clone(), r.settings))
            .collect();
        let store =
            QueueStore::open(&settings.store, &rooms, &settings.state_dir, unix_ms()).await?;
        metrics.store_up.set(1);
        Ok(Self {
            policy: ArcSwap::from_pointee(Policy::new(settings)),
            store: Arc::new(store),
            passes: Passes::new(keys, &settings.issuer),
            tickets,
            challenges: Challenges::new(&secret),
            guard: abuse::Guard::default(),
            sharing: sharing::Sharing::default(),
            sold_out_at: settings.rooms.iter().map(|_| AtomicU64::new(0)).collect(),
            busy: settings
                .rooms
                .iter()
                .map(|_| AtomicBool::new(false))
                .collect(),
            metrics,
            rng: ring::rand::SystemRandom::new(),
            pending_ends: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// A config reload: new pass keys, routes, bypass rules and room settings. The rooms
    /// themselves (names, order) must stay; their lines are not touched. On any error
    /// nothing is swapped in.
    pub async fn reload(&self, settings: &WaitingRoomSettings) -> Result<(), GateError> {
        let names =
            |routes: &[RoomRoute]| routes.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        let (was, now) = (names(&self.policy.load().routes), names(&settings.rooms));
        if was != now {
            return Err(GateError::RoomsChanged { was, now });
        }
        let keys = load_keys(settings)?;
        for r in &settings.rooms {
            self.store
                .reconfigure(&r.name, r.settings)
                .await
                .map_err(GateError::Store)?;
        }
        // Without a configured key the generated one stays: a new one would end every pass.
        if let Some(keys) = keys {
            self.passes.reload(keys, &settings.issuer);
        }
        self.policy.store(Arc::new(Policy::new(settings)));
        Ok(())
    }
}
