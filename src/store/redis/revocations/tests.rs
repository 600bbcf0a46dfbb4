//! Tests for `revocations`.

use super::Revocation;

#[test]
fn messages_parse_or_are_refused() {
    assert_eq!(
        Revocation::parse("ab12 1700000000"),
        Some(Revocation {
            session: "ab12".into(),
            until: 1_700_000_000
        })
    );
    assert_eq!(Revocation::parse("ab12"), None);
    assert_eq!(Revocation::parse("ab12 soon"), None);
}
