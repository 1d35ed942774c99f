//! Control groups: memory, process-count and CPU limits, and exact
//! accounting of what the whole sandbox used. All of it in the caller.
//!
//! - `plan.rs`: the limits, checked, and which file of which version gets
//!   which value (pure; before any process exists);
//! - `host.rs`: where the sandbox's cgroup can go — a cgroup v2 subtree the
//!   caller may write, else the cgroup v1 hierarchies (as root), else an
//!   error that says what is missing and how to get it;
//! - `live.rs`: the cgroup of one sandbox: created before the clone, init
//!   moved in before it goes on, read and removed when the sandbox ends,
//!   and a keeper that removes it if the caller is killed;
//! - `control.rs`: a running sandbox's cgroup acted on from any process —
//!   frozen, thawed, its limits changed ([`CgroupDirs`]).
//!
//! See docs/cgroups.md.

pub(crate) mod control;
pub(crate) mod host;
pub(crate) mod live;
pub(crate) mod plan;

use std::path::PathBuf;
use std::time::Duration;

pub use control::CgroupDirs;

/// Limits for the sandbox's cgroup, which holds every process of the
/// sandbox (init, the program, and all they start).
///
/// ```no_run
/// use hakoniwa::{Cgroup, Container};
///
/// let mut container = Container::new();
/// container.cgroup(Cgroup::new().memory(512 << 20).pids(64).cpus(0.5).clone());
/// # Ok::<(), hakoniwa::Error>(())
/// ```
///
/// A `Cgroup` with no limit still puts the sandbox in a cgroup of its own,
/// for the accounting ([`CgroupUsage`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cgroup {
    pub(crate) memory: Option<u64>,
    pub(crate) memory_swap: Option<u64>,
    pub(crate) pids: Option<u64>,
    pub(crate) cpus: Option<f64>,
    pub(crate) cpu_weight: Option<u64>,
    pub(crate) freezer: bool,
    pub(crate) path: Option<PathBuf>,
}

impl Cgroup {
    /// No limit (accounting only).
    pub fn new() -> Self {
        Self::default()
    }

    /// Memory in bytes (`u64::MAX`: no limit). Past it the kernel reclaims,
    /// then kills a process of the sandbox: the run reports
    /// [`Limit::Memory`](crate::Limit::Memory).
    pub fn memory(&mut self, bytes: u64) -> &mut Self {
        self.memory = Some(bytes);
        self
    }

    /// Memory and swap together, in bytes; at least [`memory`](Self::memory),
    /// which it needs. Equal to it: no swap. Unset: swap as the system
    /// allows.
    pub fn memory_swap(&mut self, bytes: u64) -> &mut Self {
        self.memory_swap = Some(bytes);
        self
    }

    /// How many processes (and threads) the sandbox may hold at once.
    pub fn pids(&mut self, count: u64) -> &mut Self {
        self.pids = Some(count);
        self
    }

    /// CPU time per wall-clock time, in CPUs: `0.5` is half of one CPU,
    /// `2.0` two full CPUs (a quota per 100 ms period; at least `0.01`).
    pub fn cpus(&mut self, cpus: f64) -> &mut Self {
        self.cpus = Some(cpus);
        self
    }

    /// The sandbox's share of CPU time under contention, `1` to `10000`
    /// (`100` is what every other cgroup has by default).
    pub fn cpu_weight(&mut self, weight: u64) -> &mut Self {
        self.cpu_weight = Some(weight);
        self
    }

    /// The cgroup must be one that can be frozen ([`CgroupDirs::freeze`]):
    /// on cgroup v2 every cgroup can; on v1 it needs the `freezer`
    /// hierarchy, and the run stops without it.
    pub fn freezer(&mut self) -> &mut Self {
        self.freezer = true;
        self
    }

    /// Where the cgroup goes, instead of `hakoniwa-<pid>-<n>` beneath the
    /// caller's own: an absolute path is taken from the root of each
    /// hierarchy (`/kubepods/pod1/c1` is `/sys/fs/cgroup/memory/kubepods/pod1/c1`
    /// on v1), a relative one from the caller's own cgroup. Missing parents
    /// are made (and left); the cgroup itself must not exist, and is
    /// removed when the sandbox ends.
    pub fn path<P: Into<PathBuf>>(&mut self, path: P) -> &mut Self {
        self.path = Some(path.into());
        self
    }
}

/// The cgroup version a sandbox's cgroup was made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The v1 hierarchies, one directory per controller.
    V1,
    /// The unified v2 hierarchy, one directory.
    V2,
}

/// What the whole sandbox used, as its cgroup counted it. A value is
/// `None` when the controller that counts it was not available (or, for
/// the peaks, the kernel is too old to count them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupUsage {
    /// Where the cgroup was.
    pub version: CgroupVersion,
    /// Its directories (one for v2; one per hierarchy for v1), removed now.
    pub paths: Vec<PathBuf>,
    /// The most memory it held at once, in bytes.
    pub memory_peak: Option<u64>,
    /// How many processes the kernel killed because it ran out of memory.
    pub oom_kills: Option<u64>,
    /// The most processes and threads it held at once.
    pub pids_peak: Option<u64>,
    /// CPU time of all its processes, user and system.
    pub cpu_time: Option<Duration>,
}
