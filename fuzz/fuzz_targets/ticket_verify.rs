//! `TicketKeys::verify` on arbitrary text: never panics, and accepts only a ticket one of
//! its keys signed, in the one spelling `sign` produces (no malleable encodings).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use usher::room::ticket::{TicketKeys, MAX_ROOM_LEN};
use usher_fuzz::{TICKET_SECRET, TICKET_SECRET_OLD};

static RING: LazyLock<TicketKeys> = LazyLock::new(|| {
    TicketKeys::new(&[TICKET_SECRET.to_vec(), TICKET_SECRET_OLD.to_vec()]).expect("keys")
});
static CURRENT: LazyLock<TicketKeys> =
    LazyLock::new(|| TicketKeys::new(&[TICKET_SECRET.to_vec()]).expect("key"));
static OLD: LazyLock<TicketKeys> =
    LazyLock::new(|| TicketKeys::new(&[TICKET_SECRET_OLD.to_vec()]).expect("key"));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ticket) = RING.verify(text) {
        assert!(
            ticket.room.len() <= MAX_ROOM_LEN,
            "room too long: {ticket:?}"
        );
        assert!(
            CURRENT.sign(&ticket) == text || OLD.sign(&ticket) == text,
            "accepted a spelling no key signs: {text:?} → {ticket:?}"
        );
    }
});
