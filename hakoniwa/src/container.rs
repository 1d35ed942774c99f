//! `Container`: what the sandbox looks like. Pure configuration: building
//! one makes no system call; everything is checked when a command spawns.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::command::Command;
use crate::error::{Error, Result};

/// A Linux namespace the sandbox may get a new instance of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Namespace {
    /// Control groups (`CLONE_NEWCGROUP`).
    Cgroup,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// Mount points (`CLONE_NEWNS`).
    Mount,
    /// Network devices, addresses, ports (`CLONE_NEWNET`).
    Network,
    /// Process ids (`CLONE_NEWPID`).
    Pid,
    /// User and group ids, capabilities (`CLONE_NEWUSER`).
    User,
    /// Hostname and NIS domain name (`CLONE_NEWUTS`).
    Uts,
}

impl Namespace {
    /// The `clone(2)` flag that creates this namespace.
    pub(crate) fn clone_flag(self) -> u64 {
        let flag = match self {
            Namespace::Cgroup => libc::CLONE_NEWCGROUP,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Mount => libc::CLONE_NEWNS,
            Namespace::Network => libc::CLONE_NEWNET,
            Namespace::Pid => libc::CLONE_NEWPID,
            Namespace::User => libc::CLONE_NEWUSER,
            Namespace::Uts => libc::CLONE_NEWUTS,
        };
        flag as u64
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Namespace::Cgroup => "cgroup",
            Namespace::Ipc => "ipc",
            Namespace::Mount => "mount",
            Namespace::Network => "network",
            Namespace::Pid => "pid",
            Namespace::User => "user",
            Namespace::Uts => "uts",
        })
    }
}

/// One entry of the sandbox's filesystem, applied in the order added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mount {
    /// A host file or directory made visible at `target`.
    Bind {
        source: PathBuf,
        target: PathBuf,
        writable: bool,
    },
    /// An empty in-memory filesystem.
    Tmpfs { target: PathBuf },
    /// A minimal `/dev`.
    Devfs { target: PathBuf },
    /// A `/proc` of the sandbox's pid namespace.
    Procfs { target: PathBuf },
    /// A symbolic link `link -> original`.
    Symlink { original: PathBuf, link: PathBuf },
}

/// A resource limit of the program (`setrlimit(2)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rlimit {
    /// Address space, in bytes (`RLIMIT_AS`).
    As,
    /// Core file size, in bytes (`RLIMIT_CORE`).
    Core,
    /// CPU time, in seconds (`RLIMIT_CPU`): SIGXCPU at the soft limit,
    /// SIGKILL at the hard one.
    Cpu,
    /// Size of a file the program writes, in bytes (`RLIMIT_FSIZE`).
    Fsize,
    /// Locked memory, in bytes (`RLIMIT_MEMLOCK`).
    Memlock,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    Nofile,
    /// Processes of the program's real uid, counted across the whole system
    /// (`RLIMIT_NPROC`); not enforced for root.
    Nproc,
    /// Stack size, in bytes (`RLIMIT_STACK`).
    Stack,
}

impl Rlimit {
    pub(crate) fn resource(self) -> nix::sys::resource::Resource {
        use nix::sys::resource::Resource;
        match self {
            Rlimit::As => Resource::RLIMIT_AS,
            Rlimit::Core => Resource::RLIMIT_CORE,
            Rlimit::Cpu => Resource::RLIMIT_CPU,
            Rlimit::Fsize => Resource::RLIMIT_FSIZE,
            Rlimit::Memlock => Resource::RLIMIT_MEMLOCK,
            Rlimit::Nofile => Resource::RLIMIT_NOFILE,
            Rlimit::Nproc => Resource::RLIMIT_NPROC,
            Rlimit::Stack => Resource::RLIMIT_STACK,
        }
    }
}

impl fmt::Display for Rlimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rlimit::As => "as",
            Rlimit::Core => "core",
            Rlimit::Cpu => "cpu",
            Rlimit::Fsize => "fsize",
            Rlimit::Memlock => "memlock",
            Rlimit::Nofile => "nofile",
            Rlimit::Nproc => "nproc",
            Rlimit::Stack => "stack",
        })
    }
}

/// A range of ids: `count` ids from `container_id` inside are `host_id..`
/// outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub count: u32,
}

/// The directories of a root filesystem that [`Container::rootfs`] makes
/// visible, read-only.
const ROOTFS_ENTRIES: [&str; 7] = ["bin", "etc", "lib", "lib32", "lib64", "sbin", "usr"];

/// The shape of a sandbox: namespaces, filesystem, identity, hostname.
///
/// Build one, then make commands that run in it. Nothing touches the system
/// until a command is spawned; configuration errors are reported then.
///
/// ```
/// use hakoniwa::Container;
///
/// let mut container = Container::new();
/// container.rootfs("/")?.devfsmount("/dev").tmpfsmount("/tmp");
/// let output = container.command("echo").arg("hello").output()?;
/// assert!(output.status.success());
/// assert_eq!(output.stdout, b"hello\n");
/// # Ok::<(), hakoniwa::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Container {
    pub(crate) namespaces: BTreeSet<Namespace>,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) hostname: Option<String>,
    pub(crate) uidmaps: Vec<IdMap>,
    pub(crate) gidmaps: Vec<IdMap>,
    pub(crate) rlimits: Vec<(Rlimit, u64, u64)>,
}

impl Default for Container {
    fn default() -> Self {
        Self::new()
    }
}

impl Container {
    /// A sandbox with new user, mount and pid namespaces, the caller's uid
    /// and gid mapped to themselves, and a fresh `/proc`. Its root is empty
    /// but for `/proc`: add [`rootfs`](Self::rootfs) for the usual system
    /// directories.
    pub fn new() -> Self {
        let mut container = Self::empty();
        container
            .unshare(Namespace::User)
            .unshare(Namespace::Mount)
            .unshare(Namespace::Pid)
            .uidmap(nix::unistd::getuid().as_raw())
            .gidmap(nix::unistd::getgid().as_raw())
            .procfsmount("/proc");
        container
    }

    /// A sandbox with nothing at all: no namespace, no mount, no id map.
    pub fn empty() -> Self {
        Self {
            namespaces: BTreeSet::new(),
            mounts: Vec::new(),
            hostname: None,
            uidmaps: Vec::new(),
            gidmaps: Vec::new(),
            rlimits: Vec::new(),
        }
    }

    /// Gives the sandbox its own instance of `namespace`.
    pub fn unshare(&mut self, namespace: Namespace) -> &mut Self {
        self.namespaces.insert(namespace);
        self
    }

    /// Lets the sandbox share `namespace` with the caller.
    pub fn share(&mut self, namespace: Namespace) -> &mut Self {
        self.namespaces.remove(&namespace);
        self
    }

    /// Makes the system directories of `dir` (`bin etc lib lib32 lib64 sbin
    /// usr`, those that exist) visible read-only at the same place in the
    /// sandbox. An entry that is a symbolic link in `dir` (`bin -> usr/bin`
    /// on a merged-/usr system) is the same link in the sandbox.
    ///
    /// Fails when `dir` is not a directory.
    pub fn rootfs<P: AsRef<Path>>(&mut self, dir: P) -> Result<&mut Self> {
        let dir = dir.as_ref();
        let invalid = |source| Error::Rootfs {
            path: dir.to_path_buf(),
            source,
        };
        if !fs::metadata(dir).map_err(invalid)?.is_dir() {
            return Err(invalid(std::io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        for name in ROOTFS_ENTRIES {
            let host = dir.join(name);
            let target = Path::new("/").join(name);
            match fs::symlink_metadata(&host) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let original = fs::read_link(&host).map_err(invalid)?;
                    self.mounts.push(Mount::Symlink {
                        original,
                        link: target,
                    });
                }
                Ok(meta) if meta.is_dir() => self.mounts.push(Mount::Bind {
                    source: host,
                    target,
                    writable: false,
                }),
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(invalid(err)),
            }
        }
        Ok(self)
    }

    /// Makes the host file or directory `host` visible read-only at
    /// `container` (recursively, with `nosuid`).
    pub fn bindmount_ro(&mut self, host: &str, container: &str) -> &mut Self {
        self.bindmount(host, container, false)
    }

    /// Makes the host file or directory `host` visible read-write at
    /// `container` (recursively, with `nosuid`).
    pub fn bindmount_rw(&mut self, host: &str, container: &str) -> &mut Self {
        self.bindmount(host, container, true)
    }

    fn bindmount(&mut self, host: &str, container: &str, writable: bool) -> &mut Self {
        self.mounts.push(Mount::Bind {
            source: host.into(),
            target: container.into(),
            writable,
        });
        self
    }

    /// Mounts an empty, writable tmpfs at `container` (`nosuid,nodev`).
    pub fn tmpfsmount(&mut self, container: &str) -> &mut Self {
        self.mounts.push(Mount::Tmpfs {
            target: container.into(),
        });
        self
    }

    /// Mounts a minimal `/dev` at `container`: `null zero full random
    /// urandom tty`, a private `pts` instance with its `ptmx`, a `shm` tmpfs,
    /// and the `fd stdin stdout stderr` links.
    pub fn devfsmount(&mut self, container: &str) -> &mut Self {
        self.mounts.push(Mount::Devfs {
            target: container.into(),
        });
        self
    }

    /// Mounts the `/proc` of the sandbox's pid namespace at `container`
    /// (`nosuid,nodev,noexec`).
    pub fn procfsmount(&mut self, container: &str) -> &mut Self {
        self.mounts.push(Mount::Procfs {
            target: container.into(),
        });
        self
    }

    /// Sets the sandbox's hostname; implies a new UTS namespace.
    pub fn hostname(&mut self, name: &str) -> &mut Self {
        self.hostname = Some(name.to_string());
        self.unshare(Namespace::Uts)
    }

    /// Maps the caller's uid to `container_id` inside the sandbox.
    pub fn uidmap(&mut self, container_id: u32) -> &mut Self {
        self.uidmaps = vec![IdMap {
            container_id,
            host_id: nix::unistd::getuid().as_raw(),
            count: 1,
        }];
        self
    }

    /// Maps the caller's gid to `container_id` inside the sandbox.
    pub fn gidmap(&mut self, container_id: u32) -> &mut Self {
        self.gidmaps = vec![IdMap {
            container_id,
            host_id: nix::unistd::getgid().as_raw(),
            count: 1,
        }];
        self
    }

    /// Limits a resource of the program: `soft` is what the kernel enforces,
    /// `hard` how far the program may raise it. A later call for the same
    /// resource replaces an earlier one.
    pub fn setrlimit(&mut self, resource: Rlimit, soft: u64, hard: u64) -> &mut Self {
        self.rlimits.retain(|(r, _, _)| *r != resource);
        self.rlimits.push((resource, soft, hard));
        self
    }

    /// A command that runs `program` in this sandbox. The program is looked
    /// up in the sandbox's `PATH` (the `PATH` given with
    /// [`Command::env`], or a default one) unless it contains a `/`.
    pub fn command(&self, program: &str) -> Command {
        Command::new(program, self.clone())
    }
}
