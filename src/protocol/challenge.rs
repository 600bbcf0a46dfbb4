//! The join challenge's puzzle, as both sides compute it: a solution to challenge `c` at
//! `bits` is a decimal counter `n` such that SHA-256(`c` ":" `n`) starts with `bits` zero
//! bits. Issuing and checking challenges is the gate's (`gate/challenge.rs`).

use ring::digest;

/// Leading zero bits of SHA-256(`challenge` ":" `solution`).
pub fn leading_zero_bits(challenge: &str, solution: &str) -> u32 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(challenge.as_bytes());
    ctx.update(b":");
    ctx.update(solution.as_bytes());
    let mut bits = 0;
    for b in ctx.finish().as_ref() {
        if *b == 0 {
            bits += 8;
        } else {
            bits += b.leading_zeros();
            break;
        }
    }
    bits
}

/// Solves a challenge by counting up (for tests and `rush`; browsers use the page's code).
pub fn solve(challenge: &str, bits: u8) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|n| leading_zero_bits(challenge, n) >= u32::from(bits))
        .unwrap_or_default()
}
