//! Seeded fault injection: which fault, if any, each private call gets.
//!
//! The schedule only decides *which* fault a call draws; the server decides where in Kraken's
//! order of checks it applies (see `server.rs`).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::time::Duration;

/// A kind of fault the emulator can inject.
///
/// Faults in the first group (HTTP 5xx, [`FaultKind::ConnectionReset`]) happen at Kraken's
/// edge: the request never reached the API, so the nonce is not consumed and the rate counter
/// is not charged. All others reached the API: the nonce is consumed and, except
/// [`FaultKind::SpuriousRateLimit`], the call's cost is added to the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// HTTP 500 with an HTML body (the request never reached the API).
    Http500,
    /// HTTP 502 with an HTML body (the request never reached the API).
    Http502,
    /// HTTP 503 with an HTML body (the request never reached the API).
    Http503,
    /// The connection is reset without any HTTP response (the request never reached the API).
    ConnectionReset,
    /// The call is processed on arrival but its answer is sent only after [`FaultPlan::hang`]
    /// (meant to be longer than the client's timeout).
    Hang,
    /// HTTP 200 whose body is the real answer cut in the middle (invalid JSON), with a
    /// `Content-Length` matching what is sent.
    TruncatedJson,
    /// `EService:Unavailable`.
    Unavailable,
    /// `EService:Busy`.
    Busy,
    /// `EService:Throttled:<unix seconds>`, the time being one second from now, rounded up to
    /// whole seconds.
    Throttled,
    /// `EAPI:Rate limit exceeded` although the counter is not full; the cost is not added.
    SpuriousRateLimit,
    /// `EGeneral:Temporary lockout` for this call and for every call during
    /// [`FaultPlan::lockout`] after it.
    Lockout,
    /// A normal answer whose `count` (Ledgers, TradesHistory) is off by 1 to 3 either way,
    /// never below 0.
    CountDrift,
    /// A normal answer, after which 1 to 60 more entries (ledger and trades together, in time
    /// order) become visible. Only has an effect while a visibility limit is set.
    NewEntries,
    /// The call is processed normally (nonce, counter, everything) but the connection is
    /// dropped instead of answering: a retry gets the same page twice.
    AnswerLost,
    /// The body of the previous successful answer to the same history method (a stale page,
    /// as from a caching proxy). Without a previous answer, a normal answer.
    ReplayPrevious,
}

impl FaultKind {
    /// The name used in [`CallStats::faults`](super::CallStats::faults), e.g. `"Http500"`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Http500 => "Http500",
            FaultKind::Http502 => "Http502",
            FaultKind::Http503 => "Http503",
            FaultKind::ConnectionReset => "ConnectionReset",
            FaultKind::Hang => "Hang",
            FaultKind::TruncatedJson => "TruncatedJson",
            FaultKind::Unavailable => "Unavailable",
            FaultKind::Busy => "Busy",
            FaultKind::Throttled => "Throttled",
            FaultKind::SpuriousRateLimit => "SpuriousRateLimit",
            FaultKind::Lockout => "Lockout",
            FaultKind::CountDrift => "CountDrift",
            FaultKind::NewEntries => "NewEntries",
            FaultKind::AnswerLost => "AnswerLost",
            FaultKind::ReplayPrevious => "ReplayPrevious",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A seeded schedule of faults: each private call that passes authentication (key, nonce,
/// signature) gets, with probability `rate`, one kind drawn uniformly from `kinds`, from a
/// ChaCha8 generator seeded with `seed`. The schedule is deterministic for a given sequence of
/// calls: the n-th authenticated call always draws the same fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Seed of the random sequence.
    pub seed: u64,
    /// Probability that a call is faulted, 0 to 1 (values outside are clamped).
    pub rate: f64,
    /// The kinds to draw from, uniformly; empty means no faults.
    pub kinds: Vec<FaultKind>,
    /// How long a [`FaultKind::Hang`] delays the answer.
    pub hang: Duration,
    /// How long a [`FaultKind::Lockout`] refuses calls.
    pub lockout: Duration,
}

impl FaultPlan {
    /// Every kind, in declaration order.
    pub fn all_kinds() -> Vec<FaultKind> {
        vec![
            FaultKind::Http500,
            FaultKind::Http502,
            FaultKind::Http503,
            FaultKind::ConnectionReset,
            FaultKind::Hang,
            FaultKind::TruncatedJson,
            FaultKind::Unavailable,
            FaultKind::Busy,
            FaultKind::Throttled,
            FaultKind::SpuriousRateLimit,
            FaultKind::Lockout,
            FaultKind::CountDrift,
            FaultKind::NewEntries,
            FaultKind::AnswerLost,
            FaultKind::ReplayPrevious,
        ]
    }

    /// All kinds at `rate`, with a 2 s hang and a 1 s lockout; set `hang` above the client's
    /// timeout for hangs to be seen as timeouts.
    pub fn new(seed: u64, rate: f64) -> Self {
        FaultPlan {
            seed,
            rate,
            kinds: Self::all_kinds(),
            hang: Duration::from_secs(2),
            lockout: Duration::from_secs(1),
        }
    }
}

/// One drawn fault with its parameters, drawn together so that the random sequence depends
/// only on the number of calls, never on their answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Drawn {
    pub kind: FaultKind,
    /// For [`FaultKind::CountDrift`]: the offset, ±1..=3; otherwise 0.
    pub drift: i64,
    /// For [`FaultKind::NewEntries`]: how many entries to reveal, 1..=60; otherwise 0.
    pub reveal: usize,
    /// [`FaultPlan::hang`].
    pub hang: Duration,
    /// [`FaultPlan::lockout`].
    pub lockout: Duration,
}

/// A plan and its random sequence.
#[derive(Debug, Clone)]
pub(crate) struct FaultSchedule {
    plan: FaultPlan,
    rng: ChaCha8Rng,
}

impl FaultSchedule {
    /// Starts the plan's sequence from its seed.
    pub fn new(plan: FaultPlan) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(plan.seed);
        FaultSchedule { plan, rng }
    }

    /// The fault for the next authenticated call, if any.
    pub fn draw(&mut self) -> Option<Drawn> {
        let rate = if self.plan.rate.is_nan() {
            0.0
        } else {
            self.plan.rate.clamp(0.0, 1.0)
        };
        if self.plan.kinds.is_empty() || !self.rng.random_bool(rate) {
            return None;
        }
        let kind = self.plan.kinds[self.rng.random_range(0..self.plan.kinds.len())];
        let mut drawn = Drawn {
            kind,
            drift: 0,
            reveal: 0,
            hang: self.plan.hang,
            lockout: self.plan.lockout,
        };
        match kind {
            FaultKind::CountDrift => {
                let d: i64 = self.rng.random_range(1..=3);
                drawn.drift = if self.rng.random_bool(0.5) { d } else { -d };
            }
            FaultKind::NewEntries => drawn.reveal = self.rng.random_range(1..=60),
            _ => {}
        }
        Some(drawn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn plan(seed: u64, rate: f64) -> FaultPlan {
        FaultPlan::new(seed, rate)
    }

    fn sequence(p: FaultPlan, n: usize) -> Vec<Option<Drawn>> {
        let mut s = FaultSchedule::new(p);
        (0..n).map(|_| s.draw()).collect()
    }

    #[test]
    fn schedule_is_deterministic_for_a_seed() {
        let a = sequence(plan(7, 0.3), 500);
        assert_eq!(a, sequence(plan(7, 0.3), 500));
        assert_ne!(a, sequence(plan(8, 0.3), 500));
        let faulted = a.iter().flatten().count();
        assert!((100..200).contains(&faulted), "about 30%: {faulted}");
    }

    #[test]
    fn rate_zero_never_rate_one_always() {
        assert!(sequence(plan(1, 0.0), 1000).iter().all(Option::is_none));
        assert!(sequence(plan(1, -3.0), 100).iter().all(Option::is_none));
        assert!(sequence(plan(1, f64::NAN), 100).iter().all(Option::is_none));
        let all = sequence(plan(1, 1.0), 3000);
        assert!(all.iter().all(Option::is_some));
        // Uniform over the kinds: each of 15 kinds about 200 times.
        let mut by_kind: BTreeMap<FaultKind, usize> = BTreeMap::new();
        for d in all.iter().flatten() {
            *by_kind.entry(d.kind).or_default() += 1;
        }
        assert_eq!(by_kind.len(), FaultPlan::all_kinds().len());
        assert!(
            by_kind.values().all(|&n| (120..300).contains(&n)),
            "{by_kind:?}"
        );
        // Only the listed kinds, and parameters in range.
        let mut p = plan(2, 1.0);
        p.kinds = vec![FaultKind::CountDrift, FaultKind::NewEntries];
        for d in sequence(p, 500).into_iter().flatten() {
            match d.kind {
                FaultKind::CountDrift => {
                    assert!((1..=3).contains(&d.drift.abs()), "{d:?}")
                }
                FaultKind::NewEntries => assert!((1..=60).contains(&d.reveal), "{d:?}"),
                k => panic!("unexpected {k}"),
            }
        }
        let mut p = plan(2, 1.0);
        p.kinds.clear();
        assert!(sequence(p, 10).iter().all(Option::is_none));
    }

    #[test]
    fn kind_names_are_distinct() {
        let names: BTreeSet<&str> = FaultPlan::all_kinds()
            .into_iter()
            .map(FaultKind::name)
            .collect();
        assert_eq!(names.len(), 15);
        assert_eq!(FaultKind::Http500.to_string(), "Http500");
    }
}
