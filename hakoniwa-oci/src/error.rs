//! One error per operation, naming its subject: the container, the file,
//! the field of `config.json`.

use std::io;
use std::path::{Path, PathBuf};

use crate::state::Status;

/// What `hakoniwa-oci` exits with when it fails before or around the
/// program (the program's own status is passed through by `run`).
pub const EXIT_FAILURE: i32 = 1;

/// A `config.json` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file cannot be read.
    #[error("failed to read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A field is missing, malformed, or asks for what is not supported.
    #[error("{}{field}: {reason}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Field {
        file: Option<PathBuf>,
        field: String,
        reason: String,
    },
}

impl SpecError {
    /// A problem with `field` (a path like `mounts[2].type`).
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError::Field {
            file: None,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, naming the file it is in.
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            SpecError::Field { field, reason, .. } => SpecError::Field {
                file: Some(path.to_path_buf()),
                field,
                reason,
            },
            read => read,
        }
    }
}

/// A command that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid bundle {}", bundle.display())]
    Bundle {
        bundle: PathBuf,
        #[source]
        source: SpecError,
    },
    #[error("invalid container id {0:?}: use letters, digits and `_ . + -`")]
    InvalidId(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {id} is {status}: cannot {action} it")]
    WrongStatus {
        id: String,
        status: Status,
        action: &'static str,
    },
    #[error("invalid signal {0:?}: use a name (KILL, SIGKILL) or a number (9)")]
    InvalidSignal(String),
    #[error("no state directory: run as root, set XDG_RUNTIME_DIR, or pass --root DIR")]
    NoRoot,
    #[error("failed to {what} {}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to {what} container {id}")]
    Process {
        what: &'static str,
        id: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to start container {id}")]
    Sandbox {
        id: String,
        #[source]
        source: hakoniwa::Error,
    },
    #[error("failed to {what} the console socket {}", socket.display())]
    Console {
        what: &'static str,
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("container {id} has no program to enter: not started yet, or ended")]
    NoProgram { id: String },
    #[error("container {id} did not start: {reason}")]
    NotStarted { id: String, reason: String },
    #[error(
        "cannot {action} container {id}: it has no cgroup of its own (its config.json sets no \
         linux.cgroupsPath and no linux.resources limit); hint: give it one of them, where the \
         runtime may make cgroups (root on a cgroup v1 or hybrid host, a delegated cgroup v2 \
         subtree rootless; see docs/cgroups.md)"
    )]
    NoCgroup { id: String, action: &'static str },
    #[error("failed to {action} container {id}")]
    Cgroup {
        action: &'static str,
        id: String,
        #[source]
        source: Box<hakoniwa::Error>,
    },
    #[error("invalid resources for container {id}")]
    Resources {
        id: String,
        #[source]
        source: SpecError,
    },
    #[error("container {id} could not be created: {reason}")]
    NotCreated { id: String, reason: String },
    #[error("{kind} hook #{index} {} failed: {reason}", path.display())]
    Hook {
        kind: &'static str,
        index: usize,
        path: PathBuf,
        reason: String,
    },
}

impl Error {
    /// A file operation on `path` failed.
    pub fn file(what: &'static str, path: &Path, source: io::Error) -> Self {
        Error::File {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An error and its causes on one line (for the state file, a hook's
/// failure).
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
