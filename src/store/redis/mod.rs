//! The several-node store (docs/DESIGN.md §8): every room's line lives in Redis, so any proxy node
//! answers any visitor and all of them see one fair line.
//!
//! Each operation is **one Lua script** (`src/store/redis/lua/`, with `common.lua` in front of
//! each), run atomically with EVALSHA: the same decisions as the memory [`Room`], made
//! where the data is. The arithmetic that needs no data (ETA, poll interval, the
//! pre-queue permutation) is the room module's own ([`crate::room::pace`],
//! [`crate::room::draw`]), run here on the node.
//!
//! **Redis operations per request**: every [`Store`] call is exactly one EVALSHA round
//! trip in the steady state ([`RedisStore::commands_sent`] against
//! [`RedisStore::operations`]). More happen only once after Redis lost its scripts
//! (`NOSCRIPT` → `SCRIPT LOAD` + EVALSHA again) or its data (`NOINIT` → the room's
//! settings are pushed again, then the script is retried).
//!
//! **Admission runs under a lease**: [`Store::tick`] first takes (`SET NX PX`) or extends
//! the room's lease; a node that does not hold it calls nobody. When the holder dies,
//! another ticking node takes over within one lease.
//!
//! **Ended sessions reach every node**: [`Store::end_session`] records the session in
//! the room's `revoked` set and publishes it; [`RedisStore::follow_revocations`]
//! (`revocations.rs`) hands those to the node's passes, catching up from the set
//! after any disconnection.
//!
//! **Fail closed**: every error (connection refused, timeout, script error) is
//! [`StoreError::Unavailable`], within a bounded time; the connection manager reconnects
//! by itself when Redis is back.
//!
//! [`Room`]: crate::room::Room

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script, Value};

use self::codec::{override_args, seed_arg, settings_args};
use super::{Store, StoreError};
use crate::config::store::RedisOptions;
use crate::room::draw::draw_offsets;
use crate::room::{
    Join, Overrides, PreQueue, RoomSettings, Stats, Visit, RESTORE_SLACK, SWEEP_BUDGET,
};

mod codec;
mod revocations;

pub use self::revocations::Revocation;

/// Why a Redis store could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    /// The URL does not parse.
    #[error("invalid Redis URL {url:?}: {reason}; write it like \"redis://127.0.0.1:6379/0\"")]
    Url {
        /// The URL given.
        url: String,
        /// What the client library said.
        reason: String,
    },
    /// The client could not be set up.
    #[error("cannot set up the Redis client: {0}")]
    Client(String),
}

/// The scripts, each with `common.lua` in front (the same for every store: hashed once).
static SCRIPTS: LazyLock<Scripts> = LazyLock::new(Scripts::new);

/// One script per operation.
struct Scripts {
    join: Script,
    poll: Script,
    prequeue: Script,
    claim: Script,
    leave: Script,
    session: Script,
    tick: Script,
    stats: Script,
    settings: Script,
}

impl Scripts {
    fn new() -> Self {
        let s = |body: &str| Script::new(&format!("{}\n{body}", include_str!("lua/common.lua")));
        Self {
            join: s(include_str!("lua/join.lua")),
            poll: s(include_str!("lua/poll.lua")),
            prequeue: s(include_str!("lua/prequeue.lua")),
            claim: s(include_str!("lua/claim.lua")),
            leave: s(include_str!("lua/leave.lua")),
            session: s(include_str!("lua/session.lua")),
            tick: s(include_str!("lua/tick.lua")),
            stats: s(include_str!("lua/stats.lua")),
            settings: s(include_str!("lua/settings.lua")),
        }
    }
}

/// The key parts of a room, in the order the scripts expect them (see `common.lua`).
const KEY_PARTS: [&str; 10] = [
    "meta", "waiting", "seen", "called", "recall", "state", "sessions", "calls", "lease", "revoked",
];

/// Index of the `revoked` set (sessions ended on any node) among a room's keys.
const REVOKED: usize = 9;

/// A pre-queue draw: (seed, entries) → entry → offset from the first drawn place.
type DrawCache = (u64, usize, Arc<Vec<u32>>);

/// What this node knows of one room.
struct RoomEntry {
    keys: Vec<String>,
    /// Settings from this node's config (pushed to Redis at start and on reload).
    configured: Mutex<RoomSettings>,
    /// Whether Redis has this node's configured settings.
    pushed: AtomicBool,
    /// Whether this node held the admission lease at its last tick.
    leader: AtomicBool,
    /// The last draw computed, so `prequeue` is not O(entries) per call.
    draw: Mutex<Option<DrawCache>>,
    /// One settings push at a time, each with the latest configured settings, so a slow
    /// push of older settings never lands after a newer one.
    push_lock: tokio::sync::Mutex<()>,
}

/// Rooms shared through Redis by any number of proxy nodes.
pub struct RedisStore {
    /// What a fresh connection manager is made from (boxed: large and rarely used).
    setup: Box<(redis::Client, ConnectionManagerConfig)>,
    conn: RwLock<ConnectionManager>,
    rooms: HashMap<String, RoomEntry>,
    node: String,
    /// Where ended sessions are published (`<prefix>:revoked`).
    channel: String,
    lease_ms: u64,
    /// Longest one operation may take, whatever happens underneath.
    op_timeout: Duration,
    commands: AtomicU64,
    ops: AtomicU64,
    timeouts: AtomicU32,
    up: AtomicBool,
}

/// A poisoned lock only means a panic elsewhere; the data is plain values.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A random non-zero u64 (node ids, draw seeds).
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u64::from_le_bytes(b) | 1
}

impl RedisStore {
    /// A store for `rooms` on the Redis at `url`, pushing each room's configured settings
    /// there (its line is not touched). Redis being down is not an error here: every
    /// operation fails closed until it is reachable, and the settings are pushed then.
    pub async fn connect(
        url: &str,
        rooms: &[(String, RoomSettings)],
        opts: RedisOptions,
    ) -> Result<Self, RedisStoreError> {
        let client = redis::Client::open(url).map_err(|e| RedisStoreError::Url {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        // One quick reconnect attempt per failure: callers must not wait through a long
        // backoff (the next operation tries again).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|e| RedisStoreError::Client(e.to_string()))?;
        let rooms = rooms
            .iter()
            .map(|(name, settings)| {
                let keys = KEY_PARTS
                    .iter()
                    .map(|part| format!("{}:{{{name}}}:{part}", opts.prefix))
                    .collect();
                let entry = RoomEntry {
                    keys,
                    configured: Mutex::new(*settings),
                    pushed: AtomicBool::new(false),
                    leader: AtomicBool::new(false),
                    draw: Mutex::new(None),
                    push_lock: tokio::sync::Mutex::new(()),
                };
                (name.clone(), entry)
            })
            .collect();
        let store = Self {
            setup: Box::new((client, config)),
            conn: RwLock::new(conn),
            rooms,
            node: format!("{:016x}", random_u64()),
            channel: format!("{}:revoked", opts.prefix),
            lease_ms: opts.lease.as_millis().max(1) as u64,
            op_timeout: opts.connect_timeout + opts.response_timeout * 2,
            commands: AtomicU64::new(0),
            ops: AtomicU64::new(0),
            timeouts: AtomicU32::new(0),
            up: AtomicBool::new(true),
        };
        for name in store.rooms.keys() {
            if let Err(e) = store.push_settings(name).await {
                // The others would wait for the same timeout: all are pushed on first use.
                tracing::warn!(error = %e, node = %store.node, "redis: room settings not pushed yet (they will be on first use)");
                break;
            }
        }
        Ok(store)
    }

    /// This process's id among the nodes (the lease holder's value in Redis; for logs).
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Whether this node held `room`'s admission lease at its last tick.
    pub fn holds_lease(&self, room: &str) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.leader.load(Ordering::Relaxed))
    }

    /// Commands sent to Redis so far (one per operation in the steady state).
    pub fn commands_sent(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    /// Store operations run so far.
    pub fn operations(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }

    /// Whether the last operation reached Redis.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn entry(&self, room: &str) -> Result<&RoomEntry, StoreError> {
        self.rooms
            .get(room)
            .ok_or_else(|| StoreError::NoRoom(room.to_string()))
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One EVALSHA; after `NOSCRIPT` (Redis restarted), loads the script and runs it again.
    async fn invoke(
        &self,
        conn: &mut ConnectionManager,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> RedisResult<Value> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash())
            .arg(keys.len())
            .arg(keys)
            .arg(args);
        self.commands.fetch_add(1, Ordering::Relaxed);
        match cmd.query_async::<Value>(conn).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                self.commands.fetch_add(2, Ordering::Relaxed);
                script.load_async(conn).await?;
                cmd.query_async(conn).await
            }
            r => r,
        }
    }

    /// Pushes the room's configured settings, unless (`again` false) they already are.
    async fn push(
        &self,
        conn: &mut ConnectionManager,
        room: &RoomEntry,
        again: bool,
    ) -> RedisResult<()> {
        let _one_at_a_time = room.push_lock.lock().await;
        if again || !room.pushed.load(Ordering::SeqCst) {
            let args = settings_args(&lock(&room.configured));
            self.invoke(conn, &SCRIPTS.settings, &room.keys, &args)
                .await?;
            room.pushed.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Runs `script`; pushes the room's settings first if Redis lacks them.
    async fn attempt(
        &self,
        room: &RoomEntry,
        script: &Script,
        args: &[String],
    ) -> RedisResult<Value> {
        let mut conn = self.conn();
        if !room.pushed.load(Ordering::SeqCst) {
            self.push(&mut conn, room, false).await?;
        }
        match self.invoke(&mut conn, script, &room.keys, args).await {
            Err(e) if e.code() == Some("NOINIT") => {
                // Redis lost the room (restarted without its data): once, by whoever
                // gets here first.
                room.pushed.store(false, Ordering::SeqCst);
                self.push(&mut conn, room, false).await?;
                self.invoke(&mut conn, script, &room.keys, args).await
            }
            r => r,
        }
    }

    /// Bounds `work` in time and turns every failure into `Unavailable`.
    async fn guard<T>(
        &self,
        work: impl std::future::Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let (error, timed_out) = match tokio::time::timeout(self.op_timeout, work).await {
            Ok(Ok(v)) => {
                self.timeouts.store(0, Ordering::Relaxed);
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(node = %self.node, "redis reachable again");
                }
                return Ok(v);
            }
            Ok(Err(e)) => (e.to_string(), e.is_timeout()),
            Err(_) => ("no answer in time".to_string(), true),
        };
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(node = %self.node, %error, "redis unavailable: failing closed");
        } else {
            tracing::debug!(node = %self.node, %error, "redis still unavailable");
        }
        // A connection that only times out (a silent peer) is never dropped by the
        // manager; start over with a fresh one after a few.
        if timed_out && self.timeouts.fetch_add(1, Ordering::Relaxed) >= 2 {
            self.timeouts.store(0, Ordering::Relaxed);
            let (client, config) = &*self.setup;
            if let Ok(fresh) =
                ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            {
                *self.conn.write().unwrap_or_else(|p| p.into_inner()) = fresh;
            }
        }
        Err(StoreError::Unavailable)
    }

    /// Runs `script` for `room` and reads its reply with `read`.
    async fn call<T>(
        &self,
        room: &str,
        script: &Script,
        args: Vec<String>,
        read: impl FnOnce(&Value) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let entry = self.entry(room)?;
        self.guard(async { read(&self.attempt(entry, script, &args).await?) })
            .await
    }

    async fn push_settings(&self, room: &str) -> Result<(), StoreError> {
        let entry = self.entry(room)?;
        self.guard(async { self.push(&mut self.conn(), entry, true).await })
            .await
    }

    /// Entry → offset of the draw `(seed, n)`, computed once per node.
    fn offsets(&self, room: &RoomEntry, seed: u64, n: usize) -> Arc<Vec<u32>> {
        if let Some((s, m, o)) = lock(&room.draw).as_ref() {
            if (*s, *m) == (seed, n) {
                return o.clone();
            }
        }
        let o = Arc::new(draw_offsets(n, seed));
        *lock(&room.draw) = Some((seed, n, o.clone()));
        o
    }
}

impl Store for RedisStore {
    async fn join(&self, room: &str, session: &str, now_ms: u64) -> Result<Join, StoreError> {
        let args = vec![
            now_ms.to_string(),
            session.to_string(),
            seed_arg(random_u64()),
        ];
        self.call(room, &SCRIPTS.join, args, codec::join).await
    }

    async fn poll(&self, room: &str, place: usize, now_ms: u64) -> Result<Visit, StoreError> {
        let args = vec![
            now_ms.to_string(),
            place.to_string(),
            RESTORE_SLACK.to_string(),
        ];
        self.call(room, &SCRIPTS.poll, args, |v| {
            codec::visit(v, place, now_ms)
        })
        .await
    }

    async fn prequeue(&self, room: &str, i: usize, now_ms: u64) -> Result<PreQueue, StoreError> {
        let args = vec![now_ms.to_string(), seed_arg(random_u64())];
        let draw = self
            .call(room, &SCRIPTS.prequeue, args, codec::draw)
            .await?;
        if draw.now_drawn {
            // The sale opened with this poll: call the first visitors now, not at the
            // next tick (a no-op unless this node holds the admission lease).
            self.tick(room, now_ms).await?;
        }
        let offsets = match draw.drawn {
            Some((_, n, seed)) => Some(self.offsets(self.entry(room)?, seed, n)),
            None => None,
        };
        Ok(draw.entry(i, now_ms, offsets.as_deref().map(Vec::as_slice)))
    }

    async fn claim(
        &self,
        room: &str,
        place: usize,
        session: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let args = vec![now_ms.to_string(), place.to_string(), session.to_string()];
        self.call(room, &SCRIPTS.claim, args, |v| Ok(codec::int(v)? == 1))
            .await
    }

    async fn leave(&self, room: &str, place: usize) -> Result<bool, StoreError> {
        let args = vec![place.to_string()];
        self.call(room, &SCRIPTS.leave, args, |v| Ok(codec::int(v)? == 1))
            .await
    }

    async fn touch_session(&self, room: &str, session: &str, exp: u64) -> Result<(), StoreError> {
        let exp = exp.min(u32::MAX as u64).to_string();
        let args = vec!["touch".to_string(), session.to_string(), exp];
        self.call(room, &SCRIPTS.session, args, |_| Ok(())).await
    }

    async fn end_session(&self, room: &str, session: &str) -> Result<bool, StoreError> {
        // No pass of the session outlives `bound`: each expires within `session_idle` of
        // being minted or renewed (give or take the nodes' clocks).
        let idle = lock(&self.entry(room)?.configured).session_idle.as_secs();
        let now = revocations::unix_secs();
        let bound = now + idle + revocations::CLOCK_SLACK_SECS;
        let args = vec![
            "end".to_string(),
            session.to_string(),
            now.to_string(),
            bound.to_string(),
            self.channel.clone(),
        ];
        self.call(room, &SCRIPTS.session, args, |v| Ok(codec::int(v)? == 1))
            .await
    }

    async fn tick(&self, room: &str, now_ms: u64) -> Result<Vec<usize>, StoreError> {
        let args = vec![
            now_ms.to_string(),
            self.node.clone(),
            self.lease_ms.to_string(),
            seed_arg(random_u64()),
            SWEEP_BUDGET.to_string(),
        ];
        let r = self.call(room, &SCRIPTS.tick, args, codec::ints).await?;
        let leader = r.first() == Some(&1);
        if self.entry(room)?.leader.swap(leader, Ordering::Relaxed) != leader {
            tracing::info!(room, node = %self.node, leader, "admission lease changed hands");
        }
        Ok(r.iter().skip(1).map(|&p| p as usize).collect())
    }

    async fn stats(&self, room: &str) -> Result<Stats, StoreError> {
        self.call(room, &SCRIPTS.stats, vec![], codec::stats).await
    }

    async fn override_settings(
        &self,
        room: &str,
        change: Overrides,
    ) -> Result<RoomSettings, StoreError> {
        let args = override_args(change);
        self.call(room, &SCRIPTS.settings, args, codec::settings)
            .await
    }

    async fn settings(&self, room: &str) -> Result<RoomSettings, StoreError> {
        let args = vec!["get".to_string()];
        self.call(room, &SCRIPTS.settings, args, codec::settings)
            .await
    }

    async fn reconfigure(&self, room: &str, settings: RoomSettings) -> Result<(), StoreError> {
        *lock(&self.entry(room)?.configured) = settings;
        self.push_settings(room).await
    }
}

#[cfg(test)]
mod tests;
