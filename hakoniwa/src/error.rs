//! Errors: one variant per operation, each naming its subject and keeping
//! the operating-system error as its source.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::landlock::MissingRight;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong before the program could start: a configuration the
/// sandbox cannot be built from, or an operation in the caller that failed.
///
/// Failures *inside* the new sandbox (a mount refused by the kernel, a
/// program not found) are not errors of `spawn`: they come back as an
/// [`ExitStatus`](crate::ExitStatus) whose kind is
/// [`ExitKind::SetupFailed`](crate::ExitKind::SetupFailed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory given to `rootfs` cannot be used.
    #[error("invalid rootfs {}", path.display())]
    Rootfs {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The directory given to `rootdir` cannot be used.
    #[error("invalid rootdir {}", path.display())]
    Rootdir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An overlay's upper or work directory cannot be used.
    #[error("invalid overlay directory {}", path.display())]
    OverlayDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file mode that is not one.
    #[error("invalid mode {mode:o} for {}: modes go up to 7777", path.display())]
    InvalidMode {
        /// The path it was given for.
        path: PathBuf,
        /// The mode.
        mode: u32,
    },
    /// A path in the configuration is not of the form it must have.
    #[error("invalid {what} {}: {reason}", path.display())]
    InvalidPath {
        /// Which setting holds it ("mount target", "working directory").
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The source of a bind mount cannot be used.
    #[error("invalid bind-mount source {}", path.display())]
    BindSource {
        /// The host path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The program name is empty.
    #[error("invalid command: the program name is empty")]
    EmptyProgram,
    /// An environment variable name is empty or holds `=`.
    #[error("invalid environment variable name {name:?}")]
    InvalidEnvName {
        /// The name.
        name: String,
    },
    /// A string given to the sandbox holds a NUL byte, which no system call
    /// can carry.
    #[error("{what} contains a NUL byte: {value:?}")]
    NulByte {
        /// Which setting holds it ("argument", "environment variable").
        what: &'static str,
        /// The string.
        value: String,
    },
    /// A resource limit whose soft value exceeds its hard value.
    #[error("invalid {resource} limit: soft limit {soft} is above hard limit {hard}")]
    Rlimit {
        /// The resource.
        resource: crate::Rlimit,
        /// The soft limit.
        soft: u64,
        /// The hard limit.
        hard: u64,
    },
    /// A namespace of the process to enter cannot be opened.
    #[error("failed to open the {namespace} namespace of process {pid}")]
    EnterNamespace {
        /// The process.
        pid: u32,
        /// The namespace's name in `/proc/PID/ns`.
        namespace: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A namespace to join cannot be opened.
    #[error("failed to open the {namespace} namespace at {}", path.display())]
    JoinNamespace {
        /// Which namespace.
        namespace: crate::Namespace,
        /// The file given.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A namespace that cannot be joined by path, or is asked for twice.
    #[error("cannot join the {namespace} namespace by path: {reason}")]
    Join {
        /// Which namespace.
        namespace: crate::Namespace,
        /// Why not.
        reason: &'static str,
    },
    /// A container that enters a process's namespaces asks for something
    /// of its own that entering excludes.
    #[error("a container entering process {pid} cannot also have {what}")]
    EnterWith {
        /// The process.
        pid: u32,
        /// What it asked for.
        what: &'static str,
    },
    /// A mount needs a mount namespace, which the container does not have.
    #[error("mounts need a new mount namespace, and the container shares the caller's")]
    MountsWithoutNamespace,
    /// No host directory can hold the staging mount.
    #[error("none of the directories {candidates} exists to stage the sandbox's root on")]
    NoStagingDir {
        /// The directories tried.
        candidates: String,
    },
    /// A descriptor to pass to the program that cannot be passed.
    #[error("invalid descriptor to pass {fd}: not open, or a standard stream")]
    PassFd {
        /// The descriptor.
        fd: i32,
    },
    /// The standard input, output or error could not be prepared.
    #[error("failed to prepare the program's standard {stream}")]
    Stdio {
        /// "input", "output" or "error".
        stream: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The program's terminal ([`Command::terminal`](crate::Command::terminal))
    /// has no devpts to come from.
    #[error("the program's terminal needs the sandbox's own devpts, and the container has no devfs at /dev")]
    NoDevpts,
    /// Standard streams set for a program that gets a terminal, which is
    /// its standard streams.
    #[error("the program's terminal is its standard streams: its {stream} cannot be set as well")]
    TerminalStdio {
        /// "input", "output" or "error".
        stream: &'static str,
    },
    /// The channel between the caller and the sandbox failed.
    #[error("failed to talk to the sandbox")]
    Channel(#[source] io::Error),
    /// The kernel refused to create the sandbox's process and namespaces.
    #[error("failed to create the sandbox's namespaces ({namespaces})")]
    Namespaces {
        /// The namespaces asked for, space-separated.
        namespaces: String,
        /// Why.
        #[source]
        source: io::Error,
        /// What may fix it, when the cause is known.
        hint: Option<String>,
    },
    /// An id map could not be written.
    #[error("failed to write {file} ({map:?})")]
    IdMap {
        /// The `/proc/PID/...` file.
        file: String,
        /// What was written.
        map: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An id map that the kernel would refuse.
    #[error("invalid {kind} ({map}): {reason}")]
    InvalidIdMap {
        /// "uid_map" or "gid_map".
        kind: &'static str,
        /// The map, one range after another.
        map: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `newuidmap` or `newgidmap` is missing or refused the map.
    #[error("failed to run {helper}: {message}")]
    IdMapHelper {
        /// The helper.
        helper: String,
        /// What it said.
        message: String,
        /// What may fix it.
        hint: Option<String>,
    },
    /// A host range is not among the caller's subordinate ids.
    #[error("{user} may not map host ids {range}: not in {file}")]
    SubordinateIds {
        /// `/etc/subuid` or `/etc/subgid`.
        file: &'static str,
        /// The caller.
        user: String,
        /// The host ids asked for.
        range: String,
        /// What fixes it.
        hint: String,
    },
    /// The user or a group given for the program cannot be used.
    #[error("invalid user {spec}: {reason}")]
    User {
        /// What was given.
        spec: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A capability name that is not one.
    #[error("invalid capability {name:?}: no capability has that name")]
    UnknownCapability {
        /// The name.
        name: String,
    },
    /// Capabilities were asked for where none can be given: no user
    /// namespace and not root.
    #[error("cannot grant {names}: capabilities need a user namespace or root")]
    CapabilitiesUnavailable {
        /// The capabilities asked for.
        names: String,
    },
    /// Waiting for or signalling the sandbox failed.
    #[error("failed to {action} the sandbox (pid {pid})")]
    Process {
        /// "wait for", "kill".
        action: &'static str,
        /// The pid of the sandbox's init.
        pid: i32,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The kernel cannot enforce every right a landlock ruleset restricts,
    /// and the ruleset requires it
    /// ([`CompatMode::HardRequirement`](crate::landlock::CompatMode)).
    #[error("landlock cannot enforce {}: {kernel}", join(.missing))]
    Landlock {
        /// Each right missing, with the ABI it needs.
        missing: Vec<MissingRight>,
        /// What the kernel has, in words.
        kernel: String,
        /// How to get the rights, or to run without them.
        hint: String,
    },
    /// A kernel parameter the sandbox cannot set.
    #[error("cannot set sysctl {key}: {reason}")]
    Sysctl {
        /// The parameter, as given.
        key: String,
        /// Why not.
        reason: &'static str,
    },
    /// A network configuration the sandbox cannot be built with.
    #[error("invalid network: {reason}")]
    Network {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A pasta option that hakoniwa sets itself.
    #[error("invalid pasta option {option}: {reason}")]
    PastaOption {
        /// The option, in its long form.
        option: String,
        /// Why hakoniwa sets it.
        reason: &'static str,
    },
    /// `pasta` could not be started: missing, or not executable.
    #[error("failed to start pasta for the sandbox's network")]
    PastaStart {
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `pasta` ended, or hung, before it had configured the network.
    #[error("pasta failed to set up the sandbox's network ({status}): {message}")]
    Pasta {
        /// How it ended ("exit code 1").
        status: String,
        /// What it said about it on stderr.
        message: String,
        /// What may fix it, when the cause is known.
        hint: Option<String>,
    },
    /// A cgroup limit the kernel would refuse.
    #[error("invalid cgroup limit {limit}: {reason}")]
    InvalidCgroup {
        /// The limit, as the command line spells it (`memory-swap`).
        limit: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No cgroup the caller may write offers the controllers the limits
    /// need.
    #[error("cannot apply cgroup limits ({controllers}): {reason}")]
    CgroupUnavailable {
        /// The controllers needed.
        controllers: String,
        /// What each cgroup version lacked.
        reason: String,
        /// How to get a cgroup.
        hint: &'static str,
    },
    /// A directory or file of the sandbox's cgroup could not be made or
    /// written.
    #[error("failed to {action}")]
    Cgroup {
        /// "create the cgroup /sys/fs/cgroup/...", "write 32 to .../pids.max".
        action: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The seccomp profile cannot be loaded or compiled; the message names
    /// the profile and the entry.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::Error),
    /// A sandbox spawned held ([`Command::spawn_held`](crate::Command::spawn_held))
    /// could not be built: the step that failed inside it.
    #[error(transparent)]
    Setup(crate::SetupError),
    /// A sandbox spawned held ended before its program was ready, without
    /// a failed step to tell (it was killed from outside).
    #[error("the sandbox ended before its program was held: {reason}")]
    EndedBeforeHold {
        /// How it ended, in a sentence.
        reason: String,
    },
    /// [`Child::start`](crate::Child::start) of a sandbox whose program is
    /// not held: spawned to run, or already started.
    #[error("the sandbox's program is not held: it was spawned to run, or already started")]
    NotHeld,
}

fn join(missing: &[MissingRight]) -> String {
    let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
    names.join(", ")
}

impl Error {
    /// A suggestion that may fix the error, when one is known.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Namespaces { hint, .. }
            | Error::IdMapHelper { hint, .. }
            | Error::Pasta { hint, .. } => hint.as_deref(),
            Error::SubordinateIds { hint, .. } => Some(hint),
            Error::UnknownCapability { .. } => Some(
                "names are those of capabilities(7), with or without CAP_: SYS_ADMIN, NET_RAW...",
            ),
            Error::MountsWithoutNamespace => Some("unshare the mount namespace"),
            Error::NoDevpts => {
                Some("mount one: Container::devfsmount(\"/dev\") (hakoniwa run --devfs /dev)")
            }
            Error::Landlock { hint, .. } => Some(hint),
            Error::CgroupUnavailable { hint, .. } => Some(hint),
            Error::Setup(error) => error.hint(),
            Error::PastaStart { source } if source.kind() == io::ErrorKind::NotFound => Some(
                "networking with pasta needs the passt package: apt install passt (Debian, Ubuntu), \
                 dnf install passt (Fedora); pasta is looked up in PATH",
            ),
            _ => None,
        }
    }
}

/// Turns a `nix` errno into an `io::Error` (which names it in messages).
pub(crate) fn io_error(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno as i32)
}
