//! mint → verify → renew → revoke on arbitrary claims: what is minted verifies to the
//! same claims in its room and at its times only; renewal keeps the session and never
//! passes its hard end; a revoked session is refused; an edited token never verifies.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use usher::pass::token::LEEWAY_SECS;
use usher::pass::{Rejection, Session};
use usher_fuzz::passes;

#[derive(Debug, Arbitrary)]
struct Input {
    room: String,
    visitor: String,
    jti: String,
    /// The client network the pass is bound to, if any.
    net: Option<String>,
    idle: u32,
    max: u32,
    now: u32,
    /// Seconds after minting that the pass is used.
    later: u32,
    revoke: bool,
    edit_at: u16,
    edit_to: u8,
}

fuzz_target!(|input: Input| {
    // A fresh service per input: the cache and the revocation list start empty.
    let p = passes();
    let now = u64::from(input.now);
    let session = Session {
        idle: u64::from(input.idle),
        max: u64::from(input.max),
    };
    let (token, claims) = p
        .mint_bound(
            &input.room,
            &input.visitor,
            &input.jti,
            session,
            now,
            input.net.clone(),
        )
        .expect("minting with a good key works");
    assert!(
        claims.exp <= claims.send,
        "exp after the session's hard end"
    );
    assert_eq!(claims.net, input.net);
    assert_eq!(
        p.verify(&token, &input.room, now).as_deref(),
        Ok(&claims),
        "a fresh pass does not verify"
    );
    let other = format!("{}x", input.room);
    assert_eq!(
        p.verify(&token, &other, now).err(),
        Some(Rejection::WrongAudience)
    );
    let then = now + u64::from(input.later);
    let expect_expired = then > claims.exp + LEEWAY_SECS;
    match p.verify(&token, &input.room, then) {
        Ok(c) => {
            assert!(!expect_expired && *c == claims);
            // Renewal (only ever asked for a pass that verified): same session, a later
            // `exp`, never past the session's hard end.
            if let Some((renewed, c)) = p.renew(&claims, session.idle, then).expect("renew") {
                assert_eq!(
                    (&c.jti, c.sst, c.send, &c.net),
                    (&claims.jti, claims.sst, claims.send, &claims.net)
                );
                assert!(
                    c.exp > claims.exp && c.exp <= c.send,
                    "renewal moved exp wrongly"
                );
                assert_eq!(p.verify(&renewed, &input.room, then).as_deref(), Ok(&c));
            }
        }
        Err(e) => assert!(
            expect_expired && e == Rejection::Expired,
            "{e:?} at +{}",
            input.later
        ),
    }
    // One changed character: never accepted.
    let at = usize::from(input.edit_at) % token.len();
    let mut edited = token.clone().into_bytes();
    edited[at] = input.edit_to;
    if edited != token.as_bytes() {
        if let Ok(edited) = String::from_utf8(edited) {
            let r = p.verify(&edited, &input.room, now);
            assert!(r.is_err(), "an edited pass was accepted: {edited:?}");
        }
    }
    if input.revoke {
        p.revoke(&claims.jti, claims.send, now);
        assert_eq!(
            p.verify(&token, &input.room, now).err(),
            Some(Rejection::Revoked)
        );
    }
});
