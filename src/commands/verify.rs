//! `kraken-tax verify`: resolve where the balances come from, run the checks of
//! [`crate::verify`], record and print the result.

use super::{Context, Failure};
use crate::cli::VerifyArgs;
use crate::config::{self, BalanceSource, VerifyFlags};
use crate::kraken::{ClientConfig, KrakenClient};
use crate::secret::CredentialError;
use crate::store::{KeyStateDb, LockError, RunLock, VerifyTrigger};
use crate::sync::StoreKeyState;
use crate::verify::{self, BalanceCheck, VerifyReport};
use anyhow::{Context as _, anyhow};

pub(super) async fn run(ctx: &Context, args: &VerifyArgs) -> Result<(), Failure> {
    let flags = VerifyFlags {
        offline: args.offline,
        key_file: args.key_file.clone(),
        api_url: args.api_url.clone(),
    };
    // A bad URL is a usage error before anything is opened, as for sync.
    let source =
        config::verify_plan(&ctx.file, flags, &config::process_env).map_err(Failure::usage)?;
    let store = super::open_store(ctx, true)?;
    if !store
        .accounts()
        .map_err(Failure::bad)?
        .iter()
        .any(|a| a == &ctx.account)
    {
        return Err(Failure::usage(anyhow!(
            "account {:?} has nothing stored: run `kraken-tax sync` or `kraken-tax import FILE` first, or pass --account NAME",
            ctx.account
        )));
    }
    let report = verify::check_account(&store, &ctx.account)
        .context("checking the stored history")
        .map_err(Failure::bad)?;
    let check = balance_step(ctx, source, &report).await?;
    let report = report.with_balance_check(check);
    verify::record(&store, &report, VerifyTrigger::Command, None)
        .context("recording the result")
        .map_err(Failure::bad)?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .context("writing the JSON report")
            .map_err(Failure::bad)?;
        super::out(&format!("{json}\n"))?;
    } else if !(ctx.quiet && report.consistent) {
        super::out(&report.render_text())?;
    }
    if report.consistent {
        Ok(())
    } else {
        Err(Failure::bad(anyhow!(
            "the stored history of account {:?} is not consistent: {}",
            ctx.account,
            report.summary()
        )))
    }
}

/// The optional comparison with Kraken's `Balance`: only with credentials, only while no sync
/// of the account runs (the two would share the key's nonce sequence).
async fn balance_step(
    ctx: &Context,
    source: BalanceSource,
    report: &VerifyReport,
) -> Result<BalanceCheck, Failure> {
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
        // Credentials were given but are unusable: a configuration error, as for sync.
        Err(e) => return Err(Failure::usage(e)),
    };
    let tier = tier.map_err(Failure::usage)?;
    let _lock = match RunLock::acquire(&ctx.db, &ctx.account) {
        Ok(lock) => lock,
        Err(e @ LockError::Held { .. }) => {
            return skipped(format!("{e}; run verify again when it has finished"));
        }
        Err(e) => return Err(Failure::bad(e)),
    };
    let key_state = KeyStateDb::open(&ctx.db, &credentials.fingerprint())
        .map_err(|e| super::store_failure(&ctx.db, e))?;
    let mut client = KrakenClient::new(
        ClientConfig::new(api_url, tier),
        credentials,
        Box::new(StoreKeyState(key_state)),
    )
    .map_err(Failure::bad)?;
    Ok(verify::balance_check(&mut client, report).await)
}
