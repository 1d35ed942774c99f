//! Link options that make the `hakoniwa` binary's start touch less memory
//! (BENCHMARKS.md, "Launcher memory and page faults"). Every sandbox pays
//! for the pages its launcher touches: the kernel maps 64 KiB of a file
//! around each page a program reads, so code used by `run` scattered over
//! the binary costs far more than its size.
//!
//! Each option is tried on an empty program first, with the same rustc,
//! target, flags and linker: a toolchain or C library that lacks one gets
//! a working binary without it, never a broken build.

use std::env;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let static_crt = features.split(',').any(|feature| feature == "crt-static");
    if os != "linux" || target_env != "gnu" {
        return;
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The unwinder from its static archive: the loader then maps and
    // relocates no libgcc_s: 64 KiB less peak RSS, 5 fewer page faults
    // and 4 % fewer instructions before the clone (BENCHMARKS.md). A static
    // libm is not possible: libm.a needs glibc's internal CPU tables.
    let static_unwinder = ["-Wl,-Bstatic,-lgcc_eh,-Bdynamic".to_string()];
    if !static_crt && links_and_runs(&out_dir, &static_unwinder) {
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // The code `run` executes, placed together at the start of the text
    // (lld's `--symbol-ordering-file`); scripts/symbol-order.sh writes the
    // list. A name the build no longer has is skipped, so a stale list
    // costs only its benefit.
    let order = manifest_dir.join("symbol-order.txt");
    let ordering = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    // Relative relocations packed as bitmaps (DT_RELR, glibc 2.36): the
    // loader reads a few KiB instead of ~130 KiB of relocation entries.
    let packed_relocations = ["-Wl,-z,pack-relative-relocs".to_string()];
    for flags in [&ordering[..], &packed_relocations[..]] {
        if links_and_runs(&out_dir, flags) {
            for flag in flags {
                println!("cargo:rustc-link-arg-bin=hakoniwa={flag}");
            }
        }
    }
}

/// Whether an empty program links with `flags` and, when this machine can
/// run it, starts.
fn links_and_runs(out_dir: &Path, flags: &[String]) -> bool {
    let program = out_dir.join("link-probe");
    let mut rustc = Command::new(env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc")));
    rustc
        .args(["--crate-name", "link_probe", "--crate-type", "bin", "-o"])
        .arg(&program)
        .arg("--target")
        .arg(env::var("TARGET").unwrap_or_default());
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut arg = OsString::from("linker=");
        arg.push(linker);
        rustc.arg("-C").arg(arg);
    }
    if let Ok(rustflags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        rustc.args(rustflags.split('\x1f').filter(|flag| !flag.is_empty()));
    }
    for flag in flags {
        rustc.arg(format!("-Clink-arg={flag}"));
    }
    rustc
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = rustc.spawn() else {
        return false;
    };
    let written = child
        .stdin
        .take()
        .is_some_and(|mut stdin| stdin.write_all(b"fn main() {}\n").is_ok());
    let linked = child.wait().is_ok_and(|status| status.success()) && written;
    if !linked {
        return false;
    }
    if env::var("HOST").ok() != env::var("TARGET").ok() {
        return true;
    }
    Command::new(&program)
        .status()
        .is_ok_and(|status| status.success())
}
