//! Reading the probe's JSON (see `hakoniwa-probe/src/main.rs`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::host;

/// errno of a write to a read-only mount (the same on every Linux arch).
pub const EROFS: i32 = 30;
/// errno of opening a device node on a `nodev` mount, and of what landlock
/// refuses.
pub const EACCES: i32 = 13;

/// `facts["root"]` or `list PATH`'s `entries`, by name.
pub fn entries(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list of entries: {list}"))
        .iter()
        .map(|entry| {
            (
                entry["name"].as_str().expect("entry name").to_owned(),
                entry.clone(),
            )
        })
        .collect()
}

pub fn names(list: &Value) -> BTreeSet<String> {
    entries(list).into_keys().collect()
}

/// Each entry's kind in one word, as `host::kinds` writes it: `dir`,
/// `file`, `symlink -> TARGET`, `char MAJOR:MINOR`…
pub fn kinds(list: &Value) -> BTreeMap<String, String> {
    entries(list)
        .into_iter()
        .map(|(name, entry)| {
            let kind = match entry["type"].as_str().expect("entry type") {
                "symlink" => format!("symlink -> {}", entry["target"].as_str().unwrap_or("?")),
                "char" => format!("char {}:{}", entry["major"], entry["minor"]),
                other => other.to_owned(),
            };
            (name, kind)
        })
        .collect()
}

/// The mount visible at `path`: the last one listed there, since later
/// mounts cover earlier ones.
pub fn mount_at<'a>(facts: &'a Value, path: &str) -> Option<&'a Value> {
    mounts(facts)
        .iter()
        .rev()
        .find(|m| m["mount_point"] == path)
}

pub fn mounts(facts: &Value) -> &Vec<Value> {
    facts["mounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no mounts in {facts}"))
}

pub fn mount_points(facts: &Value) -> Vec<String> {
    mounts(facts)
        .iter()
        .map(|m| m["mount_point"].as_str().expect("mount point").to_owned())
        .collect()
}

pub fn namespace<'a>(facts: &'a Value, name: &str) -> &'a str {
    facts["namespaces"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} namespace in {}", facts["namespaces"]))
}

/// Namespaces of the sandbox that differ from the test runner's. The time
/// namespace is left out: no flag promises anything about it.
pub fn new_namespaces(facts: &Value) -> BTreeSet<&'static str> {
    ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]
        .into_iter()
        .filter(|name| namespace(facts, name) != host::namespace(name))
        .collect()
}

pub fn env(facts: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(facts["env"].clone()).expect("env is a map of strings")
}

/// `uid_map`/`gid_map` text as rows of numbers.
pub fn id_map(text: &Value) -> Vec<Vec<u64>> {
    text.as_str()
        .unwrap_or_else(|| panic!("not a map: {text}"))
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|n| n.parse().expect("a number"))
                .collect()
        })
        .collect()
}

pub fn as_u32(value: &Value) -> u32 {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| panic!("not a u32: {value}"))
}

/// Asserts that an attempt (`write`, `remount-rw`, `umount`) failed, with
/// `errno` if given.
pub fn assert_refused(attempt: &Value, errno: Option<i32>, what: &str) {
    assert_eq!(attempt["ok"], false, "{what} was allowed: {attempt}");
    if let Some(errno) = errno {
        assert_eq!(
            attempt["errno"], errno,
            "{what} failed for another reason: {attempt}"
        );
    }
}

pub fn assert_allowed(attempt: &Value, what: &str) {
    assert_eq!(attempt["ok"], true, "{what} was refused: {attempt}");
}
