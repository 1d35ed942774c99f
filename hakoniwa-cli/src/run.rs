//! `hakoniwa run`: its flags, and the run itself.

use std::time::Duration;

use clap::{ArgMatches, Args};

use crate::cli::CliError;
use crate::lower;
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

    /// Create a new uts namespace
    #[arg(long)]
    pub unshare_uts: bool,

    /// Bind the system directories (bin etc lib lib32 lib64 sbin usr) of DIR read-only, or none
    #[arg(long, value_name = "DIR|none", default_value = "/")]
    pub rootfs: String,

    /// Bind a host path read-only (CONTAINER defaults to HOST); repeatable
    #[arg(short = 'b', long, value_name = "HOST[:CONTAINER]")]
    pub bindmount_ro: Vec<String>,

    /// Bind a host path read-write (CONTAINER defaults to HOST); repeatable
    #[arg(short = 'B', long, value_name = "HOST[:CONTAINER]")]
    pub bindmount_rw: Vec<String>,

    /// Mount a minimal /dev at PATH; repeatable
    #[arg(long, value_name = "PATH")]
    pub devfs: Vec<String>,

    /// Mount an empty tmpfs at PATH; repeatable
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,

    /// Set an environment variable (NAME alone copies it from the caller); repeatable
    #[arg(short = 'e', long, value_name = "NAME[=VALUE]")]
    pub setenv: Vec<String>,

    /// Bind HOST read-write and start there (":CONTAINER" alone just starts in CONTAINER)
    #[arg(short = 'w', long, value_name = "HOST[:CONTAINER]")]
    pub workdir: Option<String>,

    /// Set the hostname (implies --unshare-uts)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Limit the address space (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size)]
    pub limit_as: Option<u64>,

    /// Limit the size of core files (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size)]
    pub limit_core: Option<u64>,

    /// Limit CPU time (seconds); the program is killed when it reaches it
    #[arg(long, value_name = "SECONDS", value_parser = values::count)]
    pub limit_cpu: Option<u64>,

    /// Limit the size of files the program writes (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size)]
    pub limit_fsize: Option<u64>,

    /// Limit locked memory (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size)]
    pub limit_memlock: Option<u64>,

    /// Limit the number of open files
    #[arg(long, value_name = "N", value_parser = values::count)]
    pub limit_nofile: Option<u64>,

    /// Limit the number of processes of the program's user (system-wide; not for root)
    #[arg(long, value_name = "N", value_parser = values::count)]
    pub limit_nproc: Option<u64>,

    /// Limit the stack size (bytes; k, M, G, T suffixes)
    #[arg(long, value_name = "SIZE", value_parser = values::size)]
    pub limit_stack: Option<u64>,

    /// Kill the whole sandbox after this much wall-clock time (seconds, fractions allowed)
    #[arg(long, value_name = "SECONDS", value_parser = values::seconds)]
    pub limit_walltime: Option<Duration>,

    /// Write a JSON report of the run to PATH (or - for stdout) when it ends
    #[arg(long, value_name = "PATH|-")]
    pub report: Option<String>,

    /// Write JSON lines to file descriptor FD: one when the program starts, one when it ends
    #[arg(long, value_name = "FD")]
    pub status_fd: Option<i32>,

    /// The program and its arguments
    #[arg(last = true, value_name = "COMMAND", default_value = "/bin/sh")]
    pub command: Vec<String>,
}

/// Runs the sandbox and returns the exit code.
pub(crate) fn run(args: &RunArgs, matches: &ArgMatches) -> Result<i32, CliError> {
    let (_container, mut command) = lower::lower(args, matches)?;
    // Checked before the sandbox exists: a bad descriptor is a usage error.
    let mut status_fd = args.status_fd.map(StatusFd::open).transpose()?;
    // Blocked before the spawn so none is lost; the sandbox unblocks them.
    let forwarder = signals::Forwarder::block()?;
    let mut report = Report::start();
    let mut child = command.spawn()?;
    forwarder.forward_to(child.id());
    if let Some(fd) = &mut status_fd {
        fd.started(child.id());
    }
    let status = child.wait()?;
    report.end(child.id(), &status);
    if let Some(err) = status.setup_error() {
        let mut cli_error = CliError::new(err.to_string());
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
    if let Some(fd) = &mut status_fd {
        fd.ended(&report);
    }
    if let Some(path) = &args.report {
        report.write(path)?;
    }
    Ok(status.code)
}
