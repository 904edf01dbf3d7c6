//! `config`: every setting as the commands resolve it, and where it came from.

use super::{Failure, out};
use crate::cli::Cli;
use crate::config::{self, GivenCommon, Origin};
use clap::CommandFactory;
use clap::parser::ValueSource;
use std::path::{Path, PathBuf};

/// Prints `key  value  (origin)` lines; a config file that cannot be used is the usual error.
pub(super) fn run(cli: &Cli) -> Result<(), Failure> {
    let file = config::load(cli.config.as_deref()).map_err(Failure::usage)?;
    let path = cli.config.clone().or_else(config::default_config_path);
    let used = path.as_deref().filter(|p| p.exists());
    let given = given(cli);
    let mut shown = config::describe(&given, &file, used, &config::process_env);
    if let (Some(p), None) = (&path, used) {
        // The default file is absent: say where it would be read from.
        shown[0].value = format!("{} (absent: defaults used)", p.display());
    }
    let width = shown.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let mut text = String::new();
    for s in &shown {
        text.push_str(&format!("{:width$}  {}  ({})\n", s.key, s.value, s.origin));
    }
    out(&text)
}

/// The shared options as given, each with the flag or environment variable it came from.
fn given(cli: &Cli) -> GivenCommon {
    let matches = Cli::command()
        .try_get_matches_from(std::env::args_os())
        .ok();
    let origin = |id: &str, flag: &'static str, var: &'static str| {
        let sub = matches
            .as_ref()
            .and_then(|m| m.subcommand_matches("config"));
        let source = [matches.as_ref(), sub]
            .into_iter()
            .flatten()
            .find_map(|m| m.value_source(id));
        match source {
            Some(ValueSource::EnvVariable) => Origin::Env(var),
            _ => Origin::Flag(flag),
        }
    };
    let path = |p: &Option<PathBuf>, id, flag, var| {
        p.as_deref()
            .map(|p: &Path| (p.to_owned(), origin(id, flag, var)))
    };
    GivenCommon {
        config: path(&cli.config, "config", "--config", "KRAKEN_TAX_CONFIG"),
        db: path(&cli.db, "db", "--db", "KRAKEN_TAX_DB"),
        account: cli.account.clone().map(|a| {
            let o = origin("account", "--account", "KRAKEN_TAX_ACCOUNT");
            (a, o)
        }),
    }
}
