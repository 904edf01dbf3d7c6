//! `prices import`: Kraken's OHLCVT files read, their pair resolved, their candles stored as
//! the price source `import:<file>`.

use super::Markets;
use super::import::{ImportError, parse_ohlcvt, split_by_known_quote};
use crate::normalize::assets::AssetTable;
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// One file imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    /// The file name (the source is `import:<name>`).
    pub name: String,
    /// Candles in the file.
    pub candles: usize,
    /// Base asset code.
    pub base: String,
    /// Quote asset code.
    pub quote: String,
    /// Candle interval in minutes.
    pub interval_min: i64,
    /// Prices stored.
    pub stored: u64,
}

/// Why a file was not imported (those before it are).
#[derive(Debug, thiserror::Error)]
pub enum PriceFileError {
    /// The path has no usable file name (it names the pair and interval).
    #[error("{}: not a file name", .0.display())]
    NotAFileName(PathBuf),
    /// The file could not be read.
    #[error("reading {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an OHLCVT table.
    #[error(transparent)]
    Parse(#[from] ImportError),
    /// Neither Kraken's cached pair list nor a known quote suffix splits the pair.
    #[error(
        "{name}: unknown pair {pair:?}; run a sync or valuation online once to fetch Kraken's pair list"
    )]
    UnknownPair {
        /// The file name.
        name: String,
        /// The pair it names.
        pair: String,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PriceFileError {
    /// The file could not be used at all, or is misnamed (a usage error) rather than holding
    /// bad data.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::NotAFileName(_) | Self::Read { .. } => true,
            Self::Parse(e) => e.is_name(),
            _ => false,
        }
    }
}

/// Imports `files` in order, calling `done` after each one stored (so what it shows of the
/// files before a bad one is shown).
pub fn import_files<E: From<PriceFileError>>(
    store: &Store,
    files: &[PathBuf],
    mut done: impl FnMut(&ImportedFile) -> Result<(), E>,
) -> Result<(), E> {
    let markets = Markets::load(store).map_err(PriceFileError::from)?;
    let assets = AssetTable::new(
        store
            .market_assets()
            .map_err(PriceFileError::from)?
            .into_iter()
            .map(|a| (a.code, a.altname))
            .collect(),
    );
    for path in files {
        let imported = import_file(store, &markets, &assets, path)?;
        done(&imported)?;
    }
    Ok(())
}

fn import_file(
    store: &Store,
    markets: &Markets,
    assets: &AssetTable,
    path: &Path,
) -> Result<ImportedFile, PriceFileError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| PriceFileError::NotAFileName(path.to_owned()))?;
    let text = std::fs::read_to_string(path).map_err(|source| PriceFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file = parse_ohlcvt(name, &text)?;
    // Kraken's own pair list first; a known quote suffix only when it is not cached.
    let (base, quote) = match markets.codes(&file.pair) {
        Some((b, q)) => (b.clone(), q.clone()),
        None => {
            let (b, q) =
                split_by_known_quote(&file.pair).ok_or_else(|| PriceFileError::UnknownPair {
                    name: name.to_owned(),
                    pair: file.pair.clone(),
                })?;
            (assets.normalize(b).code, assets.normalize(q).code)
        }
    };
    let rows = file.price_rows(&base, &quote);
    let stored = store.save_prices(&rows)?;
    Ok(ImportedFile {
        name: name.to_owned(),
        candles: file.candles.len(),
        base,
        quote,
        interval_min: file.interval_min,
        stored,
    })
}
