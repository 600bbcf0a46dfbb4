//! Phase 2: the waiting room's own endpoints under `/_usher/` (docs/DESIGN.md §5), for
//! the page's script and for mobile apps (`Authorization: Bearer <ticket>`).

use http::{header, HeaderValue, Method, Request, StatusCode};

use super::answer::{self, Asked};
use super::ProxyBody;
use crate::gate::{unix_ms, Credentials, Gate, Outcome, Standing};
use crate::protocol::query::{query_param, safe_return_to};
use crate::protocol::{
    cookies, LeaveAnswer, Left, State, JOIN_PATH, JWKS_PATH, LEAVE_PATH, PASS_COOKIE, STATUS_PATH,
    TICKET_COOKIE,
};
use crate::response;

/// Answers a `/_usher/…` request carrying `creds`.
pub async fn handle<B>(
    gate: &Gate,
    req: &Request<B>,
    creds: &Credentials<'_>,
) -> http::Response<ProxyBody> {
    let path = req.uri().path();
    let query = req.uri().query();
    match (req.method(), path) {
        (&Method::GET, JWKS_PATH) => {
            let mut r = response::respond(
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
        (&Method::GET, STATUS_PATH) => status(gate, creds, query, false).await,
        (&Method::POST, JOIN_PATH) => status(gate, creds, query, true).await,
        (&Method::POST, LEAVE_PATH) => leave(gate, creds).await,
        (_, JWKS_PATH | STATUS_PATH | JOIN_PATH | LEAVE_PATH) => response::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            "method not allowed",
        ),
        _ => response::error(StatusCode::NOT_FOUND, "not_found", "no such usher endpoint"),
    }
}

/// `GET /_usher/status` (and `POST /_usher/join`): the visitor's standing; a called
/// visitor gets their pass here.
async fn status(
    gate: &Gate,
    creds: &Credentials<'_>,
    query: Option<&str>,
    may_join: bool,
) -> http::Response<ProxyBody> {
    let app = creds.bearer.is_some();
    let return_to = safe_return_to(query_param(query, "return_to").as_deref());
    let ticket = creds.ticket().and_then(|t| gate.ticket(t));
    let room_name = ticket
        .as_ref()
        .map(|t| t.room.clone())
        .or_else(|| query_param(query, "room"));
    let Some(ri) = room_name.as_deref().and_then(|n| gate.room_index(n)) else {
        return response::error(
            StatusCode::NOT_FOUND,
            "no_room",
            "no ticket, and no known room given",
        );
    };
    let room = gate.policy().routes[ri].name.clone();
    let now = unix_ms();
    // Already in: a valid pass for this room.
    if let Some(p) = creds.pass {
        if gate.passes.verify(p, &room, now / 1000).is_ok() {
            return answer::inside(State::Admitted, &room, &return_to, None);
        }
    }
    if ticket.is_none() && !may_join {
        return response::error(
            StatusCode::NOT_FOUND,
            "no_ticket",
            "join first (POST /_usher/join?room=NAME)",
        );
    }
    let outcome = match gate.admit(ri, ticket, creds, now).await {
        Ok(outcome) => outcome,
        Err(e) => {
            // Fail closed: the place is kept (the ticket is untouched), nobody new gets in.
            let _ = gate.store_failed(ri, e, Vec::new());
            let body = answer::status_answer(Standing::Unavailable, &room, &return_to, None);
            return answer::json(Standing::Unavailable, Asked::Poll, &body);
        }
    };
    let (standing, challenge) = match outcome {
        Outcome::Pass(token, claims) => {
            let pass = app.then_some(token.as_str());
            let mut r = answer::inside(State::Called, &room, &return_to, pass);
            if let Some(c) = gate.pass_cookie(&token, &claims, now) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r.headers_mut()
                .append(header::SET_COOKIE, cookies::clear(TICKET_COOKIE));
            return r;
        }
        Outcome::Wait(t, fresh, visit) => {
            // Sign only when the answer carries the ticket (a cookie poll does not).
            let signed = (fresh || app).then(|| gate.sign_ticket(&t));
            let standing = Standing::of_visit(visit);
            let mut body = answer::status_answer(standing, &room, &return_to, None);
            body.ticket = signed.as_deref().map(Into::into);
            let mut r = answer::json(standing, Asked::Poll, &body);
            if fresh {
                if let Some(c) = signed.and_then(|s| gate.ticket_cookie(&s)) {
                    r.headers_mut().append(header::SET_COOKIE, c);
                }
            }
            return r;
        }
        Outcome::Closed => (Standing::Closed, None),
        Outcome::Challenge(token, bits) => (Standing::Challenge(bits), Some(token)),
        Outcome::TooMany(secs) => (Standing::TooMany(secs.min(u32::MAX as u64) as u32), None),
    };
    let body = answer::status_answer(standing, &room, &return_to, challenge.as_deref());
    answer::json(standing, Asked::Poll, &body)
}

/// `POST /_usher/leave`: gives up the place, or ends the session; frees the slot at once.
async fn leave(gate: &Gate, creds: &Credentials<'_>) -> http::Response<ProxyBody> {
    let now = unix_ms() / 1000;
    let mut left = false;
    if let Some(p) = creds.pass {
        for (ri, r) in gate.policy().routes.iter().enumerate() {
            if let Ok(claims) = gate.passes.verify(p, &r.name, now) {
                gate.end_session(ri, &claims).await;
                left = true;
            }
        }
    }
    if let Some(t) = creds.ticket().and_then(|t| gate.ticket(t)) {
        left |= gate.store.leave_place(&t.room, t.place as usize).await;
    }
    let state = if left { Left::Left } else { Left::None };
    let mut r = response::json(StatusCode::OK, &LeaveAnswer { state });
    r.headers_mut()
        .append(header::SET_COOKIE, cookies::clear(TICKET_COOKIE));
    r.headers_mut()
        .append(header::SET_COOKIE, cookies::clear(PASS_COOKIE));
    r
}
