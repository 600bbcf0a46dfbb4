//! usher: a stand-alone virtual waiting room — a TLS reverse proxy that admits visitors at
//! the pace the site behind it can take.
//!
//! Module map (see `docs/ARCHITECTURE.md`): `protocol` is the wire contract (names, answer
//! and error shapes) every other part speaks; `path` normalises request paths; `config`
//! parses and validates; `tls` builds the certificate side; `pass` signs and verifies
//! passes; `room` is the line and its admission engine, `store` where rooms live, `gate`
//! the waiting room's decision for a request; `proxy` owns the request path, `response`
//! the builders of usher's own answers; `admin` serves metrics, health and the admin API;
//! `server` owns listeners and connection lifecycles; `reload` swaps in an edited config
//! while serving; `backend` is the bundled booking site, `demo` runs both, and `rush`
//! rehearses a rush against a running usher over HTTP.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod backend;
pub mod config;
pub mod demo;
pub mod gate;
pub mod metrics;
pub mod pass;
/// Request paths in the one normal form that rooms, bypass rules and the site all see.
pub mod path;
pub mod protocol;
pub mod proxy;
pub mod reload;
pub mod response;
pub mod room;
pub mod rush;
pub mod server;
pub mod store;
pub mod tls;
