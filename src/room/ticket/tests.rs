//! Tests for `ticket`.

use super::*;

fn keys() -> TicketKeys {
    TicketKeys::new(&[vec![7u8; 32]]).unwrap()
}

fn ticket() -> Ticket {
    Ticket {
        room: "tickets".into(),
        visitor: 0xdead_beef_1234_5678,
        place: 4242,
        phase: Phase::Fifo,
        issued: 1_800_000_000,
    }
}

#[test]
fn round_trip_and_size() {
    let k = keys();
    let s = k.sign(&ticket());
    assert!(s.len() < 100, "{} chars", s.len());
    assert!(s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(k.verify(&s).unwrap(), ticket());
}

#[test]
fn forged_edited_and_garbage_tickets_are_refused() {
    let k = keys();
    let s = k.sign(&ticket());
    let other = TicketKeys::new(&[vec![8u8; 32]]).unwrap();
    assert_eq!(other.verify(&s), Err(TicketError::Forged));
    // Flip each byte of the decoded ticket in turn: every edit is caught.
    let raw = URL_SAFE_NO_PAD.decode(&s).unwrap();
    for i in 0..raw.len() {
        let mut edited = raw.clone();
        edited[i] ^= 0x01;
        assert_eq!(
            k.verify(&URL_SAFE_NO_PAD.encode(&edited)),
            Err(TicketError::Forged),
            "byte {i}"
        );
    }
    for junk in ["", "!!!", "aGVsbG8", &"A".repeat(10_000)] {
        assert!(k.verify(junk).is_err(), "{junk:.20}");
    }
}

#[test]
fn rotation_verifies_with_old_keys() {
    let old = keys();
    let s = old.sign(&ticket());
    let rotated = TicketKeys::new(&[vec![9u8; 32], vec![7u8; 32]]).unwrap();
    assert_eq!(rotated.verify(&s).unwrap(), ticket());
    assert!(
        TicketKeys::new(&[vec![1u8; 16]]).is_none(),
        "short secrets refused"
    );
}
