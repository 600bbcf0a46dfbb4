//! Unit tests of `rush`: arrival profiles, visitor plans and settings checks.
use super::*;

#[test]
fn arrival_profiles_parse_and_spread_visitors() {
    let spike: Arrival = "spike:2s".parse().unwrap();
    assert_eq!(spike, Arrival::Spike(Duration::from_secs(2)));
    assert_eq!(
        "ramp:60".parse(),
        Ok(Arrival::Ramp(Duration::from_secs(60)))
    );
    assert!("burst:2s".parse::<Arrival>().is_err());
    assert!("spike".parse::<Arrival>().is_err());
    assert_eq!(spike.to_string(), "spike:2s");
    assert_eq!(spike.at(0.5), Duration::from_secs(1));
    // A ramp: a quarter of the visitors in the first half.
    let ramp = Arrival::Ramp(Duration::from_secs(10));
    assert_eq!(ramp.at(0.25), Duration::from_secs(5));
}

#[test]
fn plans_follow_the_shares() {
    let mut cfg = Config::new("https://x", 10_000);
    cfg.abandon = 0.1;
    cfg.tabs = 0.0;
    let plans = plan(&cfg, &mut Rng::new(7));
    let abandon = plans.iter().filter(|p| p.abandon_at.is_some()).count();
    assert!((800..1200).contains(&abandon), "{abandon}");
    assert!(plans.iter().all(|p| !p.tabs));
    assert!(plans.iter().all(|p| p.arrive < Duration::from_secs(10)));
    assert!(plans
        .iter()
        .filter_map(|p| p.abandon_at)
        .all(|n| (1..=4).contains(&n)));
}

#[test]
fn settings_are_checked() {
    let mut cfg = Config::new("https://x", 1);
    assert!(cfg.validate().is_ok());
    cfg.abandon = 1.5;
    assert!(cfg.validate().is_err());
    let mut cfg = Config::new("https://x", 1);
    cfg.quantity = 0;
    assert!(cfg.validate().is_err());
    assert_eq!(
        EventChoice::Query("a b".into()).entry_path(),
        "/api/events?q=a%20b"
    );
}
