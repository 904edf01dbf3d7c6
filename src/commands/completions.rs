//! `completions SHELL`: the shell's completion script on stdout.

use super::{Failure, out};
use crate::cli::{Cli, CompletionsArgs};
use clap::CommandFactory;

/// Prints the completion script of `args.shell`.
pub(super) fn run(args: &CompletionsArgs) -> Result<(), Failure> {
    out(&script(args.shell))
}

/// The completion script of `shell` for the whole command line.
pub(crate) fn script(shell: clap_complete::Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kraken-tax", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap_complete::Shell;

    fn subcommands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect()
    }

    #[test]
    fn every_shell_script_names_every_command() {
        let names = subcommands();
        assert!(names.contains(&"completions".to_owned()) && names.contains(&"sync".to_owned()));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
            let text = script(shell);
            for name in &names {
                assert!(text.contains(name.as_str()), "{shell}: no {name}");
            }
        }
        let bash = script(Shell::Bash);
        assert!(bash.contains("complete -F _kraken__tax"), "{bash}");
        assert!(bash.contains("kraken__tax__subcmd__prices__subcmd__import"));
    }
}
