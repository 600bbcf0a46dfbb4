//! Passes: the signed proof that a visitor was admitted (docs/DESIGN.md §6). Knows no queues and
//! no HTTP: the proxy and the backend both verify with this code.

pub mod keys;
pub mod token;

pub use keys::KeyRing;
pub use token::{unverified_jti, MintError, PassClaims, Passes, Rejection, Session};
#[cfg(test)]
mod tests;
