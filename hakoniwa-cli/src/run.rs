//! `hakoniwa run`: its flags, and the run itself.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args};
use hakoniwa::landlock::{CompatMode, Resource, Scope};

use crate::cli::CliError;
use crate::landlock;
use crate::lower;
use crate::options::Options;
use crate::profile;
use crate::report::{Report, StatusFd};
use crate::signals;
use crate::values;

/// `hakoniwa run [OPTIONS] [-- COMMAND [ARG...]]`
#[derive(Debug, Args)]
#[command(after_help = "\
The program starts with an empty environment: add variables with -e \
(for an interactive shell, -e TERM -e LANG). The program is looked up in \
the sandbox, in its PATH or /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin.

Exit status: the program's own; 128+N if it was killed by signal N; 125 if \
the sandbox could not be set up; 126 if the program could not be executed; \
127 if it was not found.")]
pub(crate) struct RunArgs {
    /// Load a profile (TOML, rendered as a minijinja template); flags typed on the command line overlay it
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Check everything and print the sandbox that would run, then exit without running it
    #[arg(long)]
    pub dry_run: bool,

    /// Create new cgroup, ipc, network and uts namespaces
    #[arg(long)]
    pub unshare_all: bool,

    /// Create a new cgroup namespace
    #[arg(long)]
    pub unshare_cgroup: bool,

    /// Create a new ipc namespace
    #[arg(long)]
    pub unshare_ipc: bool,

    /// Create a new network namespace (only a loopback device)
    #[arg(long)]
    pub unshare_network: bool,

    /// Network: none (only lo), host (the host's), pasta (its own, connected by pasta; pasta:-t,8080,-T,5432 adds pasta options)
    #[arg(long, value_name = "none|host|pasta[:OPTIONS]", value_parser = values::network)]
    pub network: Option<hakoniwa::Network>,

    /// Create a new uts namespace
    #[arg(long)]
    pub unshare_uts: bool,

    /// Bind the system directories (bin etc lib lib32 lib64 sbin usr) of DIR read-only, or none
    #[arg(long, value_name = "DIR|none", default_value = "/")]
    pub rootfs: String,

    /// Use DIR as the root: read-only (changes vanish at exit) or, with :rw, writable
    #[arg(long, value_name = "DIR[:rw]")]
    pub rootdir: Option<String>,

    /// Bind a host path read-only (CONTAINER defaults to HOST); repeatable
    #[arg(short = 'b', long, value_name = "HOST[:CONTAINER]")]
    pub bindmount_ro: Vec<String>,

    /// Bind a host path read-write (CONTAINER defaults to HOST); repeatable
    #[arg(short = 'B', long, value_name = "HOST[:CONTAINER]")]
    pub bindmount_rw: Vec<String>,

    /// Bind a host path read-only with its device nodes usable (/dev/dri for a GPU; other binds are nodev); repeatable
    #[arg(long, value_name = "HOST[:CONTAINER]")]
    pub dev_bind: Vec<String>,

    /// Mount a minimal /dev at PATH; repeatable
    #[arg(long, value_name = "PATH")]
    pub devfs: Vec<String>,

    /// Mount an empty tmpfs at PATH, with options size=SIZE,mode=OCTAL,nr_inodes=N; repeatable
    #[arg(long, value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,

    /// Create the directory PATH (mode 0700 unless given, in octal); repeatable
    #[arg(long, value_name = "PATH[:MODE]")]
    pub dir: Vec<String>,

    /// Create the symbolic link LINK -> ORIGINAL; repeatable
    #[arg(long, value_name = "ORIGINAL:LINK")]
    pub symlink: Vec<String>,

    /// Create the file CONTAINER_PATH holding a copy of HOST_FILE; repeatable
    #[arg(long, value_name = "CONTAINER_PATH:HOST_FILE")]
    pub file: Vec<String>,

    /// Make PATH writable with a layer that vanishes at exit (overlayfs on a tmpfs); repeatable
    #[arg(long, value_name = "PATH")]
    pub overlay_tmp: Vec<String>,

    /// Make PATH writable with a layer kept in the host dir UPPER (WORK: an empty dir on the same filesystem); repeatable
    #[arg(long, value_name = "PATH:UPPER:WORK")]
    pub overlay: Vec<String>,

    /// Set an environment variable (NAME alone copies it from the caller); repeatable
    #[arg(short = 'e', long, value_name = "NAME[=VALUE]")]
    pub setenv: Vec<String>,

    /// Bind HOST read-write and start there (":CONTAINER" alone just starts in CONTAINER)
    #[arg(short = 'w', long, value_name = "HOST[:CONTAINER]")]
    pub workdir: Option<String>,

    /// Set the hostname (implies --unshare-uts)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Map uids: CONTAINER alone maps your uid to it; CONTAINER:HOST:COUNT adds a range; repeatable
    #[arg(short = 'u', long, value_name = "CONTAINER[:HOST[:COUNT]]", value_parser = values::id_map)]
    pub uidmap: Vec<(u32, Option<u32>, u32)>,

    /// Map gids, as --uidmap does for uids; repeatable
    #[arg(short = 'g', long, value_name = "CONTAINER[:HOST[:COUNT]]", value_parser = values::id_map)]
    pub gidmap: Vec<(u32, Option<u32>, u32)>,

    /// auto: map yourself to 0 and your /etc/subuid and /etc/subgid ranges after it
    #[arg(long, value_name = "auto", value_parser = ["auto"], conflicts_with_all = ["uidmap", "gidmap"])]
    pub userns: Option<String>,

    /// Run as USER of the sandbox's /etc/passwd (or a number), with GROUP and supplementary groups
    #[arg(long, value_name = "USER[:GROUP[:SUPP,...]]")]
    pub user: Option<String>,

    /// Give the program a capability (SYS_ADMIN or CAP_SYS_ADMIN); repeatable
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// Take a capability away (ALL for every one); repeatable
    #[arg(long, value_name = "CAP|ALL")]
    pub cap_drop: Vec<String>,

    /// Leave no_new_privs off: setuid binaries inside may change ids (binds stay nosuid)
    #[arg(long)]
    pub allow_new_privs: bool,

    /// Start the program in a new session, without the terminal: it cannot type into it (no job control then)
    #[arg(long)]
    pub new_session: bool,

    /// Limit the address space (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size, allow_hyphen_values = true)]
    pub limit_as: Option<u64>,

    /// Limit the size of core files (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size, allow_hyphen_values = true)]
    pub limit_core: Option<u64>,

    /// Limit CPU time (seconds); the program is killed when it reaches it
    #[arg(long, value_name = "SECONDS", value_parser = values::count, allow_hyphen_values = true)]
    pub limit_cpu: Option<u64>,

    /// Limit the size of files the program writes (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size, allow_hyphen_values = true)]
    pub limit_fsize: Option<u64>,

    /// Limit locked memory (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size, allow_hyphen_values = true)]
    pub limit_memlock: Option<u64>,

    /// Limit the number of open files
    #[arg(long, value_name = "N", value_parser = values::count, allow_hyphen_values = true)]
    pub limit_nofile: Option<u64>,

    /// Limit the number of processes of the program's user (system-wide; not for root)
    #[arg(long, value_name = "N", value_parser = values::count, allow_hyphen_values = true)]
    pub limit_nproc: Option<u64>,

    /// Limit the stack size (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size, allow_hyphen_values = true)]
    pub limit_stack: Option<u64>,

    /// Kill the whole sandbox after this much wall-clock time (seconds, fractions allowed)
    #[arg(long, value_name = "SECONDS", value_parser = values::seconds, allow_hyphen_values = true)]
    pub limit_walltime: Option<Duration>,

    /// Cgroup: limit the sandbox's memory (bytes; k, M, G, T suffixes); past it the OOM killer ends the run
    #[arg(long, value_name = "SIZE", value_parser = values::size)]
    pub memory: Option<u64>,

    /// Cgroup: limit memory and swap together (at least --memory, which it needs; equal: no swap)
    #[arg(long, value_name = "SIZE", value_parser = values::size)]
    pub memory_swap: Option<u64>,

    /// Cgroup: limit the processes and threads the sandbox holds at once
    #[arg(long, value_name = "N", value_parser = values::count)]
    pub pids: Option<u64>,

    /// Cgroup: limit CPU time to this many CPUs (0.5: half of one; at least 0.01)
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<f64>,

    /// Cgroup: the sandbox's share of CPU under contention, 1 to 10000 (default 100)
    #[arg(long, value_name = "N", value_parser = values::count)]
    pub cpu_weight: Option<u64>,

    /// Landlock: deny all access of these kinds except what --landlock-* rules allow (fs, tcp.bind, tcp.connect); repeatable
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = str::parse::<Resource>)]
    pub landlock_restrict: Vec<Resource>,

    /// Landlock: allow reading beneath these sandbox paths (`,` or `:` separated; ?PATH if it may be missing); restricts fs
    #[arg(long, value_name = "PATHS", value_parser = landlock::paths)]
    pub landlock_fs_ro: Vec<landlock::PathList>,

    /// Landlock: allow reading and writing beneath these sandbox paths; restricts fs
    #[arg(long, value_name = "PATHS", value_parser = landlock::paths)]
    pub landlock_fs_rw: Vec<landlock::PathList>,

    /// Landlock: allow reading and executing beneath these sandbox paths; restricts fs
    #[arg(long, value_name = "PATHS", value_parser = landlock::paths)]
    pub landlock_fs_rx: Vec<landlock::PathList>,

    /// Landlock: allow binding TCP sockets to these ports (`,` or `:` separated); restricts tcp.bind
    #[arg(long, value_name = "PORTS", value_parser = landlock::ports)]
    pub landlock_tcp_bind: Vec<landlock::PortList>,

    /// Landlock: allow connecting TCP sockets to these ports; restricts tcp.connect
    #[arg(long, value_name = "PORTS", value_parser = landlock::ports)]
    pub landlock_tcp_connect: Vec<landlock::PortList>,

    /// Landlock: cut the program off from abstract unix sockets and/or processes outside the sandbox (abstract-unix, signal)
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = str::parse::<Scope>)]
    pub landlock_scope: Vec<Scope>,

    /// Landlock: refuse to run unless the kernel enforces every rule (hard-requirement, the default), or run with what it enforces (best-effort)
    #[arg(long, value_name = "MODE", value_parser = str::parse::<CompatMode>)]
    pub landlock_compat: Option<CompatMode>,

    /// hakoniwa 1.x spelling of --landlock-restrict fs,tcp.bind,tcp.connect
    #[arg(long, hide = true)]
    pub landlock_restrict_all: bool,

    /// hakoniwa 1.x spelling of --landlock-restrict fs
    #[arg(long, hide = true)]
    pub landlock_restrict_fs: bool,

    /// hakoniwa 1.x spelling of --landlock-restrict tcp.bind
    #[arg(long, hide = true)]
    pub landlock_restrict_tcp_bind: bool,

    /// hakoniwa 1.x spelling of --landlock-restrict tcp.connect
    #[arg(long, hide = true)]
    pub landlock_restrict_tcp_connect: bool,

    /// Also measure the program's peak virtual and resident memory at exit (VmPeak, VmHWM; the program is traced, so no debugger inside can attach to it)
    #[arg(long)]
    pub peak_memory: bool,

    /// Write a JSON report of the run to PATH (or - for stdout) when it ends
    #[arg(long, value_name = "PATH|-")]
    pub report: Option<String>,

    /// Let the program inherit descriptor FD (same number); every other one but 0, 1, 2 is closed; repeatable
    #[arg(long, value_name = "FD")]
    pub pass_fd: Vec<i32>,

    /// Write JSON lines to file descriptor FD: one when the program starts, one when it ends
    #[arg(long, value_name = "FD")]
    pub status_fd: Option<i32>,

    /// Filter the program's syscalls: default, podman, audit (log all), unconfined, or a Docker/OCI JSON file
    #[arg(long, value_name = "NAME|PATH", default_value = "default")]
    pub seccomp: String,

    /// Let the program create user namespaces, which the default seccomp profile refuses
    #[arg(long)]
    pub allow_userns: bool,

    /// The program and its arguments
    #[arg(last = true, value_name = "COMMAND", default_value = "/bin/sh")]
    pub command: Vec<String>,
}

/// The options of the run (the profile of `--config`, if any, with the
/// typed flags over it) and the command they lower to, not yet spawned.
pub(crate) fn prepare(
    args: RunArgs,
    matches: &ArgMatches,
) -> Result<(Options, hakoniwa::Command), CliError> {
    let options = match &args.config {
        Some(path) => {
            let mut options = profile::load(path)?;
            options.overlay(args, matches)?;
            options
        }
        None => Options::from_flags(args, matches),
    };
    let (_container, command) = lower::lower(&options)?;
    Ok((options, command))
}

/// Runs the sandbox and returns the exit code.
pub(crate) fn run(args: RunArgs, matches: &ArgMatches) -> Result<i32, CliError> {
    let dry_run = args.dry_run;
    let (options, mut command) = prepare(args, matches)?;
    if dry_run {
        print!("{}", command.dry_run()?);
        return Ok(0);
    }
    let args = &options.args;
    // Checked before the sandbox exists: a bad descriptor is a usage error.
    let mut status_fd = args.status_fd.map(StatusFd::open).transpose()?;
    let forwarder = signals::Forwarder::block()?;
    // Built only when someone reads it.
    let mut report = (status_fd.is_some() || args.report.is_some()).then(Report::start);
    let mut child = command.spawn()?;
    if let Some(fd) = &mut status_fd {
        fd.started(child.id());
    }
    let status = forwarder.wait(&mut child)?;
    // Everything of the sandbox but its init is gone, and init is past its
    // report: this process ends soon, and need not wait while init releases
    // the namespaces (the kernel hands it to the host's init to reap).
    let init = child.id();
    std::mem::forget(child);
    if let Some(report) = &mut report {
        report.end(init, &status);
    }
    if let Some(err) = status.setup_error() {
        let mut cli_error = CliError::new(err.to_string());
        if let Some(hint) = err.hint() {
            cli_error = cli_error.hint(hint);
        }
        if err.is_program_not_found() {
            cli_error = cli_error.hint(
                "the program is looked up inside the sandbox; give its full path, \
                 bind the directory that holds it, or set PATH with -e PATH=...",
            );
        }
        eprintln!("{cli_error}");
    } else if status.limit.is_some() {
        eprintln!("hakoniwa: {}", status.reason);
    } else if status.exit_code.is_none() {
        log::info!("{}", status.reason);
    }
    if let Some(usage) = &status.rusage {
        log::info!(
            "real {:?}, user {:?}, system {:?}, max rss {} KiB, faults {} minor {} major, \
             context switches {} voluntary {} involuntary",
            usage.real_time,
            usage.user_time,
            usage.system_time,
            usage.max_rss,
            usage.minor_faults,
            usage.major_faults,
            usage.voluntary_context_switches,
            usage.involuntary_context_switches
        );
    }
    if let Some(peak) = &status.proc_pid_status {
        log::info!(
            "peak virtual memory {} KiB, peak resident memory {} KiB",
            peak.vm_peak,
            peak.vm_hwm
        );
    }
    if let (Some(fd), Some(report)) = (&mut status_fd, &report) {
        fd.ended(report);
    }
    if let (Some(path), Some(report)) = (&args.report, &report) {
        report.write(path)?;
    }
    Ok(status.code)
}
