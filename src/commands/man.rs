//! `man [--out DIR]`: the manual pages, one per command, from the command-line definitions.

use super::{Failure, out};
use crate::cli::{Cli, ManArgs};
use anyhow::Context as _;
use clap::CommandFactory;

/// Writes every page to `--out`, listing the files; without it, prints the main page.
pub(super) fn run(args: &ManArgs, quiet: bool) -> Result<(), Failure> {
    let pages = pages().map_err(Failure::bad)?;
    let Some(dir) = &args.out else {
        let main = &pages[0].1;
        return out(&String::from_utf8_lossy(main));
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
        .map_err(Failure::bad)?;
    for (name, page) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, page)
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(Failure::bad)?;
    }
    if !quiet {
        let n = pages.len();
        out(&format!(
            "{} written to {}\n",
            crate::text::count(n, "manual page"),
            dir.display()
        ))?;
    }
    Ok(())
}

/// (file name, roff text) of the main page first, then of every (sub)command.
pub(crate) fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &mut pages)?;
    Ok(pages)
}

fn collect(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut text = Vec::new();
    man.render(&mut text)?;
    pages.push((man.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command_each_a_roff_page() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "kraken-tax.1");
        for expected in [
            "kraken-tax-sync.1",
            "kraken-tax-export.1",
            "kraken-tax-prices.1",
            "kraken-tax-prices-import.1",
            "kraken-tax-completions.1",
            "kraken-tax-man.1",
        ] {
            assert!(names.contains(&expected), "{names:?}");
        }
        let cli = Cli::command();
        let commands = cli.get_subcommands().count();
        let nested: usize = cli
            .get_subcommands()
            .map(|c| c.get_subcommands().count())
            .sum();
        // Every command, every subcommand (`prices import`, `basis import`), the main page.
        assert_eq!(pages.len(), commands + nested + 1, "{names:?}");
        for (name, page) in &pages {
            let text = String::from_utf8(page.clone()).unwrap();
            assert!(
                text.starts_with(".ie \\n(.g .ds Aq") || text.starts_with(".TH"),
                "{name}"
            );
            assert!(text.contains(".TH "), "{name}");
        }
    }
}
