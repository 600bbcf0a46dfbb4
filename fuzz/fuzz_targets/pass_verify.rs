//! `Passes::verify` on arbitrary tokens with a fixed key ring: never panics, and accepts
//! nothing but the passes this ring's keys minted (the current key and a retired one),
//! byte for byte — not a re-encoding, another algorithm (`none`, HS256 with the public
//! key…), an unknown key id, or a forger's key under a known id. A second look (the
//! verified-pass cache) gives the same answer as the first.
//!
//! Input: two bytes of clock offset (seconds from `NOW`, signed), then the token.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use usher::pass::token::LEEWAY_SECS;
use usher::pass::{Passes, Session};
use usher_fuzz::{passes, signer, NOW, PASS_SEED_ATTACKER, PASS_SEED_OLD};

const ROOM: &str = "booking";
const SESSION: Session = Session {
    idle: 600,
    max: 3600,
};

static PASSES: LazyLock<Passes> = LazyLock::new(passes);

/// The only tokens that may ever verify: minted by the ring's own keys.
static GENUINE: LazyLock<Vec<String>> = LazyLock::new(|| {
    let old = signer(PASS_SEED_OLD, "old");
    let mut v = Vec::new();
    for (p, jti) in [
        (&*PASSES, "0123456789abcdef0123456789abcdef"),
        (&old, "retired"),
    ] {
        let (token, _) = p
            .mint_session(ROOM, "visitor-1", jti, SESSION, NOW)
            .expect("mint");
        v.push(token);
    }
    // A forger signing under the real kid: must never verify.
    let forger = signer(PASS_SEED_ATTACKER, "fuzz");
    let (forged, _) = forger
        .mint_session(ROOM, "visitor-1", "forged", SESSION, NOW)
        .expect("mint");
    assert!(PASSES.verify(&forged, ROOM, NOW).is_err());
    v
});

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let offset = i16::from_be_bytes([data[0], data[1]]);
    let Ok(token) = std::str::from_utf8(&data[2..]) else {
        return;
    };
    let now = NOW.saturating_add_signed(i64::from(offset));
    let first = PASSES.verify(token, ROOM, now);
    let again = PASSES.verify(token, ROOM, now);
    assert_eq!(first, again, "the cache changed the answer for {token:?}");
    if let Ok(claims) = first {
        assert!(
            GENUINE.iter().any(|g| g == token),
            "accepted a token no configured key minted: {token:?} → {claims:?}"
        );
        assert_eq!(claims.aud, ROOM);
        assert!(now + LEEWAY_SECS >= claims.nbf && now <= claims.exp + LEEWAY_SECS);
    }
    // Never valid for another room.
    assert!(PASSES.verify(token, "another-room", now).is_err());
});
