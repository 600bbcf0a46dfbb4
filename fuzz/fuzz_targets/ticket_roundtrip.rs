//! sign → verify on arbitrary tickets: a ticket signed by any configured key comes back
//! unchanged; one signed by an unknown key is forged; any edit of a signed ticket is
//! refused; nothing panics.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use usher::room::ticket::{Phase, Ticket, TicketError, TicketKeys, MAX_ROOM_LEN};
use usher_fuzz::{TICKET_SECRET, TICKET_SECRET_ATTACKER, TICKET_SECRET_OLD};

static RING: LazyLock<TicketKeys> = LazyLock::new(|| {
    TicketKeys::new(&[TICKET_SECRET.to_vec(), TICKET_SECRET_OLD.to_vec()]).expect("keys")
});
static SIGNERS: LazyLock<[TicketKeys; 3]> = LazyLock::new(|| {
    [TICKET_SECRET, TICKET_SECRET_OLD, TICKET_SECRET_ATTACKER]
        .map(|s| TicketKeys::new(&[s.to_vec()]).expect("key"))
});

#[derive(Debug, Arbitrary)]
struct Input {
    room: String,
    visitor: u64,
    place: u32,
    prequeue: bool,
    issued: u32,
    /// 0: current key, 1: retired key, 2: a key usher does not have.
    signer: u8,
    /// Position and new character of one edit to the signed text.
    edit_at: u16,
    edit_to: u8,
}

fuzz_target!(|input: Input| {
    let ticket = Ticket {
        room: input.room,
        visitor: input.visitor,
        place: input.place,
        phase: if input.prequeue {
            Phase::PreQueue
        } else {
            Phase::Fifo
        },
        issued: input.issued,
    };
    let signer = usize::from(input.signer % 3);
    let text = SIGNERS[signer].sign(&ticket);
    let got = RING.verify(&text);
    if signer == 2 {
        assert_eq!(
            got,
            Err(TicketError::Forged),
            "a forged ticket was not refused"
        );
        return;
    }
    // `sign` keeps at most MAX_ROOM_LEN bytes of the room name (valid room names are
    // shorter); a cut inside a character makes the ticket malformed, never another room.
    let kept = &ticket.room.as_bytes()[..ticket.room.len().min(MAX_ROOM_LEN)];
    match std::str::from_utf8(kept) {
        Ok(room) => assert_eq!(
            got,
            Ok(Ticket {
                room: room.to_string(),
                ..ticket.clone()
            }),
            "round trip changed the ticket ({text})"
        ),
        Err(_) => assert_eq!(got, Err(TicketError::Malformed)),
    }
    // One changed character: never accepted.
    let at = usize::from(input.edit_at) % text.len();
    let mut edited = text.clone().into_bytes();
    edited[at] = input.edit_to;
    if edited != text.as_bytes() {
        if let Ok(edited) = String::from_utf8(edited) {
            let r = RING.verify(&edited);
            assert!(
                r.is_err(),
                "an edited ticket was accepted: {edited:?} → {r:?}"
            );
        }
    }
});
