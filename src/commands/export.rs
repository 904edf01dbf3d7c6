//! `kraken-tax export --year Y --currency CCY`: resolve the [`ExportPlan`], run
//! [`crate::export::run::run`], map its error to an exit code.

use super::{Context, Failure};
use crate::cli::ExportArgs;
use crate::config::{self, ExportFlags};
use crate::export::run::{ExportError, ExportPlan, Exported};

pub(super) async fn run(ctx: &Context, args: &ExportArgs) -> Result<(), Failure> {
    let flags = ExportFlags {
        year: args.year,
        currency: args.currency,
        out: args.out.clone(),
        fees: args.fees,
        tz: args.tz,
        formats: args.format.clone(),
        allow_empty: args.allow_empty,
        strict: args.strict,
        offline: args.offline,
        draft: args.draft,
        api_url: args.api_url.clone(),
    };
    let plan = config::export_plan(&ctx.common(), &ctx.file, flags).map_err(Failure::usage)?;
    let exported = export(ctx, &plan).await?;
    if args.json {
        let value = serde_json::json!({
            "command": "export", "account": ctx.account, "year": args.year,
            "currency": plan.currency.to_string(),
            "files": exported.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "legs": exported.legs, "priced": exported.priced, "unpriced": exported.unpriced,
            "warnings": if exported.unpriced > 0 { vec![serde_json::json!({
                "code": "unpriced_legs", "count": exported.unpriced,
                "message": format!("{} legs need a value but have none", exported.unpriced),
            })] } else { vec![] },
        });
        return super::out(&format!("{value}\n"));
    }
    if !ctx.quiet {
        for f in &exported.files {
            super::out(&format!("wrote {}\n", f.display()))?;
        }
    }
    Ok(())
}

/// Runs an export on the database of `ctx`; shared with `demo`.
pub(super) async fn export(ctx: &Context, plan: &ExportPlan) -> Result<Exported, Failure> {
    let mut store = super::open_store(ctx, true)?;
    crate::export::run::run(plan, &mut store)
        .await
        .map_err(|e| match e {
            ExportError::Store(e) => Failure::bad(e),
            e if e.is_usage() => Failure::usage(e),
            e if e.is_temporary() => Failure::temporary(e),
            e => Failure::bad(e),
        })
}

#[cfg(test)]
mod tests {
    use crate::export::xml::XmlIdentity;

    #[test]
    fn the_missing_identity_warning_names_keys_the_config_accepts() {
        let identity = XmlIdentity::kraken_for_currency("EUR");
        // The words `export::xml::missing` uses: the XML field names without `user_`.
        let keys: Vec<&str> = identity
            .missing_user_fields()
            .iter()
            .map(|f| f.trim_start_matches("user_"))
            .collect();
        assert_eq!(
            keys,
            [
                "first_name",
                "last_name",
                "tin",
                "country",
                "city",
                "birth_date"
            ]
        );
        // A valid value for each key: the config checks countries and dates when it is read.
        let value = |k: &str| match k {
            "country" => "GB",
            "birth_date" => "1990-01-31",
            _ => "x",
        };
        let toml: String = keys
            .iter()
            .map(|k| format!("{k} = \"{}\"\n", value(k)))
            .collect();
        let config = crate::config::parse(
            &format!("[identity]\n{toml}"),
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(config.identity.city.as_deref(), Some("x"));
        assert_eq!(config.identity.birth_date.as_deref(), Some("1990-01-31"));
    }
}
