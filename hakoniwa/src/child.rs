//! `Child`: a running sandbox, as the caller holds it.

use std::fmt;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::cgroup::live::SandboxCgroup;
use crate::cgroup::CgroupDirs;
use crate::error::{io_error, Error, Result};
use crate::metrics::{ProcPidStatus, Rusage};
use crate::network::pasta::PastaProcess;
use crate::plan::Descriptions;
use crate::runtime::channel::{Message, ParentEnd, Queued};
use crate::runtime::Spawned;
use crate::status::{ExitKind, ExitStatus, Limits};
use crate::sys;
use crate::terminal::Terminal;

/// A running sandbox, or one whose program is held
/// ([`Command::spawn_held`](crate::Command::spawn_held)).
///
/// Dropping a `Child` that has not been waited for kills the sandbox and
/// reaps it: no process of a sandbox outlives its handle.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    channel: ParentEnd,
    /// Whether the program waits for [`start`](Self::start).
    held: bool,
    /// The held program's host pid, once it said it is held.
    program: Option<Pid>,
    descriptions: Descriptions,
    /// What init has reported so far.
    report: Report,
    status: Option<ExitStatus>,
    /// Whether init has been reaped. It may still be exiting (releasing
    /// the sandbox's namespaces) when the status is known: `drop` reaps it
    /// then.
    init_reaped: bool,
    /// pasta, ended when the sandbox has ended (or when dropped).
    pasta: Option<PastaProcess>,
    /// The sandbox's cgroup, read and removed when the sandbox has ended
    /// (or when dropped).
    cgroup: Option<SandboxCgroup>,
    /// The program's standard input, when piped.
    pub stdin: Option<io::PipeWriter>,
    /// The program's standard output, when piped.
    pub stdout: Option<io::PipeReader>,
    /// The program's standard error, when piped.
    pub stderr: Option<io::PipeReader>,
    /// The program's terminal, when it was given one
    /// ([`Command::terminal`](crate::Command::terminal)).
    pub terminal: Option<Terminal>,
}

/// What a finished command printed, and how it ended.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: Vec<u8>,
    /// Everything it wrote to standard error.
    pub stderr: Vec<u8>,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field("stdout", &String::from_utf8_lossy(&self.stdout))
            .field("stderr", &String::from_utf8_lossy(&self.stderr))
            .finish()
    }
}

/// What the sandbox reported before it ended.
#[derive(Debug, Default)]
struct Report {
    failure: Option<(crate::runtime::channel::Stage, u32, i32)>,
    /// Wait status, whether init killed it for the wall time, usage.
    program: Option<(i32, bool, Rusage)>,
    /// Peak memory, when it was asked for and read.
    proc_status: Option<ProcPidStatus>,
}

impl Child {
    pub(crate) fn new(
        spawned: Spawned,
        held: bool,
        descriptions: Descriptions,
        stdin: Option<io::PipeWriter>,
        stdout: Option<io::PipeReader>,
        stderr: Option<io::PipeReader>,
    ) -> Self {
        Self {
            pid: spawned.pid,
            channel: spawned.channel,
            held,
            program: None,
            descriptions,
            report: Report::default(),
            status: None,
            init_reaped: false,
            pasta: spawned.pasta,
            cgroup: spawned.cgroup,
            stdin,
            stdout,
            stderr,
            terminal: None,
        }
    }

    /// The host pid of the sandbox's init, the process that signals reach
    /// the program through.
    pub fn id(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// The sandbox's cgroup while it runs, when it has one
    /// ([`Container::cgroup`](crate::Container::cgroup)): to freeze it or
    /// change its limits, from here or from another process.
    pub fn cgroup(&self) -> Option<CgroupDirs> {
        self.cgroup.as_ref().map(SandboxCgroup::dirs)
    }

    /// The host pid of the program's process, for a sandbox spawned held
    /// ([`Command::spawn_held`](crate::Command::spawn_held)): the process
    /// that waits, in every namespace of the sandbox, and after
    /// [`start`](Self::start) the program itself. `None` for a sandbox
    /// spawned to run.
    pub fn program_id(&self) -> Option<u32> {
        self.program.map(|pid| pid.as_raw() as u32)
    }

    /// Lets a held program go on: its seccomp filter, then `execve`. How
    /// that ends comes from [`wait`](Self::wait), as for a program spawned
    /// to run. [`Error::NotHeld`] if it is not held (or has ended).
    pub fn start(&mut self) -> Result<()> {
        if !self.held || self.status.is_some() {
            return Err(Error::NotHeld);
        }
        self.channel.start().map_err(Error::Channel)?;
        self.held = false;
        Ok(())
    }

    /// Kills the whole sandbox (SIGKILL to its init, which takes every
    /// process of its pid namespace along, and to a held program, which
    /// without a pid namespace would otherwise wait on; and to every
    /// process of its cgroup, when it has one — in a pid namespace joined
    /// by path, that is what reaches the program and what it started).
    /// Does nothing if it has already been waited for.
    pub fn kill(&mut self) -> Result<()> {
        self.kill_held_program();
        if let (None, Some(cgroup)) = (&self.status, &self.cgroup) {
            cgroup.kill();
        }
        self.signal(Signal::SIGKILL as i32)
    }

    fn kill_held_program(&self) {
        if let (true, None, Some(program)) = (self.held, &self.status, self.program) {
            let _ = signal::kill(program, Signal::SIGKILL);
        }
    }

    /// Waits until a program spawned held says it is held, and takes its
    /// pid; a sandbox that ended first is the error.
    pub(crate) fn wait_until_held(&mut self) -> Result<()> {
        let Some(sender) = self.receive_until(|message| message == Message::ProgramHeld)? else {
            let status = self.status.clone().expect("concluded when init ended");
            return Err(match status.kind {
                ExitKind::SetupFailed(error) => Error::Setup(error),
                _ => Error::EndedBeforeHold {
                    reason: status.reason,
                },
            });
        };
        let Some(pid) = sender.filter(|pid| *pid > 0) else {
            return Err(Error::Channel(io::Error::new(
                io::ErrorKind::InvalidData,
                "the held program's pid did not come with its message",
            )));
        };
        self.program = Some(Pid::from_raw(pid));
        Ok(())
    }

    /// Waits until init has sent the program's terminal, and takes it. A
    /// sandbox that ended first has its status ready for
    /// [`wait`](Self::wait), as a failure inside the sandbox is told for a
    /// program spawned to run.
    pub(crate) fn wait_for_terminal(&mut self) -> Result<()> {
        self.receive_until(|message| matches!(message, Message::Terminal { .. }))?;
        Ok(())
    }

    /// Reads init's reports until `awaited` picks one, taking the program's
    /// terminal when it comes, and returns its sender's pid (if the kernel
    /// attached one). `None` if init ended first: the sandbox's status is
    /// then concluded from the reports and kept for [`wait`](Self::wait).
    fn receive_until(&mut self, awaited: impl Fn(Message) -> bool) -> Result<Option<Option<i32>>> {
        while let Some(received) = self
            .channel
            .recv_with_attachments()
            .map_err(Error::Channel)?
        {
            let came = awaited(received.message);
            match received.message {
                Message::Terminal { number } => {
                    self.terminal = Some(terminal_from(received.fd, number)?);
                }
                message if !came => self.report.add(message)?,
                _ => {}
            }
            if came {
                return Ok(Some(received.sender));
            }
        }
        // Init ended: the report is complete.
        let init_status = self.reap_init()?;
        self.conclude(init_status);
        Ok(None)
    }

    /// Sends `signal` to the sandbox's init, which passes it on to the
    /// program (SIGKILL and SIGSTOP act on the whole sandbox instead).
    pub fn signal(&mut self, signal: i32) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        let signal =
            Signal::try_from(signal).map_err(|errno| self.process_error("signal", errno))?;
        match signal::kill(self.pid, signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(errno) => Err(self.process_error("signal", errno)),
        }
    }

    /// Waits for the sandbox to end. Closes the program's standard input
    /// first, so a program reading it sees end of file.
    ///
    /// Returns when the program has ended and nothing it started still
    /// runs. In a pid namespace of the sandbox's own, that is as soon as
    /// init reports, while init itself may still be releasing the
    /// namespaces: it is reaped when the `Child` is dropped.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = &self.status {
            return Ok(status.clone());
        }
        drop(self.stdin.take());
        // The channel closes when init exits: every report is in by then.
        while let Some(message) = self.channel.recv().map_err(Error::Channel)? {
            self.report.add(message)?;
            if self.ended_with_report() {
                return Ok(self.conclude(0));
            }
        }
        let init_status = self.reap_init()?;
        Ok(self.conclude(init_status))
    }

    /// The status if the sandbox has ended, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(status) = &self.status {
            return Ok(Some(status.clone()));
        }
        loop {
            match self.channel.try_recv().map_err(Error::Channel)? {
                Queued::Message(message) => {
                    self.report.add(message)?;
                    if self.ended_with_report() {
                        return Ok(Some(self.conclude(0)));
                    }
                }
                Queued::Empty => break,
                // Init has closed its end by exiting: it is reaped at once.
                Queued::Closed => {
                    let init_status = self.reap_init()?;
                    return Ok(Some(self.conclude(init_status)));
                }
            }
        }
        let init_status =
            match sys::try_wait_child(self.pid).map_err(|e| self.process_error("wait for", e))? {
                Some(status) => status,
                None => return Ok(None),
            };
        self.init_reaped = true;
        while let Queued::Message(message) = self.channel.try_recv().map_err(Error::Channel)? {
            self.report.add(message)?;
        }
        Ok(Some(self.conclude(init_status)))
    }

    /// Waits for the sandbox to end, collecting what the program wrote to
    /// its piped standard output and error. The streams are read while the
    /// sandbox is waited for, not to their end first: in a pid namespace
    /// joined by path, what the program left running holds them open until
    /// the end of the sandbox kills its cgroup.
    pub fn wait_with_output(&mut self) -> Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (status, streams) = std::thread::scope(|scope| {
            let streams = scope.spawn(|| read_both(stdout, stderr));
            let status = self.wait();
            let streams = streams
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("output reader panicked")));
            (status, streams)
        });
        let (stdout, stderr) = streams.map_err(|source| Error::Stdio {
            stream: "output",
            source,
        })?;
        Ok(Output {
            status: status?,
            stdout,
            stderr,
        })
    }

    /// Whether the report says the sandbox has ended, with no need to wait
    /// for init: its program's status is in, and init has killed and reaped
    /// every other process of its pid namespace before sending it. Not when
    /// something must wait for init's namespaces to be gone: a cgroup to
    /// read and remove, mount points in host directories to remove.
    fn ended_with_report(&self) -> bool {
        self.report.program.is_some()
            && self.report.failure.is_none()
            && self.descriptions.pid_namespace
            && self.cgroup.is_none()
            && self.descriptions.leftovers.is_empty()
    }

    /// Waits for init to end and reaps it: its raw wait status.
    fn reap_init(&mut self) -> Result<i32> {
        let init_status =
            sys::wait_child(self.pid).map_err(|e| self.process_error("wait for", e))?;
        self.init_reaped = true;
        Ok(init_status)
    }

    /// The status from the report (and from init's own wait status, used
    /// only when init was killed before it could report).
    fn conclude(&mut self, init_status: i32) -> ExitStatus {
        self.end_pasta();
        let report = std::mem::take(&mut self.report);
        let proc_status = report.proc_status;
        let (kind, usage) = match (report.failure, report.program) {
            (Some((stage, index, errno)), _) => {
                let err = self.descriptions.setup_error(stage, index, errno);
                (ExitKind::SetupFailed(err), None)
            }
            (None, Some((_, true, usage))) => (ExitKind::TimedOut, Some(usage)),
            (None, Some((wait_status, false, usage))) => (decode(wait_status), Some(usage)),
            // Without a report, init itself was killed (by `kill`, or from
            // outside) before the program ended.
            (None, None) => (decode(init_status), None),
        };
        // Every process of the sandbox is gone with init: what is left in
        // the cgroup (nothing, unless something escaped) is killed.
        let cgroup = self.cgroup.take().map(SandboxCgroup::finish);
        let limits = Limits {
            wall_time: self.descriptions.wall_time,
            cpu: self.descriptions.cpu_limit(),
            memory: self.descriptions.memory_limit,
            oom_killed: cgroup
                .as_ref()
                .and_then(|usage| usage.oom_kills)
                .is_some_and(|kills| kills > 0),
        };
        remove_leftovers(&self.descriptions.leftovers);
        let mut status = ExitStatus::new(kind, usage, &self.descriptions.program, limits);
        status.landlock = self.descriptions.landlock_enforcement.clone();
        status.proc_pid_status = proc_status;
        status.cgroup = cgroup;
        self.status = Some(status.clone());
        status
    }

    /// The sandbox has ended: pasta has nothing left to connect.
    fn end_pasta(&mut self) {
        if let Some(pasta) = self.pasta.take() {
            pasta.end();
        }
    }

    fn process_error(&self, action: &'static str, errno: Errno) -> Error {
        Error::Process {
            action,
            pid: self.pid.as_raw(),
            source: io_error(errno),
        }
    }
}

/// The descriptor through which init reports: readable when it has
/// something to say or has ended. Poll it (or register it with an event
/// loop) beside others, then call [`Child::try_wait`]; reading it is for
/// the `Child` alone.
impl AsFd for Child {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.channel.as_fd()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.kill_held_program();
            let _ = signal::kill(self.pid, Signal::SIGKILL);
        }
        if !self.init_reaped {
            let _ = sys::wait_child(self.pid);
        }
    }
}

impl Report {
    fn add(&mut self, message: Message) -> Result<()> {
        match message {
            // The first failure is the cause; later ones are consequences.
            Message::SetupFailed {
                stage,
                index,
                errno,
            } => {
                self.failure.get_or_insert((stage, index, errno));
            }
            Message::ProgramExited {
                wait_status,
                timed_out,
                usage,
                proc_status,
            } => {
                self.program = Some((wait_status, timed_out, usage));
                self.proc_status = proc_status;
            }
            // The parent's own messages never come back; a held program
            // says so once, to `wait_until_held`.
            Message::IdMapsWritten
            | Message::NetworkReady
            | Message::Start
            | Message::ProgramHeld
            | Message::Terminal { .. } => {
                return Err(Error::Channel(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected message from the sandbox: {message:?}"),
                )))
            }
        }
        Ok(())
    }
}

/// The signals a process that stands in for the program (a launcher such
/// as `hakoniwa run`, an OCI runtime's `run`) passes on to the sandbox
/// with [`Child::signal`]: those that would otherwise end it, and the user
/// signals. Init hands each to the program (and `SIGWINCH` too).
pub const PASSED_ON_SIGNALS: [i32; 6] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The terminal init announced, with the master that came attached.
fn terminal_from(master: Option<OwnedFd>, number: u32) -> Result<Terminal> {
    let master = master.ok_or_else(|| {
        Error::Channel(io::Error::new(
            io::ErrorKind::InvalidData,
            "the terminal's master did not come with its message",
        ))
    })?;
    Ok(Terminal::new(master, number))
}

/// Removes what the setup had to create in host directories (a writable
/// root directory, a writable bind), newest first, now that nothing is
/// mounted on them: directories and files only if empty, and links.
fn remove_leftovers(leftovers: &[std::path::PathBuf]) {
    for path in leftovers.iter().rev() {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            continue;
        };
        let removed = if meta.is_dir() {
            std::fs::remove_dir(path)
        } else if meta.is_symlink() || (meta.is_file() && meta.len() == 0) {
            std::fs::remove_file(path)
        } else {
            continue;
        };
        if let Err(err) = removed {
            log::warn!("could not remove the mount point {}: {err}", path.display());
        }
    }
}

/// Decodes a raw `waitpid` status.
fn decode(wait_status: i32) -> ExitKind {
    if libc::WIFSIGNALED(wait_status) {
        ExitKind::Signaled(libc::WTERMSIG(wait_status))
    } else {
        ExitKind::Exited(libc::WEXITSTATUS(wait_status))
    }
}

/// Reads two pipes to their ends at once, so that neither fills up while
/// the other is read.
fn read_both(
    stdout: Option<io::PipeReader>,
    stderr: Option<io::PipeReader>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    fn read_all(pipe: Option<io::PipeReader>) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut buf)?;
        }
        Ok(buf)
    }
    std::thread::scope(|scope| {
        let err = scope.spawn(|| read_all(stderr));
        let out = read_all(stdout)?;
        let err = err
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("stderr reader panicked")))?;
        Ok((out, err))
    })
}
