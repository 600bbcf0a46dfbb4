//! Validation tests that need no files or sockets.

use super::*;

fn problems(toml: &str) -> Vec<FieldError> {
    match Settings::from_toml(toml) {
        Err(ConfigError::Invalid(v)) => v,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn minimal_config_is_valid() {
    let s = Settings::from_toml("[upstream]\nservers = [\"127.0.0.1:8000\"]\n").unwrap();
    assert_eq!(s.upstream.servers[0].as_str(), "127.0.0.1:8000");
    assert!(matches!(s.tls, TlsSettings::SelfSigned { .. }));
    assert_eq!(s.upstream.host, HostHeader::Preserve);
}

#[test]
fn all_problems_reported_together() {
    let v = problems(
        "[listen]\npublic = \"0.0.0.0:99999\"\n[upstream]\nservers = []\nconnect_timeout = \"soon\"\n",
    );
    let fields: Vec<_> = v.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "listen.public",
            "upstream.servers",
            "upstream.connect_timeout"
        ]
    );
    assert!(v[0]
        .message
        .contains("\"0.0.0.0:99999\" is not a socket address"));
}
