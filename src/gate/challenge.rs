//! The join challenge (docs/DESIGN.md §6): a hashcash-style proof of work a visitor solves before
//! taking a place in line, so a script that wants a thousand places pays for a thousand
//! solutions. The page solves it with WebCrypto; the proxy checks it with one HMAC and one
//! SHA-256.
//!
//! The puzzle itself is the wire contract's (`protocol/challenge.rs`). A challenge is
//! `base64url(version, bits, issued, nonce, room) "." base64url(hmac)`. A
//! solution is a decimal counter `n` such that SHA-256(`challenge` ":" `n`) starts with
//! `bits` zero bits. Challenges expire and each is accepted once per node.

use base64::Engine;
use dashmap::DashMap;
use ring::hmac;

use crate::protocol::challenge::leading_zero_bits;

/// How long a challenge may be solved and used.
pub const CHALLENGE_TTL_SECS: u64 = 120;

const VERSION: u8 = 1;
/// Used challenges remembered at most (a flood of solved challenges cannot grow memory
/// without bound: past it, expired entries are dropped, then everything).
const USED_MAX: usize = 200_000;

/// Why an answer to a challenge was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Not a challenge this proxy issued (bad encoding or signature).
    #[error("not a challenge from this waiting room")]
    Forged,
    /// Issued for another room.
    #[error("challenge for another room")]
    WrongRoom,
    /// Too old.
    #[error("challenge expired")]
    Expired,
    /// The hash does not have enough leading zero bits.
    #[error("wrong solution")]
    Unsolved,
    /// Already used.
    #[error("challenge already used")]
    Replayed,
}

/// Issues and checks challenges with one secret (shared by every node).
pub struct Challenges {
    key: hmac::Key,
    used: DashMap<[u8; 16], u64>,
    rng: ring::rand::SystemRandom,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

impl Challenges {
    /// Challenges keyed by `secret` (derived from the ticket secret, so nodes agree).
    pub fn new(secret: &[u8]) -> Self {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let key = hmac::sign(&derive, b"usher join challenge v1");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()),
            used: DashMap::new(),
            rng: ring::rand::SystemRandom::new(),
        }
    }

    /// A fresh challenge for `room` asking for `bits` leading zero bits.
    pub fn issue(&self, room: &str, bits: u8, now: u64) -> String {
        let mut nonce = [0u8; 16];
        let _ = ring::rand::SecureRandom::fill(&self.rng, &mut nonce);
        let mut body = Vec::with_capacity(26 + room.len());
        body.push(VERSION);
        body.push(bits);
        body.extend_from_slice(&now.to_be_bytes());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(room.as_bytes());
        let tag = hmac::sign(&self.key, &body);
        format!("{}.{}", b64().encode(&body), b64().encode(tag.as_ref()))
    }

    /// Checks `solution` to `challenge` for `room` at `now`; on success the challenge is
    /// spent. Returns the difficulty it was solved at.
    pub fn redeem(
        &self,
        challenge: &str,
        solution: &str,
        room: &str,
        now: u64,
    ) -> Result<u8, ChallengeError> {
        let (body_b64, tag_b64) = challenge.split_once('.').ok_or(ChallengeError::Forged)?;
        if body_b64.len() > 512 || tag_b64.len() > 64 {
            return Err(ChallengeError::Forged);
        }
        let body = b64().decode(body_b64).map_err(|_| ChallengeError::Forged)?;
        let tag = b64().decode(tag_b64).map_err(|_| ChallengeError::Forged)?;
        hmac::verify(&self.key, &body, &tag).map_err(|_| ChallengeError::Forged)?;
        if body.len() < 26 || body[0] != VERSION {
            return Err(ChallengeError::Forged);
        }
        let bits = body[1];
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&body[2..10]);
        let issued = u64::from_be_bytes(issued);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&body[10..26]);
        if &body[26..] != room.as_bytes() {
            return Err(ChallengeError::WrongRoom);
        }
        if now > issued + CHALLENGE_TTL_SECS || issued > now + 5 {
            return Err(ChallengeError::Expired);
        }
        if solution.is_empty()
            || solution.len() > 20
            || !solution.bytes().all(|b| b.is_ascii_digit())
            || leading_zero_bits(challenge, solution) < u32::from(bits)
        {
            return Err(ChallengeError::Unsolved);
        }
        self.spend(nonce, issued + CHALLENGE_TTL_SECS, now)?;
        Ok(bits)
    }

    fn spend(&self, nonce: [u8; 16], until: u64, now: u64) -> Result<(), ChallengeError> {
        if self.used.len() >= USED_MAX {
            self.used.retain(|_, u| *u >= now);
            if self.used.len() >= USED_MAX {
                self.used.clear();
            }
        }
        match self.used.entry(nonce) {
            dashmap::Entry::Occupied(_) => Err(ChallengeError::Replayed),
            dashmap::Entry::Vacant(v) => {
                v.insert(until);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
