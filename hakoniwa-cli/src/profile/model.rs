//! The TOML shape of a profile file, as serde reads it: field names and
//! types only. Values are checked in `validate.rs`, which knows what each
//! string means. Every table refuses keys it does not know.

use serde::Deserialize;

/// One profile file, the including one or an included one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    /// Profiles merged in before this one, relative to this file.
    #[serde(rename = "@include", default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<NamespaceEntry>,
    /// Ours: the system directories of a root (`/`, a directory, or `none`).
    pub rootfs: Option<String>,
    #[serde(default)]
    pub mounts: Vec<MountEntry>,
    pub filesystem: Option<Filesystem>,
    #[serde(default)]
    pub envs: Vec<EnvEntry>,
    pub network: Option<Network>,
    pub landlock: Option<Landlock>,
    pub rootdir: Option<Rootdir>,
    #[serde(default)]
    pub uidmaps: Vec<IdMapEntry>,
    #[serde(default)]
    pub gidmaps: Vec<IdMapEntry>,
    /// Ours: `auto` maps the caller to 0 and its subordinate ranges after.
    pub userns: Option<String>,
    /// Ours: the user the program runs as.
    pub user: Option<User>,
    /// Ours: capabilities added and dropped.
    pub capabilities: Option<Capabilities>,
    /// Ours: leave `no_new_privs` off.
    pub allow_new_privs: Option<bool>,
    /// Ours: start the program in a new session, without a terminal.
    pub new_session: Option<bool>,
    /// Ours: measure the program's peak memory as it exits.
    pub peak_memory: Option<bool>,
    pub hostname: Option<String>,
    #[serde(default)]
    pub limits: Vec<LimitEntry>,
    pub seccomp: Option<Seccomp>,
    pub command: Option<CommandTable>,
    /// Ours: where the JSON run report goes (`-` for stdout).
    pub report: Option<String>,
    /// Ours: the sandbox's cgroup limits, as the flags `--memory` etc.
    pub cgroup: Option<CgroupTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CgroupTable {
    pub memory: Option<LimitValue>,
    pub memory_swap: Option<LimitValue>,
    pub pids: Option<LimitValue>,
    pub cpus: Option<f64>,
    pub cpu_weight: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamespaceEntry {
    #[serde(rename = "type")]
    pub kind: String,
    /// `true` undoes an earlier unshare of the same namespace.
    #[serde(default)]
    pub share: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MountEntry {
    /// The host path of a bind; unused by `tmpfs` and `devfs`.
    #[serde(default)]
    pub source: String,
    /// Defaults to `source`.
    pub destination: Option<String>,
    /// `""` (a bind), `tmpfs`, `devfs` or `overlay`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub rw: bool,
    /// Ours: a bind whose device nodes can be opened (`--dev-bind`).
    #[serde(default)]
    pub dev: bool,
    /// A tmpfs's options: `size=64m,mode=1777,nr_inodes=1k`.
    pub options: Option<String>,
    /// An overlay's host directory keeping the changes (with `work`);
    /// without it, changes vanish at exit.
    pub upper: Option<String>,
    /// An overlay's empty work directory, on the same filesystem as `upper`.
    pub work: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Filesystem {
    #[serde(default)]
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub dirs: Vec<DirEntry>,
    #[serde(default)]
    pub symlinks: Vec<SymlinkEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileEntry {
    pub destination: String,
    pub contents: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DirEntry {
    pub destination: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SymlinkEntry {
    pub original: String,
    pub link: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvEntry {
    pub name: String,
    /// Missing: the caller's value (empty if unset).
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Network {
    pub mode: String,
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Landlock {
    #[serde(default)]
    pub resources: Vec<LandlockResource>,
    #[serde(default)]
    pub fs: Vec<LandlockFsRule>,
    #[serde(default)]
    pub net: Vec<LandlockNetRule>,
    /// Ours: `abstract-unix`, `signal`.
    #[serde(default)]
    pub scope: Vec<String>,
    /// Ours: `hard-requirement` or `best-effort`.
    pub compat: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LandlockResource {
    #[serde(rename = "type")]
    pub kind: String,
    /// `true` lifts a restriction an earlier entry or include added.
    #[serde(default)]
    pub unrestrict: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LandlockFsRule {
    pub path: String,
    /// `rwx` with `-` for an absent right: `r--`, `rw-`, `r-x`…
    pub access: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LandlockNetRule {
    pub port: u16,
    /// `tcp.bind` or `tcp.connect` (`bind`, `connect` too).
    pub access: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rootdir {
    pub path: String,
    #[serde(default)]
    pub rw: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdMapEntry {
    pub container_id: u32,
    /// Defaults to the caller's own id.
    pub host_id: Option<u32>,
    /// Defaults to 1. hakoniwa 1.x spells it `count`.
    #[serde(alias = "size")]
    pub count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct User {
    pub name: String,
    pub group: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Capabilities {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub drop: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: LimitValue,
}

/// A limit as hakoniwa 1.x writes it (a whole number), or as the flags do
/// (`"64M"`, `"unlimited"`, a fraction of a second for the wall time).
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a number, or a string such as \"64M\" or \"unlimited\""
)]
pub(crate) enum LimitValue {
    Integer(u64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Seccomp {
    /// A built-in profile name or a Docker/OCI JSON file.
    pub path: Option<String>,
    /// Ours: as `--allow-userns`.
    pub allow_userns: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandTable {
    pub cmdline: Option<Vec<String>>,
    pub cwd: Option<String>,
}
