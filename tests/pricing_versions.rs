//! Price versions: a call is priced by the version in force when it
//! happened, so a price change between a hold and its commit does not
//! reprice the call, and each version names its source.

use ai_budget::pricing::billing::{cost_as_billed, BilledPrice, Billing};
use ai_budget::pricing::versions::{PriceHistory, PriceSource, PriceVersion};
use ai_budget::pricing::{default_prices, Price};
use ai_budget::TokenCounts;
use chrono::{DateTime, Duration, Utc};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn admin(from: DateTime<Utc>, price: Option<BilledPrice>) -> PriceVersion {
    PriceVersion {
        effective_from: Some(from),
        source: PriceSource::Admin,
        price,
    }
}

#[test]
fn a_price_change_between_a_hold_and_its_commit_prices_the_commit_by_the_version_of_the_call() {
    let tokens = TokenCounts::new(10_000, 1_000);
    let mut history = PriceHistory::shipped(default_prices().billed_of("gpt-4.1"));
    let held_at = at("2027-03-10T09:30:00Z");
    // The admin doubles the price while the call is in flight.
    let changed_at = held_at + Duration::seconds(30);
    let doubled = BilledPrice::flat(Price::per_mtok(4.0, Some(1.0), None, 16.0).unwrap());
    history.add(admin(changed_at, Some(doubled.clone())));
    let version = history.at(held_at).unwrap();
    assert_eq!(version.source, PriceSource::Shipped);
    assert_eq!(version.label("2026-11-18"), "2026-11-18");
    // 10 000 x $2 + 1 000 x $8: the price in force when the call was held.
    let price = version.price.as_ref().unwrap();
    assert_eq!(cost_as_billed(&tokens, &Billing::default(), price), 28_000);
    // A call held after the change is priced by the new version.
    let later = history.at(changed_at + Duration::seconds(1)).unwrap();
    assert_eq!(later.source, PriceSource::Admin);
    assert_eq!(later.label("2026-11-18"), "2027-03-10T09:30:30.000Z");
    assert_eq!(
        cost_as_billed(&tokens, &Billing::default(), later.price.as_ref().unwrap()),
        56_000
    );
    assert_eq!(
        history.at(changed_at).unwrap().source,
        PriceSource::Admin,
        "a version is in force from its own instant"
    );
}

#[test]
fn versions_keep_their_order_and_a_removal_is_a_version_too() {
    let mut history = PriceHistory::shipped(None);
    let t0 = at("2027-01-01T00:00:00Z");
    assert!(
        history.at(t0).is_none(),
        "no shipped price: none before the first version"
    );
    let p = |input: f64| {
        Some(BilledPrice::flat(
            Price::per_mtok(input, None, None, 1.0).unwrap(),
        ))
    };
    // Added out of order.
    history.add(admin(t0 + Duration::days(2), p(3.0)));
    history.add(admin(t0, p(1.0)));
    history.add(admin(t0 + Duration::days(1), None));
    let input_at = |h: &PriceHistory, t| {
        h.at(t)
            .and_then(|v| v.price.as_ref())
            .map(|p| p.base().input)
    };
    assert_eq!(input_at(&history, t0), Some(1_000_000));
    assert_eq!(
        input_at(&history, t0 + Duration::hours(25)),
        None,
        "removed on day 1"
    );
    assert_eq!(input_at(&history, t0 + Duration::days(3)), Some(3_000_000));
    // The same instant again replaces that version.
    history.add(admin(t0, p(1.5)));
    assert_eq!(input_at(&history, t0), Some(1_500_000));
    assert_eq!(history.versions().len(), 3);
}
