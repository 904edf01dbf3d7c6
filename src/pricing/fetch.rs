//! The async layer: refreshes Kraken's asset and pair lists, and fetches into the cache the
//! public trades that the legs' valuation will look up — at most one call per pair and
//! minute, none for what the cache already covers, and none at all when offline. Failures
//! become warnings: the legs concerned end up unpriced, the run goes on.

use super::value::LegToValue;
use crate::domain::{AssetInfo, PairInfo};
use crate::kraken::public::{PublicClient, PublicTrade};
use crate::normalize::assets::AssetTable;
use crate::normalize::events::Exchange;
use crate::store::{PriceRow, Store, StoreError, minute_bucket};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Kraken's page size for public trades.
const TRADES_PAGE: usize = 1000;
/// A fetch starts this long before the minute it is for, to see the trade just before.
const LOOKBACK_US: i64 = 60_000_000;
/// Consecutive failures after which a pair is given up for this run.
const MAX_FAILURES: u32 = 3;

/// Kraken's pairs keyed by reported codes (`(BTC, EUR)` → `XXBTZEUR`).
#[derive(Debug, Clone, Default)]
pub struct Markets {
    by_codes: HashMap<(String, String), String>,
    codes: HashMap<String, (String, String)>,
}

impl Markets {
    /// From cached pairs and assets (codes normalized as in reports).
    pub fn new(pairs: &[PairInfo], assets: &[AssetInfo]) -> Self {
        let table = AssetTable::new(
            assets
                .iter()
                .map(|a| (a.code.clone(), a.altname.clone()))
                .collect(),
        );
        let mut m = Markets::default();
        for p in pairs {
            // Dark-pool and margin variants (`.d`) are not markets we price from.
            if p.pair.ends_with(".d") {
                continue;
            }
            let b = table.normalize(&p.base).code;
            let q = table.normalize(&p.quote).code;
            m.by_codes
                .entry((b.clone(), q.clone()))
                .or_insert_with(|| p.pair.clone());
            m.codes.insert(p.pair.clone(), (b.clone(), q.clone()));
            m.codes.insert(p.altname.clone(), (b, q));
        }
        m
    }

    /// From the store's cache.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self::new(&store.market_pairs()?, &store.market_assets()?))
    }

    /// The pair quoting `base` in `quote`, or the inverse pair.
    pub fn pair(&self, base: &str, quote: &str) -> Option<&str> {
        self.by_codes
            .get(&(base.to_owned(), quote.to_owned()))
            .or_else(|| self.by_codes.get(&(quote.to_owned(), base.to_owned())))
            .map(String::as_str)
    }

    /// Reported (base, quote) of a pair name or altname.
    pub fn codes(&self, pair: &str) -> Option<&(String, String)> {
        self.codes.get(pair)
    }

    /// No pair known.
    pub fn is_empty(&self) -> bool {
        self.by_codes.is_empty()
    }

    /// The pairs to price `asset` in `currency`, in the order valuation tries routes:
    /// direct, then via USD, EUR, BTC.
    fn route(&self, asset: &str, currency: &str) -> Option<Vec<&str>> {
        if asset == currency {
            return Some(Vec::new());
        }
        if let Some(p) = self.pair(asset, currency) {
            return Some(vec![p]);
        }
        ["USD", "EUR", "BTC"].iter().find_map(|via| {
            if *via == asset || *via == currency {
                return None;
            }
            Some(vec![self.pair(asset, via)?, self.pair(via, currency)?])
        })
    }

    /// How good a route is: 0 direct, 1 via fiat (or a stablecoin), 2 via BTC, 3 none.
    fn rank(&self, asset: &str, currency: &str) -> u8 {
        match self.route(asset, currency) {
            Some(r) if r.len() <= 1 => 0,
            Some(r)
                if r.iter()
                    .any(|p| self.codes(p).is_some_and(|c| c.1 == "BTC" || c.0 == "BTC")) =>
            {
                2
            }
            Some(_) => 1,
            None => 3,
        }
    }
}

/// Pairs and minutes (Unix minutes) whose trades the legs' valuation needs. Pure.
pub fn plan(
    legs: &[LegToValue<'_>],
    currency: &str,
    markets: &Markets,
) -> BTreeMap<String, BTreeSet<i64>> {
    let mut need: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let add = |asset: &str, t: i64, need: &mut BTreeMap<String, BTreeSet<i64>>| {
        if let Some(route) = markets.route(asset, currency) {
            for p in route {
                need.entry(p.to_owned())
                    .or_default()
                    .insert(minute_bucket(t));
            }
        }
    };
    for leg in legs {
        if !leg.element.is_reportable() {
            continue;
        }
        if !leg.fee_credits.is_zero() && currency != "USD" {
            // A fee paid with KFEE is valued in USD, converted.
            add("USD", leg.time_us, &mut need);
        }
        match leg.exchange {
            Some(ex) if has_fiat_counter(leg, ex) => {
                let fiat = ex
                    .sides
                    .iter()
                    .filter(|s| {
                        s.is_fiat && s.amount.is_sign_negative() != leg.amount.is_sign_negative()
                    })
                    .max_by_key(|s| s.amount.abs())
                    .map(|s| s.asset.as_str())
                    .unwrap_or(currency);
                if fiat != currency {
                    add(fiat, leg.time_us, &mut need);
                }
                let same = ex
                    .sides
                    .iter()
                    .filter(|s| {
                        !s.is_fiat && s.amount.is_sign_negative() == leg.amount.is_sign_negative()
                    })
                    .count();
                if same > 1 || fiat != currency {
                    // Weights of several crypto sides, and the fallback when FX is missing.
                    add(leg.asset, leg.time_us, &mut need);
                }
            }
            Some(ex) if ex.sides.iter().all(|s| !s.is_fiat) && ex.sides.len() > 1 => {
                // A swap: only its better-priced side is looked up.
                let best = ex
                    .sides
                    .iter()
                    .filter(|s| !s.amount.is_zero())
                    .min_by_key(|s| {
                        (
                            markets.rank(&s.asset, currency),
                            !s.amount.is_sign_negative(),
                        )
                    })
                    .map(|s| s.asset.as_str())
                    .unwrap_or(leg.asset);
                add(best, leg.time_us, &mut need);
            }
            _ => add(leg.asset, leg.time_us, &mut need),
        }
    }
    need
}

fn has_fiat_counter(leg: &LegToValue<'_>, ex: &Exchange) -> bool {
    ex.sides.iter().any(|s| {
        s.is_fiat
            && !s.amount.is_zero()
            && s.amount.is_sign_negative() != leg.amount.is_sign_negative()
    })
}

/// What a refresh or prefetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Public calls made (Assets, AssetPairs, Trades).
    pub calls: u64,
    /// Trades calls among them.
    pub trades_calls: u64,
    /// Price rows written.
    pub prices_stored: u64,
    /// Failures, one line each (the legs concerned stay unpriced).
    pub warnings: Vec<String>,
}

/// Fetches `Assets` and `AssetPairs` into the cache. A failure keeps the previous cache and
/// becomes a warning.
pub async fn refresh_markets(store: &Store, client: &mut PublicClient, report: &mut FetchReport) {
    report.calls += 1;
    match client.assets().await {
        Ok(assets) => {
            if let Err(e) = store.save_market_assets(&assets) {
                report
                    .warnings
                    .push(format!("cannot cache Kraken's assets: {e}"));
            }
        }
        Err(e) => report
            .warnings
            .push(format!("Kraken's asset list unavailable: {e}")),
    }
    report.calls += 1;
    match client.asset_pairs().await {
        Ok(pairs) => {
            if let Err(e) = store.save_market_pairs(&pairs) {
                report
                    .warnings
                    .push(format!("cannot cache Kraken's pairs: {e}"));
            }
        }
        Err(e) => report
            .warnings
            .push(format!("Kraken's pair list unavailable: {e}")),
    }
}

/// Fetches the public trades the legs need (see [`plan`]) into the cache. `now_us` bounds
/// what a short (final) page covers.
pub async fn prefetch(
    legs: &[LegToValue<'_>],
    currency: &str,
    store: &Store,
    client: &mut PublicClient,
    now_us: i64,
    report: &mut FetchReport,
) -> Result<(), StoreError> {
    let markets = Markets::load(store)?;
    if markets.is_empty() {
        report
            .warnings
            .push("no Kraken pair list cached: market prices cannot be fetched".to_owned());
        return Ok(());
    }
    let mut covered: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for (pair, from, to) in store.price_coverage()? {
        covered.entry(pair).or_default().push((from, to));
    }
    for (pair, minutes) in plan(legs, currency, &markets) {
        let Some((base, quote)) = markets.codes(&pair).cloned() else {
            continue;
        };
        let ranges = covered.entry(pair.clone()).or_default();
        let mut failures = 0;
        for m in minutes {
            let start = m * 60_000_000;
            let end = start + 59_999_999;
            if ranges.iter().any(|&(f, t)| f <= start && end <= t) {
                continue;
            }
            let from = start - LOOKBACK_US;
            report.calls += 1;
            report.trades_calls += 1;
            match client.trades(&pair, i128::from(from) * 1000).await {
                Ok(page) => {
                    failures = 0;
                    let last = page.trades.last().map_or(from, |t| t.time.micros());
                    let to = if page.trades.len() >= TRADES_PAGE {
                        last
                    } else {
                        last.max(now_us)
                    };
                    let rows = last_per_minute(&page.trades, &pair, &base, &quote);
                    report.prices_stored += store.save_prices(&rows)?;
                    store.add_price_coverage(&pair, from, to)?;
                    ranges.push((from, to));
                }
                Err(e) => {
                    failures += 1;
                    report
                        .warnings
                        .push(format!("prices of {pair} unavailable: {e}"));
                    if failures >= MAX_FAILURES || !e.is_retryable() {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The last trade of each minute, as cache rows.
fn last_per_minute(trades: &[PublicTrade], pair: &str, base: &str, quote: &str) -> Vec<PriceRow> {
    let mut by_minute: BTreeMap<i64, &PublicTrade> = BTreeMap::new();
    for t in trades {
        let m = minute_bucket(t.time.micros());
        match by_minute.get(&m) {
            Some(prev) if prev.time.micros() > t.time.micros() => {}
            _ => {
                by_minute.insert(m, t);
            }
        }
    }
    by_minute
        .values()
        .map(|t| PriceRow {
            source: "kraken".to_owned(),
            pair: pair.to_owned(),
            base: base.to_owned(),
            quote: quote.to_owned(),
            price: t.price,
            time_us: t.time.micros(),
            time_text: t.time.text().to_owned(),
        })
        .collect()
}
