//! `hakoniwa run`: its flags, and the run itself.

use clap::{ArgMatches, Args};

use crate::cli::CliError;
use crate::lower;
use crate::signals;

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

    /// The program and its arguments
    #[arg(last = true, value_name = "COMMAND", default_value = "/bin/sh")]
    pub command: Vec<String>,
}

/// Runs the sandbox and returns the exit code.
pub(crate) fn run(args: &RunArgs, matches: &ArgMatches) -> Result<i32, CliError> {
    let (_container, mut command) = lower::lower(args, matches)?;
    // Blocked before the spawn so none is lost; the sandbox unblocks them.
    let forwarder = signals::Forwarder::block()?;
    let mut child = command.spawn()?;
    forwarder.forward_to(child.id());
    let status = child.wait()?;
    if let Some(err) = status.setup_error() {
        let mut cli_error = CliError::new(err.to_string());
        if err.is_program_not_found() {
            cli_error = cli_error.hint(
                "the program is looked up inside the sandbox; give its full path, \
                 bind the directory that holds it, or set PATH with -e PATH=...",
            );
        }
        eprintln!("{cli_error}");
    } else if status.exit_code.is_none() {
        log::info!("{}", status.reason);
    }
    Ok(status.code)
}
