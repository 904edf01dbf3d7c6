//! Kraken's private-API rate-limit tiers.

use std::fmt;
use std::str::FromStr;

/// The counter model of a tier: calls add their cost, the counter decays continuously,
/// and a call that would take it above `max` is refused by Kraken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateTier {
    /// Maximum counter value.
    pub max: f64,
    /// Decay of the counter per second.
    pub decay_per_sec: f64,
}

impl RateTier {
    /// Starter: 15, decaying 0.33 per second.
    pub const STARTER: RateTier = RateTier {
        max: 15.0,
        decay_per_sec: 0.33,
    };
    /// Intermediate: 20, decaying 0.5 per second.
    pub const INTERMEDIATE: RateTier = RateTier {
        max: 20.0,
        decay_per_sec: 0.5,
    };
    /// Pro: 20, decaying 1 per second.
    pub const PRO: RateTier = RateTier {
        max: 20.0,
        decay_per_sec: 1.0,
    };

    /// The same tier with time running `factor` times faster (for the emulator and tests).
    pub fn scaled(self, factor: f64) -> RateTier {
        RateTier {
            max: self.max,
            decay_per_sec: self.decay_per_sec * factor,
        }
    }
}

/// Cost of a call to a private method on Kraken's counter.
pub fn call_cost(method: &str) -> f64 {
    match method {
        "Ledgers" | "QueryLedgers" | "TradesHistory" | "QueryTrades" => 2.0,
        _ => 1.0,
    }
}

/// Why a tier text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tier {0:?}: use starter, intermediate, pro, or MAX:DECAY such as 15:0.33 (MAX a whole number from 2 to 1000, DECAY a positive number up to 1000000)"
)]
pub struct TierError(pub String);

impl FromStr for RateTier {
    type Err = TierError;
    fn from_str(s: &str) -> Result<Self, TierError> {
        match s.to_ascii_lowercase().as_str() {
            "starter" => return Ok(RateTier::STARTER),
            "intermediate" => return Ok(RateTier::INTERMEDIATE),
            "pro" => return Ok(RateTier::PRO),
            _ => {}
        }
        let err = || TierError(s.to_owned());
        let (max, decay) = s.split_once(':').ok_or_else(err)?;
        // The counter's maximum is a whole number of call costs (Kraken's are 15 and 20).
        let max: u32 = max.trim().parse().map_err(|_| err())?;
        let decay: f64 = decay.trim().parse().map_err(|_| err())?;
        if !((2..=1000).contains(&max) && decay.is_finite() && decay > 0.0 && decay <= 1e6) {
            return Err(err());
        }
        Ok(RateTier {
            max: f64::from(max),
            decay_per_sec: decay,
        })
    }
}

impl fmt::Display for RateTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.max, self.decay_per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_explicit_values() {
        assert_eq!("starter".parse::<RateTier>().unwrap(), RateTier::STARTER);
        assert_eq!("Pro".parse::<RateTier>().unwrap(), RateTier::PRO);
        let t: RateTier = "15:0.33".parse().unwrap();
        assert_eq!((t.max, t.decay_per_sec), (15.0, 0.33));
        assert!("15".parse::<RateTier>().is_err());
        assert!("15:0".parse::<RateTier>().is_err());
        assert!("x:1".parse::<RateTier>().is_err());
        // Refused, not wrapped or rounded: a fractional or absurd maximum, an absurd decay.
        for bad in [
            "15.5:1",
            "1e300:1",
            "4294967296:1",
            "1001:1",
            "1:1",
            "20:1e7",
            "20:inf",
            "20:NaN",
        ] {
            assert!(bad.parse::<RateTier>().is_err(), "{bad}");
        }
        let t: RateTier = "1000:1000000".parse().unwrap();
        assert_eq!((t.max, t.decay_per_sec), (1000.0, 1e6));
        assert_eq!(call_cost("Ledgers"), 2.0);
        assert_eq!(call_cost("Balance"), 1.0);
    }
}
