//! `kraken-tax verify`, the checks run at the end of every sync, and the status line.

use super::{Context, Failure};
use crate::cli::VerifyArgs;
use crate::config;
use crate::kraken::{ClientConfig, KrakenClient};
use crate::secret::{CredentialError, Credentials};
use crate::store::{KeyStateDb, LockError, RunLock, Store, VerifyTrigger};
use crate::sync::StoreKeyState;
use crate::verify::{self, BalanceCheck, VerifyReport};
use anyhow::{Context as _, anyhow};

pub(super) async fn run(ctx: &Context, args: &VerifyArgs) -> Result<(), Failure> {
    // A bad URL is a usage error before anything is opened, as for sync.
    if !args.offline {
        super::api_url(args.api_url.as_deref(), ctx)?;
    }
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
    let check = if args.offline {
        BalanceCheck::Skipped {
            reason: "--offline: Kraken's balances were not asked for".to_owned(),
        }
    } else {
        balance_step(ctx, args, &report).await?
    };
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
    args: &VerifyArgs,
    report: &VerifyReport,
) -> Result<BalanceCheck, Failure> {
    let skipped = |reason: String| Ok(BalanceCheck::Skipped { reason });
    let file = &ctx.file.sync;
    let key_file = args.key_file.as_deref().or(file.key_file.as_deref());
    let credentials = match key_file {
        Some(path) => Credentials::from_key_file(path).map(Some),
        None => Credentials::from_env_with(|name| std::env::var(name).ok()),
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
    let api_url = super::api_url(args.api_url.as_deref(), ctx)?;
    let tier = config::resolve_tier(None, &ctx.file).map_err(Failure::usage)?;
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

/// The cheap checks at the end of a successful sync: recorded for `status`, and a warning when
/// something is off. Never fails the sync: the history it stored is kept either way.
/// A damaged or unwritable database is an error; anything else that stops the check a warning.
pub(super) fn after_sync(
    store: &Store,
    account: &str,
    run_id: i64,
) -> Result<(), crate::store::StoreError> {
    let result = verify::check_account(store, account).and_then(|report| {
        verify::record(store, &report, VerifyTrigger::Sync, Some(run_id))?;
        Ok(report)
    });
    match result {
        Ok(r) if r.consistent => {}
        Ok(r) => tracing::warn!(
            "the stored history is not consistent: {}; run `kraken-tax verify` for details",
            r.summary()
        ),
        Err(verify::VerifyError::Store(e)) if e.is_damage() => return Err(e),
        Err(e) => tracing::warn!("could not check the stored history after the sync: {e}"),
    }
    Ok(())
}

/// One or two lines for `status` about the latest verification.
pub(super) fn status_lines(store: &Store, account: &str) -> anyhow::Result<String> {
    let Some(rec) = store.latest_verify(account)? else {
        return Ok("  verify: never run\n".to_owned());
    };
    let what = if rec.consistent {
        format!(
            "consistent ({} ledger entries, {} trades)",
            rec.ledger_entries, rec.trades
        )
    } else {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if rec.gaps > 0 {
            parts.push(plural(rec.gaps, "probable gap", "probable gaps"));
        }
        if rec.trade_problems > 0 {
            parts.push(plural(
                rec.trade_problems,
                "trade with missing or mismatched legs",
                "trades with missing or mismatched legs",
            ));
        }
        if rec.balance_check == "mismatch" {
            parts.push("balances differ from Kraken's".to_owned());
        }
        format!("NOT consistent: {}", parts.join(", "))
    };
    let mut out = format!(
        "  verify: {what}; checked {} {}\n",
        rec.checked_at,
        rec.trigger.label()
    );
    if !rec.consistent {
        out.push_str("          run `kraken-tax verify` for the entries concerned\n");
    }
    Ok(out)
}
