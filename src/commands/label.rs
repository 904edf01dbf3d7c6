//! `kraken-tax label ID own-wallet|exchange|private-wallet`.

use super::{Context, Failure};
use crate::cli::{LabelArg, LabelArgs};
use crate::store::EntryLabel;
use anyhow::anyhow;

pub(super) fn run(ctx: &Context, args: &LabelArgs) -> Result<(), Failure> {
    let label = match args.label {
        LabelArg::OwnWallet => EntryLabel::OwnWallet,
        LabelArg::Exchange => EntryLabel::Exchange,
        LabelArg::PrivateWallet => EntryLabel::PrivateWallet,
    };
    let store = super::open_store(ctx, true)?;
    if !store
        .has_ledger_ref(&ctx.account, &args.id)
        .map_err(Failure::bad)?
    {
        return Err(Failure::usage(anyhow!(
            "account {:?} has no ledger entry with ledger id or refid {:?}: check the id (`kraken-tax export` lists them)",
            ctx.account,
            args.id
        )));
    }
    store
        .set_label(&ctx.account, &args.id, label)
        .map_err(Failure::bad)?;
    if !ctx.quiet {
        super::out(&format!("labelled {} {}\n", args.id, label.as_str()))?;
    }
    Ok(())
}
