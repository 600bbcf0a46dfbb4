//! The waiting room's own endpoints under `/_usher/` (DESIGN §5), for the page's script
//! and for mobile apps (`Authorization: Bearer <ticket>`).

use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};

use super::cookies;
use super::gate::{pass_from, unix_ms, Arrival, Gate, Outcome};
use super::page::{self, json, query_param, safe_return_to, Credential};
use super::ProxyBody;
use crate::room::Visit;

/// Answers a `/_usher/…` request from `client`.
pub async fn handle<B>(
    gate: &Gate,
    req: &Request<B>,
    client: std::net::IpAddr,
) -> http::Response<ProxyBody> {
    let path = req.uri().path();
    let query = req.uri().query();
    match (req.method(), path) {
        (&Method::GET, "/_usher/jwks.json") => {
            let mut r = page::respond(
                StatusCode::OK,
                "application/jwk-set+json",
                gate.passes.jwks(),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            r
        }
        (&Method::GET, "/_usher/status") | (&Method::POST, "/_usher/join") => {
            let arrival = Arrival::new(client, req.headers());
            status(
                gate,
                req.headers(),
                query,
                req.method() == Method::POST,
                &arrival,
            )
            .await
        }
        (&Method::POST, "/_usher/leave") => leave(gate, req.headers()).await,
        (_, "/_usher/jwks.json" | "/_usher/status" | "/_usher/join" | "/_usher/leave") => {
            page::respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "application/json",
                r#"{"error":{"code":"method","message":"method not allowed"}}"#.into(),
            )
        }
        _ => page::respond(
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"error":{"code":"not_found","message":"no such usher endpoint"}}"#.into(),
        ),
    }
}

/// A bearer token (apps send their ticket this way).
fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// `GET /_usher/status` (and `POST /_usher/join`): the visitor's standing; a called
/// visitor gets their pass here.
async fn status(
    gate: &Gate,
    headers: &HeaderMap,
    query: Option<&str>,
    may_join: bool,
    arrival: &Arrival<'_>,
) -> http::Response<ProxyBody> {
    let app = bearer(headers);
    let return_to = safe_return_to(query_param(query, "return_to").as_deref());
    let ticket = app
        .or_else(|| cookies::get(headers, cookies::TICKET))
        .and_then(|t| gate.ticket(t));
    let room_name = ticket
        .as_ref()
        .map(|t| t.room.clone())
        .or_else(|| query_param(query, "room"));
    let Some(ri) = room_name.as_deref().and_then(|n| gate.room_index(n)) else {
        return page::respond(
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"error":{"code":"no_room","message":"no ticket, and no known room given"}}"#.into(),
        );
    };
    let room = gate.policy().routes[ri].name.clone();
    let now = unix_ms();
    // Already in: a valid pass for this room.
    if let Some(p) = pass_from(headers) {
        if gate.passes.verify(p, &room, now / 1000).is_ok() {
            return json("admitted", &room, None, &return_to, None);
        }
    }
    if ticket.is_none() && !may_join {
        return page::respond(
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"error":{"code":"no_ticket","message":"join first (POST /_usher/join?room=NAME)"}}"#.into(),
        );
    }
    match gate.admit(ri, ticket, arrival, now).await {
        Ok(Outcome::Pass(token, claims)) => {
            let mut r = json(
                "called",
                &room,
                None,
                &return_to,
                app.map(|_| Credential::Pass(&token)),
            );
            if let Some(c) = gate.pass_cookie(&token, &claims, now) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r.headers_mut()
                .append(header::SET_COOKIE, cookies::clear(cookies::TICKET));
            r
        }
        Ok(Outcome::Wait(t, fresh, visit)) => {
            // Sign only when the answer carries the ticket (a cookie poll does not).
            let signed = (fresh || app.is_some()).then(|| gate.sign_ticket(&t));
            let mut r = match visit {
                Visit::PreQueue(w) => page::prequeue_json(&room, w, &return_to, signed.as_deref()),
                visit => {
                    let (state, pos) = match visit {
                        Visit::Waiting(p) => ("waiting", Some(p)),
                        Visit::Paused(p) => ("paused", Some(p)),
                        Visit::Closed => ("closed", None),
                        _ => ("unavailable", None),
                    };
                    json(
                        state,
                        &room,
                        pos,
                        &return_to,
                        signed.as_deref().map(Credential::Ticket),
                    )
                }
            };
            if fresh {
                if let Some(c) = signed.and_then(|s| cookies::set(cookies::TICKET, &s, 86_400)) {
                    r.headers_mut().append(header::SET_COOKIE, c);
                }
            }
            r
        }
        Ok(Outcome::Closed) => json("closed", &room, None, &return_to, None),
        Ok(Outcome::Challenge(token, bits)) => {
            page::challenge_json(&room, &token, bits, &return_to)
        }
        Ok(Outcome::TooMany(secs)) => page::too_many_json(&room, secs),
        Err(e) => {
            // Fail closed: the place is kept (the ticket is untouched), nobody new gets in.
            let _ = gate.store_failed(ri, e, Vec::new());
            json("unavailable", &room, None, &return_to, None)
        }
    }
}

/// `POST /_usher/leave`: gives up the place, or ends the session; frees the slot at once.
async fn leave(gate: &Gate, headers: &HeaderMap) -> http::Response<ProxyBody> {
    let now = unix_ms() / 1000;
    let mut left = false;
    if let Some(p) = pass_from(headers) {
        for (ri, r) in gate.policy().routes.iter().enumerate() {
            if let Ok(claims) = gate.passes.verify(p, &r.name, now) {
                gate.end_session(ri, &claims).await;
                left = true;
            }
        }
    }
    if let Some(t) = bearer(headers)
        .or_else(|| cookies::get(headers, cookies::TICKET))
        .and_then(|t| gate.ticket(t))
    {
        left |= gate.store.leave_place(&t.room, t.place as usize).await;
    }
    let mut r = page::respond(
        StatusCode::OK,
        "application/json",
        format!("{{\"state\":\"{}\"}}", if left { "left" } else { "none" }),
    );
    r.headers_mut()
        .append(header::SET_COOKIE, cookies::clear(cookies::TICKET));
    r.headers_mut()
        .append(header::SET_COOKIE, cookies::clear(cookies::PASS));
    r
}
