//! One simulated visitor, as an app would behave: arrive, join the line (solving a join
//! challenge when asked), poll `/_usher/status` at the pace usher sets, take the pass, read
//! the event, book it with an `Idempotency-Key`, give the slot back. Some abandon while
//! waiting, some drop their connection and come back with the same ticket, some poll from
//! two tabs — still one visitor with one place.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;
use tokio::sync::Notify;

use super::client::{Pool, Reply};
use super::stats::{lock, End, Step};
use super::{Ctx, Rng};
use crate::protocol::challenge::solve;
use crate::protocol::{
    State, CHALLENGE_HEADER, JOIN_PATH, LEAVE_PATH, PASS_COOKIE as PASS, PASS_HEADER,
    SOLUTION_HEADER, STATUS_PATH, TICKET_COOKIE as TICKET,
};

/// Retries of one request after a network error or a 5xx, with the same idempotency key.
pub(super) const MAX_RETRIES: u32 = 3;
/// How long a visitor who drops the connection stays away (ms, at least and at most).
const DROP_MS: (u64, u64) = (1_000, 4_000);

/// What one visitor will do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Visitor number.
    pub id: u64,
    /// When they arrive, after the run starts.
    pub arrive: Duration,
    /// Abandon the line after this many polls.
    pub abandon_at: Option<u32>,
    /// Drop the connection after this many polls, then come back.
    pub reconnect_at: Option<u32>,
    /// Poll from a second tab too.
    pub tabs: bool,
    /// Seed of their own choices (which seats, how long away).
    pub seed: u64,
}

/// What an app keeps: the ticket while in line, the pass once in.
#[derive(Debug, Default, Clone)]
struct Jar {
    ticket: Option<String>,
    pass: Option<String>,
}

/// Which credentials a request carries.
pub(super) enum Creds<'a> {
    /// Whatever the visitor holds.
    Held,
    /// Only this ticket (a place taken by mistake, being given back).
    Ticket(&'a str),
}

/// What the proxy's answer means for a visitor trying to get in.
enum Heard {
    /// In, with the site's answer when the request reached it.
    In(Option<Value>),
    /// A place in line; ask again after this long.
    Line(Duration),
    /// Nothing for now (store down, too many places from this network): ask again later.
    Later(Duration),
    /// A transient failure worth a retry, by kind.
    Retry(String),
    /// The room is closed.
    Closed,
    /// A failure not worth retrying.
    Failed(String),
}

/// Where a visitor stands after arriving.
enum Joined {
    /// Straight in, with the site's answer when the request reached it.
    In(Option<Value>),
    /// In line; the first poll is due after this long.
    Line(Duration),
}

/// A visitor at work.
pub(super) struct Visitor<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) plan: Plan,
    jar: Mutex<Jar>,
    pool: Mutex<Pool>,
    pub(super) rng: Mutex<Rng>,
    /// With two tabs: one of them is done waiting.
    done: AtomicBool,
    wake: Notify,
}

/// Runs one visit from arrival to the end and records it.
pub(crate) async fn visit(ctx: std::sync::Arc<Ctx>, plan: Plan) {
    tokio::time::sleep_until((ctx.stats.start() + plan.arrive).into()).await;
    ctx.stats.c.arrived.fetch_add(1, Ordering::Relaxed);
    // A visitor who will drop the connection has one of their own to drop.
    let pool = if plan.reconnect_at.is_some() {
        ctx.http.pool()
    } else {
        let i = usize::try_from(plan.id).unwrap_or(0) % ctx.pools.len().max(1);
        ctx.pools.get(i).cloned().unwrap_or_else(|| ctx.http.pool())
    };
    let v = Visitor {
        ctx: &ctx,
        rng: Mutex::new(Rng::new(plan.seed)),
        plan,
        jar: Mutex::new(Jar::default()),
        pool: Mutex::new(pool),
        done: AtomicBool::new(false),
        wake: Notify::new(),
    };
    let end = v.run().await;
    ctx.stats.finish(&end);
}

/// Pause before retry `n` (1-based): 200 ms, 400 ms, 800 ms.
pub(super) fn backoff(n: u32) -> Duration {
    Duration::from_millis(100 << n.min(6))
}

impl Visitor<'_> {
    async fn run(&self) -> End {
        let arrived = Instant::now();
        let body = match self.join(arrived).await {
            Ok(Joined::In(body)) => body,
            Ok(Joined::Line(first_poll)) => {
                let in_line = Instant::now();
                let waited = self.wait(first_poll).await;
                self.ctx.stats.c.in_line.fetch_sub(1, Ordering::Relaxed);
                match waited {
                    Ok(body) => {
                        self.ctx.stats.record(Step::Wait, in_line.elapsed());
                        body
                    }
                    Err(end) => return end,
                }
            }
            Err(end) => return end,
        };
        self.ctx.stats.admitted();
        let end = self.shop(body).await.unwrap_or_else(|e| e);
        // Done with the site: the slot goes to the next in line at once.
        let _ = self
            .send(Method::POST, LEAVE_PATH, Creds::Held, &[], None)
            .await;
        end
    }

    fn late(&self) -> bool {
        Instant::now() >= self.ctx.deadline
    }

    /// Sleeps `d` (never past the deadline); true if another tab finished meanwhile.
    async fn nap(&self, d: Duration) -> bool {
        let until = (Instant::now() + d).min(self.ctx.deadline);
        let woken = self.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if self.done.load(Ordering::Acquire) {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = woken => {}
        }
        self.done.load(Ordering::Acquire)
    }

    /// Sends a request with `creds`, keeping what usher hands out (cookies, JSON fields).
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        creds: Creds<'_>,
        extra: &[(&'static str, &str)],
        body: Option<String>,
    ) -> Result<Reply, String> {
        let jar = lock(&self.jar).clone();
        let (ticket, pass) = match creds {
            Creds::Held => (jar.ticket.map(|t| format!("Bearer {t}")), jar.pass),
            Creds::Ticket(t) => (Some(format!("Bearer {t}")), None),
        };
        let mut headers = extra.to_vec();
        if let Some(t) = &ticket {
            headers.push(("authorization", t));
        }
        if let Some(p) = &pass {
            headers.push((PASS_HEADER, p));
        }
        let pool = lock(&self.pool).clone();
        self.ctx.stats.c.requests.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .ctx
            .http
            .send(&pool, method, path, &headers, body)
            .await
            .map_err(|e| e.kind.to_string())?;
        if matches!(creds, Creds::Held) {
            self.keep(&reply);
        }
        Ok(reply)
    }

    /// Keeps the ticket and pass usher set (as cookies, or in its JSON for apps).
    fn keep(&self, r: &Reply) {
        let mut jar = lock(&self.jar);
        for (name, value) in &r.cookies {
            let slot = match name.as_str() {
                TICKET => &mut jar.ticket,
                PASS => &mut jar.pass,
                _ => continue,
            };
            *slot = (!value.is_empty()).then(|| value.clone());
        }
        if let Some(a) = &r.answer {
            if let Some(t) = &a.ticket {
                jar.ticket = Some(t.to_string());
            }
            if let Some(p) = &a.pass {
                jar.pass = Some(p.to_string());
            }
        }
    }

    /// What an answer means for getting in.
    fn hear(&self, r: &Reply) -> Heard {
        let Some(a) = &r.answer else {
            return match r.status {
                200 => Heard::In(Some(r.json.clone())),
                s if s >= 500 => Heard::Retry(format!("http {s}")),
                s => Heard::Failed(format!("http {s}")),
            };
        };
        let poll = Duration::from_millis(a.poll_ms.into());
        if let Some(at) = a.starts_at_ms {
            self.ctx.stats.saw_start(at);
        }
        match a.state {
            State::Waiting | State::Paused => {
                if let (Some(ahead), Some(behind)) = (a.ahead, a.behind) {
                    self.ctx
                        .stats
                        .saw_line(u64::from(ahead) + 1 + u64::from(behind));
                }
                Heard::Line(poll)
            }
            State::Called | State::Admitted if lock(&self.jar).pass.is_some() => Heard::In(None),
            // Still a challenge after answering: the solutions were refused.
            State::Challenge => Heard::Retry("challenge".into()),
            State::TooMany => Heard::Later(Duration::from_secs(a.retry_after.unwrap_or(5))),
            State::Unavailable => Heard::Later(poll),
            State::Closed => Heard::Closed,
            State::Shared => Heard::Failed("pass_shared".into()),
            State::Called | State::Admitted if r.status >= 500 => {
                Heard::Retry(format!("http {}", r.status))
            }
            State::Called | State::Admitted => Heard::Failed(format!("http {}", r.status)),
        }
    }

    /// Asks usher (a page of the site, or a status poll) and hears the answer; a join
    /// challenge is solved and answered at once.
    async fn ask(&self, path: &str) -> Heard {
        let mut reply = self.send(Method::GET, path, Creds::Held, &[], None).await;
        for _ in 0..MAX_RETRIES {
            let Some((challenge, bits, join)) = reply.as_ref().ok().and_then(challenge_of) else {
                break;
            };
            // Another tab got in meanwhile (its pass cleared the shared ticket): a browser
            // would now carry the pass, not solve a second challenge.
            if self.done.load(Ordering::Acquire) || lock(&self.jar).pass.is_some() {
                break;
            }
            let c = challenge.clone();
            let solution = tokio::task::spawn_blocking(move || solve(&c, bits))
                .await
                .unwrap_or_default();
            self.ctx.stats.c.challenges.fetch_add(1, Ordering::Relaxed);
            let answer = [
                (CHALLENGE_HEADER, challenge.as_str()),
                (SOLUTION_HEADER, solution.as_str()),
            ];
            reply = self
                .send(Method::POST, &join, Creds::Held, &answer, None)
                .await;
        }
        match reply {
            Ok(r) => self.hear(&r),
            Err(kind) => Heard::Retry(kind),
        }
    }

    /// Arrives at the event's page: straight in, or a place in line.
    async fn join(&self, arrived: Instant) -> Result<Joined, End> {
        let entry = self.ctx.config.event.entry_path();
        let mut failures = 0;
        loop {
            if self.late() {
                return Err(End::TimedOut);
            }
            // Told to come back later while already holding a ticket: that is a place.
            let held_ticket = lock(&self.jar).ticket.is_some();
            let heard = match held_ticket {
                true => Heard::Line(Duration::from_secs(1)),
                false => self.ask(&entry).await,
            };
            let c = &self.ctx.stats.c;
            match heard {
                Heard::In(body) => {
                    c.joined.fetch_add(1, Ordering::Relaxed);
                    self.ctx.stats.record(Step::Join, arrived.elapsed());
                    return Ok(Joined::In(body));
                }
                Heard::Line(first_poll) => {
                    c.joined.fetch_add(1, Ordering::Relaxed);
                    c.waited.fetch_add(1, Ordering::Relaxed);
                    c.in_line.fetch_add(1, Ordering::Relaxed);
                    self.ctx.stats.record(Step::Join, arrived.elapsed());
                    return Ok(Joined::Line(first_poll));
                }
                Heard::Later(d) => {
                    self.nap(d).await;
                }
                Heard::Retry(kind) => {
                    failures += 1;
                    if failures > MAX_RETRIES {
                        return Err(End::Failed(kind));
                    }
                    c.retries.fetch_add(1, Ordering::Relaxed);
                    self.nap(backoff(failures)).await;
                }
                Heard::Closed => return Err(End::Closed),
                Heard::Failed(kind) => return Err(End::Failed(kind)),
            }
        }
    }

    /// Waits in line until the pass is in hand (from one tab, or two), polling first after
    /// `first_poll` as the join's answer asked.
    async fn wait(&self, first_poll: Duration) -> Result<Option<Value>, End> {
        if !self.plan.tabs {
            return self.tab(0, first_poll).await.unwrap_or(Err(End::TimedOut));
        }
        self.ctx.stats.c.tabs.fetch_add(1, Ordering::Relaxed);
        let (a, b) = tokio::join!(self.tab(0, first_poll), self.tab(1, first_poll));
        let mut ends: Vec<_> = a.into_iter().chain(b).collect();
        ends.sort_by_key(Result::is_err);
        ends.into_iter().next().unwrap_or(Err(End::TimedOut))
    }

    /// Ends the waiting for every tab.
    fn over<T>(&self, r: T) -> Option<T> {
        self.done.store(true, Ordering::Release);
        self.wake.notify_waiters();
        Some(r)
    }

    /// One tab polling `/_usher/status` at the pace usher asks, the first time after
    /// `first_poll`; `None` when another tab finished first.
    async fn tab(&self, n: u32, first_poll: Duration) -> Option<Result<Option<Value>, End>> {
        // A second tab is opened a moment after the first and polls at once, as a
        // freshly loaded waiting page does.
        let mut pause = match n {
            0 => first_poll,
            _ => Duration::from_millis(100 + lock(&self.rng).below(900)),
        };
        let (mut polls, mut failures) = (0u32, 0u32);
        loop {
            if self.nap(pause).await {
                return None;
            }
            if self.late() {
                return self.over(Err(End::TimedOut));
            }
            let sent = lock(&self.jar).ticket.clone();
            let heard = self.ask(STATUS_PATH).await;
            polls += 1;
            self.ctx.stats.c.polls.fetch_add(1, Ordering::Relaxed);
            if self.done.load(Ordering::Acquire) {
                // The other tab got in while this poll was on its way: a place this poll
                // was given (the old one being claimed) goes back at once.
                let stray = lock(&self.jar)
                    .ticket
                    .take()
                    .filter(|t| Some(t) != sent.as_ref());
                if let Some(t) = stray {
                    let _ = self
                        .send(Method::POST, LEAVE_PATH, Creds::Ticket(&t), &[], None)
                        .await;
                }
                return None;
            }
            let first = n == 0;
            pause = match heard {
                Heard::In(body) => return self.over(Ok(body)),
                Heard::Line(_) if first && Some(polls) == self.plan.abandon_at => {
                    return self.over(Err(End::Abandoned));
                }
                Heard::Line(poll) => {
                    failures = 0;
                    if first && Some(polls) == self.plan.reconnect_at {
                        self.reconnect().await;
                    }
                    poll
                }
                Heard::Later(d) => d,
                Heard::Retry(kind) => {
                    failures += 1;
                    if failures > MAX_RETRIES {
                        return self.over(Err(End::Failed(kind)));
                    }
                    self.ctx.stats.c.retries.fetch_add(1, Ordering::Relaxed);
                    backoff(failures)
                }
                Heard::Closed => return self.over(Err(End::Closed)),
                Heard::Failed(kind) => return self.over(Err(End::Failed(kind))),
            };
        }
    }

    /// Drops the connection (a phone losing its network), stays away a moment, and comes
    /// back on a new one with the same ticket.
    async fn reconnect(&self) {
        self.ctx.stats.c.reconnected.fetch_add(1, Ordering::Relaxed);
        // The old pool, and with it the connection, goes when replaced; the new one
        // connects on the next request.
        drop(std::mem::replace(
            &mut *lock(&self.pool),
            self.ctx.http.pool(),
        ));
        let away = {
            let mut rng = lock(&self.rng);
            DROP_MS.0 + rng.below(DROP_MS.1 - DROP_MS.0)
        };
        self.nap(Duration::from_millis(away)).await;
    }
}

/// A join challenge in an answer: the challenge, its difficulty, where to send the answer.
fn challenge_of(r: &Reply) -> Option<(String, u8, String)> {
    let a = r.answer.as_ref().filter(|a| a.state == State::Challenge)?;
    Some((
        a.challenge.as_deref()?.to_string(),
        a.difficulty?,
        a.join.as_deref().unwrap_or(JOIN_PATH).to_string(),
    ))
}
