//! `hakoniwa-oci`: an OCI runtime — the command line container engines
//! drive (`create`, `start`, `state`, `kill`, `delete`, `run`) — whose
//! containers are hakoniwa sandboxes.
#![deny(unsafe_code)]

mod cgroups;
mod console;
mod control;
mod devices;
mod error;
mod exec;
mod features;
mod hooks;
mod lifecycle;
mod logging;
mod lower;
mod processes;
mod signals;
mod spec;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::{Error, EXIT_FAILURE};
use crate::lifecycle::Globals;
use crate::state::Root;

#[derive(Parser)]
#[command(
    name = "hakoniwa-oci",
    // The runtime specification version is `state::OCI_VERSION`.
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"),
    about = "An OCI runtime whose containers are hakoniwa sandboxes"
)]
struct Cli {
    /// Directory of the containers' state [default: /run/hakoniwa-oci for
    /// root, $XDG_RUNTIME_DIR/hakoniwa-oci otherwise]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Write the log to FILE instead of standard error
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of the log's lines
    #[arg(long, global = true, value_enum, default_value_t = logging::Format::Text)]
    log_format: logging::Format,
    /// Log each step, not only warnings and errors
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for engines that pass it (podman with cgroup_manager =
    /// "systemd"): linux.cgroupsPath in systemd's form (slice:prefix:name)
    /// is told by its form, and the cgroup made directly, without systemd
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Create and start a container, wait for its program, delete it; exit
    /// with the program's status
    Run {
        /// The bundle: config.json and the root filesystem
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        id: String,
    },
    /// Build a container whose program waits for `start`
    Create {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Write the pid of the container's process to FILE
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Send the master end of the container's terminal to this Unix
        /// socket (when process.terminal is true)
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        id: String,
    },
    /// Run the program of a created container
    Start { id: String },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (name or number; TERM by default)
    Kill {
        /// Every process of the container, not only its program
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// List the host pids of a running container's processes
    Ps {
        #[arg(short, long, value_enum, default_value_t = PsFormat::Table)]
        format: PsFormat,
        id: String,
    },
    /// Freeze every process of a running container
    Pause { id: String },
    /// Let a paused container's processes go on
    Resume { id: String },
    /// Change a running container's cgroup limits
    Update {
        /// The limits as a linux.resources object (JSON), from FILE or `-`
        /// for standard input; the flags below go over it
        #[arg(short, long, value_name = "FILE")]
        resources: Option<PathBuf>,
        /// Memory limit in bytes (linux.resources.memory.limit)
        #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
        memory: Option<i64>,
        /// Memory and swap together, in bytes (memory.swap)
        #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
        memory_swap: Option<i64>,
        /// Most processes and threads at once (pids.limit)
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        pids_limit: Option<i64>,
        /// CPU time per period, in microseconds (cpu.quota)
        #[arg(long, value_name = "US", allow_negative_numbers = true)]
        cpu_quota: Option<i64>,
        /// The quota's period, in microseconds (cpu.period)
        #[arg(long, value_name = "US")]
        cpu_period: Option<i64>,
        /// Relative CPU share, 1024 by default (cpu.shares)
        #[arg(long, value_name = "N")]
        cpu_shares: Option<i64>,
        id: String,
    },
    /// Print what this runtime supports, as JSON (the runtime
    /// specification's features document)
    Features,
    /// Remove a stopped container (with --force, kill it first)
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Run one more program in a running container
    Exec {
        /// The process to run, as JSON (the `process` object of a
        /// configuration); without it, the container's own with ARGS
        #[arg(short, long, value_name = "FILE")]
        process: Option<PathBuf>,
        /// Return once the program is started; the pid file names the
        /// process that waits for it and exits with its status
        #[arg(short, long)]
        detach: bool,
        /// Write the pid of that process to FILE
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Give the program a terminal (process.terminal, with --process)
        #[arg(short, long)]
        tty: bool,
        /// Send the master end of the program's terminal to this Unix
        /// socket
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        /// The detached copy of `exec`
        #[arg(long, hide = true)]
        held: bool,
        id: String,
        /// The program and its arguments, without --process
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The process `create` leaves behind to hold the container
    #[command(hide = true)]
    Supervise {
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long)]
        console_socket: Option<PathBuf>,
        id: String,
    },
}

/// How `ps` prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum PsFormat {
    /// A `PID` header, then one pid a line.
    Table,
    /// A JSON array of pids (what containerd's shim reads).
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = logging::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("hakoniwa-oci: failed to open the log: {error}");
        return ExitCode::from(EXIT_FAILURE as u8);
    }
    match execute(&cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            render(&error, cli.log.is_some());
            ExitCode::from(EXIT_FAILURE as u8)
        }
    }
}

/// Runs the verb; returns the exit code.
fn execute(cli: &Cli) -> Result<i32, Error> {
    let root = Root::new(cli.root.clone())?;
    let log_format = cli.log_format.to_possible_value();
    let globals = Globals {
        root: root.dir(),
        log: cli.log.as_deref(),
        log_format: log_format.as_ref().map_or("text", |v| v.get_name()),
        debug: cli.debug,
    };
    match &cli.verb {
        Verb::Run { bundle, id } => return lifecycle::run(&root, bundle, id),
        Verb::Create {
            bundle,
            pid_file,
            console_socket,
            id,
        } => lifecycle::create(
            &root,
            &globals,
            bundle,
            id,
            pid_file.as_deref(),
            console_socket.as_deref(),
        )?,
        Verb::Start { id } => lifecycle::start(&root, id)?,
        Verb::State { id } => println!("{}", lifecycle::state(&root, id)?),
        Verb::Kill { all, id, signal } => signals::kill(&root, id, signal, *all)?,
        Verb::Ps { format, id } => {
            let pids = lifecycle::ps(&root, id)?;
            match format {
                PsFormat::Json => println!("{}", serde_json::json!(pids)),
                PsFormat::Table => {
                    println!("PID");
                    for pid in pids {
                        println!("{pid}");
                    }
                }
            }
        }
        Verb::Pause { id } => control::pause(&root, id)?,
        Verb::Resume { id } => control::resume(&root, id)?,
        Verb::Update {
            resources,
            memory,
            memory_swap,
            pids_limit,
            cpu_quota,
            cpu_period,
            cpu_shares,
            id,
        } => {
            let flags = control::Limits {
                memory: *memory,
                memory_swap: *memory_swap,
                pids_limit: *pids_limit,
                cpu_quota: *cpu_quota,
                cpu_period: *cpu_period,
                cpu_shares: *cpu_shares,
            };
            control::update(&root, id, resources.as_deref(), &flags)?
        }
        Verb::Features => println!("{}", features::features()),
        Verb::Delete { force, id } => lifecycle::delete(&root, id, *force)?,
        Verb::Exec {
            process,
            detach,
            pid_file,
            tty,
            console_socket,
            held,
            id,
            args,
        } => {
            let request = exec::Request {
                id,
                process: process.as_deref(),
                args,
                detach: *detach,
                pid_file: pid_file.as_deref(),
                tty: *tty,
                console_socket: console_socket.as_deref(),
                held: *held,
            };
            return exec::exec(&root, &globals, &request);
        }
        Verb::Supervise {
            bundle,
            console_socket,
            id,
        } => return lifecycle::supervise(&root, bundle, id, console_socket.as_deref()),
    }
    Ok(0)
}

/// `hakoniwa-oci: <what failed>`, then a `caused by:` line per cause; into
/// the log as well when it is a file (engines read errors from there).
fn render(error: &Error, to_log: bool) {
    let mut lines = vec![format!("hakoniwa-oci: {error}")];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        lines.push(format!("caused by: {cause}"));
        source = cause.source();
    }
    for line in &lines {
        eprintln!("{line}");
    }
    if to_log {
        log::error!("{}", lines.join("; "));
    }
}
