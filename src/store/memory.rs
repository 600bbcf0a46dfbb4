//! The one-node store: rooms in memory, each behind its own mutex (held for microseconds,
//! never across an await), saved to the state file by [`MemoryStore::save`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::state_file::{self, StateFileError};
use super::{Store, StoreError};
use crate::room::{Join, Room, RoomSettings, Saved, Stats, Visit};

/// Rooms held in this process.
pub struct MemoryStore {
    rooms: HashMap<String, Arc<Mutex<Room>>>,
    up: AtomicBool,
}

impl MemoryStore {
    /// Rooms from settings, restored from `saved` where a room of that name was saved.
    pub fn new(
        rooms: &[(String, RoomSettings)],
        saved: &BTreeMap<String, Saved>,
        now_ms: u64,
    ) -> Self {
        let rooms = rooms
            .iter()
            .map(|(name, settings)| {
                let room = match saved.get(name) {
                    Some(s) => Room::restore(*settings, s, now_ms),
                    None => Room::new(*settings, now_ms),
                };
                (name.clone(), Arc::new(Mutex::new(room)))
            })
            .collect();
        Self {
            rooms,
            up: AtomicBool::new(true),
        }
    }

    /// Rooms from settings, restored from the state file at `path` if it exists.
    pub fn open(
        rooms: &[(String, RoomSettings)],
        path: &Path,
        now_ms: u64,
    ) -> Result<Self, StateFileError> {
        Ok(Self::new(rooms, &state_file::load(path)?, now_ms))
    }

    /// Writes every room's state to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        let states = self
            .rooms
            .iter()
            .map(|(name, room)| (name.clone(), lock(room).save()))
            .collect();
        state_file::save(path, &states)
    }

    /// Makes every operation fail (`false`) or work again (`true`): a store outage for
    /// tests and drills.
    pub fn set_available(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// Gives up a place; false if unknown or the store is down.
    pub async fn leave_place(&self, room: &str, place: usize) -> bool {
        self.leave(room, place).await.unwrap_or(false)
    }

    /// Room names.
    pub fn room_names(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(String::as_str)
    }

    fn with<T>(&self, room: &str, f: impl FnOnce(&mut Room) -> T) -> Result<T, StoreError> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable);
        }
        let r = self
            .rooms
            .get(room)
            .ok_or_else(|| StoreError::NoRoom(room.to_string()))?;
        Ok(f(&mut lock(r)))
    }
}

/// A poisoned lock means a panic while the room was changed; the room's data is still
/// consistent for our purposes (every mutation is small), so keep serving.
fn lock(m: &Mutex<Room>) -> MutexGuard<'_, Room> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store for MemoryStore {
    async fn join(&self, room: &str, session: &str, now_ms: u64) -> Result<Join, StoreError> {
        self.with(room, |r| r.join(session, now_ms))
    }

    async fn poll(&self, room: &str, place: usize, now_ms: u64) -> Result<Visit, StoreError> {
        self.with(room, |r| r.poll(place, now_ms))
    }

    async fn prequeue(
        &self,
        room: &str,
        i: usize,
        now_ms: u64,
    ) -> Result<crate::room::PreQueue, StoreError> {
        self.with(room, |r| r.prequeue(i, now_ms))
    }

    async fn claim(
        &self,
        room: &str,
        place: usize,
        session: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.with(room, |r| r.claim(place, session, now_ms))
    }

    async fn leave(&self, room: &str, place: usize) -> Result<bool, StoreError> {
        self.with(room, |r| r.leave(place))
    }

    async fn touch_session(&self, room: &str, session: &str, exp: u64) -> Result<(), StoreError> {
        self.with(room, |r| r.touch_session(session, exp))
    }

    async fn end_session(&self, room: &str, session: &str) -> Result<bool, StoreError> {
        self.with(room, |r| r.end_session(session))
    }

    async fn tick(&self, room: &str, now_ms: u64) -> Result<Vec<usize>, StoreError> {
        self.with(room, |r| r.tick(now_ms))
    }

    async fn stats(&self, room: &str) -> Result<Stats, StoreError> {
        self.with(room, |r| r.stats())
    }

    async fn override_settings(
        &self,
        room: &str,
        change: crate::room::Overrides,
    ) -> Result<RoomSettings, StoreError> {
        self.with(room, |r| {
            r.override_settings(change);
            *r.settings()
        })
    }

    async fn settings(&self, room: &str) -> Result<RoomSettings, StoreError> {
        self.with(room, |r| *r.settings())
    }

    async fn reconfigure(&self, room: &str, settings: RoomSettings) -> Result<(), StoreError> {
        self.with(room, |r| r.reconfigure(settings))
    }
}

#[cfg(test)]
mod tests;
