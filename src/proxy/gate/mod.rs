//! The waiting-room phases of the request path (DESIGN §3 steps 2–5): bypass rules, room
//! match, pass check, and — without a valid pass — the room's decision: in now, or a place
//! in line. Fails closed when the store is down.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use http::{HeaderMap, HeaderValue, Method};

mod abuse;
mod keys;
mod routing;
mod sharing;
mod upkeep;

pub use routing::Policy;

use std::sync::atomic::{AtomicBool, Ordering};

use super::challenge::{Challenges, CHALLENGE_HEADER, SOLUTION_HEADER};
use super::cookies;
use crate::config::rooms::RoomRoute;
use crate::config::store::StoreSettings;
use crate::config::{DefaultAction, WaitingRoomSettings};
use crate::metrics::Metrics;
use crate::pass::{PassClaims, Passes, Session};
use crate::room::ticket::{Phase, Ticket, TicketKeys};
use crate::room::{Join, Mode, PreQueue, Visit};
use crate::store::redis::RedisStore;
use crate::store::{MemoryStore, QueueStore, Store, StoreError};
use keys::{load_keys, ticket_keys};

/// Header apps use to present a pass (browsers use the cookie).
pub const PASS_HEADER: &str = "x-usher-pass";

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
    /// The state file is unreadable.
    #[error(transparent)]
    State(#[from] crate::store::state_file::StateFileError),
    /// A reload tried to add, remove or reorder rooms.
    #[error("rooms cannot be added, removed or reordered by a reload (was {was:?}, now {now:?}): restart usher for that")]
    RoomsChanged {
        /// Room names before.
        was: Vec<String>,
        /// Room names in the new file.
        now: Vec<String>,
    },
    /// The Redis store could not be set up.
    #[error(transparent)]
    Redis(#[from] crate::store::redis::RedisStoreError),
    /// The store refused the new room settings.
    #[error("queue store: {0}")]
    Store(StoreError),
}

/// What happens to a request after the gate.
pub enum Decision {
    /// Forward it; `Admission` says which room and pass, if any.
    Forward(Admission),
    /// Answer it here (waiting page, 503, 404).
    Answer(Answer),
}

/// A forwarded request's waiting-room facts.
#[derive(Default)]
pub struct Admission {
    /// Room index and the session the pass belongs to.
    pub session: Option<(usize, Arc<PassClaims>)>,
    /// The verified pass, sent upstream as `X-Usher-Pass`.
    pub pass: Option<HeaderValue>,
    /// Cookies to set on the response.
    pub set_cookies: Vec<HeaderValue>,
}

/// What the visitor is told instead of being forwarded.
pub struct Answer {
    /// Room index, when a room was matched.
    pub room: Option<usize>,
    /// The standing to show.
    pub standing: Standing,
    /// Cookies to set.
    pub set_cookies: Vec<HeaderValue>,
    /// The challenge to solve, with `Standing::Challenge`.
    pub challenge: Option<String>,
}

/// A visitor's standing when not let through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Standing {
    /// In line (or paused, with the flag).
    Waiting(crate::room::Position, bool),
    /// In the pre-queue, before the draw.
    PreQueue(crate::room::PreQueueWait),
    /// The room is closed.
    Closed,
    /// The store is down: nobody new gets in, the place is kept.
    Unavailable,
    /// No room and `default_action = "deny"`.
    NotFound,
    /// A place costs a solved challenge of this many bits (the challenge is in the answer).
    Challenge(u8),
    /// This network took its share of places; try again in this many seconds (429).
    TooMany(u32),
    /// The pass was revoked because it was shared (403).
    Shared,
}

/// The result of asking the room about a visitor.
pub enum Outcome {
    /// In: a pass was minted.
    Pass(String, Arc<PassClaims>),
    /// In line, with the (possibly new) ticket.
    Wait(Ticket, bool, Visit),
    /// The room is closed.
    Closed,
    /// A place costs a solved challenge first: this one, at this difficulty.
    Challenge(String, u8),
    /// This network took its share of places; it may take another in this many seconds.
    TooMany(u64),
}

/// Why a presented pass did not let the request through.
enum PassRefused {
    /// Forged, expired, for another room, revoked…: treated as no pass.
    Invalid,
    /// Revoked because it was shared: the holder is told so.
    Shared,
}

/// Who is asking for a place: their network (after trusted proxies) and their answer to
/// a join challenge, if any.
pub struct Arrival<'a> {
    /// The client's address.
    pub client: IpAddr,
    /// `(challenge, solution)` from the request headers.
    pub answer: Option<(&'a str, &'a str)>,
}

impl<'a> Arrival<'a> {
    /// The arrival of a request from `client` with `headers`.
    pub fn new(client: IpAddr, headers: &'a HeaderMap) -> Self {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            client,
            answer: h(CHALLENGE_HEADER).zip(h(SOLUTION_HEADER)),
        }
    }
}

/// The waiting room's shared state: routes, store, keys.
pub struct Gate {
    /// Routes and rules; a config reload swaps them.
    policy: ArcSwap<Policy>,
    /// The queue store.
    pub store: Arc<QueueStore>,
    /// Pass minting and verification.
    pub passes: Passes,
    tickets: TicketKeys,
    metrics: Arc<Metrics>,
    rng: ring::rand::SystemRandom,
    /// Join challenges (keyed from the ticket secret, so every node agrees).
    challenges: Challenges,
    /// Per-network join accounting.
    guard: abuse::Guard,
    /// Per-session pass use, to catch shared passes.
    sharing: sharing::Sharing,
    /// Per room: a line has formed (as of the last tick), so joining costs a challenge.
    busy: Box<[AtomicBool]>,
    /// Per room: when (Unix seconds) the site's sold-out answer last closed it.
    sold_out_at: Box<[std::sync::atomic::AtomicU64]>,
    /// Sessions that ended while the store was down: (room, session id), applied when it
    /// answers again so their slots are not held until they time out.
    pending_ends: std::sync::Mutex<Vec<(usize, String)>>,
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
        let store = match &settings.store {
            StoreSettings::Memory => QueueStore::Memory(MemoryStore::open(
                &rooms,
                &settings.state_dir.join("state.json"),
                unix_ms(),
            )?),
            StoreSettings::Redis { url, options } => {
                let redis = RedisStore::connect(url, &rooms, options.clone()).await?;
                tracing::info!(
                    node = redis.node_id(),
                    "queue store: Redis (shared by every node)"
                );
                QueueStore::Redis(redis)
            }
        };
        metrics.store_up.set(1);
        Ok(Self {
            policy: ArcSwap::from_pointee(Policy::new(settings)),
            store: Arc::new(store),
            passes: Passes::new(keys, &settings.issuer),
            tickets,
            challenges: Challenges::new(&secret),
            guard: abuse::Guard::default(),
            sharing: sharing::Sharing::default(),
            sold_out_at: settings
                .rooms
                .iter()
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
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

    /// The rooms and rules in force (a snapshot: a reload does not change it).
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
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

    /// Phases 2–5 for a request that is not for `/_usher/`, from `client` (the peer, or
    /// the address a trusted proxy forwarded for).
    pub async fn decide(
        &self,
        method: &Method,
        host: Option<&str>,
        path: &str,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Decision {
        if self.bypassed(method, path, headers, client) {
            return Decision::Forward(Admission::default());
        }
        let Some(ri) = self.route(host, path) else {
            return match self.policy().default_action {
                DefaultAction::Forward => Decision::Forward(Admission::default()),
                DefaultAction::Deny => Decision::Answer(Answer {
                    room: None,
                    standing: Standing::NotFound,
                    set_cookies: Vec::new(),
                    challenge: None,
                }),
            };
        };
        let now_ms = unix_ms();
        let mut set_cookies = Vec::new();
        if let Some(token) = pass_from(headers) {
            match self.check_pass(ri, token, client, now_ms).await {
                Ok(adm) => return Decision::Forward(adm),
                Err(PassRefused::Invalid) => set_cookies.push(cookies::clear(cookies::PASS)),
                Err(PassRefused::Shared) => {
                    // The owner is told why, once per request with the revoked pass; without
                    // it they may join the line again like anyone.
                    return Decision::Answer(Answer {
                        room: Some(ri),
                        standing: Standing::Shared,
                        set_cookies: vec![cookies::clear(cookies::PASS)],
                        challenge: None,
                    });
                }
            }
        }
        let ticket = cookies::get(headers, cookies::TICKET)
            .and_then(|t| self.tickets.verify(t).ok())
            .filter(|t| t.room == self.policy().routes[ri].name);
        let arrival = Arrival::new(client, headers);
        match self.admit(ri, ticket, &arrival, now_ms).await {
            Ok(Outcome::Pass(token, claims)) => {
                set_cookies.extend(self.pass_cookie(&token, &claims, now_ms));
                set_cookies.push(cookies::clear(cookies::TICKET));
                Decision::Forward(Admission {
                    pass: HeaderValue::from_str(&token).ok(),
                    session: Some((ri, claims)),
                    set_cookies,
                })
            }
            Ok(Outcome::Wait(ticket, fresh, visit)) => {
                if fresh {
                    set_cookies.extend(cookies::set(
                        cookies::TICKET,
                        &self.tickets.sign(&ticket),
                        86_400,
                    ));
                }
                let standing = match visit {
                    Visit::Waiting(p) => Standing::Waiting(p, false),
                    Visit::Paused(p) => Standing::Waiting(p, true),
                    Visit::PreQueue(s) => Standing::PreQueue(s),
                    _ => Standing::Unavailable,
                };
                Decision::Answer(Answer {
                    room: Some(ri),
                    standing,
                    set_cookies,
                    challenge: None,
                })
            }
            Ok(Outcome::Closed) => Decision::Answer(Answer {
                room: Some(ri),
                standing: Standing::Closed,
                set_cookies,
                challenge: None,
            }),
            Ok(Outcome::Challenge(token, bits)) => Decision::Answer(Answer {
                room: Some(ri),
                standing: Standing::Challenge(bits),
                set_cookies,
                challenge: Some(token),
            }),
            Ok(Outcome::TooMany(secs)) => Decision::Answer(Answer {
                room: Some(ri),
                standing: Standing::TooMany(secs.min(u32::MAX as u64) as u32),
                set_cookies,
                challenge: None,
            }),
            Err(e) => self.store_failed(ri, e, set_cookies),
        }
    }

    /// Fail closed (or, if the operator chose it, open) on a store error.
    pub fn store_failed(
        &self,
        ri: usize,
        e: StoreError,
        set_cookies: Vec<HeaderValue>,
    ) -> Decision {
        self.metrics.store_up.set(0);
        if self.policy().fail_open {
            tracing::warn!(room = %self.policy().routes[ri].name, error = %e, "queue store failed: letting the request through (on_store_failure = \"open\")");
            return Decision::Forward(Admission {
                set_cookies,
                ..Admission::default()
            });
        }
        tracing::warn!(room = %self.policy().routes[ri].name, error = %e, "queue store failed: admitting nobody new");
        Decision::Answer(Answer {
            room: Some(ri),
            standing: Standing::Unavailable,
            set_cookies,
            challenge: None,
        })
    }

    async fn check_pass(
        &self,
        ri: usize,
        token: &str,
        client: IpAddr,
        now_ms: u64,
    ) -> Result<Admission, PassRefused> {
        let policy = self.policy();
        let room = &policy.routes[ri];
        let now = now_ms / 1000;
        let net = abuse::Network::of(client);
        let verified = self
            .passes
            .verify(token, &room.name, now)
            .and_then(|c| match &c.net {
                Some(bound) if policy.abuse.bind_pass_to_network && *bound != net.to_string() => {
                    Err(crate::pass::Rejection::WrongNetwork)
                }
                _ => Ok(c),
            });
        match verified {
            Ok(claims) => {
                if let Some(why) = self.sharing.record(&claims.jti, net, &policy.abuse, now) {
                    self.metrics.abuse.with_label_values(&["pass_shared"]).inc();
                    tracing::warn!(room = %room.name, session = %claims.jti, why = why.as_str(), "pass shared: revoked");
                    self.sharing.mark(&claims.jti, claims.send, now);
                    self.end_session(ri, &claims).await;
                    return Err(PassRefused::Shared);
                }
                let mut adm = Admission {
                    pass: HeaderValue::from_str(token).ok(),
                    session: Some((ri, claims.clone())),
                    set_cookies: Vec::new(),
                };
                let idle = room.settings.session_idle.as_secs();
                if let Ok(Some((fresh, renewed))) = self.passes.renew(&claims, idle, now) {
                    // A store outage must not stop pass holders: the touch is best effort.
                    let _ = self
                        .store
                        .touch_session(&room.name, &renewed.jti, renewed.exp)
                        .await;
                    let renewed = Arc::new(renewed);
                    adm.set_cookies
                        .extend(self.pass_cookie(&fresh, &renewed, now_ms));
                    adm.pass = HeaderValue::from_str(&fresh).ok();
                    adm.session = Some((ri, renewed));
                }
                Ok(adm)
            }
            Err(r) => {
                self.metrics
                    .pass_rejections
                    .with_label_values(&[r.as_str()])
                    .inc();
                tracing::info!(room = %room.name, reason = r.as_str(), "pass refused");
                let shared = r == crate::pass::Rejection::Revoked
                    && crate::pass::unverified_jti(token)
                        .is_some_and(|j| self.sharing.was_shared(&j));
                Err(if shared {
                    PassRefused::Shared
                } else {
                    PassRefused::Invalid
                })
            }
        }
    }

    /// Asks the room about a visitor with an optional ticket: a pass, a place, or closed.
    pub async fn admit(
        &self,
        ri: usize,
        ticket: Option<Ticket>,
        arrival: &Arrival<'_>,
        now_ms: u64,
    ) -> Result<Outcome, StoreError> {
        let policy = self.policy();
        let room = &policy.routes[ri];
        if let Some(t) = ticket {
            let place = match t.phase {
                Phase::Fifo => Some(t.place as usize),
                Phase::PreQueue => match self
                    .store
                    .prequeue(&room.name, t.place as usize, now_ms)
                    .await?
                {
                    PreQueue::Pending(p) => {
                        let wait = pre_wait(p, &room.settings, now_ms);
                        return Ok(Outcome::Wait(t, false, Visit::PreQueue(wait)));
                    }
                    PreQueue::Drawn(p) => Some(p),
                    PreQueue::Unknown => None,
                },
            };
            if let Some(place) = place {
                match self.store.poll(&room.name, place, now_ms).await? {
                    Visit::Called => {
                        let jti = self
                            .passes
                            .session_id()
                            .map_err(|_| StoreError::Unavailable)?;
                        if self.store.claim(&room.name, place, &jti, now_ms).await? {
                            let visitor = format!("{:016x}", t.visitor);
                            return self.mint(ri, &visitor, &jti, arrival.client, now_ms);
                        }
                        let v = self.store.poll(&room.name, place, now_ms).await?;
                        return Ok(Outcome::Wait(t, false, v));
                    }
                    Visit::Closed => return Ok(Outcome::Closed),
                    // Claimed before but the pass is gone, or the place was lost: join again.
                    Visit::Admitted | Visit::Gone => {}
                    v => return Ok(Outcome::Wait(t, false, v)),
                }
            }
        }
        // A new place: what it costs this network first.
        let net = abuse::Network::of(arrival.client);
        if let Some(out) = self.gatekeep(ri, net, arrival, now_ms) {
            return Ok(out);
        }
        let jti = self
            .passes
            .session_id()
            .map_err(|_| StoreError::Unavailable)?;
        let visitor = self.random_u64();
        let joined = self.store.join(&room.name, &jti, now_ms).await?;
        if !matches!(joined, Join::Closed) {
            self.guard.took_place(net, &policy.abuse, now_ms / 1000);
        }
        match joined {
            Join::Admitted => {
                self.mint(ri, &format!("{visitor:016x}"), &jti, arrival.client, now_ms)
            }
            Join::Queued(place) => {
                let t = new_ticket(&room.name, visitor, place, Phase::Fifo, now_ms);
                let v = self.store.poll(&room.name, place, now_ms).await?;
                Ok(Outcome::Wait(t, true, v))
            }
            Join::PreQueued(i) => {
                let t = new_ticket(&room.name, visitor, i, Phase::PreQueue, now_ms);
                let p = match self.store.prequeue(&room.name, i, now_ms).await? {
                    PreQueue::Pending(p) => p,
                    _ => crate::room::Pending::of(i, 0, 0, 0),
                };
                let wait = pre_wait(p, &room.settings, now_ms);
                Ok(Outcome::Wait(t, true, Visit::PreQueue(wait)))
            }
            Join::Closed => Ok(Outcome::Closed),
        }
    }

    /// The price of a new place for `net`: nothing, a challenge to solve first, or —
    /// over the network's cap — a refusal for now.
    fn gatekeep(
        &self,
        ri: usize,
        net: abuse::Network,
        arrival: &Arrival<'_>,
        now_ms: u64,
    ) -> Option<Outcome> {
        let now = now_ms / 1000;
        let policy = self.policy();
        let a = &policy.abuse;
        if let Some(secs) = self.guard.over_cap(net, a, now) {
            self.metrics
                .abuse
                .with_label_values(&["too_many_places"])
                .inc();
            return Some(Outcome::TooMany(secs));
        }
        let room = &policy.routes[ri];
        let line = match room.settings.mode {
            Mode::Queue | Mode::Paused => true,
            Mode::Auto => self.busy[ri].load(Ordering::Relaxed),
            Mode::Open | Mode::Closed => false,
        };
        if a.challenge_bits == 0 || !line {
            return None;
        }
        let bits = self.guard.attempt(net, a, now);
        if let Some((challenge, solution)) = arrival.answer {
            match self.challenges.redeem(challenge, solution, &room.name, now) {
                Ok(_) => {
                    self.metrics
                        .abuse
                        .with_label_values(&["challenge_solved"])
                        .inc();
                    return None;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "join challenge refused");
                    self.metrics
                        .abuse
                        .with_label_values(&["challenge_failed"])
                        .inc();
                }
            }
        }
        self.metrics
            .abuse
            .with_label_values(&["challenge_issued"])
            .inc();
        Some(Outcome::Challenge(
            self.challenges.issue(&room.name, bits, now),
            bits,
        ))
    }

    fn mint(
        &self,
        ri: usize,
        visitor: &str,
        jti: &str,
        client: IpAddr,
        now_ms: u64,
    ) -> Result<Outcome, StoreError> {
        let policy = self.policy();
        let room = &policy.routes[ri];
        let session = Session {
            idle: room.settings.session_idle.as_secs(),
            max: room.settings.session_max.as_secs(),
        };
        let net = policy
            .abuse
            .bind_pass_to_network
            .then(|| abuse::Network::of(client).to_string());
        match self
            .passes
            .mint_bound(&room.name, visitor, jti, session, now_ms / 1000, net)
        {
            Ok((token, claims)) => Ok(Outcome::Pass(token, Arc::new(claims))),
            Err(e) => {
                tracing::error!(error = %e, "cannot mint a pass");
                Err(StoreError::Unavailable)
            }
        }
    }

    /// The `Set-Cookie` for a pass, living as long as the pass.
    pub fn pass_cookie(
        &self,
        token: &str,
        claims: &PassClaims,
        now_ms: u64,
    ) -> Option<HeaderValue> {
        cookies::set(
            cookies::PASS,
            token,
            claims.exp.saturating_sub(now_ms / 1000).max(1),
        )
    }

    /// Verifies a ticket string.
    pub fn ticket(&self, text: &str) -> Option<Ticket> {
        self.tickets.verify(text).ok()
    }

    /// The signed form of a ticket.
    pub fn sign_ticket(&self, t: &Ticket) -> String {
        self.tickets.sign(t)
    }

    /// Room index by name.
    pub fn room_index(&self, name: &str) -> Option<usize> {
        self.policy().routes.iter().position(|r| r.name == name)
    }

    fn random_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        let _ = ring::rand::SecureRandom::fill(&self.rng, &mut b);
        u64::from_le_bytes(b)
    }
}

/// A new visitor's ticket for `place`.
fn new_ticket(room: &str, visitor: u64, place: usize, phase: Phase, now_ms: u64) -> Ticket {
    Ticket {
        room: room.to_string(),
        visitor,
        place: place as u32,
        phase,
        issued: (now_ms / 1000) as u32,
    }
}

/// The pass a request presents: the app header, else the cookie.
pub fn pass_from(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(PASS_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| cookies::get(headers, cookies::PASS))
}

/// What a pre-queue visitor is told: the time to the start and when to come back.
fn pre_wait(
    p: crate::room::Pending,
    s: &crate::room::RoomSettings,
    now_ms: u64,
) -> crate::room::PreQueueWait {
    crate::room::PreQueueWait {
        starts_in: p.starts_in(),
        starts_at_ms: now_ms.saturating_add(p.starts_in_ms),
        poll_ms: crate::room::prequeue_poll_ms(p, s),
    }
}
