//! The waiting room at the door (docs/DESIGN.md §3 steps 2–5): which room a request is
//! for, whether its pass lets it through, and — without one — the room's decision: in
//! now, or a place in line. Fails closed when the store is down.
//!
//! `build.rs` makes the gate from the config (keys, store, routes) and reloads it;
//! `decide.rs` decides each request; `upkeep.rs` is the background work (the admission
//! tick, revocations from other nodes); `routing.rs` matches rooms and bypass rules;
//! `abuse.rs`, `challenge.rs` and `sharing.rs` price a new place and catch shared passes.

mod abuse;
mod build;
pub mod challenge;
mod decide;
mod keys;
mod routing;
mod sharing;
mod upkeep;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{header, HeaderMap, HeaderValue};

pub use build::GateError;
pub use routing::Policy;

use crate::metrics::Metrics;
use crate::pass::{PassClaims, Passes};
use crate::protocol::{
    cookies, State, CHALLENGE_HEADER, PASS_COOKIE, PASS_HEADER, SOLUTION_HEADER, TICKET_COOKIE,
};
use crate::room::ticket::{Ticket, TicketKeys};
use crate::room::Visit;
use crate::store::QueueStore;

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

impl Answer {
    /// `standing` in room `room`, setting `set_cookies`.
    fn new(room: Option<usize>, standing: Standing, set_cookies: Vec<HeaderValue>) -> Self {
        Self {
            room,
            standing,
            set_cookies,
            challenge: None,
        }
    }
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

impl Standing {
    /// The wire state the visitor is told (`protocol::State`).
    pub fn state(self) -> State {
        match self {
            Standing::Waiting(_, false) | Standing::PreQueue(_) => State::Waiting,
            Standing::Waiting(_, true) => State::Paused,
            Standing::Closed => State::Closed,
            Standing::Unavailable | Standing::NotFound => State::Unavailable,
            Standing::Challenge(_) => State::Challenge,
            Standing::TooMany(_) => State::TooMany,
            Standing::Shared => State::Shared,
        }
    }

    /// The standing of a visitor the room has in line.
    pub fn of_visit(visit: Visit) -> Self {
        match visit {
            Visit::Waiting(p) => Standing::Waiting(p, false),
            Visit::Paused(p) => Standing::Waiting(p, true),
            Visit::PreQueue(s) => Standing::PreQueue(s),
            Visit::Closed => Standing::Closed,
            _ => Standing::Unavailable,
        }
    }
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

/// What a request presents to the waiting room, read once from its head: who sends it
/// and the credentials it carries.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The client's address (the peer, or what a trusted proxy forwarded for).
    pub client: IpAddr,
    /// The pass: the app header, else the cookie.
    pub pass: Option<&'a str>,
    /// The ticket cookie (browsers).
    pub ticket_cookie: Option<&'a str>,
    /// `Authorization: Bearer <ticket>` (apps).
    pub bearer: Option<&'a str>,
    /// `(challenge, solution)`: the answer to a join challenge.
    pub answer: Option<(&'a str, &'a str)>,
}

impl<'a> Credentials<'a> {
    /// Reads a request's credentials from its `headers`, sent from `client`.
    pub fn read(headers: &'a HeaderMap, client: IpAddr) -> Self {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        Self {
            client,
            pass: h(PASS_HEADER).or_else(|| cookies::get(headers, PASS_COOKIE)),
            ticket_cookie: cookies::get(headers, TICKET_COOKIE),
            bearer,
            answer: h(CHALLENGE_HEADER).zip(h(SOLUTION_HEADER)),
        }
    }

    /// The ticket an app (bearer) or a browser (cookie) sends.
    pub fn ticket(&self) -> Option<&'a str> {
        self.bearer.or(self.ticket_cookie)
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
    challenges: challenge::Challenges,
    /// Per-network join accounting.
    guard: abuse::Guard,
    /// Per-session pass use, to catch shared passes.
    sharing: sharing::Sharing,
    /// Per room: a line has formed (as of the last tick), so joining costs a challenge.
    busy: Box<[AtomicBool]>,
    /// Per room: when (Unix seconds) the site's sold-out answer last closed it.
    sold_out_at: Box<[AtomicU64]>,
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
    /// The rooms and rules in force (a snapshot: a reload does not change it).
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    /// The `Set-Cookie` for a pass, living as long as the pass.
    pub fn pass_cookie(
        &self,
        token: &str,
        claims: &PassClaims,
        now_ms: u64,
    ) -> Option<HeaderValue> {
        cookies::set(
            PASS_COOKIE,
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
