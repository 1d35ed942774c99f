//! Things the probe tries to do, to show what the sandbox allows. Each
//! attempt reports its outcome instead of failing.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::sys;

/// `write PATH`: create (or truncate) a file and write a line into it.
pub fn write_file(path: &Path) -> Value {
    let result = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .and_then(|mut file| file.write_all(b"written by hakoniwa-probe\n"));
    json!({ "path": path.to_string_lossy(), "write": outcome(result) })
}

/// `remount-rw PATH`: the two ways to clear `ro` on an existing mount —
/// per mount point (`MS_REMOUNT|MS_BIND`) and for the whole superblock
/// (`MS_REMOUNT`). A locked read-only bind refuses both.
pub fn remount_rw(path: &str) -> Value {
    let Some(c_path) = c_path(path) else {
        return json!({ "path": path, "error": "path holds a NUL byte" });
    };
    json!({
        "path": path,
        "bind_remount": outcome(sys::remount(&c_path, sys::RemountScope::MountPoint)),
        "remount": outcome(sys::remount(&c_path, sys::RemountScope::Superblock)),
    })
}

/// `umount PATH`: a plain unmount, then a lazy one (`MNT_DETACH`), which
/// succeeds even while the mount is busy.
pub fn umount(path: &str) -> Value {
    let Some(c_path) = c_path(path) else {
        return json!({ "path": path, "error": "path holds a NUL byte" });
    };
    json!({
        "path": path,
        "umount": outcome(sys::umount(&c_path, sys::Unmount::Plain)),
        "detach": outcome(sys::umount(&c_path, sys::Unmount::Detach)),
    })
}

/// `sleep SECS`: announce the pid first, so that a test can wait for the
/// line and know the program is running before it sends signals.
pub fn sleep(secs: u64) -> Value {
    crate::print(&json!({ "pid": std::process::id() }));
    std::thread::sleep(Duration::from_secs(secs));
    json!({ "slept": secs })
}

/// `exit CODE`.
pub fn exit(code: i32) -> ! {
    std::process::exit(code)
}

/// `kill-self SIG`: die by the signal with its default action. Reaching
/// the end means the signal did not kill us, which is reported as exit 1.
pub fn kill_self(signal: i32) -> ! {
    let error = sys::die_by_signal(signal);
    crate::print(&json!({ "signal": signal, "kill_self": outcome(Err(error)) }));
    std::process::exit(1)
}

fn c_path(path: &str) -> Option<CString> {
    CString::new(path).ok()
}

pub fn outcome(result: io::Result<()>) -> Value {
    match result {
        Ok(()) => json!({ "ok": true, "errno": null, "error": null }),
        Err(error) => json!({
            "ok": false,
            "errno": error.raw_os_error(),
            "error": error.to_string(),
        }),
    }
}
