//! The status report of an account as text: what is stored per stream, the derived
//! classification's warnings, the last sync run and the last verification.

use crate::domain::Stream;
use crate::store::{Store, StoreError};
use std::fmt::Write as _;

/// The status report of one account as text.
pub fn render(store: &Store, account: &str) -> Result<String, StoreError> {
    let mut out = String::new();
    let accounts = store.accounts()?;
    if !accounts.iter().any(|a| a == account) {
        let _ = writeln!(
            out,
            "account {account:?}: nothing synced yet (accounts here: {})",
            if accounts.is_empty() {
                "none".to_owned()
            } else {
                accounts.join(", ")
            }
        );
        return Ok(out);
    }
    let _ = writeln!(out, "account {account:?}");
    streams(store, account, &mut out)?;
    let conflicts = store.conflict_count(account)?;
    if conflicts > 0 {
        let _ = writeln!(
            out,
            "  warning: {conflicts} conflicting versions of stored entries were kept aside"
        );
    }
    if let Some((_, n)) = store
        .derived_counts(account)?
        .into_iter()
        .find(|(element, n)| element == "Unclassified" && *n > 0)
    {
        let _ = writeln!(
            out,
            "  warning: {n} unclassified leg{} (as of the last sync, rebuild or export): see `kraken-tax rebuild`",
            if n == 1 { "" } else { "s" }
        );
    }
    for w in store.open_type_warnings(account)? {
        let _ = writeln!(
            out,
            "  warning: {} ledger entr{} of unknown type {:?} stored since {} (e.g. {}), reported as unclassified until a [classify] rule covers them",
            w.entries,
            if w.entries == 1 { "y" } else { "ies" },
            w.kind,
            w.first_seen,
            w.example
        );
    }
    let verify_lines = verify_lines(store, account)?;
    last_run(store, account, &mut out)?;
    out.push_str(&verify_lines);
    Ok(out)
}

/// One line per stream.
fn streams(store: &Store, account: &str, out: &mut String) -> Result<(), StoreError> {
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
        let _ = writeln!(
            out,
            "  {:<8} {:>9} entries  oldest {}  newest {}  {sync}",
            stream.as_str(),
            s.count,
            show_time(s.oldest),
            show_time(s.newest),
        );
    }
    Ok(())
}

fn show_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or("-".to_owned(), |t| {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    })
}

/// The last sync run, two lines.
fn last_run(store: &Store, account: &str, out: &mut String) -> Result<(), StoreError> {
    let Some(r) = store.last_run(account)? else {
        let _ = writeln!(out, "  last sync: none");
        return Ok(());
    };
    let _ = writeln!(
        out,
        "  last sync: started {}, {}{}",
        r.started_at,
        r.outcome.label(),
        r.detail.map(|d| format!(": {d}")).unwrap_or_default(),
    );
    let _ = writeln!(
        out,
        "             {} calls, +{} ledger entries, +{} trades, {:.1} s waiting for the rate limit{}",
        r.calls,
        r.new_ledger,
        r.new_trades,
        r.waited_ms as f64 / 1000.0,
        r.retries
            .map(|t| format!("; retried: {t}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// One or two lines about the latest verification.
pub fn verify_lines(store: &Store, account: &str) -> Result<String, StoreError> {
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
