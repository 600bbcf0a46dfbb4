//! The bundled booking backend (DESIGN §9): a small, complete ticket site behind the
//! proxy. It never imports `proxy` or `room` — it could be any legacy app — and verifies
//! usher passes itself with the `pass` module.
//!
//! This first slice is the storage core: schema, inventory decisions that cannot oversell,
//! idempotency keys and the group-commit writer. The HTTP API and the web UI come next.

pub mod db;
pub mod writer;

#[cfg(test)]
mod tests;
