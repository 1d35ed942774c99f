//! `exec`: one more program in a running container. It enters the
//! namespaces of the container's program (the sandbox's init is not
//! dumpable, so only root could enter through it), with the configuration's
//! seccomp filter and the identity and limits of its own process.
//!
//! Engines call `exec --detach --pid-file F`, then wait for the process in
//! the pid file as they wait for a container's: conmon and containerd's
//! shim are subreapers, and that process is a child of the `exec`
//! invocation. So `--detach` starts a copy of `exec` without it, in its own
//! session, which runs the program in the foreground and exits with its
//! status; the pid file names that copy.
//!
//! With a terminal, the copy makes it with the program, from the
//! container's own devpts (`Command::terminal`), and sends its master to
//! the console socket. The detaching `exec` returns only once it has:
//! the copy's output and error are a pipe to it, on which the copy writes
//! a NUL byte once the master is sent (then points both at `/dev/null`,
//! holding none of the engine's streams), or its error before it exits.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::Command as HostCommand;
use std::thread;
use std::time::{Duration, Instant};

use crate::console;
use crate::error::{Error, Result, SpecError};
use crate::lifecycle::{report, wrong_status, Globals};
use crate::lower;
use crate::processes;
use crate::spec;
use crate::state::{self, ContainerDir, Root, Status};

/// How long `exec` waits for a just-started program to be enterable.
const PROGRAM_DEADLINE: Duration = Duration::from_secs(5);

/// What `exec` was asked to run.
pub struct Request<'a> {
    pub id: &'a str,
    /// `--process FILE`: the whole process; else the container's own
    /// process with `args`.
    pub process: Option<&'a Path>,
    pub args: &'a [String],
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    /// `--tty`: a terminal, without `--process` (with it, the file's
    /// `terminal` decides).
    pub tty: bool,
    /// Where the terminal's master end goes.
    pub console_socket: Option<&'a Path>,
    /// Set in the detached copy: start a new session first.
    pub held: bool,
}

/// Runs the request; returns the exit code (the program's own without
/// `--detach`, 0 once the detached copy is started).
pub fn exec(root: &Root, globals: &Globals, request: &Request) -> Result<i32> {
    if request.held {
        nix::unistd::setsid().map_err(|e| Error::Process {
            what: "detach the exec in",
            id: request.id.to_string(),
            source: e.into(),
        })?;
    }
    let dir = root.container(request.id)?;
    let state = dir.load()?;
    let init = match (state.status, state.pid) {
        (Status::Running, Some(pid)) => pid,
        _ => return Err(wrong_status(&state, "exec in")),
    };
    let spec = spec::load(&state.bundle).map_err(|source| Error::Bundle {
        bundle: state.bundle.clone(),
        source,
    })?;
    let process = match request.process {
        Some(path) => {
            let process = spec::load_process(path).map_err(|source| Error::Bundle {
                bundle: state.bundle.clone(),
                source,
            });
            // The detached copy's file is its own copy, in the state
            // directory (see `start_detached`).
            if request.held {
                let _ = fs::remove_file(path);
            }
            process?
        }
        None => {
            let mut process = spec.process().clone().ok_or_else(|| Error::Bundle {
                bundle: state.bundle.clone(),
                source: SpecError::field("process", "missing: no process to take ARGS into"),
            })?;
            process.set_args(Some(request.args.to_vec()));
            process.set_terminal(Some(request.tty));
            process
        }
    };
    // The terminal's master goes to the console socket, from the copy.
    if lower::terminal(&process)
        && !request.held
        && (!request.detach || request.console_socket.is_none())
    {
        return Err(Error::Bundle {
            bundle: state.bundle.clone(),
            source: SpecError::field(
                "process.terminal",
                "a terminal needs a console socket: exec --detach --console-socket SOCKET",
            ),
        });
    }
    let program = wait_for_program(init).ok_or_else(|| Error::NoProgram {
        id: request.id.to_string(),
    })?;
    let mut lowered = lower::lower_exec(
        &spec,
        &process,
        program,
        state.hakoniwa.cgroup.as_ref().map(|record| record.dirs()),
    )
    .map_err(|source| Error::Bundle {
        bundle: state.bundle.clone(),
        source,
    })?;
    let sandbox = |source| Error::Sandbox {
        id: request.id.to_string(),
        source,
    };
    let console_socket = request.console_socket.filter(|_| lower::terminal(&process));
    if request.detach {
        lowered.command.dry_run().map_err(sandbox)?;
        start_detached(&dir, globals, request, console_socket)?;
        return Ok(0);
    }
    lowered.inherit_from_runtime()?;
    let mut child = lowered.command.spawn().map_err(sandbox)?;
    if let (Some(socket), Some(terminal)) = (console_socket, child.terminal.take()) {
        console::hand_over(socket, &terminal, lowered.console_size)?;
        drop(terminal);
        terminal_sent()?;
    }
    let status = child.wait().map_err(sandbox)?;
    Ok(report(request.id, &status))
}

/// In the copy: tells the detaching `exec` the terminal is sent, and lets
/// go of the pipe to it.
fn terminal_sent() -> Result<()> {
    let failed = |e| Error::file("tell", Path::new("the detaching exec"), e);
    io::stdout().write_all(&[0]).map_err(failed)?;
    io::stdout().flush().map_err(failed)?;
    let null = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::file("open", Path::new("/dev/null"), e))?;
    nix::unistd::dup2_stdout(&null)
        .and_then(|()| nix::unistd::dup2_stderr(&null))
        .map_err(|e| failed(e.into()))
}

/// Starts `exec` again without `--detach`, and writes its pid.
fn start_detached(
    dir: &ContainerDir,
    globals: &Globals,
    request: &Request,
    console_socket: Option<&Path>,
) -> Result<()> {
    let exe =
        std::env::current_exe().map_err(|e| Error::file("find", Path::new("/proc/self/exe"), e))?;
    let mut held = HostCommand::new(exe);
    globals.pass_to(&mut held);
    held.args(["exec", "--held"]);
    // Engines remove the process file once `exec` returns (containerd's
    // shim does), before the copy may have read it: the copy gets its own.
    if let Some(process) = request.process {
        let staged = dir.exec_process_file();
        fs::copy(process, &staged).map_err(|e| Error::file("copy", process, e))?;
        held.arg("--process").arg(staged);
    }
    if request.tty {
        held.arg("--tty");
    }
    let mut sent = None;
    if let Some(socket) = console_socket {
        held.arg("--console-socket").arg(socket);
        let (reader, writer) = io::pipe().map_err(|source| Error::Process {
            what: "start the exec in",
            id: request.id.to_string(),
            source,
        })?;
        let copy = writer.try_clone().map_err(|source| Error::Process {
            what: "start the exec in",
            id: request.id.to_string(),
            source,
        })?;
        held.stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(copy);
        sent = Some(reader);
    }
    held.arg(request.id).arg("--").args(request.args);
    let mut child = held.spawn().map_err(|source| Error::Process {
        what: "start the exec in",
        id: request.id.to_string(),
        source,
    })?;
    // `held` keeps the pipe's writing ends: closed, so that the copy's
    // end is the last.
    drop(held);
    if let Some(mut reader) = sent {
        let mut said = Vec::new();
        let _ = reader.read_to_end(&mut said);
        if !said.contains(&0) {
            let _ = child.wait();
            let said = String::from_utf8_lossy(&said);
            return Err(Error::NotStarted {
                id: request.id.to_string(),
                reason: match said.trim() {
                    "" => "the exec ended before sending its terminal".to_string(),
                    text => text.replace('\n', "; "),
                },
            });
        }
    }
    log::debug!("container {}: exec holder {}", request.id, child.id());
    if let Some(path) = request.pid_file {
        fs::write(path, child.id().to_string()).map_err(|e| Error::file("write", path, e))?;
    }
    Ok(())
}

/// The sandbox's program, once it can be entered: right after `start` it
/// may not be forked yet, or not have executed yet (until then it is as
/// undumpable as init, and its namespaces closed to all but root).
fn wait_for_program(init: u32) -> Option<u32> {
    let deadline = Instant::now() + PROGRAM_DEADLINE;
    loop {
        let program = processes::first_child(init);
        let open = program.filter(|pid| fs::File::open(format!("/proc/{pid}/ns/mnt")).is_ok());
        if open.is_some() || !state::is_alive(init) || Instant::now() > deadline {
            return open;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
