//! Sessions ended on any node, heard by every node. Passes are verified locally, so a
//! session ended on node A (leave, `X-Usher-Complete`) would still be honoured by node B
//! until its pass expires — while the slot it freed admits someone else.
//!
//! The `end` of `session.lua` therefore records the session in the room's `revoked`
//! sorted set (id → when its last pass expires, trimmed as entries expire) and publishes
//! it on `<prefix>:revoked`. Each node runs [`RedisStore::follow_revocations`]: a
//! dedicated subscriber connection that, on every (re)subscription, first reads the sets
//! (what it may have missed while disconnected), then applies messages as they come. It
//! pings Redis every second so a silent connection is noticed, and reconnects by itself.
//! A pass check stays a local lookup: no Redis round trip per request.

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::{Msg, RedisError, RedisResult, Value};

use super::{RedisStore, REVOKED};

/// Added to the expiry bound of an ended session: passes minted by a node whose clock runs
/// ahead of the ending node's expire that much later.
pub(super) const CLOCK_SLACK_SECS: u64 = 60;

/// How often the subscriber checks that Redis still answers.
const PING_EVERY: Duration = Duration::from_secs(1);

/// Longest wait before trying to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A session ended on some node: its passes are refused until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The session id (the passes' `jti`).
    pub session: String,
    /// When its last pass expires (Unix seconds); the entry is useless after that.
    pub until: u64,
}

impl Revocation {
    /// Reads a message payload, `"<session> <until>"`.
    fn parse(payload: &str) -> Option<Self> {
        let (session, until) = payload.split_once(' ')?;
        Some(Self {
            session: session.to_string(),
            until: until.parse().ok()?,
        })
    }
}

/// Unix time in seconds.
pub(super) fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why the subscription stopped (then it starts over).
#[derive(Debug, thiserror::Error)]
enum Lost {
    /// Redis refused or failed a command.
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// Redis did not answer in time.
    #[error("no answer in time")]
    Timeout,
    /// The connection closed.
    #[error("connection closed")]
    Closed,
}

impl RedisStore {
    /// Calls `apply` with every session ended on any node sharing this Redis — those still
    /// unexpired when (re)subscribing, then each as it ends — for as long as the future
    /// runs: it never returns, drop it to stop. Reconnects by itself after any failure; a
    /// revocation may be applied more than once.
    pub async fn follow_revocations(&self, mut apply: impl FnMut(Revocation) + Send) {
        let mut backoff = Duration::from_millis(100);
        let mut was_up = true;
        loop {
            let mut subscribed = false;
            let error = self.subscribe_once(&mut apply, &mut subscribed).await;
            if subscribed {
                backoff = Duration::from_millis(100);
            }
            if was_up || subscribed {
                tracing::warn!(node = %self.node, %error, "revocation subscription lost: resubscribing");
            } else {
                tracing::debug!(node = %self.node, %error, "revocation subscription still down");
            }
            was_up = false;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One subscription: subscribe, catch up from the sets, then apply messages until the
    /// connection fails. `subscribed` turns true once the catch-up is done.
    async fn subscribe_once(
        &self,
        apply: &mut (impl FnMut(Revocation) + Send),
        subscribed: &mut bool,
    ) -> Lost {
        let (mut sink, mut messages) = match self.subscribe().await {
            Ok(s) => s,
            Err(e) => return e,
        };
        // Subscribed before reading: whatever ends meanwhile is in the set or the stream.
        if let Err(e) = self.catch_up(apply).await {
            return e;
        }
        *subscribed = true;
        tracing::info!(node = %self.node, channel = %self.channel, "following revocations");
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(m) => self.heard(&m, apply),
                    None => return Lost::Closed,
                },
                _ = ping.tick() => {
                    if let Err(e) = self.bounded(sink.ping::<Value>()).await {
                        return e;
                    }
                }
            }
        }
    }

    /// A dedicated connection subscribed to the revocation channel.
    async fn subscribe(&self) -> Result<(PubSubSink, PubSubStream), Lost> {
        let (client, _) = &*self.setup;
        let (mut sink, messages) = self.bounded(client.get_async_pubsub()).await?.split();
        self.bounded(sink.subscribe(&self.channel)).await?;
        Ok((sink, messages))
    }

    /// Applies every unexpired revocation recorded in the rooms' sets.
    async fn catch_up(&self, apply: &mut impl FnMut(Revocation)) -> Result<(), Lost> {
        let mut conn = self.conn();
        let now = unix_secs();
        for room in self.rooms.values() {
            let mut cmd = redis::cmd("ZRANGEBYSCORE");
            cmd.arg(&room.keys[REVOKED])
                .arg(now)
                .arg("+inf")
                .arg("WITHSCORES");
            let found: Vec<(String, f64)> = self.bounded(cmd.query_async(&mut conn)).await?;
            for (session, until) in found {
                apply(Revocation {
                    session,
                    until: until as u64,
                });
            }
        }
        Ok(())
    }

    /// Applies one published message.
    fn heard(&self, msg: &Msg, apply: &mut impl FnMut(Revocation)) {
        match msg
            .get_payload::<String>()
            .ok()
            .as_deref()
            .and_then(Revocation::parse)
        {
            Some(r) => apply(r),
            None => tracing::debug!(node = %self.node, "unreadable revocation message ignored"),
        }
    }

    /// `work` within the store's operation limit.
    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = RedisResult<T>>,
    ) -> Result<T, Lost> {
        match tokio::time::timeout(self.op_timeout, work).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Lost::Timeout),
        }
    }
}

#[cfg(test)]
mod tests;
