//! Probes for resource limits: what `getrlimit` says, and what happens when
//! a limit is reached.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::sys;

/// The resources reported by `rlimits`, by flag name.
const RESOURCES: [(&str, libc::__rlimit_resource_t); 8] = [
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("fsize", libc::RLIMIT_FSIZE),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("stack", libc::RLIMIT_STACK),
];

/// `rlimits`: `{"as": [soft, hard], …}`.
pub fn rlimits() -> Value {
    let mut report = serde_json::Map::new();
    for (name, resource) in RESOURCES {
        let value = match sys::getrlimit(resource) {
            Ok((soft, hard)) => json!([soft, hard]),
            Err(err) => json!({ "error": err.to_string() }),
        };
        report.insert(name.to_owned(), value);
    }
    Value::Object(report)
}

/// `write-bytes PATH N`: write N bytes to a new file with SIGXFSZ ignored,
/// so a file-size limit shows as EFBIG.
pub fn write_bytes(path: &Path, count: usize) -> Value {
    sys::ignore_signal(libc::SIGXFSZ);
    let result = File::create(path).and_then(|mut file| file.write_all(&vec![b'x'; count]));
    json!({ "write": outcome(result) })
}

/// `open-files N`: open `/` N times, keeping each open.
pub fn open_files(count: usize) -> Value {
    let mut files = Vec::new();
    let result = (0..count).try_for_each(|_| {
        files.push(OpenOptions::new().read(true).open("/")?);
        Ok(())
    });
    json!({ "opened": files.len(), "open": outcome(result) })
}

/// `alloc MIB`: reserve and touch MIB mebibytes.
pub fn alloc(mib: usize) -> Value {
    let mut buffer: Vec<u8> = Vec::new();
    let result = buffer
        .try_reserve_exact(mib << 20)
        .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))
        .map(|()| buffer.resize(mib << 20, 1));
    json!({ "alloc": outcome(result), "touched_mib": buffer.len() >> 20 })
}

/// `spawn-many N`: start N children (the probe sleeping), then stop them.
/// Their stdout is a pipe, not `/dev/null`: the sandbox may have no `/dev`.
pub fn spawn_many(count: usize) -> Value {
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let mut children: Vec<Child> = Vec::new();
    let result = (0..count).try_for_each(|_| {
        let child = Command::new(&exe)
            .args(["sleep", "30"])
            .stdout(Stdio::piped())
            .spawn()?;
        children.push(child);
        Ok(())
    });
    let spawned = children.len();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    json!({ "spawned": spawned, "spawn": outcome(result) })
}

/// `spin`: use CPU until killed.
pub fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn outcome(result: io::Result<()>) -> Value {
    match result {
        Ok(()) => json!({ "ok": true, "errno": null }),
        Err(err) => json!({ "ok": false, "errno": err.raw_os_error(), "error": err.to_string() }),
    }
}
