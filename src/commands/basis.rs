//! `kraken-tax basis import FILE`: costs of deposits from elsewhere, for `gains`.

use super::{Context, Failure};
use crate::cli::BasisCommand;
use crate::gains::basis::parse_basis;
use anyhow::anyhow;

pub(super) fn run(ctx: &Context, cmd: &BasisCommand) -> Result<(), Failure> {
    let BasisCommand::Import { file } = cmd;
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(anyhow!("cannot read {}: {e}", file.display())))?;
    let records =
        parse_basis(&text).map_err(|e| Failure::usage(anyhow!("{}: {e}", file.display())))?;
    let store = super::open_store(ctx, false)?;
    store.ensure_account(&ctx.account).map_err(Failure::bad)?;
    let mut unmatched = Vec::new();
    for r in &records {
        if let Some(id) = &r.ledger_ref
            && !store
                .has_ledger_ref(&ctx.account, id)
                .map_err(Failure::bad)?
        {
            unmatched.push(id.clone());
        }
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = store
        .save_basis(&ctx.account, &name, &records)
        .map_err(Failure::bad)?;
    if !unmatched.is_empty() {
        tracing::warn!(
            "{} {} no stored ledger entry of account {:?} yet (e.g. {}): {} once the entry is synced or imported",
            crate::text::count(unmatched.len(), "basis row"),
            crate::text::agree(unmatched.len(), "names", "name"),
            ctx.account,
            unmatched[0],
            crate::text::agree(unmatched.len(), "it applies", "they apply"),
        );
    }
    if !ctx.quiet {
        super::out(&format!(
            "stored {} from {} for account {}\n",
            crate::text::count(n, "cost"),
            file.display(),
            ctx.account
        ))?;
    }
    Ok(())
}
