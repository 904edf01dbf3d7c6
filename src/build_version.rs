//! Build script (named in Cargo.toml's `build`, kept under src/ because the top level is
//! fixed): sets `KRAKEN_TAX_VERSION` for `--version`, the crate version followed by the git
//! commit, e.g. `0.1.0 (a1b2c3d4e5f6)`. Never fails: outside a git checkout, or without git,
//! it is the crate version alone. `KRAKEN_TAX_COMMIT` in the build's environment (packagers
//! building from a tarball) gives the commit instead of asking git.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=src/build_version.rs");
    println!("cargo:rerun-if-env-changed=KRAKEN_TAX_COMMIT");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = match std::env::var("KRAKEN_TAX_COMMIT") {
        Ok(given) if !given.trim().is_empty() => Some(given.trim().to_owned()),
        _ => find_commit(),
    };
    match commit {
        Some(c) => println!("cargo:rustc-env=KRAKEN_TAX_VERSION={version} ({c})"),
        None => println!("cargo:rustc-env=KRAKEN_TAX_VERSION={version}"),
    }
}

/// The checked-out commit, and the files whose change must rerun this script.
fn find_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when HEAD moves: HEAD itself, the branch it points to, and packed refs.
    // (A path that does not exist would rerun the script on every build: only existing ones.)
    let watch = |path: PathBuf| {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    };
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
        watch(dir.join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from) {
        watch(common.join("packed-refs"));
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(common.join(reference));
        }
    }
    Some(commit)
}
