//! The retry policy, as a pure function: what to do after a failed call.
//!
//! Retrying what cannot succeed (bad key, signature, permission, arguments) feeds Kraken's
//! lockout, so those are fatal at once; transient failures back off exponentially with jitter.

use super::error::{ApiError, KrakenError};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Tunables of the retry policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Backoff before the first retry.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
    /// Attempts of one call before the run gives up with "retry later" (exit 75).
    pub max_attempts: u32,
    /// Longest wait honoured for `EService:Throttled:<time>`; beyond it the run ends (exit 75).
    pub max_throttle_wait: Duration,
}

impl Default for RetryPolicy {
    /// 1 s doubling to 60 s, 8 attempts, throttle waits up to 5 minutes.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_attempts: 8,
            max_throttle_wait: Duration::from_secs(300),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Wait, then send the call again (with a new nonce).
    RetryAfter(Duration),
    /// Raise the nonce floor above anything used recently, then retry once.
    ResyncNonce,
    /// End the run with "retry later" (exit 75); progress is kept.
    GiveUpForNow,
    /// End the run: retrying cannot help.
    Fatal,
}

/// Exponential backoff with equal jitter: half the step fixed, half random (`jitter` in 0..1).
pub fn backoff(policy: &RetryPolicy, attempt: u32, jitter: f64) -> Duration {
    let step = policy
        .base
        .saturating_mul(2u32.saturating_pow(attempt.min(30)))
        .min(policy.cap);
    step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// Decides after attempt number `attempt` (0 for the first) failed with `error`.
/// `nonce_resynced`: the nonce floor was already raised once in this run.
pub fn decide(
    policy: &RetryPolicy,
    error: &KrakenError,
    attempt: u32,
    now: DateTime<Utc>,
    jitter: f64,
    nonce_resynced: bool,
) -> Decision {
    let transient = || {
        if attempt + 1 >= policy.max_attempts {
            Decision::GiveUpForNow
        } else {
            Decision::RetryAfter(backoff(policy, attempt, jitter))
        }
    };
    match error {
        KrakenError::Api { error, .. } => match error {
            ApiError::Throttled(Some(until)) => {
                let wait = (*until - now.timestamp()).max(0) as u64;
                // Kraken gives whole seconds: wait for the end of that second.
                let wait = Duration::from_secs(wait) + Duration::from_millis(50);
                if attempt + 1 >= policy.max_attempts || wait > policy.max_throttle_wait {
                    Decision::GiveUpForNow
                } else {
                    Decision::RetryAfter(wait)
                }
            }
            // The limiter already assumes a full counter and paces the retry.
            ApiError::RateLimitExceeded if attempt + 1 < policy.max_attempts => {
                Decision::RetryAfter(Duration::ZERO)
            }
            ApiError::InvalidNonce if !nonce_resynced => Decision::ResyncNonce,
            ApiError::TemporaryLockout => Decision::GiveUpForNow,
            e if e.is_retryable() => transient(),
            _ => Decision::Fatal,
        },
        KrakenError::HttpStatus { .. }
        | KrakenError::Transport { .. }
        | KrakenError::Decode { .. } => transient(),
        KrakenError::PermissionDenied { .. }
        | KrakenError::KeyState(_)
        | KrakenError::TooLarge { .. }
        | KrakenError::Setup { .. } => Decision::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn api(e: &str) -> KrakenError {
        KrakenError::Api {
            method: "Ledgers",
            error: ApiError::parse(e),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(backoff(&p, 0, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&p, 0, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(&p, 3, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(&p, 3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(&p, 20, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(&p, 20, 0.0), Duration::from_secs(30));
    }

    #[test]
    fn transient_errors_retry_then_give_up_for_now() {
        let p = RetryPolicy::default();
        for e in [
            api("EService:Unavailable"),
            api("EService:Busy"),
            api("EGeneral:Internal error"),
            KrakenError::HttpStatus {
                method: "Ledgers",
                status: 502,
            },
            KrakenError::Transport {
                method: "Ledgers",
                detail: "timed out",
            },
            KrakenError::Decode {
                method: "Ledgers",
                detail: "truncated".into(),
            },
        ] {
            assert_eq!(
                decide(&p, &e, 0, now(), 0.0, false),
                Decision::RetryAfter(Duration::from_millis(500)),
                "{e}"
            );
            assert_eq!(decide(&p, &e, 7, now(), 0.0, false), Decision::GiveUpForNow);
        }
    }

    #[test]
    fn fatal_errors_are_never_retried() {
        let p = RetryPolicy::default();
        for e in [
            "EAPI:Invalid key",
            "EAPI:Invalid signature",
            "EGeneral:Invalid arguments:ofs",
            "EQuery:Unknown asset",
        ] {
            assert_eq!(
                decide(&p, &api(e), 0, now(), 0.5, false),
                Decision::Fatal,
                "{e}"
            );
        }
        let denied = KrakenError::PermissionDenied {
            method: "Ledgers",
            permission: "Query Ledger Entries",
        };
        assert_eq!(decide(&p, &denied, 0, now(), 0.5, false), Decision::Fatal);
    }

    #[test]
    fn throttled_waits_until_the_given_time() {
        let p = RetryPolicy::default();
        let e = api("EService:Throttled:1700000003");
        assert_eq!(
            decide(&p, &e, 0, now(), 0.9, false),
            Decision::RetryAfter(Duration::from_millis(3050))
        );
        let far = api("EService:Throttled:1700009999");
        assert_eq!(
            decide(&p, &far, 0, now(), 0.9, false),
            Decision::GiveUpForNow
        );
    }

    #[test]
    fn invalid_nonce_resyncs_once_then_is_fatal() {
        let p = RetryPolicy::default();
        let e = api("EAPI:Invalid nonce");
        assert_eq!(decide(&p, &e, 0, now(), 0.0, false), Decision::ResyncNonce);
        assert_eq!(decide(&p, &e, 1, now(), 0.0, true), Decision::Fatal);
    }

    #[test]
    fn lockout_ends_the_run_for_now_and_rate_limit_retries_paced() {
        let p = RetryPolicy::default();
        assert_eq!(
            decide(&p, &api("EGeneral:Temporary lockout"), 0, now(), 0.0, false),
            Decision::GiveUpForNow
        );
        assert_eq!(
            decide(&p, &api("EAPI:Rate limit exceeded"), 0, now(), 0.0, false),
            Decision::RetryAfter(Duration::ZERO)
        );
    }
}
