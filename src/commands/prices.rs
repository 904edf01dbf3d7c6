//! `kraken-tax prices import FILE...`: Kraken's OHLCVT files into the price cache.

use super::{Context, Failure};
use crate::cli::PricesCommand;
use crate::normalize::assets::AssetTable;
use crate::pricing::Markets;
use crate::pricing::import::{parse_ohlcvt, split_by_known_quote};
use anyhow::Context as _;

pub(super) fn run(ctx: &Context, cmd: &PricesCommand) -> Result<(), Failure> {
    match cmd {
        PricesCommand::Import { files } => import(ctx, files),
    }
}

fn import(ctx: &Context, files: &[std::path::PathBuf]) -> Result<(), Failure> {
    let store = super::open_store(ctx, false)?;
    let markets = Markets::load(&store).map_err(Failure::bad)?;
    let assets = AssetTable::new(
        store
            .market_assets()
            .map_err(Failure::bad)?
            .into_iter()
            .map(|a| (a.code, a.altname))
            .collect(),
    );
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Failure::usage(anyhow::anyhow!("{}: not a file name", path.display()))
        })?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))
            .map_err(Failure::usage)?;
        let file = parse_ohlcvt(name, &text).map_err(Failure::bad)?;
        // Kraken's own pair list first; a known quote suffix only when it is not cached.
        let (base, quote) = match markets.codes(&file.pair) {
            Some((b, q)) => (b.clone(), q.clone()),
            None => {
                let (b, q) = split_by_known_quote(&file.pair).ok_or_else(|| {
                    Failure::bad(anyhow::anyhow!(
                        "{name}: unknown pair {:?}; run a sync or valuation online once to fetch Kraken's pair list",
                        file.pair
                    ))
                })?;
                (assets.normalize(b).code, assets.normalize(q).code)
            }
        };
        let rows = file.price_rows(&base, &quote);
        let n = store.save_prices(&rows).map_err(Failure::bad)?;
        if !ctx.quiet {
            super::out(&format!(
                "{name}: {} candles of {base}/{quote} ({} min), {n} prices stored as import:{name}\n",
                file.candles.len(),
                file.interval_min
            ))?;
        }
    }
    Ok(())
}
