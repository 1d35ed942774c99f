//! How a sandboxed run ended.

use std::fmt;
use std::io;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::cgroup::CgroupUsage;
use crate::landlock::Enforcement;
use crate::metrics::{ProcPidStatus, Rusage};

/// How the sandbox ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// The program exited with this code.
    Exited(i32),
    /// The program (or, when it was killed from outside, the whole sandbox)
    /// was killed by this signal.
    Signaled(i32),
    /// The wall-time limit was reached and the whole sandbox killed.
    TimedOut,
    /// The sandbox could not be set up, or the program not executed.
    SetupFailed(SetupError),
}

/// A limit that ended the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The wall-time limit ([`Command::wait_timeout`](crate::Command::wait_timeout)).
    WallTime,
    /// The CPU-time limit (`Rlimit::Cpu`): SIGXCPU, or SIGKILL at the hard
    /// limit.
    CpuTime,
    /// The file-size limit (`Rlimit::Fsize`): SIGXFSZ.
    FileSize,
    /// The cgroup's memory limit ([`Cgroup::memory`](crate::Cgroup::memory)):
    /// the kernel's OOM killer sent the SIGKILL.
    Memory,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::WallTime => "wall-time",
            Limit::CpuTime => "CPU-time",
            Limit::FileSize => "file-size",
            Limit::Memory => "memory",
        })
    }
}

/// A step of the sandbox's setup that failed inside the new namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupError {
    step: String,
    errno: i32,
    program: ProgramFailure,
    hint: Option<String>,
}

/// Whether a setup failure was about finding or executing the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProgramFailure {
    /// Some other step failed.
    None,
    /// `execve` failed: the program does not exist in the sandbox.
    NotFound,
    /// `execve` failed: the program exists but cannot be executed.
    NotExecutable,
}

impl SetupError {
    pub(crate) fn new(step: String, errno: i32, program: ProgramFailure) -> Self {
        Self {
            step,
            errno,
            program,
            hint: None,
        }
    }

    /// The same error, with a fix the environment suggests.
    pub(crate) fn with_hint(self, hint: Option<String>) -> Self {
        Self { hint, ..self }
    }

    /// How to fix the environment, when the failure points at it (a
    /// refused mount under AppArmor's user-namespace restriction, a
    /// masked `/proc` in a container).
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// What failed, e.g. "bind-mount /nope to /data".
    pub fn step(&self) -> &str {
        &self.step
    }

    /// Why, as an operating-system error.
    pub fn error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }

    /// The program was not found in the sandbox.
    pub fn is_program_not_found(&self) -> bool {
        self.program == ProgramFailure::NotFound
    }

    /// The program was found but could not be executed.
    pub fn is_program_not_executable(&self) -> bool {
        self.program == ProgramFailure::NotExecutable
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = nix::errno::Errno::from_raw(self.errno).desc();
        write!(f, "failed to {}: {why}", self.step)
    }
}

impl std::error::Error for SetupError {}

/// How a sandboxed command ended.
///
/// `kind` says what happened; `code`, `reason`, `exit_code` and `limit` are
/// derived from it, for callers of hakoniwa 1.x and for a CLI's exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    /// What the `hakoniwa` command exits with: the program's code, 128+N
    /// for signal N (137 for a wall-time kill),
    /// [`SETUP_FAILED`](Self::SETUP_FAILED),
    /// [`NOT_EXECUTABLE`](Self::NOT_EXECUTABLE) or
    /// [`NOT_FOUND`](Self::NOT_FOUND).
    pub code: i32,
    /// A sentence saying what happened.
    pub reason: String,
    /// The program's exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// What happened.
    pub kind: ExitKind,
    /// The limit that ended the run, if one did.
    pub limit: Option<Limit>,
    /// What the program used, when it ran.
    pub rusage: Option<Rusage>,
    /// The program's peak memory at exit, with
    /// [`Runctl::GetProcPidStatus`](crate::Runctl::GetProcPidStatus).
    pub proc_pid_status: Option<ProcPidStatus>,
    /// What landlock enforced, when the container has a ruleset: all of
    /// it, or under best effort what the kernel could.
    pub landlock: Option<Enforcement>,
    /// What the whole sandbox used, as its cgroup counted it, when it had
    /// one ([`Container::cgroup`](crate::Container::cgroup)).
    pub cgroup: Option<CgroupUsage>,
}

/// How far `wait4`'s CPU time may fall short of the time the kernel compared
/// with `RLIMIT_CPU`.
const CPU_ACCOUNTING_SLACK: Duration = Duration::from_millis(50);

/// What [`ExitStatus::new`] needs to know about the run's limits.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    pub wall_time: Option<Duration>,
    /// The soft CPU-time limit, in seconds.
    pub cpu: Option<u64>,
    /// The cgroup's memory limit, in bytes.
    pub memory: Option<u64>,
    /// Whether the OOM killer killed a process of the sandbox's cgroup.
    pub oom_killed: bool,
}

impl ExitStatus {
    /// `code` when the sandbox could not be set up.
    pub const SETUP_FAILED: i32 = 125;
    /// `code` when the program was found but could not be executed.
    pub const NOT_EXECUTABLE: i32 = 126;
    /// `code` when the program was not found.
    pub const NOT_FOUND: i32 = 127;

    pub(crate) fn new(
        kind: ExitKind,
        rusage: Option<Rusage>,
        program: &str,
        limits: Limits,
    ) -> Self {
        let limit = match kind {
            ExitKind::TimedOut => Some(Limit::WallTime),
            ExitKind::Signaled(libc::SIGXCPU) => Some(Limit::CpuTime),
            ExitKind::Signaled(libc::SIGKILL) if limits.oom_killed => Some(Limit::Memory),
            ExitKind::Signaled(libc::SIGKILL) => {
                // The kernel sends SIGKILL at the hard CPU limit (at once when
                // soft and hard are equal). The usage wait4 reports can fall
                // a few scheduler ticks short of the time the kernel checked.
                let used = rusage.map(|usage| usage.cpu_time() + CPU_ACCOUNTING_SLACK);
                match (limits.cpu, used) {
                    (Some(cpu), Some(used)) if used >= Duration::from_secs(cpu) => {
                        Some(Limit::CpuTime)
                    }
                    _ => None,
                }
            }
            ExitKind::Signaled(libc::SIGXFSZ) => Some(Limit::FileSize),
            _ => None,
        };
        let (code, mut reason, exit_code) = match &kind {
            ExitKind::Exited(code) => (
                *code,
                format!("{program} exited with code {code}"),
                Some(*code),
            ),
            ExitKind::Signaled(signal) => (
                128 + signal,
                format!("{program} was killed by {}", signal_name(*signal)),
                None,
            ),
            ExitKind::TimedOut => (
                128 + libc::SIGKILL,
                format!("{program} was killed by SIGKILL"),
                None,
            ),
            ExitKind::SetupFailed(err) => {
                let code = if err.is_program_not_found() {
                    Self::NOT_FOUND
                } else if err.is_program_not_executable() {
                    Self::NOT_EXECUTABLE
                } else {
                    Self::SETUP_FAILED
                };
                (code, err.to_string(), None)
            }
        };
        match (limit, limits) {
            (
                Some(Limit::WallTime),
                Limits {
                    wall_time: Some(wall_time),
                    ..
                },
            ) => {
                reason += &format!(": wall-time limit of {wall_time:?} reached");
            }
            (Some(Limit::CpuTime), Limits { cpu: Some(cpu), .. }) => {
                reason += &format!(": CPU-time limit of {cpu}s reached");
            }
            (
                Some(Limit::Memory),
                Limits {
                    memory: Some(bytes),
                    ..
                },
            ) => {
                reason += &format!(": out of memory, memory limit of {bytes} bytes reached");
            }
            (Some(limit), _) => reason += &format!(": {limit} limit reached"),
            (None, _) => {}
        }
        Self {
            code,
            reason,
            exit_code,
            kind,
            limit,
            rusage,
            landlock: None,
            proc_pid_status: None,
            cgroup: None,
        }
    }

    /// Whether the program exited with code 0.
    pub fn success(&self) -> bool {
        self.kind == ExitKind::Exited(0)
    }

    /// The signal that killed the program, if one did (SIGKILL for a
    /// wall-time kill).
    pub fn signal(&self) -> Option<i32> {
        match self.kind {
            ExitKind::Signaled(signal) => Some(signal),
            ExitKind::TimedOut => Some(libc::SIGKILL),
            _ => None,
        }
    }

    /// The setup failure, if the program never ran.
    pub fn setup_error(&self) -> Option<&SetupError> {
        match &self.kind {
            ExitKind::SetupFailed(err) => Some(err),
            _ => None,
        }
    }
}

fn signal_name(signal: i32) -> String {
    Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(kind: ExitKind) -> ExitStatus {
        ExitStatus::new(kind, None, "x", Limits::default())
    }

    #[test]
    fn codes_follow_the_shell_convention() {
        assert_eq!(status(ExitKind::Exited(3)).code, 3);
        let killed = status(ExitKind::Signaled(9));
        assert_eq!(
            (killed.code, killed.reason.as_str()),
            (137, "x was killed by SIGKILL")
        );
        let missing = SetupError::new("execute x".into(), libc::ENOENT, ProgramFailure::NotFound);
        assert_eq!(status(ExitKind::SetupFailed(missing)).code, 127);
        let mount = SetupError::new(
            "bind-mount /a to /b".into(),
            libc::EPERM,
            ProgramFailure::None,
        );
        let status = status(ExitKind::SetupFailed(mount));
        assert_eq!(status.code, 125);
        assert_eq!(
            status.reason,
            "failed to bind-mount /a to /b: Operation not permitted"
        );
    }

    #[test]
    fn the_limit_that_ended_the_run_is_named() {
        let limits = Limits {
            wall_time: Some(Duration::from_millis(1500)),
            cpu: Some(1),
            ..Limits::default()
        };
        let timed_out = ExitStatus::new(ExitKind::TimedOut, None, "x", limits);
        assert_eq!(
            (timed_out.code, timed_out.limit),
            (137, Some(Limit::WallTime))
        );
        assert_eq!(
            timed_out.reason,
            "x was killed by SIGKILL: wall-time limit of 1.5s reached"
        );
        let busy = Rusage {
            user_time: Duration::from_millis(1001),
            ..Rusage::default()
        };
        let killed = ExitStatus::new(ExitKind::Signaled(9), Some(busy), "x", limits);
        assert_eq!(killed.limit, Some(Limit::CpuTime));
        let killed = ExitStatus::new(ExitKind::Signaled(9), Some(Rusage::default()), "x", limits);
        assert_eq!(killed.limit, None);
        let big = ExitStatus::new(ExitKind::Signaled(libc::SIGXFSZ), None, "x", limits);
        assert_eq!(big.limit, Some(Limit::FileSize));
        let oom = Limits {
            memory: Some(256 << 20),
            oom_killed: true,
            ..limits
        };
        let killed = ExitStatus::new(ExitKind::Signaled(9), None, "x", oom);
        assert_eq!((killed.code, killed.limit), (137, Some(Limit::Memory)));
        assert_eq!(
            killed.reason,
            "x was killed by SIGKILL: out of memory, memory limit of 268435456 bytes reached"
        );
        let exited = ExitStatus::new(ExitKind::Exited(1), None, "x", oom);
        assert_eq!(exited.limit, None, "an OOM kill the program survived");
    }
}
