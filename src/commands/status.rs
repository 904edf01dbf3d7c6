//! `kraken-tax status`: [`crate::status::render`] of the account.

use super::{Context, Failure};

pub(super) fn run(ctx: &Context) -> Result<(), Failure> {
    let store = super::open_store(ctx, true)?;
    super::out(&crate::status::render(&store, &ctx.account).map_err(Failure::bad)?)
}
