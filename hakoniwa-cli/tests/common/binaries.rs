//! The two programs under test: `hakoniwa`, which cargo builds for these
//! tests, and `hakoniwa-probe`, which it does not (cargo builds only the
//! binaries of the package under test), so the harness builds it once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::scratch::set_mode;

/// Where the sandbox sees the staged binaries (`-b BIN:/probe`).
pub const PROBE_DIR: &str = "/probe";
/// The probe's path inside the sandbox.
pub const PROBE: &str = "/probe/hakoniwa-probe";

pub fn hakoniwa() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hakoniwa"))
}

/// Builds `hakoniwa-probe` once per test process, next to `hakoniwa` (same
/// target dir, same profile), and returns its path.
///
/// The probe is linked statically (`+crt-static`) so that it runs in any
/// sandbox, including `--rootfs none` where there is no dynamic loader.
/// `cargo rustc` passes that flag to the probe crate alone, which is where
/// std's `#[link(cfg(target_feature = "crt-static"))]` is decided.
pub fn probe() -> &'static Path {
    static PROBE_BINARY: OnceLock<PathBuf> = OnceLock::new();
    PROBE_BINARY.get_or_init(build_probe)
}

fn build_probe() -> PathBuf {
    let profile_dir = hakoniwa().parent().expect("hakoniwa lies in a profile dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => panic!("unexpected profile dir {}", profile_dir.display()),
    };
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args([
        "rustc",
        "--quiet",
        "-p",
        "hakoniwa-probe",
        "--bin",
        "hakoniwa-probe",
    ]);
    cargo.args(["--profile", profile]);
    // target/<profile>/ or, with --target, target/<triple>/<profile>/.
    // Cargo tags both target/ and target/<triple>/ with CACHEDIR.TAG, so a
    // triple dir is one whose parent is tagged too.
    let above = profile_dir.parent().expect("profile dir has a parent");
    match above.parent() {
        Some(target_dir) if target_dir.join("CACHEDIR.TAG").exists() => {
            let triple = above.file_name().expect("a target triple dir");
            cargo.arg("--target-dir").arg(target_dir);
            cargo.arg("--target").arg(triple);
        }
        _ => {
            cargo.arg("--target-dir").arg(above);
        }
    }
    cargo.args(["--", "-C", "target-feature=+crt-static"]);
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("run {cargo:?}: {e}"));
    assert!(status.success(), "{cargo:?} failed: {status}");
    let probe = profile_dir.join("hakoniwa-probe");
    assert!(probe.is_file(), "{} was not built", probe.display());
    probe
}

/// Puts both binaries in `dir` (made 0755, files 0755), so that a user who
/// cannot enter the target dir can still run them. A hard link costs
/// nothing; a copy is the fallback across file systems.
pub fn stage(dir: &Path) {
    fs::create_dir(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    set_mode(dir, 0o755);
    for binary in [hakoniwa(), probe()] {
        let staged = dir.join(binary.file_name().expect("a file name"));
        if fs::hard_link(binary, &staged).is_err() {
            fs::copy(binary, &staged)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", binary.display(), dir.display()));
        }
        set_mode(&staged, 0o755);
    }
}
