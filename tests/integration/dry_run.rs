//! `import --dry-run` and `rebuild --dry-run` say what would happen and change nothing: the
//! database directory (file, -wal/-shm, the seal) is byte-identical before and after.

use crate::harness::{run_bin, stderr};
use std::collections::BTreeMap;
use std::path::Path;

const V4: &str = "\"txid\",\"refid\",\"time\",\"type\",\"subtype\",\"aclass\",\"subclass\",\"asset\",\"wallet\",\"amount\",\"fee\",\"balance\"";
const ROW1: &str = "\"L4UESK-KG3EQ-UFO4T5\",\"TJKLXF-PGMUI-4NTLXU\",\"2023-07-04 09:54:44\",\"trade\",\"tradespot\",\"currency\",\"fiat\",\"GBP\",\"spot / main\",\"-24.5000\",\"0.0490\",\"459567.9171\"";
const ROW2: &str = "\"LTBUIZ-ZKCO2-YRRXNF\",\"QCCBB7C-XVPZTS-6JYVLX\",\"2023-07-04 10:01:00\",\"deposit\",\"\",\"currency\",\"fiat\",\"EUR\",\"spot / main\",\"100.0000\",\"0.0000\",\"100.0000\"";

/// Every file of `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

async fn run(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut full: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    full.extend(["--db".to_owned(), db.display().to_string()]);
    let out = run_bin(full, &[]).await;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_say_what_would_happen_and_change_nothing() {
    let files = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("k.sqlite");
    let first = files.path().join("ledgers.csv");
    std::fs::write(&first, format!("{V4}\n{ROW1}\n")).unwrap();
    let f1 = first.to_str().unwrap();
    // No database yet: none is created.
    let (code, out, err) = run(&db, &["import", "--dry-run", f1]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "{f1}: ledgers v4, 1 rows: 1 would be stored new, 0 already stored, 0 conflicting (would be kept aside), 0 pending skipped, 0 bad skipped\ndry run: nothing was changed\n"
        )
    );
    assert!(snapshot(data.path()).is_empty());
    let (code, _, err) = run(&db, &["import", "-q", f1]).await;
    assert_eq!(code, Some(0), "{err}");
    let before = snapshot(data.path());
    assert!(
        before.contains_key("k.sqlite-checked"),
        "{:?}",
        before.keys()
    );
    // A second file: one row new, one a conflicting version of the stored row.
    let second = files.path().join("more/ledgers.csv");
    std::fs::create_dir_all(second.parent().unwrap()).unwrap();
    let changed = ROW1.replace("\"-24.5000\"", "\"-24.6000\"");
    std::fs::write(&second, format!("{V4}\n{changed}\n{ROW2}\n")).unwrap();
    let (code, out, err) = run(&db, &["import", "--dry-run", second.to_str().unwrap()]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "{}: ledgers v4, 2 rows: 1 would be stored new, 0 already stored, 1 conflicting (would be kept aside), 0 pending skipped, 0 bad skipped\ndry run: nothing was changed\n",
            second.display()
        )
    );
    assert_eq!(
        snapshot(data.path()),
        before,
        "the import dry run changed nothing"
    );
    let (code, out, err) = run(&db, &["rebuild", "--dry-run"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "dry run, nothing changed: would classify 1 legs of account \"default\": NotReportable 1\nstored now: 0 legs\n"
    );
    assert_eq!(
        snapshot(data.path()),
        before,
        "the rebuild dry run changed nothing"
    );
    // The real commands do change it (the check above can fail).
    let (code, _, err) = run(&db, &["import", "-q", second.to_str().unwrap()]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_ne!(snapshot(data.path()), before);
}
