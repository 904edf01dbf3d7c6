//! `kraken-tax prices import FILE...`: [`crate::pricing::import_files::import_files`], a
//! line per file.

use super::{Context, Failure};
use crate::cli::PricesCommand;
use crate::pricing::import_files::{ImportedFile, PriceFileError, import_files};

pub(super) fn run(ctx: &Context, cmd: &PricesCommand) -> Result<(), Failure> {
    match cmd {
        PricesCommand::Import { files } => {
            let store = super::open_store(ctx, false)?;
            import_files(&store, files, |f: &ImportedFile| {
                if ctx.quiet {
                    return Ok(());
                }
                super::out(&format!(
                    "{}: {} candles of {}/{} ({} min), {} prices stored as import:{}\n",
                    f.name, f.candles, f.base, f.quote, f.interval_min, f.stored, f.name
                ))
            })
        }
    }
}

impl From<PriceFileError> for Failure {
    fn from(e: PriceFileError) -> Self {
        match e {
            PriceFileError::Store(e) => Failure::bad(e),
            e if e.is_usage() => Failure::usage(e),
            e => Failure::bad(e),
        }
    }
}
