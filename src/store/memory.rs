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
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::room::Mode;

    fn settings() -> RoomSettings {
        RoomSettings {
            max_active: 1,
            new_per_minute: 0,
            session_idle: Duration::from_secs(600),
            session_max: Duration::from_secs(3600),
            claim_window: Duration::from_secs(30),
            abandon_after: Duration::from_secs(60),
            recall_window: Duration::from_secs(600),
            mode: Mode::Queue,
            event: None,
        }
    }

    const T0: u64 = 1_800_000_000_000;

    #[tokio::test]
    async fn outage_fails_every_operation_then_recovers_with_the_line_intact() {
        let store = MemoryStore::new(&[("r".into(), settings())], &BTreeMap::new(), T0);
        let Join::Queued(a) = store.join("r", "a", T0).await.unwrap() else {
            panic!()
        };
        let Join::Queued(b) = store.join("r", "b", T0).await.unwrap() else {
            panic!()
        };
        store.set_available(false);
        assert!(matches!(
            store.join("r", "c", T0).await,
            Err(StoreError::Unavailable)
        ));
        assert!(matches!(
            store.tick("r", T0 + 100).await,
            Err(StoreError::Unavailable)
        ));
        assert!(matches!(
            store.poll("r", b, T0).await,
            Err(StoreError::Unavailable)
        ));
        store.set_available(true);
        assert_eq!(store.tick("r", T0 + 200).await.unwrap(), vec![a]);
        assert!(
            matches!(store.poll("r", b, T0 + 200).await.unwrap(), Visit::Waiting(p) if p.ahead == 0)
        );
        assert!(matches!(
            store.poll("nope", 0, T0).await,
            Err(StoreError::NoRoom(_))
        ));
    }

    #[tokio::test]
    async fn state_file_round_trip_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let rooms = [("r".to_string(), settings())];
        let store = MemoryStore::open(&rooms, &path, T0).unwrap();
        let mut places = Vec::new();
        for i in 0..10 {
            let Join::Queued(p) = store.join("r", &format!("s{i}"), T0).await.unwrap() else {
                panic!()
            };
            places.push(p);
        }
        store.tick("r", T0 + 100).await.unwrap();
        store.save(&path).unwrap();
        drop(store);
        let again = MemoryStore::open(&rooms, &path, T0 + 60_000).unwrap();
        for (i, &p) in places.iter().enumerate().skip(1) {
            let v = again.poll("r", p, T0 + 61_000).await.unwrap();
            assert!(
                matches!(v, Visit::Waiting(pos) if pos.ahead == (i - 1) as u32),
                "{i}: {v:?}"
            );
        }
        // A damaged file is an error that says what to do, not an empty line.
        std::fs::write(&path, b"{not json").unwrap();
        let err = MemoryStore::open(&rooms, &path, T0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("move it away"), "{err}");
    }
}
