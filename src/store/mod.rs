//! Where rooms live. One trait, two homes: memory with a state file (one node) and Redis
//! (several nodes sharing one line). Nothing above this module knows which is in use.
//!
//! Every operation can fail with [`StoreError::Unavailable`]; callers fail **closed** on
//! it: nobody new is admitted, waiting visitors keep their place, passes keep working.

pub mod memory;
pub mod queue;
pub mod redis;
pub mod state_file;

use std::future::Future;

use crate::room::{Join, RoomSettings, Stats, Visit};

pub use memory::MemoryStore;
pub use queue::{QueueStore, StoreOpenError};

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached (or is switched off in a test): fail closed.
    #[error("queue store unavailable")]
    Unavailable,
    /// No room of that name is configured.
    #[error("no room named {0:?}")]
    NoRoom(String),
}

/// The queue operations the proxy needs, per room. All times are Unix milliseconds.
pub trait Store: Send + Sync + 'static {
    /// A visitor arrives; `session` is the pass id to use if they are let in at once.
    fn join(
        &self,
        room: &str,
        session: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Join, StoreError>> + Send;
    /// A ticket holder polls.
    fn poll(
        &self,
        room: &str,
        place: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<Visit, StoreError>> + Send;
    /// Where pre-queue entry `i` stands (pending, or drawn to a place).
    fn prequeue(
        &self,
        room: &str,
        i: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<crate::room::PreQueue, StoreError>> + Send;
    /// A called visitor claims; the call becomes session `session`.
    fn claim(
        &self,
        room: &str,
        place: usize,
        session: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// A waiting or called visitor gives up their place.
    fn leave(
        &self,
        room: &str,
        place: usize,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// A session showed activity; its pass now expires at `exp` (Unix seconds).
    fn touch_session(
        &self,
        room: &str,
        session: &str,
        exp: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A session ended; its slot frees at once.
    fn end_session(
        &self,
        room: &str,
        session: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Runs admission for a room; returns the places called.
    fn tick(
        &self,
        room: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<usize>, StoreError>> + Send;
    /// A room's counters.
    fn stats(&self, room: &str) -> impl Future<Output = Result<Stats, StoreError>> + Send;
    /// An operator's change through the admin API (kept across restarts).
    fn override_settings(
        &self,
        room: &str,
        change: crate::room::Overrides,
    ) -> impl Future<Output = Result<RoomSettings, StoreError>> + Send;
    /// A room's settings in force.
    fn settings(&self, room: &str)
        -> impl Future<Output = Result<RoomSettings, StoreError>> + Send;
    /// Changes a room's settings without touching its line.
    fn reconfigure(
        &self,
        room: &str,
        settings: RoomSettings,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
