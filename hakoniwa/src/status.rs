//! How a sandboxed run ended.

use std::fmt;
use std::io;

use nix::sys::signal::Signal;

/// How the sandbox ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// The program exited with this code.
    Exited(i32),
    /// The program (or, when it was killed from outside, the whole sandbox)
    /// was killed by this signal.
    Signaled(i32),
    /// The sandbox could not be set up, or the program not executed.
    SetupFailed(SetupError),
}

/// A step of the sandbox's setup that failed inside the new namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupError {
    step: String,
    errno: i32,
    program: ProgramFailure,
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
        }
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
/// `kind` says what happened; `code`, `reason` and `exit_code` are derived
/// from it, for callers of hakoniwa 1.x and for a CLI's exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    /// What the `hakoniwa` command exits with: the program's code, 128+N
    /// for signal N, [`SETUP_FAILED`](Self::SETUP_FAILED),
    /// [`NOT_EXECUTABLE`](Self::NOT_EXECUTABLE) or
    /// [`NOT_FOUND`](Self::NOT_FOUND).
    pub code: i32,
    /// A sentence saying what happened.
    pub reason: String,
    /// The program's exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// What happened.
    pub kind: ExitKind,
}

impl ExitStatus {
    /// `code` when the sandbox could not be set up.
    pub const SETUP_FAILED: i32 = 125;
    /// `code` when the program was found but could not be executed.
    pub const NOT_EXECUTABLE: i32 = 126;
    /// `code` when the program was not found.
    pub const NOT_FOUND: i32 = 127;

    pub(crate) fn new(kind: ExitKind, program: &str) -> Self {
        let (code, reason, exit_code) = match &kind {
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
        Self {
            code,
            reason,
            exit_code,
            kind,
        }
    }

    /// Whether the program exited with code 0.
    pub fn success(&self) -> bool {
        self.kind == ExitKind::Exited(0)
    }

    /// The signal that killed the program, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.kind {
            ExitKind::Signaled(signal) => Some(signal),
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

    #[test]
    fn codes_follow_the_shell_convention() {
        assert_eq!(ExitStatus::new(ExitKind::Exited(3), "x").code, 3);
        let killed = ExitStatus::new(ExitKind::Signaled(9), "x");
        assert_eq!(
            (killed.code, killed.reason.as_str()),
            (137, "x was killed by SIGKILL")
        );
        let missing = SetupError::new("execute x".into(), libc::ENOENT, ProgramFailure::NotFound);
        assert_eq!(
            ExitStatus::new(ExitKind::SetupFailed(missing), "x").code,
            127
        );
        let mount = SetupError::new(
            "bind-mount /a to /b".into(),
            libc::EPERM,
            ProgramFailure::None,
        );
        let status = ExitStatus::new(ExitKind::SetupFailed(mount), "x");
        assert_eq!(status.code, 125);
        assert_eq!(
            status.reason,
            "failed to bind-mount /a to /b: Operation not permitted"
        );
    }
}
