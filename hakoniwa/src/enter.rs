//! Joining existing namespaces: all of a running process's (entering a
//! running sandbox, an OCI runtime's `exec`: [`EnterPlan::new`]), or some
//! given by path (a container in a pod's network namespace:
//! [`EnterPlan::paths`]) while the others are new.
//!
//! Both halves live here. The caller opens the namespace files before the
//! clone; init joins them first of all ([`EnterPlan::join`]), before its
//! descriptors are closed. The user
//! namespace goes first: it gives the capabilities the other joins need.
//! Joining a pid namespace places init's children, not init, in it (by
//! path, the program's process then builds the root, to mount a /proc of
//! that namespace); and joining the mount namespace sets the root and
//! working directory to the sandbox's.

use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::{self, CloneFlags};

use crate::container::Namespace;
use crate::error::{Error, Result};

/// The namespaces joined, in the order they are joined: the user namespace
/// first; the mount namespace last, as it changes the root.
const NAMESPACES: [Namespace; 7] = [
    Namespace::User,
    Namespace::Ipc,
    Namespace::Uts,
    Namespace::Network,
    Namespace::Pid,
    Namespace::Cgroup,
    Namespace::Mount,
];

fn clone_flag(namespace: Namespace) -> CloneFlags {
    CloneFlags::from_bits_truncate(namespace.clone_flag() as i32)
}

/// Whether the namespace file whose metadata is `file` is the caller's own
/// `namespace`.
fn is_callers(file: &Metadata, namespace: Namespace) -> io::Result<bool> {
    let ours = fs::metadata(format!("/proc/self/ns/{}", namespace.proc_name()))?;
    Ok((file.dev(), file.ino()) == (ours.dev(), ours.ino()))
}

/// Whether `path` names the caller's own `namespace` (a namespace that
/// cannot be looked at counts as the caller's: the safe answer).
pub(crate) fn is_callers_namespace(path: &Path, namespace: Namespace) -> bool {
    fs::metadata(path)
        .and_then(|file| is_callers(&file, namespace))
        .unwrap_or(true)
}

/// The namespaces to join, open, in the order they are joined.
#[derive(Debug)]
pub(crate) struct EnterPlan {
    /// What joining them is, for messages.
    what: String,
    namespaces: Vec<(CloneFlags, OwnedFd)>,
}

impl EnterPlan {
    /// Caller side: opens `/proc/PID/ns/*`, keeping those the caller is not
    /// already in (joining one's own user namespace is refused). The pid
    /// namespace is the one PID's children go to (`pid_for_children`): a
    /// sandbox's init's own when it is pid 1 of it, and the joined one when
    /// its init stays outside a pid namespace joined by path.
    pub(crate) fn new(pid: u32) -> Result<Self> {
        let mut namespaces = Vec::new();
        for namespace in NAMESPACES {
            let name = match namespace {
                Namespace::Pid => "pid_for_children",
                _ => namespace.proc_name(),
            };
            let failed = |source| Error::EnterNamespace {
                pid,
                namespace: name,
                source,
            };
            let file = File::open(format!("/proc/{pid}/ns/{name}")).map_err(failed)?;
            let theirs = file.metadata().map_err(failed)?;
            if !is_callers(&theirs, namespace).map_err(failed)? {
                namespaces.push((clone_flag(namespace), OwnedFd::from(file)));
            }
        }
        Ok(Self {
            what: format!("enter the namespaces of process {pid}"),
            namespaces,
        })
    }

    /// Caller side: opens the namespace files at the given paths (a
    /// `/proc/PID/ns/*` file, or a bind mount of one), to be joined in the
    /// order of [`NAMESPACES`]: a mount namespace last.
    pub(crate) fn paths(joins: &[(Namespace, PathBuf)]) -> Result<Self> {
        let mut namespaces = Vec::new();
        let mut named = Vec::new();
        let ordered = NAMESPACES
            .iter()
            .flat_map(|kind| joins.iter().filter(move |(namespace, _)| namespace == kind));
        for (namespace, path) in ordered {
            let file = File::open(path).map_err(|source| Error::JoinNamespace {
                namespace: *namespace,
                path: path.clone(),
                source,
            })?;
            namespaces.push((clone_flag(*namespace), OwnedFd::from(file)));
            named.push(format!("the {namespace} namespace at {}", path.display()));
        }
        Ok(Self {
            what: format!("join {}", named.join(", ")),
            namespaces,
        })
    }

    /// What joining them is: "enter the namespaces of process 12", "join
    /// the network namespace at /run/netns/a".
    pub(crate) fn what(&self) -> &str {
        &self.what
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
