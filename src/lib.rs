//! usher: a stand-alone virtual waiting room — a TLS reverse proxy that admits visitors at
//! the pace the site behind it can take.
//!
//! Module map (see `docs/ARCHITECTURE.md`): `config` parses and validates, `tls` builds the
//! certificate side, `server` owns listeners and connection lifecycles, `path` normalises
//! request paths, `proxy` owns the request path, `admin` serves metrics and health,
//! `metrics` defines what is measured, `pass` holds the signing keys, `reload` swaps in an
//! edited config while serving, `rush` rehearses a rush against a running usher over HTTP.
#![forbid(unsafe_code)]

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
