//! A container's processes, found through `/proc/*/status` (its `PPid`
//! line), which anyone may read: the sandbox's init is not dumpable, so
//! its own `/proc` entries are closed to all but root.

use std::collections::BTreeMap;
use std::fs;

/// Every process's parent, by pid.
fn parents() -> BTreeMap<u32, u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let parent = status
                .lines()
                .find_map(|line| line.strip_prefix("PPid:"))?
                .trim()
                .parse()
                .ok()?;
            Some((pid, parent))
        })
        .collect()
}

/// The first child of `pid`: the sandbox's program, for its init.
pub fn first_child(pid: u32) -> Option<u32> {
    parents()
        .into_iter()
        .find_map(|(child, parent)| (parent == pid).then_some(child))
}

/// `pid`'s descendants, parents before children.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents = parents();
    let mut found = vec![pid];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| **p == parent)
                .map(|(child, _)| *child),
        );
        next += 1;
    }
    found.remove(0);
    found
}
