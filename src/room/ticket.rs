//! Tickets: a visitor's place in line, HMAC-signed so only this proxy can issue one.
//!
//! Only the proxy reads tickets, so a symmetric MAC is right (cheap to check on every
//! poll). A ticket carries everything needed to put its holder back in line after a
//! restart: room, visitor id, place, phase and issue time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

/// Format version; bump when the layout changes.
const VERSION: u8 = 1;
/// Bytes of MAC: the whole HMAC-SHA256 tag, so `ring` can check it in constant time.
const MAC_LEN: usize = 32;
/// Fixed part of the payload: version, phase, issued, visitor, place.
const FIXED: usize = 1 + 1 + 4 + 8 + 4;
/// Longest room name a ticket can carry.
pub const MAX_ROOM_LEN: usize = 64;

/// When the visitor joined relative to the event start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// After the start: first come, first served.
    Fifo,
    /// In the pre-queue: ordered by a random draw at the start.
    PreQueue,
}

/// What a ticket says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The room's name.
    pub room: String,
    /// Random visitor id (one visitor = one place).
    pub visitor: u64,
    /// Place in line (or in the pre-queue).
    pub place: u32,
    /// Pre-queue or FIFO.
    pub phase: Phase,
    /// Issue time, Unix seconds.
    pub issued: u32,
}

/// Why a ticket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not base64, too short or too long.
    #[error("malformed ticket")]
    Malformed,
    /// The MAC does not match any configured key.
    #[error("forged ticket")]
    Forged,
    /// Another format version.
    #[error("unsupported ticket version")]
    Version,
}

/// Signs and checks tickets; the first key signs, all keys verify (rotation).
pub struct TicketKeys {
    keys: Vec<hmac::Key>,
}

impl TicketKeys {
    /// Keys from secrets (each at least 32 bytes); the first one signs.
    pub fn new(secrets: &[Vec<u8>]) -> Option<Self> {
        if secrets.is_empty() || secrets.iter().any(|s| s.len() < 32) {
            return None;
        }
        Some(Self {
            keys: secrets
                .iter()
                .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s))
                .collect(),
        })
    }

    /// A fresh random 32-byte secret.
    pub fn random_secret() -> Option<Vec<u8>> {
        let mut s = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut s).ok()?;
        Some(s)
    }

    /// The ticket's compact, URL- and cookie-safe form.
    pub fn sign(&self, t: &Ticket) -> String {
        let room = &t.room.as_bytes()[..t.room.len().min(MAX_ROOM_LEN)];
        let mut buf = Vec::with_capacity(FIXED + room.len() + MAC_LEN);
        buf.push(VERSION);
        buf.push(match t.phase {
            Phase::Fifo => 0,
            Phase::PreQueue => 1,
        });
        buf.extend_from_slice(&t.issued.to_be_bytes());
        buf.extend_from_slice(&t.visitor.to_be_bytes());
        buf.extend_from_slice(&t.place.to_be_bytes());
        buf.extend_from_slice(room);
        let tag = hmac::sign(&self.keys[0], &buf);
        buf.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// Checks a ticket's MAC (in constant time) and decodes it.
    pub fn verify(&self, text: &str) -> Result<Ticket, TicketError> {
        if text.len() > 4 * (FIXED + MAX_ROOM_LEN + MAC_LEN) / 3 + 4 {
            return Err(TicketError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| TicketError::Malformed)?;
        if raw.len() < FIXED + MAC_LEN {
            return Err(TicketError::Malformed);
        }
        let (body, mac) = raw.split_at(raw.len() - MAC_LEN);
        let genuine = self.keys.iter().any(|k| hmac::verify(k, body, mac).is_ok());
        if !genuine {
            return Err(TicketError::Forged);
        }
        if body[0] != VERSION {
            return Err(TicketError::Version);
        }
        let phase = match body[1] {
            0 => Phase::Fifo,
            1 => Phase::PreQueue,
            _ => return Err(TicketError::Malformed),
        };
        let u32_at =
            |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
        let mut visitor = [0u8; 8];
        visitor.copy_from_slice(&body[6..14]);
        let room = std::str::from_utf8(&body[FIXED..]).map_err(|_| TicketError::Malformed)?;
        Ok(Ticket {
            room: room.to_string(),
            visitor: u64::from_be_bytes(visitor),
            place: u32_at(14),
            phase,
            issued: u32_at(2),
        })
    }
}

#[cfg(test)]
mod tests;
