//! Tests for `memory`.

use super::*;
use crate::room::tests::T0;
use crate::room::Mode;

/// The room tests' queue: one at a time, no rate limit.
fn settings() -> RoomSettings {
    crate::room::tests::settings(Mode::Queue)
}

#[tokio::test]
async fn outage_fails_every_operation_then_recovers_with_the_line_intact() {
    let store = MemoryStore::new(&[("r".into(), settings())], &BTreeMap::new(), T0);
    let Join::Queued(a) = store.join("r", "a", T0).await.unwrap() else {
        panic!()
    };
    let Join::Queued(b) = store.join("r", "b", T0).await.unwrap() else {
        panic!()
    };
    store.set_available(false);
    assert!(matches!(
        store.join("r", "c", T0).await,
        Err(StoreError::Unavailable)
    ));
    assert!(matches!(
        store.tick("r", T0 + 100).await,
        Err(StoreError::Unavailable)
    ));
    assert!(matches!(
        store.poll("r", b, T0).await,
        Err(StoreError::Unavailable)
    ));
    store.set_available(true);
    assert_eq!(store.tick("r", T0 + 200).await.unwrap(), vec![a]);
    assert!(
        matches!(store.poll("r", b, T0 + 200).await.unwrap(), Visit::Waiting(p) if p.ahead == 0)
    );
    assert!(matches!(
        store.poll("nope", 0, T0).await,
        Err(StoreError::NoRoom(_))
    ));
}

#[tokio::test]
async fn state_file_round_trip_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let rooms = [("r".to_string(), settings())];
    let store = MemoryStore::open(&rooms, &path, T0).unwrap();
    let mut places = Vec::new();
    for i in 0..10 {
        let Join::Queued(p) = store.join("r", &format!("s{i}"), T0).await.unwrap() else {
            panic!()
        };
        places.push(p);
    }
    store.tick("r", T0 + 100).await.unwrap();
    store.save(&path).unwrap();
    drop(store);
    let again = MemoryStore::open(&rooms, &path, T0 + 60_000).unwrap();
    for (i, &p) in places.iter().enumerate().skip(1) {
        let v = again.poll("r", p, T0 + 61_000).await.unwrap();
        assert!(
            matches!(v, Visit::Waiting(pos) if pos.ahead == (i - 1) as u32),
            "{i}: {v:?}"
        );
    }
    // A damaged file is an error that says what to do, not an empty line.
    std::fs::write(&path, b"{not json").unwrap();
    let err = MemoryStore::open(&rooms, &path, T0)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("move it away"), "{err}");
}
