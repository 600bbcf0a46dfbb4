//! A visitor with a pass: reads the event (searching first when told to), books it with an
//! `Idempotency-Key` — retried with the same key after a network error or a 5xx, a fresh
//! pick of seats when the chosen ones were taken — and says how that went.

use std::time::Instant;

use http::Method;
use serde_json::{json, Value};

use super::client::Reply;
use super::stats::{lock, End, Step};
use super::summary::EventInfo;
use super::visitor::{backoff, Creds, Visitor, MAX_RETRIES};
use super::EventChoice;

/// Different picks of seats tried when the chosen ones were taken meanwhile.
const SEAT_TRIES: u32 = 3;

impl Visitor<'_> {
    /// A request to the site with the pass, retried on network errors and 5xx
    /// (the same request, so the same idempotency key).
    async fn site(
        &self,
        method: Method,
        path: &str,
        extra: &[(&'static str, &str)],
        body: Option<&str>,
    ) -> Result<Reply, End> {
        let mut last = String::new();
        for attempt in 0..=MAX_RETRIES {
            if attempt > 0 {
                self.ctx
                    .stats
                    .c
                    .retries
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(backoff(attempt)).await;
            }
            match self
                .send(
                    method.clone(),
                    path,
                    Creds::Held,
                    extra,
                    body.map(str::to_string),
                )
                .await
            {
                // usher's own answers (sent back to the line…) are final.
                Ok(r) if r.status < 500 || r.json.get("state").is_some() => return Ok(r),
                Ok(r) => last = format!("http {}", r.status),
                Err(kind) => last = kind,
            }
        }
        Err(End::Failed(last))
    }

    /// A page of the site as JSON; anything but 200 ends the visit.
    async fn read(&self, path: &str) -> Result<Value, End> {
        let r = self.site(Method::GET, path, &[], None).await?;
        match (r.status, r.json.get("state")) {
            (200, _) => Ok(r.json),
            (_, Some(_)) => Err(End::Failed("pass_refused".into())),
            (s, _) => Err(End::Failed(format!("http {s}"))),
        }
    }

    /// With the pass: reads the event, books, and says how that went.
    pub(super) async fn shop(&self, entry: Option<Value>) -> Result<End, End> {
        let started = Instant::now();
        let (id, mut detail) = match (&self.ctx.config.event, entry) {
            (EventChoice::Id(id), Some(page)) => (*id, page),
            (EventChoice::Id(id), None) => (*id, self.read(&detail_path(*id)).await?),
            (choice, page) => {
                let page = match page {
                    Some(p) => p,
                    None => self.read(&choice.entry_path()).await?,
                };
                let id = page["items"][0]["id"]
                    .as_i64()
                    .ok_or_else(|| End::Failed("no_event".into()))?;
                (id, self.read(&detail_path(id)).await?)
            }
        };
        self.ctx.stats.record(Step::Detail, started.elapsed());
        let kind = detail["kind"].as_str().unwrap_or("coupon").to_string();
        self.ctx.stats.saw_event(EventInfo {
            id,
            title: detail["title"].as_str().unwrap_or_default().to_string(),
            kind: kind.clone(),
            capacity: detail["capacity"].as_u64().unwrap_or(0),
        });
        let quantity = self.ctx.config.quantity;
        let path = format!("{}/bookings", detail_path(id));
        for attempt in 0..SEAT_TRIES {
            if attempt > 0 {
                detail = self.read(&detail_path(id)).await?;
            }
            let order = if kind == "coupon" {
                json!({ "quantity": quantity })
            } else {
                match self.pick_seats(&detail, quantity) {
                    Some(seats) => json!({ "seats": seats }),
                    None => return Ok(End::SoldOut),
                }
            };
            let key = format!("rush-{}-{}-{attempt}", self.ctx.run, self.plan.id);
            let t = Instant::now();
            let r = self
                .site(
                    Method::POST,
                    &path,
                    &[("idempotency-key", &key)],
                    Some(&order.to_string()),
                )
                .await?;
            self.ctx.stats.record(Step::Book, t.elapsed());
            let code = r.error.as_ref().map(|e| e.error.code.as_ref());
            match (r.status, code) {
                (201, _) => return Ok(End::Booked(u64::from(quantity))),
                (409, Some("sold_out")) => return Ok(End::SoldOut),
                (409, Some("seat_taken")) => continue,
                (_, Some(code)) => return Err(End::Failed(code.to_string())),
                (s, None) => return Err(End::Failed(format!("http {s}"))),
            }
        }
        Ok(End::SeatTaken)
    }

    /// `quantity` free seats picked at random from the seat map; `None` if too few are left.
    fn pick_seats(&self, detail: &Value, quantity: u32) -> Option<Vec<String>> {
        let mut free: Vec<String> = detail["seats"]
            .as_array()?
            .iter()
            .filter(|s| s["free"] == true)
            .filter_map(|s| s["seat"].as_str().map(str::to_string))
            .collect();
        let want = usize::try_from(quantity).ok()?;
        if free.len() < want {
            return None;
        }
        let mut rng = lock(&self.rng);
        let mut picked = Vec::with_capacity(want);
        for _ in 0..want {
            let len = u64::try_from(free.len()).ok()?;
            let i = usize::try_from(rng.below(len)).ok()?;
            picked.push(free.swap_remove(i));
        }
        Some(picked)
    }
}

/// The event's detail path.
fn detail_path(id: i64) -> String {
    format!("/api/events/{id}")
}
