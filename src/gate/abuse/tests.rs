use std::time::Duration;

use super::{difficulty, Guard, Network};
use crate::config::abuse::AbuseSettings;

fn settings() -> AbuseSettings {
    AbuseSettings {
        challenge_bits: 12,
        challenge_max_bits: 18,
        challenge_raise_above: 5,
        tickets_per_network: 3,
        tickets_window: Duration::from_secs(60),
        ..AbuseSettings::default()
    }
}

#[test]
fn difficulty_rises_with_the_join_rate_up_to_the_ceiling() {
    let a = settings();
    assert_eq!(difficulty(&a, 0), 12);
    assert_eq!(difficulty(&a, 4), 12);
    assert_eq!(difficulty(&a, 5), 14);
    assert_eq!(difficulty(&a, 10), 16);
    assert_eq!(difficulty(&a, 1000), 18);
    let off = AbuseSettings {
        challenge_bits: 0,
        ..a
    };
    assert_eq!(difficulty(&off, 1000), 0);
}

#[test]
fn one_network_asking_fast_gets_harder_challenges_others_do_not() {
    let (g, a) = (Guard::default(), settings());
    let busy = Network::of("203.0.113.7".parse().unwrap());
    let calm = Network::of("198.51.100.1".parse().unwrap());
    let mut last = 0;
    for _ in 0..40 {
        last = g.attempt(busy, &a, 100);
    }
    assert_eq!(last, 18);
    assert_eq!(g.attempt(calm, &a, 100), 12);
    // The next second still remembers the burst; two quiet seconds later it is gone.
    assert!(g.attempt(busy, &a, 101) > 12);
    assert_eq!(g.attempt(busy, &a, 103), 12);
}

#[test]
fn places_are_capped_per_network_per_window_and_ipv6_counts_per_64() {
    let (g, a) = (Guard::default(), settings());
    let home = Network::of("2001:db8:1:2:aaaa::1".parse().unwrap());
    let same_home = Network::of("2001:db8:1:2:bbbb::9".parse().unwrap());
    let neighbour = Network::of("2001:db8:1:3::1".parse().unwrap());
    assert_eq!(home, same_home);
    for _ in 0..3 {
        assert_eq!(g.over_cap(home, &a, 1000), None);
        g.took_place(same_home, &a, 1000);
    }
    assert_eq!(g.over_cap(home, &a, 1010), Some(50));
    assert_eq!(g.over_cap(neighbour, &a, 1010), None);
    assert_eq!(g.over_cap(home, &a, 1060), None, "a new window");
    let mapped = Network::of("::ffff:192.0.2.1".parse().unwrap());
    assert_eq!(mapped, Network::of("192.0.2.1".parse().unwrap()));
}
