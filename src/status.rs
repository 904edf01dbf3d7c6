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

/// The status report of one account as one JSON object (`status --json`, described by
/// `schemas/json/status.schema.json`). Times are RFC 3339 UTC.
pub fn json(store: &Store, account: &str) -> Result<serde_json::Value, StoreError> {
    use serde_json::json;
    let known = store.accounts()?.iter().any(|a| a == account);
    let mut streams = Vec::new();
    for stream in Stream::ALL {
        let s = store.stream_summary(account, stream)?;
        let state = store.stream_state(account, stream)?;
        let sync = if state.window.is_some() {
            "in_progress"
        } else if state.synced_to.is_some() {
            "complete"
        } else {
            "never"
        };
        streams.push(json!({
            "stream": stream.as_str(),
            "entries": s.count,
            "oldest": s.oldest.map(|t| t.to_rfc3339()),
            "newest": s.newest.map(|t| t.to_rfc3339()),
            "sync": sync,
        }));
    }
    let mut warnings = Vec::new();
    let conflicts = if known {
        store.conflict_count(account)?
    } else {
        0
    };
    if conflicts > 0 {
        warnings.push(json!({"code": "conflicts_kept_aside", "count": conflicts,
            "message": format!("{conflicts} conflicting versions of stored entries were kept aside")}));
    }
    let unclassified = store
        .derived_counts(account)?
        .into_iter()
        .find(|(e, _)| e == "Unclassified")
        .map_or(0, |(_, n)| n);
    if unclassified > 0 {
        warnings.push(json!({"code": "unclassified_legs", "count": unclassified,
            "message": format!("{unclassified} unclassified legs (as of the last sync, rebuild or export)")}));
    }
    for w in store.open_type_warnings(account)? {
        warnings.push(json!({"code": "unknown_ledger_type", "count": w.entries, "type": w.kind,
            "example": w.example, "since": w.first_seen,
            "message": format!("ledger entries of unknown type {:?}, reported as unclassified until a [classify] rule covers them", w.kind)}));
    }
    let last_sync = store.last_run(account)?.map(|r| {
        json!({"started_at": r.started_at, "finished_at": r.finished_at,
            "outcome": format!("{:?}", r.outcome).to_lowercase(), "detail": r.detail,
            "calls": r.calls, "new_ledger": r.new_ledger, "new_trades": r.new_trades,
            "waited_ms": r.waited_ms, "retries": r.retries})
    });
    Ok(json!({
        "command": "status",
        "account": account,
        "known": known,
        "streams": streams,
        "last_sync": last_sync,
        "last_complete_sync": store.last_complete_sync(account)?.map(|t| t.to_rfc3339()),
        "warnings": warnings,
    }))
}
