//! The bundle's `config.json` (OCI runtime specification, `config.md` and
//! `config-linux.md`): only the fields this runtime maps. Fields it does not
//! know are ignored, as the specification requires of a runtime.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SpecError;

/// The configuration file's name in a bundle.
pub const CONFIG_FILE: &str = "config.json";

/// A container's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub oci_version: String,
    pub process: Option<Process>,
    pub root: Option<Root>,
    pub hostname: Option<String>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub linux: Linux,
    #[serde(default)]
    pub hooks: Hooks,
}

/// The hooks, by when they run (`hooks.rs` runs them).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default)]
    pub prestart: Vec<Hook>,
    #[serde(default)]
    pub create_runtime: Vec<Hook>,
    #[serde(default)]
    pub create_container: Vec<Hook>,
    #[serde(default)]
    pub start_container: Vec<Hook>,
    #[serde(default)]
    pub poststart: Vec<Hook>,
    #[serde(default)]
    pub poststop: Vec<Hook>,
}

/// One hook: a program, its `argv` (with `argv[0]`), its whole
/// environment (`KEY=VALUE`), and the seconds it may take.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Hook {
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// The program the container runs.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    pub user: User,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Option<Capabilities>,
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    #[serde(default)]
    pub no_new_privileges: bool,
}

/// The program's identity inside the container.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

/// The capability sets, by name (`CAP_SYS_ADMIN`): `permitted`, and
/// `ambient`, which decides what a program that is not root keeps across
/// `execve`; hakoniwa gives the program one set.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub permitted: Vec<String>,
    #[serde(default)]
    pub ambient: Vec<String>,
}

/// A `setrlimit(2)` limit (`RLIMIT_NOFILE`).
#[derive(Clone, Debug, Deserialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

/// The root filesystem: a directory, relative to the bundle or absolute.
#[derive(Debug, Deserialize)]
pub struct Root {
    pub path: PathBuf,
    #[serde(default)]
    pub readonly: bool,
}

/// One mount, applied in the order of the list.
#[derive(Debug, Deserialize)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub source: Option<PathBuf>,
    #[serde(default)]
    pub options: Vec<String>,
}

/// The Linux-specific part.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(default)]
    pub gid_mappings: Vec<IdMapping>,
    /// Kept as JSON: the library parses the OCI/Docker seccomp format.
    pub seccomp: Option<serde_json::Value>,
    #[serde(default)]
    pub resources: Option<Resources>,
    #[serde(default)]
    pub masked_paths: Vec<String>,
    #[serde(default)]
    pub readonly_paths: Vec<String>,
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
}

/// `linux.resources`: the cgroup limits. Kept as JSON objects, so that a
/// knob this runtime does not apply is named in the error, not dropped.
#[derive(Debug, Default, Deserialize)]
pub struct Resources {
    #[serde(default)]
    pub memory: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub cpu: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub pids: serde_json::Map<String, serde_json::Value>,
    /// The devices cgroup's rules: accepted, not applied (see
    /// `lower::resources`); named here so they are not among `other`.
    #[serde(default, rename = "devices")]
    pub _devices: Vec<serde_json::Value>,
    /// Everything else (`blockIO`, `hugepageLimits`, `network`, `rdma`,
    /// `unified`).
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A namespace to create (or, with `path`, to join).
#[derive(Debug, Deserialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: Option<PathBuf>,
}

/// `size` ids from `containerID` inside are `hostID..` outside.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

impl Process {
    /// Reads and parses a process file (`exec --process`): the `process`
    /// object of a configuration; a parse error names the field.
    pub fn load(path: &Path) -> Result<Process, SpecError> {
        let text = fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let deserializer = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(deserializer)
            .map_err(|error| SpecError::field(error.path().to_string(), error.inner().to_string()))
            .map_err(|error| error.in_file(path))
    }
}

impl Spec {
    /// Reads and parses `BUNDLE/config.json`; a parse error names the field.
    pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
        let path = bundle.join(CONFIG_FILE);
        let text = fs::read_to_string(&path).map_err(|source| SpecError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|error| error.in_file(&path))
    }

    /// Parses the text of a `config.json`.
    pub fn parse(text: &str) -> Result<Spec, SpecError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let spec: Spec = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            SpecError::field(error.path().to_string(), error.inner().to_string())
        })?;
        if !spec.oci_version.starts_with("1.") {
            return Err(SpecError::field(
                "ociVersion",
                format!("version {:?} is not supported (1.x is)", spec.oci_version),
            ));
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_error_names_the_field() {
        let text = r#"{"ociVersion": "1.0.2", "process": {"user": {"uid": "root", "gid": 0}, "cwd": "/"}}"#;
        let error = Spec::parse(text).unwrap_err().to_string();
        assert!(error.starts_with("process.user.uid: "), "{error}");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let text = r#"{"ociVersion": "1.2.0", "vm": {}, "linux": {"intelRdt": {}}}"#;
        let spec = Spec::parse(text).expect("a valid spec");
        assert!(spec.process.is_none());
    }

    #[test]
    fn another_major_version_is_refused() {
        let error = Spec::parse(r#"{"ociVersion": "2.0.0"}"#).unwrap_err();
        assert!(error.to_string().starts_with("ociVersion: "), "{error}");
    }
}
