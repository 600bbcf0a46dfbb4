//! The wire contract: everything that crosses the wire between usher, the visitor's
//! browser or app, and the site behind it — header and cookie names, endpoint paths, the
//! answer states and JSON shapes, the join-challenge puzzle and the query helpers. The
//! proxy writes it, the bundled backend and the admin API speak it, and `usher rush`
//! reads it; none of them spells a name of its own (docs/DESIGN.md §5, §6).

pub mod answer;
pub mod challenge;
pub mod cookies;
pub mod query;

pub use answer::{ErrorBody, ErrorDetail, LeaveAnswer, Left, Phase, State, StatusAnswer};

/// Header apps use to present a pass (browsers use the cookie); also how the proxy hands
/// the verified pass to the site.
pub const PASS_HEADER: &str = "x-usher-pass";
/// Header carrying the join challenge being answered.
pub const CHALLENGE_HEADER: &str = "x-usher-challenge";
/// Header carrying the solution to that challenge.
pub const SOLUTION_HEADER: &str = "x-usher-solution";
/// Response header from the site: `1` ends the visitor's session (booked, logged out).
pub const COMPLETE_HEADER: &str = "x-usher-complete";
/// Response header from the site: `1` says the event is sold out (closes a room that
/// listens for it).
pub const SOLD_OUT_HEADER: &str = "x-usher-sold-out";
/// Header on the backend's outbox deliveries naming the event topic.
pub const TOPIC_HEADER: &str = "x-usher-topic";
/// Every header of usher's own starts with this; the proxy strips them both ways.
pub const HEADER_PREFIX: &str = "x-usher-";

/// The ticket cookie (a place in line).
pub const TICKET_COOKIE: &str = "usher_ticket";
/// The pass cookie (admission).
pub const PASS_COOKIE: &str = "usher_pass";
/// Every cookie of usher's own starts with this; the site never sees them.
pub const COOKIE_PREFIX: &str = "usher_";

/// Every path of the waiting room's own API starts with this.
pub const ENDPOINT_PREFIX: &str = "/_usher/";
/// `GET`: the visitor's standing; a called visitor gets the pass here.
pub const STATUS_PATH: &str = "/_usher/status";
/// `POST`: take a place (with a solved challenge when one was asked).
pub const JOIN_PATH: &str = "/_usher/join";
/// `POST`: give up the place or end the session.
pub const LEAVE_PATH: &str = "/_usher/leave";
/// `GET`: the public keys that verify passes.
pub const JWKS_PATH: &str = "/_usher/jwks.json";
