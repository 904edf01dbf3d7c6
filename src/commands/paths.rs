//! `paths`: the default locations on this system.

use super::{Failure, out};
use crate::config;

/// Prints `name  path` lines: the database, the config file, and where a key file fits.
pub(super) fn run() -> Result<(), Failure> {
    out(&render(&config::default_paths()))
}

fn render(paths: &config::DefaultPaths) -> String {
    let show = |p: &Option<std::path::PathBuf>| {
        p.as_deref().map_or_else(
            || "(no home directory: pass it explicitly)".to_owned(),
            |p| p.display().to_string(),
        )
    };
    format!(
        "db        {}\nconfig    {}\nkey file  {}\n",
        show(&paths.db),
        show(&paths.config),
        show(&paths.key_file)
    )
}
