//! Tests for `queue`: the store is picked and opened from `[store]`.

use super::*;
use crate::config::store::RedisOptions;
use crate::room::tests::{settings, T0};
use crate::room::Mode;

fn rooms() -> Vec<(String, RoomSettings)> {
    vec![("r".to_string(), settings(Mode::Queue))]
}

#[tokio::test]
async fn memory_opens_from_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let store = QueueStore::open(&StoreSettings::Memory, &rooms(), dir.path(), T0)
        .await
        .unwrap();
    assert!(store.saves_to_file() && store.memory().is_some());
    assert!(matches!(
        store.join("r", "s", T0).await,
        Ok(Join::Queued(0))
    ));
}

#[tokio::test]
async fn a_damaged_state_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(state_file::FILE_NAME), b"not json").unwrap();
    let err = QueueStore::open(&StoreSettings::Memory, &rooms(), dir.path(), T0).await;
    assert!(matches!(err, Err(StoreOpenError::State(_))));
}

#[tokio::test]
async fn a_bad_redis_url_is_an_error() {
    let redis = StoreSettings::Redis {
        url: "http://x".into(),
        options: RedisOptions::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let err = QueueStore::open(&redis, &rooms(), dir.path(), T0).await;
    assert!(matches!(err, Err(StoreOpenError::Redis(_))));
}
