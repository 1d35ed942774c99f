//! A container's state between invocations: a directory per container
//! under `--root`, holding `state.json` and the `start` FIFO.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hakoniwa::{CgroupDirs, CgroupVersion};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::Hook;

/// The version of the runtime specification this runtime follows.
pub const OCI_VERSION: &str = "1.2.0";

/// The file holding a container's [`State`].
const STATE_FILE: &str = "state.json";
/// The FIFO a created container's supervisor waits on until `start`.
const START_FIFO: &str = "start";

/// Where a container is in its life (the specification's `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being built: what hooks of `create` are told (never saved).
    Creating,
    /// Set up, waiting for `start`.
    Created,
    /// The program runs.
    Running,
    /// The program's cgroup is frozen (`pause`), until `resume`.
    Paused,
    /// The program has exited (or never will).
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What `state` prints (the specification's state, `runtime.md`) and, in
/// `hakoniwa` fields, what this runtime needs to act on the container.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    /// While `created`, the held program (a process in every namespace of
    /// the container, open to the caller through `/proc`, which the
    /// sandbox's init is not); from `start` on, the sandbox's init, which
    /// passes signals on to the program.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// What this runtime keeps beside the specification's fields.
    pub hakoniwa: Private,
}

/// This runtime's own part of the state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Private {
    /// The process that holds the sandbox (the `run` or the supervisor).
    pub holder: u32,
    /// How the program ended, when it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why the container never ran its program, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The sandbox's cgroup, when it has one: what `pause`, `resume` and
    /// `update` act on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupRecord>,
    /// Whether `start` let the program go.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub started: bool,
    /// The `poststop` hooks, which `delete` runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

/// A sandbox's cgroup as the state file keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CgroupRecord {
    /// 1 or 2.
    pub version: u8,
    pub paths: Vec<PathBuf>,
}

impl CgroupRecord {
    /// The record of the library's handle.
    pub fn new(dirs: &CgroupDirs) -> Self {
        Self {
            version: match dirs.version() {
                CgroupVersion::V1 => 1,
                CgroupVersion::V2 => 2,
            },
            paths: dirs.paths().to_vec(),
        }
    }

    /// The library's handle, to act on the cgroup.
    pub fn dirs(&self) -> CgroupDirs {
        let version = match self.version {
            1 => CgroupVersion::V1,
            _ => CgroupVersion::V2,
        };
        CgroupDirs::new(version, self.paths.clone())
    }
}

/// The state directory of every container (`--root`).
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// `--root DIR`, or the default: `/run/hakoniwa-oci` for the host's
    /// root, `$XDG_RUNTIME_DIR/hakoniwa-oci` for anyone else — including
    /// root of a user namespace, as rootless podman calls its runtime.
    pub fn new(dir: Option<PathBuf>) -> Result<Root> {
        let dir = match dir {
            Some(dir) => dir,
            None if nix::unistd::geteuid().is_root() && in_initial_user_namespace() => {
                PathBuf::from("/run/hakoniwa-oci")
            }
            None => std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|d| !d.is_empty())
                .map(|d| Path::new(&d).join("hakoniwa-oci"))
                .ok_or(Error::NoRoot)?,
        };
        Ok(Root { dir })
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of container `id`, which must be a valid id.
    pub fn container(&self, id: &str) -> Result<ContainerDir> {
        let valid = !id.is_empty()
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
        if !valid {
            return Err(Error::InvalidId(id.to_string()));
        }
        Ok(ContainerDir {
            id: id.to_string(),
            dir: self.dir.join(id),
        })
    }
}

/// One container's state directory.
pub struct ContainerDir {
    pub id: String,
    dir: PathBuf,
}

impl ContainerDir {
    /// Makes the directory (and `--root`, private to the caller); fails if
    /// the container exists.
    pub fn create(&self) -> Result<()> {
        let parent = self.dir.parent().expect("a container dir is under --root");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| Error::file("create", parent, e))?;
        match fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(self.id.clone()))
            }
            Err(e) => Err(Error::file("create", &self.dir, e)),
        }
    }

    /// Reads the state, with `status` brought up to date: a container
    /// whose process is gone is `stopped`, whatever the file last said; a
    /// running one whose cgroup the kernel says is frozen is `paused`.
    pub fn load(&self) -> Result<State> {
        let path = self.dir.join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound(self.id.clone()))
            }
            Err(e) => return Err(Error::file("read", &path, e)),
        };
        let mut state: State = serde_json::from_str(&text)
            .map_err(|e| Error::file("parse", &path, io::Error::other(e)))?;
        let gone = state.pid.is_none_or(|pid| !is_alive(pid));
        if state.status != Status::Stopped && gone {
            state.status = Status::Stopped;
        }
        let frozen = || {
            state
                .hakoniwa
                .cgroup
                .as_ref()
                .is_some_and(|cgroup| cgroup.dirs().is_frozen().unwrap_or(false))
        };
        if state.status == Status::Running && frozen() {
            state.status = Status::Paused;
        }
        Ok(state)
    }

    /// Writes the state, replacing the file at once (readers never see half
    /// of it).
    pub fn save(&self, state: &State) -> Result<()> {
        let path = self.dir.join(STATE_FILE);
        let partial = self
            .dir
            .join(format!(".{STATE_FILE}.{}", std::process::id()));
        let text = serde_json::to_vec(state).expect("a state serializes");
        fs::write(&partial, text).map_err(|e| Error::file("write", &partial, e))?;
        fs::rename(&partial, &path).map_err(|e| Error::file("write", &path, e))
    }

    /// Removes the directory and everything in it.
    pub fn remove(&self) -> Result<()> {
        fs::remove_dir_all(&self.dir).map_err(|e| Error::file("remove", &self.dir, e))
    }

    /// A new name for the process file a detached `exec` hands to its
    /// copy (which removes it once read; `delete` removes what is left).
    pub fn exec_process_file(&self) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        self.dir
            .join(format!("exec-{}-{nanos}.json", std::process::id()))
    }

    /// The FIFO `start` writes to, made by `create`.
    pub fn start_fifo(&self) -> PathBuf {
        self.dir.join(START_FIFO)
    }

    /// Makes the `start` FIFO, readable and writable by the owner only.
    pub fn make_start_fifo(&self) -> Result<()> {
        let path = self.start_fifo();
        nix::unistd::mkfifo(
            &path,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .map_err(|e| Error::file("create the FIFO", &path, e.into()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::file("create the FIFO", &path, e))
    }
}

/// Whether this process is in the host's user namespace: its uid map is
/// the identity over every id (`user_namespaces(7)`).
fn in_initial_user_namespace() -> bool {
    fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

/// Whether `pid` is a process that has not exited (a zombie has).
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which may hold ") ".
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}
