//! Key generation tests.

use super::keys::*;

#[test]
fn writes_pair_and_refuses_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let pair = generate().unwrap();
    assert!(pair.private_pem.contains("BEGIN PRIVATE KEY"));
    assert!(pair.public_pem.contains("BEGIN PUBLIC KEY"));
    let (k, p) = write(dir.path(), "pass", &pair).unwrap();
    assert!(k.is_file() && p.is_file());
    assert!(write(dir.path(), "pass", &pair).is_err());
}
