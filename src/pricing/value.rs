//! Pure valuation: which price values a leg, in carf.md's order, with provenance.
//!
//! 1. `trade:<ccy>`: the fiat leg of the same exchange event is the reporting currency.
//! 2. `fx:<origin>`: the fiat leg is another fiat, converted at Kraken's rate of that moment.
//! 3. `kraken:<PAIR>`: Kraken's public trades of the asset against the currency (or via USD,
//!    EUR or BTC, labels joined with `+`).
//! 4. `import:<file>`: a price table the user imported (a later [`PriceSource`]).
//! 5. Otherwise unpriced: no value, never an invented one.

use crate::domain::Element;
use crate::normalize::events::{Exchange, Side};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Stablecoins: preferred, after a direct fiat pair, to value a swap.
const STABLECOINS: &[&str] = &["USDT", "USDC", "DAI", "PYUSD", "EURT", "USDG", "TUSD"];

/// Intermediate assets tried, in order, when an asset has no pair against the currency.
const VIA: &[&str] = &["USD", "EUR", "BTC"];

/// Decimals kept for prices computed by division or inversion.
const PRICE_DP: u32 = 12;

/// A price found by a [`PriceSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Price of one base unit in the quote asset.
    pub price: Decimal,
    /// Exact time of the trade or candle used, microseconds since the epoch.
    pub time_us: i64,
    /// Provenance: `kraken:XXBTZEUR` or `import:XBTEUR_1440.csv`.
    pub label: String,
}

/// Where prices come from. Implemented by the Kraken trade cache and by imported tables
/// (see [`super::PriceBook`]); tests implement it with fixed tables.
pub trait PriceSource {
    /// The price of one `base` in `quote` (reported codes: `BTC`, `EUR`) nearest to `at_us`,
    /// from a direct pair or its inverse; `None` when this source has none close enough.
    fn price(&mut self, base: &str, quote: &str, at_us: i64) -> Option<Quote>;
}

/// One leg to value. Borrowed from the caller's rows, so valuing a million legs copies
/// nothing but the results.
#[derive(Debug, Clone, Copy)]
pub struct LegToValue<'a> {
    /// Kraken's ledger id (for messages).
    pub ledger_id: &'a str,
    /// Time of the leg, microseconds since the epoch.
    pub time_us: i64,
    /// The reported asset (`BTC`; see `normalize::assets`).
    pub asset: &'a str,
    /// Signed amount (Kraken's `amount`).
    pub amount: Decimal,
    /// Fee in the same asset (Kraken's `fee`).
    pub fee: Decimal,
    /// The leg's classification: only reportable elements are valued.
    pub element: Element,
    /// The event the leg belongs to (a swap is valued once per event).
    pub event_id: &'a str,
    /// All sides of the event, for exchange events.
    pub exchange: Option<&'a Exchange>,
    /// Kraken fee credits (KFEE) that paid this leg's fee (the event's KFEE leg's `fee`),
    /// valued at [`KFEE_USD`] per credit; zero when none.
    pub fee_credits: Decimal,
}

/// The value of one Kraken fee credit (KFEE) in USD: 1,000 credits are 10 USD of fees.
pub const KFEE_USD: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

impl<'a> LegToValue<'a> {
    /// The leg of a ledger entry, given its event (from `normalize::events::group`) and its
    /// element (from `classify::classify`).
    pub fn from_entry(
        entry: &'a crate::domain::LedgerEntry,
        ctx: &'a crate::normalize::events::LegContext,
        element: Element,
    ) -> Self {
        LegToValue {
            ledger_id: entry.id.as_str(),
            time_us: entry.time.micros(),
            asset: &ctx.asset.code,
            amount: entry.amount,
            fee: entry.fee,
            element,
            event_id: &ctx.event_id,
            exchange: ctx.exchange.as_ref(),
            fee_credits: Decimal::ZERO,
        }
    }
}

/// A priced leg. `amount_gross` and `amount_net` follow carf.md "Fees": acquisitions
/// (positive amounts) net = value of the units, gross = net + fee; disposals (negative
/// amounts) gross = value of the units, net = gross - fee; transfers (the elements that are
/// not exchanges) gross = net = value of the units, the fee only in `fee_amount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// Value of one unit of the leg's asset in the currency.
    pub price: Decimal,
    /// `trade:EUR`, `fx:kraken`, `kraken:XXBTZEUR`, `import:XBTEUR_1440.csv`, ...
    pub source: String,
    /// Exact time of the price used (for `trade:` the leg's own time), microseconds.
    pub price_time_us: i64,
    /// Amount including fees for acquisitions, before fees for disposals.
    pub amount_gross: Decimal,
    /// Amount excluding fees for acquisitions, after fees for disposals.
    pub amount_net: Decimal,
    /// Value of the fee (the leg's own fee plus its share of the event's fiat fee).
    pub fee_amount: Decimal,
}

/// The outcome for one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegValue {
    /// Not reportable (internal, fiat, unclassified): no value needed.
    NotNeeded,
    /// Valued.
    Priced(Priced),
    /// Reportable but no price found: reported without an amount, with this reason.
    Unpriced(String),
}

impl LegValue {
    /// The priced value, if any.
    pub fn priced(&self) -> Option<&Priced> {
        match self {
            LegValue::Priced(p) => Some(p),
            _ => None,
        }
    }
}

/// Values `legs` (any order) in `currency` (`EUR`, `USD`, `GBP`, `CHF`, `CAD`, `AUD`, `JPY`,
/// ...), trying `sources` in order for market prices (the Kraken cache first, then imports).
/// Returns one value per leg, in the same order. Pure apart from the sources' lookups.
pub fn value_legs(
    legs: &[LegToValue<'_>],
    currency: &str,
    sources: &mut [&mut dyn PriceSource],
) -> Vec<LegValue> {
    let mut v = LegValuer::new(currency, sources);
    legs.iter().map(|leg| v.value(leg)).collect()
}

/// Values legs one at a time, in the caller's order, exactly as [`value_legs`] does for a
/// slice in that order (a swap is valued once, at its first leg, and remembered by event id):
/// for a caller that streams legs instead of holding them all.
pub struct LegValuer<'a, 'b> {
    inner: Valuer<'a, 'b, 'a>,
}

impl<'a, 'b> LegValuer<'a, 'b> {
    /// A valuer in `currency`, trying `sources` in order for market prices.
    pub fn new(currency: &'a str, sources: &'a mut [&'b mut dyn PriceSource]) -> Self {
        LegValuer {
            inner: Valuer {
                currency,
                sources,
                swaps: HashMap::new(),
            },
        }
    }

    /// The market price of `asset` at `at_us` in the currency, as a leg without a fiat
    /// counter-leg is valued: the first source that has it, direct or via USD, EUR or BTC.
    pub fn market_quote(&mut self, asset: &str, at_us: i64) -> Option<Quote> {
        self.inner.market(asset, at_us).map(|m| m.quote)
    }

    /// The value of the next leg.
    pub fn value(&mut self, leg: &LegToValue<'_>) -> LegValue {
        self.inner.value(leg)
    }
}

/// Value of a swap event, from its better-priced side.
#[derive(Clone)]
struct SwapValue {
    value: Decimal,
    source: String,
    time_us: i64,
}

struct Valuer<'a, 'b, 'c> {
    currency: &'c str,
    sources: &'a mut [&'b mut dyn PriceSource],
    swaps: HashMap<String, Option<SwapValue>>,
}

/// A market price with how good its route is (0 direct, 1 via a fiat or a stablecoin, 2 via
/// BTC).
struct Market {
    quote: Quote,
    rank: u8,
}

impl Valuer<'_, '_, '_> {
    fn value(&mut self, leg: &LegToValue<'_>) -> LegValue {
        if !leg.element.is_reportable() {
            return LegValue::NotNeeded;
        }
        if leg.fee_credits.is_zero() || !leg.element.is_exchange() {
            return self.value_units(leg);
        }
        // A fee paid with KFEE: 0.01 USD per credit, converted like any USD amount, counted
        // in the fee of the leg it paid for (carf.md "Valuation").
        let usd = leg.fee_credits * KFEE_USD;
        let rate = if self.currency == "USD" {
            Some(Decimal::ONE)
        } else {
            self.fx("USD", leg.time_us).map(|q| q.price)
        };
        let Some(rate) = rate else {
            return LegValue::Unpriced(format!(
                "no USD rate in {} at {} to value the fee paid with {} KFEE (ledger {})",
                self.currency,
                crate::domain::KrakenTime::from_micros(leg.time_us, 6)
                    .utc()
                    .to_rfc3339(),
                leg.fee_credits,
                leg.ledger_id
            ));
        };
        let extra = (usd * rate).round_dp(PRICE_DP);
        match self.value_units(leg) {
            LegValue::Priced(mut p) => {
                p.fee_amount += extra;
                if leg.amount.is_sign_negative() {
                    p.amount_net -= extra;
                } else {
                    p.amount_gross += extra;
                }
                LegValue::Priced(p)
            }
            other => other,
        }
    }

    /// The value of the leg's units and of its own fee.
    fn value_units(&mut self, leg: &LegToValue<'_>) -> LegValue {
        let units = leg.amount.abs();
        if let Some(ex) = leg.exchange {
            if let Some(v) = self.against_fiat(leg, ex) {
                return v;
            }
            if is_swap(ex) {
                return self.swap(leg, ex);
            }
        }
        match self.market(leg.asset, leg.time_us) {
            Some(m) => {
                let price = m.quote.price;
                let (Some(value), Some(fee)) =
                    (units.checked_mul(price), leg.fee.checked_mul(price))
                else {
                    return out_of_range(leg);
                };
                finish(leg, price, value, fee, m.quote.label, m.quote.time_us)
            }
            None => self.unpriced(leg),
        }
    }

    fn unpriced(&self, leg: &LegToValue<'_>) -> LegValue {
        LegValue::Unpriced(format!(
            "no price for {} in {} at {} (ledger {})",
            leg.asset,
            self.currency,
            crate::domain::KrakenTime::from_micros(leg.time_us, 6)
                .utc()
                .to_rfc3339(),
            leg.ledger_id
        ))
    }

    /// `trade:<ccy>` and `fx:`: the fiat side exchanged against this leg.
    fn against_fiat(&mut self, leg: &LegToValue<'_>, ex: &Exchange) -> Option<LegValue> {
        let fiat = ex
            .sides
            .iter()
            .filter(|s| {
                s.is_fiat
                    && !s.amount.is_zero()
                    && s.amount.is_sign_negative() != leg.amount.is_sign_negative()
            })
            .max_by_key(|s| s.amount.abs())?;
        let share = self.share(leg, ex)?;
        let (Some(paid), Some(fee)) = (
            fiat.amount.abs().checked_mul(share),
            fiat.fee.checked_mul(share),
        ) else {
            return Some(out_of_range(leg));
        };
        let units = leg.amount.abs();
        if units.is_zero() {
            return None;
        }
        let (rate, source, time_us) = if fiat.asset == self.currency {
            (
                Decimal::ONE,
                format!("trade:{}", self.currency),
                leg.time_us,
            )
        } else {
            let q = self.fx(&fiat.asset, leg.time_us)?;
            let origin = q.label.split(':').next().unwrap_or("kraken").to_owned();
            (q.price, format!("fx:{origin}"), q.time_us)
        };
        let Some((value, price, fee_value)) = paid.checked_mul(rate).and_then(|value| {
            let price = value.checked_div(units)?.round_dp(PRICE_DP);
            let fee_value = fee
                .checked_mul(rate)?
                .checked_add(leg.fee.checked_mul(price)?)?;
            Some((value, price, fee_value))
        }) else {
            return Some(out_of_range(leg));
        };
        Some(finish(leg, price, value, fee_value, source, time_us))
    }

    /// This leg's share of the fiat side: 1, or by market value when several crypto sides of
    /// the same sign were exchanged against it (`None` when those cannot be priced).
    fn share(&mut self, leg: &LegToValue<'_>, ex: &Exchange) -> Option<Decimal> {
        let same: Vec<&Side> = ex
            .sides
            .iter()
            .filter(|s| {
                !s.is_fiat
                    && !s.amount.is_zero()
                    && s.amount.is_sign_negative() == leg.amount.is_sign_negative()
            })
            .collect();
        if same.len() <= 1 {
            return Some(Decimal::ONE);
        }
        let mut total = Decimal::ZERO;
        let mut mine = None;
        for s in same {
            // A weight beyond the decimal range cannot be priced either.
            let w = s
                .amount
                .abs()
                .checked_mul(self.market(&s.asset, leg.time_us)?.quote.price)?;
            if s.asset == leg.asset {
                mine = Some(w);
            }
            total = total.checked_add(w)?;
        }
        let mine = mine?;
        if total.is_zero() {
            return None;
        }
        // The leg may be one of several fills of its side: scale to this leg's units.
        let side_units = ex
            .sides
            .iter()
            .find(|s| s.asset == leg.asset)
            .map(|s| s.amount.abs())?;
        if side_units.is_zero() {
            return None;
        }
        mine.checked_div(total)?
            .checked_mul(leg.amount.abs().checked_div(side_units)?)
    }

    fn swap(&mut self, leg: &LegToValue<'_>, ex: &Exchange) -> LegValue {
        let units = leg.amount.abs();
        if !self.swaps.contains_key(leg.event_id) {
            let v = self.best_side(ex, leg.time_us);
            self.swaps.insert(leg.event_id.to_owned(), v);
        }
        match self.swaps.get(leg.event_id).cloned().flatten() {
            Some(s) if !units.is_zero() => {
                let Some((price, fee)) = s.value.checked_div(units).and_then(|p| {
                    let price = p.round_dp(PRICE_DP);
                    Some((price, leg.fee.checked_mul(price)?))
                }) else {
                    return out_of_range(leg);
                };
                finish(leg, price, s.value, fee, s.source, s.time_us)
            }
            _ => self.unpriced(leg),
        }
    }

    /// Values a swap once, from the side with the best route (a direct pair first, then a
    /// stablecoin or a fiat route, then via BTC); ties go to the side given.
    fn best_side(&mut self, ex: &Exchange, at_us: i64) -> Option<SwapValue> {
        let mut sides: Vec<&Side> = ex.sides.iter().filter(|s| !s.amount.is_zero()).collect();
        sides.sort_by_key(|s| !s.amount.is_sign_negative());
        let mut best: Option<(u8, SwapValue)> = None;
        for s in sides {
            let Some(m) = self.market(&s.asset, at_us) else {
                continue;
            };
            let rank = if STABLECOINS.contains(&s.asset.as_str()) {
                m.rank.min(1)
            } else {
                m.rank
            };
            // A side whose value is beyond the decimal range cannot value the swap.
            let Some(value) = s.amount.abs().checked_mul(m.quote.price) else {
                continue;
            };
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((
                    rank,
                    SwapValue {
                        value,
                        source: m.quote.label,
                        time_us: m.quote.time_us,
                    },
                ));
            }
        }
        best.map(|(_, v)| v)
    }

    /// The rate of one unit of fiat `from` in the currency (direct, inverse, or via USD/EUR).
    fn fx(&mut self, from: &str, at_us: i64) -> Option<Quote> {
        let to = self.currency;
        for i in 0..self.sources.len() {
            let src = &mut *self.sources[i];
            if let Some(q) = src.price(from, to, at_us) {
                return Some(q);
            }
            for via in ["USD", "EUR"] {
                if via == from || via == to {
                    continue;
                }
                if let Some(q) = chain(src, from, via, to, at_us) {
                    return Some(q);
                }
            }
        }
        None
    }

    /// `kraken:` / `import:`: the asset's market price in the currency.
    fn market(&mut self, asset: &str, at_us: i64) -> Option<Market> {
        let to = self.currency;
        if asset == to {
            return Some(Market {
                quote: Quote {
                    price: Decimal::ONE,
                    time_us: at_us,
                    label: format!("trade:{to}"),
                },
                rank: 0,
            });
        }
        for i in 0..self.sources.len() {
            let src = &mut *self.sources[i];
            if let Some(quote) = src.price(asset, to, at_us) {
                return Some(Market { quote, rank: 0 });
            }
            for via in VIA {
                if *via == asset || *via == to {
                    continue;
                }
                if let Some(quote) = chain(src, asset, via, to, at_us) {
                    let rank = if *via == "BTC" { 2 } else { 1 };
                    return Some(Market { quote, rank });
                }
            }
        }
        None
    }
}

/// `from` → `via` → `to` in one source; the time recorded is that of the first price (the
/// asset's own market), the label names both.
fn chain(src: &mut dyn PriceSource, from: &str, via: &str, to: &str, at_us: i64) -> Option<Quote> {
    let a = src.price(from, via, at_us)?;
    let b = src.price(via, to, at_us)?;
    Some(Quote {
        price: a.price.checked_mul(b.price)?.round_dp(PRICE_DP),
        time_us: a.time_us,
        label: format!("{}+{}", a.label, b.label),
    })
}

fn is_swap(ex: &Exchange) -> bool {
    let live = || ex.sides.iter().filter(|s| !s.amount.is_zero());
    live().all(|s| !s.is_fiat)
        && live().any(|s| s.amount.is_sign_negative())
        && live().any(|s| s.amount.is_sign_positive())
}

/// A leg whose value does not fit in a decimal (only absurd amounts or prices get there):
/// reported without a value, saying why, never wrapped.
fn out_of_range(leg: &LegToValue<'_>) -> LegValue {
    LegValue::Unpriced(format!(
        "the value of {} {} (ledger {}) is beyond the range of a decimal number",
        leg.amount.abs(),
        leg.asset,
        leg.ledger_id
    ))
}

fn finish(
    leg: &LegToValue<'_>,
    price: Decimal,
    value: Decimal,
    fee_value: Decimal,
    source: String,
    price_time_us: i64,
) -> LegValue {
    // Inverted and chained rates carry 28 digits: 12 decimals of a currency are plenty.
    let value = value.round_dp(PRICE_DP);
    let fee_value = fee_value.round_dp(PRICE_DP);
    let (gross, net) = if !leg.element.is_exchange() {
        // A transfer is the fair market value of the units transferred, whatever the fee
        // treatment: a withdrawal's fee is charged on top and never subtracted (carf.md).
        (value, value)
    } else if leg.amount.is_sign_negative() {
        match value.checked_sub(fee_value) {
            Some(net) => (value, net),
            None => return out_of_range(leg),
        }
    } else {
        match value.checked_add(fee_value) {
            Some(gross) => (gross, value),
            None => return out_of_range(leg),
        }
    };
    LegValue::Priced(Priced {
        price,
        source,
        price_time_us,
        amount_gross: gross,
        amount_net: net,
        fee_amount: fee_value,
    })
}
