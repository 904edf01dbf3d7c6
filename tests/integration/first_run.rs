//! A new user's first run on a fresh machine, through the README's own steps, and the README
//! agreeing with the binary.

use crate::harness::Env;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kraken_tax::emulator::{KeyOptions, Permission};
use std::path::Path;
use std::process::{Command, Output};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The indented command lines of the README between two headings' texts.
fn readme_commands(from: &str, to: &str) -> Vec<String> {
    let text = readme();
    let start = text.find(from).expect("start marker in the README");
    let end = start + text[start..].find(to).expect("end marker in the README");
    text[start..end]
        .lines()
        .filter(|l| l.starts_with("    ") && !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .filter(|l| l.starts_with("kraken-tax ") || !l.contains(' ') || !l.starts_with('-'))
        .collect()
}

/// Runs `line` with `sh -c` as a user with the fresh `home` would, `kraken-tax` being this
/// build's binary.
fn sh(line: &str, home: &Path, api_url: &str) -> Output {
    let bin = env!("CARGO_BIN_EXE_kraken-tax");
    let dir = Path::new(bin).parent().unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-c", line])
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.join("home"))
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .env("KRAKEN_API_URL", api_url)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_first_run_works_on_a_fresh_machine() {
    let env = Env::generated(41, 40).await;
    // A key with exactly the permissions the README asks for.
    let key = "FIRSTRUNKEY0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";
    let secret = STANDARD.encode(
        (0..64u8)
            .map(|i| i.wrapping_mul(31) ^ 0x5c)
            .collect::<Vec<_>>(),
    );
    env.emu
        .add_key(
            key,
            &secret,
            KeyOptions::with(&[
                Permission::QueryLedger,
                Permission::QueryClosedOrders,
                Permission::QueryFunds,
                Permission::ExportData,
            ]),
        )
        .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    // Nothing exists yet: no home, no data folder, no config folder.
    let home = fresh.path();
    let commands = readme_commands("2. Put the key in a file", "### Doctor");
    assert_eq!(
        commands,
        [
            "mkdir -p ~/.config/kraken-tax",
            "printf '%s\\n%s\\n' 'YOUR-API-KEY' 'YOUR-PRIVATE-KEY' > ~/.config/kraken-tax/kraken.key",
            "chmod 600 ~/.config/kraken-tax/kraken.key",
            "kraken-tax sync --key-file ~/.config/kraken-tax/kraken.key --tier starter",
            "kraken-tax status",
            "kraken-tax verify --key-file ~/.config/kraken-tax/kraken.key",
        ],
        "the README's steps changed: update this test with them"
    );
    let url = env.emu.url();
    std::fs::create_dir(home.join("home")).unwrap();
    for line in &commands {
        let line = line
            .replace("YOUR-API-KEY", key)
            .replace("YOUR-PRIVATE-KEY", &secret);
        let out = sh(&line, home, &url);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{line}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        if line.starts_with("kraken-tax status") {
            let s = text(&out.stdout);
            assert!(s.contains("  ledgers ") && s.contains("complete"), "{s}");
        }
        if line.starts_with("kraken-tax verify") {
            let s = text(&out.stdout);
            assert!(s.trim_end().ends_with("consistent"), "{s}");
        }
    }
    let db = home.join("xdg-data/kraken-tax/kraken-tax.sqlite");
    assert!(db.exists());
    // The doctor step of the README, too: no problem with a key made as the README says.
    let doctor = readme_commands("### Doctor", "checks the setup");
    assert_eq!(
        doctor,
        ["kraken-tax doctor --key-file ~/.config/kraken-tax/kraken.key [--json]"]
    );
    let out = sh(&doctor[0].replace(" [--json]", ""), home, &url);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = text(&out.stdout);
    assert!(report.ends_with("\n0 problems, 1 warning\n"), "{report}");
    // The store is the one the steps made, holding the whole account.
    let store = kraken_tax::store::Store::open(&db).unwrap();
    assert_eq!(
        store.ledger_entries("default").unwrap().len(),
        env.dataset.ledger.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_works_when_the_data_folder_does_not_exist() {
    let env = Env::generated(42, 40).await;
    let key_file = env.key_file();
    let fresh = tempfile::tempdir().unwrap();
    let db = fresh.path().join("new/dir/x.sqlite");
    let out = crate::harness::run_bin(
        vec![
            "--db".into(),
            db.display().to_string(),
            "-q".into(),
            "sync".into(),
            "--key-file".into(),
            key_file.display().to_string(),
            "--api-url".into(),
            env.emu.url(),
            "--tier".into(),
            crate::harness::fast_tier().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // Import and prices import create the folder as well.
    let csv = fresh.path().join("ledgers.csv");
    std::fs::write(
        &csv,
        "\"txid\",\"refid\",\"time\",\"type\",\"subtype\",\"aclass\",\"asset\",\"amount\",\"fee\",\"balance\"\n",
    )
    .unwrap();
    let db2 = fresh.path().join("other/dir/y.sqlite");
    let out = crate::harness::run_bin(
        vec![
            "--db".into(),
            db2.display().to_string(),
            "import".into(),
            csv.display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(db2.exists());
    let out = crate::harness::run_bin(
        vec!["--db".into(), db2.display().to_string(), "rebuild".into()],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "classified 0 legs of account \"default\"\n"
    );
}

#[test]
fn the_readme_config_example_parses_and_documents_every_identity_key() {
    let text = readme();
    let start = text.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + text[start..].find("```").unwrap();
    // Commented-out settings are documented too: uncomment them.
    let toml: String = text[start..end]
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let config = kraken_tax::config::parse(&toml, Path::new("README.md")).unwrap();
    let id = &config.identity;
    for (key, value) in [
        ("first_name", &id.first_name),
        ("last_name", &id.last_name),
        ("tin", &id.tin),
        ("country", &id.country),
        ("street", &id.street),
        ("post_code", &id.post_code),
        ("city", &id.city),
        ("birth_date", &id.birth_date),
        ("birth_city", &id.birth_city),
        ("birth_country", &id.birth_country),
        ("provider_name", &id.provider_name),
        ("provider_tin", &id.provider_tin),
        ("provider_country", &id.provider_country),
        ("provider_city", &id.provider_city),
    ] {
        assert!(value.is_some(), "[identity] {key} is not in the README");
    }
    // The [export] and [gains] tables as documented.
    assert_eq!(
        config.export.currency,
        Some(kraken_tax::domain::ReportCurrency::Eur)
    );
    assert_eq!(config.export.tz, Some(chrono_tz::Europe::Berlin));
    assert_eq!(config.gains.method, Some(kraken_tax::config::Method::Fifo));
    // The specs are not part of the repository: the README must not send readers to them.
    for spec in ["carf.md", "design.md", "product.md", "gains.md"] {
        assert!(!text.contains(spec), "the README refers to {spec}");
    }
}
