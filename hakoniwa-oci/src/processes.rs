//! A container's processes, found through `/proc/*/status` (its `PPid`
//! line), which anyone may read: the sandbox's init is not dumpable, so
//! its own `/proc` entries are closed to all but root. In a pod's pid
//! namespace, joined by path, the container's cgroup finds those the
//! program orphaned, which the pod's pid 1 adopted.

use std::collections::BTreeMap;
use std::fs;

use crate::state::CgroupRecord;

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
fn descendants(pid: u32) -> Vec<u32> {
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

/// The container's processes but its init: `init`'s descendants, parents
/// before children; then, when init stays outside a pid namespace joined
/// by path (the namespace of its children is not its own), every other
/// process of the container's `cgroup` in that namespace — not the
/// `exec`s' inits, which are outside it too.
pub fn members(init: u32, cgroup: Option<&CgroupRecord>) -> Vec<u32> {
    let mut found = descendants(init);
    let namespace = |pid: u32, name: &str| fs::read_link(format!("/proc/{pid}/ns/{name}")).ok();
    let Some(joined) = namespace(init, "pid_for_children") else {
        return found;
    };
    if namespace(init, "pid").as_ref() == Some(&joined) {
        return found;
    }
    let Some(procs) = cgroup
        .and_then(|record| record.paths.first())
        .and_then(|dir| fs::read_to_string(dir.join("cgroup.procs")).ok())
    else {
        return found;
    };
    let orphans: Vec<u32> = procs
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .filter(|pid| !found.contains(pid))
        .filter(|pid| namespace(*pid, "pid").as_ref() == Some(&joined))
        .collect();
    found.extend(orphans);
    found
}
