//! `kraken-tax status`: [`crate::status::render`] of the account, or with `--json`
//! [`crate::status::json`].

use super::{Context, Failure};
use crate::cli::StatusArgs;

pub(super) fn run(ctx: &Context, args: &StatusArgs) -> Result<(), Failure> {
    let store = super::open_store(ctx, true)?;
    if args.json {
        let value = crate::status::json(&store, &ctx.account).map_err(Failure::bad)?;
        return super::out(&format!("{value}\n"));
    }
    super::out(&crate::status::render(&store, &ctx.account).map_err(Failure::bad)?)
}
