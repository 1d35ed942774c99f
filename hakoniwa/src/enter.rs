//! Entering a running sandbox: the program runs in the namespaces of one
//! of its processes instead of new ones (an OCI runtime's `exec`).
//!
//! Both halves live here. The caller opens the process's namespace files
//! before the clone ([`EnterPlan::new`]); init joins them first of all
//! ([`EnterPlan::join`]), before its descriptors are closed. The user
//! namespace goes first: it gives the capabilities the other joins need.
//! Joining a pid namespace places init's children, not init, in it; and
//! joining the mount namespace sets the root and working directory to the
//! sandbox's.

use std::fs::{self, File};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::sched::{self, CloneFlags};

use crate::error::{Error, Result};

/// The namespaces joined, in the order they are joined: the user namespace
/// first; the mount namespace last, as it changes the root.
const NAMESPACES: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// The namespaces of a process that differ from the caller's, open.
#[derive(Debug)]
pub(crate) struct EnterPlan {
    pid: u32,
    namespaces: Vec<(CloneFlags, OwnedFd)>,
}

impl EnterPlan {
    /// Caller side: opens `/proc/PID/ns/*`, keeping those the caller is not
    /// already in (joining one's own user namespace is refused).
    pub(crate) fn new(pid: u32) -> Result<Self> {
        let mut namespaces = Vec::new();
        for (name, flag) in NAMESPACES {
            let path = format!("/proc/{pid}/ns/{name}");
            let failed = |source| Error::EnterNamespace {
                pid,
                namespace: name,
                source,
            };
            let file = File::open(&path).map_err(failed)?;
            let theirs = file.metadata().map_err(failed)?;
            let ours = fs::metadata(format!("/proc/self/ns/{name}")).map_err(failed)?;
            if (theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino()) {
                namespaces.push((flag, OwnedFd::from(file)));
            }
        }
        Ok(Self { pid, namespaces })
    }

    /// The process whose namespaces are joined.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the program joins another user namespace (in which it may
    /// then hold capabilities).
    pub(crate) fn joins_user_namespace(&self) -> bool {
        self.namespaces
            .iter()
            .any(|(flag, _)| *flag == CloneFlags::CLONE_NEWUSER)
    }

    /// Child side (init, single-threaded, before anything else): joins
    /// each namespace. System calls only.
    pub(crate) fn join(&self) -> Result<(), Errno> {
        for (flag, fd) in &self.namespaces {
            sched::setns(fd.as_fd(), *flag)?;
        }
        Ok(())
    }
}
