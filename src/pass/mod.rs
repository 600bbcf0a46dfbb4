//! Passes: the signed proof that a visitor was admitted. This issue brings only the keys;
//! minting and verification arrive with the waiting room.

pub mod keys;
#[cfg(test)]
mod tests;
