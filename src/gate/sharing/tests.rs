use super::{Shared, Sharing};
use crate::config::abuse::AbuseSettings;
use crate::gate::abuse::Network;

fn net(i: u8) -> Network {
    Network::of(std::net::IpAddr::from([198, 51, 100, i]))
}

#[test]
fn a_pass_used_from_more_networks_than_allowed_is_shared() {
    let a = AbuseSettings {
        pass_max_networks: 3,
        ..AbuseSettings::default()
    };
    let s = Sharing::default();
    for i in 0..3 {
        for _ in 0..10 {
            assert_eq!(s.record("j", net(i), &a, 100), None);
        }
    }
    assert_eq!(s.record("j", net(9), &a, 101), Some(Shared::Networks));
    assert_eq!(s.record("other", net(9), &a, 101), None, "per session");
}

#[test]
fn a_pass_used_too_fast_is_shared_and_nothing_is_tracked_when_off() {
    let a = AbuseSettings {
        pass_max_rps: 5,
        ..AbuseSettings::default()
    };
    let s = Sharing::default();
    for _ in 0..5 {
        assert_eq!(s.record("j", net(1), &a, 100), None);
    }
    assert_eq!(s.record("j", net(1), &a, 100), Some(Shared::Rate));
    assert_eq!(s.record("j", net(1), &a, 101), None, "a new second");
    let off = AbuseSettings::default();
    for i in 0..50 {
        assert_eq!(s.record("k", net(i), &off, 100), None);
    }
    s.mark("j", 200, 100);
    assert!(s.was_shared("j") && !s.was_shared("k"));
}
