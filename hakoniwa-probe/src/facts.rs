//! What the process sees of its sandbox, read from `/proc` and the file
//! system. Every fact that cannot be read is `null`: a sandbox without
//! `/proc` is a fact too, not a reason for the probe to fail.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::mountinfo;

/// Namespaces listed in `/proc/self/ns`, compared by tests with the host's.
const NAMESPACES: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/// Lines of `/proc/self/status` about privileges.
const STATUS_KEYS: [&str; 7] = [
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
];

/// Everything at once: the default report.
pub fn collect() -> Value {
    let status = read_text("/proc/self/status").unwrap_or_default();
    json!({
        "pid": std::process::id(),
        "ppid": status_field(&status, "PPid").and_then(|v| v.parse::<u32>().ok()),
        "uid": id_set(&status, "Uid"),
        "gid": id_set(&status, "Gid"),
        "groups": groups(&status),
        "uid_map": read_text("/proc/self/uid_map"),
        "gid_map": read_text("/proc/self/gid_map"),
        "setgroups": read_text("/proc/self/setgroups").map(|s| s.trim().to_owned()),
        "hostname": read_text("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()),
        "cwd": std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned()),
        "env": environment(),
        "root": entries("/".as_ref()),
        "mounts": read_text("/proc/self/mountinfo").map(|text| mountinfo::parse(&text)),
        "processes": processes(),
        "fds": open_fds(),
        "status": privileges(&status),
        "namespaces": namespaces(),
        "net_interfaces": read_text("/proc/self/net/dev").map(|text| net_interfaces(&text)),
    })
}

/// The `list PATH` report.
pub fn list_dir(path: &Path) -> Value {
    json!({ "path": path.to_string_lossy(), "entries": entries(path) })
}

fn read_text(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// The value of `Key:\tvalue` in a `/proc/PID/status` text.
fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// `Uid:`/`Gid:` lines hold real, effective, saved and file-system ids.
fn id_set(status: &str, key: &str) -> Value {
    let ids: Vec<u32> = status_field(status, key)
        .map(|v| {
            v.split_whitespace()
                .filter_map(|id| id.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    match ids.as_slice() {
        [real, effective, saved, fs] => {
            json!({ "real": real, "effective": effective, "saved": saved, "fs": fs })
        }
        _ => Value::Null,
    }
}

fn groups(status: &str) -> Value {
    match status_field(status, "Groups") {
        Some(v) => v
            .split_whitespace()
            .filter_map(|id| id.parse::<u32>().ok())
            .collect(),
        None => Value::Null,
    }
}

fn privileges(status: &str) -> Value {
    let fields: Map<String, Value> = STATUS_KEYS
        .iter()
        .filter_map(|key| Some((key.to_string(), json!(status_field(status, key)?))))
        .collect();
    Value::Object(fields)
}

fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// Entries of a directory, sorted by name, each with its type; symlinks
/// with their target, device nodes with their major and minor numbers.
fn entries(dir: &Path) -> Value {
    let Ok(read_dir) = fs::read_dir(dir) else {
        return Value::Null;
    };
    let mut names: Vec<String> = read_dir
        .filter_map(|entry| Some(entry.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names.iter().map(|name| entry(&dir.join(name))).collect()
}

fn entry(path: &Path) -> Value {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let Ok(meta) = fs::symlink_metadata(path) else {
        return json!({ "name": name, "type": "vanished" });
    };
    let kind = meta.file_type();
    let mut fields = json!({ "name": name, "mode": meta.mode() & 0o7777 });
    let type_name = if kind.is_symlink() {
        fields["target"] = json!(fs::read_link(path)
            .ok()
            .map(|t| t.to_string_lossy().into_owned()));
        "symlink"
    } else if kind.is_dir() {
        "dir"
    } else if kind.is_file() {
        "file"
    } else if kind.is_char_device() || kind.is_block_device() {
        fields["major"] = json!(major(meta.rdev()));
        fields["minor"] = json!(minor(meta.rdev()));
        if kind.is_char_device() {
            "char"
        } else {
            "block"
        }
    } else if kind.is_fifo() {
        "fifo"
    } else {
        "socket"
    };
    fields["type"] = json!(type_name);
    fields
}

/// The major number of a device, as glibc's `gnu_dev_major` splits `dev_t`.
fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// The minor number of a device, as glibc's `gnu_dev_minor` splits `dev_t`.
fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// Processes visible in `/proc`, with their parent and command name.
fn processes() -> Value {
    let Ok(read_dir) = fs::read_dir("/proc") else {
        return Value::Null;
    };
    let mut pids: Vec<u32> = read_dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .filter_map(|pid| {
            let status = read_text(&format!("/proc/{pid}/status"))?;
            Some(json!({
                "pid": pid,
                "ppid": status_field(&status, "PPid").and_then(|v| v.parse::<u32>().ok()),
                "comm": status_field(&status, "Name"),
            }))
        })
        .collect()
}

/// Open file descriptors and what they point to. The directory handle used
/// to list them is closed before the links are read, so it drops out.
fn open_fds() -> Value {
    let Ok(read_dir) = fs::read_dir("/proc/self/fd") else {
        return Value::Null;
    };
    let mut fds: Vec<u32> = read_dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds.into_iter()
        .filter_map(|fd| {
            let target = fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            Some(json!({ "fd": fd, "target": target.to_string_lossy() }))
        })
        .collect()
}

/// `/proc/self/ns/NAME` links such as `user:[4026531837]`; two processes
/// share a namespace exactly when their links are equal.
fn namespaces() -> Value {
    let links: Map<String, Value> = NAMESPACES
        .iter()
        .map(|name| {
            let link = fs::read_link(format!("/proc/self/ns/{name}"))
                .ok()
                .map(|l| l.to_string_lossy().into_owned());
            (name.to_string(), json!(link))
        })
        .collect();
    Value::Object(links)
}

/// Interface names from `/proc/self/net/dev`: two header lines, then
/// `  name: counters…`.
fn net_interfaces(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|line| Some(line.split_once(':')?.0.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_device_numbers_like_glibc() {
        // /dev/null is 1:3, /dev/tty 5:0; a large minor spills over bit 20.
        assert_eq!((major(0x103), minor(0x103)), (1, 3));
        assert_eq!((major(0x500), minor(0x500)), (5, 0));
        assert_eq!((major(0x10_0103), minor(0x10_0103)), (1, 0x103));
    }

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tsh\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\nGroups:\t\n";
        assert_eq!(status_field(status, "PPid"), Some("1"));
        assert_eq!(
            id_set(status, "Uid"),
            json!({"real": 1000, "effective": 1000, "saved": 1000, "fs": 1000})
        );
        assert_eq!(groups(status), json!([]));
        assert_eq!(status_field(status, "Missing"), None);
    }

    #[test]
    fn lists_interfaces() {
        let text = "Inter-|   Receive\n face |bytes\n    lo:    3193 29\n  eth0: 20 1\n";
        assert_eq!(net_interfaces(text), ["lo", "eth0"]);
    }
}
