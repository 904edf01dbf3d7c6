//! The retry policy, as a pure function ([`decide`]: what to do after a failed call), and the
//! one loop that applies it ([`Retrier::run`]), used by the sync, the backfill, the doctor's
//! probes and the public price fetch.
//!
//! Retrying what cannot succeed (bad key, signature, permission, arguments) feeds Kraken's
//! lockout, so those are fatal at once; transient failures back off exponentially with jitter;
//! `EService:Throttled:<time>` waits until that time; an invalid nonce moves the nonce floor
//! ahead once per run; a temporary lockout ends the run for now; no wait runs past the run's
//! deadline.

use super::error::{ApiError, KrakenError};
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

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
        | KrakenError::Tls { .. }
        | KrakenError::Redirect { .. }
        | KrakenError::Setup { .. } => Decision::Fatal,
    }
}

/// A client whose calls [`Retrier::run`] repeats: the retry loop only needs it to move its
/// nonce ahead after `EAPI:Invalid nonce`.
pub trait Resync {
    /// Moves the nonce floor ahead of anything used recently; `Ok(false)` when the client
    /// sends no nonce (public calls), so there is nothing to move.
    fn resync_nonce(&mut self) -> Result<bool, KrakenError>;
}

/// Why a retried call ended without a result.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// The call failed for good, or its attempts are spent: the last failure.
    #[error(transparent)]
    Failed(#[from] KrakenError),
    /// The wait before the next attempt would end after the run's deadline.
    #[error("the time budget is spent before the next attempt")]
    Deadline {
        /// The failure that would have been retried.
        #[source]
        last: KrakenError,
    },
}

impl RetryError {
    /// The last failure, whichever way the retries ended.
    pub fn into_last(self) -> KrakenError {
        match self {
            RetryError::Failed(e) | RetryError::Deadline { last: e } => e,
        }
    }
}

/// The retry state of one run: its policy, its deadline, and whether the nonce floor was
/// raised already (once per run: a second refusal means another program uses the key).
#[derive(Debug, Clone)]
pub struct Retrier {
    policy: RetryPolicy,
    deadline: Option<Instant>,
    nonce_resynced: bool,
}

impl Retrier {
    /// A run retrying by `policy`, never waiting past `deadline`.
    pub fn new(policy: RetryPolicy, deadline: Option<Instant>) -> Self {
        Self {
            policy,
            deadline,
            nonce_resynced: false,
        }
    }

    /// True once the nonce floor was raised in this run.
    pub fn nonce_resynced(&self) -> bool {
        self.nonce_resynced
    }

    /// Sends `call` until it succeeds or [`decide`] says stop. `on_failure` sees every failed
    /// attempt with the decision taken on it (for counts and logs).
    pub async fn run<C: Resync, T>(
        &mut self,
        client: &mut C,
        mut call: impl AsyncFnMut(&mut C) -> Result<T, KrakenError>,
        on_failure: &mut dyn FnMut(&KrakenError, &Decision),
    ) -> Result<T, RetryError> {
        let mut attempt = 0u32;
        loop {
            let error = match call(client).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let decision = decide(
                &self.policy,
                &error,
                attempt,
                Utc::now(),
                rand::random::<f64>(),
                self.nonce_resynced,
            );
            tracing::info!(%error, attempt, ?decision, "call failed");
            on_failure(&error, &decision);
            match decision {
                Decision::RetryAfter(wait) => {
                    if self.deadline.is_some_and(|d| Instant::now() + wait >= d) {
                        return Err(RetryError::Deadline { last: error });
                    }
                    tokio::time::sleep(wait).await;
                }
                Decision::ResyncNonce => {
                    if !client.resync_nonce()? {
                        return Err(error.into());
                    }
                    self.nonce_resynced = true;
                }
                Decision::GiveUpForNow | Decision::Fatal => return Err(error.into()),
            }
            attempt += 1;
        }
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
                detail: super::super::error::DecodeError::NoResult,
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

    /// A client whose calls answer from a script; counts its nonce resyncs.
    struct Scripted {
        answers: std::collections::VecDeque<Result<u32, KrakenError>>,
        resyncs: u32,
        calls: u32,
    }

    impl Resync for Scripted {
        fn resync_nonce(&mut self) -> Result<bool, KrakenError> {
            self.resyncs += 1;
            Ok(true)
        }
    }

    impl Scripted {
        fn new(answers: Vec<Result<u32, KrakenError>>) -> Self {
            Scripted {
                answers: answers.into(),
                resyncs: 0,
                calls: 0,
            }
        }
        async fn call(&mut self) -> Result<u32, KrakenError> {
            self.calls += 1;
            self.answers.pop_front().unwrap_or(Ok(0))
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            max_attempts: 3,
            max_throttle_wait: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_counted() {
        let mut c = Scripted::new(vec![
            Err(api("EService:Busy")),
            Err(api("EService:Busy")),
            Ok(7),
        ]);
        let mut seen = Vec::new();
        let got = Retrier::new(fast(), None)
            .run(&mut c, async |c| c.call().await, &mut |e, d| {
                seen.push((e.to_string(), d.clone()))
            })
            .await
            .unwrap();
        assert_eq!((got, c.calls), (7, 3));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, "Kraken refused Ledgers: EService:Busy");
        // Attempts spent: the last failure is returned.
        let mut c = Scripted::new((0..3).map(|_| Err(api("EService:Busy"))).collect());
        let e = Retrier::new(fast(), None)
            .run(&mut c, async |c| c.call().await, &mut |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            RetryError::Failed(KrakenError::Api {
                error: ApiError::Busy,
                ..
            })
        ));
        assert_eq!(c.calls, 3);
    }

    #[tokio::test]
    async fn the_nonce_is_resynced_once_per_run_not_once_per_call() {
        let nonce = || Err(api("EAPI:Invalid nonce"));
        let mut c = Scripted::new(vec![nonce(), Ok(1), nonce(), Ok(2)]);
        let mut run = Retrier::new(fast(), None);
        let first = run
            .run(&mut c, async |c| c.call().await, &mut |_, _| {})
            .await;
        assert_eq!(first.unwrap(), 1);
        assert!(run.nonce_resynced());
        // A second refusal in the same run, on another call: another program uses the key.
        let second = run
            .run(&mut c, async |c| c.call().await, &mut |_, _| {})
            .await;
        assert!(matches!(
            second,
            Err(RetryError::Failed(KrakenError::Api {
                error: ApiError::InvalidNonce,
                ..
            }))
        ));
        assert_eq!((c.resyncs, c.calls), (1, 3));
    }

    #[tokio::test]
    async fn no_wait_runs_past_the_deadline() {
        let slow = RetryPolicy {
            base: Duration::from_secs(20),
            cap: Duration::from_secs(40),
            ..fast()
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut c = Scripted::new(vec![Err(api("EService:Unavailable")), Ok(1)]);
        let started = Instant::now();
        let e = Retrier::new(slow, Some(deadline))
            .run(&mut c, async |c| c.call().await, &mut |_, _| {})
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            e.to_string(),
            "the time budget is spent before the next attempt"
        );
        assert!(matches!(
            e.into_last(),
            KrakenError::Api {
                error: ApiError::Unavailable,
                ..
            }
        ));
        assert_eq!(c.calls, 1);
    }

    #[tokio::test]
    async fn lockout_and_fatal_errors_end_at_once() {
        for (answer, calls) in [("EGeneral:Temporary lockout", 1), ("EAPI:Invalid key", 1)] {
            let mut c = Scripted::new(vec![Err(api(answer)), Ok(1)]);
            let e = Retrier::new(fast(), None)
                .run(&mut c, async |c| c.call().await, &mut |_, _| {})
                .await
                .unwrap_err();
            assert_eq!(
                e.into_last().to_string(),
                format!("Kraken refused Ledgers: {answer}")
            );
            assert_eq!(c.calls, calls);
        }
    }
}
