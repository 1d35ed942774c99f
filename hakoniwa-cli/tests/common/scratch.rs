//! Temporary directories on the host, removed when dropped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Names of the harness's own directories in the temp dir start with this,
/// so that leak checks can tell them from what `hakoniwa` might leave.
pub const PREFIX: &str = "hakoniwa-cli-test.";

/// A fresh directory under the temp dir, mode 0755 so that every user can
/// enter it, removed with its contents on drop.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("{PREFIX}{}.{n}", std::process::id()));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        set_mode(&path, 0o755);
        Scratch { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A directory the sandbox made read-only would stop the removal.
        make_removable(&self.path);
        if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!("warning: could not remove {}: {e}", self.path.display());
        }
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn make_removable(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o755));
            make_removable(&entry.path());
        }
    }
}
