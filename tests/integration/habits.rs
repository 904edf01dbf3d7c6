//! Shell completions, manual pages, `config`, `paths`, colour: the real binary as a user's
//! shell and terminal meet it.

use crate::golden::{fixture, load_ledger};
use crate::harness::{run_bin, stderr};
use clap::CommandFactory;
use kraken_tax::cli::Cli;
use std::path::Path;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn command_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_name_every_command_in_each_shell() {
    let names = command_names();
    assert!(names.len() >= 14, "{names:?}");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run_bin(args(&["completions", shell]), &[]).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        for name in &names {
            assert!(text.contains(name.as_str()), "{shell}: {name} missing");
        }
    }
    let bash = stdout(&run_bin(args(&["completions", "bash"]), &[]).await);
    assert!(bash.contains("complete -F _kraken__tax"), "{bash}");
    // A shell it does not know is a usage error naming the choices.
    let out = run_bin(args(&["completions", "tcsh"]), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn man_writes_one_titled_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man1");
    let out = run_bin(args(&["man", "--out", man.to_str().unwrap()]), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut expected: Vec<String> = command_names()
        .iter()
        .map(|n| format!("kraken-tax-{n}"))
        .collect();
    expected.extend([
        "kraken-tax".to_owned(),
        "kraken-tax-prices-import".to_owned(),
        "kraken-tax-basis-import".to_owned(),
    ]);
    expected.sort();
    let mut files: Vec<String> = std::fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = expected.iter().map(|n| format!("{n}.1")).collect();
    want.sort();
    assert_eq!(files, want);
    assert_eq!(
        stdout(&out),
        format!("{} manual pages written to {}\n", want.len(), man.display())
    );
    for name in &expected {
        let page = std::fs::read_to_string(man.join(format!("{name}.1"))).unwrap();
        // After the apostrophe string the page uses (`\*(Aq`), the page starts with its title.
        let first_macro = page
            .lines()
            .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
            .unwrap();
        assert!(
            first_macro.starts_with(&format!(".TH {name} 1 ")),
            "{name}: {first_macro}"
        );
        assert!(page.contains(".SH NAME"), "{name}");
    }
    // Without --out: the main page on stdout.
    let out = run_bin(args(&["man"]), &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("\n.TH kraken-tax 1 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_follow_xdg_and_home() {
    let home = "/home/kt-test-user";
    let out = run_bin(
        args(&["paths"]),
        &[
            ("HOME", home),
            ("XDG_CONFIG_HOME", ""),
            ("XDG_DATA_HOME", ""),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "db        {home}/.local/share/kraken-tax/kraken-tax.sqlite\nconfig    {home}/.config/kraken-tax/config.toml\nkey file  {home}/.config/kraken-tax/kraken.key\n"
        )
    );
    let out = run_bin(
        args(&["paths"]),
        &[
            ("HOME", home),
            ("XDG_CONFIG_HOME", "/xc"),
            ("XDG_DATA_HOME", "/xd"),
        ],
    )
    .await;
    assert_eq!(
        stdout(&out),
        "db        /xd/kraken-tax/kraken-tax.sqlite\nconfig    /xc/kraken-tax/config.toml\nkey file  /xc/kraken-tax/kraken.key\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_shows_each_setting_and_its_origin_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "account = \"fromfile\"\n[export]\ncurrency = \"gbp\"\ntz = \"Europe/London\"\n[identity]\nfirst_name = \"Ada\"\ntin = \"SECRET-TIN\"\n",
    )
    .unwrap();
    let c = file.to_str().unwrap();
    let out = run_bin(
        args(&["config", "--config", c, "--account", "flagged"]),
        &[
            ("KRAKEN_TAX_DB", "/data/k.sqlite"),
            ("KRAKEN_API_KEY", "KEY-VALUE-NEVER-SHOWN"),
            ("KRAKEN_API_SECRET", "SECRET-VALUE-NEVER-SHOWN"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.split("  ").next() == Some(key) || l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("{key} missing: {text}"))
            .split_whitespace()
            .skip(key.split_whitespace().count())
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("config"), format!("{c} (flag --config)"));
    assert_eq!(line("db"), "/data/k.sqlite (env KRAKEN_TAX_DB)");
    assert_eq!(line("account"), "flagged (flag --account)");
    assert_eq!(line("[export] currency"), format!("GBP (file {c})"));
    assert_eq!(line("[export] tz"), format!("Europe/London (file {c})"));
    assert_eq!(line("[export] fees"), "net (default)");
    assert_eq!(line("[sync] tier"), "starter (default)");
    assert_eq!(
        line("credentials"),
        "KRAKEN_API_KEY and KRAKEN_API_SECRET (hidden) (env KRAKEN_API_KEY)"
    );
    assert_eq!(
        line("[identity]"),
        format!("2 fields set (values not shown) (file {c})")
    );
    for secret in ["KEY-VALUE", "SECRET-VALUE", "SECRET-TIN", "Ada"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    // The environment variable of the account is named as the origin when it gave it.
    let out = run_bin(
        args(&["config", "--config", c]),
        &[("KRAKEN_TAX_ACCOUNT", "envacct")],
    )
    .await;
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("account ") && l.ends_with("envacct  (env KRAKEN_TAX_ACCOUNT)")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_say_file_line_column_and_the_nearest_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    let c = file.to_str().unwrap().to_owned();
    for (text, want) in [
        (
            "[sync]\ntier = pro\n",
            "line 2, column 8, [sync] tier: string values must be quoted",
        ),
        (
            "[export]\ncurency = \"EUR\"\n",
            "line 2, column 1, [export] curency: unknown key \"curency\": did you mean \"currency\"?",
        ),
        (
            "[export]\nfees = \"grosss\"\n",
            "line 2, column 8, [export] fees: \"grosss\" is not one of net, gross",
        ),
        (
            "[gains]\nmethod = \"fofi\"\n",
            "line 2, column 10, [gains] method: \"fofi\" is not one of fifo, lifo, hifo, average, uk, de, us",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = run_bin(args(&["status", "--config", &c]), &[]).await;
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("error: config file {c} is invalid: {want}")),
            "{err}"
        );
    }
}

fn export_args(db: &Path, more: &[&str]) -> Vec<String> {
    let mut a = args(&[
        "export",
        "--year",
        "2025",
        "--offline",
        "--account",
        "golden",
    ]);
    a.extend(["--db".to_owned(), db.display().to_string()]);
    a.extend(args(more));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_takes_its_settings_from_the_config_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("golden.sqlite");
    load_ledger(&db);
    let mut import = args(&["prices", "import"]);
    for f in [
        "XBTEUR_1440.csv",
        "ETHEUR_1440.csv",
        "DOTEUR_1440.csv",
        "FLREUR_1440.csv",
        "EURUSD_1440.csv",
    ] {
        import.push(fixture(f).display().to_string());
    }
    import.extend(args(&["--db", db.to_str().unwrap(), "-q"]));
    assert_eq!(run_bin(import, &[]).await.status.code(), Some(0));
    let from_file = dir.path().join("from-file");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[export]\ncurrency = \"EUR\"\nfees = \"gross\"\nformat = \"csv\"\nout = \"{}\"\n",
            from_file.display()
        ),
    )
    .unwrap();
    let cfg = [("KRAKEN_TAX_CONFIG", config.to_str().unwrap())];
    // Nothing but the year: currency, fees, format and directory from [export].
    let out = run_bin(export_args(&db, &["-q"]), &cfg).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let same = |dir: &Path, got: &str, want: &str| {
        assert_eq!(
            std::fs::read_to_string(dir.join(got)).unwrap(),
            std::fs::read_to_string(fixture(want)).unwrap(),
            "{got}"
        );
    };
    same(
        &from_file,
        "carf-summary-2025-EUR.csv",
        "expected-summary-2025-EUR-gross.csv",
    );
    assert!(!from_file.join("carf-2025-EUR.xml").exists());
    // Flags win over the file.
    let flagged = dir.path().join("flagged");
    let out = run_bin(
        export_args(
            &db,
            &["-q", "--fees", "net", "--out", flagged.to_str().unwrap()],
        ),
        &cfg,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    same(
        &flagged,
        "carf-summary-2025-EUR.csv",
        "expected-summary-2025-EUR.csv",
    );
    // Neither flag nor file gives the currency: a usage error saying both ways.
    let out = run_bin(export_args(&db, &["--out", flagged.to_str().unwrap()]), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no reporting currency: pass --currency CCY, or set currency in the [export] table of the config file\n"
    );
}

/// A log line as the binary writes it on stderr (migrations are logged at debug level).
async fn log_line(extra: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.sqlite");
    let mut a = args(&["-vv", "--db", db.to_str().unwrap()]);
    a.extend(args(extra));
    a.extend(args(&["prices", "import"]));
    a.push(fixture("XBTEUR_1440.csv").display().to_string());
    let out = run_bin(a, env).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stderr(&out).lines().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_only_when_asked_or_on_a_terminal_without_no_color() {
    let plain = "DEBUG applying migration=\"0001_raw_history\"";
    // Not a terminal: plain, unless --color always.
    assert_eq!(log_line(&[], &[]).await, plain);
    assert_eq!(log_line(&["--color", "never"], &[]).await, plain);
    let coloured = log_line(&["--color", "always"], &[("NO_COLOR", "1")]).await;
    assert!(
        coloured.starts_with("\u{1b}[34mDEBUG\u{1b}[0m"),
        "{coloured:?}"
    );
}

/// On a real terminal (a pseudo-terminal made by `script`): colour by default, none with
/// NO_COLOR=1 or --color never.
#[test]
fn a_terminal_gets_colour_unless_no_color() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &str, flags: &str| {
        let db = dir.path().join(format!("{}.sqlite", rand_name(env, flags)));
        let line = format!(
            "{env} {} -vv {flags} --db {} prices import {}",
            env!("CARGO_BIN_EXE_kraken-tax"),
            db.display(),
            fixture("XBTEUR_1440.csv").display()
        );
        let out = std::process::Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .env("XDG_CONFIG_HOME", "/nonexistent-kraken-tax-test")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run("", "").contains("\u{1b}[34mDEBUG"));
    let no_color = run("NO_COLOR=1", "");
    assert!(
        no_color.contains("DEBUG applying") && !no_color.contains('\u{1b}'),
        "{no_color:?}"
    );
    let never = run("", "--color never");
    assert!(
        never.contains("DEBUG applying") && !never.contains('\u{1b}'),
        "{never:?}"
    );
    // An empty NO_COLOR does not count (no-color.org).
    assert!(run("NO_COLOR=", "").contains("\u{1b}[34mDEBUG"));
}

fn rand_name(env: &str, flags: &str) -> String {
    format!("{env}{flags}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        + "db"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_names_the_commit_when_built_from_git() {
    let out = run_bin(args(&["--version"]), &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let version = env!("CARGO_PKG_VERSION");
    let want = match commit {
        Some(c) => format!("kraken-tax {version} ({c})\n"),
        None => format!("kraken-tax {version}\n"),
    };
    assert_eq!(stdout(&out), want);
}
