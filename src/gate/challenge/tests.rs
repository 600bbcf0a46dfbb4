use super::{ChallengeError, Challenges, CHALLENGE_TTL_SECS};
use crate::protocol::challenge::{leading_zero_bits, solve};

const T: u64 = 1_800_000_000;

#[test]
fn a_solved_challenge_is_accepted_once() {
    let c = Challenges::new(&[7u8; 32]);
    let ch = c.issue("booking", 10, T);
    let s = solve(&ch, 10);
    assert!(leading_zero_bits(&ch, &s) >= 10);
    assert_eq!(c.redeem(&ch, &s, "booking", T + 1), Ok(10));
    assert_eq!(
        c.redeem(&ch, &s, "booking", T + 2),
        Err(ChallengeError::Replayed)
    );
}

#[test]
fn wrong_answers_and_forgeries_are_refused() {
    let c = Challenges::new(&[7u8; 32]);
    let ch = c.issue("booking", 12, T);
    let s = solve(&ch, 12);
    // Wrong solution (find one that fails).
    let bad = (0u64..)
        .map(|n| n.to_string())
        .find(|n| leading_zero_bits(&ch, n) < 12)
        .unwrap();
    assert_eq!(
        c.redeem(&ch, &bad, "booking", T),
        Err(ChallengeError::Unsolved)
    );
    assert_eq!(
        c.redeem(&ch, "", "booking", T),
        Err(ChallengeError::Unsolved)
    );
    assert_eq!(
        c.redeem(&ch, "-1", "booking", T),
        Err(ChallengeError::Unsolved)
    );
    // Another room, too late, from the future.
    assert_eq!(
        c.redeem(&ch, &s, "other", T),
        Err(ChallengeError::WrongRoom)
    );
    assert_eq!(
        c.redeem(&ch, &s, "booking", T + CHALLENGE_TTL_SECS + 1),
        Err(ChallengeError::Expired)
    );
    assert_eq!(
        c.redeem(&ch, &s, "booking", T - 60),
        Err(ChallengeError::Expired)
    );
    // Issued by another secret, or with the difficulty edited down.
    let other = Challenges::new(&[8u8; 32]).issue("booking", 12, T);
    assert_eq!(
        c.redeem(&other, &solve(&other, 12), "booking", T),
        Err(ChallengeError::Forged)
    );
    let (body, tag) = ch.split_once('.').unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = b64.decode(body).unwrap();
    raw[1] = 0;
    let easier = format!("{}.{tag}", b64.encode(&raw));
    assert_eq!(
        c.redeem(&easier, "0", "booking", T),
        Err(ChallengeError::Forged)
    );
    for junk in ["", ".", "a.b", "....", &"x".repeat(2000)] {
        assert_eq!(
            c.redeem(junk, "1", "booking", T),
            Err(ChallengeError::Forged),
            "{junk}"
        );
    }
    // The genuine one still works after all that.
    assert_eq!(c.redeem(&ch, &s, "booking", T), Ok(12));
}

#[test]
fn nodes_sharing_the_secret_accept_each_others_challenges() {
    let (a, b) = (Challenges::new(&[1u8; 32]), Challenges::new(&[1u8; 32]));
    let ch = a.issue("booking", 8, T);
    assert_eq!(b.redeem(&ch, &solve(&ch, 8), "booking", T), Ok(8));
}
