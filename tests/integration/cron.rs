//! Cron without noise: `sync --alert-after` keeps a temporary failure quiet while the last
//! complete sync is young, and says so in one line once it is not.

use crate::harness::{ACCOUNT, Env, stderr};
use kraken_tax::emulator::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_after_quiets_a_temporary_failure_until_the_history_is_stale() {
    let env = Env::generated(16, 120).await;
    let config = env.fast_retry_config(2);
    let key_file = env.key_file();
    let (kf, cf) = (key_file.to_str().unwrap(), config.to_str().unwrap());
    // A complete run first (as the binary records it).
    let out = env
        .run_sync_bin(&["--key-file", kf, "--config", cf, "-q"], &[])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fail = || {
        for _ in 0..2 {
            env.emu.push_fault(Fault::HttpStatus(500));
        }
    };
    // Young: exit 0, nothing said; the log file (with times) still has why, despite -q.
    fail();
    let log = env.db.with_extension("log");
    let lf = log.to_str().unwrap();
    let out = env
        .run_sync_bin(
            &[
                "--key-file",
                kf,
                "--config",
                cf,
                "-q",
                "--alert-after",
                "2d",
                "--log-file",
                lf,
            ],
            &[],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(out.stdout.is_empty());
    let logged = std::fs::read_to_string(&log).unwrap();
    let line = logged
        .lines()
        .find(|l| l.contains("temporary failure kept quiet"))
        .unwrap_or_else(|| panic!("{logged}"));
    assert!(
        regex::Regex::new(r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z +INFO temporary failure kept quiet \(--alert-after\): sync interrupted; progress is saved, run it again later: Kraken answered Ledgers with HTTP 500; try again later$")
            .unwrap()
            .is_match(line),
        "{line}"
    );
    // Without --alert-after the same failure is 75, as before.
    fail();
    let out = env
        .run_sync_bin(&["--key-file", kf, "--config", cf, "-q"], &[])
        .await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    // The last complete run three days back: stale, 75 with one line saying so first.
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    let changed = conn
        .execute(
            "UPDATE sync_runs SET finished_at = '2020-01-01T00:00:00.000000Z'
             WHERE account = ?1 AND outcome = 'ok'",
            [ACCOUNT],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    fail();
    let out = env
        .run_sync_bin(
            &[
                "--key-file",
                kf,
                "--config",
                cf,
                "-q",
                "--alert-after",
                "2d",
            ],
            &[],
        )
        .await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let text = stderr(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("error: the last complete sync was ")
            && text.contains(" ago (2020-01-01 00:00:00 UTC), longer than --alert-after 2days: sync interrupted; progress is saved, run it again later: Kraken answered Ledgers with HTTP 500; try again later\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_after_never_hides_a_non_temporary_failure() {
    let env = Env::generated(17, 20).await;
    // No credentials: a configuration error stays exit 2 whatever --alert-after says.
    let out = env.run_sync_bin(&["--alert-after", "30d"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A bad duration is a usage error too.
    let out = env.run_sync_bin(&["--alert-after", "soon"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// The unit files of the README: each ```ini block after a line naming its file.
fn readme_units() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut units = Vec::new();
    let mut name = None;
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.split("file `~/.config/systemd/user/").nth(1) {
            name = rest.split('`').next().map(str::to_owned);
        } else if line == "```ini" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            let name = name.take().expect("a file name before each unit");
            units.push((name, body.join("\n") + "\n"));
        }
    }
    units
}

#[test]
fn the_readme_systemd_units_verify() {
    let units = readme_units();
    let names: Vec<&str> = units.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["kraken-tax-sync.service", "kraken-tax-sync.timer"]);
    assert!(
        units[0]
            .1
            .contains("ExecStart=%h/.cargo/bin/kraken-tax sync -q --alert-after 3d\n")
    );
    let Ok(which) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed: the README's unit files were NOT verified");
        return;
    };
    assert!(which.status.success());
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, text) in &units {
        // verify checks that ExecStart is executable: point it at the binary under test.
        let text = text.replace("%h/.cargo/bin/kraken-tax", env!("CARGO_BIN_EXE_kraken-tax"));
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--user", "--man=no"])
        .args(&paths)
        // A user manager needs a runtime directory; a scratch one is enough to verify.
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
