//! `kraken-tax status`.

use super::{Context, Failure};
use crate::domain::Stream;
use crate::store::Store;

pub(super) fn run(ctx: &Context) -> Result<(), Failure> {
    let store = super::open_store(ctx, true)?;
    super::out(&render(&store, &ctx.account).map_err(Failure::bad)?)
}

/// The status report of one account as text.
pub(super) fn render(store: &Store, account: &str) -> anyhow::Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let accounts = store.accounts()?;
    if !accounts.iter().any(|a| a == account) {
        writeln!(
            out,
            "account {account:?}: nothing synced yet (accounts here: {})",
            if accounts.is_empty() {
                "none".to_owned()
            } else {
                accounts.join(", ")
            }
        )?;
        return Ok(out);
    }
    writeln!(out, "account {account:?}")?;
    let fmt_t = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("-".to_owned(), |t| {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        })
    };
    for stream in Stream::ALL {
        let s = store.stream_summary(account, stream)?;
        let state = store.stream_state(account, stream)?;
        let sync = if state.window.is_some() {
            "sync in progress (resumes on the next run)"
        } else if state.synced_to.is_some() {
            "complete"
        } else {
            "never synced"
        };
        writeln!(
            out,
            "  {:<8} {:>9} entries  oldest {}  newest {}  {sync}",
            stream.as_str(),
            s.count,
            fmt_t(s.oldest),
            fmt_t(s.newest),
        )?;
    }
    let conflicts = store.conflict_count(account)?;
    if conflicts > 0 {
        writeln!(
            out,
            "  warning: {conflicts} conflicting versions of stored entries were kept aside"
        )?;
    }
    if let Some((_, n)) = store
        .derived_counts(account)?
        .into_iter()
        .find(|(element, n)| element == "Unclassified" && *n > 0)
    {
        writeln!(
            out,
            "  warning: {n} unclassified leg{} (as of the last sync, rebuild or export): see `kraken-tax rebuild`",
            if n == 1 { "" } else { "s" }
        )?;
    }
    let verify_lines = super::verify::status_lines(store, account)?;
    match store.last_run(account)? {
        None => writeln!(out, "  last sync: none")?,
        Some(r) => {
            writeln!(
                out,
                "  last sync: started {}, {}{}",
                r.started_at,
                r.outcome.label(),
                r.detail.map(|d| format!(": {d}")).unwrap_or_default(),
            )?;
            writeln!(
                out,
                "             {} calls, +{} ledger entries, +{} trades, {:.1} s waiting for the rate limit{}",
                r.calls,
                r.new_ledger,
                r.new_trades,
                r.waited_ms as f64 / 1000.0,
                r.retries
                    .map(|t| format!("; retried: {t}"))
                    .unwrap_or_default()
            )?;
        }
    }
    out.push_str(&verify_lines);
    Ok(out)
}
