//! Deciding one request: bypass rules, the room, the pass, and — without a valid pass —
//! the room's answer (in now, a place in line, or what a new place costs first).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{HeaderValue, Method};

use super::{abuse, Admission, Answer, Credentials, Decision, Gate, Outcome, Standing};
use crate::config::DefaultAction;
use crate::pass::Session;
use crate::protocol::{cookies, PASS_COOKIE, TICKET_COOKIE};
use crate::room::ticket::{Phase, Ticket};
use crate::room::{Join, Mode, PreQueue, Visit};
use crate::store::{Store, StoreError};

/// How long a ticket cookie lives: a place in line is kept for a day.
const TICKET_COOKIE_SECS: u64 = 86_400;

/// Why a presented pass did not let the request through.
enum PassRefused {
    /// Forged, expired, for another room, revoked…: treated as no pass.
    Invalid,
    /// Revoked because it was shared: the holder is told so.
    Shared,
}

impl Gate {
    /// The gate's phase for a request that is not for `/_usher/`: `method`, `host` and
    /// `path` as the proxy normalised them, `creds` as it read them.
    pub async fn decide(
        &self,
        method: &Method,
        host: Option<&str>,
        path: &str,
        creds: &Credentials<'_>,
        headers: &http::HeaderMap,
    ) -> Decision {
        if self.bypassed(method, path, headers, creds.client) {
            return Decision::Forward(Admission::default());
        }
        let Some(ri) = self.route(host, path) else {
            return match self.policy().default_action {
                DefaultAction::Forward => Decision::Forward(Admission::default()),
                DefaultAction::Deny => {
                    Decision::Answer(Answer::new(None, Standing::NotFound, Vec::new()))
                }
            };
        };
        let now_ms = super::unix_ms();
        let mut set_cookies = Vec::new();
        if let Some(token) = creds.pass {
            match self.check_pass(ri, token, creds.client, now_ms).await {
                Ok(adm) => return Decision::Forward(adm),
                Err(PassRefused::Invalid) => set_cookies.push(cookies::clear(PASS_COOKIE)),
                Err(PassRefused::Shared) => {
                    // The owner is told why, once per request with the revoked pass; without
                    // it they may join the line again like anyone.
                    let clear = vec![cookies::clear(PASS_COOKIE)];
                    return Decision::Answer(Answer::new(Some(ri), Standing::Shared, clear));
                }
            }
        }
        let ticket = creds
            .ticket_cookie
            .and_then(|t| self.tickets.verify(t).ok())
            .filter(|t| t.room == self.policy().routes[ri].name);
        let outcome = match self.admit(ri, ticket, creds, now_ms).await {
            Ok(outcome) => outcome,
            Err(e) => return self.store_failed(ri, e, set_cookies),
        };
        let standing = match outcome {
            Outcome::Pass(token, claims) => {
                set_cookies.extend(self.pass_cookie(&token, &claims, now_ms));
                set_cookies.push(cookies::clear(TICKET_COOKIE));
                return Decision::Forward(Admission {
                    pass: HeaderValue::from_str(&token).ok(),
                    session: Some((ri, claims)),
                    set_cookies,
                });
            }
            Outcome::Wait(ticket, fresh, visit) => {
                if fresh {
                    set_cookies.extend(self.ticket_cookie(&self.tickets.sign(&ticket)));
                }
                Standing::of_visit(visit)
            }
            Outcome::Closed => Standing::Closed,
            Outcome::Challenge(token, bits) => {
                let mut answer = Answer::new(Some(ri), Standing::Challenge(bits), set_cookies);
                answer.challenge = Some(token);
                return Decision::Answer(answer);
            }
            Outcome::TooMany(secs) => Standing::TooMany(secs.min(u32::MAX as u64) as u32),
        };
        Decision::Answer(Answer::new(Some(ri), standing, set_cookies))
    }

    /// The `Set-Cookie` for a signed ticket.
    pub fn ticket_cookie(&self, signed: &str) -> Option<HeaderValue> {
        cookies::set(TICKET_COOKIE, signed, TICKET_COOKIE_SECS)
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
        Decision::Answer(Answer::new(Some(ri), Standing::Unavailable, set_cookies))
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
        let claims = match verified {
            Ok(claims) => claims,
            Err(r) => {
                self.metrics
                    .pass_rejections
                    .with_label_values(&[r.as_str()])
                    .inc();
                tracing::info!(room = %room.name, reason = r.as_str(), "pass refused");
                let shared = r == crate::pass::Rejection::Revoked
                    && crate::pass::unverified_jti(token)
                        .is_some_and(|j| self.sharing.was_shared(&j));
                return Err(if shared {
                    PassRefused::Shared
                } else {
                    PassRefused::Invalid
                });
            }
        };
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

    /// Asks the room about a visitor with an optional ticket: a pass, a place, or closed.
    pub async fn admit(
        &self,
        ri: usize,
        ticket: Option<Ticket>,
        creds: &Credentials<'_>,
        now_ms: u64,
    ) -> Result<Outcome, StoreError> {
        if let Some(t) = ticket {
            if let Some(out) = self.admit_holder(ri, t, creds.client, now_ms).await? {
                return Ok(out);
            }
        }
        self.admit_new(ri, creds, now_ms).await
    }

    /// A visitor with a ticket: their place's answer, or `None` when the place is gone
    /// (claimed before but the pass is lost, or skipped for good) and they join again.
    async fn admit_holder(
        &self,
        ri: usize,
        t: Ticket,
        client: IpAddr,
        now_ms: u64,
    ) -> Result<Option<Outcome>, StoreError> {
        let policy = self.policy();
        let room = &policy.routes[ri];
        let place = match t.phase {
            Phase::Fifo => t.place as usize,
            Phase::PreQueue => match self
                .store
                .prequeue(&room.name, t.place as usize, now_ms)
                .await?
            {
                PreQueue::Pending(p) => {
                    let wait = pre_wait(p, &room.settings, now_ms);
                    return Ok(Some(Outcome::Wait(t, false, Visit::PreQueue(wait))));
                }
                PreQueue::Drawn(p) => p,
                PreQueue::Unknown => return Ok(None),
            },
        };
        match self.store.poll(&room.name, place, now_ms).await? {
            Visit::Called => {
                let jti = self
                    .passes
                    .session_id()
                    .map_err(|_| StoreError::Unavailable)?;
                if self.store.claim(&room.name, place, &jti, now_ms).await? {
                    let visitor = format!("{:016x}", t.visitor);
                    return self.mint(ri, &visitor, &jti, client, now_ms).map(Some);
                }
                let v = self.store.poll(&room.name, place, now_ms).await?;
                Ok(Some(Outcome::Wait(t, false, v)))
            }
            Visit::Closed => Ok(Some(Outcome::Closed)),
            Visit::Admitted | Visit::Gone => Ok(None),
            v => Ok(Some(Outcome::Wait(t, false, v))),
        }
    }

    /// A new place in room `ri`, once the network has paid what it costs.
    async fn admit_new(
        &self,
        ri: usize,
        creds: &Credentials<'_>,
        now_ms: u64,
    ) -> Result<Outcome, StoreError> {
        let policy = self.policy();
        let room = &policy.routes[ri];
        let net = abuse::Network::of(creds.client);
        if let Some(out) = self.gatekeep(ri, net, creds.answer, now_ms) {
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
            Join::Admitted => self.mint(ri, &format!("{visitor:016x}"), &jti, creds.client, now_ms),
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
        answer: Option<(&str, &str)>,
        now_ms: u64,
    ) -> Option<Outcome> {
        let now = now_ms / 1000;
        let policy = self.policy();
        let a = &policy.abuse;
        if let Some(secs) = self.guard.over_cap(net, a, now) {
            self.abuse_event("too_many_places");
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
        if let Some((challenge, solution)) = answer {
            match self.challenges.redeem(challenge, solution, &room.name, now) {
                Ok(_) => {
                    self.abuse_event("challenge_solved");
                    return None;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "join challenge refused");
                    self.abuse_event("challenge_failed");
                }
            }
        }
        self.abuse_event("challenge_issued");
        Some(Outcome::Challenge(
            self.challenges.issue(&room.name, bits, now),
            bits,
        ))
    }

    fn abuse_event(&self, event: &str) {
        self.metrics.abuse.with_label_values(&[event]).inc();
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
