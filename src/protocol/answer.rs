//! The JSON the waiting room answers with, as one set of types that the proxy serialises
//! and `usher rush` (or any app) deserialises: the visitor's standing (`StatusAnswer`), the
//! answer to a leave (`LeaveAnswer`), and the one error shape every part of usher uses
//! (`ErrorBody`: `{"error": {"code": "<string>", "message": "…"}}`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Where a visitor stands, as the `state` field says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// In line (or in the pre-queue before the start, with `phase = "prequeue"`).
    Waiting,
    /// In line, but the room calls nobody for now.
    Paused,
    /// Called: the pass came with this answer.
    Called,
    /// Already holds a valid pass for this room.
    Admitted,
    /// The room is closed: nobody joins, nobody is called.
    Closed,
    /// The queue store is down: nobody new gets in, the place is kept.
    Unavailable,
    /// A place costs a solved join challenge first (`challenge`, `difficulty`, `join`).
    Challenge,
    /// This network took its share of places; try again after `retry_after` seconds.
    TooMany,
    /// The pass was revoked because it was shared.
    Shared,
}

impl State {
    /// The spelling on the wire (and on the waiting page's `data-state`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Paused => "paused",
            State::Called => "called",
            State::Admitted => "admitted",
            State::Closed => "closed",
            State::Unavailable => "unavailable",
            State::Challenge => "challenge",
            State::TooMany => "too_many",
            State::Shared => "shared",
        }
    }
}

/// Which line a waiting visitor is in, when it is not the line itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Joined before the start: the order is drawn at the start, so no position yet.
    Prequeue,
}

/// A visitor's standing: the answer of `/_usher/status` and `/_usher/join`, and of any
/// request held by the room that is not a page load. `ahead`, `behind` and
/// `eta_seconds` are always present (`null` when unknown); the rest only when they apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusAnswer<'a> {
    /// The room's name.
    pub room: Cow<'a, str>,
    /// Where the visitor stands.
    pub state: State,
    /// Set for a pre-queue place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Visitors ahead in line.
    #[serde(default)]
    pub ahead: Option<u32>,
    /// Visitors behind in line.
    #[serde(default)]
    pub behind: Option<u32>,
    /// Estimated seconds until called (or, in the pre-queue, until the start).
    #[serde(default)]
    pub eta_seconds: Option<u32>,
    /// Pre-queue: seconds until the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_in: Option<u32>,
    /// Pre-queue: the start, in Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at_ms: Option<u64>,
    /// When to ask again, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u32,
    /// Where the page sends the visitor once in (a same-origin path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<Cow<'a, str>>,
    /// An app's signed ticket (its place), to send back as `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Cow<'a, str>>,
    /// An app's pass, once called, to send as `X-Usher-Pass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<Cow<'a, str>>,
    /// The join challenge to solve (`state = "challenge"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Cow<'a, str>>,
    /// Leading zero bits the solution needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<u8>,
    /// Where to send the solved challenge (`POST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<Cow<'a, str>>,
    /// Seconds before another place may be taken (`state = "too_many"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Why the room refused (`too_many`, `shared`), in the one error shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail<'a>>,
}

fn default_poll_ms() -> u32 {
    5_000
}

impl<'a> StatusAnswer<'a> {
    /// An answer for `room` in `state` with nothing else known yet.
    pub fn new(room: impl Into<Cow<'a, str>>, state: State) -> Self {
        Self {
            room: room.into(),
            state,
            phase: None,
            ahead: None,
            behind: None,
            eta_seconds: None,
            starts_in: None,
            starts_at_ms: None,
            poll_ms: default_poll_ms(),
            return_to: None,
            ticket: None,
            pass: None,
            challenge: None,
            difficulty: None,
            join: None,
            retry_after: None,
            error: None,
        }
    }

    /// The answer as JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        // Serialising plain fields into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, self);
        out
    }
}

/// What `/_usher/leave` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Left {
    /// A place was given up or a session ended.
    Left,
    /// The request held neither.
    None,
}

/// The answer of `/_usher/leave`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveAnswer {
    /// What happened.
    pub state: Left,
}

/// The one JSON error shape of usher — proxy errors, waiting-room endpoints, the admin
/// API and the bundled backend: `{"error": {"code": "<string>", "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody<'a> {
    /// The error.
    pub error: ErrorDetail<'a>,
}

/// The inside of `ErrorBody`: a stable machine code, a sentence for people, and the
/// fields some codes add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail<'a> {
    /// A stable snake_case code (`not_found`, `sold_out`, `upstream_timeout`, …).
    pub code: Cow<'a, str>,
    /// What went wrong, for people.
    pub message: Cow<'a, str>,
    /// The request's id, for errors the proxy answered itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Cow<'a, str>>,
    /// With `seat_taken`: the seat that was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<Cow<'a, str>>,
}

impl<'a> ErrorDetail<'a> {
    /// An error with `code` and `message` and nothing more.
    pub fn new(code: impl Into<Cow<'a, str>>, message: impl Into<Cow<'a, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            request_id: None,
            seat: None,
        }
    }
}

impl<'a> ErrorBody<'a> {
    /// An error body with `code` and `message`.
    pub fn new(code: impl Into<Cow<'a, str>>, message: impl Into<Cow<'a, str>>) -> Self {
        Self {
            error: ErrorDetail::new(code, message),
        }
    }

    /// The body as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
