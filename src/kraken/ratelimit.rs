//! A client-side model of Kraken's per-key call counter, used to pace calls so that Kraken
//! never has to refuse one.

use crate::domain::RateTier;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Kraken's counter as this client believes it to be: a level at an instant.
///
/// The model is deliberately pessimistic: a call is recorded when its answer arrives, which is
/// after Kraken counted it, so the modelled level never falls below Kraken's.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimiter {
    tier: RateTier,
    level: f64,
    at: DateTime<Utc>,
}

impl RateLimiter {
    /// A limiter for `tier`, starting from a `level` last known at `at` (0 for an unused key).
    pub fn new(tier: RateTier, level: f64, at: DateTime<Utc>) -> Self {
        Self {
            tier,
            level: level.max(0.0),
            at,
        }
    }

    /// The tier being modelled.
    pub fn tier(&self) -> RateTier {
        self.tier
    }

    /// The counter's level at `now`, after decay.
    pub fn level_at(&self, now: DateTime<Utc>) -> f64 {
        let elapsed = (now - self.at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
        (self.level - self.tier.decay_per_sec * elapsed.max(0.0)).max(0.0)
    }

    /// How long to wait at `now` before a call of `cost` fits under the tier's maximum.
    pub fn delay_before(&self, now: DateTime<Utc>, cost: f64) -> Duration {
        let excess = self.level_at(now) + cost - self.tier.max;
        if excess <= 0.0 {
            Duration::ZERO
        } else {
            // A hair more than the exact time, so float rounding never lands just short.
            Duration::from_secs_f64(excess / self.tier.decay_per_sec + 1e-4)
        }
    }

    /// Records a call of `cost` answered at `now`.
    pub fn record(&mut self, now: DateTime<Utc>, cost: f64) {
        self.level = self.level_at(now) + cost;
        self.at = now;
    }

    /// Assumes the counter is full at `now` (after Kraken said the limit was exceeded).
    pub fn assume_full(&mut self, now: DateTime<Utc>) {
        self.level = self.tier.max;
        self.at = now;
    }

    /// The level and the instant it was measured, for persisting.
    pub fn snapshot(&self) -> (f64, DateTime<Utc>) {
        (self.level, self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn starter_bursts_seven_history_calls_then_one_per_cost_over_decay() {
        let t0 = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let mut rl = RateLimiter::new(RateTier::STARTER, 0.0, t0);
        for _ in 0..7 {
            assert_eq!(rl.delay_before(t0, 2.0), Duration::ZERO);
            rl.record(t0, 2.0);
        }
        // Level 14 of 15: the eighth call needs (14 + 2 - 15) / 0.33 s.
        let wait = rl.delay_before(t0, 2.0).as_secs_f64();
        assert!((wait - 1.0 / 0.33).abs() < 1e-3, "{wait}");
        let later = t0 + chrono::Duration::milliseconds(3031);
        assert_eq!(rl.delay_before(later, 2.0), Duration::ZERO);
        rl.record(later, 2.0);
        // Steady state: one call per 2 / 0.33 s.
        let wait = rl.delay_before(later, 2.0).as_secs_f64();
        assert!((wait - 2.0 / 0.33).abs() < 1e-2, "{wait}");
    }

    #[test]
    fn level_decays_to_zero_and_no_further() {
        let t0 = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let rl = RateLimiter::new(RateTier::PRO, 20.0, t0);
        assert_eq!(rl.level_at(t0 + chrono::Duration::seconds(5)), 15.0);
        assert_eq!(rl.level_at(t0 + chrono::Duration::seconds(500)), 0.0);
        let mut full = rl.clone();
        full.assume_full(t0);
        assert_eq!(full.level_at(t0), 20.0);
    }
}
