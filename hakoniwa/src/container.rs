//! `Container`: what the sandbox looks like. Pure configuration: building
//! one makes no system call; everything is checked when a command spawns.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::cgroup::{Cgroup, CgroupDirs};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::landlock::Ruleset;
use crate::network::{Network, Pasta};
use crate::seccomp::Filter;

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

impl Namespace {
    /// Its name under `/proc/PID/ns`.
    pub(crate) fn proc_name(self) -> &'static str {
        match self {
            Namespace::Cgroup => "cgroup",
            Namespace::Ipc => "ipc",
            Namespace::Mount => "mnt",
            Namespace::Network => "net",
            Namespace::Pid => "pid",
            Namespace::User => "user",
            Namespace::Uts => "uts",
        }
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
    /// A host file or directory made visible at `target`; its device
    /// nodes can be opened only when `devices` is set (else `nodev`).
    Bind {
        source: PathBuf,
        target: PathBuf,
        writable: bool,
        devices: bool,
    },
    /// An empty in-memory filesystem.
    Tmpfs {
        target: PathBuf,
        options: TmpfsOptions,
    },
    /// A directory with this mode.
    Dir { target: PathBuf, mode: u32 },
    /// A file with these contents (mode 0644).
    File { target: PathBuf, contents: Vec<u8> },
    /// A writable layer over what is at `target`: its changes go to a tmpfs
    /// and vanish at exit, or to `upper` (with overlayfs's `work` dir) on
    /// the host.
    Overlay {
        target: PathBuf,
        upper: Option<(PathBuf, PathBuf)>,
    },
    /// A minimal `/dev`.
    Devfs { target: PathBuf },
    /// A `/proc` of the sandbox's pid namespace.
    Procfs { target: PathBuf },
    /// The POSIX message queues of the sandbox's ipc namespace.
    Mqueue { target: PathBuf },
    /// What is at `target` (if anything), hidden.
    Mask { target: PathBuf },
    /// What is at `target` (if anything), made read-only.
    ReadOnly { target: PathBuf },
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

/// Entries of every `/proc` the sandbox gets that reach the host kernel and
/// are hidden (an empty read-only tmpfs over a directory, `/dev/null` over
/// a file), as OCI runtimes hide them by default (runc's `maskedPaths`).
pub const PROC_MASKED: [&str; 10] = [
    "acpi",
    "asound",
    "interrupts",
    "kcore",
    "keys",
    "latency_stats",
    "sched_debug",
    "scsi",
    "timer_list",
    "timer_stats",
];

/// Entries of every `/proc` the sandbox gets that act on the host kernel
/// and are read-only (runc's `readonlyPaths`).
pub const PROC_READ_ONLY: [&str; 5] = ["bus", "fs", "irq", "sys", "sysrq-trigger"];

/// Which seccomp filter the program gets (compiled in `Plan::new`).
#[derive(Clone, Debug)]
pub(crate) enum Seccomp {
    /// `default`, built at spawn time.
    Default,
    /// A filter given by the caller.
    Filter(Filter),
    /// None.
    Unconfined,
}

/// Switches that change how the runtime behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Runctl {
    /// Leaves `no_new_privs` off, so a setuid binary inside may gain the
    /// ids it names (never host privileges: binds are `nosuid`).
    AllowNewPrivs,
    /// Makes the [`Container::rootdir`] writable: the program changes the
    /// directory on the host.
    RootdirRW,
    /// Starts the program in a new session (`setsid`), without a
    /// controlling terminal: it cannot push keystrokes into the caller's
    /// terminal even where the kernel allows `TIOCSTI`, and gives up job
    /// control (Ctrl-Z, Ctrl-C from the terminal go to the caller only).
    NewSession,
    /// Starts the program in a new session whose controlling terminal is
    /// its standard input, which must be a terminal (`setsid`, then
    /// `TIOCSCTTY`): for a terminal made for the program, such as the one
    /// an OCI runtime hands to a container engine through a console
    /// socket — not for the caller's own, which is its session's.
    /// [`Command::terminal`](crate::Command::terminal) makes one from the
    /// sandbox's own devpts instead, which has a name inside.
    TerminalSession,
    /// Reads the program's peak virtual and resident memory (`VmPeak`,
    /// `VmHWM` of `/proc/PID/status`) at the moment it exits, into
    /// [`ExitStatus::proc_pid_status`](crate::ExitStatus). The sandbox's
    /// init traces the program to stop it there, so a debugger inside the
    /// sandbox cannot attach to the program itself.
    GetProcPidStatus,
}

/// `--user NAME[:GROUP[:SUPP,...]]`, resolved when the command spawns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserSpec {
    pub user: String,
    pub group: Option<String>,
    pub supplementary: Vec<String>,
}

/// Options of a tmpfs mount: those left `None` take the default (half of
/// RAM for the size, the kernel's default inode count, mode 1777 for
/// `/tmp`, `/var/tmp` and `/dev/shm` and 0755 elsewhere).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TmpfsOptions {
    /// Largest size, in bytes.
    pub size: Option<u64>,
    /// Mode of its root directory.
    pub mode: Option<u32>,
    /// Largest number of inodes.
    pub nr_inodes: Option<u64>,
}

/// A range of ids: `count` ids from `container_id` inside are `host_id..`
/// outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub count: u32,
}

impl From<(u32, u32, u32)> for IdMap {
    fn from((container_id, host_id, count): (u32, u32, u32)) -> Self {
        Self {
            container_id,
            host_id,
            count,
        }
    }
}

impl IdMap {
    /// The id inside that `host_id` maps to, if this range holds it.
    pub(crate) fn to_container(self, host_id: u32) -> Option<u32> {
        let offset = host_id.checked_sub(self.host_id)?;
        (offset < self.count).then(|| self.container_id + offset)
    }

    /// Whether the id `container_id` inside is in this range.
    pub(crate) fn holds(self, container_id: u32) -> bool {
        container_id
            .checked_sub(self.container_id)
            .is_some_and(|offset| offset < self.count)
    }
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
    pub(crate) rootdir: Option<PathBuf>,
    pub(crate) hostname: Option<String>,
    pub(crate) uidmaps: Vec<IdMap>,
    pub(crate) gidmaps: Vec<IdMap>,
    pub(crate) rlimits: Vec<(Rlimit, u64, u64)>,
    pub(crate) user: Option<UserSpec>,
    pub(crate) cap_add: Vec<String>,
    pub(crate) cap_drop: Vec<String>,
    pub(crate) runctls: BTreeSet<Runctl>,
    pub(crate) landlock: Option<Ruleset>,
    pub(crate) seccomp: Seccomp,
    /// pasta's options, when the network is [`Network::Pasta`].
    pub(crate) pasta: Option<Pasta>,
    /// The sandbox's cgroup limits; `None`: no cgroup of its own.
    pub(crate) cgroup: Option<Cgroup>,
    /// A running sandbox's cgroup the sandbox goes into instead.
    pub(crate) joined_cgroup: Option<CgroupDirs>,
    /// The process whose namespaces the program joins, if any.
    pub(crate) enter: Option<u32>,
    /// Namespaces joined by path instead of created.
    pub(crate) joins: Vec<(Namespace, PathBuf)>,
    /// Kernel parameters of the sandbox's own namespaces, in order.
    pub(crate) sysctls: Vec<(String, String)>,
}

impl Default for Container {
    fn default() -> Self {
        Self::new()
    }
}

impl Container {
    /// A sandbox with new user, mount and pid namespaces, the caller's uid
    /// and gid mapped to themselves, a fresh `/proc`, and the `default`
    /// seccomp profile ([`Filter::hardened`]). Its root is empty but for
    /// `/proc`: add [`rootfs`](Self::rootfs) for the usual system
    /// directories.
    pub fn new() -> Self {
        let mut container = Self::empty();
        container
            .seccomp_default()
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
            rootdir: None,
            hostname: None,
            uidmaps: Vec::new(),
            gidmaps: Vec::new(),
            rlimits: Vec::new(),
            user: None,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            runctls: BTreeSet::new(),
            landlock: None,
            seccomp: Seccomp::Unconfined,
            pasta: None,
            cgroup: None,
            joined_cgroup: None,
            enter: None,
            joins: Vec::new(),
            sysctls: Vec::new(),
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
                    devices: false,
                }),
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(invalid(err)),
            }
        }
        Ok(self)
    }

    /// Makes the host file or directory `host` visible read-only at
    /// `container` (recursively, with `nosuid,nodev`: a device node in it
    /// cannot be opened; see [`devbindmount`](Self::devbindmount)).
    pub fn bindmount_ro(&mut self, host: &str, container: &str) -> &mut Self {
        self.bindmount(host, container, false, false)
    }

    /// Makes the host file or directory `host` visible read-write at
    /// `container` (recursively, with `nosuid,nodev`).
    pub fn bindmount_rw(&mut self, host: &str, container: &str) -> &mut Self {
        self.bindmount(host, container, true, false)
    }

    /// Makes the host file or directory `host` visible read-only at
    /// `container` with its device nodes usable (recursively, with
    /// `nosuid` but not `nodev`): `/dev/dri` for a GPU, `/dev/snd` for
    /// sound. The program can read and write a device node its permissions
    /// allow; the read-only mount only keeps it from adding or removing
    /// entries.
    pub fn devbindmount(&mut self, host: &str, container: &str) -> &mut Self {
        self.bindmount(host, container, false, true)
    }

    fn bindmount(
        &mut self,
        host: &str,
        container: &str,
        writable: bool,
        devices: bool,
    ) -> &mut Self {
        self.mounts.push(Mount::Bind {
            source: host.into(),
            target: container.into(),
            writable,
            devices,
        });
        self
    }

    /// Uses the directory tree `dir` (an exported image, a debootstrap) as
    /// the sandbox's root instead of an empty tmpfs: read-only — changes,
    /// and the mount points the sandbox needs, go to a layer that vanishes
    /// at exit, so `dir` is never modified — or writable with
    /// [`Runctl::RootdirRW`]. Fails at spawn when `dir` is not a directory.
    pub fn rootdir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Self {
        self.rootdir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Mounts an empty, writable tmpfs at `container` (`nosuid,nodev`).
    pub fn tmpfsmount(&mut self, container: &str) -> &mut Self {
        self.tmpfsmount_with(container, TmpfsOptions::default())
    }

    /// Mounts an empty, writable tmpfs at `container` with `options`.
    pub fn tmpfsmount_with(&mut self, container: &str, options: TmpfsOptions) -> &mut Self {
        self.mounts.push(Mount::Tmpfs {
            target: container.into(),
            options,
        });
        self
    }

    /// Creates the directory `container` with `mode` (its missing parents
    /// with 0755).
    pub fn dir(&mut self, container: &str, mode: u32) -> &mut Self {
        self.mounts.push(Mount::Dir {
            target: container.into(),
            mode,
        });
        self
    }

    /// Creates the symbolic link `link -> original`.
    pub fn symlink(&mut self, original: &str, link: &str) -> &mut Self {
        self.mounts.push(Mount::Symlink {
            original: original.into(),
            link: link.into(),
        });
        self
    }

    /// Creates the file `container` (mode 0644) holding `contents`.
    pub fn file(&mut self, container: &str, contents: impl AsRef<[u8]>) -> &mut Self {
        self.mounts.push(Mount::File {
            target: container.into(),
            contents: contents.as_ref().to_vec(),
        });
        self
    }

    /// Puts a writable layer over what the sandbox has at `container`: the
    /// program may change anything there, and every change vanishes at
    /// exit (overlayfs with its upper layer on a tmpfs).
    pub fn overlaymount_tmp(&mut self, container: &str) -> &mut Self {
        self.mounts.push(Mount::Overlay {
            target: container.into(),
            upper: None,
        });
        self
    }

    /// Puts a writable layer over what the sandbox has at `container`,
    /// keeping the changes in the host directory `upper`. `work` is the
    /// empty directory overlayfs needs, on the same filesystem as `upper`.
    pub fn overlaymount(&mut self, container: &str, upper: &str, work: &str) -> &mut Self {
        self.mounts.push(Mount::Overlay {
            target: container.into(),
            upper: Some((upper.into(), work.into())),
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

    /// Sets the kernel parameter `key` (`net.ipv4.ip_unprivileged_port_start`)
    /// to `value` in the sandbox, through its `/proc/sys`, before the
    /// program starts (and before `/proc/sys` turns read-only). Only
    /// parameters of the sandbox's own namespaces can be set: `net.*` with
    /// a new network namespace, `kernel.shm*`, `kernel.msg*`,
    /// `kernel.sem` and `fs.mqueue.*` with a new ipc namespace, and
    /// `kernel.domainname` with a new uts namespace (set with
    /// setdomainname(2): a user namespace may not write its `/proc/sys`
    /// file) — never the host's. The others need a `/proc`
    /// ([`procfsmount`](Self::procfsmount)).
    pub fn sysctl(&mut self, key: &str, value: &str) -> &mut Self {
        self.sysctls.push((key.to_string(), value.to_string()));
        self
    }

    /// Mounts the POSIX message queues of the sandbox's ipc namespace at
    /// `container` (`nosuid,nodev,noexec`; see `mq_overview(7)`). Queues
    /// work without it; the mount lists them as files. It needs a new ipc
    /// namespace (`Namespace::Ipc`) when the sandbox has a user namespace.
    pub fn mqueuemount(&mut self, container: &str) -> &mut Self {
        self.mounts.push(Mount::Mqueue {
            target: container.into(),
        });
        self
    }

    /// Hides what the sandbox has at `container` once the mounts are in
    /// place, if anything: an empty read-only tmpfs over a directory, the
    /// host's `/dev/null` over a file (as the `/proc` entries that reach the
    /// host kernel are hidden). A path that does not exist is left alone.
    pub fn mask(&mut self, container: &str) -> &mut Self {
        self.mounts.push(Mount::Mask {
            target: container.into(),
        });
        self
    }

    /// Makes what the sandbox has at `container` read-only once the mounts
    /// are in place, with everything mounted below it: it is bound onto
    /// itself, read-only (as the `/proc` entries that reach the host kernel
    /// are). A path that does not exist is left alone.
    ///
    /// ```no_run
    /// use hakoniwa::Container;
    ///
    /// let mut container = Container::new();
    /// container.bindmount_rw("/srv/data", "/data").readonly("/data/config");
    /// ```
    pub fn readonly(&mut self, container: &str) -> &mut Self {
        self.mounts.push(Mount::ReadOnly {
            target: container.into(),
        });
        self
    }

    /// Joins the namespace at `path` (a `/proc/PID/ns/*` file, or a bind
    /// mount of one, such as `/run/netns/NAME`) instead of creating one:
    /// the network, ipc, uts, cgroup or pid namespace of a pod, say, or a
    /// mount namespace (whose root is then the sandbox's: it may have no
    /// mounts or root directory of its own). Not a user namespace. The
    /// others the container asks for are new as usual. Joining needs the
    /// capabilities of the namespace's owner (root, for the host's), which
    /// a sandbox that has its own user namespace no longer holds.
    ///
    /// In a joined pid namespace the program and everything it starts are
    /// members, numbered by it, and the `/proc` the sandbox mounts shows
    /// its processes (the program's process mounts it, from inside). Init
    /// stays outside, still the sandbox's supervisor: it forwards signals,
    /// enforces the wall time and reports the program's end, but the
    /// namespace's own pid 1 reaps the orphans. The sandbox needs a cgroup
    /// of its own ([`cgroup`](Self::cgroup)): ending the sandbox (kill,
    /// wall time, dropping the [`Child`](crate::Child)) kills its cgroup,
    /// which holds the program and what it started and none of the
    /// namespace's other processes.
    ///
    /// ```no_run
    /// use hakoniwa::{Cgroup, Container, Namespace};
    ///
    /// let mut container = Container::empty();
    /// container
    ///     .unshare(Namespace::Mount)
    ///     .rootfs("/")?
    ///     .procfsmount("/proc")
    ///     .join(Namespace::Pid, "/proc/1234/ns/pid")
    ///     .cgroup(Cgroup::new());
    /// # Ok::<(), hakoniwa::Error>(())
    /// ```
    pub fn join(&mut self, namespace: Namespace, path: impl AsRef<Path>) -> &mut Self {
        self.joins.push((namespace, path.as_ref().to_path_buf()));
        self
    }

    /// Runs the program in the namespaces of process `pid` — the program
    /// of another sandbox, say (its init is not dumpable: only root may
    /// open its namespaces) — instead of new ones: an OCI runtime's `exec`.
    /// No namespace is created and no root is built (the joined mount
    /// namespace has its own), so the container may have no namespace,
    /// mount, root directory, hostname, network or cgroup of its own; the
    /// program's identity, capabilities, limits, landlock and seccomp apply
    /// as usual. Init runs outside the joined pid namespace: when it ends,
    /// the program is not killed with it.
    pub fn enter(&mut self, pid: u32) -> &mut Self {
        self.enter = Some(pid);
        self
    }

    /// Chooses the sandbox's network: [`Network::None`] (a new network
    /// namespace with only `lo`, up), [`Network::Host`] (the caller's), or
    /// [`Network::Pasta`] (a new one that `pasta` connects to the host's
    /// network before the program starts; it needs the user namespace).
    /// Replaces an earlier choice, and [`unshare`](Self::unshare) or
    /// [`share`](Self::share) of [`Namespace::Network`].
    pub fn network<T: Into<Network>>(&mut self, network: T) -> &mut Self {
        self.pasta = None;
        match network.into() {
            Network::None => self.unshare(Namespace::Network),
            Network::Host => self.share(Namespace::Network),
            Network::Pasta(pasta) => {
                self.pasta = Some(pasta);
                self.unshare(Namespace::Network)
            }
        }
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

    /// Replaces the uid maps: each `(container_id, host_id, count)` maps
    /// `count` ids. Ranges beyond the caller's own uid are written by the
    /// setuid helper `newuidmap` from the caller's `/etc/subuid` ranges
    /// (root writes them itself). The caller's own uid may be left out
    /// (root mapping `(0, 100000, 65536)`, so that the sandbox's root is an
    /// unprivileged host uid): the sandbox's init then becomes, once the
    /// maps are written, uid 0 inside if it is mapped, else the lowest
    /// mapped uid, and so does the program unless [`user`](Self::user)
    /// names another.
    pub fn uidmaps(&mut self, maps: &[(u32, u32, u32)]) -> &mut Self {
        self.uidmaps = maps.iter().map(|&map| IdMap::from(map)).collect();
        self
    }

    /// Replaces the gid maps, as [`uidmaps`](Self::uidmaps) does for uids
    /// (`newgidmap`, `/etc/subgid`).
    pub fn gidmaps(&mut self, maps: &[(u32, u32, u32)]) -> &mut Self {
        self.gidmaps = maps.iter().map(|&map| IdMap::from(map)).collect();
        self
    }

    /// Maps the caller to 0 and, after it, every subordinate range of the
    /// caller in `/etc/subuid` and `/etc/subgid` (like `podman
    /// --userns=auto`, without the search for a free range). Fails when the
    /// caller has no subordinate ids.
    pub fn userns_auto(&mut self) -> Result<&mut Self> {
        let (uidmaps, gidmaps) = crate::idmap::auto_maps()?;
        self.uidmaps = uidmaps;
        self.gidmaps = gidmaps;
        Ok(self)
    }

    /// Runs the program as `user` (a name in the sandbox's `/etc/passwd`, or
    /// a number), with `group` as its primary group (by default the user's)
    /// and the `supplementary` groups (by default the user's groups in the
    /// sandbox's `/etc/group`). Names are resolved in the files the sandbox
    /// will see, when the command spawns; every id must be mapped.
    pub fn user(&mut self, user: &str, group: Option<&str>, supplementary: &[&str]) -> &mut Self {
        self.user = Some(UserSpec {
            user: user.to_string(),
            group: group.map(str::to_string),
            supplementary: supplementary.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    /// Gives the program a capability it would not hold by default
    /// (`"SYS_ADMIN"` or `"CAP_SYS_ADMIN"`). For a program whose uid inside
    /// is not 0, added capabilities are ambient: they survive its `execve`.
    pub fn cap_add(&mut self, capability: &str) -> &mut Self {
        self.cap_add.push(capability.to_string());
        self
    }

    /// Takes a capability away from the program (`"ALL"` for every one).
    /// Applied after [`cap_add`](Self::cap_add)s given before it, and before
    /// those given after it.
    pub fn cap_drop(&mut self, capability: &str) -> &mut Self {
        self.cap_drop.push(capability.to_string());
        self
    }

    /// Turns on a runtime switch (see [`Runctl`]).
    pub fn runctl(&mut self, ctl: Runctl) -> &mut Self {
        self.runctls.insert(ctl);
        self
    }

    /// Puts the whole sandbox in a cgroup of its own with these limits
    /// (see [`Cgroup`] and docs/cgroups.md); replaces earlier ones. If
    /// no cgroup can be made with them, `spawn` fails.
    pub fn cgroup(&mut self, cgroup: Cgroup) -> &mut Self {
        self.joined_cgroup = None;
        self.cgroup = Some(cgroup);
        self
    }

    /// Puts the whole sandbox into the cgroup of a running one (from
    /// [`Child::cgroup`](crate::Child::cgroup), or [`CgroupDirs::new`] in
    /// another process) instead of a cgroup of its own: with
    /// [`enter`](Self::enter), a second program in that sandbox counts
    /// against its limits and is frozen with it. Init is moved in before
    /// it goes on, so everything it starts is in it too; if it cannot be,
    /// `spawn` fails. Replaces [`cgroup`](Self::cgroup), and is replaced by
    /// it.
    pub fn join_cgroup(&mut self, dirs: CgroupDirs) -> &mut Self {
        self.cgroup = None;
        self.joined_cgroup = Some(dirs);
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

    /// Restricts what the program may reach with landlock (see
    /// [`landlock`](crate::landlock)); replaces an earlier ruleset. Applied
    /// in the program's process, after the root is built, so its paths are
    /// paths in the sandbox.
    pub fn landlock_ruleset(&mut self, ruleset: Ruleset) -> &mut Self {
        self.landlock = Some(ruleset);
        self
    }

    /// Filters the program's syscalls with `filter` (see
    /// [`seccomp`](crate::seccomp)), installed right before it executes;
    /// replaces an earlier filter. If the filter cannot be installed, the
    /// program does not run.
    pub fn seccomp_filter(&mut self, filter: Filter) -> &mut Self {
        self.seccomp = Seccomp::Filter(filter);
        self
    }

    /// Installs the `default` profile ([`Filter::hardened`] without new
    /// user namespaces), which [`Container::new`] chooses. It is built when
    /// a command spawns, so choosing another costs nothing.
    pub fn seccomp_default(&mut self) -> &mut Self {
        self.seccomp = Seccomp::Default;
        self
    }

    /// Runs the program without a seccomp filter.
    pub fn seccomp_unconfined(&mut self) -> &mut Self {
        self.seccomp = Seccomp::Unconfined;
        self
    }

    /// A command that runs `program` in this sandbox. The program is looked
    /// up in the sandbox's `PATH` (the `PATH` given with
    /// [`Command::env`], or a default one) unless it contains a `/`.
    pub fn command(&self, program: &str) -> Command {
        Command::new(program, self.clone())
    }
}
