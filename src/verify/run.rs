//! One `verify` of an account, orchestrated: the stored history checked, Kraken's balances
//! compared when credentials allow it (never while a sync of the account holds the lock), the
//! result recorded for `status`. The command builds the [`VerifyPlan`] (`config::verify_plan`),
//! prints the [`VerifyReport`] and maps a [`VerifyRunError`] to an exit code.

use super::{BalanceCheck, VerifyError, VerifyReport};
use crate::domain::{RateTier, TierError};
use crate::key_state::StoreKeyState;
use crate::kraken::{ClientConfig, KrakenClient, KrakenError};
use crate::secret::{CredentialError, Credentials};
use crate::store::{KeyStateDb, LockError, RunLock, Store, StoreError, VerifyTrigger};
use std::path::PathBuf;
use url::Url;

/// Everything a verification needs, resolved (see `config::verify_plan`).
#[derive(Debug)]
pub struct VerifyPlan {
    /// The database file (its lock and key state are beside the history).
    pub db: PathBuf,
    /// The account checked.
    pub account: String,
    /// Whether and how Kraken's balances are asked for.
    pub balances: BalanceSource,
}

/// How `verify` may ask Kraken for the balances.
#[derive(Debug)]
pub enum BalanceSource {
    /// `--offline`.
    Offline,
    /// Ask Kraken with these credentials (errors are reported after the stored checks ran:
    /// missing credentials skip the comparison, unusable ones are a usage error).
    Kraken {
        /// The base URL.
        api_url: Url,
        /// The credentials: none given, or unusable.
        credentials: Result<Option<Credentials>, CredentialError>,
        /// The tier of `[sync] tier`.
        tier: Result<RateTier, TierError>,
    },
}

/// Why a verification did not produce a recorded report. An inconsistent history is not an
/// error here: it is the report's verdict ([`VerifyReport::consistent`]).
#[derive(Debug, thiserror::Error)]
pub enum VerifyRunError {
    /// Nothing is stored for the account.
    #[error(
        "account {0:?} has nothing stored: run `kraken-tax sync` or `kraken-tax import FILE` first, or pass --account NAME"
    )]
    NothingStored(String),
    /// The database could not be read.
    #[error(transparent)]
    Store(StoreError),
    /// The stored history could not be checked.
    #[error("checking the stored history")]
    Check(#[source] VerifyError),
    /// Credentials were given but are unusable (a configuration error, as for sync).
    #[error(transparent)]
    Credentials(CredentialError),
    /// `[sync] tier` is invalid.
    #[error(transparent)]
    Tier(TierError),
    /// The run lock could not be used (other than held by a sync: then the comparison is
    /// skipped).
    #[error(transparent)]
    Lock(LockError),
    /// The key's nonce and counter could not be read from the database.
    #[error(transparent)]
    KeyState(StoreError),
    /// The client could not be set up.
    #[error(transparent)]
    Client(KrakenError),
    /// The result could not be recorded.
    #[error("recording the result")]
    Record(#[source] VerifyError),
}

impl VerifyRunError {
    /// A usage or configuration problem (exit 2) rather than a failure (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            VerifyRunError::NothingStored(_)
                | VerifyRunError::Credentials(_)
                | VerifyRunError::Tier(_)
        )
    }
}

/// Verifies `plan.account` on `store` (opened by the caller on `plan.db`): the stored checks,
/// the optional balance comparison, then the result recorded. See the module docs.
pub async fn run(plan: VerifyPlan, store: &Store) -> Result<VerifyReport, VerifyRunError> {
    let stored = store.accounts().map_err(VerifyRunError::Store)?;
    if !stored.iter().any(|a| a == &plan.account) {
        return Err(VerifyRunError::NothingStored(plan.account));
    }
    let report = super::check_account(store, &plan.account).map_err(VerifyRunError::Check)?;
    let check = balance_step(&plan.db, &plan.account, plan.balances, &report).await?;
    let report = report.with_balance_check(check);
    super::record(store, &report, VerifyTrigger::Command, None).map_err(VerifyRunError::Record)?;
    Ok(report)
}

/// The optional comparison with Kraken's `Balance`: only with credentials, only while no sync
/// of the account runs (the two would share the key's nonce sequence).
async fn balance_step(
    db: &std::path::Path,
    account: &str,
    source: BalanceSource,
    report: &VerifyReport,
) -> Result<BalanceCheck, VerifyRunError> {
    let skipped = |reason: String| Ok(BalanceCheck::Skipped { reason });
    let BalanceSource::Kraken {
        api_url,
        credentials,
        tier,
    } = source
    else {
        return skipped("--offline: Kraken's balances were not asked for".to_owned());
    };
    let credentials = match credentials {
        Ok(Some(c)) => c,
        Ok(None) | Err(CredentialError::Missing) => {
            return skipped(
                "no API credentials (KRAKEN_API_KEY and KRAKEN_API_SECRET, or --key-file); give a key with the Query Funds permission to compare with Kraken's balances".to_owned(),
            );
        }
        Err(e) => return Err(VerifyRunError::Credentials(e)),
    };
    let tier = tier.map_err(VerifyRunError::Tier)?;
    let _lock = match RunLock::acquire(db, account) {
        Ok(lock) => lock,
        Err(e @ LockError::Held { .. }) => {
            return skipped(format!("{e}; run verify again when it has finished"));
        }
        Err(e) => return Err(VerifyRunError::Lock(e)),
    };
    let key_state =
        KeyStateDb::open(db, &credentials.fingerprint()).map_err(VerifyRunError::KeyState)?;
    let mut client = KrakenClient::new(
        ClientConfig::new(api_url, tier),
        credentials,
        Box::new(StoreKeyState(key_state)),
    )
    .map_err(VerifyRunError::Client)?;
    Ok(super::balance_check(&mut client, report).await)
}
