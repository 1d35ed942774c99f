//! The container's life: `run`, `create` (with its supervisor), `start`,
//! `state`, `ps`, `delete`.
//!
//! The library spawns a sandbox and runs its program in one step, so a
//! `created` container is not yet a sandbox: `create` checks the whole
//! configuration and leaves a detached supervisor waiting on the `start`
//! FIFO; `start` wakes it and it spawns the sandbox, holds the `Child`,
//! and records how the program ended.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as HostCommand;
use std::thread;
use std::time::{Duration, Instant};

use hakoniwa::{ExitKind, ExitStatus};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;

use crate::console;
use crate::error::{Error, Result};
use crate::lower::{self, Program};
use crate::processes;
use crate::signals;
use crate::spec::{self, Spec};
use crate::state::{self, ContainerDir, Private, Root, State, Status, OCI_VERSION};

/// How long `start` waits for the supervisor to open the FIFO and then to
/// spawn the sandbox, and `delete --force` for the holder to end.
const PROCESS_DEADLINE: Duration = Duration::from_secs(10);
/// How often those waits look again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The global options a supervisor is started with, as given to `create`.
pub struct Globals<'a> {
    pub root: &'a Path,
    pub log: Option<&'a Path>,
    pub log_format: &'a str,
    pub debug: bool,
}

impl Globals<'_> {
    /// Adds these options to a command that runs this runtime again.
    pub fn pass_to(&self, command: &mut HostCommand) {
        command.arg("--root").arg(self.root);
        if let Some(log) = self.log {
            command.arg("--log").arg(log);
        }
        command.args(["--log-format", self.log_format]);
        if self.debug {
            command.arg("--debug");
        }
    }
}

/// `run --bundle DIR ID`: create, start, wait; the container is deleted
/// when its program ends. Returns the exit code: the program's own, 128+N
/// for signal N, or the library's 125/126/127 for a setup failure.
pub fn run(root: &Root, bundle: &Path, id: &str) -> Result<i32> {
    let dir = root.container(id)?;
    let (bundle, spec, mut program) = prepare(bundle, None)?;
    if console::needs_terminal(&spec) {
        return Err(console::no_console_socket(&bundle));
    }
    dir.create()?;
    let ended = hold(&dir, &bundle, &spec, &mut program, std::process::id());
    dir.remove()?;
    Ok(report(id, &ended?))
}

/// `create --bundle DIR [--pid-file F] ID`.
pub fn create(
    root: &Root,
    globals: &Globals,
    bundle: &Path,
    id: &str,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<()> {
    let dir = root.container(id)?;
    // Checked without the terminal, which is made only once all else is.
    let (bundle, spec, program) = prepare(bundle, None)?;
    program.command.dry_run().map_err(|source| Error::Sandbox {
        id: id.to_string(),
        source,
    })?;
    let terminal = match (console::needs_terminal(&spec), console_socket) {
        (true, Some(socket)) => Some(console::hand_over(socket)?),
        (true, None) => return Err(console::no_console_socket(&bundle)),
        (false, _) => None,
    };
    dir.create()?;
    let created = start_supervisor(&dir, globals, &bundle, &spec, pid_file, terminal);
    if created.is_err() {
        // Nothing else was made yet: leave no trace of a failed create.
        dir.remove()?;
    }
    created
}

fn start_supervisor(
    dir: &ContainerDir,
    globals: &Globals,
    bundle: &Path,
    spec: &Spec,
    pid_file: Option<&Path>,
    terminal: Option<OwnedFd>,
) -> Result<()> {
    dir.make_start_fifo()?;
    let exe =
        std::env::current_exe().map_err(|e| Error::file("find", Path::new("/proc/self/exe"), e))?;
    let mut supervisor = HostCommand::new(&exe);
    globals.pass_to(&mut supervisor);
    supervisor
        .arg("supervise")
        .arg("--bundle")
        .arg(bundle)
        .arg(&dir.id);
    if let Some(terminal) = terminal {
        console::give_terminal(&mut supervisor, terminal)?;
    }
    let mut child = supervisor.spawn().map_err(|source| Error::Process {
        what: "start the supervisor of",
        id: dir.id.clone(),
        source,
    })?;
    let pid = child.id();
    log::debug!("container {}: supervisor {pid} waits for start", dir.id);
    let recorded = record_created(dir, bundle, spec, pid, pid_file);
    if recorded.is_err() {
        // A container that `create` did not report must not linger.
        let _ = child.kill();
        let _ = child.wait();
    }
    recorded
}

fn record_created(
    dir: &ContainerDir,
    bundle: &Path,
    spec: &Spec,
    pid: u32,
    pid_file: Option<&Path>,
) -> Result<()> {
    dir.save(&State {
        oci_version: OCI_VERSION.to_string(),
        id: dir.id.clone(),
        status: Status::Created,
        pid: Some(pid),
        bundle: bundle.to_path_buf(),
        annotations: annotations(spec),
        hakoniwa: Private {
            holder: pid,
            ..Private::default()
        },
    })?;
    if let Some(path) = pid_file {
        std::fs::write(path, pid.to_string()).map_err(|e| Error::file("write", path, e))?;
    }
    Ok(())
}

/// The hidden `supervise` verb: detached from `create`'s session, waits
/// for `start`, then holds the sandbox until its program ends, and exits
/// as `run` would: engines (conmon, containerd's shim) wait for this
/// process, the one in the pid file, and take its status for the
/// container's.
pub fn supervise(root: &Root, bundle: &Path, id: &str) -> Result<i32> {
    // A new session: the engine's terminal and process group do not reach
    // the supervisor once `create` has returned.
    nix::unistd::setsid().map_err(|e| Error::Process {
        what: "detach the supervisor of",
        id: id.to_string(),
        source: e.into(),
    })?;
    let dir = root.container(id)?;
    let fifo = dir.start_fifo();
    let mut byte = [0u8; 1];
    let read = File::open(&fifo)
        .and_then(|mut f| f.read(&mut byte))
        .map_err(|e| Error::file("wait on", &fifo, e))?;
    if read == 0 {
        log::debug!("container {id}: the start FIFO closed without a start");
        return Ok(0);
    }
    // The terminal `create` made is this process's standard input.
    let console = std::fs::read_link("/proc/self/fd/0").ok();
    let console = console
        .as_deref()
        .filter(|path| path.starts_with("/dev/pts/"));
    let (bundle, spec, mut program) = prepare(bundle, console)?;
    let status = hold(&dir, &bundle, &spec, &mut program, std::process::id())?;
    log::debug!("container {id}: {}", status.reason);
    Ok(report(id, &status))
}

/// Spawns the sandbox, records it as running, waits for it, records it as
/// stopped. A spawn failure is recorded too, for `start` to report.
fn hold(
    dir: &ContainerDir,
    bundle: &Path,
    spec: &Spec,
    program: &mut Program,
    holder: u32,
) -> Result<ExitStatus> {
    let mut state = State {
        oci_version: OCI_VERSION.to_string(),
        id: dir.id.clone(),
        status: Status::Running,
        pid: None,
        bundle: bundle.to_path_buf(),
        annotations: annotations(spec),
        hakoniwa: Private {
            holder,
            ..Private::default()
        },
    };
    if let Some(umask) = program.umask {
        nix::sys::stat::umask(Mode::from_bits_truncate(umask));
    }
    let mut child = match program.command.spawn() {
        Ok(child) => child,
        Err(source) => {
            state.status = Status::Stopped;
            state.hakoniwa.error = Some(chain(&source));
            dir.save(&state)?;
            return Err(Error::Sandbox {
                id: dir.id.clone(),
                source,
            });
        }
    };
    state.pid = Some(child.id());
    state.hakoniwa.cgroup = child.cgroup().as_ref().map(state::CgroupRecord::new);
    dir.save(&state)?;
    log::debug!("container {}: sandbox init is pid {}", dir.id, child.id());
    let status = child.wait().map_err(|source| Error::Sandbox {
        id: dir.id.clone(),
        source,
    })?;
    state.status = Status::Stopped;
    state.hakoniwa.exit_code = Some(status.code);
    if let ExitKind::SetupFailed(error) = &status.kind {
        state.hakoniwa.error = Some(error.to_string());
    }
    dir.save(&state)?;
    Ok(status)
}

/// `start ID`: wakes the supervisor, then waits until it has spawned the
/// sandbox (or could not).
pub fn start(root: &Root, id: &str) -> Result<()> {
    let dir = root.container(id)?;
    let state = dir.load()?;
    if state.status != Status::Created {
        return Err(wrong_status(&state, "start"));
    }
    let fifo = dir.start_fifo();
    let deadline = Instant::now() + PROCESS_DEADLINE;
    // Without O_NONBLOCK, opening a FIFO no one reads would block for good;
    // with it, ENXIO says the supervisor has not opened it yet.
    let mut writer = loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(&fifo)
        {
            Ok(file) => break file,
            Err(e) if e.raw_os_error() == Some(Errno::ENXIO as i32) => {
                if !state::is_alive(state.hakoniwa.holder) || Instant::now() > deadline {
                    return Err(Error::NotStarted {
                        id: id.to_string(),
                        reason: "its supervisor is gone".to_string(),
                    });
                }
                thread::sleep(POLL_INTERVAL);
            }
            Err(e) => return Err(Error::file("open", &fifo, e)),
        }
    };
    writer
        .write_all(b"s")
        .map_err(|e| Error::file("write to", &fifo, e))?;
    drop(writer);
    loop {
        let state = dir.load()?;
        match state.status {
            Status::Running | Status::Paused => return Ok(()),
            // Spawned (a pid was recorded) and already ended: started. How
            // it ended — a program that could not be executed, a mount
            // that failed — is its exit status (125/126/127) and message,
            // as for a program that ran: an engine waits for it and deletes
            // the container as usual.
            Status::Stopped if state.pid.is_some() => return Ok(()),
            // The holder is still writing whether the spawn failed.
            Status::Stopped
                if state.hakoniwa.error.is_none()
                    && state::is_alive(state.hakoniwa.holder)
                    && Instant::now() <= deadline =>
            {
                thread::sleep(POLL_INTERVAL)
            }
            Status::Stopped => {
                return Err(Error::NotStarted {
                    id: id.to_string(),
                    reason: state
                        .hakoniwa
                        .error
                        .unwrap_or_else(|| "its supervisor ended before spawning it".to_string()),
                })
            }
            Status::Created if Instant::now() > deadline => {
                return Err(Error::NotStarted {
                    id: id.to_string(),
                    reason: "its supervisor did not spawn the sandbox in time".to_string(),
                })
            }
            Status::Created => thread::sleep(POLL_INTERVAL),
        }
    }
}

/// `state ID`: the state as JSON.
pub fn state(root: &Root, id: &str) -> Result<String> {
    let state = root.container(id)?.load()?;
    Ok(serde_json::to_string_pretty(&state).expect("a state serializes"))
}

/// `ps ID`: the host pids of a running container's processes (its init
/// and every descendant); none while created or once stopped.
pub fn ps(root: &Root, id: &str) -> Result<Vec<u32>> {
    let state = root.container(id)?.load()?;
    Ok(match (state.status, state.pid) {
        (Status::Running | Status::Paused, Some(init)) => {
            let mut pids = vec![init];
            pids.extend(processes::descendants(init));
            pids
        }
        _ => Vec::new(),
    })
}

/// `delete [--force] ID`: removes a stopped container's state; with
/// `--force`, kills a created or running one first.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    let dir = root.container(id)?;
    let state = dir.load()?;
    if state.status != Status::Stopped {
        if !force {
            return Err(wrong_status(&state, "delete"));
        }
        if let Some(pid) = state.pid {
            signals::signal_container(&state, pid, Signal::SIGKILL)?;
        }
    }
    // The holder writes the final state: let it finish before removing.
    let deadline = Instant::now() + PROCESS_DEADLINE;
    while state::is_alive(state.hakoniwa.holder) && state.hakoniwa.holder != std::process::id() {
        if Instant::now() > deadline {
            return Err(Error::Process {
                what: "wait for the holder of",
                id: id.to_string(),
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            });
        }
        thread::sleep(POLL_INTERVAL);
    }
    match dir.remove() {
        // `run` removes its own container when its program ends.
        Err(Error::File { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
        removed => removed,
    }
}

/// Reads and maps the bundle: every configuration error surfaces here,
/// naming the field, before anything exists.
fn prepare(bundle: &Path, console: Option<&Path>) -> Result<(PathBuf, Spec, Program)> {
    let bundle = std::path::absolute(bundle).map_err(|e| Error::file("resolve", bundle, e))?;
    let invalid = |source| Error::Bundle {
        bundle: bundle.clone(),
        source,
    };
    let spec = spec::load(&bundle).map_err(invalid)?;
    let program = lower::lower(&spec, &bundle, console).map_err(invalid)?;
    Ok((bundle, spec, program))
}

/// The configuration's annotations, for the state.
fn annotations(spec: &Spec) -> BTreeMap<String, String> {
    spec.annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Prints why a program did not run, and returns the exit code.
pub fn report(id: &str, status: &ExitStatus) -> i32 {
    if let ExitKind::SetupFailed(error) = &status.kind {
        log::error!("container {id}: {error}");
        eprintln!("hakoniwa-oci: container {id}: {error}");
        if let Some(hint) = error.hint() {
            eprintln!("hint: {hint}");
        }
    }
    status.code
}

pub fn wrong_status(state: &State, action: &'static str) -> Error {
    Error::WrongStatus {
        id: state.id.clone(),
        status: state.status,
        action,
    }
}

/// An error and its causes on one line, for the state file.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
