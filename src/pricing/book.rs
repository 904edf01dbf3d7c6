//! In-memory price series: the [`PriceSource`] behind both the Kraken trade cache and the
//! imported tables, loaded once from the store so that valuing a million legs costs no query.

use super::value::{PriceSource, Quote};
use crate::store::{PriceRow, Store, StoreError};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Farthest a Kraken trade may be from the leg it prices.
pub const KRAKEN_MAX_GAP_US: i64 = 24 * 3600 * 1_000_000;
/// Farthest an imported candle close may be from the leg (daily candles close at midnight).
pub const IMPORT_MAX_GAP_US: i64 = 36 * 3600 * 1_000_000;

struct Series {
    label: String,
    /// (time, price), sorted by time.
    points: Vec<(i64, Decimal)>,
}

/// Price series by (base, quote), each point with its exact time.
pub struct PriceBook {
    series: Vec<Series>,
    by_pair: HashMap<(String, String), Vec<usize>>,
    max_gap_us: i64,
}

impl std::fmt::Debug for PriceBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriceBook")
            .field("series", &self.series.len())
            .finish()
    }
}

impl PriceBook {
    /// A book from rows (any order). Kraken rows are labelled `kraken:<pair>`, imported rows
    /// by their source (`import:<file>`).
    pub fn from_rows(rows: Vec<PriceRow>, max_gap_us: i64) -> Self {
        let mut index: HashMap<(String, String), usize> = HashMap::new();
        let mut book = PriceBook {
            series: Vec::new(),
            by_pair: HashMap::new(),
            max_gap_us,
        };
        for r in rows {
            let label = if r.source == "kraken" {
                format!("kraken:{}", r.pair)
            } else {
                r.source.clone()
            };
            let i = *index
                .entry((label.clone(), r.pair.clone()))
                .or_insert_with(|| {
                    book.series.push(Series {
                        label,
                        points: Vec::new(),
                    });
                    let i = book.series.len() - 1;
                    book.by_pair
                        .entry((r.base.clone(), r.quote.clone()))
                        .or_default()
                        .push(i);
                    i
                });
            book.series[i].points.push((r.time_us, r.price));
        }
        for s in &mut book.series {
            s.points.sort_by_key(|p| p.0);
        }
        book
    }

    /// The Kraken trade cache (source `kraken`).
    pub fn kraken(store: &Store) -> Result<Self, StoreError> {
        Ok(Self::from_rows(
            store.prices_from("kraken")?,
            KRAKEN_MAX_GAP_US,
        ))
    }

    /// Every imported table (sources `import:<file>`).
    pub fn imports(store: &Store) -> Result<Self, StoreError> {
        Ok(Self::from_rows(
            store.prices_from("import:")?,
            IMPORT_MAX_GAP_US,
        ))
    }

    /// Number of price points held.
    pub fn len(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }

    /// True when the book holds no price.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn nearest(&self, base: &str, quote: &str, at_us: i64) -> Option<(i64, Decimal, &str)> {
        let idx = self.by_pair.get(&(base.to_owned(), quote.to_owned()))?;
        let mut best: Option<(i64, i64, Decimal, &str)> = None;
        for &i in idx {
            let s = &self.series[i];
            let k = s.points.partition_point(|p| p.0 <= at_us);
            // The last point at or before the leg, and the first after it; ties go to the
            // earlier one (a price known at that moment).
            for j in [k.checked_sub(1), (k < s.points.len()).then_some(k)]
                .into_iter()
                .flatten()
            {
                let (t, p) = s.points[j];
                let gap = (t - at_us).abs();
                if gap <= self.max_gap_us && best.is_none_or(|b| gap < b.0) {
                    best = Some((gap, t, p, &s.label));
                }
            }
        }
        best.map(|(_, t, p, l)| (t, p, l))
    }
}

impl PriceSource for PriceBook {
    fn price(&mut self, base: &str, quote: &str, at_us: i64) -> Option<Quote> {
        if let Some((t, p, label)) = self.nearest(base, quote, at_us) {
            return Some(Quote {
                price: p,
                time_us: t,
                label: label.to_owned(),
            });
        }
        let (t, p, label) = self.nearest(quote, base, at_us)?;
        if p.is_zero() {
            return None;
        }
        Some(Quote {
            // Full precision: rounding here would show in the value of large amounts.
            price: Decimal::ONE / p,
            time_us: t,
            label: label.to_owned(),
        })
    }
}
