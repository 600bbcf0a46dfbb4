//! The gate's background work: sessions ended (here or, through Redis, on other nodes),
//! and the admission tick with the room metrics it refreshes.

use super::{unix_ms, Gate};
use crate::pass::PassClaims;
use crate::store::Store;
use std::sync::atomic::Ordering;

impl Gate {
    /// Ends a session at once (leave, or `X-Usher-Complete` from the site) and calls the
    /// next visitor right away rather than at the next tick.
    pub async fn end_session(&self, ri: usize, claims: &PassClaims) {
        let now = unix_ms();
        self.passes.revoke(&claims.jti, claims.send, now / 1000);
        let name = &self.policy().routes[ri].name;
        match self.store.end_session(name, &claims.jti).await {
            Ok(true) => {
                let _ = self.store.tick(name, now).await;
            }
            Ok(false) => {}
            Err(_) => self
                .pending_ends
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((ri, claims.jti.clone())),
        }
    }

    /// The site says the event behind room `ri` is sold out (`X-Usher-Sold-Out`): when the
    /// room listens, it is closed for everyone (an operator override, shared through the
    /// store, lifted with the admin API), so the line hears "sold out" at its next poll.
    pub async fn site_sold_out(&self, ri: usize) {
        let policy = self.policy();
        let Some(room) = policy.routes.get(ri).filter(|r| r.close_when_sold_out) else {
            return;
        };
        // Many sold-out answers arrive together: one close per few seconds is enough (and
        // an operator who reopens the room is not overruled by answers already in flight).
        let now = unix_ms() / 1000;
        let Some(last) = self.sold_out_at.get(ri) else {
            return;
        };
        if now.saturating_sub(last.swap(now, Ordering::Relaxed)) < 5 {
            return;
        }
        let change = crate::room::Overrides {
            mode: Some("closed".into()),
            ..Default::default()
        };
        match self.store.override_settings(&room.name, change).await {
            Ok(_) => tracing::info!(room = %room.name, "the site says sold out: room closed"),
            Err(e) => {
                // Try again on the next sold-out answer.
                last.store(0, Ordering::Relaxed);
                tracing::warn!(room = %room.name, error = %e, "could not close the sold-out room");
            }
        }
    }

    /// Refuses, from now on, the passes of sessions ended on other nodes (Redis: heard
    /// through the store's subscription, which catches up after any disconnection). Runs
    /// until dropped; with the memory store (one node) there is nothing to hear.
    pub async fn follow_revocations(&self) {
        match self.store.redis() {
            Some(redis) => {
                redis
                    .follow_revocations(|r| {
                        self.passes.revoke(&r.session, r.until, unix_ms() / 1000)
                    })
                    .await
            }
            None => std::future::pending().await,
        }
    }

    /// Runs admission for every room once and refreshes room metrics.
    pub async fn tick(&self) {
        let now = unix_ms();
        let mut up = true;
        let pending =
            std::mem::take(&mut *self.pending_ends.lock().unwrap_or_else(|p| p.into_inner()));
        for (ri, jti) in pending {
            if self
                .store
                .end_session(&self.policy().routes[ri].name, &jti)
                .await
                .is_err()
            {
                self.pending_ends
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((ri, jti));
            }
        }
        for (ri, r) in self.policy().routes.iter().enumerate() {
            let lease = self
                .metrics
                .room_lease
                .with_label_values(&[r.name.as_str()]);
            if self.store.tick(&r.name, now).await.is_err() {
                up = false;
                lease.set(0);
                continue;
            }
            let leader = self.store.redis().is_none_or(|s| s.holds_lease(&r.name));
            lease.set(leader as i64);
            if let Ok(s) = self.store.stats(&r.name).await {
                if let Some(b) = self.busy.get(ri) {
                    b.store(
                        s.waiting + s.recalled_waiting > 0,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                let g = |state: &str| {
                    self.metrics
                        .room_visitors
                        .with_label_values(&[r.name.as_str(), state])
                };
                g("waiting").set(s.waiting as i64);
                g("recalled_waiting").set(s.recalled_waiting as i64);
                g("called").set(s.called as i64);
                g("active").set(s.active as i64);
                for (event, total) in [
                    ("admitted", s.admitted_total),
                    ("lapsed", s.lapsed_total),
                    ("abandoned", s.abandoned_total),
                    ("recalled", s.recalled_total),
                ] {
                    let c = self
                        .metrics
                        .room_events
                        .with_label_values(&[r.name.as_str(), event]);
                    c.inc_by(total.saturating_sub(c.get()));
                }
                self.metrics
                    .room_wait
                    .with_label_values(&[r.name.as_str()])
                    .set(s.estimated_wait_seconds.map_or(f64::NAN, f64::from));
            }
        }
        self.metrics.store_up.set(up as i64);
    }
}
