//! The store a proxy runs with, chosen by `[store] url`: one type for the gate to hold,
//! whichever home the rooms have.

use std::path::Path;

use super::redis::{RedisStore, RedisStoreError};
use super::state_file::{self, StateFileError};
use super::{MemoryStore, Store, StoreError};
use crate::config::store::StoreSettings;
use crate::room::{Join, Overrides, PreQueue, RoomSettings, Stats, Visit};

/// Memory (one node) or Redis (several nodes).
pub enum QueueStore {
    /// Rooms in this process, saved to the state file.
    Memory(MemoryStore),
    /// Rooms in Redis, shared with the other nodes.
    Redis(RedisStore),
}

/// Why the queue store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    /// The state file is unreadable.
    #[error(transparent)]
    State(#[from] StateFileError),
    /// The Redis store could not be set up.
    #[error(transparent)]
    Redis(#[from] RedisStoreError),
}

/// Runs the same call on whichever store is in use.
macro_rules! each {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            QueueStore::Memory($s) => $call,
            QueueStore::Redis($s) => $call,
        }
    };
}

impl QueueStore {
    /// Opens the store `settings` chooses for `rooms`: memory, restored from the state
    /// file in `state_dir`, or Redis — which may be down now: every operation then fails
    /// closed until it answers.
    pub async fn open(
        settings: &StoreSettings,
        rooms: &[(String, RoomSettings)],
        state_dir: &Path,
        now_ms: u64,
    ) -> Result<Self, StoreOpenError> {
        Ok(match settings {
            StoreSettings::Memory => QueueStore::Memory(MemoryStore::open(
                rooms,
                &state_dir.join(state_file::FILE_NAME),
                now_ms,
            )?),
            StoreSettings::Redis { url, options } => {
                let redis = RedisStore::connect(url, rooms, options.clone()).await?;
                tracing::info!(
                    node = redis.node_id(),
                    "queue store: Redis (shared by every node)"
                );
                QueueStore::Redis(redis)
            }
        })
    }

    /// Saves the rooms to the state file (memory); Redis keeps its own state.
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        match self {
            QueueStore::Memory(m) => m.save(path),
            QueueStore::Redis(_) => Ok(()),
        }
    }

    /// True when rooms must be saved to a state file (they live in this process).
    pub fn saves_to_file(&self) -> bool {
        matches!(self, QueueStore::Memory(_))
    }

    /// Gives up a place; false if unknown or the store is down.
    pub async fn leave_place(&self, room: &str, place: usize) -> bool {
        self.leave(room, place).await.unwrap_or(false)
    }

    /// The memory store, if that is the one in use (tests switch it off and on).
    pub fn memory(&self) -> Option<&MemoryStore> {
        match self {
            QueueStore::Memory(m) => Some(m),
            QueueStore::Redis(_) => None,
        }
    }

    /// The Redis store, if that is the one in use.
    pub fn redis(&self) -> Option<&RedisStore> {
        match self {
            QueueStore::Redis(r) => Some(r),
            QueueStore::Memory(_) => None,
        }
    }
}

impl Store for QueueStore {
    async fn join(&self, room: &str, session: &str, now_ms: u64) -> Result<Join, StoreError> {
        each!(self, s => s.join(room, session, now_ms).await)
    }

    async fn poll(&self, room: &str, place: usize, now_ms: u64) -> Result<Visit, StoreError> {
        each!(self, s => s.poll(room, place, now_ms).await)
    }

    async fn prequeue(&self, room: &str, i: usize, now_ms: u64) -> Result<PreQueue, StoreError> {
        each!(self, s => s.prequeue(room, i, now_ms).await)
    }

    async fn claim(
        &self,
        room: &str,
        place: usize,
        session: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.claim(room, place, session, now_ms).await)
    }

    async fn leave(&self, room: &str, place: usize) -> Result<bool, StoreError> {
        each!(self, s => s.leave(room, place).await)
    }

    async fn touch_session(&self, room: &str, session: &str, exp: u64) -> Result<(), StoreError> {
        each!(self, s => s.touch_session(room, session, exp).await)
    }

    async fn end_session(&self, room: &str, session: &str) -> Result<bool, StoreError> {
        each!(self, s => s.end_session(room, session).await)
    }

    async fn tick(&self, room: &str, now_ms: u64) -> Result<Vec<usize>, StoreError> {
        each!(self, s => s.tick(room, now_ms).await)
    }

    async fn stats(&self, room: &str) -> Result<Stats, StoreError> {
        each!(self, s => s.stats(room).await)
    }

    async fn override_settings(
        &self,
        room: &str,
        change: Overrides,
    ) -> Result<RoomSettings, StoreError> {
        each!(self, s => s.override_settings(room, change).await)
    }

    async fn settings(&self, room: &str) -> Result<RoomSettings, StoreError> {
        each!(self, s => s.settings(room).await)
    }

    async fn reconfigure(&self, room: &str, settings: RoomSettings) -> Result<(), StoreError> {
        each!(self, s => s.reconfigure(room, settings).await)
    }
}

#[cfg(test)]
mod tests;
