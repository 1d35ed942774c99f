//! A profile file (`hakoniwa run -c FILE`), taken as far as `--dry-run`
//! takes it: the template rendered, the TOML parsed and checked, its
//! includes merged, the options lowered to a sandbox and planned. The file
//! sits in a copy of `docs/profiles`, so that it can include those.
//!
//! Templates can create files on the host (`fs_mkdir`, `fs_touch`):
//! `scripts/fuzz.sh` runs this target in a sandbox.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The profile's path, in a scratch copy of `docs/profiles`.
fn profile_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/profiles");
        let dir = std::env::temp_dir().join(format!("hakoniwa-fuzz.{}", std::process::id()));
        copy_dir(&docs, &dir);
        dir.join("fuzz.toml")
    })
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the scratch profile directory");
    for entry in fs::read_dir(from).expect("list docs/profiles").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy a profile");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let path = profile_path();
    fs::write(path, data).expect("write the profile");
    let _ = hakoniwa_cli::dry_run([Path::new("-c").as_os_str(), path.as_os_str()]);
});
