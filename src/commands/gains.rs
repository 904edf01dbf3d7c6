//! `kraken-tax gains`: flags → [`GainsPlan`], then `gains::run`; the summary is printed.

use super::{Context, Failure};
use crate::cli::{GainsArgs, LotsArg, MethodArg, PeriodArg, SwapFeeArg, UnknownCostArg};
use crate::gains::run::{RunError, summary_table};
use crate::gains::{GainsPlan, LotPick, Method, Period, SwapFee, UnknownCost};
use anyhow::anyhow;
use chrono_tz::Tz;

/// Reporting currencies accepted (as `export`).
const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY"];

pub(super) async fn run(ctx: &Context, args: &GainsArgs) -> Result<(), Failure> {
    let mut store = super::open_store(ctx, true)?;
    let plan = plan(ctx, args, &store)?;
    ctx.file.classify.validate().map_err(Failure::usage)?;
    let outcome = crate::gains::run::run(&plan, &mut store, &ctx.file.classify)
        .await
        .map_err(failure)?;
    for w in &outcome.warnings {
        tracing::warn!("{w}");
    }
    if ctx.quiet {
        return Ok(());
    }
    let mut text = format!(
        "gains {} {} {} (your own computation, not tax advice):\n{}",
        plan.period.label,
        plan.currency,
        plan.method,
        summary_table(&outcome.summary)
    );
    for f in &outcome.files {
        text.push_str(&format!("wrote {}\n", f.display()));
    }
    super::out(&text)
}

fn failure(e: RunError) -> Failure {
    match e {
        RunError::Store(s) => Failure::bad(s),
        other => Failure::bad(other),
    }
}

fn method(m: MethodArg) -> Method {
    match m {
        MethodArg::Fifo => Method::Fifo,
        MethodArg::Lifo => Method::Lifo,
        MethodArg::Hifo => Method::Hifo,
        MethodArg::Average => Method::Average,
        MethodArg::Uk => Method::Uk,
        MethodArg::De => Method::De,
        MethodArg::Us => Method::Us,
    }
}

fn period(args: &GainsArgs, method: Method) -> Result<Period, Failure> {
    let tz: Tz = args.tz.parse().map_err(|_| {
        Failure::usage(anyhow!(
            "unknown time zone {:?} for --tz: use an IANA name such as Europe/Berlin, or UTC",
            args.tz
        ))
    })?;
    if let (Some(from), Some(to)) = (args.from, args.to) {
        return Period::range(from, to, tz)
            .ok_or_else(|| Failure::usage(anyhow!("--to {to} is before --from {from}")));
    }
    let year = args
        .year
        .filter(|y| (1970..=2100).contains(y))
        .ok_or_else(|| {
            Failure::usage(anyhow!("use --year from 1970 to 2100, or --from and --to"))
        })?;
    let p = match (args.period, method) {
        (Some(PeriodArg::Uk), _) | (None, Method::Uk) => Period::uk_tax_year(year),
        (Some(PeriodArg::Au), _) => Period::au_year(year),
        (None, _) => Period::calendar_year(year, tz),
    };
    p.ok_or_else(|| Failure::usage(anyhow!("invalid year {year}")))
}

fn plan(
    ctx: &Context,
    args: &GainsArgs,
    store: &crate::store::Store,
) -> Result<GainsPlan, Failure> {
    let currency = args.currency.to_ascii_uppercase();
    if !CURRENCIES.contains(&currency.as_str()) {
        return Err(Failure::usage(anyhow!(
            "unsupported reporting currency {currency:?}: use one of {}",
            CURRENCIES.join(", ")
        )));
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(Failure::usage(anyhow!(
            "--out {} is a file, not a directory: give the directory for the files",
            args.out.display()
        )));
    }
    let method = method(args.method);
    let accounts = if args.all_accounts {
        store.accounts().map_err(Failure::bad)?
    } else {
        vec![ctx.account.clone()]
    };
    let api_url = if args.offline {
        None
    } else {
        Some(
            crate::config::resolve_api_url(args.api_url.as_deref(), &ctx.file)
                .map_err(Failure::usage)?,
        )
    };
    Ok(GainsPlan {
        accounts,
        currency,
        method,
        lots: match args.lots {
            LotsArg::Fifo => LotPick::Fifo,
            LotsArg::Hifo => LotPick::Hifo,
        },
        swap_fee: match args.swap_fee {
            SwapFeeArg::Leg => SwapFee::Leg,
            SwapFeeArg::Split => SwapFee::Split,
        },
        unknown_cost: match args.unknown_cost {
            UnknownCostArg::Empty => UnknownCost::Empty,
            UnknownCostArg::Zero => UnknownCost::Zero,
        },
        period: period(args, method)?,
        out: args.out.clone(),
        api_url,
    })
}
