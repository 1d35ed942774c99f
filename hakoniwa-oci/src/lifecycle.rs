//! The container's life: `run`, `create` (with its supervisor), `start`,
//! `state`, `ps`, `delete`, and the hooks at their steps.
//!
//! `create` starts a detached supervisor, which builds the sandbox with its
//! program held (`Command::spawn_held`), runs the `prestart`,
//! `createRuntime` and `createContainer` hooks, records the container as
//! created and waits on the `start` FIFO (and for the sandbox's end);
//! `create` returns once it has recorded it, or failed. `start` wakes it:
//! the `startContainer` hooks run, the program goes on to `execve`, the
//! `poststart` hooks run; then it holds the `Child` and records how the
//! program ended. `delete` runs the `poststop` hooks.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as HostCommand;
use std::thread;
use std::time::{Duration, Instant};

use hakoniwa::{Child, ExitKind, ExitStatus};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::console;
use crate::error::{one_line, Error, Result, EXIT_FAILURE};
use crate::hooks::{self, Kind};
use crate::lower::{self, Program};
use crate::processes;
use crate::signals;
use crate::spec::{self, Spec};
use crate::state::{self, ContainerDir, Private, Root, State, Status, OCI_VERSION};

/// How long `delete --force` waits for the holder to end.
const PROCESS_DEADLINE: Duration = Duration::from_secs(10);
/// How often the waits for another process's step look again: `create`
/// and `start` wait for the supervisor to record one, which takes a few
/// milliseconds. (An inotify watch would wake them at once, but closing
/// one costs ~20 ms, more than this polling.)
const POLL_INTERVAL: Duration = Duration::from_millis(1);

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
    let (bundle, spec, mut program) = prepare(bundle)?;
    if console::needs_terminal(&spec) {
        return Err(console::no_console_socket(&bundle));
    }
    // Blocked before the sandbox exists, so that none is lost: from here
    // they go to the sandbox (see `forward_signals`).
    let forwarded = forwarded_signals();
    forwarded.thread_block().map_err(|e| Error::Process {
        what: "block the signals forwarded to",
        id: id.to_string(),
        source: e.into(),
    })?;
    dir.create()?;
    let ran = build(&dir, &bundle, &spec, &mut program, std::process::id(), None).and_then(
        |(mut child, mut state)| {
            forward_signals(forwarded, child.id());
            let ran = launch(&dir, &spec, &mut child, &mut state)
                .and_then(|()| finish(&dir, &mut child, &mut state));
            // Ended however it ended (a failed launch ends it with the
            // `Child`); the container is deleted below.
            drop(child);
            state.status = Status::Stopped;
            hooks::run(Kind::Poststop, hooks::given(&spec, Kind::Poststop), &state)?;
            ran
        },
    );
    dir.remove()?;
    match ran {
        Ok(status) => Ok(report(id, &status)),
        // A step inside the sandbox that failed before the program was
        // held is reported as one after: the library's exit code.
        Err(Error::Sandbox {
            source: hakoniwa::Error::Setup(error),
            ..
        }) => {
            print_setup_failure(id, &error);
            Ok(ExitStatus::SETUP_FAILED)
        }
        Err(error) => Err(error),
    }
}

/// The signals that would end `run` and the user signals: `run` passes
/// them to the sandbox instead, so that it ends as the program does and
/// deletes the container.
fn forwarded_signals() -> SigSet {
    hakoniwa::PASSED_ON_SIGNALS
        .into_iter()
        .filter_map(|signal| Signal::try_from(signal).ok())
        .collect()
}

/// Sends each of `signals` (blocked in every thread) that reaches `run`
/// to the sandbox's init, which passes it to the program, for as long as
/// `run` lives.
fn forward_signals(signals: SigSet, init: u32) {
    thread::spawn(move || {
        while let Ok(signal) = signals.wait() {
            let _ = nix::sys::signal::kill(Pid::from_raw(init as i32), signal);
        }
    });
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
    // Checked here, so that a bad configuration is `create`'s own error.
    // The terminal is made with the sandbox, from its devpts, and handed
    // over by the supervisor.
    let (bundle, spec, _) = prepare(bundle)?;
    let console_socket = match (console::needs_terminal(&spec), console_socket) {
        (true, Some(socket)) => Some(socket),
        (true, None) => return Err(console::no_console_socket(&bundle)),
        (false, _) => None,
    };
    dir.create()?;
    let created = start_supervisor(&dir, globals, &bundle, pid_file, console_socket);
    if created.is_err() {
        // The supervisor has ended, and the sandbox with it: leave no
        // trace of a failed create.
        dir.remove()?;
    }
    created
}

/// Starts the supervisor and waits until it has recorded the container as
/// created (then writes the pid file) or has ended (then its error, from
/// the state it left, is `create`'s).
fn start_supervisor(
    dir: &ContainerDir,
    globals: &Globals,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
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
    if let Some(socket) = console_socket {
        // The program's streams are its terminal: the supervisor keeps
        // none of the engine's open (which would wait for their end).
        supervisor
            .arg("--console-socket")
            .arg(socket)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
    }
    let mut child = supervisor.spawn().map_err(|source| Error::Process {
        what: "start the supervisor of",
        id: dir.id.clone(),
        source,
    })?;
    let pid = child.id();
    log::debug!("container {}: supervisor {pid} builds it", dir.id);
    let not_created = |reason: String| Error::NotCreated {
        id: dir.id.clone(),
        reason,
    };
    let created = loop {
        if let Ok(state) = dir.load() {
            if state.status == Status::Created {
                break state;
            }
        }
        let ended = child.try_wait().map_err(|source| Error::Process {
            what: "wait for the supervisor of",
            id: dir.id.clone(),
            source,
        })?;
        if ended.is_some() {
            let reason = dir.load().ok().and_then(|state| state.hakoniwa.error);
            return Err(not_created(reason.unwrap_or_else(|| {
                "its supervisor ended before building it".to_string()
            })));
        }
        thread::sleep(POLL_INTERVAL);
    };
    if let Some(path) = pid_file {
        if let Err(e) = std::fs::write(path, pid.to_string()) {
            // A container that `create` did not report must not linger:
            // ended as `kill` ends a created one, so that the supervisor
            // removes its sandbox (cgroup included) before it exits.
            if let Some(held) = created.pid {
                let _ = signals::send(&dir.id, held, Signal::SIGKILL);
            }
            let _ = child.wait();
            return Err(Error::file("write", path, e));
        }
    }
    Ok(())
}

/// The hidden `supervise` verb: detached from `create`'s session, builds
/// the sandbox and waits for `start`, then holds it until its program
/// ends, and exits as `run` would: engines (conmon, containerd's shim) wait
/// for this process, the one in the pid file, and take its status for the
/// container's. A failure before `start` returns is recorded in the state
/// for `create` or `start` to report, not printed: this process's streams
/// are the container's.
pub fn supervise(
    root: &Root,
    bundle: &Path,
    id: &str,
    console_socket: Option<&Path>,
) -> Result<i32> {
    // A new session: the engine's terminal and process group do not reach
    // the supervisor once `create` has returned.
    nix::unistd::setsid().map_err(|e| Error::Process {
        what: "detach the supervisor of",
        id: id.to_string(),
        source: e.into(),
    })?;
    let dir = root.container(id)?;
    let holder = std::process::id();
    let Held {
        spec,
        mut fifo,
        signals,
        mut child,
        mut state,
    } = match hold(&dir, bundle, holder, console_socket) {
        Ok(held) => held,
        Err(error) => return Ok(failed(&dir, bundle, holder, &error)),
    };
    dir.save(&state)?;
    match wait_for_start(id, &mut fifo, &signals, &mut child)? {
        Wait::Start => {}
        Wait::Ended => return finish(&dir, &mut child, &mut state).map(|s| report(id, &s)),
        Wait::Closed => {
            log::debug!("container {id}: the start FIFO closed without a start");
            return Ok(0);
        }
    }
    if let Err(error) = launch(&dir, &spec, &mut child, &mut state) {
        // The sandbox ends with the `Child`; `start` prints why.
        drop(child);
        state.status = Status::Stopped;
        state.hakoniwa.error = Some(error_text(&error));
        dir.save(&state)?;
        log::debug!("container {id}: {}", one_line(&error));
        return Ok(EXIT_FAILURE);
    }
    let status = finish(&dir, &mut child, &mut state)?;
    log::debug!("container {id}: {}", status.reason);
    Ok(report(id, &status))
}

/// A created container, as its supervisor holds it.
struct Held {
    spec: Spec,
    /// The `start` FIFO's reading end.
    fifo: File,
    /// `SIGCHLD`, blocked: the sandbox's init is the supervisor's child.
    signals: SignalFd,
    child: Child,
    state: State,
}

/// The supervisor's part of `create`: reads the bundle, opens the FIFO,
/// watches for the sandbox's end, builds it.
fn hold(
    dir: &ContainerDir,
    bundle: &Path,
    holder: u32,
    console_socket: Option<&Path>,
) -> Result<Held> {
    let process_error = |what, e: Errno| Error::Process {
        what,
        id: dir.id.clone(),
        source: e.into(),
    };
    let (bundle, spec, mut program) = prepare(bundle)?;
    // Opened before the container is recorded, so that `start` finds a
    // reader; without blocking, since no writer is there yet.
    let fifo_path = dir.start_fifo();
    let fifo = OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(&fifo_path)
        .map_err(|e| Error::file("open", &fifo_path, e))?;
    // Blocked before the sandbox exists, so that its end is not missed
    // while the container waits for `start`.
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    sigchld
        .thread_block()
        .map_err(|e| process_error("block SIGCHLD in the supervisor of", e))?;
    let signals = SignalFd::with_flags(&sigchld, SfdFlags::SFD_CLOEXEC)
        .map_err(|e| process_error("watch the sandbox of", e))?;
    let (child, state) = build(dir, &bundle, &spec, &mut program, holder, console_socket)?;
    Ok(Held {
        spec,
        fifo,
        signals,
        child,
        state,
    })
}

/// Records why the build failed, for `create` to print; returns the exit
/// code.
fn failed(dir: &ContainerDir, bundle: &Path, holder: u32, error: &Error) -> i32 {
    let state = State {
        oci_version: OCI_VERSION.to_string(),
        id: dir.id.clone(),
        status: Status::Stopped,
        pid: None,
        bundle: bundle.to_path_buf(),
        annotations: Default::default(),
        hakoniwa: Private {
            holder,
            error: Some(error_text(error)),
            ..Private::default()
        },
    };
    log::debug!("container {}: {}", dir.id, one_line(error));
    let _ = dir.save(&state);
    EXIT_FAILURE
}

/// What woke a created container's supervisor.
enum Wait {
    /// `start` wrote to the FIFO.
    Start,
    /// The sandbox ended (killed while created).
    Ended,
    /// A writer closed the FIFO without writing.
    Closed,
}

fn wait_for_start(
    id: &str,
    fifo: &mut File,
    signals: &SignalFd,
    child: &mut Child,
) -> Result<Wait> {
    let failed = |e: Errno| Error::Process {
        what: "wait for the start of",
        id: id.to_string(),
        source: e.into(),
    };
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(failed(e)),
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        if ready(&fds[1]) {
            let _ = signals.read_signal();
            let ended = child.try_wait().map_err(|source| Error::Sandbox {
                id: id.to_string(),
                source,
            })?;
            if ended.is_some() {
                return Ok(Wait::Ended);
            }
        }
        if ready(&fds[0]) {
            let mut byte = [0u8; 1];
            match fifo.read(&mut byte) {
                Ok(0) => return Ok(Wait::Closed),
                Ok(_) => return Ok(Wait::Start),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::file("read", Path::new("the start FIFO"), e)),
            }
        }
    }
}

fn new_state(dir: &ContainerDir, bundle: &Path, spec: &Spec, holder: u32) -> State {
    State {
        oci_version: OCI_VERSION.to_string(),
        id: dir.id.clone(),
        status: Status::Creating,
        pid: None,
        bundle: bundle.to_path_buf(),
        annotations: annotations(spec),
        hakoniwa: Private {
            holder,
            poststop: hooks::given(spec, Kind::Poststop).to_vec(),
            ..Private::default()
        },
    }
}

/// Builds the sandbox with its program held and runs the hooks of
/// `create`: `prestart` and `createRuntime` on the host, then
/// `createContainer` in the container's namespaces. Returns the held
/// `Child` and the state to record as created; when a hook fails, the
/// sandbox is ended and the `poststop` hooks run. The program's terminal,
/// when it has one, goes to `console_socket` first.
fn build(
    dir: &ContainerDir,
    bundle: &Path,
    spec: &Spec,
    program: &mut Program,
    holder: u32,
    console_socket: Option<&Path>,
) -> Result<(Child, State)> {
    let mut state = new_state(dir, bundle, spec, holder);
    program.inherit_from_runtime()?;
    let mut child = program
        .command
        .spawn_held()
        .map_err(|source| Error::Sandbox {
            id: dir.id.clone(),
            source,
        })?;
    // Dropped once sent: the engine holds the master from here on. A
    // failure ends the sandbox with the `Child`.
    if let (Some(socket), Some(terminal)) = (console_socket, child.terminal.take()) {
        console::hand_over(socket, &terminal, program.console_size)?;
    }
    state.pid = child.program_id();
    log::debug!(
        "container {}: sandbox init {}, program {:?} held",
        dir.id,
        child.id(),
        state.pid
    );
    let hooked = [Kind::Prestart, Kind::CreateRuntime, Kind::CreateContainer]
        .into_iter()
        .try_for_each(|kind| hooks::run(kind, hooks::given(spec, kind), &state));
    if let Err(error) = hooked {
        drop(child);
        state.status = Status::Stopped;
        let _ = hooks::run(Kind::Poststop, hooks::given(spec, Kind::Poststop), &state);
        return Err(error);
    }
    state.status = Status::Created;
    Ok((child, state))
}

/// `start`'s part: the `startContainer` hooks in the container, the go,
/// the `poststart` hooks on the host; then the container is recorded as
/// running, its `pid` the sandbox's init.
fn launch(dir: &ContainerDir, spec: &Spec, child: &mut Child, state: &mut State) -> Result<()> {
    hooks::run(
        Kind::StartContainer,
        hooks::given(spec, Kind::StartContainer),
        state,
    )?;
    child.start().map_err(|source| Error::Sandbox {
        id: dir.id.clone(),
        source,
    })?;
    state.status = Status::Running;
    state.pid = Some(child.id());
    state.hakoniwa.cgroup = child.cgroup().as_ref().map(state::CgroupRecord::new);
    state.hakoniwa.started = true;
    hooks::run(Kind::Poststart, hooks::given(spec, Kind::Poststart), state)?;
    dir.save(state)
}

/// Waits for the sandbox to end and records how.
fn finish(dir: &ContainerDir, child: &mut Child, state: &mut State) -> Result<ExitStatus> {
    let status = child.wait().map_err(|source| Error::Sandbox {
        id: dir.id.clone(),
        source,
    })?;
    state.status = Status::Stopped;
    state.hakoniwa.exit_code = Some(status.code);
    if let ExitKind::SetupFailed(error) = &status.kind {
        state.hakoniwa.error = Some(error.to_string());
    }
    dir.save(state)?;
    Ok(status)
}

/// `start ID`: wakes the supervisor, then waits until it has let the
/// program go (or could not).
pub fn start(root: &Root, id: &str) -> Result<()> {
    let dir = root.container(id)?;
    let state = dir.load()?;
    if state.status != Status::Created {
        return Err(wrong_status(&state, "start"));
    }
    let fifo = dir.start_fifo();
    // The supervisor opened the FIFO before recording the container as
    // created; ENXIO says it has closed it since (it is gone).
    let mut writer = OpenOptions::new()
        .write(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(&fifo)
        .map_err(|e| match e.raw_os_error() {
            Some(errno) if errno == Errno::ENXIO as i32 => Error::NotStarted {
                id: id.to_string(),
                reason: "its supervisor is gone".to_string(),
            },
            _ => Error::file("open", &fifo, e),
        })?;
    writer
        .write_all(b"s")
        .map_err(|e| Error::file("write to", &fifo, e))?;
    drop(writer);
    // The supervisor's hooks take what they take (each bounded by its
    // timeout): wait as long as it lives.
    loop {
        let state = dir.load()?;
        let holder = state.hakoniwa.holder;
        if let Some(started) = started(id, state) {
            return started;
        }
        if !state::is_alive(holder) {
            // It saves its last word before it exits: read once more.
            return started(id, dir.load()?).unwrap_or_else(|| {
                Err(Error::NotStarted {
                    id: id.to_string(),
                    reason: "its supervisor ended before starting it".to_string(),
                })
            });
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// What `start` returns for a container in `state`, once it says.
fn started(id: &str, state: State) -> Option<Result<()>> {
    match state.status {
        Status::Running | Status::Paused => Some(Ok(())),
        // Let go and already ended: started. How it ended — a program that
        // could not be executed — is its exit status (126/127) and
        // message, as for a program that ran: an engine waits for it and
        // deletes the container as usual.
        Status::Stopped if state.hakoniwa.started => Some(Ok(())),
        Status::Stopped if state.hakoniwa.error.is_some() => Some(Err(Error::NotStarted {
            id: id.to_string(),
            reason: state.hakoniwa.error.unwrap_or_default(),
        })),
        _ => None,
    }
}

/// `state ID`: the state as JSON.
pub fn state(root: &Root, id: &str) -> Result<String> {
    let state = root.container(id)?.load()?;
    Ok(serde_json::to_string_pretty(&state).expect("a state serializes"))
}

/// `ps ID`: the host pids of a running container's processes (its init
/// and every descendant, and in a pod's pid namespace those its program
/// orphaned); none while created or once stopped.
pub fn ps(root: &Root, id: &str) -> Result<Vec<u32>> {
    let state = root.container(id)?.load()?;
    Ok(match (state.status, state.pid) {
        (Status::Running | Status::Paused, Some(init)) => {
            let mut pids = vec![init];
            pids.extend(processes::members(init, state.hakoniwa.cgroup.as_ref()));
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
        Err(Error::File { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        removed => removed?,
    }
    // After the container is deleted, before `delete` returns; a failure
    // is only logged.
    let mut state = state;
    state.status = Status::Stopped;
    hooks::run(Kind::Poststop, &state.hakoniwa.poststop, &state)
}

/// Reads and maps the bundle: every configuration error surfaces here,
/// naming the field, before anything exists.
fn prepare(bundle: &Path) -> Result<(PathBuf, Spec, Program)> {
    let bundle = std::path::absolute(bundle).map_err(|e| Error::file("resolve", bundle, e))?;
    let invalid = |source| Error::Bundle {
        bundle: bundle.clone(),
        source,
    };
    let spec = spec::load(&bundle).map_err(invalid)?;
    let program = lower::lower(&spec, &bundle).map_err(invalid)?;
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
        print_setup_failure(id, error);
    }
    status.code
}

fn print_setup_failure(id: &str, error: &hakoniwa::SetupError) {
    log::error!("container {id}: {error}");
    eprintln!("hakoniwa-oci: container {id}: {error}");
    if let Some(hint) = error.hint() {
        eprintln!("hint: {hint}");
    }
}

/// What the state file says about a failure: for the sandbox's, the
/// library's message (with its hint); else the error and its causes.
fn error_text(error: &Error) -> String {
    match error {
        Error::Sandbox { source, .. } => match source.hint() {
            Some(hint) => format!("{}; hint: {hint}", one_line(source)),
            None => one_line(source),
        },
        other => one_line(other),
    }
}

pub fn wrong_status(state: &State, action: &'static str) -> Error {
    Error::WrongStatus {
        id: state.id.clone(),
        status: state.status,
        action,
    }
}
