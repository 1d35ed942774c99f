//! What the host sees: its namespaces, processes, temp dirs and mounts.
//! Leak checks compare these before and after runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::scratch::PREFIX;
use super::ROOTFS_ENTRIES;

/// The test runner's `/proc/self/ns/NAME` link; `hakoniwa` starts in the
/// same namespaces (`setpriv` changes ids, not namespaces).
pub fn namespace(name: &str) -> String {
    let link = fs::read_link(format!("/proc/self/ns/{name}"))
        .unwrap_or_else(|e| panic!("readlink /proc/self/ns/{name}: {e}"));
    link.to_string_lossy().into_owned()
}

pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read the host name")
        .trim()
        .to_owned()
}

/// The kinds of `ROOTFS_ENTRIES` that exist in `root`, written as
/// `facts::kinds` writes what the probe saw.
pub fn rootfs_kinds(root: &Path) -> BTreeMap<String, String> {
    ROOTFS_ENTRIES
        .iter()
        .filter_map(|name| {
            let path = root.join(name);
            let meta = fs::symlink_metadata(&path).ok()?;
            let kind = if meta.is_symlink() {
                let target = fs::read_link(&path).expect("read a symlink");
                format!("symlink -> {}", target.display())
            } else if meta.is_dir() {
                "dir".to_owned()
            } else {
                "file".to_owned()
            };
            Some((name.to_string(), kind))
        })
        .collect()
}

/// `kill -s NAME PID`.
pub fn send_signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {name} {pid} failed");
}

/// One process, as `/proc/PID/stat` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub state: char,
    /// Clock ticks since boot; tells a process from a later one that reused
    /// its pid.
    pub start_time: u64,
}

impl Process {
    pub fn read(pid: u32) -> Option<Process> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let (head, tail) = stat.rsplit_once(") ")?;
        let comm = head.split_once(" (")?.1.to_owned();
        let fields: Vec<&str> = tail.split(' ').collect();
        Some(Process {
            pid,
            ppid: fields.get(1)?.parse().ok()?,
            comm,
            state: fields.first()?.chars().next()?,
            start_time: fields.get(19)?.parse().ok()?,
        })
    }

    /// Still running: same pid, same start time, not a zombie.
    pub fn is_alive(&self) -> bool {
        Process::read(self.pid)
            .is_some_and(|now| now.start_time == self.start_time && !matches!(now.state, 'Z' | 'X'))
    }
}

pub fn processes() -> Vec<Process> {
    let entries = fs::read_dir("/proc").expect("list /proc");
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(Process::read)
        .collect()
}

/// Every process below `root` in the process tree, at this instant.
pub fn descendants(root: u32) -> Vec<Process> {
    let mut children: BTreeMap<u32, Vec<Process>> = BTreeMap::new();
    for process in processes() {
        children.entry(process.ppid).or_default().push(process);
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for child in children.remove(&pid).unwrap_or_default() {
            queue.push(child.pid);
            found.push(child);
        }
    }
    found
}

/// The descendants of `root` once `ready` holds for them; panics after
/// `timeout`.
pub fn descendants_until(
    root: u32,
    timeout: Duration,
    ready: impl Fn(&[Process]) -> bool,
) -> Vec<Process> {
    let deadline = Instant::now() + timeout;
    loop {
        let tree = descendants(root);
        if ready(&tree) {
            return tree;
        }
        assert!(
            Instant::now() < deadline,
            "the processes below {root} are not as expected after {timeout:?}: {tree:#?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to `timeout` for all of `processes` to die; returns those
/// still alive then.
pub fn wait_for_death(processes: &[Process], timeout: Duration) -> Vec<Process> {
    let deadline = Instant::now() + timeout;
    loop {
        let alive: Vec<Process> = processes.iter().filter(|p| p.is_alive()).cloned().collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Processes whose command line or environment holds `marker`. Tests put a
/// unique marker on `hakoniwa`'s command line (`-e MARK=…`): every fork of
/// `hakoniwa` keeps that command line, and the program gets it in its
/// environment, so anything a run leaves behind carries it.
pub fn processes_marked(marker: &str) -> Vec<Process> {
    processes()
        .into_iter()
        .filter(|p| {
            ["cmdline", "environ"].iter().any(|file| {
                fs::read(format!("/proc/{}/{file}", p.pid))
                    .is_ok_and(|bytes| contains(&bytes, marker.as_bytes()))
            })
        })
        .filter(Process::is_alive)
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Traces a run may leave on the host: entries in the temp dirs owned by
/// the caller (other than the harness's own) and mounts.
///
/// Other programs may use `/tmp` meanwhile, so an entry counts as left
/// behind only if it is owned by the caller and still there a few seconds
/// later: a leak stays; a neighbour's temp file usually goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Traces {
    owner: u32,
    temp_entries: BTreeSet<PathBuf>,
    mounts: BTreeSet<String>,
}

/// How long a new temp entry may take to vanish before it counts as left.
const TEMP_GRACE: Duration = Duration::from_secs(3);

impl Traces {
    /// What exists now; `owner` is the uid of the caller of `hakoniwa`.
    pub fn now(owner: u32) -> Traces {
        Traces {
            owner,
            temp_entries: temp_entries(owner),
            mounts: mounts(),
        }
    }

    /// Asserts nothing appeared since `self` was taken.
    pub fn assert_no_new(&self, context: &str) {
        let new_mounts: Vec<_> = mounts().difference(&self.mounts).cloned().collect();
        assert!(
            new_mounts.is_empty(),
            "{context}: new mounts on the host: {new_mounts:#?}"
        );
        let deadline = Instant::now() + TEMP_GRACE;
        loop {
            let now = temp_entries(self.owner);
            let new_entries: Vec<_> = now.difference(&self.temp_entries).collect();
            if new_entries.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{context}: new entries owned by uid {} in the temp dir: {new_entries:?}",
                self.owner
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

fn temp_entries(owner: u32) -> BTreeSet<PathBuf> {
    let mut temp_dirs = BTreeSet::from([PathBuf::from("/tmp"), std::env::temp_dir()]);
    temp_dirs.retain(|dir| dir.is_dir());
    temp_dirs
        .iter()
        .flat_map(|dir| fs::read_dir(dir).expect("list the temp dir"))
        .filter_map(|entry| entry.ok())
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with(PREFIX))
        .filter(|entry| entry.metadata().is_ok_and(|m| m.uid() == owner))
        .map(|entry| entry.path())
        .collect()
}

fn mounts() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("read /proc/self/mountinfo")
        .lines()
        .map(str::to_owned)
        .collect()
}
