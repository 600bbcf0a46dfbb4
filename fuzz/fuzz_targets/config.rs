//! Config parsing on arbitrary text: `Settings::from_toml` (the proxy) and
//! `BackendSettings::from_toml` (the booking site) never panic, and a file they accept
//! they accept again (validation is a function of the text alone).
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher::config::backend::BackendSettings;
use usher::config::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let proxy = Settings::from_toml(text);
    let backend = BackendSettings::from_toml(text);
    assert_eq!(Settings::from_toml(text).is_ok(), proxy.is_ok());
    assert_eq!(BackendSettings::from_toml(text).is_ok(), backend.is_ok());
});
