//! `Plan`: a container and a command, validated and lowered to what the
//! child needs — C strings, pointer arrays, ordered steps, bit masks.
//!
//! Everything that allocates or can fail on bad input happens here, in the
//! caller, before any process is created: after the clone the child only
//! makes system calls (see `runtime`).

pub(crate) mod layering;
pub(crate) mod mounts;

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Mutex;
use std::time::Duration;

use libc::c_char;
use nix::sys::resource::Resource;

use crate::caps::{self, CapPlan};
use crate::cgroup::plan::CgroupPlan;
use crate::cgroup::CgroupDirs;
use crate::command::Command;
use crate::container::{Container, Namespace, Rlimit, Runctl, Seccomp};
use crate::diagnose::{self, FailedStep};
use crate::enter::{self, EnterPlan};
use crate::error::{Error, Result};
use crate::idmap::{self, IdMapPlan, Switch};
use crate::landlock::plan::LandlockPlan;
use crate::landlock::{self, Enforcement};
use crate::network::pasta::PastaPlan;
use crate::passwd;
use crate::runtime::channel::Stage;
use crate::seccomp::compile::{self, Compiled, Target};
use crate::seccomp::prebuilt;
use crate::seccomp::{Filter, UserNamespaces};
use crate::status::{ProgramFailure, SetupError};
use crate::terminal::TerminalPlan;

pub(crate) use mounts::Step;

/// Where the program is looked up when the command's environment has no
/// `PATH`.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the runtime needs, prepared.
#[derive(Debug)]
pub(crate) struct Plan {
    /// `CLONE_NEW*` flags.
    pub clone_flags: u64,
    /// The namespaces, for messages.
    pub namespaces: Vec<Namespace>,
    /// Maps to write from the caller; `None` without a user namespace.
    pub id_maps: Option<IdMapPlan>,
    /// The mapped user init becomes once the maps are written, when they
    /// leave the caller's ids out.
    pub init_ids: Option<Switch>,
    /// Steps that build the root (step 0 mounts the root itself); `None`
    /// without a mount namespace.
    pub mount_steps: Option<Vec<Step>>,
    /// Host entries the setup creates as mount points, to remove after.
    pub leftovers: Vec<PathBuf>,
    /// The mount step that mounts the root itself.
    pub root_step: usize,
    /// Whether the root mount ends read-only.
    pub root_read_only: bool,
    /// The host directory the root is staged on (see `rootfs.rs`).
    pub staging_dir: Option<CString>,
    /// Whether init runs as pid 1 of its own pid namespace.
    pub pid_namespace: bool,
    /// Whether the program's process builds the root instead of init: in
    /// a pid namespace joined by path, which init stays outside of, /proc
    /// must be mounted by a process inside it (proc shows the pid
    /// namespace of the process that mounts it).
    pub root_by_program: bool,
    pub hostname: Option<CString>,
    /// The NIS domain name (`kernel.domainname`, a parameter of the uts
    /// namespace): set with setdomainname(2), since inside a user
    /// namespace its `/proc/sys` file cannot be written.
    pub domainname: Option<CString>,
    /// Whether init brings up `lo`: the network namespace is new.
    pub loopback: bool,
    /// pasta's command line, when the parent connects the network
    /// namespace with it.
    pub pasta: Option<PastaPlan>,
    pub exec: ExecPlan,
    /// The capability sets of the program; `None` leaves them as they are.
    pub capabilities: Option<CapPlan>,
    /// The user the program becomes; `None` keeps the caller's, as mapped.
    pub switch: Option<Switch>,
    /// Whether `no_new_privs` is set (unless `Runctl::AllowNewPrivs`).
    pub no_new_privs: bool,
    /// Whether the program starts a new session (`Runctl::NewSession`).
    pub new_session: bool,
    /// Whether that session's controlling terminal is the program's
    /// standard input (`Runctl::TerminalSession`, `Command::terminal`).
    pub terminal_session: bool,
    /// The terminal init makes for the program (`Command::terminal`).
    pub terminal: Option<TerminalPlan>,
    /// Whether init traces the program to read its peak memory at exit
    /// (`Runctl::GetProcPidStatus`).
    pub trace_exit: bool,
    /// Whether the program waits, before seccomp and `execve`, for the
    /// caller's go (`Command::spawn_held`).
    pub held: bool,
    /// `setrlimit` calls for the program, in order.
    pub rlimits: Vec<(Resource, u64, u64)>,
    /// When init kills the sandbox, counted from the program's start.
    pub wall_time: Option<Duration>,
    /// The landlock steps of the program; `None` when there is nothing to
    /// enforce.
    pub landlock: Option<LandlockPlan>,
    /// What landlock enforces; `None` without a ruleset.
    pub landlock_enforcement: Option<Enforcement>,
    /// The seccomp filter, compiled; `None` runs the program unfiltered.
    pub seccomp: Option<Compiled>,
    /// The sandbox's cgroup limits; `None` without a cgroup.
    pub cgroup: Option<CgroupPlan>,
    /// A running sandbox's cgroup to move init into instead.
    pub joined_cgroup: Option<CgroupDirs>,
    /// The namespaces init joins: all of a running process's
    /// (`Container::enter`), or those given by path (`Container::join`).
    pub enter: Option<EnterPlan>,
}

/// The program, its arguments and environment, and where it starts.
#[derive(Debug)]
pub(crate) struct ExecPlan {
    /// The program as the user named it, for messages.
    pub program: String,
    /// The paths to try, in order (one unless the name was looked up in
    /// `PATH`).
    pub candidates: Vec<CString>,
    pub current_dir: CString,
    /// Owns the strings `argv` points into.
    args: Vec<CString>,
    /// Owns the strings `envp` points into.
    env: Vec<CString>,
    /// Null-terminated.
    pub argv: Vec<*const c_char>,
    /// Null-terminated.
    pub envp: Vec<*const c_char>,
}

impl Plan {
    pub(crate) fn new(container: &Container, command: &Command) -> Result<Self> {
        let enter = match container.enter {
            Some(pid) => Some(enter_plan(container, pid)?),
            None if !container.joins.is_empty() => Some(join_plan(container)?),
            None => None,
        };
        let joins_user_namespace = enter.as_ref().is_some_and(EnterPlan::joins_user_namespace);
        let joins_pid_namespace = container
            .joins
            .iter()
            .any(|(namespace, _)| *namespace == Namespace::Pid);
        let namespaces: Vec<Namespace> = container.namespaces.iter().copied().collect();
        let clone_flags = namespaces
            .iter()
            .fold(0, |flags, ns| flags | ns.clone_flag());
        let has = |ns| container.namespaces.contains(&ns);
        for (key, _) in &container.sysctls {
            check_sysctl(key, container)?;
        }
        let (domainname, through_proc): (Vec<_>, Vec<_>) = container
            .sysctls
            .iter()
            .cloned()
            .partition(|(key, _)| key == DOMAINNAME);
        let domainname = match domainname.last() {
            Some((_, name)) => Some(c_string("domain name", name.as_bytes().to_vec())?),
            None => None,
        };

        let rootdir = container.rootdir.as_deref().map(|path| mounts::RootDir {
            path,
            writable: container.runctls.contains(&Runctl::RootdirRW),
        });
        let writable_rootdir = rootdir
            .as_ref()
            .filter(|dir| dir.writable)
            .map(|dir| dir.path);
        let leftovers = match has(Namespace::Mount) {
            true => layering::host_leftovers(&container.mounts, writable_rootdir),
            false => Vec::new(),
        };
        let (mut mount_steps, root_step, root_read_only) = if has(Namespace::Mount) {
            let plan = mounts::plan(&container.mounts, rootdir, &through_proc)?;
            (Some(plan.steps), plan.root_step, plan.root_read_only)
        } else if container.mounts.is_empty() && rootdir.is_none() {
            (None, 0, false)
        } else {
            return Err(Error::MountsWithoutNamespace);
        };

        let staging_dir = match mount_steps {
            Some(_) => Some(staging_dir()?),
            None => None,
        };
        let id_maps = match has(Namespace::User) {
            true => Some(IdMapPlan::new(&container.uidmaps, &container.gidmaps)?),
            false => None,
        };
        let switch = match &container.user {
            Some(spec) => Some(passwd::resolve(
                spec,
                &container.mounts,
                container.rootdir.as_deref(),
                id_maps.as_ref(),
            )?),
            None => None,
        };
        let terminal = match command.terminal {
            true => Some(TerminalPlan::new(
                container,
                switch.as_ref().map(|switch| switch.uid),
            )?),
            false => None,
        };
        if let (Some(steps), Some(true)) = (
            &mut mount_steps,
            terminal.as_ref().map(TerminalPlan::binds_console),
        ) {
            mounts::add_console(steps)?;
        }
        // Maps that leave the caller out: init becomes a mapped user, in a
        // new user namespace or in one it enters.
        let init_ids = match (&id_maps, container.enter) {
            (Some(maps), _) => maps.init_ids(),
            (None, Some(pid)) if joins_user_namespace => idmap::entered_init_ids(pid)?,
            (None, _) => None,
        };
        let program_uid = match (&switch, &init_ids, &id_maps) {
            (Some(switch), _, _) => switch.uid.as_raw(),
            (None, Some(ids), _) => ids.uid.as_raw(),
            (None, None, Some(maps)) => maps.init_uid(),
            (None, None, None) => nix::unistd::getuid().as_raw(),
        };
        let capabilities = caps::program_capabilities(
            program_uid,
            has(Namespace::User) || joins_user_namespace,
            &container.cap_add,
            &container.cap_drop,
        )?;

        // pasta joins the sandbox's user namespace; the program waits until
        // pasta is ready (see `runtime::release`).
        let pasta = match &container.pasta {
            Some(_) if !has(Namespace::Network) => {
                return Err(Error::Network {
                    reason:
                        "pasta needs a new network namespace, and the container shares the caller's",
                })
            }
            Some(_) if !has(Namespace::User) => {
                return Err(Error::Network {
                    reason:
                        "pasta needs a new user namespace, and the container shares the caller's",
                })
            }
            Some(pasta) => Some(PastaPlan::new(pasta)?),
            None => None,
        };

        let hostname = match &container.hostname {
            Some(name) => Some(c_string("hostname", name.as_bytes().to_vec())?),
            None => None,
        };

        let mut rlimits = Vec::new();
        for &(resource, soft, hard) in &container.rlimits {
            if soft > hard {
                return Err(Error::Rlimit {
                    resource,
                    soft,
                    hard,
                });
            }
            rlimits.push((resource.resource(), soft, hard));
        }

        // Rules that depend on capabilities see those the program keeps.
        let capabilities_mask = capabilities.map(|caps| caps.mask);
        let seccomp = match &container.seccomp {
            Seccomp::Default => Some(default_filter(capabilities_mask)?),
            Seccomp::Filter(filter) => Some(compile::compile(
                filter,
                &Target::current(capabilities_mask)?,
            )?),
            Seccomp::Unconfined => None,
        };

        let (landlock, landlock_enforcement) = match &container.landlock {
            Some(ruleset) if !ruleset.is_empty() => {
                let lowered = landlock::plan::lower(ruleset)?;
                (lowered.plan, Some(lowered.enforcement))
            }
            _ => (None, None),
        };

        Ok(Self {
            clone_flags,
            namespaces,
            init_ids,
            id_maps,
            mount_steps,
            leftovers,
            root_step,
            root_read_only,
            staging_dir,
            pid_namespace: has(Namespace::Pid),
            root_by_program: joins_pid_namespace && has(Namespace::Mount),
            loopback: has(Namespace::Network),
            pasta,
            hostname,
            domainname,
            exec: ExecPlan::new(command)?,
            capabilities,
            switch,
            no_new_privs: !container.runctls.contains(&Runctl::AllowNewPrivs),
            new_session: container.runctls.contains(&Runctl::NewSession)
                || container.runctls.contains(&Runctl::TerminalSession)
                || terminal.is_some(),
            terminal_session: container.runctls.contains(&Runctl::TerminalSession)
                || terminal.is_some(),
            terminal,
            trace_exit: container.runctls.contains(&Runctl::GetProcPidStatus),
            held: false,
            rlimits,
            wall_time: command.wait_timeout,
            landlock,
            landlock_enforcement,
            seccomp,
            cgroup: container.cgroup.as_ref().map(CgroupPlan::new).transpose()?,
            joined_cgroup: container.joined_cgroup.clone(),
            enter,
        })
    }

    /// Whether init waits for the parent's go-ahead: the id maps must be
    /// written, and init must be in its cgroup, before it goes on.
    pub(crate) fn init_waits(&self) -> bool {
        self.id_maps.is_some() || self.cgroup.is_some() || self.joined_cgroup.is_some()
    }
}

impl Plan {
    /// Logs what the sandbox will be: `info` for namespaces, maps, mounts
    /// and the program; `debug` for every primitive step.
    pub(crate) fn log(&self) {
        // Said even without -v: a best-effort ruleset runs with less than
        // it asked for.
        if let Some(enforcement) = &self.landlock_enforcement {
            if !enforcement.is_complete() {
                log::warn!("best effort: {enforcement}");
            }
        }
        if !log::log_enabled!(log::Level::Info) {
            return;
        }
        for (level, line) in self.describe() {
            log::log!(level, "{line}");
        }
    }

    /// What the sandbox will be, a line each: `Info` for namespaces, maps,
    /// mounts, identity, limits, landlock, seccomp and the program; `Debug`
    /// for every primitive step.
    pub(crate) fn describe(&self) -> Vec<(log::Level, String)> {
        use log::Level::{Debug, Info};
        let mut lines = Vec::new();
        let names: Vec<String> = self.namespaces.iter().map(|ns| ns.to_string()).collect();
        lines.push((Info, format!("namespaces: {}", names.join(" "))));
        if let Some(maps) = &self.id_maps {
            lines.push((Info, maps.to_string()));
        }
        if let Some(ids) = &self.init_ids {
            lines.push((
                Info,
                format!(
                    "init: uid {}, gid {} (the maps leave the caller's ids out)",
                    ids.uid, ids.gid
                ),
            ));
        }
        for step in self.mount_steps.iter().flatten() {
            let level = match step.kind {
                mounts::StepKind::Dir { .. } | mounts::StepKind::File => Debug,
                _ => Info,
            };
            lines.push((level, step.what.clone()));
        }
        if let Some(pasta) = &self.pasta {
            lines.push((Info, format!("network: {}", pasta.describe())));
        }
        if let Some(hostname) = &self.hostname {
            lines.push((Info, format!("hostname: {}", hostname.to_string_lossy())));
        }
        if let Some(domainname) = &self.domainname {
            lines.push((
                Info,
                format!("domain name: {}", domainname.to_string_lossy()),
            ));
        }
        if let Some(switch) = &self.switch {
            lines.push((
                Info,
                format!(
                    "user: uid {}, gid {}, groups {:?}",
                    switch.uid, switch.gid, switch.groups
                ),
            ));
        }
        if let Some(caps) = self.capabilities {
            let names: Vec<String> = (0..64)
                .filter(|cap| caps.mask & (1 << cap) != 0)
                .map(caps::name)
                .collect();
            lines.push((Info, format!("program capabilities: {}", names.join(" "))));
        }
        for (resource, soft, hard) in &self.rlimits {
            lines.push((Info, format!("limit: {resource:?} {soft} (hard {hard})")));
        }
        if let Some(limit) = self.wall_time {
            lines.push((Info, format!("limit: wall time {limit:?}")));
        }
        if let Some(cgroup) = &self.cgroup {
            lines.push((Info, cgroup.describe()));
        }
        if let Some(dirs) = &self.joined_cgroup {
            lines.push((Info, format!("cgroup: join {}", dirs.describe())));
        }
        for step in self.landlock.iter().flat_map(|plan| plan.descriptions()) {
            lines.push((Info, step.to_string()));
        }
        if let Some(enforcement) = self.landlock_enforcement.iter().find(|e| e.is_complete()) {
            lines.push((Info, enforcement.to_string()));
        }
        match &self.seccomp {
            Some(seccomp) => {
                let arches: Vec<String> = seccomp
                    .architectures
                    .iter()
                    .map(|a| a.to_string())
                    .collect();
                lines.push((
                    Info,
                    format!(
                        "seccomp profile: {} ({} rules)",
                        seccomp.name, seccomp.rules
                    ),
                ));
                lines.push((
                    Debug,
                    format!(
                        "seccomp: architectures {}, {} BPF instructions",
                        arches.join(" "),
                        seccomp.program.instructions.len()
                    ),
                ));
            }
            None => lines.push((Info, "seccomp: none (unconfined)".to_string())),
        }
        let exec = &self.exec;
        let args: Vec<_> = exec.args.iter().map(|a| a.to_string_lossy()).collect();
        lines.push((Info, format!("program: {args:?}")));
        for env in &exec.env {
            lines.push((Info, format!("environment: {}", env.to_string_lossy())));
        }
        lines.push((
            Info,
            format!("working directory: {}", exec.current_dir.to_string_lossy()),
        ));
        for candidate in &exec.candidates {
            lines.push((
                Debug,
                format!("program candidate: {}", candidate.to_string_lossy()),
            ));
        }
        lines
    }
}

/// The namespaces to enter, for a container that asks for nothing that
/// entering excludes.
fn enter_plan(container: &Container, pid: u32) -> Result<EnterPlan> {
    let conflicts = [
        (!container.namespaces.is_empty(), "namespaces of its own"),
        (!container.mounts.is_empty(), "mounts"),
        (container.rootdir.is_some(), "a root directory"),
        (container.hostname.is_some(), "a hostname"),
        (container.pasta.is_some(), "a network"),
        (container.cgroup.is_some(), "a cgroup"),
        (!container.joins.is_empty(), "namespaces joined by path"),
    ];
    if let Some((_, what)) = conflicts.into_iter().find(|(conflict, _)| *conflict) {
        return Err(Error::EnterWith { pid, what });
    }
    EnterPlan::new(pid)
}

/// The namespaces to join by path: those a sandbox can take as they are.
/// Not a user namespace (the id maps are written into the sandbox's own).
/// A mount namespace only with no root of the sandbox's own to build: its
/// root is the joined namespace's. A pid namespace (a pod's) only with a
/// cgroup of the sandbox's own: init stays outside it, so the program is
/// not its pid 1 and what the program starts is not init's to end — the
/// cgroup is what tells the sandbox's processes from the namespace's
/// others, and what ends them.
fn join_plan(container: &Container) -> Result<EnterPlan> {
    for (namespace, _) in &container.joins {
        let reason = match namespace {
            Namespace::User => {
                Some("only network, ipc, uts, cgroup, pid and mount namespaces can be joined")
            }
            _ if container.namespaces.contains(namespace) => {
                Some("the container also asks for a new one")
            }
            Namespace::Mount if !container.mounts.is_empty() || container.rootdir.is_some() => {
                Some("the root is the joined namespace's: the container can have no mounts or root directory of its own")
            }
            Namespace::Pid if container.cgroup.is_none() => Some(
                "the sandbox needs a cgroup of its own (Container::cgroup), which ends its processes without the namespace's others",
            ),
            _ => None,
        };
        if let Some(reason) = reason {
            return Err(Error::Join {
                namespace: *namespace,
                reason,
            });
        }
    }
    EnterPlan::paths(&container.joins)
}

/// The uts namespace's NIS domain name, set by a system call.
const DOMAINNAME: &str = "kernel.domainname";

/// Kernel parameters that belong to a namespace, and that namespace.
const NAMESPACED_SYSCTLS: [(&str, Namespace); 6] = [
    ("net.", Namespace::Network),
    ("kernel.shm", Namespace::Ipc),
    ("kernel.msg", Namespace::Ipc),
    ("kernel.sem", Namespace::Ipc),
    ("fs.mqueue.", Namespace::Ipc),
    ("kernel.domainname", Namespace::Uts),
];

/// Refuses a parameter that is not a well-formed name, or that is not of
/// a namespace the sandbox makes for itself or joins (a pod's network
/// namespace, say) — never the caller's own, whose value is the host's.
fn check_sysctl(key: &str, container: &Container) -> Result<()> {
    let refuse = |reason| {
        Err(Error::Sysctl {
            key: key.to_string(),
            reason,
        })
    };
    let well_formed = key.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !well_formed {
        return refuse("not a parameter name (dotted words, as in net.ipv4.ip_forward)");
    }
    let Some((_, namespace)) = NAMESPACED_SYSCTLS
        .iter()
        .find(|(prefix, _)| key.starts_with(prefix))
    else {
        return refuse("only parameters of the sandbox's own namespaces can be set (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.domainname)");
    };
    let joined = container
        .joins
        .iter()
        .find(|(joined, _)| joined == namespace)
        .map(|(_, path)| path);
    match joined {
        Some(path) if enter::is_callers_namespace(path, *namespace) => {
            return refuse("the namespace joined is the caller's own: the value is the host's");
        }
        Some(_) => {}
        None if !container.namespaces.contains(namespace) => {
            return refuse("the sandbox does not have a namespace of its own for it (net.* needs a new network namespace, the ipc ones a new ipc namespace)");
        }
        None => {}
    }
    if !container.namespaces.contains(&Namespace::Mount) {
        return refuse("it is set through the sandbox's /proc, which needs a mount namespace");
    }
    Ok(())
}

/// The `default` profile, compiled for a program holding `capabilities`:
/// ahead of time for the usual sets, otherwise once per process and
/// capability set, so that a caller starting many sandboxes pays for it
/// once (the host and kernel do not change).
fn default_filter(capabilities: Option<u64>) -> Result<Compiled> {
    if let Some(program) = capabilities.and_then(prebuilt::default_profile) {
        return Ok(program);
    }
    static COMPILED: Mutex<Vec<(Option<u64>, Compiled)>> = Mutex::new(Vec::new());
    let mut compiled = COMPILED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, program)) = compiled.iter().find(|(caps, _)| *caps == capabilities) {
        return Ok(program.clone());
    }
    let filter = Filter::hardened(UserNamespaces::Deny);
    let program = compile::compile(&filter, &Target::current(capabilities)?)?;
    compiled.push((capabilities, program.clone()));
    Ok(program)
}

/// Directories one of which exists on any Linux system; the first that
/// does is where the root is staged. The staging mount hides it only inside
/// the sandbox's mount namespace.
const STAGING_DIRS: [&str; 4] = ["/tmp", "/mnt", "/run", "/var/tmp"];

fn staging_dir() -> Result<CString> {
    STAGING_DIRS
        .iter()
        .find(|dir| Path::new(dir).is_dir())
        .map(|dir| c_string("staging directory", dir.as_bytes().to_vec()))
        .unwrap_or(Err(Error::NoStagingDir {
            candidates: STAGING_DIRS.join(" "),
        }))
}

/// What the steps of a plan do, in words: kept by the caller after the
/// spawn to turn a failure record (stage, index, errno) into a message.
#[derive(Clone, Debug)]
pub(crate) struct Descriptions {
    pub program: String,
    /// Host entries created as mount points, removed after the run.
    pub leftovers: Vec<PathBuf>,
    /// Whether init is pid 1 of the sandbox's own pid namespace (and so
    /// ends every process of it before it reports the program's end).
    pub pid_namespace: bool,
    /// The rlimits, in plan order, for messages; and the CPU limit, to tell
    /// a SIGKILL for CPU time from another.
    rlimits: Vec<(Rlimit, u64, u64)>,
    pub wall_time: Option<Duration>,
    /// The cgroup's memory limit, to name it when the OOM killer ends the
    /// run.
    pub memory_limit: Option<u64>,
    mount_steps: Vec<String>,
    /// Which of the mount steps mount a proc filesystem, for hints.
    proc_mount_steps: Vec<usize>,
    /// The landlock steps, as the failure record indexes them.
    landlock_steps: Vec<String>,
    pub landlock_enforcement: Option<Enforcement>,
    candidates: Vec<String>,
    current_dir: String,
    /// What joining namespaces is, if the plan does.
    enter: Option<String>,
    /// Whom init becomes when the maps leave the caller out.
    init_user: String,
    /// The host uid and gid the root is then built as, for hints.
    built_as: Option<(u32, u32)>,
}

impl Plan {
    pub(crate) fn descriptions(&self, container: &Container) -> Descriptions {
        let lossy = |s: &CString| s.to_string_lossy().into_owned();
        Descriptions {
            program: self.exec.program.clone(),
            leftovers: self.leftovers.clone(),
            pid_namespace: self.pid_namespace,
            rlimits: container.rlimits.clone(),
            wall_time: self.wall_time,
            memory_limit: container.cgroup.as_ref().and_then(|cgroup| cgroup.memory),
            mount_steps: self
                .mount_steps
                .iter()
                .flatten()
                .map(|step| step.what.clone())
                .collect(),
            proc_mount_steps: self
                .mount_steps
                .iter()
                .flatten()
                .enumerate()
                .filter(|(_, step)| matches!(step.kind, mounts::StepKind::Proc))
                .map(|(index, _)| index)
                .collect(),
            landlock_steps: self
                .landlock
                .iter()
                .flat_map(|plan| plan.descriptions().iter().cloned())
                .collect(),
            landlock_enforcement: self.landlock_enforcement.clone(),
            candidates: self.exec.candidates.iter().map(lossy).collect(),
            current_dir: lossy(&self.exec.current_dir),
            enter: self.enter.as_ref().map(|enter| enter.what().to_string()),
            init_user: match &self.init_ids {
                Some(ids) => format!(
                    "become uid {} gid {} of the sandbox (the id maps leave the caller's ids out)",
                    ids.uid, ids.gid
                ),
                None => "become a user of the sandbox".to_string(),
            },
            built_as: self.id_maps.as_ref().and_then(IdMapPlan::init_host_ids),
        }
    }
}

impl Descriptions {
    /// The soft CPU-time limit, in seconds, if one was set.
    pub(crate) fn cpu_limit(&self) -> Option<u64> {
        self.rlimits
            .iter()
            .find(|(resource, _, _)| *resource == Rlimit::Cpu)
            .map(|(_, soft, _)| *soft)
    }

    /// The error for a failure record from the sandbox.
    pub(crate) fn setup_error(&self, stage: Stage, index: u32, errno: i32) -> SetupError {
        let index = index as usize;
        let mut program = ProgramFailure::None;
        let step = match stage {
            Stage::WaitForIdMaps => "wait for the id maps".to_string(),
            Stage::InitProcess => "protect and set up the sandbox's init".to_string(),
            Stage::Stdio => "set up the standard streams".to_string(),
            Stage::MountPropagation => "make the sandbox's mounts private".to_string(),
            Stage::StagingRoot => "mount the staging root".to_string(),
            Stage::MountStep => self
                .mount_steps
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("run mount step #{index}")),
            Stage::EnterRoot => "enter the new root".to_string(),
            Stage::RootReadOnly => "make the root read-only".to_string(),
            Stage::Hostname => "set the hostname".to_string(),
            Stage::Domainname => "set the domain name".to_string(),
            Stage::Loopback => "bring up the loopback device lo".to_string(),
            Stage::Signals => "set up signal handling".to_string(),
            Stage::ForkProgram => "fork the program".to_string(),
            Stage::WallTime => "arm the wall-time limit".to_string(),
            Stage::Rlimit => match self.rlimits.get(index) {
                Some((resource, soft, hard)) => {
                    format!("set the {resource} limit to {soft} (hard {hard})")
                }
                None => format!("set resource limit #{index}"),
            },
            Stage::WorkingDirectory => {
                format!("change to the working directory {}", self.current_dir)
            }
            Stage::Capabilities => "set the program's capabilities".to_string(),
            Stage::User => "switch to the program's user".to_string(),
            Stage::InitUser => self.init_user.clone(),
            Stage::NoNewPrivs => "set no_new_privs".to_string(),
            Stage::Landlock => self
                .landlock_steps
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("apply landlock step #{index}")),
            Stage::Seccomp => "install the seccomp filter".to_string(),
            Stage::Session => "start a new session for the program".to_string(),
            Stage::WaitForNetwork => "wait for the network (pasta)".to_string(),
            Stage::Enter => self
                .enter
                .clone()
                .unwrap_or_else(|| "join namespaces".to_string()),
            Stage::WaitForStart => "wait, held, for the go to start".to_string(),
            Stage::Terminal => {
                "make the program's terminal from the sandbox's /dev/ptmx".to_string()
            }
            Stage::Exec => {
                let not_found = errno == libc::ENOENT || errno == libc::ENOTDIR;
                program = if not_found {
                    ProgramFailure::NotFound
                } else {
                    ProgramFailure::NotExecutable
                };
                match self.candidates.get(index) {
                    Some(_) if not_found && self.candidates.len() > 1 => {
                        format!("find {} in the sandbox's PATH", self.program)
                    }
                    Some(path) => format!("execute {path}"),
                    None => format!("execute {}", self.program),
                }
            }
        };
        let failed = match stage {
            Stage::MountStep if self.proc_mount_steps.contains(&index) => FailedStep::ProcMount,
            Stage::MountPropagation | Stage::StagingRoot | Stage::MountStep => FailedStep::Mount,
            Stage::Enter => FailedStep::Join,
            _ => FailedStep::Other,
        };
        let hint =
            diagnose::setup_hint(failed, errno).or_else(|| self.built_as_hint(failed, errno));
        SetupError::new(step, errno, program).with_hint(hint)
    }

    /// A mount refused with `EACCES` while the root is built as a host id
    /// that is not the caller's: a directory on the way is closed to it.
    fn built_as_hint(&self, failed: FailedStep, errno: i32) -> Option<String> {
        let (uid, gid) = self.built_as?;
        (failed != FailedStep::Other && errno == libc::EACCES).then(|| {
            format!(
                "the id maps leave your own ids out, so the sandbox is built as host uid {uid} \
                 gid {gid}: every directory on the way to a bound path must be searchable by it \
                 (chmod o+x), or map your own id too"
            )
        })
    }
}

impl ExecPlan {
    fn new(command: &Command) -> Result<Self> {
        if command.program.is_empty() {
            return Err(Error::EmptyProgram);
        }
        let search_path = command
            .envs
            .iter()
            .find(|(name, _)| name == "PATH")
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| DEFAULT_PATH.into());
        let candidates = candidates(&command.program, &search_path)
            .into_iter()
            .map(|path| c_string("program", path))
            .collect::<Result<Vec<_>>>()?;

        let arg0 = command
            .arg0
            .clone()
            .unwrap_or_else(|| OsString::from(&command.program));
        let args = std::iter::once(arg0)
            .chain(command.args.iter().cloned())
            .map(|arg| c_string("argument", arg.into_vec()))
            .collect::<Result<Vec<_>>>()?;
        let env = command
            .envs
            .iter()
            .map(|(name, value)| {
                if name.is_empty() || name.as_bytes().contains(&b'=') {
                    return Err(Error::InvalidEnvName {
                        name: name.to_string_lossy().into_owned(),
                    });
                }
                let mut entry = name.clone();
                entry.push("=");
                entry.push(value);
                c_string("environment variable", entry.into_vec())
            })
            .collect::<Result<Vec<_>>>()?;

        let current_dir = match &command.current_dir {
            Some(dir) => mounts::sandbox_path("working directory", dir)?,
            None => "/".into(),
        };
        let current_dir = c_string("working directory", current_dir.into_os_string().into_vec())?;

        Ok(Self {
            program: command.program.clone(),
            candidates,
            current_dir,
            argv: pointers(&args),
            envp: pointers(&env),
            args,
            env,
        })
    }
}

/// The paths `execvp` would try for `program` with this `PATH`.
fn candidates(program: &str, search_path: &OsStr) -> Vec<Vec<u8>> {
    if program.contains('/') {
        return vec![program.as_bytes().to_vec()];
    }
    search_path
        .as_bytes()
        .split(|&b| b == b':')
        .filter(|dir| dir.starts_with(b"/"))
        .map(|dir| Path::new(OsStr::from_bytes(dir)).join(program))
        .map(|path| path.into_os_string().into_vec())
        .collect()
}

fn pointers(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

fn c_string(what: &'static str, bytes: Vec<u8>) -> Result<CString> {
    CString::new(bytes).map_err(|err| Error::NulByte {
        what,
        value: String::from_utf8_lossy(&err.into_vec()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_is_searched_in_absolute_path_entries() {
        let found = candidates("ls", OsStr::new("/usr/bin:relative::/bin/"));
        assert_eq!(found, [b"/usr/bin/ls".to_vec(), b"/bin/ls".to_vec()]);
        assert_eq!(candidates("./x", OsStr::new("/bin")), [b"./x".to_vec()]);
    }

    #[test]
    fn exec_plan_builds_null_terminated_arrays() {
        let container = Container::empty();
        let mut command = container.command("echo");
        command.arg("hi").env("A", "1");
        let plan = Plan::new(&container, &command).unwrap();
        assert_eq!(plan.exec.argv.len(), 3);
        assert!(plan.exec.argv[2].is_null());
        assert_eq!(plan.exec.envp.len(), 2);
        assert_eq!(
            plan.exec.candidates[0].to_str().unwrap(),
            "/usr/local/sbin/echo"
        );
        assert_eq!(plan.exec.current_dir.to_str().unwrap(), "/");
    }

    #[test]
    fn bad_commands_are_refused_before_fork() {
        let container = Container::empty();
        let err = Plan::new(&container, &container.command("")).unwrap_err();
        assert!(matches!(err, Error::EmptyProgram));
        let mut command = container.command("x");
        command.arg("a\0b");
        let err = Plan::new(&container, &command).unwrap_err();
        assert!(matches!(
            err,
            Error::NulByte {
                what: "argument",
                ..
            }
        ));
        let mut command = container.command("x");
        command.current_dir("relative");
        let err = Plan::new(&container, &command).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }));
    }

    #[test]
    fn mounts_need_a_mount_namespace() {
        let mut container = Container::empty();
        container.tmpfsmount("/tmp");
        let err = Plan::new(&container, &container.command("x")).unwrap_err();
        assert!(matches!(err, Error::MountsWithoutNamespace));
    }
}
