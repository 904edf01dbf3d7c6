//! Fair-market value with provenance (carf.md "Valuation").
//!
//! - [`value`]: the pure choice of a price per leg ([`value_legs`]), behind the
//!   [`PriceSource`] trait.
//! - [`book`]: [`PriceBook`], the in-memory source loaded from the SQLite cache of Kraken's
//!   public trades, or from imported OHLCVT tables.
//! - [`fetch`]: the async layer that fills the cache from Kraken's public endpoints
//!   (deduplicated, paced; skipped entirely offline).
//! - [`import`]: Kraken's downloadable OHLCVT files.
//!
//! Typical use: `refresh_markets` and `prefetch` (unless offline), then
//! `value_legs(&legs, "EUR", &mut [&mut PriceBook::kraken(&store)?, &mut PriceBook::imports(&store)?])`.

pub mod book;
pub mod fetch;
pub mod import;
pub mod import_files;
pub mod value;

pub use book::PriceBook;
pub use fetch::{FetchReport, Markets, prefetch, refresh_markets};
pub use import::{ImportError, OhlcvtFile, parse_ohlcvt};
pub use value::{LegToValue, LegValue, LegValuer, PriceSource, Priced, Quote, value_legs};

#[cfg(test)]
mod tests;
